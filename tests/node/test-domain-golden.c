/* Golden files for VMI -> libvirt domain XML: every
 * tests/golden/domain/<case>.vmi.yaml converts to <case>.xml, or fails with
 * the message in <case>.err.  FERRY_TEST_REGENERATE=1 rewrites the expected
 * file (review the diff) but never changes a case's kind: a .xml case that
 * now fails, or an .err case that now converts, fails and writes nothing
 * (delete the expected file to change it); a case with neither gets the one
 * that matches.  A file that belongs to no case fails the run.
 *   test-domain-golden CASE      one case (tests/node.cmake registers one
 *                                ctest per case: node-domain-golden/CASE)
 *   test-domain-golden --files   orphaned files, at least 25 cases
 *   test-domain-golden           every case and the files
 * Test-only annotations on the VMI choose the host facts:
 *   test.ferry.io/emulation: "true"     no KVM (domain type qemu)
 *   test.ferry.io/no-direct-io: "true"  the volumes refuse O_DIRECT */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/object.h"
#include "common/util.h"
#include "common/yaml.h"
#include "launcher/domain.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#define DIR_ FERRY_SOURCE_DIR "/tests/golden/domain"

static bool
no_direct(const char *path, void *opaque)
{
    return false;
}

static int
compare_or_write(const char *path, const char *got, bool regen)
{
    FERRY_AUTOFREE char *want = NULL;
    size_t len;
    if (regen)
        return ferry_file_write_atomic(path, got, strlen(got), 0644);
    if (ferry_file_read(path, 0, &want, &len) < 0) {
        fprintf(stderr, "missing %s (FERRY_TEST_REGENERATE=1 writes it):\n%s", path, got);
        return -1;
    }
    if (strcmp(want, got) != 0) {
        fprintf(stderr, "MISMATCH %s\n--- want\n%s--- got\n%s", path, want, got);
        return -1;
    }
    return 0;
}

static int
run_case(const char *base, bool regen)
{
    FERRY_AUTOFREE char *in = ferry_printf("%s/%s.vmi.yaml", DIR_, base);
    FERRY_AUTOFREE char *xmlp = ferry_printf("%s/%s.xml", DIR_, base);
    FERRY_AUTOFREE char *errp = ferry_printf("%s/%s.err", DIR_, base);
    FERRY_AUTOFREE char *text = NULL, *xml = NULL, *got = NULL;
    FERRY_AUTOPTR(json_object) vmi = NULL;
    size_t len;
    struct ferry_domain_opts opts = { .state_dir = "/var/lib/ferry", .kvm = true };

    if (ferry_file_read(in, 0, &text, &len) < 0 || ferry_yaml_parse_one(text, len, in, &vmi) < 0) {
        fprintf(stderr, "%s: %s\n", in, ferry_error_message());
        return -1;
    }
    if (ferry_str_eq(ferry_obj_annotation(vmi, "test.ferry.io/emulation"), "true"))
        opts.kvm = false;
    if (ferry_str_eq(ferry_obj_annotation(vmi, "test.ferry.io/no-direct-io"), "true"))
        opts.direct_io = no_direct;
    if (ferry_domain_build(vmi, &opts, &xml) < 0) {
        got = ferry_printf("%s\n", ferry_error_message());
        if (access(xmlp, F_OK) == 0) {
            fprintf(stderr, "%s: expected XML, got error: %s%s", base, got,
                    regen ? "(not regenerated: delete the .xml to make it an error case)\n" : "");
            return -1;
        }
        return compare_or_write(errp, got, regen);
    }
    if (access(errp, F_OK) == 0) {
        fprintf(stderr, "%s: expected an error, got XML%s\n", base,
                regen ? " (not regenerated: delete the .err to make it a success case)" : "");
        return -1;
    }
    return compare_or_write(xmlp, xml, regen);
}

static const char *only_case;   /* argv[1]: one case, or "--files" */

static bool
regenerate(void)
{
    const char *r = getenv("FERRY_TEST_REGENERATE");
    return r && strcmp(r, "1") == 0;
}

/* One case: tests/golden/domain/<only_case>.vmi.yaml. */
static void
test_one(void **state)
{
    assert_int_equal(run_case(only_case, regenerate()), 0);
}

/* Every case (unless only the files are checked), and every file a case. */
static void
test_golden(void **state)
{
    bool regen = regenerate(), files_only = only_case != NULL;
    DIR *d = opendir(DIR_);
    struct dirent *e;
    int cases = 0, failed = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        FERRY_AUTOFREE char *base = NULL;
        const char *n = e->d_name;
        if (n[0] == '.')
            continue;
        if (ferry_str_has_suffix(n, ".vmi.yaml")) {
            base = ferry_strndup(n, strlen(n) - strlen(".vmi.yaml"));
            cases++;
            if (!files_only && run_case(base, regen) < 0)
                failed++;
            continue;
        }
        if (ferry_str_has_suffix(n, ".xml") || ferry_str_has_suffix(n, ".err")) {
            FERRY_AUTOFREE char *src = NULL, *xmlp = NULL;
            base = ferry_strndup(n, strlen(n) - 4);
            src = ferry_printf("%s/%s.vmi.yaml", DIR_, base);
            xmlp = ferry_printf("%s/%s.xml", DIR_, base);
            if (access(src, F_OK) == 0 && ferry_str_has_suffix(n, ".err") && access(xmlp, F_OK) == 0) {
                fprintf(stderr, "case %s has both %s.xml and %s.err\n", base, base, base);
                failed++;
                continue;
            }
            if (access(src, F_OK) == 0)
                continue;
        }
        fprintf(stderr, "orphaned file %s/%s (no matching .vmi.yaml case)\n", DIR_, n);
        failed++;
    }
    closedir(d);
    fprintf(stderr, "%d cases, %d failed\n", cases, failed);
    assert_true(cases >= 25);
    assert_int_equal(failed, 0);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest all[] = { cmocka_unit_test(test_golden) };
    const struct CMUnitTest one[] = { cmocka_unit_test(test_one) };

    if (argc > 2 || (argc == 2 && argv[1][0] == '-' && strcmp(argv[1], "--files") != 0)) {
        fprintf(stderr, "usage: %s [CASE | --files]\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        only_case = argv[1];
        if (strcmp(only_case, "--files") != 0)
            return cmocka_run_group_tests_name(only_case, one, NULL, NULL);
    }
    return cmocka_run_group_tests(all, NULL, NULL);
}
