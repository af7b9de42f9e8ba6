/* The vmware source: a disk on an ESXi host's or vCenter's datastore, read
 * over VMware's "HTTP access to datastore files" (/folder): no VDDK, no
 * SOAP.  A URL
 *
 *     vmware://HOST[:PORT]/folder/PATH?dcPath=DC&dsName=DS   (as the API has it)
 *     vmware://HOST[:PORT]/DS/PATH[?dcPath=DC]               ("[DS] PATH"; DC: ha-datacenter)
 *
 * is read as https://HOST[:PORT]/folder/PATH?dcPath=DC&dsName=DS.  The first
 * request carries Basic credentials; the server's vmware_soap_session
 * cookie is then sent instead, shared by the descriptor and its extents,
 * and a 401 on it (the session expired: ESXi drops idle sessions after 30
 * minutes) logs in again once.  Every read is a Range request (ESXi serves
 * them; a server that answers 200 is refused).  The descriptor's extents
 * (-flat.vmdk, -sNNN.vmdk ...) are siblings under the rules of local files
 * (ferry_check_relname: relative, no "..", no absolute path), fetched from
 * the descriptor's own folder with the same dcPath and dsName; the vmdk
 * format parses the descriptor and refuses delta disks (snapshots: import
 * the consolidated disk, or the base before the snapshot). */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/sources/curl-common.h"
#include "importer/sources/remote-common.h"

#define MOD "importer.vmware"
#define POOL 8
#define COOKIE_NAME "vmware_soap_session"

/* ---- options ------------------------------------------------------------- */

static struct {
    char *secret_dir;
    char *ca_path;
    bool insecure;
    uint8_t thumbprint[32];       /* SHA-1 (20 bytes) or SHA-256 of the certificate */
    size_t thumbprint_len;
} opt;

static const struct ferry_source_option vmware_options[] = {
    { "vmware-secret-dir", "DIR",
      "credentials for the ESXi host or vCenter: files\n"
      "accessKeyId (user) and secretKey (password); default:\n"
      "IMPORTER_ACCESS_KEY_ID and IMPORTER_SECRET_KEY" },
    { "vmware-ca", "PATH",
      "CA certificates (a PEM file or a directory of them)\nadded to the system roots; "
      "default: IMPORTER_CERT_DIR" },
    { "vmware-thumbprint", "HEX",
      "trust the server whose certificate has this SHA-1 (as\n"
      "CDI's vddk thumbprint) or SHA-256 fingerprint instead of CAs;\n"
      "default: IMPORTER_THUMBPRINT" },
    { "vmware-insecure", NULL, "do not verify the server's TLS certificate" },
    { NULL },
};

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "AA:BB:..." or "aabb..." -> 20 or 32 bytes. */
static int
parse_thumbprint(const char *what, const char *value)
{
    size_t n = 0;

    for (const char *c = value; *c; c++) {
        if (*c == ':')
            continue;
        int hi = hexval(c[0]), lo = c[1] ? hexval(c[1]) : -1;
        if (hi < 0 || lo < 0 || n == sizeof(opt.thumbprint))
            return ferry_error(FERRY_ERR_INVALID,
                               "%s '%s': expected a SHA-1 or SHA-256 fingerprint in hex "
                               "(colons allowed)",
                               what, value);
        opt.thumbprint[n++] = hi << 4 | lo;
        c++;
    }
    if (n != 20 && n != 32)
        return ferry_error(FERRY_ERR_INVALID,
                           "%s '%s': %zu bytes, expected a SHA-1 (20) or SHA-256 (32) fingerprint",
                           what, value, n);
    opt.thumbprint_len = n;
    return 0;
}

static int
vmware_config(const char *name, const char *value)
{
    if (strcmp(name, "vmware-insecure") == 0) {
        opt.insecure = true;
    } else if (strcmp(name, "vmware-secret-dir") == 0) {
        ferry_source_option_string(&opt.secret_dir, value);
    } else if (strcmp(name, "vmware-ca") == 0) {
        ferry_source_option_string(&opt.ca_path, value);
    } else if (strcmp(name, "vmware-thumbprint") == 0) {
        return parse_thumbprint("--vmware-thumbprint", value);
    }
    return 0;
}

