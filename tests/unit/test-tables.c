/* The plugin tables describe themselves (issue 14, part 3): every format,
 * source and converter input carries its name and help line (formats and
 * inputs their file extensions, sources their URL schemes and options), and
 * the texts generated from the tables -- ferry-importer --help, the
 * unsupported-scheme error, ferry-converter --help and its error lists --
 * name every entry.  A new table line without them fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "converter/inputs.h"
#include "image/image.h"
#include "importer/importer.h"
#include "testlib.h"

/* What FN writes to a FILE, as a string (caller frees). */
static char *
capture(void (*fn)(FILE *))
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    assert_non_null(f);
    fn(f);
    fclose(f);
    return buf;
}

/* "http://" -> "http" (a scheme's name as the texts print it). */
static char *
scheme_name(const char *scheme)
{
    return ferry_strndup(scheme, strcspn(scheme, ":"));
}

/* NAME appears in TEXT as a word: not inside a longer name ("vhd" in
 * "vhdx"). */
static bool
mentions(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
        char before = p == text ? ' ' : p[-1];
        char after = p[n];
        bool word_before = before == ' ' || before == '(' || before == ',' || before == '\n';
        bool word_after = after == ',' || after == ';' || after == ' ' || after == ')' ||
                          after == '\n' || after == '\0';
        if (word_before && word_after)
            return true;
    }
    return false;
}

static void
test_formats(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *usage = capture(ferry_importer_usage);
    FERRY_AUTOFREE char *list = capture(ferry_formats_list);
    size_t n = 0;

    for (size_t i = 0; ferry_formats[i]; i++, n++) {
        const struct ferry_format *f = ferry_formats[i];

        assert_non_null(f->name);
        assert_true(f->name[0] != '\0');
        assert_non_null(f->help);
        assert_true(strlen(f->help) > 10);
        assert_null(strchr(f->help, '\n'));
        assert_non_null(f->extensions);
        assert_non_null(f->extensions[0]);
        for (const char *const *e = f->extensions; *e; e++)
            assert_true((*e)[0] == '.' && strlen(*e) > 1);
        assert_non_null(f->probe);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(f->name, ferry_formats[j]->name);
        if (!mentions(usage, f->name))
            fail_msg("ferry-importer --help does not name the format '%s'", f->name);
        assert_non_null(strstr(list, f->help));
    }
    assert_true(n >= 7);
}

static void
test_sources(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *usage = capture(ferry_importer_usage);
    FERRY_AUTOFREE char *list = capture(ferry_sources_list);
    FERRY_AUTOFREE char *schemes = ferry_sources_schemes();
    size_t options = 0;

    for (size_t i = 0; ferry_sources[i]; i++) {
        const struct ferry_source_ops *s = ferry_sources[i];

        assert_non_null(s->name);
        assert_non_null(s->help);
        assert_true(strlen(s->help) > 10);
        assert_non_null(s->handles);
        assert_non_null(s->open);
        assert_non_null(s->read);
        assert_non_null(s->schemes);
        assert_non_null(s->schemes[0]);
        assert_non_null(strstr(list, s->help));
        for (const char *const *sc = s->schemes; *sc; sc++) {
            FERRY_AUTOFREE char *name = scheme_name(*sc);
            /* the source takes what it says it takes */
            FERRY_AUTOFREE char *url = ferry_printf("%sexample/x", *sc);

            assert_true(s->handles(url));
            if (!mentions(usage, name))
                fail_msg("ferry-importer --help does not name the scheme '%s'", name);
            assert_true(mentions(schemes, name));
        }
        if (s->options && s->options[0].name)
            assert_non_null(s->config);
        for (const struct ferry_source_option *o = s->options; o && o->name; o++, options++) {
            FERRY_AUTOFREE char *flag = ferry_printf("--%s", o->name);
            const struct ferry_source_option *found = NULL;

            assert_non_null(o->help);
            assert_true(o->help[0] != '\0');
            if (!mentions(usage, flag))
                fail_msg("ferry-importer --help does not name the option '%s'", flag);
            /* one owner per option */
            assert_ptr_equal(ferry_sources_find_option(o->name, &found), s);
            assert_ptr_equal(found, o);
        }
    }
    /* the registry's options are its own, not the pipeline's */
    assert_true(options >= 5);
    assert_null(ferry_sources_find_option("url", &(const struct ferry_source_option *){ NULL }));
    assert_string_equal(schemes, "docker, oci-archive, vmware, imageio, http, https, s3, "
                                 "s3+http, s3+https, file");
}

