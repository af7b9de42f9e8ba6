/* cloud-init ISOs: read back with libarchive's ISO9660 reader (a different
 * code path from the writer) and checked for the volume label, file names and
 * contents KubeVirt's NoCloud and ConfigDrive layouts use. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"
#include "launcher/cloudinit.h"

#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "../unit/testlib.h"

static char tmpdir[] = "/tmp/ferry-cloudinit-XXXXXX";

static json_object *
vmi(void)
{
    return test_json("{\"metadata\":{\"name\":\"web\",\"namespace\":\"demo\",\"uid\":\"1234\"}}");
}

/* Returns the content of NAME inside the ISO (or NULL); *label gets the volume id. */
static char *
iso_file(const char *iso, const char *name)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    char *out = NULL;

    archive_read_support_format_iso9660(a);
    assert_int_equal(archive_read_open_filename(a, iso, 10240), ARCHIVE_OK);
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(e), name) == 0) {
            size_t len = (size_t)archive_entry_size(e);
            out = ferry_malloc(len + 1);
            assert_int_equal(archive_read_data(a, out, len), (la_ssize_t)len);
            out[len] = '\0';
            break;
        }
    }
    archive_read_free(a);
    return out;
}

/* The label blkid (and so cloud-init) reads: the Joliet volume id (UCS-2,
 * keeps lower case and '-'), from the supplementary volume descriptor. */
static bool
iso_has_label(const char *iso, const char *label)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;
    assert_int_equal(ferry_file_read(iso, 0, &buf, &len), 0);
    for (size_t sec = 16; (sec + 1) * 2048 <= len && sec < 32; sec++) {
        const unsigned char *d = (const unsigned char *)buf + sec * 2048;
        char id[17] = { 0 };
        if (d[0] == 255)
            break;
        if (d[0] != 2 || memcmp(d + 1, "CD001", 5) != 0)
            continue;
        for (int i = 0; i < 16; i++)
            id[i] = (char)d[40 + 2 * i + 1];
        for (int i = 15; i >= 0 && (id[i] == ' ' || id[i] == 0); i--)
            id[i] = 0;
        return strcmp(id, label) == 0;
    }
    return false;
}

static void
test_nocloud(void **state)
{
    FERRY_AUTOPTR(json_object) v = vmi();
    FERRY_AUTOPTR(json_object) src = json_object_new_object();
    FERRY_AUTOFREE char *iso = ferry_printf("%s/nocloud.iso", tmpdir);
    FERRY_AUTOFREE char *ud = NULL, *md = NULL, *nc = NULL;

    json_object_object_add(src, "userData", json_object_new_string("#cloud-config\npassword: x\n"));
    json_object_object_add(src, "networkDataBase64", json_object_new_string("dmVyc2lvbjogMgo="));
    assert_int_equal(ferry_cloudinit_write_iso(iso, false, src, v), 0);
    assert_true(iso_has_label(iso, "cidata"));
    ud = iso_file(iso, "user-data");
    md = iso_file(iso, "meta-data");
    nc = iso_file(iso, "network-config");
    assert_string_equal(ud, "#cloud-config\npassword: x\n");
    assert_string_equal(md, "instance-id: 1234\nlocal-hostname: web\n");
    assert_string_equal(nc, "version: 2\n");
}

static void
test_configdrive(void **state)
{
    FERRY_AUTOPTR(json_object) v = vmi();
    FERRY_AUTOPTR(json_object) src = json_object_new_object();
    FERRY_AUTOPTR(json_object) meta = NULL;
    FERRY_AUTOFREE char *iso = ferry_printf("%s/configdrive.iso", tmpdir);
    FERRY_AUTOFREE char *ud = NULL, *md = NULL;

    json_object_object_add(src, "userDataBase64", json_object_new_string("I2Nsb3VkLWNvbmZpZwo="));
    assert_int_equal(ferry_cloudinit_write_iso(iso, true, src, v), 0);
    assert_true(iso_has_label(iso, "config-2"));
    ud = iso_file(iso, "openstack/latest/user_data");
    assert_string_equal(ud, "#cloud-config\n");
    md = iso_file(iso, "openstack/latest/meta_data.json");
    assert_non_null(md);
    assert_int_equal(ferry_json_parse(md, strlen(md), "meta", &meta), 0);
    assert_string_equal(ferry_json_get_string(meta, "uuid"), "1234");
    assert_string_equal(ferry_json_get_string(meta, "hostname"), "web");
    assert_null(iso_file(iso, "openstack/latest/network_data.json"));
}

static void
test_refusals(void **state)
{
    FERRY_AUTOPTR(json_object) v = vmi();
    FERRY_AUTOPTR(json_object) both = json_object_new_object();
    FERRY_AUTOPTR(json_object) bad = json_object_new_object();
    FERRY_AUTOFREE char *iso = ferry_printf("%s/bad.iso", tmpdir);

    json_object_object_add(both, "userData", json_object_new_string("a"));
    json_object_object_add(both, "userDataBase64", json_object_new_string("YQ=="));
    assert_int_equal(ferry_cloudinit_write_iso(iso, false, both, v), -1);
    assert_non_null(strstr(ferry_error_message(), "both set"));
    json_object_object_add(bad, "userDataBase64", json_object_new_string("!!not base64!!"));
    assert_int_equal(ferry_cloudinit_write_iso(iso, false, bad, v), -1);
    assert_non_null(strstr(ferry_error_message(), "not valid base64"));
    assert_int_not_equal(access(iso, F_OK), 0);
}

static int
setup(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
    return ferry_rm_rf(tmpdir);
}

TEST_MAIN(setup, teardown,
          cmocka_unit_test(test_nocloud),
          cmocka_unit_test(test_configdrive),
          cmocka_unit_test(test_refusals))
