/* The neutral VM model every input parser fills and the one emitter reads.
 *
 * It holds what a legacy hypervisor's definition says about a VM, in the
 * source's own terms (buses, NIC models, OS ids) so that the choice of what
 * KubeVirt gets is made in one place (outputs/kubevirt.c), not per format.
 * Sizes are bytes; 0 means unknown.  One input file may describe several VMs
 * (an OVF VirtualSystemCollection): parsers return a ferry_vm_list.
 */
#ifndef FERRY_CONVERTER_VM_DEF_H
#define FERRY_CONVERTER_VM_DEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cleanup.h"

/* Ordered as libvirt lists disks (SCSI, SATA, IDE, NVMe; Forklift PRs
 * #1374/#5967), with paravirtual buses first. */
enum ferry_vm_bus {
    FERRY_BUS_VIRTIO,
    FERRY_BUS_XEN,
    FERRY_BUS_SCSI,
    FERRY_BUS_SATA,
    FERRY_BUS_IDE,
    FERRY_BUS_NVME,
    FERRY_BUS_USB,
    FERRY_BUS_FDC,
};

enum ferry_vm_disk_kind {
    FERRY_DISK_DISK,
    FERRY_DISK_CDROM,
    FERRY_DISK_FLOPPY,
};

enum ferry_vm_firmware {
    FERRY_FW_BIOS,
    FERRY_FW_EFI,
};

enum ferry_vm_os_family {
    FERRY_OS_UNKNOWN,
    FERRY_OS_LINUX,
    FERRY_OS_WINDOWS,
    FERRY_OS_OTHER,
};

struct ferry_vm_disk {
    enum ferry_vm_disk_kind kind;
    enum ferry_vm_bus bus;
    int controller;        /* controller number on its bus, -1 unknown */
    int unit;              /* unit/port/target on the controller */
    char *where;           /* source's name for the slot, for messages: "scsi0:1" */
    char *file;            /* backing file as written in the source (may be NULL: empty) */
    char *path;            /* file resolved next to the definition, NULL if not found */
    char *format;          /* vmdk, qcow2, raw, vdi, iso ... when known */
    uint64_t capacity;     /* virtual size in bytes, 0 unknown */
    int boot_order;        /* explicit in the source, 0 none */
    bool readonly;
    bool paravirt;         /* on a paravirtual controller (oVirt VirtIO_SCSI): kept as scsi */
    char *archive;         /* the OVA holding FILE as a member (not unpacked), else NULL */
    char *member;          /* FILE's member name in ARCHIVE */
};

struct ferry_vm_nic {
    char *where;           /* "ethernet0", "Adapter slot 1", "interface 2" */
    char *mac;             /* "00:50:56:01:02:03" lower case, NULL if none */
    bool mac_static;       /* set by hand in the source rather than generated */
    char *model;           /* source model, lower case: vmxnet3, e1000, 82540em ... */
    char *network;         /* source network name the map matches on */
    int boot_order;
};

struct ferry_vm_def {
    char *name;            /* as the source spells it */
    char *source_format;   /* vmx, ovf, ova, vbox, libvirt, xl */
    char *source_vendor;   /* vmware, virtualbox, kvm, xen, ovirt */
    char *source_file;     /* basename of the input */
    char *uuid;            /* canonical 8-4-4-4-12 lower case, NULL if none */
    char *os_id;           /* the source's guest OS id (guestOS, OSType, libosinfo URL ...) */
    char *description;

    enum ferry_vm_firmware firmware;
    bool secure_boot;
    bool firmware_known;   /* the source stated it (else BIOS by default) */
    bool tpm;              /* a virtual TPM (its state cannot be carried over) */
    bool tablet;           /* a USB/virtio tablet (absolute pointer) */
    bool rng;              /* a virtio RNG */

    unsigned vcpus;
    unsigned sockets, cores, threads;  /* 0 = not stated */
    uint64_t memory;       /* bytes */

    struct ferry_vm_disk *disks;
    size_t ndisks;
    struct ferry_vm_nic *nics;
    size_t nnics;

    /* Filled by --inspect (inspect.c). */
    struct {
        bool done;
        char *type;        /* linux, windows */
        char *distro;      /* debian, fedora, windows ... */
        char *product;
        char *arch;
        char *osinfo;      /* libosinfo short id: debian12, win2k19 */
        int major, minor;
        bool virtio;       /* virtio drivers found in the guest */
        bool efi;          /* an EFI system partition was found */
    } inspect;

    /* Filled by --guest-disk (guest.c): the guest converted in place. */
    struct {
        bool done;         /* a conversion was tried */
        bool ok;           /* it succeeded: the guest boots on virtio */
        char *result;      /* "converted: <os>" or the error */
        char *changes;     /* one change per line */
    } conversion;

