/* YAML <-> JSON (common/yaml.c): the scalar typing table kubectl applies
 * (goyaml.v2 through sigs.k8s.io/yaml; tests/unit/yaml-kubectl.sh checks the
 * same table against kubectl itself), anchors and merges, error positions,
 * alias bombs, multi-document streams, the emitter's quoting and layout, and
 * round trips over the hand-written manifests in tests/unit/data and the
 * KubeVirt/CDI examples in tests/admission/examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"
#include "common/yaml.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"

static json_object *
parse_one(const char *text)
{
    json_object *doc = NULL;

    if (ferry_yaml_parse_one(text, strlen(text), "test.yaml", &doc) < 0)
        fail_msg("parse failed: %s\n--- input:\n%s", ferry_error_message(), text);
    return doc;
}

static void
assert_json_eq(json_object *got, const char *want_json)
{
    FERRY_AUTOPTR(json_object) want = NULL;

    if (ferry_json_parse(want_json, strlen(want_json), "want", &want) < 0)
        fail_msg("bad expectation %s: %s", want_json, ferry_error_message());
    if (!ferry_json_equal(got, want))
        fail_msg("got %s, want %s", json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN),
                 want_json);
}

/* ---- the typing table ---------------------------------------------------- */

static const struct {
    const char *yaml; /* the value as written after "v: " */
    const char *json; /* what kubectl makes of it */
} typing[] = {
    /* booleans: YAML 1.1 as goyaml.v2 knows them */
    { "true", "true" }, { "True", "true" }, { "TRUE", "true" },
    { "yes", "true" }, { "Yes", "true" }, { "YES", "true" },
    { "y", "true" }, { "Y", "true" }, { "on", "true" }, { "On", "true" }, { "ON", "true" },
    { "false", "false" }, { "False", "false" }, { "no", "false" }, { "NO", "false" },
    { "n", "false" }, { "N", "false" }, { "off", "false" }, { "Off", "false" },
    { "tRUE", "\"tRUE\"" }, { "yes please", "\"yes please\"" },
    /* null */
    { "null", "null" }, { "Null", "null" }, { "NULL", "null" }, { "~", "null" }, { "", "null" },
    { "nULL", "\"nULL\"" },
    /* integers: Go's ParseInt(s, 0, 64) after removing '_' */
    { "0", "0" }, { "42", "42" }, { "-7", "-7" }, { "+1", "1" }, { "1_000", "1000" },
    { "0x1F", "31" }, { "0X1f", "31" }, { "-0x10", "-16" }, { "0o17", "15" }, { "017", "15" },
    { "0b101", "5" }, { "9223372036854775807", "9223372036854775807" },
    { "-9223372036854775808", "-9223372036854775808" },
    { "9223372036854775808", "9223372036854775808" }, /* uint64 */
    /* floats */
    { "1.5", "1.5" }, { "1.", "1.0" }, { ".5", "0.5" }, { "+.5", "0.5" }, { "-2.5e3", "-2500.0" },
    { "1e3", "1000.0" }, { "1E-3", "0.001" }, { "08", "8.0" }, { "99999999999999999999", "1e20" },
    /* strings */
    { "2001-12-14", "\"2001-12-14\"" }, { "1:20", "\"1:20\"" }, { "0x", "\"0x\"" },
    { "1e", "\"1e\"" }, { "1e400", "\"1e400\"" }, { "-x", "\"-x\"" }, { ".", "\".\"" },
    { "10Gi", "\"10Gi\"" }, { "500m", "\"500m\"" }, { "v1", "\"v1\"" }, { "0xZZ", "\"0xZZ\"" },
    { "1.2.3", "\"1.2.3\"" }, { "<<a", "\"<<a\"" },
    /* quoting and tags */
    { "\"true\"", "\"true\"" }, { "'123'", "\"123\"" }, { "\"\"", "\"\"" }, { "'null'", "\"null\"" },
    { "!!str 123", "\"123\"" }, { "!!str true", "\"true\"" }, { "!!int \"42\"", "42" },
    { "!!float 1", "1.0" }, { "!!bool yes", "true" }, { "!custom 12", "\"12\"" },
    { "|\n  12\n", "\"12\\n\"" }, { ">-\n  a\n  b\n", "\"a b\"" },
};

