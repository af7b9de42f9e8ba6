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

#include "common/cleanup.h"
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

/* The strings of GOT are those of WANT (both NULL-terminated); WANT NULL:
 * GOT is NULL. */
static void
assert_strv(char **got, const char *const *want)
{
    size_t n = 0;

    if (!want) {
        assert_null(got);
        return;
    }
    for (; want[n]; n++) {
        assert_true(n < ferry_strv_len(got));
        assert_string_equal(got[n], want[n]);
    }
    assert_int_equal(ferry_strv_len(got), n);
}

/* A line of a text to rewrite and what it becomes (NULL: left as it is). */
struct line {
    const char *in, *out;
};

/* The text of LINES (an fstab when FSTAB, else kernel command lines; ends
 * with a NULL line) rewritten is what they become, with the CHANGES made and
 * the names LEFT that map() knew no disk for; map() is asked once for each. */
static void
check_rewrite(const struct line *lines, bool fstab, const char *const *changes,
              const char *const *left)
{
    FERRY_AUTOFREE char *text = NULL;
    FERRY_AUTOFREE char *want = NULL;
    size_t text_len = 0, want_len = 0;
    int calls = 0;
    char **got_changes = NULL, **got_left = NULL;
    char *out;

    for (; lines->in; lines++) {
        const char *becomes = lines->out ? lines->out : lines->in;

        ferry_buf_append(&text, &text_len, lines->in, strlen(lines->in));
        ferry_buf_append(&want, &want_len, becomes, strlen(becomes));
    }
    out = ferry_guest_rewrite_devices(text, fstab, map, &calls, &got_changes, &got_left);
    assert_non_null(out);
    assert_string_equal(out, want);
    assert_strv(got_changes, changes);
    assert_strv(got_left, left);
    assert_int_equal(calls, ferry_strv_len(got_changes) + ferry_strv_len(got_left));
    free(out);
    ferry_strv_free(got_changes);
    ferry_strv_free(got_left);
}

static void
test_fstab(void **state)
{
    static const struct line fstab[] = {
        { "# /dev/sda1 was on sda\n", NULL },
        { "/dev/sda1 / ext4 errors=remount-ro 0 1\n", "U0-1 / ext4 errors=remount-ro 0 1\n" },
        { "  /dev/sdb2\tnone swap sw 0 0\n", "  U1-2\tnone swap sw 0 0\n" },
        { "/dev/sda10 /boot ext4 defaults 0 2\n", "U0-10 /boot ext4 defaults 0 2\n" },
        { "UUID=1234 /home ext4 defaults 0 2\n", NULL },
        { "/dev/mapper/vg-root /srv xfs defaults 0 0\n", NULL },
        { "/dev/sdaa1 /data ext4 defaults 0 2\n", NULL },
        { "/dev/sdc /backup ext4 defaults 0 2\n", NULL },
        { "/dev/sda1x /odd ext4 defaults 0 2\n", NULL },
        { "tmpfs /dev/sda1 tmpfs defaults 0 0", NULL },
        { NULL, NULL },
    };

    (void)state;
    check_rewrite(fstab, true,
                  (const char *const[]){ "/dev/sda1 -> U0-1", "/dev/sdb2 -> U1-2",
                                         "/dev/sda10 -> U0-10", NULL },
                  (const char *const[]){ "/dev/sdaa1" /* disk 26 */, "/dev/sdc", NULL });
}

static void
test_kernel(void **state)
{
    static const struct line kernel[] = {
        { "\tlinux /boot/vmlinuz root=/dev/sda1 ro resume=/dev/sdb2 myroot=/dev/sda3 "
          "console=/dev/sda4 quiet\n",
          "\tlinux /boot/vmlinuz root=U0-1 ro resume=U1-2 myroot=/dev/sda3 "
          "console=/dev/sda4 quiet\n" },
        { "kernel /vmlinuz ro root=/dev/hda2\n", "kernel /vmlinuz ro root=U0-2\n" },
        { "kernel /vmlinuz ro root=/dev/xvdb\n", "kernel /vmlinuz ro root=U1-\n" },
        { "GRUB_CMDLINE_LINUX=\"resume=/dev/sda5\"\n", "GRUB_CMDLINE_LINUX=\"resume=U0-5\"\n" },
        { "RESUME=/dev/sdb1\n", "RESUME=U1-1\n" },
        { NULL, NULL },
    };
    int calls = 0;
    char **changes = NULL, **left = NULL;

    (void)state;
    check_rewrite(kernel, false,
                  (const char *const[]){ "/dev/sda1 -> U0-1", "/dev/sdb2 -> U1-2",
                                         "/dev/hda2 -> U0-2", "/dev/xvdb -> U1-",
                                         "/dev/sda5 -> U0-5", "/dev/sdb1 -> U1-1", NULL },
                  NULL);

    /* nothing to change: NULL, MAP never asked */
    assert_null(ferry_guest_rewrite_devices("root=UUID=abcd ro /dev/sda1 /dev/sd /dev/vda1\n",
                                            false, map, &calls, &changes, &left));
    assert_int_equal(calls, 0);
    assert_null(changes);
    assert_null(ferry_guest_rewrite_devices("", true, map, &calls, &changes, &left));
}

/* --termination-log: the result first, within the kubelet's 4096 bytes,
 * the changes that do not fit counted */
static void
test_termination_text(void **state)
{
    (void)state;
    struct ferry_guest_report r = {0};
    char *t;

    r.os = ferry_strdup("linux test 1.0");
    ferry_strv_push(&r.changes, "/etc/fstab: /dev/sda1 -> UUID=1");
    t = ferry_guest_termination_text(&r, NULL);
    assert_string_equal(t, "result: converted\nguest: linux test 1.0\n"
                           "changed: /etc/fstab: /dev/sda1 -> UUID=1\n");
    free(t);
    t = ferry_guest_termination_text(&r, "no operating system found");
    assert_true(ferry_str_has_prefix(t, "result: not converted\nguest: linux test 1.0\n"
                                        "ferry-converter: error: no operating system found\n"));
    free(t);
    for (int i = 0; i < 1000; i++) {
        char *c = ferry_printf("change %04d of a long list of changes", i);

        ferry_strv_push(&r.changes, c);
        free(c);
    }
    t = ferry_guest_termination_text(&r, NULL);
    assert_true(strlen(t) <= 4096);
    assert_true(ferry_str_has_prefix(t, "result: converted\n"));
    assert_non_null(strstr(t, "changed: change 0000 of"));
    assert_null(strstr(t, "changed: change 0999 of"));
    assert_non_null(strstr(t, " more (the pod's log)\n"));
    free(t);
    ferry_guest_report_clear(&r);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_fstab),
          cmocka_unit_test(test_kernel),
          cmocka_unit_test(test_termination_text))
