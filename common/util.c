/* libc helpers; see util.h. */
#include "common/util.h"
#include "common/cleanup.h"
#include "common/error.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

void *
ferry_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        ferry_oom();
    return p;
}

void *
ferry_calloc(size_t nmemb, size_t n)
{
    void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);

    if (!p)
        ferry_oom();
    return p;
}

void *
ferry_realloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        ferry_oom();
    return p;
}

void *
ferry_grow(void *p, size_t n, size_t size)
{
    size_t cap;

    if (n != 0 && (n < 16 || (n & (n - 1)) != 0))
        return p;
    cap = n ? 2 * n : 16;
    if (cap < n || (size && cap > SIZE_MAX / size))
        ferry_oom();
    return ferry_realloc(p, cap * size);
}

char *
ferry_strdup(const char *s)
{
    char *r;

    if (!s)
        return NULL;
    r = strdup(s);
    if (!r)
        ferry_oom();
    return r;
}

char *
ferry_strndup(const char *s, size_t n)
{
    char *r = strndup(s, n);

    if (!r)
        ferry_oom();
    return r;
}

char *
ferry_vprintf(const char *fmt, va_list ap)
{
    char *r;

    if (vasprintf(&r, fmt, ap) < 0)
        ferry_oom();
    return r;
}

char *
ferry_printf(const char *fmt, ...)
{
    va_list ap;
    char *r;

    va_start(ap, fmt);
    r = ferry_vprintf(fmt, ap);
    va_end(ap);
    return r;
}

bool
ferry_str_has_prefix(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool
ferry_str_has_suffix(const char *s, const char *suffix)
{
    size_t a, b;

    if (!s)
        return false;
    a = strlen(s);
    b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

bool
ferry_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

char *
ferry_str_lower(char *s)
{
    for (char *c = s; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return s;
}

size_t
ferry_strv_len(char *const *v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

void
ferry_strv_push(char ***v, const char *s)
{
    size_t n = ferry_strv_len(*v);

    *v = ferry_realloc(*v, (n + 2) * sizeof **v);
    (*v)[n] = ferry_strdup(s);
    (*v)[n + 1] = NULL;
}

void
ferry_strv_free(char **v)
{
    ferry_strvfreep(&v);
}

char *
ferry_strv_join(const char *const *v, const char *sep)
{
    size_t len = 1;
    char *out, *p;

    for (const char *const *s = v; s && *s; s++)
        len += strlen(*s) + (s == v ? 0 : strlen(sep));
    p = out = ferry_malloc(len);
    *p = '\0';
    for (const char *const *s = v; s && *s; s++)
        p = stpcpy(stpcpy(p, s == v ? "" : sep), *s);
    return out;
}

void
ferry_buf_append(char **buf, size_t *len, const void *data, size_t n)
{
    *buf = ferry_realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

char **
ferry_strv_split(const char *s, const char *sep)
{
    char **v = ferry_calloc(1, sizeof *v);
    FERRY_AUTOFREE char *copy = ferry_strdup(s);
    char *save = NULL;

    for (char *tok = strtok_r(copy, sep, &save); tok; tok = strtok_r(NULL, sep, &save))
        ferry_strv_push(&v, tok);
    return v;
}

int
ferry_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
    FERRY_AUTOCLOSE int fd = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot open '%s'", path);
    return ferry_fd_read(fd, path, max ? max : 64u << 20, ret_buf, ret_len);
}

int
ferry_fd_read(int fd, const char *name, size_t max, char **ret_buf, size_t *ret_len)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len = 0, cap = 0;

    for (;;) {
        ssize_t r;

        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = ferry_realloc(buf, cap + 1);
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ferry_error_errno(FERRY_ERR_IO, errno, "cannot read '%s'", name);
        }
        if (r == 0)
            break;
        len += r;
        if (max && len > max)
            return ferry_error(FERRY_ERR_INVALID, "'%s' is larger than %zu bytes", name, max);
    }
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    *ret_buf = FERRY_STEAL(buf);
    return 0;
}

int
ferry_file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
    FERRY_AUTOFREE char *tmp = ferry_printf("%s.tmp.XXXXXX", path);
    FERRY_AUTOFREE char *dir = ferry_strdup(path);
    FERRY_AUTOCLOSE int fd = -1;
    FERRY_AUTOCLOSE int dfd = -1;
    const char *p = buf;

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot create a temporary file beside '%s'", path);
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            ferry_error_errno(FERRY_ERR_IO, errno, "cannot write '%s'", tmp);
            unlink(tmp);
            return -1;
        }
        p += w;
        len -= w;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        ferry_error_errno(FERRY_ERR_IO, errno, "cannot sync '%s'", tmp);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        ferry_error_errno(FERRY_ERR_IO, errno, "cannot rename '%s' to '%s'", tmp, path);
        unlink(tmp);
        return -1;
    }
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        (void)fsync(dfd);
    return 0;
}

