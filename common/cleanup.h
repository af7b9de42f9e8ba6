/* Auto-cleanup variables (systemd's _cleanup_, GLib's g_autoptr).
 *
 *     FERRY_AUTOFREE char *url = NULL;
 *     FERRY_AUTOPTR(json_object) spec = NULL;
 *     FERRY_AUTOCLOSE int fd = -1;
 *     ...
 *     *ret_def = FERRY_STEAL(def);
 *
 * A type gets FERRY_AUTOPTR support with one FERRY_DEFINE_AUTOPTR(type, free_fn)
 * line beside its _free function; free_fn must accept NULL or the macro's
 * guard is used.  Definitions for json-c and libc live here; each module adds
 * its own (curl, archive, virConnect, sqlite3_stmt, guestfs ...).
 */
#ifndef FERRY_CLEANUP_H
#define FERRY_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <json-c/json.h>

static inline void
ferry_freep(void *p)
{
    free(*(void **)p);
}

static inline void
ferry_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void
ferry_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void
ferry_strvfreep(char ***v)
{
    if (*v) {
        for (char **p = *v; *p; p++)
            free(*p);
        free(*v);
    }
}

#define FERRY_AUTOFREE __attribute__((cleanup(ferry_freep)))
#define FERRY_AUTOCLOSE __attribute__((cleanup(ferry_closep)))
#define FERRY_AUTOFCLOSE __attribute__((cleanup(ferry_fclosep)))
#define FERRY_AUTOSTRV __attribute__((cleanup(ferry_strvfreep)))

#define FERRY_AUTOPTR(type) __attribute__((cleanup(ferry_autoptr_cleanup_##type))) type *

#define FERRY_DEFINE_AUTOPTR(type, func)                                                       \
    static inline void ferry_autoptr_cleanup_##type(type **p)                                  \
    {                                                                                          \
        if (*p)                                                                                \
            func(*p);                                                                          \
    }

/* Take ownership out of an auto variable: returns its value and clears it. */
#define FERRY_STEAL(p)                                                                         \
    ({                                                                                         \
        __typeof__(p) steal_tmp_ = (p);                                                        \
        (p) = NULL;                                                                            \
        steal_tmp_;                                                                            \
    })
#define FERRY_STEAL_FD(fd)                                                                     \
    ({                                                                                         \
        int steal_fd_ = (fd);                                                                  \
        (fd) = -1;                                                                             \
        steal_fd_;                                                                             \
    })

static inline void
ferry_json_put_(json_object *o)
{
    json_object_put(o);
}
FERRY_DEFINE_AUTOPTR(json_object, ferry_json_put_)

#define FERRY_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
