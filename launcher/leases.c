/* dnsmasq lease files (see leases.h).  dnsmasq rewrites the file whole on
 * every change (a new file renamed over the old), so a reader never sees a
 * half-written line. */
#include "launcher/leases.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
has_string(json_object *arr, const char *s)
{
    for (size_t i = 0; i < json_object_array_length(arr); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
            return true;
    return false;
}

int
ferry_leases_find(const char *text, const char *mac, time_t now, json_object *ips)
{
    int n = 0;

    if (!text || !mac)
        return 0;
    while (*text) {
        const char *eol = strchr(text, '\n');
        size_t len = eol ? (size_t)(eol - text) : strlen(text);
        char line[512], lmac[64], addr[64];
        long long expiry;

        if (len < sizeof line) {
            memcpy(line, text, len);
            line[len] = '\0';
            if (sscanf(line, "%lld %63s %63s", &expiry, lmac, addr) == 3 &&
                strcasecmp(lmac, mac) == 0 && (expiry == 0 || expiry > (long long)now) &&
                !has_string(ips, addr)) {
                json_object_array_add(ips, json_object_new_string(addr));
                n++;
            }
        }
        text += len + (eol ? 1 : 0);
    }
    return n;
}

int
ferry_leases_read(const char *path, const char *mac, time_t now, json_object *ips)
{
    FERRY_AUTOFREE char *text = NULL;
    size_t len;

    if (!path || ferry_file_read(path, 4 * 1024 * 1024, &text, &len) < 0) {
        ferry_error_reset();
        return 0;
    }
    return ferry_leases_find(text, mac, now, ips);
}
