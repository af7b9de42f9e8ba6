/* The registry source: a containerDisk from an OCI/Docker registry
 * (docker://host[:port]/repo[:tag|@digest]) or from a tarred OCI image
 * layout (oci-archive:PATH[:REF]).
 *
 * Pull: GET /v2/ (200, or a 401 challenge: Basic, or Bearer with a token
 * from the realm, which must be on the registry's own origin unless
 * --token-origin names it) -> the manifest by tag or digest, asking for the
 * four manifest types (OCI manifest and index, Docker schema2 and manifest
 * list) -> for an index, the entry of the wanted platform (linux/amd64 unless
 * --platform) -> config and layers.  Every blob (manifests fetched by
 * digest, the config, every layer) is hashed (sha256/sha512, libcrypto) and
 * counted while it streams; more bytes than its descriptor says, fewer, or
 * another digest fail the import before it succeeds, and a layer declared
 * larger than the volume (--size) plus 1 GiB is refused before a byte of it
 * is fetched.
 *
 * Which file is the disk (KubeVirt's union view, not CDI's first match):
 * the image's root file system is the union of its layers with whiteouts
 * applied (".wh.NAME" hides NAME of lower layers, ".wh..wh..opq" all lower
 * entries of its directory), and its /disk directory must hold exactly one
 * entry, a regular file: that file is the disk, as KubeVirt's container-disk
 * runtime demands ("only one disk is allowed").  CDI instead takes the first
 * entry named disk* scanning layers base first and never sees later
 * overwrites or whiteouts; for the usual image (one file in /disk) both pick
 * the same file.  Layers are read top first, so the disk's layer is found
 * without reading it twice: its tar (plain, gzip or zstd, by content)
 * streams through libarchive straight into the importer's pipeline, no
 * scratch copy of the layer; the rest of that layer and every lower layer
 * are then read to the end (digests, and a second file in /disk is an
 * error) before the source reports its end.  Symbolic and hard links are
 * never followed: one in /disk (or /disk itself a link) is refused, as is
 * any member path with a ".." component.
 *
 * Credentials: --secret-dir DIR with accessKeyId and secretKey files (the
 * keys of CDI's registry secret), or --auth-file (docker's config.json,
 * containers' auth.json).  Transport: https with verification; registries
 * on loopback (localhost, 127.0.0.0/8, ::1) and --insecure ones fall back
 * to plain http, as Docker does.  Network: the source needs TCP sockets
 * (connect to the registry and, after redirects, blob hosts) and DNS. */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/registry.h"
#include "importer/sources/curl-common.h"
#include "importer/sources/remote-common.h"

#define MOD "importer.registry"
#define MAX_MANIFEST (4u << 20)
#define MAX_CONFIG (4u << 20)
#define MAX_LAYERS 256
#define BLOB_BUF (1u << 20)
#define LAYER_SLACK (UINT64_C(1) << 30)

static const char *const manifest_types[] = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    NULL,
};
#define TYPE_OCI_MANIFEST manifest_types[0]
#define TYPE_OCI_INDEX manifest_types[1]
#define TYPE_DOCKER_MANIFEST manifest_types[2]
#define TYPE_DOCKER_LIST manifest_types[3]

/* ---- options ------------------------------------------------------------- */

static struct {
    char *os, *arch, *variant; /* NULL arch: linux/amd64, unchecked */
    char *secret_dir;
    char *auth_file;
    char *token_origin;
    bool insecure;
    uint64_t volume;
} opt;

/* The source's own options (struct ferry_source_option): main.c takes them
 * out of the command line and hands each to registry_config. */
static const struct ferry_source_option registry_options[] = {
    { "platform", "OS/ARCH[/VARIANT]",
      "the image of an index to import (default\nlinux/amd64); also checked against the config" },
    { "secret-dir", "DIR", "credentials: files accessKeyId and secretKey" },
    { "auth-file", "PATH", "credentials from docker's config.json / auth.json" },
    { "token-origin", "URL", "allow a Bearer token endpoint on this other origin" },
    { "insecure", NULL, "plain http, or https without verification" },
    { NULL, NULL, NULL },
};

static int
registry_config(const char *name, const char *value)
{
    if (strcmp(name, "insecure") == 0) {
        opt.insecure = true;
    } else if (strcmp(name, "platform") == 0) {
        FERRY_AUTOSTRV char **p = ferry_strv_split(value, "/");
        size_t n = ferry_strv_len(p);
        if (n < 2 || n > 3 || strchr(value, ' '))
            return ferry_error(FERRY_ERR_INVALID,
                               "--platform '%s': expected OS/ARCH[/VARIANT], e.g. linux/arm64",
                               value);
        free(opt.os);
        free(opt.arch);
        free(opt.variant);
        opt.os = ferry_strdup(p[0]);
        opt.arch = ferry_strdup(p[1]);
        opt.variant = n == 3 ? ferry_strdup(p[2]) : NULL;
    } else if (strcmp(name, "secret-dir") == 0) {
        ferry_source_option_string(&opt.secret_dir, value);
    } else if (strcmp(name, "auth-file") == 0) {
        ferry_source_option_string(&opt.auth_file, value);
    } else if (strcmp(name, "token-origin") == 0) {
        if (!ferry_str_has_prefix(value, "https://") && !ferry_str_has_prefix(value, "http://"))
            return ferry_error(FERRY_ERR_INVALID,
                               "--token-origin '%s': expected https://HOST[:PORT]", value);
        ferry_source_option_string(&opt.token_origin, value);
    } else {
        return ferry_error(FERRY_ERR_INVALID, "option '--%s' is unknown", name);
    }
    return 0;
}

/* The volume size (--size): layers declared larger than it plus 1 GiB are
 * refused before any byte is fetched.  0: no bound but the 64 TiB one. */
static void
registry_volume_size(uint64_t size)
{
    opt.volume = size;
}

/* ---- small helpers ------------------------------------------------------- */

static bool
valid_digest(const char *d)
{
    size_t hexlen;
    const char *hex;

    if (ferry_str_has_prefix(d, "sha256:"))
        hexlen = 64;
    else if (ferry_str_has_prefix(d, "sha512:"))
        hexlen = 128;
    else
        return false;
    hex = strchr(d, ':') + 1;
    if (strlen(hex) != hexlen)
        return false;
    for (const char *c = hex; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static EVP_MD_CTX *
digest_new(const char *digest)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    if (!md)
        ferry_oom();
    EVP_DigestInit_ex(md, ferry_str_has_prefix(digest, "sha512:") ? EVP_sha512() : EVP_sha256(),
                      NULL);
    return md;
}

/* "sha256:<hex>" of what MD saw; frees MD. */
static char *
digest_finish(EVP_MD_CTX *md, const char *alg)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *s;

    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
    s = ferry_malloc(strlen(alg) + 2 + 2 * len);
    size_t n = sprintf(s, "%s:", alg);
    for (unsigned i = 0; i < len; i++)
        n += sprintf(s + n, "%02x", out[i]);
    return s;
}

static char *
digest_of(const char *alg, const void *buf, size_t len)
{
    EVP_MD_CTX *md = digest_new(strcmp(alg, "sha512") == 0 ? "sha512:" : "sha256:");

    EVP_DigestUpdate(md, buf, len);
    return digest_finish(md, alg);
}

static char *
digest_alg(const char *digest)
{
    return ferry_strndup(digest, strchr(digest, ':') - digest);
}

/* Repository names of the distribution spec: lower-case components
 * separated by '/', each [a-z0-9]+ joined by '.', '_', '__' or '-'s. */
static bool
valid_repo(const char *r)
{
    FERRY_AUTOSTRV char **parts = NULL;

    if (!r[0] || r[0] == '/' || ferry_str_has_suffix(r, "/") || strstr(r, "//") || strlen(r) > 255)
        return false;
    parts = ferry_strv_split(r, "/");
    for (char **p = parts; p && *p; p++) {
        const char *c = *p;
        if (!isdigit((unsigned char)c[0]) && !islower((unsigned char)c[0]))
            return false;
        for (; *c; c++) {
            if (isdigit((unsigned char)*c) || islower((unsigned char)*c))
                continue;
            if (*c != '.' && *c != '_' && *c != '-')
                return false;
            if (!c[1])
                return false;
            if (*c == '.' && !isalnum((unsigned char)c[1]))
                return false;
        }
    }
    return true;
}