/* ---- the session, shared by a descriptor and its extents ------------------ */

struct vmw_session {
    pthread_mutex_t lock;
    unsigned refs;
    char *user, *password;
    char *cookie;                 /* "vmware_soap_session=\"...\"", NULL: log in */
    char *ca;
    size_t ca_len;
    char *pin;                    /* "sha256//..." of the thumbprinted server's key */
    unsigned logins;
    /* Kept-alive connections to the server, shared by every file of the
     * disk (a twoGbMaxExtent disk of 2 TiB has a thousand extents). */
    struct ferry_curl_pool pool;
};

static void
session_unref(struct vmw_session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    unsigned left = --s->refs;
    pthread_mutex_unlock(&s->lock);
    if (left)
        return;
    free(s->user);
    if (s->password)
        explicit_bzero(s->password, strlen(s->password));
    free(s->password);
    free(s->cookie);
    free(s->ca);
    free(s->pin);
    ferry_curl_pool_destroy(&s->pool);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct vmw_priv {
    struct vmw_session *s;
    char *https;                  /* https://HOST/folder/PATH?QUERY */
    char *origin;                 /* https://HOST[:PORT] */
    char *dir;                    /* /folder/DIR/ (encoded), for siblings */
    char *query;                  /* "dcPath=...&dsName=..." */
    char *vhost;                  /* HOST[:PORT] of the vmware:// URL */
    uint64_t cursor;              /* read() */
};

static bool
vmware_handles(const char *url)
{
    return ferry_str_has_prefix(url, "vmware://");
}

/* ---- URLs ---------------------------------------------------------------- */

/* A path below a folder, as the server will see it once it decodes
 * percent-escapes: no "." or ".." component, no NUL, '#' or backslash. */
static bool
path_ok(const char *path)
{
    FERRY_AUTOFREE char *dec = ferry_malloc(strlen(path) + 1);
    size_t n = 0;

    for (const char *c = path; *c; c++) {
        int hi, lo;
        if (c[0] == '%' && (hi = hexval(c[1])) >= 0 && (lo = hexval(c[2])) >= 0) {
            dec[n++] = hi << 4 | lo;
            c += 2;
        } else {
            dec[n++] = *c;
        }
        if (dec[n - 1] == '\0')
            return false;
    }
    dec[n] = '\0';
    FERRY_AUTOSTRV char **parts = ferry_strv_split(dec, "/");
    if (!parts || !parts[0])
        return false;
    for (char **q = parts; *q; q++)
        if (strcmp(*q, "..") == 0 || strcmp(*q, ".") == 0)
            return false;
    return !strpbrk(dec, "#\\");
}

/* Value of KEY in QUERY ("a=1&b=2"), malloc'd, or NULL. */
static char *
query_get(const char *query, const char *key)
{
    size_t kl = strlen(key);

    for (const char *q = query; q && *q;) {
        size_t n = strcspn(q, "&");
        if (n > kl && strncmp(q, key, kl) == 0 && q[kl] == '=')
            return ferry_strndup(q + kl + 1, n - kl - 1);
        q += n;
        if (*q == '&')
            q++;
    }
    return NULL;
}

/* vmware://... -> the pieces of the https URL. */
static int
parse_url(const char *url, struct vmw_priv *p)
{
    const char *rest = url + strlen("vmware://");
    size_t hl = strcspn(rest, "/?#");
    const char *path = rest + hl, *q = strchr(path, '?');
    FERRY_AUTOFREE char *host = ferry_strndup(rest, hl);
    FERRY_AUTOFREE char *p1 = ferry_strndup(path, q ? (size_t)(q - path) : strlen(path));
    const char *query = q ? q + 1 : "";

    if (!host[0] || strpbrk(host, "@ \t"))
        return ferry_error(FERRY_ERR_INVALID,
                           "vmware '%s': expected vmware://HOST[:PORT]/folder/PATH?dcPath=DC&"
                           "dsName=DS or vmware://HOST[:PORT]/DATASTORE/PATH (credentials go in "
                           "--vmware-secret-dir, not in the URL)",
                           url);
    if (strchr(query, '#') || strchr(path, '#'))
        return ferry_error(FERRY_ERR_INVALID, "vmware '%s': a URL with a fragment ('#')", url);
    p->vhost = ferry_strdup(host);
    p->origin = ferry_printf("https://%s", host);
    if (ferry_str_has_prefix(p1, "/folder/")) {
        /* The API's own form: kept as given (already encoded). */
        const char *file = p1 + strlen("/folder/");
        if (!path_ok(file) || ferry_str_has_suffix(file, "/"))
            return ferry_error(FERRY_ERR_INVALID,
                               "vmware '%s': the path '%s' must name a file below /folder/ "
                               "(no '.', '..', '#' or backslash)",
                               url, file);
        FERRY_AUTOFREE char *ds = query_get(query, "dsName");
        if (!ds || !ds[0])
            ferry_log_debug(MOD, "'%s': no dsName: the server's default datastore", url);
        p->query = ferry_strdup(query);
        p->https = ferry_printf("%s%s%s%s", p->origin, p1, query[0] ? "?" : "", query);
        size_t d = strrchr(p1, '/') - p1 + 1;
        p->dir = ferry_strndup(p1, d);
        return 0;
    }
    /* vmware://HOST/DATASTORE/PATH: the datastore path "[DATASTORE] PATH". */
    const char *ds = p1[0] == '/' ? p1 + 1 : p1;
    size_t dl = strcspn(ds, "/");
    const char *file = ds + dl;
    if (dl == 0 || *file != '/' || !path_ok(file + 1) || ferry_str_has_suffix(file, "/"))
        return ferry_error(FERRY_ERR_INVALID,
                           "vmware '%s': expected vmware://HOST[:PORT]/DATASTORE/PATH/DISK.vmdk "
                           "or vmware://HOST[:PORT]/folder/PATH?dcPath=DC&dsName=DS",
                           url);
    FERRY_AUTOFREE char *dc = query_get(query, "dcPath");
    for (const char *k = query; *k;) {
        size_t n = strcspn(k, "&");
        if (n && !(n > 7 && strncmp(k, "dcPath=", 7) == 0))
            return ferry_error(FERRY_ERR_INVALID,
                               "vmware '%s': unknown query parameter '%.*s' (the DATASTORE/PATH "
                               "form takes dcPath only)",
                               url, (int)n, k);
        k += n;
        if (*k == '&')
            k++;
    }
    FERRY_AUTOFREE char *dsname = ferry_strndup(ds, dl);
    FERRY_AUTOFREE char *eds = ferry_remote_escape(dsname, false);
    FERRY_AUTOFREE char *efile = ferry_remote_escape(file + 1, true);
    p->query = ferry_printf("dcPath=%s&dsName=%s", dc ? dc : "ha-datacenter", eds);
    p->https = ferry_printf("%s/folder/%s?%s", p->origin, efile, p->query);
    const char *slash = strrchr(efile, '/');
    p->dir = ferry_printf("/folder/%.*s", slash ? (int)(slash - efile + 1) : 0, efile);
    return 0;
}

/* ---- one request, logging in when the session is gone -------------------- */

struct req {
    struct ferry_range_get g;     /* first: the header callback gets it */
    char *cookie;                 /* a new session cookie from Set-Cookie */
};

static size_t
req_header(char *buf, size_t size, size_t n, void *opaque)
{
    struct req *r = opaque;
    size_t len = size * n;
    static const char sc[] = "Set-Cookie:";

    ferry_range_get_header(buf, size, n, &r->g);
    if (len > sizeof(sc) && strncasecmp(buf, sc, sizeof(sc) - 1) == 0) {
        const char *v = buf + sizeof(sc) - 1;
        const char *end = buf + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        size_t vl = 0;
        while (v + vl < end && v[vl] != ';' && v[vl] != '\r' && v[vl] != '\n')
            vl++;
        if (vl > strlen(COOKIE_NAME) + 1 && strncmp(v, COOKIE_NAME "=", strlen(COOKIE_NAME) + 1) == 0 &&
            vl < 4096) {
            free(r->cookie);
            r->cookie = ferry_strndup(v, vl);
        }
    }
    return len;
}

static CURL *
take_handle(struct vmw_priv *p)
{
    CURL *c = ferry_curl_pool_take(&p->s->pool);

    /* With a thumbprint, the key of the certificate it named, checked in
     * every handshake before anything is sent. */
    return c ? c
             : ferry_remote_https_handle(p->https, ferry_log_debug_enabled(MOD), p->s->ca,
                                         p->s->ca_len, opt.insecure, p->s->pin);
}

/* GET RANGE ("a-b") of the file into BUF (LEN bytes): 206 with exactly
 * those bytes, of a file of TOTAL bytes (-1: learn it; *ret_total). */
static int
vmw_get_range(struct ferry_source *src, uint64_t off, void *buf, size_t len, int64_t *ret_total)
{
    struct vmw_priv *p = src->priv;
    struct vmw_session *s = p->s;
    CURL *c = take_handle(p);
    int r = -1;

    for (int attempt = 0;; attempt++) {
        struct req q = { 0 };

        pthread_mutex_lock(&s->lock);
        FERRY_AUTOFREE char *cookie = ferry_strdup(s->cookie);
        pthread_mutex_unlock(&s->lock);
        if (cookie) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_NONE);
            curl_easy_setopt(c, CURLOPT_USERNAME, NULL);
            curl_easy_setopt(c, CURLOPT_PASSWORD, NULL);
            curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
        } else {
            curl_easy_setopt(c, CURLOPT_COOKIE, NULL);
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
            curl_easy_setopt(c, CURLOPT_PASSWORD, s->password);
        }
        curl_easy_setopt(c, CURLOPT_URL, p->https);
        ferry_range_get(&q.g, c, off, buf, len, req_header);
        long code = q.g.code;
        const char *range = q.g.range;
        curl_easy_setopt(c, CURLOPT_COOKIE, NULL);
        curl_easy_setopt(c, CURLOPT_USERNAME, NULL);
        curl_easy_setopt(c, CURLOPT_PASSWORD, NULL);

        if (code == 401 && cookie && attempt == 0) {
            /* The session expired: log in again (once), unless another
             * thread already did. */
            pthread_mutex_lock(&s->lock);
            if (ferry_str_eq(s->cookie, cookie)) {
                free(s->cookie);
                s->cookie = NULL;
            }
            pthread_mutex_unlock(&s->lock);
            ferry_log_debug(MOD, "'%s': the session cookie was refused (401): logging in again",
                            src->url);
            free(q.cookie);
            continue;
        }
        if (q.cookie) {
            pthread_mutex_lock(&s->lock);
            free(s->cookie);
            s->cookie = FERRY_STEAL(q.cookie);
            s->logins++;
            pthread_mutex_unlock(&s->lock);
            ferry_log_debug(MOD, "'%s': logged in as '%s' (session cookie %u)", src->url, s->user,
                            s->logins);
        }
        free(q.cookie);
        if (ferry_range_get_failed(&q.g)) {
            ferry_error(FERRY_ERR_NETWORK, "vmware '%s': range %s: %s", src->url, range,
                        ferry_range_get_error(&q.g));
        } else if (code == 401) {
            ferry_error(FERRY_ERR_INVALID,
                        "vmware '%s': the server refused the user '%s' (401): wrong user name or "
                        "password, or no Datastore.Browse privilege",
                        src->url, s->user);
        } else if (code == 404) {
            ferry_error(FERRY_ERR_NOTFOUND,
                        "vmware '%s': not found on the datastore (404; check the path, dcPath "
                        "and dsName)",
                        src->url);
        } else if (code == 200) {
            ferry_error(FERRY_ERR_UNSUPPORTED,
                        "vmware '%s': the server answered 200 to a Range request: random access "
                        "is needed",
                        src->url);
        } else if (code != 206) {
            ferry_error(FERRY_ERR_NETWORK, "vmware '%s': range %s: the server answered %ld%s%.80s",
                        src->url, range, code, q.g.body_len ? ": " : "", q.g.body);
        } else if (!ferry_range_get_exact(&q.g, off) || q.g.cr.total < 0 ||
                   (*ret_total >= 0 && q.g.cr.total != *ret_total)) {
            ferry_error(FERRY_ERR_NETWORK,
                        "vmware '%s': range %s: the server answered 206 with %s%lld-%lld/%lld and "
                        "%zu bytes, expected 'bytes %s/%lld' and %zu bytes",
                        src->url, range, q.g.cr.valid ? "bytes " : "no valid Content-Range ",
                        (long long)q.g.cr.first, (long long)q.g.cr.last, (long long)q.g.cr.total,
                        q.g.got, range, (long long)*ret_total, len);
        } else {
            *ret_total = q.g.cr.total;
            r = 0;
        }
        break;
    }
    ferry_curl_pool_give(&p->s->pool, c);
    return r;
}