static void
test_typing(void **state)
{
    for (size_t k = 0; k < FERRY_ARRAY_SIZE(typing); k++) {
        FERRY_AUTOFREE char *text = ferry_printf("v: %s\n", typing[k].yaml);
        FERRY_AUTOPTR(json_object) doc = parse_one(text);
        json_object *v = NULL;

        assert_true(json_object_object_get_ex(doc, "v", &v));
        if (v == NULL && strcmp(typing[k].json, "null") == 0)
            continue;
        /* wrapped in [ ]: json-c's tokener cannot end a bare top-level literal */
        FERRY_AUTOFREE char *wrapped = ferry_printf("[%s]", typing[k].json);
        FERRY_AUTOPTR(json_object) want = NULL;
        if (ferry_json_parse(wrapped, strlen(wrapped), "want", &want) < 0)
            fail_msg("bad expectation for '%s': %s", typing[k].yaml, ferry_error_message());
        if (!ferry_json_equal(v, json_object_array_get_idx(want, 0)))
            fail_msg("'%s': got %s, want %s", typing[k].yaml,
                     json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), typing[k].json);
    }
}

/* Keys are typed too, then turned into strings as sigs.k8s.io/yaml does:
 * the classic surprise is that "y" and "n" become "true" and "false". */
static void
test_keys(void **state)
{
    FERRY_AUTOPTR(json_object) doc =
        parse_one("y: 1\nn: 2\n1: a\n0x10: b\n1.5: c\n1e6: d\n\"yes\": e\nname: f\n");

    assert_json_eq(doc, "{\"true\":1,\"false\":2,\"1\":\"a\",\"16\":\"b\",\"1.5\":\"c\","
                        "\"1e+06\":\"d\",\"yes\":\"e\",\"name\":\"f\"}");
}

static void
test_key_order_and_duplicates(void **state)
{
    FERRY_AUTOPTR(json_object) doc = parse_one("z: 1\na: 2\nm: 3\n");
    FERRY_AUTOPTR(json_object) docs = NULL;
    const char *order[] = { "z", "a", "m" };
    size_t k = 0;
    static const char multi[] = "a: 1\n---\nb: 2\n---\nc: {x: 1\n---\nd: 4\n";

    json_object_object_foreach(doc, key, val)
    {
        (void)val;
        assert_true(k < 3);
        assert_string_equal(key, order[k++]);
    }
    /* a duplicate key is refused, as kubectl's strict decoding does */
    assert_int_equal(ferry_yaml_parse("z: 1\na: 2\nm: 3\na: 4\n", 20, "test.yaml", &docs), -1);
    assert_string_equal(ferry_error_message(),
                        "'test.yaml': line 4, column 1: key \"a\" already set in map");
    assert_int_equal(ferry_yaml_parse("m: {x: 1, x: 2}\n", 16, "test.yaml", &docs), -1);
    /* ... but keys brought by a merge key may be overridden */
    json_object_put(FERRY_STEAL(doc));
    doc = parse_one("b: &b {x: 1}\nm: {<<: *b, x: 2}\n");
    assert_int_equal(ferry_json_get_int(doc, "m.x", 0), 2);
    /* a broken document: the partial parse keeps the ones before it */
    assert_int_equal(ferry_yaml_parse_partial(multi, strlen(multi), "m.yaml", &docs), -1);
    assert_int_equal(json_object_array_length(docs), 2);
}

static void
test_flow_and_block(void **state)
{
    FERRY_AUTOPTR(json_object) doc = parse_one(
        "a: {x: 1, w: [true, \"s\", {z: null}]}\n"
        "b:\n- 1\n- - 2\n  - 3\n"
        "c: [ ]\n"
        "d: { }\n");

    assert_json_eq(doc, "{\"a\":{\"x\":1,\"w\":[true,\"s\",{\"z\":null}]},\"b\":[1,[2,3]],"
                        "\"c\":[],\"d\":{}}");
}

