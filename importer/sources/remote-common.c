/* Credentials, CA bundles, https handles and their pool, Range GETs and
 * Content-Range for the remote sources (remote-common.h). */
#include "importer/sources/remote-common.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/sources/curl-common.h"

int
ferry_remote_read_secret(const char *dir, const char *key, bool nonempty, char **ret)
{
    FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, key);
    char *buf = NULL;
    size_t len = 0;

    if (ferry_file_read(path, 64 << 10, &buf, &len) < 0)
        return -1;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        return ferry_error(FERRY_ERR_INVALID, "secret '%s': contains a NUL byte", path);
    }
    if (nonempty && len == 0) {
        free(buf);
        return ferry_error(FERRY_ERR_INVALID, "secret '%s': is empty", path);
    }
    *ret = buf;
    return 0;
}

int
ferry_remote_credentials(const char *what, const char *option, const char *secret_dir,
                         char **ret_user, char **ret_password)
{
    FERRY_AUTOFREE char *user = NULL;
    FERRY_AUTOFREE char *password = NULL;

    if (secret_dir) {
        if (ferry_remote_read_secret(secret_dir, "accessKeyId", true, &user) < 0 ||
            ferry_remote_read_secret(secret_dir, "secretKey", true, &password) < 0)
            return ferry_error_prefix("%s: %s", what, option);
    } else {
        const char *u = getenv("IMPORTER_ACCESS_KEY_ID"), *p = getenv("IMPORTER_SECRET_KEY");
        if (!u || !*u || !p || !*p)
            return ferry_error(FERRY_ERR_INVALID,
                               "%s: no credentials: give %s DIR (files accessKeyId and "
                               "secretKey) or IMPORTER_ACCESS_KEY_ID and IMPORTER_SECRET_KEY",
                               what, option);
        user = ferry_strdup(u);
        password = ferry_strdup(p);
    }
    *ret_user = FERRY_STEAL(user);
    *ret_password = FERRY_STEAL(password);
    return 0;
}

static int
append_file(const char *option, const char *path, char **buf, size_t *len)
{
    char *data = NULL;
    size_t n = 0;

    if (ferry_file_read(path, 16 << 20, &data, &n) < 0)
        return ferry_error_prefix("%s", option);
    if (!memmem(data, n, "-----BEGIN CERTIFICATE-----", 27)) {
        free(data);
        return ferry_error(FERRY_ERR_INVALID, "%s '%s': no PEM certificate in it", option, path);
    }
    *buf = ferry_realloc(*buf, *len + n + 2);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
    free(data);
    return 0;
}

int
ferry_remote_ca_load(const char *option, const char *path, char **ret_pem, size_t *ret_len)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len = 0;
    struct stat st;

    if (stat(path, &st) < 0)
        return ferry_error_errno(FERRY_ERR_INVALID, errno, "%s '%s'", option, path);
    if (S_ISDIR(st.st_mode)) {
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, alphasort);
        int r = 0;

        if (n < 0)
            return ferry_error_errno(FERRY_ERR_INVALID, errno, "%s '%s'", option, path);
        for (int i = 0; i < n; i++) {
            FERRY_AUTOFREE char *f = ferry_printf("%s/%s", path, names[i]->d_name);
            struct stat fst;
            /* A mounted ConfigMap: ..data and the symbolic links to it;
             * stat() follows them to the regular files. */
            if (r == 0 && names[i]->d_name[0] != '.' && stat(f, &fst) == 0 &&
                S_ISREG(fst.st_mode))
                r = append_file(option, f, &buf, &len);
            free(names[i]);
        }
        free(names);
        if (r < 0)
            return -1;
        if (len == 0)
            return ferry_error(FERRY_ERR_INVALID, "%s '%s': no certificate file in the directory",
                               option, path);
    } else if (append_file(option, path, &buf, &len) < 0) {
        return -1;
    }
    *ret_pem = FERRY_STEAL(buf);
    *ret_len = len;
    return 0;
}

int
ferry_remote_ca_option(const char *option, const char *path, char **ret_pem, size_t *ret_len)
{
    const char *ca = path ? path : getenv("IMPORTER_CERT_DIR");

    *ret_pem = NULL;
    *ret_len = 0;
    if (!ca || !*ca)
        return 0;
    return ferry_remote_ca_load(path ? option : "IMPORTER_CERT_DIR", ca, ret_pem, ret_len);
}

void
ferry_remote_tls(CURL *c, const char *pem, size_t len, bool insecure)
{
    if (insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        return;
    }
    if (pem) {
        struct curl_blob blob = { .data = (void *)pem, .len = len, .flags = CURL_BLOB_NOCOPY };
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    }
}

CURL *
ferry_remote_https_handle(const char *url, bool verbose, const char *pem, size_t len,
                          bool insecure, const char *pin)
{
    CURL *c = ferry_curl_easy(url, true, verbose);

    if (pin) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, pin);
    } else {
        ferry_remote_tls(c, pem, len, insecure);
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    return c;
}

void
ferry_curl_pool_init(struct ferry_curl_pool *pool, size_t max)
{
    *pool = (struct ferry_curl_pool){ .max = max < FERRY_CURL_POOL_MAX ? max : FERRY_CURL_POOL_MAX };
    pthread_mutex_init(&pool->lock, NULL);
}