    bool virtio_seen;      /* the source ran the guest on virtio devices: it has drivers */
    char *source_version;  /* the source platform's version (oVirt ClusterCompatibilityVersion) */
};

struct ferry_vm_list {
    struct ferry_vm_def **vms;
    size_t n;
};

struct ferry_vm_def *ferry_vm_def_new(const char *source_format, const char *source_file);
void ferry_vm_def_free(struct ferry_vm_def *def);
/* FERRY_AUTOPTR wants one identifier: this alias exists only for it. */
typedef struct ferry_vm_def ferry_vm_def_auto;
FERRY_DEFINE_AUTOPTR(ferry_vm_def_auto, ferry_vm_def_free)

void ferry_vm_list_free(struct ferry_vm_list *list);
void ferry_vm_list_add(struct ferry_vm_list *list, struct ferry_vm_def *def); /* takes def */

/* Append a zeroed disk / NIC (controller -1) and return it. */
struct ferry_vm_disk *ferry_vm_def_add_disk(struct ferry_vm_def *def);
struct ferry_vm_nic *ferry_vm_def_add_nic(struct ferry_vm_def *def);

/* Sort disks the way libvirt lists them: bus, then controller, then unit.
 * Stable: parsers that already give the order keep it. */
void ferry_vm_def_sort_disks(struct ferry_vm_def *def);

/* Turn a boot order by device class ("hd", "cdrom", "network"; others
 * ignored) into per-device orders: the first disk, CD-ROM or NIC of each
 * class, in turn.  Does nothing when a device already has an order. */
void ferry_vm_def_boot_classes(struct ferry_vm_def *def, char *const *classes);

/* MAC "00-50-56-AB-CD-EF", "0050560abcdef" or "00:50:56:ab:cd:ef" to the
 * colon form, lower case; NULL when it is not 6 hex octets. */
char *ferry_vm_mac_normalize(const char *s);
/* UUID in any VMware/VirtualBox spelling ("42 25 6e 9c ... -3d d1 ...",
 * "{...}") to canonical lower case; NULL when not 32 hex digits. */
char *ferry_vm_uuid_normalize(const char *s);

/* Is FILE, as a source names a disk or CD-ROM backing, a host device rather
 * than an image ("/dev/cdrom", "CD/DVD drive 0", "D:", "\\\\.\\CdRom0")? */
bool ferry_vm_is_host_device(const char *file);
/* Is MAC (normalized) one a NIC can use: not 00:00:00:00:00:00 (the
 * "unset" placeholder), not multicast or broadcast? */
bool ferry_vm_mac_usable(const char *mac);

/* The directory of PATH ("." when none); caller frees. */
char *ferry_vm_dirname(const char *path);
/* FILE resolved against DIR unless absolute; caller frees. */
char *ferry_vm_resolve(const char *dir, const char *file);
/* Last component of a path written in the source (also '\' separators). */
const char *ferry_vm_basename(const char *path);

/* Fill disk->path/capacity/format from the file when it exists next to the
 * definition (its format and virtual size from the image library,
 * image/image.h); a missing file is a warning naming WHERE, not an error. */
int ferry_vm_disk_probe(struct ferry_vm_disk *disk, const char *dir, const char *source);

const char *ferry_vm_bus_name(enum ferry_vm_bus bus);

/* ---- numbers ------------------------------------------------------------
 * What the model holds at most.  Parsers store outside numbers only through
 * ferry_vm_bytes and ferry_vm_count (no unchecked shift, product or cast),
 * and ferry_inputs_parse_file runs ferry_vm_def_validate on every VM a
 * parser returns, so the emitter only sees numbers within these bounds. */
#define FERRY_VM_MAX_VCPUS 4096u                    /* KVM's limit on x86 */
#define FERRY_VM_MAX_MEMORY (UINT64_C(64) << 40)    /* 64 TiB */
#define FERRY_VM_MAX_DISK (UINT64_C(64) << 40)      /* the importer's limit */
#define FERRY_VM_MAX_BOOT_ORDER 1000
#define FERRY_VM_MAX_SLOT 65535                     /* controller and unit numbers */

/* V times UNIT (1 << 20 for MiB ...) bytes, read from FIELD of SRC, into
 * *ret; an error naming both when the product overflows. */
int ferry_vm_bytes(const char *src, const char *field, uint64_t v, uint64_t unit,
                   uint64_t *ret);
/* A CPU count (vCPUs, sockets, cores, threads) read from FIELD of SRC into
 * *ret: 1..FERRY_VM_MAX_VCPUS, else an error naming both. */
int ferry_vm_count(const char *src, const char *field, uint64_t v, unsigned *ret);
/* The validation pass: every number of DEF within its bounds (vCPUs and the
 * topology's product, memory, disk sizes, boot orders, slots); an error
 * naming SRC, the VM and the value otherwise. */
int ferry_vm_def_validate(const struct ferry_vm_def *def, const char *src);

#endif
