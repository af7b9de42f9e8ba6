/* Shared between the two OVF readers in this folder: ovf.c (DSP0243 as
 * VMware, VirtualBox and other packers write it, and OVA archives) and
 * ovirt.c (the dialect ovirt-engine writes).  Not used outside inputs/.
 */
#ifndef FERRY_CONVERTER_INPUTS_OVF_H
#define FERRY_CONVERTER_INPUTS_OVF_H

#include "converter/inputs.h"

struct ovf_ctx {
    const struct ferry_input_data *in;
    const char *name;        /* for messages */
    const char *dir;         /* where the files are (NULL inside an OVA) */
    xmlXPathContext *x;
    char *config;            /* selected deployment option, NULL when none */
    char **members;          /* OVA members (NULL for a plain .ovf) */
    const char *archive;     /* the OVA's path (NULL for a plain .ovf) */
    bool vbox;
    bool ovirt;              /* written by ovirt-engine (or virt-v2v -o ovirt/rhv) */
};

/* Multiplier of an AllocationUnits string ("byte * 2^20", "MegaBytes" ...);
 * 0 when it is not one. */
uint64_t ferry_ovf_alloc_units(const char *s);

/* The memory of the ResourceType 4 Item IT: VirtualQuantity in its
 * AllocationUnits (MiB when there are none, with a warning unless oVirt
 * wrote it: the engine always means MegaBytes).  VSNAME and WHERE name it
 * in messages. */
int ferry_ovf_item_memory(struct ovf_ctx *c, xmlNode *it, const char *vsname, const char *where,
                          uint64_t *ret);

/* Text of NODE's child element LOCAL (any namespace); NULL when empty. */
char *ferry_ovf_child(xmlXPathContext *ctx, xmlNode *node, const char *local);

/* Inside an OVA: record the member holding D->file (archive + member name,
 * for --inspect) or warn that it is missing.  Outside: probe the file next
 * to the descriptor.  WHERE names the device for messages. */
int ferry_ovf_locate_file(struct ovf_ctx *c, const char *vsname, const char *where,
                          struct ferry_vm_disk *d);

/* ovirt-engine's unique OS name for its numeric id (ovirt:id, from
 * osinfo-defaults.properties: "rhel_9x64" for 34); NULL when unknown. */
const char *ferry_ovirt_os_name(uint64_t id);

/* One VirtualSystem (or oVirt Content) of an oVirt-written envelope. */
int ferry_ovf_ovirt_parse_system(struct ovf_ctx *c, xmlNode *vs, struct ferry_vm_list *list);

#endif
