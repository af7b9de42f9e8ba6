/* Input parsers: one file per legacy format under inputs/, one line each in
 * the table in inputs.c.  The format is detected by content, never by file
 * name: inputs.c reads the file once, parses it with libxml2 when it is XML,
 * and asks each parser's probe in turn.  Also the small libxml2 helpers the
 * XML parsers share (XPath on a node, first error as a message).
 */
#ifndef FERRY_CONVERTER_INPUTS_H
#define FERRY_CONVERTER_INPUTS_H

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "converter/vm_def.h"

struct ferry_input_data {
    const char *path;      /* as given on the command line */
    const char *name;      /* basename, for messages: "'web.vmx': ..." */
    const char *dir;       /* directory the definition's relative paths start from */
    const char *buf;       /* the whole file (text formats) or its first bytes (archives) */
    size_t len;
    bool whole;            /* buf holds the whole file */
    xmlDoc *xml;           /* when the content is XML, else NULL */
};

struct ferry_input {
    const char *name;      /* vmx, ovf, ova, vbox, libvirt, xl */
    const char *description;  /* the help line: --help, --list-inputs */
    /* What it is called in error lists ("VMX", "libvirt XML"). */
    const char *title;
    /* The file name extensions its files usually have (".vmx", NULL-
     * terminated): documentation, --list-inputs and the golden runners;
     * detection is by content. */
    const char *const *extensions;
    /* XML inputs: the root element in words ("a libvirt domain"), for the
     * error on XML no input takes; NULL for other inputs. */
    const char *xml_root;
    /* Read from its first bytes (an archive), not as a whole text file. */
    bool archive;
    bool (*probe)(const struct ferry_input_data *in);
    /* Append one def per VM found to LIST. */
    int (*parse)(const struct ferry_input_data *in, struct ferry_vm_list *list);
};

/* NULL-terminated, in probe order (the entries are declared there). */
extern const struct ferry_input *const ferry_inputs[];

/* ferry-converter --help (usage.c): the inputs' lines from the table. */
void ferry_converter_usage(FILE *f);
/* --list-inputs: NAME  EXTENSIONS  DESCRIPTION, one input a line. */
void ferry_inputs_list(FILE *f);
/* The titles of the inputs, "OVA, OVF, .vbox, ..." (TEXT_ONLY: not the
 * archives); malloc'd. */
char *ferry_inputs_titles(bool text_only);

/* Detect the format of PATH and parse it into LIST. */
int ferry_inputs_parse_file(const char *path, struct ferry_vm_list *list);

/* Parse XML text (no network, no entity expansion); the error names SOURCE,
 * the line and libxml2's message. */
int ferry_xml_parse(const char *source, const char *buf, size_t len, xmlDoc **ret);
/* String value of XPATH evaluated at NODE (or the document when NULL);
 * NULL when empty or absent.  Caller frees. */
char *ferry_xml_str(xmlXPathContext *ctx, xmlNode *node, const char *xpath);
/* Nodes matching XPATH at NODE; caller frees with xmlXPathFreeObject. */
xmlXPathObject *ferry_xml_nodes(xmlXPathContext *ctx, xmlNode *node, const char *xpath);
/* Attribute by local name in any (or no) namespace; caller frees. */
char *ferry_xml_attr(xmlNode *node, const char *name);

static inline void
ferry_xml_doc_free_(xmlDoc *d)
{
    xmlFreeDoc(d);
}
FERRY_DEFINE_AUTOPTR(xmlDoc, ferry_xml_doc_free_)
FERRY_DEFINE_AUTOPTR(xmlXPathContext, xmlXPathFreeContext)
FERRY_DEFINE_AUTOPTR(xmlXPathObject, xmlXPathFreeObject)

/* VirtualBox machine settings (a .vbox's Machine, or the vbox:Machine an
 * OVF export embeds): one warning per device not carried over; IN_OVF skips
 * those the OVF has Items for. */
void ferry_vbox_report_unmapped(const char *name, xmlXPathContext *x, xmlNode *machine,
                                bool in_ovf);

/* The lines of a text input (vmx, xl.cfg) one at a time: the next line of
 * [*POS, END), *RET_LEN bytes without its '\n', and *POS moved past it;
 * NULL at END. */
const char *ferry_text_next_line(const char **pos, const char *end, size_t *ret_len);
/* S after its leading blanks (spaces and tabs), at most up to END. */
const char *ferry_text_skip_blanks(const char *s, const char *end);

/* Parse a decimal unsigned number that must fill the whole string. */
bool ferry_parse_u64(const char *s, uint64_t *ret);
/* The ways a parser reads a number from its input (never atoi/strtol): a
 * decimal that fills S and lies in MIN..MAX; false otherwise, *ret untouched.
 * ferry_parse_int is the same for ints (unit and port numbers, positions,
 * type codes: MAX at most INT_MAX). */
bool ferry_parse_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
bool ferry_parse_int(const char *s, int min, int max, int *ret);
/* "true"/"yes"/"1"/"on" (any case). */
bool ferry_parse_truthy(const char *s);

#endif
