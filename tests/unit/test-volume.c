/* common/volume.c: paths under the state directory never leave it, whatever
 * the names say and whatever symlinks were planted inside it.  Real files in
 * a temporary directory; a canary directory beside the state directory must
 * come out unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "common/volume.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testlib.h"

struct fixture {
    char *top;    /* temporary directory */
    char *root;   /* top/state */
    char *canary; /* top/canary, holds "keep" */
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/ferry-volume-test.XXXXXX";
    FERRY_AUTOFREE char *keep = NULL;

    if (!mkdtemp(tmpl))
        return -1;
    f->top = strdup(tmpl);
    f->root = ferry_printf("%s/state", f->top);
    f->canary = ferry_printf("%s/canary", f->top);
    mkdir(f->root, 0700);
    mkdir(f->canary, 0700);
    keep = ferry_printf("%s/keep", f->canary);
    if (ferry_file_write_atomic(keep, "x", 1, 0644) < 0)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    ferry_rm_rf(f->top);
    free(f->top);
    free(f->root);
    free(f->canary);
    free(f);
    return 0;
}

static void
canary_intact(struct fixture *f)
{
    FERRY_AUTOFREE char *keep = ferry_printf("%s/keep", f->canary);
    FERRY_AUTOFREE char *evil = ferry_printf("%s/x", f->canary);
    struct stat sb;

    assert_int_equal(stat(keep, &sb), 0);
    assert_int_equal(sb.st_size, 1);
    assert_int_equal(stat(evil, &sb), -1);
}

static void
test_bad_names(void **state)
{
    struct fixture *f = *state;
    static const char *const bad_ns[] = { "..", ".", "a/b", "/etc", "Bad_NS", "ferry.db", "",
                                          "caf\xc3\xa9", "../../canary" };
    static const char *const bad_name[] = { "..", ".", "a/b", "/etc/passwd", "X", "",
                                            "../canary", "a..b" };

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(bad_ns); i++) {
        assert_null(ferry_volume_dir(f->root, bad_ns[i], "disk"));
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
        assert_non_null(strstr(ferry_error_message(), "metadata.namespace: Invalid value"));
        assert_int_equal(ferry_volume_mkdir(f->root, bad_ns[i], "disk"), -1);
        assert_int_equal(ferry_volume_remove(f->root, bad_ns[i], "volumes"), -1);
        assert_null(ferry_vmi_dir(f->root, bad_ns[i], "vm"));
    }
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(bad_name); i++) {
        assert_null(ferry_volume_file(f->root, "default", bad_name[i], FERRY_VOLUME_DISK));
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
        assert_int_equal(ferry_volume_open(f->root, "default", bad_name[i], FERRY_VOLUME_DISK,
                                           O_RDONLY, 0), -1);
    }
    /* a file name is one plain component */
    assert_null(ferry_volume_file(f->root, "default", "disk", "../../ferry.db"));
    assert_int_equal(ferry_state_openat(f->root, "volumes/../../canary/keep", O_RDONLY, 0), -1);
    assert_int_equal(ferry_state_openat(f->root, "/etc/passwd", O_RDONLY, 0), -1);
    canary_intact(f);
    ferry_error_reset();
}

static void
test_good_names(void **state)
{
    struct fixture *f = *state;
    FERRY_AUTOFREE char *dir = ferry_volume_dir(f->root, "default", "ferry.db");
    FERRY_AUTOFREE char *want = ferry_printf("%s/volumes/default/ferry.db", f->root);
    FERRY_AUTOFREE char *db = ferry_printf("%s/ferry.db", f->root);
    int fd;
    struct stat sb;

    /* a DataVolume may be called ferry.db: it lives in its own directory */
    assert_string_equal(dir, want);
    assert_int_equal(ferry_file_write_atomic(db, "db", 2, 0600), 0);
    assert_int_equal(ferry_volume_mkdir(f->root, "default", "ferry.db"), 0);
    fd = ferry_volume_open(f->root, "default", "ferry.db", FERRY_VOLUME_DISK,
                           O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ferry_volume_write_done(f->root, "default", "ferry.db", "uid-1"), 0);
    assert_true(ferry_volume_is_done(f->root, "default", "ferry.db", "uid-1"));
    assert_false(ferry_volume_is_done(f->root, "default", "ferry.db", "uid-2"));
    assert_int_equal(ferry_volume_remove(f->root, "default", "ferry.db"), 0);
    assert_int_equal(stat(dir, &sb), -1);
    assert_int_equal(stat(db, &sb), 0); /* the store's own file stays */
    /* removing what is not there is fine */
    assert_int_equal(ferry_volume_remove(f->root, "default", "gone"), 0);
    assert_int_equal(ferry_vmi_mkdir(f->root, "default", "vm"), 0);
    assert_int_equal(ferry_vmi_remove(f->root, "default", "vm"), 0);
}

static void
test_symlinks(void **state)
{
    struct fixture *f = *state;
    FERRY_AUTOFREE char *vols = ferry_printf("%s/volumes", f->root);
    FERRY_AUTOFREE char *link = ferry_printf("%s/volumes/evil", f->root);
    FERRY_AUTOFREE char *inner = ferry_printf("%s/volumes/default/disk/escape", f->root);
    bool busy;

    /* a namespace directory that is a symlink out of the root */
    mkdir(vols, 0755);
    assert_int_equal(symlink(f->canary, link), 0);
    assert_int_equal(ferry_volume_mkdir(f->root, "evil", "x"), -1);
    assert_int_equal(ferry_volume_open(f->root, "evil", "keep", NULL, O_RDONLY, 0), -1);
    assert_int_equal(ferry_volume_lock(f->root, "evil", "x", &busy), -1);
    assert_int_equal(ferry_volume_write_done(f->root, "evil", "x", "u"), -1);
    canary_intact(f);

    /* a symlink inside a volume is removed, not followed */
    assert_int_equal(ferry_volume_mkdir(f->root, "default", "disk"), 0);
    assert_int_equal(symlink(f->canary, inner), 0);
    assert_int_equal(ferry_volume_remove(f->root, "default", "disk"), 0);
    canary_intact(f);
    /* and the symlinked namespace itself goes as a link */
    assert_int_equal(ferry_volume_remove(f->root, "evil", "keep"), -1);
    canary_intact(f);
    ferry_error_reset();
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
          cmocka_unit_test_setup_teardown(test_good_names, setup, teardown),
          cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown))