static bool
valid_tag(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return false;
    for (const char *c = t; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' && *c != '-')
            return false;
    return true;
}

/* ---- the source's state -------------------------------------------------- */

struct desc {
    char *digest;
    uint64_t size;
    char *media_type;
};

/* One blob being read: raw bytes from HTTP (curl multi, paused when the
 * buffer is full) or from the entry of an oci-archive; counted and hashed
 * as they pass. */
struct blob {
    struct reg *r;
    char *what; /* "layer 2 (sha256:...)" for messages */
    char *digest;
    uint64_t size, got;
    EVP_MD_CTX *md;
    bool verified;

    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    uint8_t *buf;
    size_t len, cap;
    bool paused, done, overflow, retried;
    uint64_t range_from; /* a resumed GET: Range from here, 206 expected */
    int64_t range_start; /* the answer's Content-Range start, -1: none */
    bool bad_range;
    unsigned resumes;
    CURLcode result;
    char errbody[512];
    size_t errlen;

    struct archive *outer; /* oci-archive */
};

/* The union of the layers above the one being read. */
struct unionfs {
    char **hidden;   /* whiteouts: these paths and below */
    char **opaque;   /* directories whose lower entries are hidden */
    char **children; /* names seen in /disk (topmost wins) */
    bool disk_dir;   /* an upper layer has /disk as a directory */
    char *disk;      /* "disk/NAME", the disk, once found */
};

struct layer {
    int index; /* 1 = base */
    struct blob *blob;
    struct archive *a;
    char **hidden, **opaque; /* this layer's whiteouts, for lower layers */
    bool disk_dir;
};

struct reg {
    char *url;
    bool oci;
    /* docker:// */
    char *host; /* as written (host[:port]); docker.io for the hub */
    char *api;  /* scheme://host[:port] of the API */
    char *repo;
    char *ref;               /* tag or digest */
    char *auth;              /* "Authorization: ..." or NULL */
    char *challenge;         /* Bearer parameters, to renew the token */
    uint64_t token_deadline; /* monotonic ns after which it is renewed */
    char *user, *pass;
    /* oci-archive: */
    char *path;
    int fd; /* kept open: read again for each blob, no path lookups */

    struct desc *layers;
    size_t nlayers;
    size_t next; /* the next layer to read (top first): index into layers */
    struct layer *cur;
    struct unionfs u;
    bool finished;
    uint64_t disk_size;
};

static void blob_free(struct blob *b);

static void
layer_free(struct layer *l)
{
    if (!l)
        return;
    if (l->a)
        archive_read_free(l->a);
    blob_free(l->blob);
    ferry_strv_free(l->hidden);
    ferry_strv_free(l->opaque);
    free(l);
}

static void
reg_free(struct reg *r)
{
    if (!r)
        return;
    layer_free(r->cur);
    for (size_t i = 0; i < r->nlayers; i++) {
        free(r->layers[i].digest);
        free(r->layers[i].media_type);
    }
    free(r->layers);
    ferry_strv_free(r->u.hidden);
    ferry_strv_free(r->u.opaque);
    ferry_strv_free(r->u.children);
    free(r->u.disk);
    free(r->url);
    free(r->host);
    free(r->api);
    free(r->repo);
    free(r->ref);
    free(r->auth);
    free(r->challenge);
    free(r->user);
    if (r->pass)
        explicit_bzero(r->pass, strlen(r->pass));
    free(r->pass);
    free(r->path);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

/* ---- references ---------------------------------------------------------- */

static bool
is_loopback(const char *host)
{
    FERRY_AUTOFREE char *h = ferry_strdup(host);
    char *colon = h[0] == '[' ? strstr(h, "]:") : strrchr(h, ':');

    if (colon)
        *(h[0] == '[' ? colon + 1 : colon) = '\0';
    return strcmp(h, "localhost") == 0 || ferry_str_has_prefix(h, "127.") ||
           strcmp(h, "[::1]") == 0;
}

static int
parse_docker(struct reg *r, const char *url)
{
    const char *rest = url + strlen("docker://");
    const char *slash = strchr(rest, '/');
    FERRY_AUTOFREE char *first = slash ? ferry_strndup(rest, slash - rest) : ferry_strdup(rest);
    FERRY_AUTOFREE char *name = NULL;
    char *at, *colon, *lastslash;

    if (slash && (strchr(first, '.') || strchr(first, ':') || strcmp(first, "localhost") == 0)) {
        r->host = FERRY_STEAL(first);
        name = ferry_strdup(slash + 1);
    } else {
        r->host = ferry_strdup("docker.io");
        name = ferry_strdup(rest);
    }
    if (!r->host[0])
        return ferry_error(FERRY_ERR_INVALID, "registry url '%s': no host", url);
    for (const char *c = r->host; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-:[]", *c))
            return ferry_error(FERRY_ERR_INVALID, "registry url '%s': host '%s' is not a host", url,
                               r->host);
    at = strchr(name, '@');
    if (at)
        *at = '\0';
    lastslash = strrchr(name, '/');
    colon = strrchr(lastslash ? lastslash : name, ':');
    if (at) {
        r->ref = ferry_strdup(at + 1);
        if (colon)
            *colon = '\0'; /* repo:tag@digest: the digest wins */
        if (!valid_digest(r->ref))
            return ferry_error(FERRY_ERR_INVALID,
                               "registry url '%s': digest '%s' is not sha256:<64 hex> or "
                               "sha512:<128 hex>",
                               url, r->ref);
    } else if (colon) {
        *colon = '\0';
        r->ref = ferry_strdup(colon + 1);
        if (!valid_tag(r->ref))
            return ferry_error(FERRY_ERR_INVALID, "registry url '%s': tag '%s' is not a tag", url,
                               r->ref);
    } else {
        r->ref = ferry_strdup("latest");
    }
    if (strcmp(r->host, "docker.io") == 0 && !strchr(name, '/')) {
        char *n = ferry_printf("library/%s", name);
        free(name);
        name = n;
    }
    if (!valid_repo(name))
        return ferry_error(FERRY_ERR_INVALID,
                           "registry url '%s': repository '%s' is not a repository name "
                           "(lower-case [a-z0-9._-] components separated by '/')",
                           url, name);
    r->repo = FERRY_STEAL(name);
    r->api = ferry_printf("https://%s",
                          strcmp(r->host, "docker.io") == 0 ? "registry-1.docker.io" : r->host);
    return 0;
}

/* oci-archive:PATH[:REF]: PATH when it names a file, else split at the last ':'. */
static int
parse_oci(struct reg *r, const char *url)
{
    const char *rest = url + strlen("oci-archive:");
    const char *colon = strrchr(rest, ':');

    if (ferry_str_has_prefix(rest, "//"))
        rest += 2;
    if (access(rest, F_OK) == 0 || !colon || strchr(colon, '/')) {
        r->path = ferry_strdup(rest);
    } else {
        r->path = ferry_strndup(rest, colon - rest);
        r->ref = ferry_strdup(colon + 1);
    }
    if (!r->path[0])
        return ferry_error(FERRY_ERR_INVALID, "registry url '%s': no path", url);
    r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return ferry_error_errno(errno == ENOENT ? FERRY_ERR_NOTFOUND : FERRY_ERR_IO, errno,
                                 "oci archive '%s'", r->path);
    struct stat st;
    if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "oci archive '%s': not a regular file (it is read once per blob)",
                           r->path);
    return 0;
}

/* A new reader over the whole archive (one at a time: they share the fd). */
static int
oci_archive_open(struct reg *r, struct archive **ret)
{
    struct archive *a = archive_read_new();

    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    if (lseek(r->fd, 0, SEEK_SET) < 0 || archive_read_open_fd(a, r->fd, 1 << 20) != ARCHIVE_OK) {
        ferry_error(FERRY_ERR_FORMAT, "oci archive '%s': %s", r->path, archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    *ret = a;
    return 0;
}

/* ---- credentials --------------------------------------------------------- */

/* An auth file's key ("https://index.docker.io/v1/", "host:5000/ns") as a
 * registry/repository prefix. */
static char *
auth_key_norm(const char *key)
{
    const char *k = key;
    char *s;
    size_t n;

    if (ferry_str_has_prefix(k, "https://"))
        k += 8;
    else if (ferry_str_has_prefix(k, "http://"))
        k += 7;
    s = ferry_strdup(k);
    n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    if (ferry_str_has_suffix(s, "/v1") || ferry_str_has_suffix(s, "/v2"))
        s[n - 3] = '\0';
    if (strcmp(s, "index.docker.io") == 0 || strcmp(s, "registry-1.docker.io") == 0) {
        free(s);
        s = ferry_strdup("docker.io");
    }
    return s;
}

static int
read_auth_file(struct reg *r)
{
    FERRY_AUTOPTR(json_object) root = NULL;
    FERRY_AUTOFREE char *full = ferry_printf("%s/%s", r->host, r->repo);
    FERRY_AUTOFREE char *best_auth = NULL;
    json_object *auths;
    size_t best = 0;

    if (ferry_json_read_file(opt.auth_file, &root) < 0)
        return -1;
    auths = ferry_json_get(root, "auths");
    if (!auths || !json_object_is_type(auths, json_type_object))
        return ferry_error(FERRY_ERR_INVALID, "auth file '%s': no \"auths\" object", opt.auth_file);
    json_object_object_foreach(auths, key, val)
    {
        FERRY_AUTOFREE char *k = auth_key_norm(key);
        size_t kl = strlen(k);
        if (kl <= best || !ferry_str_has_prefix(full, k) || (full[kl] != '/' && full[kl]))
            continue;
        const char *a = ferry_json_get_string(val, "auth");
        const char *u = ferry_json_get_string(val, "username");
        const char *p = ferry_json_get_string(val, "password");
        free(best_auth);
        if (a && a[0]) {
            best_auth = ferry_strdup(a);
        } else if (u && p) {
            free(r->user);
            free(r->pass);
            r->user = ferry_strdup(u);
            r->pass = ferry_strdup(p);
            best_auth = NULL;
        } else {
            continue;
        }
        best = kl;
    }
    if (best_auth) {
        size_t n = strlen(best_auth);
        FERRY_AUTOFREE unsigned char *dec = ferry_malloc(n + 1);
        int len = EVP_DecodeBlock(dec, (unsigned char *)best_auth, n);
        if (len < 0)
            return ferry_error(FERRY_ERR_INVALID, "auth file '%s': the auth of '%s' is not base64",
                               opt.auth_file, r->host);
        while (len > 0 && n > 0 && best_auth[n - 1] == '=') {
            len--; /* EVP_DecodeBlock counts the padding */
            n--;
        }
        dec[len] = '\0';
        char *colon = strchr((char *)dec, ':');
        if (!colon)
            return ferry_error(FERRY_ERR_INVALID,
                               "auth file '%s': the auth of '%s' is not base64(user:password)",
                               opt.auth_file, r->host);
        *colon = '\0';
        free(r->user);
        free(r->pass);
        r->user = ferry_strdup((char *)dec);
        r->pass = ferry_strdup(colon + 1);
        explicit_bzero(dec, len);
    }
    return 0;
}

static int
load_credentials(struct reg *r)
{
    if (opt.secret_dir) {
        if (ferry_remote_read_secret(opt.secret_dir, "accessKeyId", false, &r->user) < 0 ||
            ferry_remote_read_secret(opt.secret_dir, "secretKey", false, &r->pass) < 0)
            return -1;
        return 0;
    }
    if (opt.auth_file)
        return read_auth_file(r);
    return 0;
}

static char *
basic_header(struct reg *r)
{
    FERRY_AUTOFREE char *plain = ferry_printf("%s:%s", r->user, r->pass);
    size_t n = strlen(plain);
    FERRY_AUTOFREE char *b64 = ferry_malloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, n);
    explicit_bzero(plain, n);
    return ferry_printf("Authorization: Basic %s", b64);
}

/* ---- small HTTP requests ------------------------------------------------- */

struct resp {
    long code;
    char *ctype; /* without parameters */
    char *www_auth;
    char *docker_digest;
    char *body;
    size_t len, max;
    bool too_big;
};

static void
resp_release(struct resp *p)
{
    free(p->ctype);
    free(p->www_auth);
    free(p->docker_digest);
    free(p->body);
    memset(p, 0, sizeof(*p));
}

static char *
header_value(const char *buf, size_t len, const char *name)
{
    size_t nl = strlen(name);

    if (len <= nl || strncasecmp(buf, name, nl) != 0 || buf[nl] != ':')
        return NULL;
    const char *v = buf + nl + 1;
    const char *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return ferry_strndup(v, end - v);
}

static size_t
resp_header(char *buf, size_t size, size_t n, void *opaque)
{
    struct resp *p = opaque;
    size_t len = size * n;
    char *v;

    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100): forget the last one's. */
        free(p->ctype);
        free(p->www_auth);
        free(p->docker_digest);
        p->ctype = p->www_auth = p->docker_digest = NULL;
    } else if ((v = header_value(buf, len, "Content-Type"))) {
        char *semi = strchr(v, ';');
        if (semi)
            *semi = '\0';
        while (semi && semi > v && semi[-1] == ' ')
            *--semi = '\0';
        free(p->ctype);
        p->ctype = ferry_str_lower(v);
    } else if ((v = header_value(buf, len, "WWW-Authenticate"))) {
        free(p->www_auth);
        p->www_auth = v;
    } else if ((v = header_value(buf, len, "Docker-Content-Digest"))) {
        free(p->docker_digest);
        p->docker_digest = v;
    }
    return len;
}

static size_t
resp_write(char *buf, size_t size, size_t n, void *opaque)
{
    struct resp *p = opaque;
    size_t len = size * n;

    if (p->len + len > p->max) {
        p->too_big = true;
        return 0;
    }
    ferry_buf_append(&p->body, &p->len, buf, len);
    return len;
}

static CURL *
reg_easy(const char *url)
{
    /* No CURLOPT_VERBOSE even with --debug: it would print the
     * Authorization header (credentials, tokens) into logs. */
    CURL *c = ferry_curl_easy(url, !opt.insecure, false);

    /* The default already: Authorization never goes to another host after
     * a redirect (blob storage), as the distribution spec demands. */
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    return c;
}

static struct curl_slist *
reg_headers(struct reg *r, const char *const *accept, bool auth)
{
    struct curl_slist *h = NULL;

    for (size_t i = 0; accept && accept[i]; i++) {
        FERRY_AUTOFREE char *line = ferry_printf("Accept: %s", accept[i]);
        h = curl_slist_append(h, line);
    }
    if (auth && r->auth)
        h = curl_slist_append(h, r->auth);
    return h;
}

/* GET URL into RET (body at most MAX bytes).  Transport errors fail; any
 * HTTP status is returned for the caller to judge. */
static int
reg_get(struct reg *r, const char *url, const char *const *accept, bool with_auth,
        const char *auth_line, size_t max, struct resp *ret)
{
    CURL *c = reg_easy(url);
    struct curl_slist *h = reg_headers(r, accept, with_auth);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;

    if (auth_line)
        h = curl_slist_append(h, auth_line);
    memset(ret, 0, sizeof(*ret));
    ret->max = max;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    ferry_curl_deliver(c, resp_header, ret, resp_write, ret, errbuf);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (ret->too_big) {
        resp_release(ret);
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': the answer is larger than %zu bytes",
                           url, max);
    }
    if (rc != CURLE_OK) {
        resp_release(ret);
        return ferry_error(FERRY_ERR_NETWORK, "registry '%s': %s", url,
                           errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    return 0;
}

/* "the registry answered 404: MANIFEST_UNKNOWN manifest unknown" */
static int
status_error(const char *url, struct resp *p)
{
    FERRY_AUTOPTR(json_object) o = NULL;
    const char *code = NULL, *msg = NULL;

    if (p->body && ferry_json_parse(p->body, p->len, "error", &o) == 0) {
        json_object *errs = ferry_json_get(o, "errors");
        if (errs && json_object_is_type(errs, json_type_array) &&
            json_object_array_length(errs) > 0) {
            json_object *e = json_object_array_get_idx(errs, 0);
            code = ferry_json_get_string(e, "code");
            msg = ferry_json_get_string(e, "message");
        }
    }
    ferry_error_reset();
    return ferry_error(p->code == 404                     ? FERRY_ERR_NOTFOUND
                       : p->code == 401 || p->code == 403 ? FERRY_ERR_SECURITY
                                                          : FERRY_ERR_NETWORK,
                       "registry '%s': the registry answered %ld%s%s%s%s", url, p->code,
                       code ? ": " : "", code ? code : "", msg ? " " : "", msg ? msg : "");
}

/* ---- authentication ------------------------------------------------------ */

/* The value of KEY in a challenge's parameters: key="value",key2="v". */
static char *
challenge_param(const char *params, const char *key)
{
    const char *p = params;
    size_t kl = strlen(key);

    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            return NULL;
        bool match = (size_t)(eq - p) == kl && strncasecmp(p, key, kl) == 0;
        const char *v = eq + 1, *end;
        FERRY_AUTOFREE char *val = NULL;
        if (*v == '"') {
            v++;
            end = strchr(v, '"');
            if (!end)
                return NULL;
            val = ferry_strndup(v, end - v);
            p = end + 1;
        } else {
            end = v + strcspn(v, ",");
            val = ferry_strndup(v, end - v);
            p = end;
        }
        if (match)
            return FERRY_STEAL(val);
    }
    return NULL;
}

/* scheme://host[:port] of URL (lower-cased host), or NULL. */
static char *
origin_of(const char *url)
{
    const char *s = strstr(url, "://");
    if (!s)
        return NULL;
    size_t end = (s - url) + 3 + strcspn(s + 3, "/?#");
    char *o = ferry_strndup(url, end);
    ferry_str_lower(o);
    /* The default ports are the same origin as none. */
    if (ferry_str_has_prefix(o, "https://") && ferry_str_has_suffix(o, ":443"))
        o[strlen(o) - 4] = '\0';
    else if (ferry_str_has_prefix(o, "http://") && ferry_str_has_suffix(o, ":80"))
        o[strlen(o) - 3] = '\0';
    return o;
}

static int
bearer_token(struct reg *r, const char *params)
{
    FERRY_AUTOFREE char *realm = challenge_param(params, "realm");
    FERRY_AUTOFREE char *service = challenge_param(params, "service");
    FERRY_AUTOFREE char *ro = NULL, *api = origin_of(r->api), *allowed = NULL;
    FERRY_AUTOFREE char *url = NULL, *basic = NULL;
    FERRY_AUTOPTR(json_object) o = NULL;
    struct resp p;
    const char *tok;

    if (!realm || !(ro = origin_of(realm)) ||
        !(ferry_str_has_prefix(realm, "https://") || ferry_str_has_prefix(realm, "http://")))
        return ferry_error(FERRY_ERR_FORMAT,
                           "registry '%s': Bearer challenge without an http(s) "
                           "realm: '%s'",
                           r->api, params);
    allowed = opt.token_origin ? origin_of(opt.token_origin) : NULL;
    /* Docker Hub's own pair is known; any other origin must be named. */
    if (!allowed && strcmp(api, "https://registry-1.docker.io") == 0)
        allowed = ferry_strdup("https://auth.docker.io");
    if (strcmp(ro, api) != 0 && !ferry_str_eq(ro, allowed))
        return ferry_error(FERRY_ERR_SECURITY,
                           "registry '%s': refusing the token endpoint '%s' on another origin "
                           "(--token-origin %s allows it)",
                           r->api, realm, ro);
    if (ferry_str_has_prefix(r->api, "https://") && ferry_str_has_prefix(realm, "http://"))
        return ferry_error(FERRY_ERR_SECURITY,
                           "registry '%s': refusing the plain http token endpoint '%s'", r->api,
                           realm);
    {
        CURL *c = reg_easy(realm);
        char *svc = service ? curl_easy_escape(c, service, 0) : NULL;
        FERRY_AUTOFREE char *scope = ferry_printf("repository:%s:pull", r->repo);
        char *sc = curl_easy_escape(c, scope, 0);
        url = ferry_printf("%s%s%s%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?",
                           svc ? "service=" : "", svc ? svc : "", sc);
        curl_free(svc);
        curl_free(sc);
        curl_easy_cleanup(c);
    }
    if (r->user)
        basic = basic_header(r);
    if (reg_get(r, url, NULL, false, basic, 1 << 20, &p) < 0)
        return -1;
    if (p.code != 200) {
        int rc = status_error(realm, &p);
        resp_release(&p);
        return rc;
    }
    if (ferry_json_parse(p.body ? p.body : "", p.len, "token answer", &o) < 0) {
        resp_release(&p);
        return ferry_error_prefix("registry token endpoint '%s'", realm);
    }
    resp_release(&p);
    tok = ferry_json_get_string(o, "token");
    if (!tok || !tok[0])
        tok = ferry_json_get_string(o, "access_token");
    if (!tok || !tok[0])
        return ferry_error(FERRY_ERR_FORMAT, "registry token endpoint '%s': no token in the answer",
                           realm);
    for (const char *c = tok; *c; c++)
        if (*c <= ' ' || *c > '~')
            return ferry_error(FERRY_ERR_FORMAT,
                               "registry token endpoint '%s': the token has a byte 0x%02x", realm,
                               (unsigned char)*c);
    free(r->auth);
    r->auth = ferry_printf("Authorization: Bearer %s", tok);
    /* expires_in: 60 s when absent or smaller (the token spec); renewed
     * 10 s early, before a blob request. */
    int64_t ttl = ferry_json_get_int(o, "expires_in", 60);
    if (ttl < 60)
        ttl = 60;
    r->token_deadline = ferry_now_ns() + (uint64_t)(ttl - 10) * 1000000000ull;
    if (r->challenge != params) {
        free(r->challenge);
        r->challenge = ferry_strdup(params);
    }
    return 0;
}

/* GET /v2/ and answer its challenge. */
static int
authenticate(struct reg *r)
{
    FERRY_AUTOFREE char *url = NULL;
    struct resp p;

    url = ferry_printf("%s/v2/", r->api);
    if (reg_get(r, url, NULL, false, NULL, 64 << 10, &p) < 0) {
        /* Loopback and --insecure registries: plain http, as Docker does. */
        if (!(opt.insecure || is_loopback(r->host)) || !ferry_str_has_prefix(r->api, "https://"))
            return -1;
        ferry_log_debug(MOD, "%s: %s; trying plain http", url, ferry_error_message());
        ferry_error_reset();
        char *api = ferry_printf("http://%s", r->api + 8);
        free(r->api);
        r->api = api;
        free(url);
        url = ferry_printf("%s/v2/", r->api);
        if (reg_get(r, url, NULL, false, NULL, 64 << 10, &p) < 0)
            return -1;
    }
    if (p.code == 200) {
        resp_release(&p);
        return 0;
    }
    if (p.code != 401 || !p.www_auth) {
        int rc = status_error(url, &p);
        resp_release(&p);
        return rc;
    }
    FERRY_AUTOFREE char *chal = FERRY_STEAL(p.www_auth);
    resp_release(&p);
    ferry_log_debug(MOD, "%s: challenge %s", url, chal);
    if (strncasecmp(chal, "Bearer ", 7) == 0) {
        if (bearer_token(r, chal + 7) < 0)
            return -1;
    } else if (strncasecmp(chal, "Basic", 5) == 0) {
        if (!r->user)
            return ferry_error(FERRY_ERR_SECURITY,
                               "registry '%s' asks for credentials (%s): none given "
                               "(--secret-dir or --auth-file)",
                               r->api, chal);
        free(r->auth);
        r->auth = basic_header(r);
    } else {
        return ferry_error(FERRY_ERR_UNSUPPORTED, "registry '%s': unknown challenge '%s'", r->api,
                           chal);
    }
    /* The answer must open the door. */
    if (reg_get(r, url, NULL, true, NULL, 64 << 10, &p) < 0)
        return -1;
    if (p.code != 200) {
        long code = p.code;
        resp_release(&p);
        return ferry_error(FERRY_ERR_SECURITY, "registry '%s': the credentials were refused (%ld)",
                           r->api, code);
    }
    resp_release(&p);
    return 0;
}

/* ---- blobs: streamed, counted, hashed ------------------------------------ */

static void
blob_free(struct blob *b)
{
    if (!b)
        return;
    if (b->multi) {
        if (b->easy)
            curl_multi_remove_handle(b->multi, b->easy);
        curl_multi_cleanup(b->multi);
    }
    if (b->easy)
        curl_easy_cleanup(b->easy);
    curl_slist_free_all(b->hdrs);
    if (b->outer)
        archive_read_free(b->outer);
    if (b->md)
        EVP_MD_CTX_free(b->md);
    free(b->buf);
    free(b->what);
    free(b->digest);
    free(b);
}

/* Count and hash N bytes; false when they go beyond the declared size. */
static bool
blob_account(struct blob *b, const void *buf, size_t n)
{
    if (n > b->size - b->got) {
        b->overflow = true;
        return false;
    }
    b->got += n;
    EVP_DigestUpdate(b->md, buf, n);
    return true;
}

static size_t
blob_header(char *buf, size_t size, size_t n, void *opaque)
{
    struct blob *b = opaque;
    size_t len = size * n;
    FERRY_AUTOFREE char *v = NULL;

    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0)
        b->range_start = -1;
    else if ((v = header_value(buf, len, "Content-Range")) && ferry_str_has_prefix(v, "bytes ") &&
             isdigit((unsigned char)v[6]))
        b->range_start = strtoll(v + 6, NULL, 10);
    return len;
}

