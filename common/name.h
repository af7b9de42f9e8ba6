/* Kubernetes object names: RFC 1123 labels (63 chars: [a-z0-9]([-a-z0-9]*[a-z0-9])?)
 * and subdomains (253 chars, dot-separated labels), with the API server's
 * messages; and a sanitizer that turns a legacy VM name into a valid one. */
#ifndef FERRY_NAME_H
#define FERRY_NAME_H

#include <stdbool.h>

bool ferry_name_is_dns1123_label(const char *s);
bool ferry_name_is_dns1123_subdomain(const char *s);
/* Sets an error with the API server's wording and returns -1 when invalid:
 * a lowercase RFC 1123 subdomain must consist of lower case alphanumeric ... */
int ferry_name_check_label(const char *what, const char *s);
int ferry_name_check_subdomain(const char *what, const char *s);
/* "Web Server #1 (prod)" -> "web-server-1-prod"; never empty ("vm" at worst);
 * at most maxlen characters (63 for labels). */
char *ferry_name_sanitize(const char *s, int maxlen);
/* Label keys and values (metadata.labels). */
bool ferry_name_is_label_value(const char *s);
bool ferry_name_is_label_key(const char *s);
/* apimachinery's IsQualifiedName: the messages (a NULL-terminated strv to
 * free with ferry_strv_free) why s is not a qualified name ("prefix part
 * ...", "name part must be no more than 63 characters" ...), NULL when it is. */
char **ferry_name_qualified_name_errors(const char *s);

#endif
