/* The s3 source: an object of an S3 service (AWS, MinIO, Ceph RGW, s3rver)
 * read with Range GETs, each signed with AWS Signature Version 4 (HMAC-SHA256
 * from libcrypto; libcurl's CURLOPT_AWS_SIGV4 is not used: Debian 12's 7.88
 * neither adds x-amz-content-sha256 nor encodes the key).
 *
 * URLs:
 *   s3://BUCKET/KEY          the key as written (not percent-decoded).
 *                            With --s3-endpoint URL: that server, path-style
 *                            (URL/BUCKET/KEY) unless --s3-virtual-hosted;
 *                            without: AWS, https://BUCKET.s3.REGION.amazonaws.com/KEY
 *   s3+https://HOST[:PORT]/PATH, s3+http://...   an endpoint URL as CDI's
 *                            DataVolume source.s3.url has it (the path is
 *                            percent-decoded): virtual-hosted-style when HOST
 *                            is BUCKET.s3.* or BUCKET.s3-* (then PATH is the
 *                            key), else path-style (PATH is BUCKET/KEY).
 * The key is then encoded as AWS's UriEncode (everything but A-Z a-z 0-9
 * -._~ and '/'), once, in the request and the canonical request alike.
 *
 * Region (the signature's scope): --s3-region, AWS_REGION,
 * AWS_DEFAULT_REGION, the X of s3.X.amazonaws.com / s3-X.amazonaws.com,
 * else us-east-1.  Credentials: --s3-secret-dir DIR (files accessKeyId and
 * secretKey: CDI's secret), else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 * and AWS_SESSION_TOKEN; none: anonymous, unsigned requests (public
 * objects).  TLS: verified against the system's CAs plus every file in
 * --s3-ca-dir directories (CDI's cert directory); redirects are not followed
 * (a signature binds the host): a 301 names the bucket's region.
 *
 * Opening asks for the first 512 bytes and takes the size from
 * Content-Range; every read after is a Range GET (pread on a pool of
 * kept-alive handles, so the pipeline's workers read in parallel; the
 * sequential read fills an 8 MiB window at a time).  A qcow2 or VMDK in a
 * bucket is read through its tables: only the clusters it uses are fetched. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/s3.h"
#include "importer/sources/curl-common.h"
#include "importer/sources/remote-common.h"

#define MOD "importer.s3"
#define S3_POOL 4
#define S3_WINDOW (8u << 20)
#define S3_ERROR_BODY (64u << 10)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- options ------------------------------------------------------------- */

static struct {
    char *endpoint, *region, *secret_dir;
    char **ca_dirs;
    bool virtual_hosted;
} opt;

static const struct ferry_source_option s3_options[] = {
    { "s3-endpoint", "URL",
      "the S3 server of s3:// URLs (default AWS:\nhttps://BUCKET.s3.REGION.amazonaws.com)" },
    { "s3-virtual-hosted", NULL, "with --s3-endpoint: BUCKET.HOST/KEY, not HOST/BUCKET/KEY" },
    { "s3-region", "REGION", "the signature's region (default: AWS_REGION, the\nhost's, us-east-1)" },
    { "s3-secret-dir", "DIR",
      "credentials: files accessKeyId and secretKey\n(default: AWS_ACCESS_KEY_ID, "
      "AWS_SECRET_ACCESS_KEY,\nAWS_SESSION_TOKEN)" },
    { "s3-ca-dir", "DIR", "CA certificates added to the system's (repeatable)" },
    { NULL, NULL, NULL },
};

static int
s3_config(const char *name, const char *value)
{
    if (strcmp(name, "s3-endpoint") == 0) {
        if (!ferry_str_has_prefix(value, "http://") && !ferry_str_has_prefix(value, "https://"))
            return ferry_error(FERRY_ERR_INVALID,
                               "--s3-endpoint '%s': expected http[s]://HOST[:PORT]", value);
        ferry_source_option_string(&opt.endpoint, value);
    } else if (strcmp(name, "s3-virtual-hosted") == 0) {
        opt.virtual_hosted = true;
    } else if (strcmp(name, "s3-region") == 0) {
        if (!*value || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(value))
            return ferry_error(FERRY_ERR_INVALID,
                               "--s3-region '%s': expected a region name, e.g. eu-west-1", value);
        ferry_source_option_string(&opt.region, value);
    } else if (strcmp(name, "s3-secret-dir") == 0) {
        ferry_source_option_string(&opt.secret_dir, value);
    } else if (strcmp(name, "s3-ca-dir") == 0) {
        ferry_strv_push(&opt.ca_dirs, value);
    } else {
        return ferry_error(FERRY_ERR_INVALID, "option '--%s' is unknown", name);
    }
    return 0;
}

