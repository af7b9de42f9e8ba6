/* Credentials, CA bundles and Content-Range for the vmware and imageio
 * sources (remote-common.h). */
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

static int
read_secret(const char *dir, const char *key, char **ret)
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
    if (len == 0) {
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
        if (read_secret(secret_dir, "accessKeyId", &user) < 0 ||
            read_secret(secret_dir, "secretKey", &password) < 0)
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
