/* The registry source (sources/registry.c): what its unit tests reach.  Its
 * options are in its table entry (registry_options, importer/format.h). */
#ifndef FERRY_IMPORTER_REGISTRY_H
#define FERRY_IMPORTER_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* For tests: a docker:// URL's API base ("https://host:port"), repository
 * and tag or digest, normalised as containers/image does; -1 with an error
 * naming the part that is wrong. */
int ferry_registry_parse_url(const char *url, char **ret_api, char **ret_repo, char **ret_ref);
/* For tests: the value of KEY in a WWW-Authenticate challenge's parameters
 * (realm="...",service="..."), or NULL. */
char *ferry_registry_challenge_param(const char *params, const char *key);

#endif
