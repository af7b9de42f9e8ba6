/* Unit tests of what the vmware and imageio sources do before they touch
 * the network (importer/sources/vmware.c, imageio.c, remote-common.c): the
 * URLs they accept and refuse, credentials from a secret directory or CDI's
 * environment, CA bundles from a file or a ConfigMap-like directory,
 * Content-Range parsing and escaping, CDI's imageio and vddk endpoints as
 * URLs of these sources.  The sources themselves are tested
 * against loopback stand-ins by tests/importer/vmware.sh and imageio.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/sources/remote-common.h"
#include "../unit/testlib.h"

/* Open URL: it must fail with an error containing MSG (nothing here has
 * credentials, so an accepted URL fails on them, before any request). */
static void
expect_open_error(const char *url, const char *msg)
{
    struct ferry_source *src = NULL;

    ferry_error_reset();
    if (ferry_source_open(url, &src) == 0)
        fail_msg("%s: opened", url);
    if (!strstr(ferry_error_message(), msg))
        fail_msg("%s: error '%s' does not say '%s'", url, ferry_error_message(), msg);
}

static void
test_vmware_urls(void **state)
{
    (void)state;
    unsetenv("IMPORTER_ACCESS_KEY_ID");
    unsetenv("IMPORTER_SECRET_KEY");
    /* accepted: they get as far as the credentials */
    expect_open_error("vmware://esxi/datastore1/vm/vm.vmdk", "no credentials");
    expect_open_error("vmware://esxi:8443/datastore1/vm/vm.vmdk?dcPath=Folder/DC", "no credentials");
    expect_open_error("vmware://vc/folder/vm/vm.vmdk?dcPath=DC&dsName=ds1", "no credentials");
    expect_open_error("vmware://esxi/ds/disk.vmdk", "no credentials");
    /* refused */
    expect_open_error("vmware://root:pw@esxi/ds/vm/vm.vmdk", "credentials go in --vmware-secret-dir");
    expect_open_error("vmware:///ds/vm/vm.vmdk", "expected vmware://HOST");
    expect_open_error("vmware://esxi/ds", "expected vmware://HOST[:PORT]/DATASTORE/PATH");
    expect_open_error("vmware://esxi/ds/vm/", "expected vmware://HOST[:PORT]/DATASTORE/PATH");
    expect_open_error("vmware://esxi/ds/../etc/passwd", "expected vmware://HOST");
    expect_open_error("vmware://esxi/folder/../x.vmdk?dsName=a", "must name a file below /folder/");
    expect_open_error("vmware://esxi/folder/a/%2e%2e/x.vmdk?dsName=a", "must name a file");
    expect_open_error("vmware://esxi/folder/a/%2E./x.vmdk?dsName=a", "must name a file");
    expect_open_error("vmware://esxi/folder/a/.%2e/x.vmdk?dsName=a", "must name a file");
    expect_open_error("vmware://esxi/folder/a/x%00.vmdk?dsName=a", "must name a file");
    expect_open_error("vmware://esxi/ds/a%2F..%2Fx.vmdk", "expected vmware://HOST");
    expect_open_error("vmware://esxi/folder/a%20b/x%2evmdk?dsName=a", "no credentials");
    expect_open_error("vmware://esxi/ds/x.vmdk#frag", "fragment");
    expect_open_error("vmware://esxi/ds/x.vmdk?dsName=other", "unknown query parameter 'dsName=other'");
}

static void
test_imageio_urls(void **state)
{
    (void)state;
    unsetenv("IMPORTER_ACCESS_KEY_ID");
    unsetenv("IMPORTER_SECRET_KEY");
    expect_open_error("imageio://engine/3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60", "no credentials");
    expect_open_error("imageio://engine:8443/ovirt-engine/api/disks/3f1b6a3e-6b6c", "no credentials");
    expect_open_error("imageio://engine/rhv/api/disks/abc", "no credentials");
    expect_open_error("imageio://engine/not-hex-zz", "expected imageio://ENGINE");
    expect_open_error("imageio://engine/api/vms/abc", "must end in /api/disks/DISK-ID");
    expect_open_error("imageio://u:p@engine/abc", "expected imageio://ENGINE");
    expect_open_error("imageio://engine/abc?x=1", "expected imageio://ENGINE");
    expect_open_error("imageio://engine/", "expected imageio://ENGINE");
}

