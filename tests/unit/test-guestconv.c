/* The decisions of the guest conversion hook (controller/guestconv.c),
 * without a process: what a VM's annotation and condition call for, which
 * volumes are the guest's disks and in what order, and what a report of
 * `ferry-converter --convert-guest` becomes in the annotations (bounded). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "controller/internal.h"

#include <string.h>

static json_object *
parse(const char *text)
{
    json_object *o = NULL;

    assert_int_equal(ferry_json_parse(text, strlen(text), "test", &o), 0);
    return o;
}

static void
test_step(void **state)
{
    (void)state;
    FERRY_AUTOPTR(json_object) none = parse("{\"metadata\":{\"name\":\"a\"}}");
    FERRY_AUTOPTR(json_object) pending =
        parse("{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"pending\"}}}");
    FERRY_AUTOPTR(json_object) done = parse(
        "{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"converted: linux\"}},"
        "\"status\":{\"conditions\":[{\"type\":\"GuestConversion\",\"status\":\"True\","
        "\"reason\":\"GuestConverted\"}]}}");
    /* ferry-converter --guest-disk's own failure: a VM with SATA disks that may start */
    FERRY_AUTOPTR(json_object) offline_failed = parse(
        "{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"failed: no os\"}}}");
    FERRY_AUTOPTR(json_object) failed = parse(
        "{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"failed: no os\"}},"
        "\"status\":{\"conditions\":[{\"type\":\"GuestConversion\",\"status\":\"False\","
        "\"reason\":\"GuestConversionFailed\"}]}}");

    assert_int_equal(ctl_guest_step(none, true), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(none, false), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(pending, false), CTL_GUEST_WAIT);
    assert_int_equal(ctl_guest_step(pending, true), CTL_GUEST_CONVERT);
    assert_int_equal(ctl_guest_step(done, true), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(offline_failed, true), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(failed, true), CTL_GUEST_FAILED);
    /* set back to pending after a failure: converted again */
    ferry_obj_set_annotation(failed, "ferry.io/guest-conversion", "pending");
    assert_int_equal(ctl_guest_step(failed, true), CTL_GUEST_CONVERT);
}

static void
test_claims(void **state)
{
    (void)state;
    /* the order of the disks, not of the volumes; CD-ROMs and other
     * volume kinds left out */
    FERRY_AUTOPTR(json_object) vm = parse(
        "{\"spec\":{\"template\":{\"spec\":{\"domain\":{\"devices\":{\"disks\":["
        "{\"name\":\"boot\",\"disk\":{\"bus\":\"virtio\"}},"
        "{\"name\":\"cd\",\"cdrom\":{\"bus\":\"sata\"}},"
        "{\"name\":\"ci\",\"disk\":{}},"
        "{\"name\":\"data\",\"disk\":{}}]}},"
        "\"volumes\":["
        "{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"pvc-data\"}},"
        "{\"name\":\"cd\",\"dataVolume\":{\"name\":\"dv-iso\"}},"
        "{\"name\":\"ci\",\"cloudInitNoCloud\":{}},"
        "{\"name\":\"boot\",\"dataVolume\":{\"name\":\"dv-boot\"}}]}}}}");
    FERRY_AUTOPTR(json_object) novols = parse("{\"spec\":{}}");
    FERRY_AUTOSTRV char **c = ctl_guest_claims(vm);

    assert_int_equal(ferry_strv_len(c), 2);
    assert_string_equal(c[0], "dv-boot");
    assert_string_equal(c[1], "pvc-data");
    assert_null(ctl_guest_claims(novols));
}

static void
test_report(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *r1 = NULL;
    FERRY_AUTOFREE char *ch1 = NULL;
    FERRY_AUTOFREE char *r2 = NULL;
    FERRY_AUTOFREE char *ch2 = NULL;
    FERRY_AUTOFREE char *r3 = NULL;
    FERRY_AUTOFREE char *ch3 = NULL;
    FERRY_AUTOFREE char *r4 = NULL;
    FERRY_AUTOFREE char *ch4 = NULL;
    FERRY_AUTOFREE char *big = NULL;

    ctl_guest_parse_report("ferry-converter: warning: something\n"
                           "guest: linux debian 12.4 x86_64\n"
                           "changed: /etc/fstab: /dev/sda1 -> UUID=1\n"
                           "note: two NICs\n"
                           "changed: initramfs rebuilt\n"
                           "result: converted\n",
                           &r1, &ch1);
    assert_string_equal(r1, "converted: linux debian 12.4 x86_64");
    assert_string_equal(ch1, "/etc/fstab: /dev/sda1 -> UUID=1\ninitramfs rebuilt");

    ctl_guest_parse_report("ferry-converter: error: no operating system found on '/x/disk.img'\n"
                           "result: not converted (the disks are unchanged)\n",
                           &r2, &ch2);
    assert_string_equal(r2, "failed: no operating system found on '/x/disk.img'");
    assert_null(ch2);

    /* no log at all (the converter could not write it) */
    ctl_guest_parse_report(NULL, &r3, &ch3);
    assert_string_equal(r3, "failed: the guest was not converted");
    assert_null(ch3);

    /* 10,000 changes of 20 bytes: cut to 32 KiB at a line, the rest counted */
    for (int i = 0; i < 10000; i++) {
        char *s = ferry_printf("%schanged: change %09d\n", big ? big : "", i);
        free(big);
        big = s;
    }
    ctl_guest_parse_report(big, &r4, &ch4);
    assert_true(strlen(ch4) <= (32u << 10) + 64);
    assert_non_null(strstr(ch4, "change 000000000\n"));
    assert_non_null(strstr(ch4, " more (convert.log)"));
    assert_string_equal(r4, "failed: the guest was not converted");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