/* ---- SigV4 ------------------------------------------------------------------ */

static void
hex_encode(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void
hmac256(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;

    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len))
        ferry_oom();
}

char *
ferry_sigv4_authorization(const struct ferry_sigv4_request *r, char **ret_signature)
{
    char *canon = NULL, *signed_names = NULL;
    size_t canon_len = 0, names_len = 0;
    FILE *c = open_memstream(&canon, &canon_len);
    FILE *n = open_memstream(&signed_names, &names_len);
    unsigned char digest[32], k[32];
    char canon_hex[65], sig[65], date[9];

    if (!c || !n)
        ferry_oom();
    fprintf(c, "%s\n%s\n%s\n", r->method, r->canonical_uri, r->canonical_query);
    for (const char *const *h = r->headers; h[0] && h[1]; h += 2) {
        fprintf(c, "%s:%s\n", h[0], h[1]);
        fprintf(n, "%s%s", h == r->headers ? "" : ";", h[0]);
    }
    fclose(n);
    fprintf(c, "\n%s\n%s", signed_names, r->payload_hash);
    fclose(c);
    SHA256((const unsigned char *)canon, canon_len, digest);
    hex_encode(digest, 32, canon_hex);

    snprintf(date, sizeof(date), "%.8s", r->amz_date);
    FERRY_AUTOFREE char *scope =
        ferry_printf("%s/%s/%s/aws4_request", date, r->region, r->service);
    FERRY_AUTOFREE char *sts =
        ferry_printf("AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, canon_hex);
    FERRY_AUTOFREE char *k0 = ferry_printf("AWS4%s", r->secret_key);
    hmac256(k0, strlen(k0), date, k);
    hmac256(k, 32, r->region, k);
    hmac256(k, 32, r->service, k);
    hmac256(k, 32, "aws4_request", k);
    hmac256(k, 32, sts, digest);
    hex_encode(digest, 32, sig);
    explicit_bzero(k0, strlen(k0));
    explicit_bzero(k, sizeof(k));

    char *auth = ferry_printf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                              r->access_key, scope, signed_names, sig);
    if (ret_signature)
        *ret_signature = ferry_strdup(sig);
    free(canon);
    free(signed_names);
    return auth;
}

/* ---- the object's address ------------------------------------------------ */

struct s3_priv {
    char *url;                   /* the request URL (encoded path) */
    char *host;                  /* the Host header as curl sends it */
    char *path;                  /* the encoded path: the canonical URI */
    char *name;                  /* "bucket/key" for messages */
    char *region;
    char *access_key, *secret_key, *token;
    struct curl_blob ca;         /* system + --s3-ca-dir CAs, or none */
    char *ca_buf;
    bool tls;

    struct ferry_curl_pool pool;
    uint64_t requests, fetched;  /* for the debug summary */

    uint8_t *window;             /* the sequential read's */
    uint64_t win_off, pos;
    size_t win_len;
};

static bool
s3_handles(const char *url)
{
    return ferry_str_has_prefix(url, "s3://") || ferry_str_has_prefix(url, "s3+http://") ||
           ferry_str_has_prefix(url, "s3+https://");
}