/* ---- the source ---------------------------------------------------------- */

/* What parse_url fills in. */
static void
free_url(struct vmw_priv *p)
{
    free(p->https);
    free(p->origin);
    free(p->dir);
    free(p->query);
    free(p->vhost);
}

static void
vmware_close(struct ferry_source *src)
{
    struct vmw_priv *p = src->priv;

    if (!p)
        return;
    session_unref(p->s);
    free_url(p);
    free(p);
    src->priv = NULL;
}

static int vmware_open_sibling(struct ferry_source *src, const char *relname,
                               struct ferry_source **ret);

/* The size, through a Range request for the first byte (also the login). */
static int
vmware_start(struct ferry_source *src)
{
    uint8_t byte;
    int64_t total = -1;

    if (vmw_get_range(src, 0, &byte, 1, &total) < 0) {
        /* An empty file answers 416: there is nothing to import in it. */
        return -1;
    }
    src->size = total;
    src->seekable = true;
    src->open_sibling = vmware_open_sibling;
    ferry_log_debug(MOD, "'%s': %lld bytes", src->url, (long long)total);
    return 0;
}

static char *
hex_colons(const uint8_t *b, size_t n)
{
    char *out = ferry_malloc(n * 3 + 1);

    for (size_t i = 0; i < n; i++)
        sprintf(out + i * 3, "%02X%s", b[i], i + 1 < n ? ":" : "");
    return out;
}

