/* Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation): RFC 1123
 * labels and subdomains, label keys and values, with the API server's own
 * regular expressions and messages, so that what Ferry refuses reads exactly
 * like what kubectl would have printed.  Plus the sanitizer the converter
 * uses to turn a legacy VM's display name into a valid object name. */
#include "common/name.h"
#include "common/error.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUBDOMAIN_FMT DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*"
#define QUALIFIED_NAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define LABEL_VALUE_FMT "(" QUALIFIED_NAME_FMT ")?"

#define DNS1123_LABEL_MAX 63
#define DNS1123_SUBDOMAIN_MAX 253
#define QUALIFIED_NAME_MAX 63
#define LABEL_VALUE_MAX 63

#define DNS1123_LABEL_MSG                                                                      \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "  \
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "  \
    "regex used for validation is '" DNS1123_LABEL_FMT "')"
#define DNS1123_SUBDOMAIN_MSG                                                                  \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " \
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "    \
    "regex used for validation is '" DNS1123_SUBDOMAIN_FMT "')"

enum { RE_LABEL, RE_SUBDOMAIN, RE_QUALIFIED, RE_VALUE, RE_COUNT };

static const char *const patterns[RE_COUNT] = {
    [RE_LABEL] = "^" DNS1123_LABEL_FMT "$",
    [RE_SUBDOMAIN] = "^" DNS1123_SUBDOMAIN_FMT "$",
    [RE_QUALIFIED] = "^" QUALIFIED_NAME_FMT "$",
    [RE_VALUE] = "^" LABEL_VALUE_FMT "$",
};

static regex_t regexes[RE_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
compile(void)
{
    for (int k = 0; k < RE_COUNT; k++)
        if (regcomp(&regexes[k], patterns[k], REG_EXTENDED | REG_NOSUB) != 0)
            ferry_oom();
}

static bool
matches(int which, const char *s)
{
    pthread_once(&once, compile);
    return s && regexec(&regexes[which], s, 0, NULL, 0) == 0;
}

bool
ferry_name_is_dns1123_label(const char *s)
{
    return s && strlen(s) <= DNS1123_LABEL_MAX && matches(RE_LABEL, s);
}

bool
ferry_name_is_dns1123_subdomain(const char *s)
{
    return s && strlen(s) <= DNS1123_SUBDOMAIN_MAX && matches(RE_SUBDOMAIN, s);
}

/* The API server's field.Invalid: `metadata.name: Invalid value: "X": msg`,
 * for S against the rule WHICH (RE_LABEL or RE_SUBDOMAIN) of at most MAX
 * characters, MSG the API server's words for the rule. */
static int
check_dns1123(const char *what, const char *s, int which, int max, const char *msg)
{
    if (!s)
        s = "";
    if (strlen(s) > (size_t)max)
        return ferry_error(FERRY_ERR_INVALID, "%s: Invalid value: \"%s\": must be no more than %d characters",
                           what, s, max);
    if (!matches(which, s))
        return ferry_error(FERRY_ERR_INVALID, "%s: Invalid value: \"%s\": %s", what, s, msg);
    return 0;
}

int
ferry_name_check_label(const char *what, const char *s)
{
    return check_dns1123(what, s, RE_LABEL, DNS1123_LABEL_MAX, DNS1123_LABEL_MSG);
}

int
ferry_name_check_subdomain(const char *what, const char *s)
{
    return check_dns1123(what, s, RE_SUBDOMAIN, DNS1123_SUBDOMAIN_MAX, DNS1123_SUBDOMAIN_MSG);
}

char *
ferry_name_sanitize(const char *s, int maxlen)
{
    size_t n = 0, cap;
    char *out;
    bool dash = false;

    if (maxlen <= 0)
        maxlen = DNS1123_LABEL_MAX;
    cap = (size_t)maxlen;
    out = ferry_malloc(cap + 3);
    for (const char *p = s ? s : ""; *p && n < cap; p++) {
        unsigned char c = (unsigned char)*p;

        if (isascii(c) && isalnum(c)) {
            if (dash && n > 0) {
                out[n++] = '-';
                if (n >= cap)
                    break;
            }
            dash = false;
            out[n++] = (char)tolower(c);
        } else {
            dash = true; /* runs of anything else become one '-' */
        }
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
    if (n == 0) {
        free(out);
        return ferry_strdup("vm");
    }
    return out;
}

bool
ferry_name_is_label_value(const char *s)
{
    return s && strlen(s) <= LABEL_VALUE_MAX && matches(RE_VALUE, s);
}

/* IsQualifiedName: [prefix/]name, prefix a DNS-1123 subdomain. */
bool
ferry_name_is_label_key(const char *s)
{
    const char *slash;
    const char *name = s;

    if (!s)
        return false;
    slash = strchr(s, '/');
    if (slash) {
        char prefix[DNS1123_SUBDOMAIN_MAX + 1];
        size_t plen = (size_t)(slash - s);

        if (strchr(slash + 1, '/') || plen == 0 || plen > DNS1123_SUBDOMAIN_MAX)
            return false;
        memcpy(prefix, s, plen);
        prefix[plen] = '\0';
        if (!ferry_name_is_dns1123_subdomain(prefix))
            return false;
        name = slash + 1;
    }
    return *name && strlen(name) <= QUALIFIED_NAME_MAX && matches(RE_QUALIFIED, name);
}

#define QUALIFIED_NAME_MSG                                                                     \
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "  \
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "  \
    "used for validation is '" QUALIFIED_NAME_FMT "')"

char **
ferry_name_qualified_name_errors(const char *s)
{
    char **msgs = NULL;
    const char *slash, *name = s ? s : "";

    slash = strchr(name, '/');
    if (slash && strchr(slash + 1, '/')) {
        ferry_strv_push(&msgs, "a qualified name must consist of alphanumeric characters, '-', "
                               "'_' or '.', and must start and end with an alphanumeric "
                               "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                               "used for validation is '" QUALIFIED_NAME_FMT "') with an "
                               "optional DNS subdomain prefix and '/' (e.g. "
                               "'example.com/MyName')");
        return msgs;
    }
    if (slash) {
        size_t plen = (size_t)(slash - name);
        FERRY_AUTOFREE char *prefix = ferry_strndup(name, plen);

        if (plen == 0)
            ferry_strv_push(&msgs, "prefix part must be non-empty");
        else if (plen > DNS1123_SUBDOMAIN_MAX)
            ferry_strv_push(&msgs, "prefix part must be no more than 253 characters");
        else if (!matches(RE_SUBDOMAIN, prefix))
            ferry_strv_push(&msgs, "prefix part " DNS1123_SUBDOMAIN_MSG);
        name = slash + 1;
    }
    if (!*name)
        ferry_strv_push(&msgs, "name part must be non-empty");
    else if (strlen(name) > QUALIFIED_NAME_MAX)
        ferry_strv_push(&msgs, "name part must be no more than 63 characters");
    if (*name && !matches(RE_QUALIFIED, name))
        ferry_strv_push(&msgs, QUALIFIED_NAME_MSG);
    return msgs;
}
