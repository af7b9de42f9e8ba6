/* Small libc helpers every program uses: allocation that cannot fail
 * (ferry_oom() on exhaustion), formatted strings, string vectors, whole-file
 * reads and atomic writes, RFC 3339 time, the program's own directory,
 * random UUIDs.  Nothing here reports through ferry_error() except the file
 * helpers. */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

void *ferry_malloc(size_t n);
void *ferry_calloc(size_t nmemb, size_t n);
void *ferry_realloc(void *p, size_t n);
/* P, an array of N elements of SIZE bytes that grows one element at a time,
 * with room for element N: reallocated to 16 elements when N is 0 and to
 * 2N when N is a power of two at or above 16, so the capacity follows from N
 * (no field to keep) and N pushes cost O(N), not a copy of the array each. */
void *ferry_grow(void *p, size_t n, size_t size);
char *ferry_strdup(const char *s);          /* NULL stays NULL */
char *ferry_strndup(const char *s, size_t n);
char *ferry_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *ferry_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

bool ferry_str_has_prefix(const char *s, const char *prefix);
bool ferry_str_has_suffix(const char *s, const char *suffix);
bool ferry_str_eq(const char *a, const char *b); /* NULL-safe */
/* S lowered in place (ASCII), returned; NULL-safe. */
char *ferry_str_lower(char *s);

/* NULL-terminated string vectors. */
size_t ferry_strv_len(char *const *v);
void ferry_strv_push(char ***v, const char *s); /* copies s */
void ferry_strv_free(char **v);
char **ferry_strv_split(const char *s, const char *sep); /* empty fields dropped */
/* The strings of V (NULL-terminated; V may be NULL) with SEP between. */
char *ferry_strv_join(const char *const *v, const char *sep);
/* Append N bytes of DATA to the string *BUF of *LEN bytes, kept
 * NUL-terminated: a body collected piece by piece from libcurl's or
 * libyaml's write callbacks.  The caller bounds *LEN. */
void ferry_buf_append(char **buf, size_t *len, const void *data, size_t n);

/* Read a whole file (up to max bytes; 0 means 64 MiB); adds a NUL. */
int ferry_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len);
/* Read FD to its end (up to max bytes; 0 means no limit; NAME names it in
 * errors), e.g. a child's piped output; adds a NUL. */
int ferry_fd_read(int fd, const char *name, size_t max, char **ret_buf, size_t *ret_len);
/* The names in directory DIR that do not start with a dot, sorted by
 * strcmp (a mounted ConfigMap or Secret, read in a stable order); NULL for
 * an empty one.  An error names WHAT and DIR ("cert dir '/certs'"). */
int ferry_dir_names(const char *what, const char *dir, char ***ret);
/* Write a file atomically: PATH.tmp.XXXXXX, fsync, rename, fsync dir. */
int ferry_file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode);
/* mkdir -p with mode for created components. */
int ferry_mkdir_p(const char *path, mode_t mode);
/* rm -rf (does not follow symlinks). */
int ferry_rm_rf(const char *path);

/* Time. */
uint64_t ferry_now_ns(void);          /* CLOCK_MONOTONIC */
char *ferry_time_rfc3339(time_t t);   /* "2026-11-26T15:04:05Z" */
char *ferry_time_now_rfc3339(void);
/* "2026-12-02T07:40:00.123456Z": a MicroTime, as Lease fields carry it. */
char *ferry_time_now_micro(void);
int ferry_time_parse_rfc3339(const char *s, time_t *ret_t);

/* Human sizes: "20 GiB", "1.5 MiB". */
char *ferry_size_human(uint64_t bytes);

/* The directory of the running program (/proc/self/exe), where its sibling
 * programs are (ferry-importer beside ferry-controller ...); NULL when it
 * cannot be read.  Computed once; not to be freed. */
const char *ferry_self_dir(void);
/* "<prefix>/share/ferry/REL" for a program in "<prefix>/bin" (also
 * build/bin -> build/share/ferry), or NULL when the program's directory is
 * unknown; caller frees. */
char *ferry_self_data_path(const char *rel);

/* A random (version 4) UUID, "8-4-4-4-12" lower case, from the CSPRNG (its
 * failure is as fatal as memory running out); caller frees. */
char *ferry_uuid_random(void);

#endif