/* With a thumbprint: one request without credentials and without
 * verification, only for the server's certificate; when its fingerprint
 * is the one given, its public key is pinned for every later connection
 * (CURLOPT_PINNEDPUBLICKEY fails the handshake of any other key, before
 * credentials are sent). */
static int
pin_thumbprint(struct ferry_source *src, struct vmw_priv *p)
{
    CURL *c = ferry_curl_easy(p->origin, false, ferry_log_debug_enabled(MOD));
    FERRY_AUTOFREE char *root = ferry_printf("%s/", p->origin);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_certinfo *ci = NULL;
    const char *pem = NULL;
    int r = -1;

    curl_easy_setopt(c, CURLOPT_URL, root);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        ferry_error(FERRY_ERR_NETWORK, "vmware '%s': %s: %s", src->url, root,
                    errbuf[0] ? errbuf : curl_easy_strerror(rc));
        goto cleanup;
    }
    if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci && ci->num_of_certs > 0)
        for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next)
            if (ferry_str_has_prefix(l->data, "Cert:"))
                pem = l->data + strlen("Cert:");
    BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x) {
        ferry_error(FERRY_ERR_NETWORK, "vmware '%s': no server certificate to check the "
                    "thumbprint against", src->url);
        goto cleanup;
    }
    uint8_t md[EVP_MAX_MD_SIZE], key[32];
    unsigned mdlen = 0, keylen = 0;
    uint8_t *der = NULL;
    int dlen = i2d_PUBKEY(X509_get0_pubkey(x), &der);
    X509_digest(x, opt.thumbprint_len == 20 ? EVP_sha1() : EVP_sha256(), md, &mdlen);
    X509_free(x);
    if (mdlen != opt.thumbprint_len || memcmp(md, opt.thumbprint, mdlen) != 0) {
        FERRY_AUTOFREE char *got = hex_colons(md, mdlen);
        FERRY_AUTOFREE char *want = hex_colons(opt.thumbprint, opt.thumbprint_len);
        ferry_error(FERRY_ERR_SECURITY,
                    "vmware '%s': the server's certificate has the thumbprint %s, not %s", src->url,
                    got, want);
        OPENSSL_free(der);
        goto cleanup;
    }
    if (dlen <= 0 || !EVP_Digest(der, dlen, key, &keylen, EVP_sha256(), NULL)) {
        OPENSSL_free(der);
        ferry_error(FERRY_ERR_INTERNAL, "vmware '%s': cannot hash the server's key", src->url);
        goto cleanup;
    }
    OPENSSL_free(der);
    char b64[64];
    EVP_EncodeBlock((unsigned char *)b64, key, 32);
    p->s->pin = ferry_printf("sha256//%s", b64);
    ferry_log_debug(MOD, "'%s': thumbprint matches; key pinned (%s)", src->url, p->s->pin);
    r = 0;