static size_t
blob_write(char *data, size_t size, size_t n, void *opaque)
{
    struct blob *b = opaque;
    size_t len = size * n;
    long code = 0;

    curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &code);
    if (b->range_from > 0 && (code == 200 || code == 206) &&
        (code == 200 || b->range_start != (int64_t)b->range_from)) {
        b->bad_range = true; /* the bytes would not follow those already read */
        return 0;
    }
    if (code != (b->range_from > 0 ? 206 : 200)) {
        ferry_remote_keep_body(b->errbody, sizeof(b->errbody), &b->errlen, data, len);
        return len;
    }
    if (b->len > 0 && b->len + len > BLOB_BUF) {
        b->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (len > b->cap) {
        /* More than the buffer at once (data held while paused): take it
         * whole, or pausing again would never end. */
        b->buf = ferry_realloc(b->buf, len);
        b->cap = len;
    }
    if (!blob_account(b, data, len))
        return 0;
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    return len;
}

static int
renew_token(struct reg *r)
{
    FERRY_AUTOFREE char *params = ferry_strdup(r->challenge);

    ferry_log_debug(MOD, "'%s': renewing the token", r->url);
    return bearer_token(r, params);
}

/* The GET of a blob on its own multi handle (again after a 401). */
static int
blob_start(struct blob *b)
{
    struct reg *r = b->r;
    FERRY_AUTOFREE char *url = ferry_printf("%s/v2/%s/blobs/%s", r->api, r->repo, b->digest);

    if (b->multi) {
        curl_multi_remove_handle(b->multi, b->easy);
        curl_multi_cleanup(b->multi);
        curl_easy_cleanup(b->easy);
        curl_slist_free_all(b->hdrs);
    }
    b->len = b->errlen = 0;
    b->errbody[0] = '\0';
    b->done = b->paused = false;
    b->easy = reg_easy(url);
    b->hdrs = reg_headers(r, NULL, true);
    b->range_from = b->got;
    b->range_start = -1;
    if (b->got > 0) {
        char range[32];
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)b->got);
        curl_easy_setopt(b->easy, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(b->easy, CURLOPT_HTTPHEADER, b->hdrs);
    curl_easy_setopt(b->easy, CURLOPT_HEADERFUNCTION, blob_header);
    curl_easy_setopt(b->easy, CURLOPT_HEADERDATA, b);
    curl_easy_setopt(b->easy, CURLOPT_WRITEFUNCTION, blob_write);
    curl_easy_setopt(b->easy, CURLOPT_WRITEDATA, b);
    b->multi = curl_multi_init();
    if (!b->multi)
        ferry_oom();
    curl_multi_add_handle(b->multi, b->easy);
    ferry_log_debug(MOD, "%s: GET %s", b->what, url);
    return 0;
}

