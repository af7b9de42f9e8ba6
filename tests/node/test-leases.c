/* dnsmasq lease files: the unexpired IPv4 leases of one MAC, matched without
 * case, in file order and without duplicates; expired leases, other MACs,
 * dnsmasq's duid line and IPv6 (IAID-keyed) leases are skipped; a missing
 * file has no leases.  /proc/net/arp: the complete entries of one MAC. */
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "launcher/leases.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "../unit/testlib.h"

static const char leases[] =
    "1700003600 52:54:00:aa:bb:01 10.213.7.77 guest-a 01:52:54:00:aa:bb:01\n"
    "1699990000 52:54:00:aa:bb:01 10.213.7.60 * *\n"             /* expired */
    "0 52:54:00:AA:BB:01 10.213.7.78 * *\n"                       /* infinite, upper case */
    "1700003600 52:54:00:aa:bb:02 10.213.7.79 guest-b *\n"        /* another MAC */
    "duid 00:01:00:01:2c:5e:1a:2b:52:54:00:00:00:01\n"
    "1700003600 1234567 fd00:213::77 guest-a 00:02:00\n"          /* IPv6: keyed by IAID */
    "1700003600 52:54:00:aa:bb:01 10.213.7.77 guest-a *\n"        /* a duplicate */
    "garbage";

static void
test_find(void **state)
{
    FERRY_AUTOPTR(json_object) ips = json_object_new_array();

    assert_int_equal(ferry_leases_find(leases, "52:54:00:aa:bb:01", 1700000000, ips), 2);
    assert_int_equal(json_object_array_length(ips), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(ips, 0)), "10.213.7.77");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(ips, 1)), "10.213.7.78");
    /* appends, without repeating what is there */
    assert_int_equal(ferry_leases_find(leases, "52:54:00:aa:bb:02", 1700000000, ips), 1);
    assert_int_equal(ferry_leases_find(leases, "52:54:00:aa:bb:02", 1700000000, ips), 0);
    assert_int_equal(json_object_array_length(ips), 3);
    /* all expired but the infinite one */
    assert_int_equal(ferry_leases_find(leases, "52:54:00:aa:bb:01", 1800000000, ips), 0);
    assert_int_equal(ferry_leases_find(leases, "52:54:00:aa:bb:03", 0, ips), 0);
    assert_int_equal(ferry_leases_find("", "52:54:00:aa:bb:01", 0, ips), 0);
    assert_int_equal(ferry_leases_find(NULL, "52:54:00:aa:bb:01", 0, ips), 0);
}

static void
test_read(void **state)
{
    char path[] = "/tmp/ferry-test-leases.XXXXXX";
    int fd = mkstemp(path);
    FERRY_AUTOPTR(json_object) ips = json_object_new_array();

    assert_true(fd >= 0);
    assert_int_equal(write(fd, leases, strlen(leases)), (ssize_t)strlen(leases));
    close(fd);
    assert_int_equal(ferry_leases_read(path, "52:54:00:aa:bb:02", 1700000000, ips), 1);
    unlink(path);
    assert_int_equal(ferry_leases_read(path, "52:54:00:aa:bb:02", 1700000000, ips), 0);
    assert_int_equal(ferry_leases_read(NULL, "52:54:00:aa:bb:02", 1700000000, ips), 0);
}

static const char arp[] =
    "IP address       HW type     Flags       HW address            Mask     Device\n"
    "10.213.7.77      0x1         0x2         52:54:00:aa:bb:01     *        fbr1\n"
    "10.213.7.90      0x1         0x0         00:00:00:00:00:00     *        fbr1\n"
    "10.213.7.91      0x1         0x0         52:54:00:aa:bb:01     *        fbr1\n"  /* incomplete */
    "192.0.2.1        0x1         0x6         52:54:00:AA:BB:01     *        eth0\n"
    "10.213.7.79      0x1         0x2         52:54:00:aa:bb:02     *        fbr1\n";

static void
test_arp(void **state)
{
    FERRY_AUTOPTR(json_object) ips = json_object_new_array();

    assert_int_equal(ferry_leases_find_arp(arp, "52:54:00:aa:bb:01", ips), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(ips, 0)), "10.213.7.77");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(ips, 1)), "192.0.2.1");
    assert_int_equal(ferry_leases_find_arp(arp, "52:54:00:aa:bb:01", ips), 0);
    assert_int_equal(ferry_leases_find_arp(arp, "52:54:00:aa:bb:03", ips), 0);
    assert_int_equal(ferry_leases_read_arp("/nonexistent/arp", "52:54:00:aa:bb:01", ips), 0);
    assert_int_equal(json_object_array_length(ips), 2);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_find),
          cmocka_unit_test(test_read),
          cmocka_unit_test(test_arp))