static int
hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode a URL path. */
static int
url_decode(const char *url, const char *s, char **ret)
{
    char *out = ferry_malloc(strlen(s) + 1), *o = out;

    for (; *s; s++) {
        if (*s == '%') {
            int a = hexval(s[1]), b = a < 0 ? -1 : hexval(s[2]);
            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                free(out);
                return ferry_error(FERRY_ERR_INVALID, "s3 '%s': bad percent-encoding in the path",
                                   url);
            }
            *o++ = (char)(a * 16 + b);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    *ret = out;
    return 0;
}

/* "s3.eu-west-1.amazonaws.com", "bucket.s3-eu-west-1.amazonaws.com" -> eu-west-1. */
static char *
region_of_host(const char *host)
{
    const char *p = strstr(host, "s3.") == host ? host : strstr(host, ".s3.");
    const char *q = strstr(host, "s3-") == host ? host : strstr(host, ".s3-");

    if (!ferry_str_has_suffix(host, ".amazonaws.com"))
        return NULL;
    if (p) {
        p += *p == '.' ? 4 : 3;
    } else if (q) {
        p = q + (*q == '.' ? 4 : 3);
    } else {
        return NULL;
    }
    size_t n = strcspn(p, ".");
    if (n == 0 || strncmp(p, "amazonaws", n) == 0 || strncmp(p, "dualstack", n) == 0)
        return NULL;
    return ferry_strndup(p, n);
}

/* Split "http[s]://HOST[:PORT]" (no path) off U: *ret_host "HOST[:PORT]". */
static int
split_origin(const char *url, const char *u, bool *ret_tls, char **ret_host, const char **ret_rest)
{
    const char *h;

    if (ferry_str_has_prefix(u, "https://")) {
        *ret_tls = true;
        h = u + 8;
    } else if (ferry_str_has_prefix(u, "http://")) {
        *ret_tls = false;
        h = u + 7;
    } else {
        return ferry_error(FERRY_ERR_INVALID, "s3 '%s': expected http:// or https://", url);
    }
    size_t n = strcspn(h, "/?#");
    if (n == 0 || memchr(h, '@', n))
        return ferry_error(FERRY_ERR_INVALID, "s3 '%s': expected a host%s", url,
                           n ? " without user information" : "");
    *ret_host = ferry_strndup(h, n);
    /* The Host header curl sends: no default port. */
    if ((*ret_tls && ferry_str_has_suffix(*ret_host, ":443")) ||
        (!*ret_tls && ferry_str_has_suffix(*ret_host, ":80")))
        (*ret_host)[strlen(*ret_host) - (*ret_tls ? 4 : 3)] = '\0';
    ferry_str_lower(*ret_host);
    *ret_rest = h + n;
    return 0;
}

/* Fill url, host, path, name and region from URL and the options. */
static int
s3_address(struct s3_priv *p, const char *url)
{
    FERRY_AUTOFREE char *bucket = NULL, *key = NULL, *host = NULL;
    bool vhost;

    if (ferry_str_has_prefix(url, "s3://")) {
        const char *b = url + 5;
        size_t n = strcspn(b, "/");
        if (n == 0 || b[n] != '/' || !b[n + 1])
            return ferry_error(FERRY_ERR_INVALID, "s3 '%s': expected s3://BUCKET/KEY", url);
        bucket = ferry_strndup(b, n);
        key = ferry_strdup(b + n + 1);
        if (opt.endpoint) {
            const char *rest;
            if (split_origin(url, opt.endpoint, &p->tls, &host, &rest) < 0)
                return -1;
            if (*rest && strcmp(rest, "/") != 0)
                return ferry_error(FERRY_ERR_INVALID,
                                   "--s3-endpoint '%s': expected no path after the host",
                                   opt.endpoint);
            vhost = opt.virtual_hosted;
            if (vhost) {
                char *h = ferry_printf("%s.%s", bucket, host);
                free(host);
                host = h;
            }
        } else {
            const char *reg = opt.region     ? opt.region
                              : getenv("AWS_REGION") && *getenv("AWS_REGION")
                                  ? getenv("AWS_REGION")
                              : getenv("AWS_DEFAULT_REGION") && *getenv("AWS_DEFAULT_REGION")
                                  ? getenv("AWS_DEFAULT_REGION")
                                  : "us-east-1";
            p->tls = true;
            vhost = true;
            host = ferry_printf("%s.s3.%s.amazonaws.com", bucket, reg);
        }
    } else {
        const char *rest;
        FERRY_AUTOFREE char *path = NULL;
        if (split_origin(url, url + 3, &p->tls, &host, &rest) < 0)
            return -1;
        if (*rest && *rest != '/')
            return ferry_error(FERRY_ERR_INVALID,
                               "s3 '%s': no query or fragment expected after the key", url);
        if (url_decode(url, *rest ? rest + 1 : rest, &path) < 0)
            return -1;
        const char *s3 = strstr(host, ".s3.") ? strstr(host, ".s3.") : strstr(host, ".s3-");
        vhost = s3 && !ferry_str_has_prefix(host, "s3.") && !ferry_str_has_prefix(host, "s3-");
        if (vhost) {
            bucket = ferry_strndup(host, s3 - host);
            key = FERRY_STEAL(path);
        } else {
            size_t n = strcspn(path, "/");
            bucket = ferry_strndup(path, n);
            key = ferry_strdup(path[n] ? path + n + 1 : "");
        }
        if (!bucket[0] || !key[0])
            return ferry_error(FERRY_ERR_INVALID,
                               "s3 '%s': expected %s", url,
                               vhost ? "BUCKET.s3.HOST/KEY" : "HOST/BUCKET/KEY");
    }
    FERRY_AUTOFREE char *ekey = ferry_remote_escape(key, true);
    FERRY_AUTOFREE char *ebucket = ferry_remote_escape(bucket, false);
    p->path = vhost ? ferry_printf("/%s", ekey) : ferry_printf("/%s/%s", ebucket, ekey);
    p->host = FERRY_STEAL(host);
    p->url = ferry_printf("%s://%s%s", p->tls ? "https" : "http", p->host, p->path);
    p->name = ferry_printf("%s/%s", bucket, key);
    if (opt.region)
        p->region = ferry_strdup(opt.region);
    else if (getenv("AWS_REGION") && *getenv("AWS_REGION"))
        p->region = ferry_strdup(getenv("AWS_REGION"));
    else if (getenv("AWS_DEFAULT_REGION") && *getenv("AWS_DEFAULT_REGION"))
        p->region = ferry_strdup(getenv("AWS_DEFAULT_REGION"));
    else if (!(p->region = region_of_host(p->host)))
        p->region = ferry_strdup("us-east-1");
    return 0;
}

/* ---- credentials and CAs ---------------------------------------------------- */

static int
read_key(const char *dir, const char *name, char **ret)
{
    if (ferry_remote_read_secret(dir, name, true, ret) < 0)
        return ferry_error_prefix("--s3-secret-dir");
    if (strpbrk(*ret, "\r\n")) {
        free(*ret);
        *ret = NULL;
        return ferry_error(FERRY_ERR_INVALID, "--s3-secret-dir: '%s/%s' is not one line", dir,
                           name);
    }
    return 0;
}

static int
load_credentials(struct s3_priv *p)
{
    if (opt.secret_dir) {
        if (read_key(opt.secret_dir, "accessKeyId", &p->access_key) < 0 ||
            read_key(opt.secret_dir, "secretKey", &p->secret_key) < 0)
            return -1;
        return 0;
    }
    const char *a = getenv("AWS_ACCESS_KEY_ID"), *s = getenv("AWS_SECRET_ACCESS_KEY");
    const char *t = getenv("AWS_SESSION_TOKEN");
    if ((a && *a) != (s && *s))
        return ferry_error(FERRY_ERR_INVALID, "s3: %s is set but %s is not",
                           a && *a ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                           a && *a ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    if (a && *a) {
        p->access_key = ferry_strdup(a);
        p->secret_key = ferry_strdup(s);
        if (t && *t)
            p->token = ferry_strdup(t);
    }
    return 0;
}

static void
append_file(FILE *f, const char *path)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;

    if (ferry_file_read(path, 16 << 20, &buf, &len) == 0) {
        fwrite(buf, 1, len, f);
        fputc('\n', f);
    }
    ferry_error_reset();
}

/* The system's CA bundle plus every non-hidden file of the --s3-ca-dir
 * directories, as one PEM blob (CDI's createCertPool). */
static int
load_cas(struct s3_priv *p)
{
    size_t len = 0;
    FILE *f;

    if (!opt.ca_dirs)
        return 0;
    f = open_memstream(&p->ca_buf, &len);
    if (!f)
        ferry_oom();
    CURL *c = ferry_curl_easy("https://localhost/", true, false);
    char *sys = NULL;
    if (curl_easy_getinfo(c, CURLINFO_CAINFO, &sys) == CURLE_OK && sys)
        append_file(f, sys);
    curl_easy_cleanup(c);
    for (char **d = opt.ca_dirs; *d; d++) {
        DIR *dir = opendir(*d);
        struct dirent *e;
        if (!dir) {
            fclose(f);
            return ferry_error_errno(FERRY_ERR_IO, errno, "--s3-ca-dir '%s'", *d);
        }
        while ((e = readdir(dir))) {
            struct stat st;
            FERRY_AUTOFREE char *path = ferry_printf("%s/%s", *d, e->d_name);
            if (e->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                continue;
            append_file(f, path);
        }
        closedir(dir);
    }
    fclose(f);
    p->ca.data = p->ca_buf;
    p->ca.len = len;
    p->ca.flags = CURL_BLOB_NOCOPY;
    return 0;
}

/* ---- requests -------------------------------------------------------------- */

struct s3_resp {
    uint8_t *buf;                /* the body of a 206 (the range asked) */
    size_t cap, got;
    bool overflow;
    char *err;                   /* the body of an error */
    size_t err_len;
    struct ferry_content_range cr;
    char region[64];             /* x-amz-bucket-region */
    long code;
    CURLcode rc;
};

static size_t
resp_header(char *buf, size_t size, size_t n, void *opaque)
{
    struct s3_resp *r = opaque;
    size_t len = size * n;
    char line[256];

    if (len >= sizeof(line))
        return len;
    memcpy(line, buf, len);
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    ferry_content_range_header(&r->cr, buf, len);
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (a 100 Continue before): its status */
        const char *sp = strchr(line, ' ');
        r->code = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if (strncasecmp(line, "x-amz-bucket-region:", 20) == 0) {
        snprintf(r->region, sizeof(r->region), "%s", line + 20 + strspn(line + 20, " "));
    }
    return len;
}

static size_t
resp_write(char *data, size_t size, size_t n, void *opaque)
{
    struct s3_resp *r = opaque;
    size_t len = size * n;

    if (r->code == 206) {
        if (len > r->cap - r->got) {
            r->overflow = true;
            return 0;
        }
        memcpy(r->buf + r->got, data, len);
        r->got += len;
        return len;
    }
    if (r->err_len + len > S3_ERROR_BODY)
        return len;   /* an error page: the start is enough */
    ferry_buf_append(&r->err, &r->err_len, data, len);
    return len;
}

/* The text of <TAG> in an S3 error body. */
static char *
xml_field(const char *body, const char *tag)
{
    FERRY_AUTOFREE char *open = ferry_printf("<%s>", tag);
    FERRY_AUTOFREE char *close = ferry_printf("</%s>", tag);
    const char *a = body ? strstr(body, open) : NULL;
    const char *b = a ? strstr(a, close) : NULL;

    if (!a || !b)
        return NULL;
    a += strlen(open);
    return ferry_strndup(a, b - a);
}

static CURL *
s3_handle(struct s3_priv *p)
{
    CURL *c = ferry_curl_pool_take(&p->pool);

    if (c)
        return c;
    c = ferry_curl_easy(p->url, true, ferry_log_debug_enabled(MOD));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);   /* a signature binds the host */
    if (p->ca.data)
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &p->ca);
    return c;
}