static void expect_error(const char *text, const char *want);

static void
test_anchors_and_merge(void **state)
{
    FERRY_AUTOPTR(json_object) doc = parse_one(
        "base: &b {x: 1, w: 2}\n"
        "other: &o {w: 20, z: 30}\n"
        "one: *b\n"
        "over:\n  <<: *b\n  w: 3\n"
        "before:\n  w: 4\n  <<: *b\n"
        "list:\n  <<: [*o, *b]\n"
        "quoted:\n  \"<<\": *b\n");

    assert_json_eq(ferry_json_get(doc, "one"), "{\"x\":1,\"w\":2}");
    /* explicit keys win wherever they stand; among merged maps the first wins */
    assert_json_eq(ferry_json_get(doc, "over"), "{\"x\":1,\"w\":3}");
    assert_json_eq(ferry_json_get(doc, "before"), "{\"w\":4,\"x\":1}");
    assert_json_eq(ferry_json_get(doc, "list"), "{\"w\":20,\"z\":30,\"x\":1}");
    /* a quoted "<<" is an ordinary key */
    assert_json_eq(ferry_json_get(doc, "quoted"), "{\"<<\":{\"x\":1,\"w\":2}}");

    /* an anchored null (found by fuzz-yaml) */
    FERRY_AUTOPTR(json_object) nul = parse_one("a: &n\nb: *n\nc: [*n]\n");
    assert_json_eq(nul, "{\"a\":null,\"b\":null,\"c\":[null]}");
    expect_error("b: &b\nm:\n  <<: [*b, {z: 2}]\n",
                 "'vm.yaml': line 3, column 7: map merge requires map or sequence of maps as the value");

    /* aliases are copies: changing one leaves the others alone */
    ferry_json_set_int(doc, "one.x", 99);
    assert_int_equal(ferry_json_get_int(doc, "base.x", 0), 1);
}

static void
expect_error(const char *text, const char *want)
{
    FERRY_AUTOPTR(json_object) docs = NULL;

    ferry_error_reset();
    if (ferry_yaml_parse(text, strlen(text), "vm.yaml", &docs) == 0)
        fail_msg("no error for:\n%s", text);
    if (strcmp(ferry_error_message(), want) != 0)
        fail_msg("error for:\n%s\ngot:  %s\nwant: %s", text, ferry_error_message(), want);
    assert_int_equal(ferry_error_code(), FERRY_ERR_FORMAT);
}

static void
test_errors(void **state)
{
    expect_error("a: b\nc: d: e\n",
                 "'vm.yaml': line 2, column 5: mapping values are not allowed in this context");
    expect_error("spec:\n  - b\n  c: d\n",
                 "'vm.yaml': line 3, column 3: did not find expected '-' indicator (while "
                 "parsing a block collection at line 2, column 3)");
    expect_error("a: *nowhere\n", "'vm.yaml': line 1, column 4: unknown anchor 'nowhere' referenced");
    expect_error("a: \"open\n",
                 "'vm.yaml': line 2, column 1: found unexpected end of stream (while scanning a "
                 "quoted scalar at line 1, column 4)");
    expect_error("a:\n\t- b\n",
                 "'vm.yaml': line 2, column 1: found character that cannot start any token "
                 "(while scanning for the next token at line 2, column 1)");
    expect_error("x: [1, 2\n",
                 "'vm.yaml': line 2, column 1: did not find expected ',' or ']' (while parsing a "
                 "flow sequence at line 1, column 4)");
    expect_error("~: 1\n", "'vm.yaml': line 1, column 1: unsupported map key: null");
    expect_error("? [a]\n: b\n", "'vm.yaml': line 1, column 3: unsupported map key: a collection");
    expect_error("a: .inf\n", "'vm.yaml': line 1, column 4: '.inf' cannot be represented in JSON");
    expect_error("a: -.Inf\n", "'vm.yaml': line 1, column 4: '-.Inf' cannot be represented in JSON");
    expect_error("a: .NaN\n", "'vm.yaml': line 1, column 4: '.NaN' cannot be represented in JSON");
    expect_error("a: !!int abc\n", "'vm.yaml': line 1, column 4: cannot decode 'abc' as a !!int");
    expect_error("a: 1\nb: \xff\n", "'vm.yaml': line 2, column 4: invalid leading UTF-8 octet");
    expect_error("m:\n  <<: 3\n",
                 "'vm.yaml': line 2, column 7: map merge requires map or sequence of maps as the value");
    /* the second document is the bad one: its lines count from the stream's start */
    expect_error("a: 1\n---\nb: [\n", "'vm.yaml': line 4, column 1: did not find expected node "
                                      "content (while parsing a flow node at line 4, column 1)");
}

