/* The table of input parsers and format detection by content.  The file is
 * read once (whole for text formats; an archive only gets its first bytes
 * here and is opened again by its parser with libarchive).  XML is parsed
 * here with libxml2 so that each XML parser's probe only looks at the root
 * element and its namespace.
 *
 * Adding an input:
 *   1. write inputs/NAME.c defining `const struct ferry_input
 *      ferry_input_NAME` (converter/inputs.h) with .name, .description (the
 *      help line), .title (its name in error lists), .extensions (".NAME",
 *      NULL), .xml_root when it is XML, .archive when it is read from its
 *      first bytes, .probe and .parse;
 *   2. add one extern and one line to the table below, in probe order.
 * Nothing else: the build globs inputs/, and --help, --list-inputs, the
 * "not a recognized VM definition" errors and tests/unit/test-tables.c read
 * the table (the golden runner, tests/converter/golden.sh, takes the
 * extensions from --list-inputs, and tests/converter.cmake lists none).
 */
#include "converter/inputs.h"

#include <ctype.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"

extern const struct ferry_input ferry_input_vmx;
extern const struct ferry_input ferry_input_ovf;
extern const struct ferry_input ferry_input_ova;
extern const struct ferry_input ferry_input_vbox;
extern const struct ferry_input ferry_input_libvirt;
extern const struct ferry_input ferry_input_xl;

const struct ferry_input *const ferry_inputs[] = {
    &ferry_input_ova,     /* tar magic: before anything that reads text */
    &ferry_input_ovf,
    &ferry_input_vbox,
    &ferry_input_libvirt,
    &ferry_input_vmx,
    &ferry_input_xl,
    NULL,
};

void
ferry_inputs_list(FILE *f)
{
    for (const struct ferry_input *const *p = ferry_inputs; *p; p++) {
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);

        if (!m)
            ferry_oom();
        for (const char *const *e = (*p)->extensions; e && *e; e++)
            fprintf(m, "%s%s", e == (*p)->extensions ? "" : " ", *e);
        fclose(m);
        fprintf(f, "%-8s %-12s %s\n", (*p)->name, buf, (*p)->description);
        free(buf);
    }
}

/* Titles of the entries that pass WANT, joined by ", " or, with LAST_OR,
 * "a, b or c"; FIELD picks title or xml_root. */
static char *
join(bool (*want)(const struct ferry_input *), const char *(*field)(const struct ferry_input *),
     bool last_or)
{
    char *buf = NULL;
    size_t size = 0, n = 0, k = 0;
    FILE *f = open_memstream(&buf, &size);

    if (!f)
        ferry_oom();
    for (const struct ferry_input *const *p = ferry_inputs; *p; p++)
        n += want(*p);
    for (const struct ferry_input *const *p = ferry_inputs; *p; p++) {
        if (!want(*p))
            continue;
        fprintf(f, "%s%s", k == 0 ? "" : last_or && k == n - 1 ? " or " : ", ", field(*p));
        k++;
    }
    fclose(f);
    return buf;
}

static bool
any(const struct ferry_input *in)
{
    (void)in;
    return true;
}

static bool
text(const struct ferry_input *in)
{
    return !in->archive;
}

static bool
archive(const struct ferry_input *in)
{
    return in->archive;
}

static bool
xml(const struct ferry_input *in)
{
    return in->xml_root != NULL;
}

static const char *
title(const struct ferry_input *in)
{
    return in->title;
}

static const char *
xml_root(const struct ferry_input *in)
{
    return in->xml_root;
}

char *
ferry_inputs_titles(bool text_only)
{
    return join(text_only ? text : any, title, false);
}

#define TEXT_MAX (16u << 20)
#define HEAD_MAX (64u << 10)

const char *
ferry_text_next_line(const char **pos, const char *end, size_t *ret_len)
{
    const char *line = *pos;

    if (line >= end)
        return NULL;
    const char *nl = memchr(line, '\n', end - line);
    *ret_len = nl ? (size_t)(nl - line) : (size_t)(end - line);
    *pos = nl ? nl + 1 : end;
    return line;
}

const char *
ferry_text_skip_blanks(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

bool
ferry_parse_u64(const char *s, uint64_t *ret)
{
    if (!s)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || *end)
        return false;
    *ret = v;
    return true;
}

bool
ferry_parse_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    uint64_t v;

    if (!ferry_parse_u64(s, &v) || v < min || v > max)
        return false;
    *ret = v;
    return true;
}

bool
ferry_parse_int(const char *s, int min, int max, int *ret)
{
    uint64_t v;

    if (min < 0 || max < min || !ferry_parse_range(s, (uint64_t)min, (uint64_t)max, &v))
        return false;
    *ret = (int)v;
    return true;
}

bool
ferry_parse_truthy(const char *s)
{
    return s && (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") ||
                 !strcasecmp(s, "on"));
}