/* GET bytes [OFF, OFF+LEN) into BUF; the response in *R. */
static int
s3_get(struct s3_priv *p, uint64_t off, size_t len, void *buf, struct s3_resp *r)
{
    char amz_date[32], range[80];
    time_t now = time(NULL);
    struct tm tm;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = s3_handle(p);
    CURLcode rc;

    *r = (struct s3_resp){ .buf = buf, .cap = len, .cr = { .total = -1 } };
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    FERRY_AUTOFREE char *h_date = ferry_printf("x-amz-date: %s", amz_date);
    FERRY_AUTOFREE char *h_token = p->token ? ferry_printf("x-amz-security-token: %s", p->token)
                                            : NULL;
    FERRY_AUTOFREE char *h_auth = NULL;
    hdrs = curl_slist_append(hdrs, range);
    hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: " EMPTY_SHA256);
    hdrs = curl_slist_append(hdrs, h_date);
    if (h_token)
        hdrs = curl_slist_append(hdrs, h_token);
    if (p->access_key) {
        const char *signed_hdrs[] = { "host", p->host, "x-amz-content-sha256", EMPTY_SHA256,
                                      "x-amz-date", amz_date, p->token ? "x-amz-security-token" : NULL,
                                      p->token, NULL };
        struct ferry_sigv4_request req = {
            .access_key = p->access_key, .secret_key = p->secret_key, .region = p->region,
            .service = "s3", .method = "GET", .canonical_uri = p->path, .canonical_query = "",
            .amz_date = amz_date, .payload_hash = EMPTY_SHA256, .headers = signed_hdrs,
        };
        FERRY_AUTOFREE char *auth = ferry_sigv4_authorization(&req, NULL);
        h_auth = ferry_printf("Authorization: %s", auth);
        hdrs = curl_slist_append(hdrs, h_auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    ferry_curl_deliver(c, resp_header, r, resp_write, r, errbuf);
    rc = r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    ferry_curl_deliver(c, NULL, NULL, NULL, NULL, NULL);
    curl_slist_free_all(hdrs);
    if (h_auth)
        explicit_bzero(h_auth, strlen(h_auth));
    ferry_curl_pool_give(&p->pool, c);
    __atomic_add_fetch(&p->requests, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&p->fetched, r->got, __ATOMIC_RELAXED);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->overflow)) {
        free(r->err);
        r->err = NULL;
        return ferry_error(FERRY_ERR_NETWORK, "s3 '%s' at %s: %s", p->name, p->url,
                           errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    return 0;
}

/* S3 asks clients to retry 500 InternalError and 503 SlowDown, and
 * connections drop: up to S3_TRIES tries, 1, 2, 4 ... s apart. */
#define S3_TRIES 5

static bool
s3_retryable(CURLcode rc, long code)
{
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
        rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING)
        return true;
    return rc == CURLE_OK && (code == 500 || code == 502 || code == 503 || code == 504);
}

static int
s3_get_retry(struct s3_priv *p, uint64_t off, size_t len, void *buf, struct s3_resp *r)
{
    for (int t = 1;; t++) {
        int ret = s3_get(p, off, len, buf, r);
        if (t == S3_TRIES || !s3_retryable(r->rc, r->code))
            return ret;
        ferry_log_warn("s3 '%s': bytes %llu-%llu: %s; try %d of %d in %d s", p->name,
                       (unsigned long long)off, (unsigned long long)(off + len - 1),
                       ret < 0 ? ferry_error_message() : "the server answered a 5xx", t + 1,
                       S3_TRIES, 1 << (t - 1));
        ferry_error_reset();
        if (ret == 0)
            free(r->err);
        sleep(1u << (t - 1));
    }
}

/* An answer that is not the range asked: the error, with S3's code. */
static int
s3_status_error(struct s3_priv *p, struct s3_resp *r)
{
    FERRY_AUTOFREE char *code = xml_field(r->err, "Code");
    FERRY_AUTOFREE char *msg = xml_field(r->err, "Message");
    FERRY_AUTOFREE char *detail =
        code ? ferry_printf(" (%s%s%s)", code, msg ? ": " : "", msg ? msg : "") : ferry_strdup("");
    enum ferry_err e = r->code == 404 ? FERRY_ERR_NOTFOUND : FERRY_ERR_NETWORK;

    free(r->err);
    r->err = NULL;
    if (r->code == 403)
        return ferry_error(e, "s3 '%s' at %s: access denied: the server answered 403%s", p->name,
                           p->url, detail);
    if (r->code == 301 || r->code == 307 || (r->code == 400 && r->region[0]))
        return ferry_error(e, "s3 '%s' at %s: the server answered %ld%s: the bucket is in region "
                           "'%s' (--s3-region)", p->name, p->url, r->code, detail,
                           r->region[0] ? r->region : "?");
    return ferry_error(e, "s3 '%s' at %s: the server answered %ld%s", p->name, p->url, r->code,
                       detail);
}

/* ---- the source ---------------------------------------------------------- */

static ssize_t
s3_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct s3_priv *p = src->priv;
    struct s3_resp r;

    len = ferry_source_clamp(src, off, len);
    if (len == 0)
        return 0;
    if (s3_get_retry(p, off, len, buf, &r) < 0)
        return -1;
    if (r.code != 206)
        return s3_status_error(p, &r);
    free(r.err);
    if (!r.cr.valid || (uint64_t)r.cr.first != off || (uint64_t)r.cr.last != off + len - 1 ||
        r.cr.total != src->size || r.got != len || r.overflow)
        return ferry_error(FERRY_ERR_NETWORK,
                           "s3 '%s' at %s: range %llu-%llu: the server answered 206 with %s"
                           "%lld-%lld/%lld and %zu bytes",
                           p->name, p->url, (unsigned long long)off,
                           (unsigned long long)(off + len - 1),
                           r.cr.valid ? "bytes " : "no valid Content-Range ",
                           (long long)r.cr.first, (long long)r.cr.last, (long long)r.cr.total,
                           r.got);
    return len;
}