static int
blob_open(struct reg *r, const struct desc *d, const char *what, struct blob **ret)
{
    struct blob *b = ferry_calloc(1, sizeof(*b));

    b->r = r;
    b->what = ferry_printf("%s (%s)", what, d->digest);
    b->digest = ferry_strdup(d->digest);
    b->size = d->size;
    b->md = digest_new(d->digest);
    if (r->oci) {
        FERRY_AUTOFREE char *alg = digest_alg(d->digest);
        FERRY_AUTOFREE char *name = ferry_printf("blobs/%s/%s", alg, strchr(d->digest, ':') + 1);
        struct archive_entry *e;

        if (oci_archive_open(r, &b->outer) < 0) {
            blob_free(b);
            return -1;
        }
        for (;;) {
            int rc = archive_read_next_header(b->outer, &e);
            if (rc == ARCHIVE_EOF) {
                ferry_error(FERRY_ERR_NOTFOUND, "oci archive '%s': %s: no '%s' in the archive",
                            r->path, b->what, name);
                blob_free(b);
                return -1;
            }
            if (rc < ARCHIVE_WARN) {
                ferry_error(FERRY_ERR_FORMAT, "oci archive '%s': %s", r->path,
                            archive_error_string(b->outer));
                blob_free(b);
                return -1;
            }
            const char *p = archive_entry_pathname(e);
            if (p && ferry_str_has_prefix(p, "./"))
                p += 2;
            if (p && strcmp(p, name) == 0 && archive_entry_filetype(e) == AE_IFREG)
                break;
        }
        *ret = b;
        return 0;
    }
    b->buf = ferry_malloc(BLOB_BUF);
    b->cap = BLOB_BUF;
    if ((r->challenge && ferry_now_ns() >= r->token_deadline && renew_token(r) < 0) ||
        blob_start(b) < 0) {
        blob_free(b);
        return -1;
    }
    *ret = b;
    return 0;
}