int
ferry_xml_parse(const char *source, const char *buf, size_t len, xmlDoc **ret)
{
    xmlResetLastError();
    xmlDoc *doc = xmlReadMemory(buf, (int)len, source, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        FERRY_AUTOFREE char *msg = ferry_strdup(e && e->message ? e->message : "not XML");
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        return ferry_error(FERRY_ERR_FORMAT, "'%s': line %d: %s", source, e ? e->line : 0, msg);
    }
    *ret = doc;
    return 0;
}

xmlXPathObject *
ferry_xml_nodes(xmlXPathContext *ctx, xmlNode *node, const char *xpath)
{
    ctx->node = node ? node : xmlDocGetRootElement(ctx->doc);
    return xmlXPathEvalExpression((const xmlChar *)xpath, ctx);
}

char *
ferry_xml_str(xmlXPathContext *ctx, xmlNode *node, const char *xpath)
{
    FERRY_AUTOPTR(xmlXPathObject) o = ferry_xml_nodes(ctx, node, xpath);
    if (!o)
        return NULL;
    xmlChar *s = xmlXPathCastToString(o);
    if (!s)
        return NULL;
    /* Trim: values in hand-edited files carry stray blanks. */
    char *b = (char *)s;
    while (isspace((unsigned char)*b))
        b++;
    size_t n = strlen(b);
    while (n && isspace((unsigned char)b[n - 1]))
        n--;
    char *r = n ? ferry_strndup(b, n) : NULL;
    xmlFree(s);
    return r;
}

char *
ferry_xml_attr(xmlNode *node, const char *name)
{
    for (xmlAttr *a = node ? node->properties : NULL; a; a = a->next) {
        if (!strcmp((const char *)a->name, name)) {
            xmlChar *v = xmlNodeGetContent((xmlNode *)a);
            char *r = v ? ferry_strdup((const char *)v) : NULL;
            xmlFree(v);
            return r;
        }
    }
    return NULL;
}

static bool
looks_like_xml(const char *buf, size_t len)
{
    size_t i = 0;
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < len && isspace((unsigned char)buf[i]))
        i++;
    return i < len && buf[i] == '<';
}

int
ferry_inputs_parse_file(const char *path, struct ferry_vm_list *list)
{
    FERRY_AUTOCLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "'%s': cannot open", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "'%s': cannot stat", path);
    if (!S_ISREG(st.st_mode))
        return ferry_error(FERRY_ERR_INVALID, "'%s': not a regular file", path);

    size_t want = st.st_size > TEXT_MAX ? HEAD_MAX : (size_t)st.st_size;
    FERRY_AUTOFREE char *buf = ferry_malloc(want + 1);
    size_t len = 0;
    while (len < want) {
        ssize_t n = read(fd, buf + len, want - len);
        if (n < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "'%s': cannot read", path);
        if (n == 0)
            break;
        len += n;
    }
    buf[len] = '\0';
    if (len == 0)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': empty file", ferry_vm_basename(path));

    FERRY_AUTOFREE char *dir = ferry_vm_dirname(path);
    struct ferry_input_data in = {
        .path = path,
        .name = ferry_vm_basename(path),
        .dir = dir,
        .buf = buf,
        .len = len,
        .whole = len == (size_t)st.st_size,
    };
    FERRY_AUTOPTR(xmlDoc) doc = NULL;
    if (in.whole && looks_like_xml(buf, len)) {
        if (ferry_xml_parse(in.name, buf, len, &doc) < 0)
            return -1;
        in.xml = doc;
    }
    for (const struct ferry_input *const *p = ferry_inputs; *p; p++) {
        if (!(*p)->probe(&in))
            continue;
        size_t first = list->n;
        if ((*p)->parse(&in, list) < 0)
            return -1;
        /* One validation pass over what every parser returns. */
        for (size_t i = first; i < list->n; i++)
            if (ferry_vm_def_validate(list->vms[i], in.name) < 0)
                return -1;
        return 0;
    }
    if (!in.whole) {
        /* Only an archive is read from its first bytes; any text format
         * this large is no VM definition a hypervisor wrote. */
        FERRY_AUTOFREE char *archives = join(archive, title, true);
        FERRY_AUTOFREE char *texts = ferry_inputs_titles(true);
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "'%s': %llu bytes: not an %s archive, and larger than the %u MiB a "
                           "VM definition (%s) may have",
                           in.name, (unsigned long long)st.st_size, archives, TEXT_MAX >> 20,
                           texts);
    }
    if (in.xml) {
        FERRY_AUTOFREE char *roots = join(xml, xml_root, true);
        return ferry_error(FERRY_ERR_UNSUPPORTED, "'%s': XML root element <%s> is not %s",
                           in.name, (const char *)xmlDocGetRootElement(in.xml)->name, roots);
    }
    FERRY_AUTOFREE char *all = ferry_inputs_titles(false);
    return ferry_error(FERRY_ERR_UNSUPPORTED, "'%s': not a recognized VM definition (%s)",
                       in.name, all);
}