int
ferry_mkdir_p(const char *path, mode_t mode)
{
    FERRY_AUTOFREE char *copy = ferry_strdup(path);

    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return ferry_error_errno(FERRY_ERR_IO, errno, "cannot create directory '%s'", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot create directory '%s'", copy);
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ferry_dir_names(const char *what, const char *dir, char ***ret)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;

    if (!d)
        return ferry_error_errno(FERRY_ERR_INVALID, errno, "%s '%s'", what, dir);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            ferry_strv_push(&names, e->d_name);
    closedir(d);
    if (names)
        qsort(names, ferry_strv_len(names), sizeof(*names), name_cmp);
    *ret = names;
    return 0;
}

int
ferry_rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : ferry_error_errno(FERRY_ERR_IO, errno, "cannot stat '%s'", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return ferry_error_errno(FERRY_ERR_IO, errno, "cannot remove '%s'", path);
        return 0;
    }
    d = opendir(path);
    if (!d)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot open directory '%s'", path);
    while ((de = readdir(d))) {
        FERRY_AUTOFREE char *sub = NULL;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sub = ferry_printf("%s/%s", path, de->d_name);
        if (ferry_rm_rf(sub) < 0)
            r = -1;
    }
    closedir(d);
    if (r == 0 && rmdir(path) < 0 && errno != ENOENT)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot remove directory '%s'", path);
    return r;
}

uint64_t
ferry_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

char *
ferry_time_rfc3339(time_t t)
{
    struct tm tm;
    char buf[64];

    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ferry_strdup(buf);
}

char *
ferry_time_now_rfc3339(void)
{
    return ferry_time_rfc3339(time(NULL));
}

char *
ferry_time_now_micro(void)
{
    struct timeval tv;
    struct tm tm;
    char buf[64];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return ferry_printf("%s.%06ldZ", buf, (long)tv.tv_usec);
}

int
ferry_time_parse_rfc3339(const char *s, time_t *ret_t)
{
    struct tm tm = { 0 };
    const char *end;

    if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
        return ferry_error(FERRY_ERR_FORMAT, "time '%s' is not RFC 3339", s ? s : "");
    if (*end == '.')
        while (*++end >= '0' && *end <= '9')
            ;
    if (*end != 'Z' || end[1] != '\0')
        return ferry_error(FERRY_ERR_FORMAT, "time '%s' is not RFC 3339 UTC", s);
    *ret_t = timegm(&tm);
    return 0;
}

char *
ferry_size_human(uint64_t bytes)
{
    static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = bytes;
    size_t u = 0;

    while (v >= 1024 && u + 1 < FERRY_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        return ferry_printf("%llu bytes", (unsigned long long)bytes);
    if (v == (uint64_t)v)
        return ferry_printf("%.0f %s", v, units[u]);
    return ferry_printf("%.1f %s", v, units[u]);
}

static char self_dir[PATH_MAX];
static pthread_once_t self_dir_once = PTHREAD_ONCE_INIT;

static void
self_dir_init(void)
{
    ssize_t n = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
    char *slash;

    if (n <= 0) {
        self_dir[0] = '\0';
        return;
    }
    self_dir[n] = '\0';
    slash = strrchr(self_dir, '/');
    if (!slash)
        self_dir[0] = '\0';
    else if (slash == self_dir)
        slash[1] = '\0';   /* a program in "/" */
    else
        *slash = '\0';
}

const char *
ferry_self_dir(void)
{
    pthread_once(&self_dir_once, self_dir_init);
    return self_dir[0] ? self_dir : NULL;
}

char *
ferry_self_data_path(const char *rel)
{
    const char *bindir = ferry_self_dir();
    const char *slash;

    if (!bindir)
        return NULL;
    slash = strrchr(bindir, '/');
    return ferry_printf("%.*s/share/ferry/%s",
                        slash ? (int)(slash - bindir) : (int)strlen(bindir), bindir, rel);
}

char *
ferry_uuid_random(void)
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof b) != 1)
        ferry_oom();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    return ferry_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
                        b[11], b[12], b[13], b[14], b[15]);
}