CURL *
ferry_curl_pool_take(struct ferry_curl_pool *pool)
{
    CURL *c = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->n > 0)
        c = pool->h[--pool->n];
    pthread_mutex_unlock(&pool->lock);
    return c;
}

void
ferry_curl_pool_give(struct ferry_curl_pool *pool, CURL *c)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->n < pool->max) {
        pool->h[pool->n++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    if (c)
        curl_easy_cleanup(c);
}

void
ferry_curl_pool_destroy(struct ferry_curl_pool *pool)
{
    for (size_t i = 0; i < pool->n; i++)
        curl_easy_cleanup(pool->h[i]);
    pool->n = 0;
    pthread_mutex_destroy(&pool->lock);
}

void
ferry_content_range_header(struct ferry_content_range *cr, const char *buf, size_t len)
{
    char line[256];

    if (len >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
        *cr = (struct ferry_content_range){ .total = -1 };
        return;
    }
    if (len >= sizeof(line) || len < 14 || strncasecmp(buf, "Content-Range:", 14) != 0)
        return;
    long long a, b;
    int used = 0;
    memcpy(line, buf, len);
    line[len] = '\0';
    cr->seen = true;
    cr->valid = false;
    cr->total = -1;
    if (sscanf(line + 14, " bytes %lld-%lld/%n", &a, &b, &used) == 2 && used > 0 && a >= 0 &&
        b >= a) {
        const char *t = line + 14 + used;
        cr->first = a;
        cr->last = b;
        cr->valid = true;
        if (*t >= '0' && *t <= '9')
            cr->total = strtoll(t, NULL, 10);
        else if (*t != '*')
            cr->valid = false;
    } else if (sscanf(line + 14, " bytes */%lld", &a) == 1) {
        cr->total = a;   /* a 416's "bytes *\/SIZE" */
    }
}

char *
ferry_remote_escape(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = ferry_malloc(strlen(s) * 3 + 1);
    size_t n = 0;

    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~", *c) || (keep_slash && *c == '/')) {
            out[n++] = *c;
        } else {
            out[n++] = '%';
            out[n++] = hex[*c >> 4];
            out[n++] = hex[*c & 15];
        }
    }
    out[n] = '\0';
    return out;
}

size_t
ferry_range_get_header(char *buf, size_t size, size_t n, void *opaque)
{
    ferry_content_range_header(&((struct ferry_range_get *)opaque)->cr, buf, size * n);
    return size * n;
}

void
ferry_remote_keep_body(char *text, size_t size, size_t *used, const char *data, size_t len)
{
    size_t room = size - 1 - *used;
    size_t k = len < room ? len : room;

    memcpy(text + *used, data, k);
    *used += k;
    text[*used] = '\0';
}

static size_t
range_get_write(char *data, size_t size, size_t n, void *opaque)
{
    struct ferry_range_get *q = opaque;
    size_t len = size * n;
    long code = 0;

    curl_easy_getinfo(q->c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 206) {
        /* An error page (kept for the message), or a 200 with the whole
         * file: the server ignored Range, stop at once. */
        if (code == 200)
            return 0;
        ferry_remote_keep_body(q->body, sizeof(q->body), &q->body_len, data, len);
        return len;
    }
    if (len > q->len - q->got) {
        q->overflow = true;
        return 0;
    }
    memcpy(q->buf + q->got, data, len);
    q->got += len;
    return len;
}

void
ferry_range_get(struct ferry_range_get *q, CURL *c, uint64_t off, void *buf, size_t len,
                curl_write_callback header)
{
    *q = (struct ferry_range_get){ .buf = buf, .len = len, .c = c, .cr = { .total = -1 } };
    snprintf(q->range, sizeof(q->range), "%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    curl_easy_setopt(c, CURLOPT_RANGE, q->range);
    ferry_curl_deliver(c, header ? header : ferry_range_get_header, q, range_get_write, q,
                       q->errbuf);
    q->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->code);
    curl_easy_setopt(c, CURLOPT_RANGE, NULL);
    ferry_curl_deliver(c, NULL, NULL, NULL, NULL, NULL);
}

bool
ferry_range_get_failed(const struct ferry_range_get *q)
{
    return q->rc != CURLE_OK && !(q->rc == CURLE_WRITE_ERROR && (q->code == 200 || q->overflow));
}

bool
ferry_range_get_exact(const struct ferry_range_get *q, uint64_t off)
{
    return q->cr.valid && (uint64_t)q->cr.first == off && (uint64_t)q->cr.last == off + q->len - 1 &&
           q->got == q->len && !q->overflow;
}

const char *
ferry_range_get_error(const struct ferry_range_get *q)
{
    return q->errbuf[0] ? q->errbuf : curl_easy_strerror(q->rc);
}

bool
ferry_remote_needs_network(const char *url)
{
    (void)url;
    return true;
}

ssize_t
ferry_remote_read(struct ferry_source *src, void *buf, size_t len, size_t max, uint64_t *cursor,
                  ssize_t (*pread)(struct ferry_source *, void *, size_t, uint64_t))
{
    if (len > max)
        len = max;
    ssize_t n = pread(src, buf, len, *cursor);
    if (n > 0)
        *cursor += n;
    return n;
}
