/* The addresses the host knows for a guest's MAC: what a DHCP server handed
 * out (its lease file; the launcher reads it for bridge-bound interfaces when
 * the handler was told where the bridge's DHCP server keeps its leases,
 * --dhcp-leases) and the host's ARP table (/proc/net/arp, read when libvirt's
 * own ARP source fails, as libvirt 9.0's does on Linux 6.1). */
#ifndef FERRY_LAUNCHER_LEASES_H
#define FERRY_LAUNCHER_LEASES_H

#include <json-c/json.h>
#include <time.h>

/* Append the address ADDR to the array IPS unless it is there; 1 when
 * appended, 0 when it was there. */
int ferry_leases_add(json_object *ips, const char *addr);

/* TEXT is a dnsmasq lease file: one lease a line, "EXPIRY MAC ADDRESS
 * HOSTNAME CLIENT-ID", EXPIRY in seconds since the epoch (0: never).  Appends
 * to the array IPS (as strings, file order, no duplicates) the addresses of
 * the unexpired leases of MAC (compared without case) and returns how many it
 * appended.  Lines it cannot read (dnsmasq's "duid" line, IPv6 leases keyed
 * by IAID) are skipped. */
int ferry_leases_find(const char *text, const char *mac, time_t now, json_object *ips);

/* The same for the file PATH; a missing or unreadable file has no leases. */
int ferry_leases_read(const char *path, const char *mac, time_t now, json_object *ips);

/* TEXT is /proc/net/arp ("IP HW-TYPE FLAGS HW-ADDRESS MASK DEVICE" after a
 * header line).  Appends the addresses of the complete entries (flag 0x2) of
 * MAC to IPS like ferry_leases_find() and returns how many it appended. */
int ferry_leases_find_arp(const char *text, const char *mac, json_object *ips);

/* The same for the file PATH; a missing or unreadable file has no entries. */
int ferry_leases_read_arp(const char *path, const char *mac, json_object *ips);

#endif
