/* The device-name rewrite of the guest conversion (converter/guest.c):
 * which /dev/sdX, /dev/hdX and /dev/xvdX names of fstab and kernel command
 * lines are replaced, which are left, and the disk and partition each
 * stands for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "converter/guest.h"
#include "../unit/testlib.h"

/* Disks 0 and 1 exist; "U<disk>-<partition>" for them. */
static char *
map(void *opaque, int disk, const char *part)
{
    (*(int *)opaque)++;
    if (disk > 1)
        return NULL;
    return ferry_printf("U%d-%s", disk, part);
}

static void
test_fstab(void **state)
{
    (void)state;
    int calls = 0;
    char **changes = NULL, **left = NULL;
    char *out = ferry_guest_rewrite_devices(
        "# /dev/sda1 was on sda\n"
        "/dev/sda1 / ext4 errors=remount-ro 0 1\n"
        "  /dev/sdb2\tnone swap sw 0 0\n"
        "/dev/sda10 /boot ext4 defaults 0 2\n"
        "UUID=1234 /home ext4 defaults 0 2\n"
        "/dev/mapper/vg-root /srv xfs defaults 0 0\n"
        "/dev/sdaa1 /data ext4 defaults 0 2\n"
        "/dev/sdc /backup ext4 defaults 0 2\n"
        "/dev/sda1x /odd ext4 defaults 0 2\n"
        "tmpfs /dev/sda1 tmpfs defaults 0 0",
        true, map, &calls, &changes, &left);
    assert_non_null(out);
    assert_string_equal(out, "# /dev/sda1 was on sda\n"
                             "U0-1 / ext4 errors=remount-ro 0 1\n"
                             "  U1-2\tnone swap sw 0 0\n"
                             "U0-10 /boot ext4 defaults 0 2\n"
                             "UUID=1234 /home ext4 defaults 0 2\n"
                             "/dev/mapper/vg-root /srv xfs defaults 0 0\n"
                             "/dev/sdaa1 /data ext4 defaults 0 2\n"
                             "/dev/sdc /backup ext4 defaults 0 2\n"
                             "/dev/sda1x /odd ext4 defaults 0 2\n"
                             "tmpfs /dev/sda1 tmpfs defaults 0 0");
    assert_int_equal(calls, 5);
    assert_int_equal(ferry_strv_len(changes), 3);
    assert_string_equal(changes[0], "/dev/sda1 -> U0-1");
    assert_string_equal(changes[1], "/dev/sdb2 -> U1-2");
    assert_string_equal(changes[2], "/dev/sda10 -> U0-10");
    assert_int_equal(ferry_strv_len(left), 2);
    assert_string_equal(left[0], "/dev/sdaa1");   /* disk 26 */
    assert_string_equal(left[1], "/dev/sdc");
    free(out);
    ferry_strv_free(changes);
    ferry_strv_free(left);
}

static void
test_kernel(void **state)
{
    (void)state;
    int calls = 0;
    char **changes = NULL, **left = NULL;
    char *out = ferry_guest_rewrite_devices(
        "\tlinux /boot/vmlinuz root=/dev/sda1 ro resume=/dev/sdb2 myroot=/dev/sda3 "
        "console=/dev/sda4 quiet\n"
        "kernel /vmlinuz ro root=/dev/hda2\n"
        "kernel /vmlinuz ro root=/dev/xvdb\n"
        "GRUB_CMDLINE_LINUX=\"resume=/dev/sda5\"\n"
        "RESUME=/dev/sdb1\n",
        false, map, &calls, &changes, &left);
    assert_non_null(out);
    assert_string_equal(out, "\tlinux /boot/vmlinuz root=U0-1 ro resume=U1-2 myroot=/dev/sda3 "
                             "console=/dev/sda4 quiet\n"
                             "kernel /vmlinuz ro root=U0-2\n"
                             "kernel /vmlinuz ro root=U1-\n"
                             "GRUB_CMDLINE_LINUX=\"resume=U0-5\"\n"
                             "RESUME=U1-1\n");
    assert_int_equal(ferry_strv_len(changes), 6);
    assert_string_equal(changes[3], "/dev/xvdb -> U1-");
    assert_null(left);
    free(out);
    ferry_strv_free(changes);

    /* nothing to change: NULL, MAP never asked */
    calls = 0;
    changes = NULL;
    assert_null(ferry_guest_rewrite_devices("root=UUID=abcd ro /dev/sda1 /dev/sd /dev/vda1\n",
                                            false, map, &calls, &changes, &left));
    assert_int_equal(calls, 0);
    assert_null(changes);
    assert_null(ferry_guest_rewrite_devices("", true, map, &calls, &changes, &left));
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_fstab),
          cmocka_unit_test(test_kernel))