/* At the end of a blob: all its bytes, and its digest. */
static int
blob_verify(struct blob *b)
{
    FERRY_AUTOFREE char *alg = digest_alg(b->digest);
    FERRY_AUTOFREE char *got = NULL;

    if (b->verified)
        return 0;
    if (b->got != b->size)
        return ferry_error(FERRY_ERR_CHECKSUM,
                           "registry '%s': %s: %llu bytes, but its descriptor says %llu", b->r->url,
                           b->what, (unsigned long long)b->got, (unsigned long long)b->size);
    got = digest_finish(b->md, alg);
    b->md = NULL;
    if (strcmp(got, b->digest) != 0)
        return ferry_error(FERRY_ERR_CHECKSUM,
                           "registry '%s': %s: the content's digest is %s: refusing it", b->r->url,
                           b->what, got);
    b->verified = true;
    ferry_log_debug(MOD, "%s: %llu bytes, digest verified", b->what, (unsigned long long)b->got);
    return 0;
}

/* The next raw bytes of the blob in *RET (valid until the next call); 0 at
 * its end, after the size and the digest were checked. */
static ssize_t
blob_read(struct blob *b, const void **ret)
{
    if (b->outer) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int rc = archive_read_data_block(b->outer, &buf, &n, &off);
        if (rc == ARCHIVE_EOF)
            return blob_verify(b) < 0 ? -1 : 0;
        if (rc < ARCHIVE_WARN)
            return ferry_error(FERRY_ERR_FORMAT, "oci archive '%s': %s: %s", b->r->path, b->what,
                               archive_error_string(b->outer));
        if ((uint64_t)off != b->got)
            return ferry_error(FERRY_ERR_FORMAT, "oci archive '%s': %s: a sparse entry", b->r->path,
                               b->what);
        if (!blob_account(b, buf, n))
            return ferry_error(FERRY_ERR_CHECKSUM,
                               "registry '%s': %s: more bytes than the %llu its descriptor says",
                               b->r->url, b->what, (unsigned long long)b->size);
        *ret = buf;
        return n;
    }

    b->len = 0;
    if (b->paused) {
        b->paused = false;
        curl_easy_pause(b->easy, CURLPAUSE_CONT);
    }
    while (b->len == 0 && !b->done && !b->overflow) {
        int running = 0, left;
        CURLMsg *m;
        CURLMcode mc = curl_multi_perform(b->multi, &running);
        if (mc != CURLM_OK)
            return ferry_error(FERRY_ERR_NETWORK, "registry '%s': %s: %s", b->r->url, b->what,
                               curl_multi_strerror(mc));
        while ((m = curl_multi_info_read(b->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                b->done = true;
                b->result = m->data.result;
            }
        if (b->len > 0 || b->done || b->overflow)
            break;
        curl_multi_poll(b->multi, NULL, 0, 1000, NULL);
    }
    if (b->overflow)
        return ferry_error(FERRY_ERR_CHECKSUM,
                           "registry '%s': %s: more bytes than the %llu its descriptor says",
                           b->r->url, b->what, (unsigned long long)b->size);
    if (b->len > 0) {
        *ret = b->buf;
        return b->len;
    }
    long code = 0;
    curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &code);
    if (b->bad_range)
        return ferry_error(FERRY_ERR_NETWORK,
                           "registry '%s': %s: resuming at byte %llu, the registry answered %ld "
                           "without that range",
                           b->r->url, b->what, (unsigned long long)b->range_from, code);
    if (b->result != CURLE_OK && b->got > 0 && b->resumes < 5 && b->result != CURLE_WRITE_ERROR &&
        (code == 200 || code == 206)) {
        /* Cut mid-blob: go on from the byte after the last one hashed
         * (a Range request, as containers/image does); the digest covers
         * both parts. */
        b->resumes++;
        ferry_log_debug(MOD, "registry '%s': %s: %s after %llu bytes; resuming (%u of 5)",
                        b->r->url, b->what, curl_easy_strerror(b->result),
                        (unsigned long long)b->got, b->resumes);
        if (blob_start(b) < 0)
            return -1;
        return blob_read(b, ret);
    }
    if (b->result != CURLE_OK)
        return ferry_error(FERRY_ERR_NETWORK, "registry '%s': %s: %s", b->r->url, b->what,
                           curl_easy_strerror(b->result));
    if (code == 401 && b->r->challenge && !b->retried && b->got == 0) {
        /* The token expired early: one more try with a new one. */
        b->retried = true;
        if (renew_token(b->r) < 0 || blob_start(b) < 0)
            return -1;
        return blob_read(b, ret);
    }
    if (code != (b->range_from > 0 ? 206 : 200)) {
        struct resp p = { .code = code, .body = b->errbody, .len = b->errlen };
        FERRY_AUTOFREE char *w = ferry_printf("%s %s", b->r->url, b->what);
        return status_error(w, &p);
    }
    return blob_verify(b) < 0 ? -1 : 0;
}