static char *
tmpdir(void)
{
    char *d = ferry_strdup("/tmp/ferry-test-remote.XXXXXX");

    assert_non_null(mkdtemp(d));
    return d;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    FERRY_AUTOFREE char *p = ferry_printf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_credentials(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *d = tmpdir();
    char *u = NULL, *p = NULL;

    write_file(d, "accessKeyId", "admin@internal\n");
    write_file(d, "secretKey", "p4ss word\r\n");
    assert_int_equal(ferry_remote_credentials("x", "--x-secret-dir", d, &u, &p), 0);
    assert_string_equal(u, "admin@internal");
    assert_string_equal(p, "p4ss word");
    free(u);
    free(p);
    write_file(d, "secretKey", "");
    assert_int_equal(ferry_remote_credentials("x", "--x-secret-dir", d, &u, &p), -1);
    assert_non_null(strstr(ferry_error_message(), "is empty"));

    setenv("IMPORTER_ACCESS_KEY_ID", "root", 1);
    setenv("IMPORTER_SECRET_KEY", "s3cret", 1);
    assert_int_equal(ferry_remote_credentials("x", "--x-secret-dir", NULL, &u, &p), 0);
    assert_string_equal(u, "root");
    assert_string_equal(p, "s3cret");
    free(u);
    free(p);
    unsetenv("IMPORTER_SECRET_KEY");
    assert_int_equal(ferry_remote_credentials("x", "--x-secret-dir", NULL, &u, &p), -1);
    assert_non_null(strstr(ferry_error_message(), "no credentials: give --x-secret-dir"));
    unsetenv("IMPORTER_ACCESS_KEY_ID");
    FERRY_AUTOFREE char *rm = ferry_printf("rm -rf '%s'", d);
    assert_int_equal(system(rm), 0);
}

static void
test_ca(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *d = tmpdir();
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    char *buf = NULL;
    size_t len = 0;

    /* A mounted ConfigMap: the file behind ..data, dot entries skipped. */
    FERRY_AUTOFREE char *data = ferry_printf("%s/..data", d);
    assert_int_equal(mkdir(data, 0755), 0);
    write_file(data, "ca.pem", pem);
    FERRY_AUTOFREE char *link = ferry_printf("%s/ca.pem", d);
    assert_int_equal(symlink("..data/ca.pem", link), 0);
    assert_int_equal(ferry_remote_ca_load("--x-ca", d, &buf, &len), 0);
    assert_int_equal(len, strlen(pem) + 1);
    assert_memory_equal(buf, pem, strlen(pem));
    free(buf);
    assert_int_equal(ferry_remote_ca_load("--x-ca", link, &buf, &len), 0);
    free(buf);
    write_file(d, "notes.txt", "not a certificate\n");
    assert_int_equal(ferry_remote_ca_load("--x-ca", d, &buf, &len), -1);
    assert_non_null(strstr(ferry_error_message(), "notes.txt': no PEM certificate in it"));
    assert_int_equal(ferry_remote_ca_load("--x-ca", "/nonexistent/ca.pem", &buf, &len), -1);
    assert_non_null(strstr(ferry_error_message(), "--x-ca '/nonexistent/ca.pem'"));
    FERRY_AUTOFREE char *rm = ferry_printf("rm -rf '%s'", d);
    assert_int_equal(system(rm), 0);
}

static void
header(struct ferry_content_range *cr, const char *line)
{
    ferry_content_range_header(cr, line, strlen(line));
}

static void
test_content_range(void **state)
{
    (void)state;
    struct ferry_content_range cr = { .total = -1 };

    header(&cr, "HTTP/1.1 206 Partial Content\r\n");
    header(&cr, "Content-Range: bytes 0-511/1048576\r\n");
    assert_true(cr.valid);
    assert_int_equal(cr.first, 0);
    assert_int_equal(cr.last, 511);
    assert_int_equal(cr.total, 1048576);
    header(&cr, "HTTP/1.1 206 Partial Content\r\n");
    assert_false(cr.seen);
    header(&cr, "content-range: bytes 4096-8191/*\r\n");
    assert_true(cr.valid);
    assert_int_equal(cr.total, -1);
    header(&cr, "Content-Range: bytes 9-3/10\r\n");
    assert_false(cr.valid);
    header(&cr, "Content-Range: bytes */10\r\n");
    assert_false(cr.valid);
    header(&cr, "Content-Range: bytes 0-1/x\r\n");
    assert_false(cr.valid);
}

static void
test_escape(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *a = ferry_remote_escape("vm 1/disk#2.vmdk", true);
    FERRY_AUTOFREE char *b = ferry_remote_escape("a&b=c/d", false);
    FERRY_AUTOFREE char *c = ferry_remote_escape("Ünï-._~", false);

    assert_string_equal(a, "vm%201/disk%232.vmdk");
    assert_string_equal(b, "a%26b%3Dc%2Fd");
    assert_string_equal(c, "%C3%9Cn%C3%AF-._~");
}

/* CDI's endpoint and disk as a source URL; NULL: refused. */
struct cdi_case {
    const char *endpoint, *disk, *want;
};

/* imageio: the engine's API URL and a disk id */
static const struct cdi_case imageio_cases[] = {
    { "https://engine.example/ovirt-engine/api", "ab-12",
      "imageio://engine.example/ovirt-engine/api/disks/ab-12" },
    { "https://engine:8443/ovirt-engine/api/", "ab",
      "imageio://engine:8443/ovirt-engine/api/disks/ab" },
    { "https://engine", "ab", "imageio://engine/ovirt-engine/api/disks/ab" },
    { "https://engine/rhv", "ab", "imageio://engine/rhv/api/disks/ab" },
    { "http://engine/ovirt-engine/api", "ab", NULL },
    { "https://engine/ovirt-engine/api", "../x", NULL },
    { "https://engine/api?x", "ab", NULL },
    { "https://engine/a/../api", "ab", NULL },
    { "https://en gine/api", "ab", NULL },
};

/* vmware: the host's URL and a backing file, "[datastore] path" */
static const struct cdi_case vmware_cases[] = {
    { "https://esxi.example/sdk", "[datastore1] web/web.vmdk",
      "vmware://esxi.example/datastore1/web/web.vmdk" },
    { "https://esxi:443", "[SSD 1] my vm/my vm.vmdk",
      "vmware://esxi:443/SSD%201/my%20vm/my%20vm.vmdk" },
    { "https://esxi", "datastore1/web.vmdk", NULL },
    { "https://esxi", "[ds] ../etc/passwd", NULL },
    { "https://esxi", "[] web.vmdk", NULL },
    { "esxi", "[ds] web.vmdk", NULL },
    { "https://root@esxi", "[ds] web.vmdk", NULL },
};

static void
check_cdi_mapping(int (*map)(const char *, const char *, char **), const struct cdi_case *cases,
                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *url = NULL;

        ferry_error_reset();
        if (map(cases[i].endpoint, cases[i].disk, &url) < 0) {
            if (cases[i].want)
                fail_msg("%s + %s: %s", cases[i].endpoint, cases[i].disk, ferry_error_message());
            continue;
        }
        if (!cases[i].want)
            fail_msg("%s + %s: accepted as %s", cases[i].endpoint, cases[i].disk, url);
        assert_string_equal(url, cases[i].want);
        free(url);
    }
}

static void
test_cdi_mapping(void **state)
{
    (void)state;
    check_cdi_mapping(ferry_imageio_url_from_cdi, imageio_cases, FERRY_ARRAY_SIZE(imageio_cases));
    check_cdi_mapping(ferry_vmware_url_from_cdi, vmware_cases, FERRY_ARRAY_SIZE(vmware_cases));
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_vmware_urls),
          cmocka_unit_test(test_imageio_urls),
          cmocka_unit_test(test_credentials),
          cmocka_unit_test(test_ca),
          cmocka_unit_test(test_content_range),
          cmocka_unit_test(test_escape),
          cmocka_unit_test(test_cdi_mapping))