static void
test_sources_option_config(void **state)
{
    (void)state;
    const struct ferry_source_option *o = NULL;
    const struct ferry_source_ops *s = ferry_sources_find_option("platform", &o);

    assert_non_null(s);
    assert_string_equal(s->name, "registry");
    assert_int_equal(s->config("platform", "linux/arm64/v8"), 0);
    assert_int_equal(s->config("platform", "linux"), -1);
    assert_non_null(strstr(ferry_error_message(), "--platform 'linux'"));
    ferry_error_reset();
    assert_int_equal(s->config("platform", "linux/amd64"), 0);
}

static void
test_unsupported_scheme(void **state)
{
    (void)state;
    struct ferry_source *src = NULL;
    FERRY_AUTOFREE char *schemes = ferry_sources_schemes();
    FERRY_AUTOFREE char *want = NULL;

    assert_int_equal(ferry_source_open("gs://bucket/disk.img", &src), -1);
    assert_null(src);
    want = ferry_printf("source 'gs://bucket/disk.img': unsupported scheme 'gs': ferry-importer "
                        "reads %s",
                        schemes);
    assert_string_equal(ferry_error_message(), want);
    ferry_error_reset();
}

static void
test_dv_sources(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *kinds = ferry_sources_dv_kinds();

    assert_true(ferry_sources_serve_dv("http"));
    assert_true(ferry_sources_serve_dv("registry"));
    assert_true(ferry_sources_serve_dv("s3"));
    assert_true(ferry_sources_serve_dv("imageio"));
    assert_false(ferry_sources_serve_dv("gcs"));
    assert_false(ferry_sources_serve_dv("vddk"));
    assert_false(ferry_sources_serve_dv(NULL));
    assert_string_equal(kinds, "http, imageio, registry, s3");
    /* the options a DataVolume's secretRef/certConfigMap become */
    assert_string_equal(ferry_sources_dv_option("imageio", FERRY_DV_OPT_SECRET),
                        "imageio-secret-dir");
    assert_string_equal(ferry_sources_dv_option("imageio", FERRY_DV_OPT_CA), "imageio-ca");
    assert_string_equal(ferry_sources_dv_option("s3", FERRY_DV_OPT_SECRET), "s3-secret-dir");
    assert_string_equal(ferry_sources_dv_option("s3", FERRY_DV_OPT_CA), "s3-ca-dir");
    assert_string_equal(ferry_sources_dv_option("registry", FERRY_DV_OPT_SECRET), "secret-dir");
    assert_null(ferry_sources_dv_option("gcs", FERRY_DV_OPT_SECRET));
    assert_null(ferry_sources_dv_option("s3", FERRY_DV_OPT_HEADER));
    assert_string_equal(ferry_sources_dv_option("imageio", FERRY_DV_OPT_INSECURE),
                        "imageio-insecure");
    assert_null(ferry_sources_dv_option("s3", FERRY_DV_OPT_INSECURE));
}

static void
test_inputs(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *usage = capture(ferry_converter_usage);
    FERRY_AUTOFREE char *list = capture(ferry_inputs_list);
    FERRY_AUTOFREE char *titles = ferry_inputs_titles(false);
    FERRY_AUTOFREE char *texts = ferry_inputs_titles(true);
    size_t n = 0;

    for (const struct ferry_input *const *p = ferry_inputs; *p; p++, n++) {
        const struct ferry_input *in = *p;

        assert_non_null(in->name);
        assert_non_null(in->description);
        assert_true(strlen(in->description) > 5);
        assert_non_null(in->title);
        assert_non_null(in->extensions);
        assert_non_null(in->extensions[0]);
        for (const char *const *e = in->extensions; *e; e++) {
            assert_true((*e)[0] == '.' && strlen(*e) > 1);
            assert_non_null(strstr(list, *e));
        }
        assert_non_null(in->probe);
        assert_non_null(in->parse);
        if (!mentions(usage, in->name))
            fail_msg("ferry-converter --help does not name the input '%s'", in->name);
        assert_non_null(strstr(usage, in->description));
        assert_true(mentions(titles, in->title));
        assert_true(mentions(texts, in->title) == !in->archive);
        for (const struct ferry_input *const *q = ferry_inputs; q != p; q++)
            assert_string_not_equal(in->name, (*q)->name);
    }
    assert_true(n >= 6);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_formats),
          cmocka_unit_test(test_sources),
          cmocka_unit_test(test_sources_option_config),
          cmocka_unit_test(test_unsupported_scheme),
          cmocka_unit_test(test_dv_sources),
          cmocka_unit_test(test_inputs))