/* A whole small blob in memory (configs, manifests of an oci-archive). */
static int
blob_slurp(struct reg *r, const struct desc *d, const char *what, size_t max, char **ret,
           size_t *ret_len)
{
    struct blob *b = NULL;
    FERRY_AUTOFREE char *buf = NULL;
    size_t len = 0;

    if (d->size > max)
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': %s (%s): %llu bytes, more than %zu",
                           r->url, what, d->digest, (unsigned long long)d->size, max);
    if (blob_open(r, d, what, &b) < 0)
        return -1;
    buf = ferry_malloc(d->size + 1);
    for (;;) {
        const void *p;
        ssize_t n = blob_read(b, &p);
        if (n < 0) {
            blob_free(b);
            return -1;
        }
        if (n == 0)
            break;
        memcpy(buf + len, p, n); /* blob_read never goes past d->size */
        len += n;
    }
    blob_free(b);
    buf[len] = '\0';
    *ret = FERRY_STEAL(buf);
    *ret_len = len;
    return 0;
}

/* ---- manifests ----------------------------------------------------------- */

static int
parse_desc(struct reg *r, json_object *o, const char *what, struct desc *ret)
{
    const char *digest = ferry_json_get_string(o, "digest");
    json_object *size = ferry_json_get(o, "size");
    const char *mt = ferry_json_get_string(o, "mediaType");

    if (!digest || !valid_digest(digest))
        return ferry_error(FERRY_ERR_FORMAT,
                           "registry '%s': %s: digest '%s' is not "
                           "sha256:<64 hex> or sha512:<128 hex>",
                           r->url, what, digest ? digest : "(none)");
    if (!size || !json_object_is_type(size, json_type_int) || json_object_get_int64(size) < 0)
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': %s (%s): no size", r->url, what,
                           digest);
    ret->digest = ferry_strdup(digest);
    ret->size = json_object_get_int64(size);
    ret->media_type = ferry_strdup(mt);
    return 0;
}

/* Fetch and parse a manifest or index: by REF from the registry, or from
 * the archive by descriptor D.  WANT (a digest, or NULL) is checked. */
static int
get_manifest(struct reg *r, const char *ref, const struct desc *d, json_object **ret,
             char **ret_type)
{
    FERRY_AUTOFREE char *body = NULL, *ctype = NULL;
    size_t len = 0;
    json_object *o = NULL;
    const char *want = d ? d->digest : valid_digest(ref) ? ref : NULL;

    if (r->oci) {
        if (blob_slurp(r, d, "manifest", MAX_MANIFEST, &body, &len) < 0)
            return -1;
    } else {
        FERRY_AUTOFREE char *url = ferry_printf("%s/v2/%s/manifests/%s", r->api, r->repo, ref);
        struct resp p;
        if (reg_get(r, url, manifest_types, true, NULL, MAX_MANIFEST, &p) < 0)
            return -1;
        if (p.code != 200) {
            int rc = status_error(url, &p);
            resp_release(&p);
            return rc;
        }
        body = FERRY_STEAL(p.body);
        len = p.len;
        ctype = FERRY_STEAL(p.ctype);
        if (!body)
            body = ferry_strdup("");
        /* A digest reference, or the digest the registry claims: the bytes
         * must be those. */
        const char *check = want ? want : p.docker_digest;
        if (check && valid_digest(check)) {
            FERRY_AUTOFREE char *alg = digest_alg(check);
            FERRY_AUTOFREE char *got = digest_of(alg, body, len);
            if (strcmp(got, check) != 0) {
                resp_release(&p);
                return ferry_error(FERRY_ERR_CHECKSUM,
                                   "registry '%s': manifest %s: the content's digest is %s, "
                                   "not %s: refusing it",
                                   r->url, ref, got, check);
            }
        }
        if (d && len != d->size) {
            resp_release(&p);
            return ferry_error(FERRY_ERR_CHECKSUM,
                               "registry '%s': manifest %s: %zu bytes, but its descriptor says "
                               "%llu",
                               r->url, ref, len, (unsigned long long)d->size);
        }
        resp_release(&p);
    }
    if (ferry_json_parse(body, len, "manifest", &o) < 0)
        return ferry_error_prefix("registry '%s': manifest %s", r->url, ref);
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': manifest %s is not a JSON object",
                           r->url, ref);
    }
    const char *mt = ferry_json_get_string(o, "mediaType");
    const char *type = NULL;
    if (ctype && strcmp(ctype, "application/json") != 0 &&
        strcmp(ctype, "application/octet-stream") != 0)
        type = ctype;
    else if (mt)
        type = mt;
    else if (d && d->media_type)
        type = d->media_type;
    else if (ferry_json_get(o, "manifests"))
        type = TYPE_OCI_INDEX;
    else
        type = TYPE_OCI_MANIFEST;
    if (mt && strcmp(mt, type) != 0) {
        json_object_put(o);
        return ferry_error(FERRY_ERR_FORMAT,
                           "registry '%s': manifest %s: mediaType '%s' but Content-Type '%s'",
                           r->url, ref, mt, type);
    }
    bool known = false;
    for (size_t i = 0; manifest_types[i]; i++)
        known |= strcmp(type, manifest_types[i]) == 0;
    if (!known) {
        FERRY_AUTOFREE char *t = ferry_strdup(type);
        json_object_put(o);
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "registry '%s': manifest %s: media type '%s' is not an OCI or Docker "
                           "schema2 manifest or index",
                           r->url, ref, t);
    }
    if (ferry_json_get_int(o, "schemaVersion", 0) != 2) {
        json_object_put(o);
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "registry '%s': manifest %s: schemaVersion is not 2", r->url, ref);
    }
    *ret = o;
    *ret_type = ferry_strdup(type);
    return 0;
}

static bool
is_index(const char *type)
{
    return strcmp(type, TYPE_OCI_INDEX) == 0 || strcmp(type, TYPE_DOCKER_LIST) == 0;
}

/* The index entry of the wanted platform (first match). */
static int
pick_platform(struct reg *r, json_object *index, const char *ref, bool by_name, struct desc *ret)
{
    const char *os = opt.os ? opt.os : "linux", *arch = opt.arch ? opt.arch : "amd64";
    json_object *ms = ferry_json_get(index, "manifests");
    FERRY_AUTOFREE char *seen = ferry_strdup("");

    if (!ms || !json_object_is_type(ms, json_type_array))
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': index %s: no manifests", r->url, ref);
    for (size_t i = 0; i < json_object_array_length(ms); i++) {
        json_object *m = json_object_array_get_idx(ms, i);
        const char *mt = ferry_json_get_string(m, "mediaType");
        const char *mos = ferry_json_get_string(m, "platform.os");
        const char *march = ferry_json_get_string(m, "platform.architecture");
        const char *mvar = ferry_json_get_string(m, "platform.variant");

        /* Unknown media types (attestations, artifacts) are skipped. */
        if (mt && strcmp(mt, TYPE_OCI_MANIFEST) != 0 && strcmp(mt, TYPE_DOCKER_MANIFEST) != 0 &&
            !is_index(mt))
            continue;
        if (by_name) {
            /* An oci-archive's index.json: the entry named REF. */
            json_object *ann = ferry_json_get(m, "annotations");
            json_object *rn = NULL;
            if (!ann || !json_object_object_get_ex(ann, "org.opencontainers.image.ref.name", &rn) ||
                !ferry_str_eq(json_object_get_string(rn), r->ref))
                continue;
            if (!mos)
                return parse_desc(r, m, "index entry", ret);
        }
        if (!mos && !march && !by_name && json_object_array_length(ms) == 1)
            return parse_desc(r, m, "index entry", ret); /* a layout with one image */
        FERRY_AUTOFREE char *s =
            ferry_printf("%s%s%s/%s%s%s", seen, seen[0] ? ", " : "", mos ? mos : "?",
                         march ? march : "?", mvar ? "/" : "", mvar ? mvar : "");
        free(seen);
        seen = FERRY_STEAL(s);
        if (ferry_str_eq(mos, os) && ferry_str_eq(march, arch) &&
            (!opt.variant || ferry_str_eq(mvar, opt.variant)))
            return parse_desc(r, m, "index entry", ret);
    }
    if (by_name && !seen[0])
        return ferry_error(FERRY_ERR_NOTFOUND, "oci archive '%s': no image named '%s'", r->path,
                           r->ref);
    return ferry_error(FERRY_ERR_NOTFOUND,
                       "registry '%s': index %s has no image for %s/%s%s%s (it has: %s)", r->url,
                       ref, os, arch, opt.variant ? "/" : "", opt.variant ? opt.variant : "",
                       seen[0] ? seen : "none");
}