static ssize_t
s3_read(struct ferry_source *src, void *buf, size_t len)
{
    struct s3_priv *p = src->priv;

    if (p->pos < p->win_off || p->pos >= p->win_off + p->win_len) {
        if (src->size >= 0 && p->pos >= (uint64_t)src->size)
            return 0;
        if (!p->window)
            p->window = ferry_malloc(S3_WINDOW);
        ssize_t n = s3_pread(src, p->window, S3_WINDOW, p->pos);
        if (n <= 0)
            return n;
        p->win_off = p->pos;
        p->win_len = n;
    }
    size_t have = p->win_off + p->win_len - p->pos;
    if (len > have)
        len = have;
    memcpy(buf, p->window + (p->pos - p->win_off), len);
    p->pos += len;
    return len;
}

static void
s3_close(struct ferry_source *src)
{
    struct s3_priv *p = src->priv;

    if (!p)
        return;
    ferry_log_debug(MOD, "'%s': %llu requests, %llu bytes fetched of %lld", p->name,
                    (unsigned long long)p->requests, (unsigned long long)p->fetched,
                    (long long)src->size);
    ferry_curl_pool_destroy(&p->pool);
    if (p->secret_key)
        explicit_bzero(p->secret_key, strlen(p->secret_key));
    free(p->url);
    free(p->host);
    free(p->path);
    free(p->name);
    free(p->region);
    free(p->access_key);
    free(p->secret_key);
    free(p->token);
    free(p->ca_buf);
    free(p->window);
    free(p);
    src->priv = NULL;
}