/* Billion laughs: nine levels of ten aliases would be 10^9 nodes. */
static void
test_alias_bomb(void **state)
{
    FERRY_AUTOFREE char *text = ferry_strdup("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");

    for (int k = 1; k < 10; k++) {
        char *next = ferry_printf("%sa%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                                  text, k, k, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1);
        free(text);
        text = next;
    }
    FERRY_AUTOPTR(json_object) docs = NULL;
    uint64_t t0 = ferry_now_ns();

    assert_int_equal(ferry_yaml_parse(text, strlen(text), "bomb.yaml", &docs), -1);
    assert_non_null(strstr(ferry_error_message(), "document contains excessive aliasing"));
    /* not a timing assertion: a sanity bound a thousand times above normal */
    assert_true(ferry_now_ns() - t0 < 60ull * 1000000000ull);

    /* ordinary reuse stays fine: 200 aliases of a small map */
    FERRY_AUTOFREE char *ok = ferry_strdup("base: &b {bus: virtio, cache: none}\nl:\n");
    for (int k = 0; k < 200; k++) {
        char *next = ferry_printf("%s- *b\n", ok);
        free(ok);
        ok = next;
    }
    FERRY_AUTOPTR(json_object) fine = parse_one(ok);
    assert_int_equal(json_object_array_length(ferry_json_get(fine, "l")), 200);
}

static void
test_deep_nesting(void **state)
{
    size_t n = 100000;
    FERRY_AUTOFREE char *text = ferry_malloc(2 * n + 1);
    FERRY_AUTOPTR(json_object) docs = NULL;

    memset(text, '[', n);
    memset(text + n, ']', n);
    text[2 * n] = '\0';
    assert_int_equal(ferry_yaml_parse(text, 2 * n, "deep.yaml", &docs), -1);
    assert_non_null(strstr(ferry_error_message(), "nesting deeper than"));
}

static void
test_multidoc(void **state)
{
    const char *text = "# comment only\n---\na: 1\n---\n---\n# empty\n---\nb: 2\n...\n---\nnull\n---\n- c\n";
    FERRY_AUTOPTR(json_object) docs = NULL;
    json_object *one = NULL;

    assert_int_equal(ferry_yaml_parse(text, strlen(text), "multi.yaml", &docs), 0);
    /* empty and null documents are skipped, as kubectl skips them */
    assert_json_eq(docs, "[{\"a\":1},{\"b\":2},[\"c\"]]");

    assert_int_equal(ferry_yaml_parse_one(text, strlen(text), "multi.yaml", &one), -1);
    assert_string_equal(ferry_error_message(), "'multi.yaml': expected one YAML document, found 3");
    assert_int_equal(ferry_yaml_parse_one("", 0, "empty.yaml", &one), -1);
    assert_string_equal(ferry_error_message(), "'empty.yaml': expected one YAML document, found 0");

    /* the emitted stream separates documents with "---" */
    FERRY_AUTOFREE char *out = ferry_yaml_emit_stream(docs);
    assert_string_equal(out, "a: 1\n---\nb: 2\n---\n- c\n");
}

/* ---- the emitter ---------------------------------------------------------- */

static void
test_emit_quoting(void **state)
{
    FERRY_AUTOPTR(json_object) doc = NULL;
    const char *json =
        "{\"apiVersion\":\"kubevirt.io/v1\",\"strings\":[\"plain\",\"true\",\"yes\",\"n\",\"1\","
        "\"\",\"null\",\"~\",\"0x1f\",\"1e3\",\"1:20\",\"<<\",\" lead\",\"trail \",\"a: b\",\"#c\","
        "\"a #c\",\"- x\",\"10Gi\",\"500m\",\"it's\",\"ünïcödé\",\"tab\\there\","
        "\"2026-11-26T15:04:05Z\",\"2026-1-2\",\"2026-11-26 15:04:05.5\",\"2026-11-26-x\"],"
        "\"text\":\"#cloud-config\\npassword: x\\n\",\"nofinal\":\"a\\nb\","
        "\"numbers\":[1,-2,1.5,1000.0,1e20,0.1],\"flags\":[true,false,null],"
        "\"empty\":{},\"none\":[],\"key with: colon\":1,\"true\":2,\"3\":3}";

    assert_int_equal(ferry_json_parse(json, strlen(json), "t", &doc), 0);
    FERRY_AUTOFREE char *out = ferry_yaml_emit(doc);
    assert_non_null(out);
    assert_string_equal(out,
                        "apiVersion: kubevirt.io/v1\n"
                        "strings:\n"
                        "- plain\n"
                        "- \"true\"\n"
                        "- \"yes\"\n"
                        "- \"n\"\n"
                        "- \"1\"\n"
                        "- \"\"\n"
                        "- \"null\"\n"
                        "- \"~\"\n"
                        "- \"0x1f\"\n"
                        "- \"1e3\"\n"
                        "- \"1:20\"\n"
                        "- \"<<\"\n"
                        "- ' lead'\n"
                        "- 'trail '\n"
                        "- 'a: b'\n"
                        "- '#c'\n"
                        "- 'a #c'\n"
                        "- '- x'\n"
                        "- 10Gi\n"
                        "- 500m\n"
                        "- it's\n"
                        "- ünïcödé\n"
                        "- \"tab\\there\"\n"
                        "- \"2026-11-26T15:04:05Z\"\n"
                        "- \"2026-1-2\"\n"
                        "- \"2026-11-26 15:04:05.5\"\n"
                        "- 2026-11-26-x\n"
                        "text: |\n"
                        "  #cloud-config\n"
                        "  password: x\n"
                        "nofinal: |-\n"
                        "  a\n"
                        "  b\n"
                        "numbers:\n"
                        "- 1\n"
                        "- -2\n"
                        "- 1.5\n"
                        "- 1000.0\n"
                        "- 1e+20\n"
                        "- 0.1\n"
                        "flags:\n"
                        "- true\n"
                        "- false\n"
                        "- null\n"
                        "empty: {}\n"
                        "none: []\n"
                        "'key with: colon': 1\n"
                        "\"true\": 2\n"
                        "\"3\": 3\n");
    /* and it reads back as the same document */
    FERRY_AUTOPTR(json_object) back = parse_one(out);
    assert_true(ferry_json_equal(doc, back));
}

static void
test_emit_nested_layout(void **state)
{
    const char *json = "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"root\","
                       "\"dataVolume\":{\"name\":\"r\"}}],\"domain\":{\"cpu\":{\"cores\":2}}}}}}";
    FERRY_AUTOPTR(json_object) doc = NULL;

    assert_int_equal(ferry_json_parse(json, strlen(json), "t", &doc), 0);
    FERRY_AUTOFREE char *out = ferry_yaml_emit(doc);
    assert_string_equal(out, "spec:\n"
                             "  template:\n"
                             "    spec:\n"
                             "      volumes:\n"
                             "      - name: root\n"
                             "        dataVolume:\n"
                             "          name: r\n"
                             "      domain:\n"
                             "        cpu:\n"
                             "          cores: 2\n");
}

static void
test_emit_refuses_bad_strings(void **state)
{
    FERRY_AUTOPTR(json_object) doc = json_object_new_object();

    json_object_object_add(doc, "bad", json_object_new_string("\xff\xfe"));
    assert_null(ferry_yaml_emit(doc));
    assert_non_null(strstr(ferry_error_message(), "not valid UTF-8"));
    assert_null(ferry_yaml_emit_stream(doc)); /* not an array */
}

static void
test_write(void **state)
{
    FERRY_AUTOPTR(json_object) doc = parse_one("a: [1, 2]\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_int_equal(ferry_yaml_write(f, doc), 0);
    fclose(f);
    assert_string_equal(buf, "a:\n- 1\n- 2\n");
    free(buf);
}

/* ---- round trips over real manifests -------------------------------------- */

/* YAML -> JSON -> YAML -> JSON gives the same JSON, and JSON text -> YAML ->
 * JSON is the identity. */
static void
roundtrip_file(const char *path)
{
    FERRY_AUTOPTR(json_object) docs = NULL;
    FERRY_AUTOPTR(json_object) again = NULL;

    if (ferry_yaml_parse_file(path, &docs) < 0)
        fail_msg("%s", ferry_error_message());
    assert_true(json_object_array_length(docs) > 0);
    FERRY_AUTOFREE char *yaml = ferry_yaml_emit_stream(docs);
    if (!yaml)
        fail_msg("emit %s: %s", path, ferry_error_message());
    if (ferry_yaml_parse(yaml, strlen(yaml), "emitted", &again) < 0)
        fail_msg("re-parse of %s: %s\n%s", path, ferry_error_message(), yaml);
    if (!ferry_json_equal(docs, again))
        fail_msg("%s: YAML round trip differs:\n%s", path, yaml);

    for (size_t k = 0; k < json_object_array_length(docs); k++) {
        json_object *doc = json_object_array_get_idx(docs, k);
        const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
        FERRY_AUTOPTR(json_object) fromjson = NULL;
        FERRY_AUTOPTR(json_object) back = NULL;

        assert_int_equal(ferry_json_parse(text, strlen(text), "json", &fromjson), 0);
        FERRY_AUTOFREE char *y = ferry_yaml_emit(fromjson);
        assert_non_null(y);
        if (ferry_yaml_parse_one(y, strlen(y), "emitted", &back) < 0)
            fail_msg("%s: %s", path, ferry_error_message());
        if (!ferry_json_equal(fromjson, back))
            fail_msg("%s: JSON->YAML->JSON differs", path);
    }
}

static int
roundtrip_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (!ferry_str_has_suffix(e->d_name, ".yaml") && !ferry_str_has_suffix(e->d_name, ".json"))
            continue;
        FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, e->d_name);
        roundtrip_file(path);
        n++;
    }
    closedir(d);
    return n;
}