/* Resolve the reference to an image manifest; fill the layers. */
static int
resolve(struct reg *r)
{
    FERRY_AUTOPTR(json_object) m = NULL;
    FERRY_AUTOFREE char *type = NULL, *ref = NULL;
    struct desc d = { 0 };
    int depth;

    if (r->oci) {
        /* index.json: no digest of its own. */
        struct archive *a = NULL;
        struct archive_entry *e;
        FERRY_AUTOFREE char *body = NULL;
        size_t len = 0;
        if (oci_archive_open(r, &a) < 0)
            return -1;
        for (;;) {
            int rc = archive_read_next_header(a, &e);
            if (rc == ARCHIVE_EOF || rc < ARCHIVE_WARN)
                break;
            const char *p = archive_entry_pathname(e);
            if (p && ferry_str_has_prefix(p, "./"))
                p += 2;
            if (p && strcmp(p, "index.json") == 0 && archive_entry_filetype(e) == AE_IFREG) {
                if (archive_entry_size(e) > (la_int64_t)MAX_MANIFEST)
                    break;
                len = archive_entry_size(e);
                body = ferry_malloc(len + 1);
                if (archive_read_data(a, body, len) != (la_ssize_t)len) {
                    free(body);
                    body = NULL;
                }
                break;
            }
        }
        archive_read_free(a);
        if (!body)
            return ferry_error(FERRY_ERR_FORMAT,
                               "oci archive '%s': no readable index.json "
                               "(not a tarred OCI image layout?)",
                               r->path);
        if (ferry_json_parse(body, len, "index.json", &m) < 0)
            return ferry_error_prefix("oci archive '%s'", r->path);
        type = ferry_strdup(TYPE_OCI_INDEX);
        ref = ferry_strdup("index.json");
    } else {
        if (get_manifest(r, r->ref, NULL, &m, &type) < 0)
            return -1;
        ref = ferry_strdup(r->ref);
    }
    for (depth = 0; is_index(type); depth++) {
        if (depth == 2)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "registry '%s': indexes nested too deep",
                               r->url);
        if (pick_platform(r, m, ref, r->oci && r->ref && depth == 0, &d) < 0)
            return -1;
        json_object_put(m);
        m = NULL;
        free(type);
        type = NULL;
        free(ref);
        ref = ferry_strdup(d.digest);
        int rc = get_manifest(r, d.digest, &d, &m, &type);
        free(d.digest);
        free(d.media_type);
        d = (struct desc){ 0 };
        if (rc < 0)
            return -1;
    }

    /* The config: a blob like any other, and the platform check. */
    json_object *cfg = ferry_json_get(m, "config");
    if (!cfg)
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': manifest %s: no config", r->url, ref);
    if (parse_desc(r, cfg, "config", &d) < 0)
        return -1;
    {
        FERRY_AUTOFREE char *body = NULL;
        FERRY_AUTOPTR(json_object) c = NULL;
        size_t len;
        int rc = blob_slurp(r, &d, "config", MAX_CONFIG, &body, &len);
        free(d.digest);
        free(d.media_type);
        d = (struct desc){ 0 };
        if (rc < 0)
            return -1;
        if (opt.arch && ferry_json_parse(body, len, "config", &c) == 0) {
            const char *a = ferry_json_get_string(c, "architecture");
            const char *o = ferry_json_get_string(c, "os");
            if ((a && strcmp(a, opt.arch) != 0) || (o && strcmp(o, opt.os) != 0))
                return ferry_error(FERRY_ERR_INVALID,
                                   "registry '%s': the image is %s/%s, not the requested %s/%s",
                                   r->url, o ? o : "?", a ? a : "?", opt.os, opt.arch);
        }
        ferry_error_reset();
    }

    json_object *layers = ferry_json_get(m, "layers");
    if (!layers || !json_object_is_type(layers, json_type_array) ||
        json_object_array_length(layers) == 0)
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': manifest %s: no layers", r->url, ref);
    if (json_object_array_length(layers) > MAX_LAYERS)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "registry '%s': manifest %s: %zu layers, more "
                           "than %d",
                           r->url, ref, json_object_array_length(layers), MAX_LAYERS);
    uint64_t bound = opt.volume ? opt.volume + LAYER_SLACK : FERRY_MAX_VIRTUAL_SIZE;
    r->nlayers = json_object_array_length(layers);
    r->layers = ferry_calloc(r->nlayers, sizeof(*r->layers));
    for (size_t i = 0; i < r->nlayers; i++) {
        FERRY_AUTOFREE char *what = ferry_printf("layer %zu", i + 1);
        if (parse_desc(r, json_object_array_get_idx(layers, i), what, &r->layers[i]) < 0)
            return -1;
        if (r->layers[i].size > bound) {
            FERRY_AUTOFREE char *s = ferry_size_human(r->layers[i].size);
            FERRY_AUTOFREE char *b = ferry_size_human(bound);
            return ferry_error(FERRY_ERR_INVALID,
                               "registry '%s': layer %zu (%s) is %s, more than %s (%s): refusing "
                               "it",
                               r->url, i + 1, r->layers[i].digest, s, b,
                               opt.volume ? "the volume size plus 1 GiB" : "the 64 TiB limit");
        }
    }
    ferry_log_debug(MOD, "'%s': manifest %s, %zu layers", r->url, ref, r->nlayers);
    return 0;
}

/* ---- layers: the union's /disk ------------------------------------------- */

static la_ssize_t
layer_cb_read(struct archive *a, void *opaque, const void **ret)
{
    struct layer *l = opaque;
    ssize_t n = blob_read(l->blob, ret);

    if (n < 0) {
        archive_set_error(a, EIO, "%s", ferry_error_message());
        return -1;
    }
    return n;
}

static int
layer_open(struct reg *r, size_t i, struct layer **ret)
{
    struct layer *l = ferry_calloc(1, sizeof(*l));
    FERRY_AUTOFREE char *what = ferry_printf("layer %zu", i + 1);

    l->index = i + 1;
    if (blob_open(r, &r->layers[i], what, &l->blob) < 0) {
        free(l);
        return -1;
    }
    l->a = archive_read_new();
    /* By content, as CDI: plain, gzip, zstd (and xz); named filters only. */
    archive_read_support_filter_gzip(l->a);
    archive_read_support_filter_zstd(l->a);
    archive_read_support_filter_xz(l->a);
    archive_read_support_format_tar(l->a);
    archive_read_set_read_callback(l->a, layer_cb_read);
    archive_read_set_callback_data(l->a, l);
    if (archive_read_open1(l->a) != ARCHIVE_OK) {
        if (!ferry_error_message()[0])
            ferry_error(FERRY_ERR_FORMAT, "registry '%s': %s: not a tar: %s", r->url, l->blob->what,
                        archive_error_string(l->a));
        layer_free(l);
        return -1;
    }
    *ret = l;
    return 0;
}

static bool
under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (n == 0)
        return true;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool
union_hidden(struct unionfs *u, const char *path)
{
    for (char **h = u->hidden; h && *h; h++)
        if (under(path, *h))
            return true;
    for (char **o = u->opaque; o && *o; o++)
        if (strlen(*o) == 0 || (under(path, *o) && strcmp(path, *o) != 0))
            return true;
    return false;
}

