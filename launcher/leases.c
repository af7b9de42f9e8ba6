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

int
ferry_leases_add(json_object *ips, const char *addr)
{
    for (size_t i = 0; i < json_object_array_length(ips); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(ips, i)), addr) == 0)
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
            n += ferry_leases_add(ips, addr);
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
            n += ferry_leases_add(ips, addr);
    return n;
}

/* PATH's text, or NULL (no error set) when it is missing or unreadable. */
static char *
read_text(const char *path, size_t max)
{
    char *text = NULL;
    size_t len;

    if (!path || ferry_file_read(path, max, &text, &len) < 0) {
        ferry_error_reset();
        return NULL;
    }
    return text;
}

int
ferry_leases_read(const char *path, const char *mac, time_t now, json_object *ips)
{
    FERRY_AUTOFREE char *text = read_text(path, 4 * 1024 * 1024);

    return text ? ferry_leases_find(text, mac, now, ips) : 0;
}

int
ferry_leases_read_arp(const char *path, const char *mac, json_object *ips)
{
    FERRY_AUTOFREE char *text = read_text(path, 1024 * 1024);

    return text ? ferry_leases_find_arp(text, mac, ips) : 0;
}
