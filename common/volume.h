/* Paths under the state directory, made in one place so that nothing an
 * object's name or namespace says can reach outside it.
 *
 * Every per-object path is <root>/<area>/<namespace>/<name>[/<file>]: area
 * "volumes" (a DataVolume's "PVC") or "vmis" (a VMI's runtime files).  The
 * namespace must be a DNS-1123 label and the name a DNS-1123 subdomain (what
 * the store admits); anything else ("..", "a/b", "ferry.db" as a namespace,
 * an absolute path) is refused with FERRY_ERR_INVALID before a path exists.
 * Directories are created, files opened and trees removed relative to a
 * descriptor of the root with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS), so a symlink planted inside the state directory
 * cannot redirect them either.
 *
 * The volume contract shared by ferry-controller, `ferry image-upload` and
 * ferry-launcher:
 *   volumes/<ns>/<name>/disk.img      the raw disk, written atomically by ferry-importer
 *   volumes/<ns>/<name>/import.lock   flock()ed by whoever writes disk.img
 *   volumes/<ns>/<name>/import.done   "<DataVolume uid>\n" once disk.img is complete
 *   volumes/<ns>/<name>/import.log    the importer's stderr */
#ifndef FERRY_VOLUME_H
#define FERRY_VOLUME_H

#include <stdbool.h>
#include <sys/types.h>

#define FERRY_VOLUME_DISK "disk.img"
#define FERRY_VOLUME_LOCK "import.lock"
#define FERRY_VOLUME_DONE "import.done"
#define FERRY_VOLUME_LOG "import.log"

#define FERRY_AREA_VOLUMES "volumes"
#define FERRY_AREA_VMIS "vmis"

/* 0 when ns is a DNS-1123 label and name a DNS-1123 subdomain; else -1 and
 * FERRY_ERR_INVALID naming the bad part. */
int ferry_state_check(const char *ns, const char *name);

/* "<root>/<area>[/<ns>[/<name>[/<file>]]]" (new string) after checking each
 * part given (ns a label, name a subdomain, area and file plain file names);
 * NULL and FERRY_ERR_INVALID otherwise.  The only maker of such paths. */
char *ferry_state_path(const char *root, const char *area, const char *ns, const char *name,
                       const char *file);

/* open(2) of the path relative to root, never leaving root and following no
 * symlink.  rel as ferry_state_path makes it, without the "<root>/". */
int ferry_state_openat(const char *root, const char *rel, int flags, mode_t mode);
/* mkdir -p of rel beneath root (each level with mkdirat on a beneath-opened
 * parent); existing directories are fine, a symlink anywhere is refused. */
int ferry_state_mkdir(const char *root, const char *rel, mode_t mode);
/* rm -r of rel beneath root (absent is fine); symlinks inside are removed,
 * never followed. */
int ferry_state_remove(const char *root, const char *rel);

/* The volume of DataVolume ns/name: its directory and files (new strings,
 * NULL on a bad name), creating, opening (file NULL: the directory itself),
 * removing it. */
char *ferry_volume_dir(const char *root, const char *ns, const char *name);
char *ferry_volume_file(const char *root, const char *ns, const char *name, const char *file);
int ferry_volume_mkdir(const char *root, const char *ns, const char *name);
int ferry_volume_open(const char *root, const char *ns, const char *name, const char *file,
                      int flags, mode_t mode);
int ferry_volume_remove(const char *root, const char *ns, const char *name);
/* import.lock opened (created) and flock()ed exclusively without waiting:
 * the descriptor, or -1 with *ret_busy true when someone else holds it. */
int ferry_volume_lock(const char *root, const char *ns, const char *name, bool *ret_busy);
/* import.done: "<uid>\n" written atomically; is_done is true when it holds
 * uid and disk.img exists. */
int ferry_volume_write_done(const char *root, const char *ns, const char *name, const char *uid);
bool ferry_volume_is_done(const char *root, const char *ns, const char *name, const char *uid);

/* The VMI runtime directory vmis/<ns>/<name> (new string; NULL on a bad name). */
char *ferry_vmi_dir(const char *root, const char *ns, const char *name);
/* Create it (vmis/<ns> 0755 so that qemu can pass, the VMI's own 0750) /
 * remove it with everything inside. */
int ferry_vmi_mkdir(const char *root, const char *ns, const char *name);
int ferry_vmi_remove(const char *root, const char *ns, const char *name);

#endif