cleanup:
    curl_easy_cleanup(c);
    return r;
}

static int
vmware_open(struct ferry_source *src, const char *url)
{
    struct vmw_priv *p = ferry_calloc(1, sizeof(*p));
    struct vmw_session *s = ferry_calloc(1, sizeof(*s));

    pthread_mutex_init(&s->lock, NULL);
    ferry_curl_pool_init(&s->pool, POOL);
    s->refs = 1;
    p->s = s;
    src->priv = p;
    if (parse_url(url, p) < 0)
        return -1;
    FERRY_AUTOFREE char *what = ferry_printf("vmware '%s'", url);
    if (ferry_remote_credentials(what, "--vmware-secret-dir", opt.secret_dir, &s->user,
                                 &s->password) < 0)
        return -1;
    if (ferry_remote_ca_option("--vmware-ca", opt.ca_path, &s->ca, &s->ca_len) < 0)
        return -1;
    const char *tp = getenv("IMPORTER_THUMBPRINT");
    if (!opt.thumbprint_len && tp && *tp && parse_thumbprint("IMPORTER_THUMBPRINT", tp) < 0)
        return -1;
    if (opt.thumbprint_len && !opt.insecure && pin_thumbprint(src, p) < 0)
        return -1;
    ferry_log_debug(MOD, "'%s': %s", url, p->https);
    return vmware_start(src);
}

