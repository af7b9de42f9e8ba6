/* Options of the registry source (sources/registry.c), set from the command
 * line by main.c before the import starts. */
#ifndef FERRY_IMPORTER_REGISTRY_H
#define FERRY_IMPORTER_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Does NAME ("platform", "secret-dir", "auth-file", "token-origin",
 * "insecure") take a value?  -1 when it is no registry option. */
int ferry_registry_option_arity(const char *name);
/* Set one option (VALUE NULL for flags); -1 with an error naming the
 * option and value when it is malformed. */
int ferry_registry_set_option(const char *name, const char *value);
/* The volume size (--size): layers declared larger than it plus 1 GiB are
 * refused before any byte is fetched.  0: no bound but the 64 TiB one. */
void ferry_registry_set_volume_size(uint64_t size);
/* The options' lines for --help. */
void ferry_registry_usage(FILE *f);

/* For tests: a docker:// URL's API base ("https://host:port"), repository
 * and tag or digest, normalised as containers/image does; -1 with an error
 * naming the part that is wrong. */
int ferry_registry_parse_url(const char *url, char **ret_api, char **ret_repo, char **ret_ref);
/* For tests: the value of KEY in a WWW-Authenticate challenge's parameters
 * (realm="...",service="..."), or NULL. */
char *ferry_registry_challenge_param(const char *params, const char *key);

#endif