static void
test_roundtrip_data(void **state)
{
    const char *src = getenv("FERRY_SRC") ? getenv("FERRY_SRC") : FERRY_SOURCE_DIR;
    FERRY_AUTOFREE char *dir = ferry_printf("%s/tests/unit/data", src);

    assert_true(roundtrip_dir(dir) >= 5);
}

/* KubeVirt's and CDI's own examples, kept in the tree for admission's tests. */
static void
test_roundtrip_examples(void **state)
{
    const char *src = getenv("FERRY_SRC") ? getenv("FERRY_SRC") : FERRY_SOURCE_DIR;
    FERRY_AUTOFREE char *kv = ferry_printf("%s/tests/admission/examples/kubevirt", src);
    FERRY_AUTOFREE char *cdi = ferry_printf("%s/tests/admission/examples/cdi", src);
    int nkv = roundtrip_dir(kv), ncdi = roundtrip_dir(cdi);

    if (nkv < 0 || ncdi < 0)
        fail_msg("%s: cannot read the example manifests", nkv < 0 ? kv : cdi);
    print_message("round-tripped %d example files\n", nkv + ncdi);
    assert_true(nkv > 10);
    assert_true(ncdi > 10);
}

/* The hand-written VirtualMachine reads as the API expects it. */
static void
test_vm_manifest_values(void **state)
{
    const char *src = getenv("FERRY_SRC") ? getenv("FERRY_SRC") : FERRY_SOURCE_DIR;
    FERRY_AUTOFREE char *path = ferry_printf("%s/tests/unit/data/vm-fedora-datavolume.yaml", src);
    FERRY_AUTOPTR(json_object) docs = NULL;
    json_object *vm;

    assert_int_equal(ferry_yaml_parse_file(path, &docs), 0);
    vm = json_object_array_get_idx(docs, 0);
    assert_string_equal(ferry_json_get_string(vm, "kind"), "VirtualMachine");
    assert_int_equal(ferry_json_get_int(vm, "spec.template.spec.domain.cpu.cores", 0), 2);
    assert_string_equal(ferry_json_get_string(vm, "spec.template.spec.domain.firmware.serial"),
                        "00000000-0000-0000-0000-000000000001");
    json_object *disks = ferry_json_get(vm, "spec.template.spec.domain.devices.disks");
    assert_int_equal(json_object_array_length(disks), 2);
    json_object *vols = ferry_json_get(vm, "spec.template.spec.volumes");
    const char *ud = ferry_json_get_string(json_object_array_get_idx(vols, 1), "cloudInitNoCloud.userData");
    assert_non_null(ud);
    assert_true(ferry_str_has_prefix(ud, "#cloud-config\npassword: fedora\n"));
    assert_true(ferry_str_has_suffix(ud, "- [systemctl, enable, --now, nginx]\n"));

    FERRY_AUTOFREE char *apath = ferry_printf("%s/tests/unit/data/vm-anchors.yaml", src);
    FERRY_AUTOPTR(json_object) adocs = NULL;
    assert_int_equal(ferry_yaml_parse_file(apath, &adocs), 0);
    json_object *a = json_object_array_get_idx(adocs, 0);
    assert_json_eq(ferry_json_get(a, "spec.template.spec.domain.devices.disks"),
                   "[{\"name\":\"root\",\"disk\":{\"bus\":\"virtio\"}},"
                   "{\"name\":\"data\",\"disk\":{\"bus\":\"virtio\"}},"
                   "{\"name\":\"scratch\",\"disk\":{\"bus\":\"virtio\"}}]");
    assert_json_eq(ferry_json_get(a, "spec.template.spec.domain.resources"),
                   "{\"requests\":{\"memory\":\"1Gi\"},\"limits\":{\"memory\":\"1Gi\"}}");
}

static void
test_parse_file_errors(void **state)
{
    FERRY_AUTOPTR(json_object) docs = NULL;

    assert_int_equal(ferry_yaml_parse_file("/nonexistent/vm.yaml", &docs), -1);
    assert_non_null(strstr(ferry_error_message(), "/nonexistent/vm.yaml"));
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_typing),
          cmocka_unit_test(test_keys),
          cmocka_unit_test(test_key_order_and_duplicates),
          cmocka_unit_test(test_flow_and_block),
          cmocka_unit_test(test_anchors_and_merge),
          cmocka_unit_test(test_errors),
          cmocka_unit_test(test_alias_bomb),
          cmocka_unit_test(test_deep_nesting),
          cmocka_unit_test(test_multidoc),
          cmocka_unit_test(test_emit_quoting),
          cmocka_unit_test(test_emit_nested_layout),
          cmocka_unit_test(test_emit_refuses_bad_strings),
          cmocka_unit_test(test_write),
          cmocka_unit_test(test_roundtrip_data),
          cmocka_unit_test(test_roundtrip_examples),
          cmocka_unit_test(test_vm_manifest_values),
          cmocka_unit_test(test_parse_file_errors))
