/* The one error idiom (STYLE.md): report once, where the error is detected,
 * then return -1 or NULL; callers propagate without re-reporting.  The error
 * is kept per thread; only main.c and daemon loops print it.
 *
 *     if (hdr.cluster_bits < 9 || hdr.cluster_bits > 21)
 *         return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': cluster_bits %u out of range 9..21",
 *                            name, hdr.cluster_bits);
 */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stddef.h>

enum ferry_err {
    FERRY_ERR_OK = 0,
    FERRY_ERR_INTERNAL,    /* a bug */
    FERRY_ERR_NOMEM,
    FERRY_ERR_IO,          /* a system call failed */
    FERRY_ERR_INVALID,     /* bad argument or manifest */
    FERRY_ERR_FORMAT,      /* malformed outside input (image, YAML, VMX ...) */
    FERRY_ERR_UNSUPPORTED, /* well-formed, but something Ferry refuses or lacks */
    FERRY_ERR_NOTFOUND,
    FERRY_ERR_EXISTS,
    FERRY_ERR_CONFLICT,    /* stale resourceVersion */
    FERRY_ERR_EXPIRED,     /* watch from a resourceVersion older than history (410) */
    FERRY_ERR_NETWORK,
    FERRY_ERR_CHECKSUM,
    FERRY_ERR_TIMEOUT,
    FERRY_ERR_SECURITY,    /* input tried to reach outside of what it may */
    FERRY_ERR_LIBVIRT,
};

/* Set the thread's error; always returns -1.  Printf-style message. */
int ferry_error(enum ferry_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* As ferry_error, appending ": strerror(errnum)". */
int ferry_error_errno(enum ferry_err code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "PREFIX: " to the current message (adds context on the way up,
 * e.g. the file name, without reporting twice). Returns -1. */
int ferry_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *ferry_error_message(void); /* "" when none */
enum ferry_err ferry_error_code(void);
const char *ferry_error_code_name(enum ferry_err code);
void ferry_error_reset(void);

/* An error kept aside: a worker's first failure for the thread that joins
 * the pool to report, or the thread's own error across a cleanup that may
 * fail too.  Zero-initialised: nothing kept. */
struct ferry_error_saved {
    enum ferry_err code;
    char *message;
};
/* Keep the thread's current error in SAVED, unless SAVED holds one already
 * (the first failure is the one that explains the others). */
void ferry_error_save(struct ferry_error_saved *saved);
/* The kept error becomes the thread's again (nothing kept: the thread's
 * error is left as it is); SAVED is released.  Returns -1 when an error was
 * kept, else 0. */
int ferry_error_restore(struct ferry_error_saved *saved);

/* Out of memory: there is nothing sensible to do but stop (as GLib does). */
_Noreturn void ferry_oom(void);

#endif