static bool
strv_has(char **v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

static const char *
type_name(mode_t t)
{
    switch (t) {
    case AE_IFLNK:
        return "a symbolic link";
    case AE_IFDIR:
        return "a directory";
    case AE_IFREG:
        return "a regular file";
    default:
        return "a device or fifo";
    }
}

/* The next header of the current layer that matters; 1 when it is the
 * disk (the layer is then positioned on its data), 0 at the layer's end. */
static int
layer_scan(struct reg *r, struct layer *l)
{
    struct archive_entry *e;

    for (;;) {
        int rc = archive_read_next_header(l->a, &e);
        if (rc == ARCHIVE_EOF)
            return 0;
        if (rc < ARCHIVE_WARN) {
            if (ferry_error_message()[0])
                return -1;
            return ferry_error(FERRY_ERR_FORMAT, "registry '%s': %s: %s", r->url, l->blob->what,
                               archive_error_string(l->a));
        }
        const char *raw = archive_entry_pathname(e);
        if (!raw)
            return ferry_error(FERRY_ERR_FORMAT, "registry '%s': %s: a member without a name",
                               r->url, l->blob->what);
        const char *p = raw;
        while (ferry_str_has_prefix(p, "./") || p[0] == '/')
            p += p[0] == '/' ? 1 : 2;
        FERRY_AUTOFREE char *path = ferry_strdup(p);
        size_t n = strlen(path);
        while (n > 0 && path[n - 1] == '/')
            path[--n] = '\0';
        FERRY_AUTOSTRV char **parts = ferry_strv_split(path, "/");
        for (char **q = parts; q && *q; q++)
            if (strcmp(*q, "..") == 0)
                return ferry_error(FERRY_ERR_SECURITY,
                                   "registry '%s': %s: member '%s' leaves the image ('..')", r->url,
                                   l->blob->what, raw);
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
            FERRY_AUTOSTRV char **hp = ferry_strv_split(hl, "/");
            for (char **q = hp; q && *q; q++)
                if (strcmp(*q, "..") == 0 || hl[0] == '/')
                    return ferry_error(FERRY_ERR_SECURITY,
                                       "registry '%s': %s: hard link '%s' points outside the "
                                       "image ('%s')",
                                       r->url, l->blob->what, raw, hl);
        }
        if (!path[0])
            continue; /* the root itself */

        /* Whiteouts apply to lower layers only. */
        char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (ferry_str_has_prefix(base, ".wh.")) {
            FERRY_AUTOFREE char *dir = slash ? ferry_strndup(path, slash - path) : ferry_strdup("");
            if (strcmp(base, ".wh..wh..opq") == 0) {
                ferry_strv_push(&l->opaque, dir);
            } else {
                FERRY_AUTOFREE char *t = ferry_printf("%s%s%s", dir, dir[0] ? "/" : "", base + 4);
                ferry_strv_push(&l->hidden, t);
            }
            continue;
        }
        if (!under(path, "disk") || union_hidden(&r->u, path))
            continue;
        mode_t type = hl ? 0 : archive_entry_filetype(e);
        if (strcmp(path, "disk") == 0) {
            if (r->u.disk_dir)
                continue; /* an upper layer's /disk directory covers it */
            if (type != AE_IFDIR)
                return ferry_error(FERRY_ERR_SECURITY,
                                   "registry '%s': %s: /disk is %s, not a directory%s", r->url,
                                   l->blob->what, hl ? "a hard link" : type_name(type),
                                   type == AE_IFLNK ? " (links are never followed)" : "");
            l->disk_dir = true;
            continue;
        }
        l->disk_dir = true;
        const char *child = path + 5;
        FERRY_AUTOFREE char *name = ferry_strndup(child, strcspn(child, "/"));
        FERRY_AUTOFREE char *full = ferry_printf("disk/%s", name);
        if (strv_has(r->u.children, name))
            continue; /* the same name in an upper layer (or earlier in this one) covers it */
        ferry_strv_push(&r->u.children, name);
        if (strchr(child, '/') || type == AE_IFDIR)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "registry '%s': %s: /disk/%s is a directory: /disk must hold "
                               "exactly one file, the disk",
                               r->url, l->blob->what, name);
        if (hl || type != AE_IFREG)
            return ferry_error(FERRY_ERR_SECURITY,
                               "registry '%s': %s: /disk/%s is %s: links are never followed",
                               r->url, l->blob->what, name, hl ? "a hard link" : type_name(type));
        if (r->u.disk)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "registry '%s': %s: /disk holds more than one file (/%s and "
                               "/disk/%s): only one disk is allowed",
                               r->url, l->blob->what, r->u.disk, name);
        r->u.disk = ferry_strdup(full);
        if (archive_entry_sparse_count(e) > 0)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "registry '%s': %s: /%s is a sparse tar "
                               "entry",
                               r->url, l->blob->what, full);
        r->disk_size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
        ferry_log_debug(MOD, "'%s': the disk is /%s in %s (%llu bytes)", r->url, full,
                        l->blob->what, (unsigned long long)r->disk_size);
        return 1;
    }
}

/* The current layer is read to its end: its whiteouts join the union,
 * every byte of its blob is read (digest). */
static int
layer_finish(struct reg *r, struct layer *l)
{
    const void *p;
    ssize_t n;

    while ((n = blob_read(l->blob, &p)) > 0)
        ;
    if (n < 0)
        return -1;
    for (char **h = l->hidden; h && *h; h++)
        ferry_strv_push(&r->u.hidden, *h);
    for (char **o = l->opaque; o && *o; o++)
        ferry_strv_push(&r->u.opaque, *o);
    if (l->disk_dir)
        r->u.disk_dir = true;
    return 0;
}

/* Read layers downwards until the disk is found (1), or all are read (0). */
static int
scan_layers(struct reg *r)
{
    while (r->cur || r->next > 0) {
        if (!r->cur) {
            r->next--;
            if (layer_open(r, r->next, &r->cur) < 0)
                return -1;
        }
        int rc = layer_scan(r, r->cur);
        if (rc != 0)
            return rc;
        if (layer_finish(r, r->cur) < 0)
            return -1;
        layer_free(r->cur);
        r->cur = NULL;
    }
    return 0;
}

/* ---- for tests ----------------------------------------------------------- */

int
ferry_registry_parse_url(const char *url, char **ret_api, char **ret_repo, char **ret_ref)
{
    struct reg *r = ferry_calloc(1, sizeof(*r));

    r->fd = -1;
    if (!ferry_str_has_prefix(url, "docker://") || parse_docker(r, url) < 0) {
        if (!ferry_error_message()[0])
            ferry_error(FERRY_ERR_INVALID, "registry url '%s': not docker://", url);
        reg_free(r);
        return -1;
    }
    *ret_api = FERRY_STEAL(r->api);
    *ret_repo = FERRY_STEAL(r->repo);
    *ret_ref = FERRY_STEAL(r->ref);
    reg_free(r);
    return 0;
}

char *
ferry_registry_challenge_param(const char *params, const char *key)
{
    return challenge_param(params, key);
}

/* ---- the source ---------------------------------------------------------- */

static bool
registry_handles(const char *url)
{
    return ferry_str_has_prefix(url, "docker://") || ferry_str_has_prefix(url, "oci-archive:");
}

static int
registry_open(struct ferry_source *src, const char *url)
{
    struct reg *r = ferry_calloc(1, sizeof(*r));
    int rc;

    src->priv = r;
    r->fd = -1;
    r->url = ferry_strdup(url);
    r->oci = ferry_str_has_prefix(url, "oci-archive:");
    if (r->oci) {
        if (parse_oci(r, url) < 0)
            return -1;
    } else {
        if (parse_docker(r, url) < 0 || load_credentials(r) < 0 || authenticate(r) < 0)
            return -1;
    }
    if (resolve(r) < 0)
        return -1;
    r->next = r->nlayers;
    rc = scan_layers(r);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return ferry_error(FERRY_ERR_NOTFOUND,
                           "registry '%s': no disk in the image: a containerDisk holds exactly "
                           "one file in /disk",
                           url);
    src->size = r->disk_size;
    src->seekable = false;
    return 0;
}

static ssize_t
registry_read(struct ferry_source *src, void *buf, size_t len)
{
    struct reg *r = src->priv;
    la_ssize_t n;

    if (r->finished)
        return 0;
    n = archive_read_data(r->cur->a, buf, len);
    if (n < 0) {
        if (ferry_error_message()[0])
            return -1;
        return ferry_error(FERRY_ERR_FORMAT, "registry '%s': %s: %s", r->url, r->cur->blob->what,
                           archive_error_string(r->cur->a));
    }
    if (n > 0)
        return n;
    /* The disk's end: the rest of the image must hold no second disk, and
     * every blob must be what its digest says, before the end is reported. */
    int rc = layer_scan(r, r->cur);
    if (rc > 0)
        return ferry_error(FERRY_ERR_INTERNAL, "registry '%s': a second disk", r->url);
    if (rc < 0 || layer_finish(r, r->cur) < 0)
        return -1;
    layer_free(r->cur);
    r->cur = NULL;
    if (scan_layers(r) != 0)
        return -1;
    r->finished = true;
    return 0;
}

static void
registry_close(struct ferry_source *src)
{
    reg_free(src->priv);
    src->priv = NULL;
}

/* A registry reads lower layers, renews tokens and resumes blobs after the
 * importer is confined: docker:// keeps the network; oci-archive: holds its
 * fd. */
static bool
registry_needs_network(const char *url)
{
    return ferry_str_has_prefix(url, "docker://");
}

static const char *const registry_schemes[] = { "docker://", "oci-archive:", NULL };

const struct ferry_source_ops ferry_source_registry = {
    .name = "registry",
    .help = "a containerDisk (the one file in its /disk): docker://HOST[:PORT]/REPO"
            "[:TAG|@DIGEST] from a registry, oci-archive:PATH[:REF] from a tarred OCI layout",
    .schemes = registry_schemes,
    .options = registry_options,
    .config = registry_config,
    .volume_size = registry_volume_size,
    .dv_source = "registry",
    .needs_network = registry_needs_network,
    .handles = registry_handles,
    .open = registry_open,
    .read = registry_read,
    .close = registry_close,
};