static ssize_t
vmware_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    int64_t total = src->size;

    len = ferry_source_clamp(src, off, len);
    if (len == 0)
        return 0;
    if (vmw_get_range(src, off, buf, len, &total) < 0)
        return -1;
    return len;
}

static ssize_t
vmware_read(struct ferry_source *src, void *buf, size_t len)
{
    return ferry_remote_read(src, buf, len, 8u << 20, &((struct vmw_priv *)src->priv)->cursor,
                             vmware_pread);
}

/* An extent named by the descriptor: in the descriptor's folder (or below
 * it), same datastore, same session. */
static int
vmware_open_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    struct vmw_priv *p = src->priv;

    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    if (!path_ok(relname))
        return ferry_error(FERRY_ERR_SECURITY,
                           "'%s': refusing '%s' (a '.' or '..' component once decoded, '#' or "
                           "a NUL)",
                           src->url, relname);
    FERRY_AUTOFREE char *enc = ferry_remote_escape(relname, true);
    const char *qm = p->query[0] ? "?" : "";
    FERRY_AUTOFREE char *url =
        ferry_printf("vmware://%s%s%s%s%s", p->vhost, p->dir, enc, qm, p->query);
    FERRY_IMP_AUTO(ferry_source) struct ferry_source *sib = ferry_source_new(src->ops, url);
    struct vmw_priv *q = ferry_calloc(1, sizeof(*q));

    pthread_mutex_lock(&p->s->lock);
    p->s->refs++;
    pthread_mutex_unlock(&p->s->lock);
    q->s = p->s;
    q->vhost = ferry_strdup(p->vhost);
    q->origin = ferry_strdup(p->origin);
    q->query = ferry_strdup(p->query);
    q->https = ferry_printf("%s%s%s%s%s", p->origin, p->dir, enc, qm, p->query);
    q->dir = ferry_strdup(p->dir);
    sib->priv = q;
    if (vmware_start(sib) < 0)
        return -1;
    /* Extents are leaves: they name no further files. */
    sib->open_sibling = NULL;
    *ret = FERRY_STEAL(sib);
    return 0;
}