static int
s3_open(struct ferry_source *src, const char *url)
{
    struct s3_priv *p = ferry_calloc(1, sizeof(*p));
    struct s3_resp r;
    uint8_t probe[512];

    ferry_curl_pool_init(&p->pool, S3_POOL);
    src->priv = p;
    if (s3_address(p, url) < 0 || load_credentials(p) < 0 || load_cas(p) < 0)
        return -1;
    ferry_log_debug(MOD, "'%s': %s, region %s, %s", url, p->url, p->region,
                    p->access_key ? "signed" : "anonymous");
    /* The first 512 bytes, not 0-0: s3rver answers "bytes=0-0" with the
     * whole object (it takes an end of 0 for none). */
    if (s3_get_retry(p, 0, sizeof(probe), probe, &r) < 0)
        return -1;
    if (r.code == 416 && r.cr.total >= 0) {
        src->size = r.cr.total;   /* an empty object */
    } else if (r.code == 206 && r.cr.valid && r.cr.first == 0 && r.cr.total > 0 &&
               r.cr.last == (r.cr.total < (int64_t)sizeof(probe) ? r.cr.total
                                                                 : (int64_t)sizeof(probe)) - 1 &&
               r.got == (size_t)r.cr.last + 1) {
        src->size = r.cr.total;
    } else if (r.code == 206) {
        free(r.err);
        return ferry_error(FERRY_ERR_NETWORK,
                           "s3 '%s' at %s: the server answered 206 to the range 0-%zu without "
                           "the matching 'Content-Range: bytes 0-N/SIZE'",
                           p->name, p->url, sizeof(probe) - 1);
    } else if (r.code == 200) {
        free(r.err);
        return ferry_error(FERRY_ERR_NETWORK,
                           "s3 '%s' at %s: the server ignores Range requests (answered 200)",
                           p->name, p->url);
    } else {
        return s3_status_error(p, &r);
    }
    free(r.err);
    src->seekable = true;
    return 0;
}

static const char *const s3_schemes[] = { "s3://", "s3+http://", "s3+https://", NULL };

const struct ferry_source_ops ferry_source_s3 = {
    .name = "s3",
    .help = "an S3 object (SigV4-signed Range requests; path- or virtual-hosted-style)",
    .schemes = s3_schemes,
    .options = s3_options,
    .config = s3_config,
    .dv_source = "s3",
    .needs_network = ferry_remote_needs_network,
    .handles = s3_handles,
    .open = s3_open,
    .read = s3_read,
    .pread = s3_pread,
    .close = s3_close,
};
