/* dnsmasq lease files and the kernel's ARP table (see leases.h).  dnsmasq
 * rewrites the file whole on every change (a new file renamed over the old),
 * so a reader never sees a half-written line. */
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

/* One line of TEXT at a time into LINE (lines too long for it are skipped);
 * false at the end. */
static bool
next_line(const char **text, char *line, size_t size)
{
    for (;;) {
        const char *eol;
        size_t len;

        if (!*text || !**text)
            return false;
        eol = strchr(*text, '\n');
        len = eol ? (size_t)(eol - *text) : strlen(*text);
        if (len < size) {
            memcpy(line, *text, len);
            line[len] = '\0';
        }
        *text += len + (eol ? 1 : 0);
        if (len < size)
            return true;
    }
}

static int
add(json_object *ips, const char *addr)
{
    if (has_string(ips, addr))
        return 0;
    json_object_array_add(ips, json_object_new_string(addr));
    return 1;
}

int
ferry_leases_find(const char *text, const char *mac, time_t now, json_object *ips)
{
    char line[512], lmac[64], addr[64];
    long long expiry;
    int n = 0;

    if (!mac)
        return 0;
    while (next_line(&text, line, sizeof line))
        if (sscanf(line, "%lld %63s %63s", &expiry, lmac, addr) == 3 &&
            strcasecmp(lmac, mac) == 0 && (expiry == 0 || expiry > (long long)now))
            n += add(ips, addr);
    return n;
}

int
ferry_leases_find_arp(const char *text, const char *mac, json_object *ips)
{
    char line[512], addr[64], hwtype[16], flags[16], lmac[64];
    int n = 0;

    if (!mac)
        return 0;
    while (next_line(&text, line, sizeof line))
        if (sscanf(line, "%63s %15s %15s %63s", addr, hwtype, flags, lmac) == 4 &&
            (strtoul(flags, NULL, 16) & 0x2) && strcasecmp(lmac, mac) == 0)
            n += add(ips, addr);
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

int
ferry_leases_read_arp(const char *path, const char *mac, json_object *ips)
{
    FERRY_AUTOFREE char *text = NULL;
    size_t len;

    if (!path || ferry_file_read(path, 1024 * 1024, &text, &len) < 0) {
        ferry_error_reset();
        return 0;
    }
    return ferry_leases_find_arp(text, mac, ips);
}