int
ferry_vmware_url_from_cdi(const char *endpoint, const char *backing_file, char **ret_url)
{
    const char *rest = endpoint && ferry_str_has_prefix(endpoint, "https://")
                           ? endpoint + strlen("https://")
                           : NULL;
    const char *b = backing_file;
    size_t hl = rest ? strcspn(rest, "/?#") : 0;

    /* "[datastore1] vm/vm.vmdk" */
    if (!rest || hl == 0 || !b || b[0] != '[' || !strchr(b, ']'))
        return ferry_error(FERRY_ERR_INVALID,
                           "vmware endpoint '%s', backing file '%s': expected https://HOST[/sdk] "
                           "and a datastore path '[DATASTORE] PATH/DISK.vmdk'",
                           endpoint ? endpoint : "", backing_file ? backing_file : "");
    const char *close = strchr(b, ']');
    FERRY_AUTOFREE char *ds = ferry_strndup(b + 1, close - b - 1);
    const char *path = close + 1;
    while (*path == ' ')
        path++;
    if (!ds[0] || strchr(ds, '/') || !*path || !path_ok(path))
        return ferry_error(FERRY_ERR_INVALID,
                           "vmware backing file '%s': expected '[DATASTORE] PATH/DISK.vmdk'",
                           backing_file);
    FERRY_AUTOFREE char *eds = ferry_remote_escape(ds, false);
    FERRY_AUTOFREE char *epath = ferry_remote_escape(path, true);
    FERRY_AUTOFREE char *url = ferry_printf("vmware://%.*s/%s/%s", (int)hl, rest, eds, epath);
    /* Only a URL the source itself reads (the host, above all). */
    struct vmw_priv check = { 0 };
    int r = parse_url(url, &check);
    free_url(&check);
    if (r < 0)
        return ferry_error_prefix("vmware endpoint '%s'", endpoint);
    *ret_url = FERRY_STEAL(url);
    return 0;
}

static const char *const vmware_schemes[] = { "vmware://", NULL };

const struct ferry_source_ops ferry_source_vmware = {
    .name = "vmware",
    .help = "a VMDK on an ESXi/vCenter datastore over https (/folder, no VDDK): "
            "vmware://HOST[:PORT]/DATASTORE/PATH.vmdk[?dcPath=DC] or "
            "vmware://HOST[:PORT]/folder/PATH?dcPath=DC&dsName=DS",
    .schemes = vmware_schemes,
    .options = vmware_options,
    .config = vmware_config,
    .needs_network = ferry_remote_needs_network,
    .handles = vmware_handles,
    .open = vmware_open,
    .read = vmware_read,
    .pread = vmware_pread,
    .close = vmware_close,
};
