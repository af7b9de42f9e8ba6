/* The imageio source: a disk of an oVirt / RHV engine, downloaded through
 * an image transfer (ovirt-engine REST API "ImageTransferService", and
 * ovirt-imageio's "Images API").  A URL
 *
 *     imageio://ENGINE[:PORT]/DISK-ID                        (engine at /ovirt-engine)
 *     imageio://ENGINE[:PORT]/PREFIX/api/disks/DISK-ID       (the disk's API href)
 *
 * is read as follows:
 *   1. POST https://ENGINE/PREFIX/sso/oauth/token (grant_type=password,
 *      scope=ovirt-app-api) -> an access token, sent as Bearer after that;
 *   2. POST PREFIX/api/imagetransfers {disk, direction download, format
 *      raw}, then GET it until its phase is "transferring";
 *   3. OPTIONS on its transfer_url (the imageio daemon on a host; proxy_url
 *      when there is none), and GET .../extents?context=zero: only data
 *      extents are fetched (GET with one Range each, at most the
 *      daemon's max_readers at once, 206 with the bytes
 *      asked for, the total length being "*"), zero extents stay holes in
 *      the destination (the source's next_data hook, as SEEK_DATA for a
 *      local file);
 *   4. POST .../extend every --imageio-extend-interval seconds while the
 *      import runs (the ticket would expire), from a thread started with
 *      the first read, i.e. once the importer has confined itself;
 *   5. on close, POST .../finalize when the whole disk was read and the
 *      import succeeded, else POST .../cancel, and the token is revoked
 *      (PREFIX/services/sso-logout; a 401 before that logs in again); SIGINT, SIGTERM and SIGHUP
 *      cancel the transfer too before the importer dies (the signal wakes
 *      the same thread; before the first read the engine's inactivity
 *      timeout, set to INACTIVITY seconds, cleans up).
 * The transfer is in raw format: what is fetched is the guest's disk. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/sources/curl-common.h"
#include "importer/sources/remote-common.h"

#define MOD "importer.imageio"

extern const struct ferry_format ferry_format_raw;
#define POOL 4
#define INACTIVITY 120                  /* seconds, the transfer's inactivity_timeout */
#define POLL_MAX_NS (UINT64_C(300) * 1000000000)
#define LOCKED_MAX_NS (UINT64_C(120) * 1000000000)
#define MAX_BODY (64u << 20)            /* an engine answer or the extents list */
#define MAX_GET (8u << 20)              /* one Range GET */

/* ---- options ------------------------------------------------------------- */

static struct {
    char *secret_dir;
    char *ca_path;
    bool insecure;
    unsigned extend_interval;
} opt = { .extend_interval = 30 };

static const struct ferry_source_option imageio_options[] = {
    { "imageio-secret-dir", "DIR",
      "credentials for the engine: files accessKeyId\n"
      "(user, e.g. admin@internal) and secretKey (password);\n"
      "default: IMPORTER_ACCESS_KEY_ID and IMPORTER_SECRET_KEY" },
    { "imageio-ca", "PATH",
      "CA certificates of the engine and the imageio daemon\n(a PEM file or a directory of them), "
      "added to the system\nroots; default: IMPORTER_CERT_DIR" },
    { "imageio-insecure", NULL, "do not verify TLS certificates" },
    { "imageio-extend-interval", "SECONDS",
      "extend the transfer's ticket this often (default 30)" },
    { NULL },
};

static int
imageio_config(const char *name, const char *value)
{
    if (strcmp(name, "imageio-insecure") == 0) {
        opt.insecure = true;
    } else if (strcmp(name, "imageio-secret-dir") == 0) {
        ferry_source_option_string(&opt.secret_dir, value);
    } else if (strcmp(name, "imageio-ca") == 0) {
        ferry_source_option_string(&opt.ca_path, value);
    } else if (strcmp(name, "imageio-extend-interval") == 0) {
        char *end;
        unsigned long v = strtoul(value, &end, 10);
        if (!*value || *end || v == 0 || v > 3600)
            return ferry_error(FERRY_ERR_INVALID,
                               "--imageio-extend-interval '%s': expected seconds from 1 to 3600",
                               value);
        opt.extend_interval = v;
    }
    return 0;
}

/* ---- state --------------------------------------------------------------- */

struct ival {
    uint64_t a, b;
};

struct iio_priv {
    char *base;                   /* https://ENGINE[:PORT]/ovirt-engine */
    char *disk;
    char *user, *password, *token;
    char *ca;
    size_t ca_len;
    char *transfer;               /* BASE/api/imagetransfers/ID, once created */
    char *daemon;                 /* the transfer_url */
    struct ferry_extent *ext;     /* [0, size), data and zero */
    size_t n;

    pthread_mutex_t lock;
    struct ferry_curl_pool pool;
    uint64_t cursor;              /* read() */
    unsigned max_readers;         /* the daemon's limit of parallel reads (1 when unsaid) */
    unsigned readers;             /* reads in flight */
    pthread_cond_t reader_free;
    struct ival *got;             /* data ranges fetched, sorted, merged */
    size_t ngot;
    bool read_failed;

    bool watching;                /* the thread below runs */
    pthread_t watcher;
    int pipe[2];
    pthread_mutex_t end_lock;
    bool ended;                   /* finalized or cancelled */
    unsigned extends;
};

static bool
imageio_handles(const char *url)
{
    return ferry_str_has_prefix(url, "imageio://");
}

static bool
id_ok(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n <= 64 && strspn(id, "0123456789abcdefABCDEF-") == n;
}

static int
parse_url(const char *url, struct iio_priv *p)
{
    const char *rest = url + strlen("imageio://");
    size_t hl = strcspn(rest, "/?#");
    const char *path = rest + hl;
    FERRY_AUTOFREE char *host = ferry_strndup(rest, hl);
    const char *disk = strrchr(path, '/');

    if (!host[0] || strpbrk(host, "@ \t") || strpbrk(path, "?#") || !disk || !id_ok(disk + 1))
        return ferry_error(FERRY_ERR_INVALID,
                           "imageio '%s': expected imageio://ENGINE[:PORT]/DISK-ID or "
                           "imageio://ENGINE[:PORT]/ovirt-engine/api/disks/DISK-ID (a disk id "
                           "of hex digits and dashes; credentials in --imageio-secret-dir)",
                           url);
    p->disk = ferry_strdup(disk + 1);
    if (disk == path) {
        p->base = ferry_printf("https://%s/ovirt-engine", host);
        return 0;
    }
    size_t pl = disk - path;
    if (pl < strlen("/api/disks") || strncmp(disk - strlen("/api/disks"), "/api/disks", 10) != 0 ||
        strstr(path, "/../") || strstr(path, "/./"))
        return ferry_error(FERRY_ERR_INVALID,
                           "imageio '%s': the path must end in /api/disks/DISK-ID (the disk's "
                           "href on the engine)",
                           url);
    p->base = ferry_printf("https://%s%.*s", host, (int)(pl - strlen("/api/disks")), path);
    return 0;
}

/* ---- engine calls ---------------------------------------------------------- */

struct body {
    char *data;
    size_t len;
    bool overflow;
};

static size_t
body_write(char *data, size_t size, size_t n, void *opaque)
{
    struct body *b = opaque;
    size_t len = size * n;

    if (b->len + len > MAX_BODY) {
        b->overflow = true;
        return 0;
    }
    ferry_buf_append(&b->data, &b->len, data, len);
    return len;
}

static CURL *
new_handle(struct iio_priv *p, const char *url)
{
    return ferry_remote_https_handle(url, ferry_log_debug_enabled(MOD), p->ca, p->ca_len,
                                     opt.insecure, NULL);
}

/* One request: METHOD URL with BODY (CTYPE), the engine's token when
 * BEARER (never to the daemon, another host).
 * *ret_code the HTTP status, *ret_json the answer when it is JSON (may be
 * NULL), *ret_text its start for messages.  -1 only when no answer came. */
static int
call(struct iio_priv *p, const char *what, const char *method, const char *url, const char *ctype,
     const char *body, bool bearer, long *ret_code, json_object **ret_json, char *text,
     size_t textlen)
{
    CURL *c = new_handle(p, url);
    struct curl_slist *h = NULL;
    struct body b = { 0 };
    char errbuf[CURL_ERROR_SIZE] = "";
    long code = 0;

    h = curl_slist_append(h, "Accept: application/json");
    if (ctype) {
        FERRY_AUTOFREE char *ct = ferry_printf("Content-Type: %s", ctype);
        h = curl_slist_append(h, ct);
    }
    if (bearer && p->token) {
        FERRY_AUTOFREE char *a = ferry_printf("Authorization: Bearer %s", p->token);
        h = curl_slist_append(h, a);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (strcmp(method, "OPTIONS") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    FERRY_AUTOFREE char *data = b.data;
    if (rc != CURLE_OK) {
        if (b.overflow)
            return ferry_error(FERRY_ERR_FORMAT, "%s: %s %s: the answer is larger than %u MiB",
                               what, method, url, MAX_BODY >> 20);
        return ferry_error(FERRY_ERR_NETWORK, "%s: %s %s: %s", what, method, url,
                           errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    *ret_code = code;
    if (ret_json) {
        *ret_json = NULL;
        if (data && data[strspn(data, " \t\r\n")] &&
            strchr("{[", data[strspn(data, " \t\r\n")])) {
            *ret_json = json_tokener_parse(data);
        }
    }
    if (text && textlen) {
        text[0] = '\0';
        if (data) {
            /* one line for messages */
            size_t k = 0;
            for (const char *s = data; *s && k + 1 < textlen; s++)
                text[k++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
            text[k] = '\0';
        }
    }
    return 0;
}

/* What an engine or SSO error says: a fault's detail/reason, OAuth's
 * error_description/error, or the start of the page. */
static const char *
fault_text(json_object *j, const char *text)
{
    static const char *const keys[] = { "detail", "reason", "error_description", "error",
                                        "fault.detail", "fault.reason", NULL };

    for (size_t i = 0; j && keys[i]; i++) {
        const char *s = ferry_json_get_string(j, keys[i]);
        if (s && *s)
            return s;
    }
    return text && *text ? text : "no details";
}

static int64_t
json_size(json_object *j, const char *key)
{
    json_object *v = ferry_json_get(j, key);

    if (!v)
        return -1;
    if (json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        unsigned long long x = strtoull(s, &end, 10);
        if (*s >= '0' && *s <= '9' && !*end && x <= INT64_MAX)
            return x;
    }
    return -1;
}

static int
login(struct ferry_source *src, struct iio_priv *p)
{
    FERRY_AUTOFREE char *url = ferry_printf("%s/sso/oauth/token", p->base);
    FERRY_AUTOFREE char *u = ferry_remote_escape(p->user, false);
    FERRY_AUTOFREE char *pw = ferry_remote_escape(p->password, false);
    FERRY_AUTOFREE char *form =
        ferry_printf("grant_type=password&scope=ovirt-app-api&username=%s&password=%s", u, pw);
    FERRY_AUTOPTR(json_object) j = NULL;
    FERRY_AUTOFREE char *what = ferry_printf("imageio '%s'", src->url);
    char text[200];
    long code = 0;

    int r = call(p, what, "POST", url, "application/x-www-form-urlencoded", form, false, &code, &j,
                 text, sizeof(text));
    explicit_bzero(form, strlen(form));
    explicit_bzero(pw, strlen(pw));
    if (r < 0)
        return -1;
    const char *token = ferry_json_get_string(j, "access_token");
    if (code != 200 || !token || !*token)
        return ferry_error(code == 400 || code == 401 ? FERRY_ERR_INVALID : FERRY_ERR_NETWORK,
                           "imageio '%s': the engine's SSO refused the login of '%s' (HTTP %ld): "
                           "%s",
                           src->url, p->user, code, fault_text(j, text));
    if (strpbrk(token, "\r\n"))
        return ferry_error(FERRY_ERR_FORMAT, "imageio '%s': the SSO token has a line break",
                           src->url);
    free(p->token);
    p->token = ferry_strdup(token);
    ferry_log_debug(MOD, "'%s': logged in as '%s'", src->url, p->user);
    return 0;
}

/* A call to the engine's API with the token; a 401 (the engine's session
 * expired) logs in again, once, as oVirt's SDK does. */
static int
engine(struct ferry_source *src, struct iio_priv *p, const char *method, const char *url,
       const char *body, long *ret_code, json_object **ret_json, char *text, size_t textlen)
{
    FERRY_AUTOFREE char *what = ferry_printf("imageio '%s'", src->url);

    for (int attempt = 0;; attempt++) {
        if (call(p, what, method, url, body ? "application/json" : NULL, body, true, ret_code,
                 ret_json, text, textlen) < 0)
            return -1;
        if (*ret_code != 401 || attempt > 0)
            return 0;
        if (ret_json && *ret_json) {
            json_object_put(*ret_json);
            *ret_json = NULL;
        }
        ferry_log_debug(MOD, "'%s': the engine answered 401: logging in again", src->url);
        if (login(src, p) < 0)
            return -1;
    }
}

/* Revoke the token (the SDK's close(logout=True)); failures only logged. */
static void
logout(struct ferry_source *src, struct iio_priv *p)
{
    if (!p->token)
        return;
    FERRY_AUTOFREE char *url = ferry_printf("%s/services/sso-logout", p->base);
    FERRY_AUTOFREE char *tok = ferry_remote_escape(p->token, false);
    FERRY_AUTOFREE char *form = ferry_printf("scope=ovirt-app-api&token=%s", tok);
    FERRY_AUTOFREE char *what = ferry_printf("imageio '%s'", src->url);
    char text[200];
    long code = 0;

    if (call(p, what, "POST", url, "application/x-www-form-urlencoded", form, false, &code, NULL,
             text, sizeof(text)) < 0)
        ferry_log_warn("%s", ferry_error_message());
    else if (code != 200)
        ferry_log_debug(MOD, "'%s': sso-logout answered %ld: %s", src->url, code, text);
}

static void
sleep_ns(uint64_t ns)
{
    struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int
create_transfer(struct ferry_source *src, struct iio_priv *p)
{
    FERRY_AUTOFREE char *url = ferry_printf("%s/api/imagetransfers", p->base);
    FERRY_AUTOFREE char *body = ferry_printf(
        "{\"disk\":{\"id\":\"%s\"},\"direction\":\"download\",\"format\":\"raw\","
        "\"inactivity_timeout\":%d}",
        p->disk, INACTIVITY);
    char text[200];
    long code = 0;
    uint64_t start_ns = ferry_now_ns();

    /* A disk another operation holds ("Disk is locked", 409): tried again
     * for about two minutes, as CDI does. */
    for (uint64_t wait = 500000000;; wait = wait < 16000000000 ? wait * 2 : wait) {
        FERRY_AUTOPTR(json_object) j = NULL;
        if (engine(src, p, "POST", url, body, &code, &j, text, sizeof(text)) < 0)
            return -1;
        const char *id = ferry_json_get_string(j, "id");
        if (code == 409 && strcasestr(fault_text(j, text), "locked") &&
            ferry_now_ns() - start_ns < LOCKED_MAX_NS) {
            ferry_log_info("imageio '%s': disk %s is locked: trying again", src->url, p->disk);
            sleep_ns(wait);
            continue;
        }
        if (code < 200 || code > 202 || !id)
            return ferry_error(code == 404 ? FERRY_ERR_NOTFOUND : FERRY_ERR_NETWORK,
                               "imageio '%s': creating the download of disk %s: the engine "
                               "answered %ld: %s",
                               src->url, p->disk, code, fault_text(j, text));
        if (!id_ok(id))
            return ferry_error(FERRY_ERR_FORMAT, "imageio '%s': the transfer id '%.64s' is not "
                               "an id", src->url, id);
        p->transfer = ferry_printf("%s/api/imagetransfers/%s", p->base, id);
        ferry_log_debug(MOD, "'%s': transfer %s created", src->url, id);
        break;
    }

    /* Poll until the session is ready. */
    uint64_t start = ferry_now_ns(), delay = 100000000;
    for (;;) {
        FERRY_AUTOPTR(json_object) j = NULL;
        if (engine(src, p, "GET", p->transfer, NULL, &code, &j, text, sizeof(text)) < 0)
            return -1;
        const char *phase = ferry_json_get_string(j, "phase");
        if (code != 200 || !phase)
            return ferry_error(FERRY_ERR_NETWORK,
                               "imageio '%s': transfer %s: the engine answered %ld: %s", src->url,
                               p->transfer, code, fault_text(j, text));
        if (strcmp(phase, "transferring") == 0) {
            const char *t = ferry_json_get_string(j, "transfer_url");
            if (!t || !*t)
                t = ferry_json_get_string(j, "proxy_url");
            if (!t || !ferry_str_has_prefix(t, "https://") || strpbrk(t, "?# \r\n"))
                return ferry_error(FERRY_ERR_FORMAT,
                                   "imageio '%s': transfer %s: no https transfer_url or "
                                   "proxy_url (got '%.100s')",
                                   src->url, p->transfer, t ? t : "");
            p->daemon = ferry_strdup(t);
            return 0;
        }
        if (strcmp(phase, "initializing") != 0 && strcmp(phase, "resuming") != 0)
            return ferry_error(FERRY_ERR_NETWORK,
                               "imageio '%s': transfer %s is in phase '%s'%s", src->url,
                               p->transfer, phase,
                               strcmp(phase, "paused_system") == 0
                                   ? " (the host's imageio daemon did not start the session)"
                                   : "");
        if (ferry_now_ns() - start > POLL_MAX_NS)
            return ferry_error(FERRY_ERR_TIMEOUT,
                               "imageio '%s': transfer %s still '%s' after %llu s", src->url,
                               p->transfer, phase,
                               (unsigned long long)(POLL_MAX_NS / 1000000000));
        sleep_ns(delay);
        if (delay < 2000000000)
            delay *= 2;
    }
}

int
ferry_imageio_extents(const char *what, struct json_object *list, struct ferry_extent **ret_ext,
                      size_t *ret_n, uint64_t *ret_size)
{
    FERRY_AUTOFREE struct ferry_extent *ext = NULL;
    size_t n = 0;
    uint64_t pos = 0;

    if (!list || !json_object_is_type(list, json_type_array))
        return ferry_error(FERRY_ERR_FORMAT, "%s: the extents are not a JSON list", what);
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *e = json_object_array_get_idx(list, i);
        int64_t start = json_size(e, "start"), len = json_size(e, "length");
        json_object *z = ferry_json_get(e, "zero");
        if (start < 0 || len <= 0 || !z || !json_object_is_type(z, json_type_boolean) ||
            (uint64_t)start != pos || (uint64_t)len > FERRY_MAX_VIRTUAL_SIZE - pos)
            return ferry_error(FERRY_ERR_FORMAT,
                               "%s: extent %zu (start %lld, length %lld): expected start %llu, a "
                               "length > 0, 'zero' true or false, and at most 64 TiB in all",
                               what, i, (long long)start, (long long)len,
                               (unsigned long long)pos);
        bool zero = json_object_get_boolean(z);
        ferry_extent_push(&ext, &n, pos, len, zero ? FERRY_EXTENT_ZERO : FERRY_EXTENT_DATA);
        pos += len;
    }
    if (pos == 0)
        return ferry_error(FERRY_ERR_FORMAT, "%s: the daemon lists no extents", what);
    *ret_ext = FERRY_STEAL(ext);
    *ret_n = n;
    *ret_size = pos;
    return 0;
}

/* The daemon's features, then the extents (or the whole disk as data). */
static int
load_extents(struct ferry_source *src, struct iio_priv *p)
{
    FERRY_AUTOFREE char *what = ferry_printf("imageio '%s'", src->url);
    bool extents = false;
    char text[200];
    long code = 0;

    {
        FERRY_AUTOPTR(json_object) j = NULL;
        if (call(p, what, "OPTIONS", p->daemon, NULL, NULL, false, &code, &j, text, sizeof(text)) <
            0)
            return -1;
        /* "If the server does not report the max_readers option it does
         * not support multiple connections" (imageio's images.md). */
        int64_t mr = json_size(j, "max_readers");
        p->max_readers = code == 200 && mr > 0 ? (mr > 64 ? 64 : (unsigned)mr) : 1;
        json_object *f = ferry_json_get(j, "features");
        if (code == 200 && f && json_object_is_type(f, json_type_array))
            for (size_t i = 0; i < json_object_array_length(f); i++)
                if (ferry_str_eq(json_object_get_string(json_object_array_get_idx(f, i)),
                                 "extents"))
                    extents = true;
        if (code == 403)
            return ferry_error(FERRY_ERR_NETWORK,
                               "imageio '%s': %s: the daemon refused the ticket (403)", src->url,
                               p->daemon);
    }
    if (!extents) {
        /* An old daemon (405) or proxy (204): the disk's size from the
         * engine, every byte fetched. */
        FERRY_AUTOFREE char *url = ferry_printf("%s/api/disks/%s", p->base, p->disk);
        FERRY_AUTOPTR(json_object) j = NULL;
        if (engine(src, p, "GET", url, NULL, &code, &j, text, sizeof(text)) < 0)
            return -1;
        int64_t size = json_size(j, "provisioned_size");
        if (code != 200 || size < 0 || (uint64_t)size > FERRY_MAX_VIRTUAL_SIZE)
            return ferry_error(FERRY_ERR_NETWORK,
                               "imageio '%s': disk %s: no provisioned_size up to 64 TiB (the "
                               "engine answered %ld: %s)",
                               src->url, p->disk, code, fault_text(j, text));
        ferry_extent_push(&p->ext, &p->n, 0, size, FERRY_EXTENT_DATA);
        src->size = size;
        ferry_log_debug(MOD, "'%s': no extents on the daemon: %lld bytes, all fetched", src->url,
                        (long long)size);
        return 0;
    }

    FERRY_AUTOFREE char *url = ferry_printf("%s/extents?context=zero", p->daemon);
    FERRY_AUTOPTR(json_object) j = NULL;
    if (call(p, what, "GET", url, NULL, NULL, false, &code, &j, text, sizeof(text)) < 0)
        return -1;
    if (code != 200)
        return ferry_error(FERRY_ERR_NETWORK, "imageio '%s': %s: answered %ld: %s", src->url, url,
                           code, text);
    uint64_t pos = 0;
    if (ferry_imageio_extents(what, j, &p->ext, &p->n, &pos) < 0)
        return -1;
    src->size = pos;
    ferry_log_debug(MOD, "'%s': %llu bytes in %zu extents", src->url, (unsigned long long)pos,
                    p->n);
    return 0;
}

/* ---- end of the transfer ---------------------------------------------------- */

static void
end_transfer(struct ferry_source *src, struct iio_priv *p, bool success)
{
    pthread_mutex_lock(&p->end_lock);
    if (p->ended || !p->transfer) {
        pthread_mutex_unlock(&p->end_lock);
        return;
    }
    p->ended = true;
    pthread_mutex_unlock(&p->end_lock);

    const char *action = success ? "finalize" : "cancel";
    FERRY_AUTOFREE char *url = ferry_printf("%s/%s", p->transfer, action);
    char text[200];
    long code = 0;

    /* Not the import's error: the thread's error stays what it was. */
    struct ferry_error_saved saved = { 0 };
    ferry_error_save(&saved);
    if (engine(src, p, "POST", url, "{}", &code, NULL, text, sizeof(text)) < 0)
        ferry_log_warn("%s: %s", action, ferry_error_message());
    else if (code < 200 || code > 299)
        ferry_log_warn("imageio '%s': %s of %s: the engine answered %ld: %s", src->url, action,
                       p->transfer, code, text);
    else
        ferry_log_debug(MOD, "'%s': transfer %s: %s", src->url, p->transfer, action);
    if (ferry_error_restore(&saved) == 0)
        ferry_error_reset();
}

/* ---- the watcher thread: ticket extension and signals ----------------------- */

static int signal_fd = -1;
static const int watched[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction previous[3];

static void
on_signal(int sig)
{
    int e = errno;
    unsigned char b = sig;

    if (write(signal_fd, &b, 1) < 0) {
        /* nothing to do in a handler */
    }
    errno = e;
}

static void
restore_signals(void)
{
    for (size_t i = 0; i < 3; i++)
        sigaction(watched[i], &previous[i], NULL);
}

static void
extend(struct ferry_source *src, struct iio_priv *p)
{
    FERRY_AUTOFREE char *url = ferry_printf("%s/extend", p->transfer);
    char text[200];
    long code = 0;

    if (engine(src, p, "POST", url, "{}", &code, NULL, text, sizeof(text)) < 0)
        ferry_log_warn("%s", ferry_error_message());
    else if (code < 200 || code > 299)
        ferry_log_warn("imageio '%s': extending transfer %s: the engine answered %ld: %s",
                       src->url, p->transfer, code, text);
    else
        ferry_log_debug(MOD, "'%s': ticket extended (%u)", src->url, ++p->extends);
    ferry_error_reset();
}

static void *
watcher_main(void *opaque)
{
    struct ferry_source *src = opaque;
    struct iio_priv *p = src->priv;

    for (;;) {
        struct pollfd pfd = { .fd = p->pipe[0], .events = POLLIN };
        int r = poll(&pfd, 1, (int)opt.extend_interval * 1000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            extend(src, p);
            continue;
        }
        unsigned char b = 0;
        if (read(p->pipe[0], &b, 1) != 1 || b == 0)
            return NULL;
        /* A signal: cancel, then die of it as the importer would have
         * (its handler removes the temporary destination). */
        ferry_log_info("imageio '%s': signal %d: cancelling transfer %s", src->url, b,
                       p->transfer);
        end_transfer(src, p, false);
        restore_signals();
        raise(b);
        return NULL;
    }
}

static int
start_watcher(struct ferry_source *src, struct iio_priv *p)
{
    struct sigaction sa = { .sa_handler = on_signal };

    if (pipe2(p->pipe, O_CLOEXEC) < 0)
        return ferry_error_errno(FERRY_ERR_INTERNAL, errno, "imageio '%s': pipe", src->url);
    signal_fd = p->pipe[1];
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; i++)
        sigaction(watched[i], &sa, &previous[i]);
    if (pthread_create(&p->watcher, NULL, watcher_main, src) != 0) {
        restore_signals();
        return ferry_error(FERRY_ERR_INTERNAL, "imageio '%s': cannot start a thread", src->url);
    }
    p->watching = true;
    return 0;
}

/* ---- reads ------------------------------------------------------------------ */

static void
note_fetched(struct iio_priv *p, uint64_t a, uint64_t b)
{
    size_t i = 0;

    /* p->lock held.  Insert [a, b) and merge what it touches. */
    while (i < p->ngot && p->got[i].b < a)
        i++;
    size_t j = i;
    while (j < p->ngot && p->got[j].a <= b) {
        if (p->got[j].a < a)
            a = p->got[j].a;
        if (p->got[j].b > b)
            b = p->got[j].b;
        j++;
    }
    if (j == i) {
        p->got = ferry_grow(p->got, p->ngot, sizeof(*p->got));
        memmove(p->got + i + 1, p->got + i, (p->ngot - i) * sizeof(*p->got));
        p->ngot++;
    } else if (j > i + 1) {
        memmove(p->got + i + 1, p->got + j, (p->ngot - j) * sizeof(*p->got));
        p->ngot -= j - i - 1;
    }
    p->got[i] = (struct ival){ a, b };
}

static int
fetch(struct ferry_source *src, struct iio_priv *p, void *buf, size_t len, uint64_t off)
{
    pthread_mutex_lock(&p->lock);
    while (p->readers >= p->max_readers)
        pthread_cond_wait(&p->reader_free, &p->lock);
    p->readers++;
    pthread_mutex_unlock(&p->lock);
    CURL *c = ferry_curl_pool_take(&p->pool);
    if (!c)
        c = new_handle(p, p->daemon);

    struct ferry_range_get q;
    ferry_range_get(&q, c, off, buf, len, NULL);
    ferry_curl_pool_give(&p->pool, c);
    pthread_mutex_lock(&p->lock);
    p->readers--;
    pthread_cond_signal(&p->reader_free);
    pthread_mutex_unlock(&p->lock);

    int r = -1;
    long code = q.code;
    const char *range = q.range;
    if (ferry_range_get_failed(&q))
        ferry_error(FERRY_ERR_NETWORK, "imageio '%s': %s range %s: %s", src->url, p->daemon,
                    range, ferry_range_get_error(&q));
    else if (code == 403)
        ferry_error(FERRY_ERR_NETWORK,
                    "imageio '%s': range %s: the daemon refused the ticket (403: it expired or "
                    "the transfer was cancelled)%s%.100s",
                    src->url, range, q.body_len ? ": " : "", q.body);
    else if (code != 206)
        ferry_error(FERRY_ERR_NETWORK, "imageio '%s': range %s: the daemon answered %ld%s%.100s",
                    src->url, range, code, q.body_len ? ": " : "", q.body);
    else if (!ferry_range_get_exact(&q, off) || (q.cr.total >= 0 && q.cr.total != src->size))
        ferry_error(FERRY_ERR_NETWORK,
                    "imageio '%s': range %s: the daemon answered 206 with %s%lld-%lld and %zu "
                    "bytes, expected 'bytes %s/*' and %zu bytes",
                    src->url, range, q.cr.valid ? "bytes " : "no valid Content-Range ",
                    (long long)q.cr.first, (long long)q.cr.last, q.got, range, len);
    else
        r = 0;
    pthread_mutex_lock(&p->lock);
    if (r == 0)
        note_fetched(p, off, off + len);
    else
        p->read_failed = true;
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* The extent holding OFF (OFF < size). */
static size_t
extent_at(struct iio_priv *p, uint64_t off)
{
    size_t lo = 0, hi = p->n;

    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->ext[mid].offset <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static ssize_t
imageio_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct iio_priv *p = src->priv;

    pthread_mutex_lock(&p->lock);
    int r = p->watching ? 0 : start_watcher(src, p);
    pthread_mutex_unlock(&p->lock);
    if (r < 0)
        return -1;
    len = ferry_source_clamp(src, off, len);
    for (size_t done = 0; done < len;) {
        uint64_t at = off + done;
        const struct ferry_extent *e = &p->ext[extent_at(p, at)];
        size_t seg = e->offset + e->length - at;
        if (seg > len - done)
            seg = len - done;
        if (e->type == FERRY_EXTENT_ZERO) {
            memset((uint8_t *)buf + done, 0, seg);
        } else {
            if (seg > MAX_GET)
                seg = MAX_GET;
            if (fetch(src, p, (uint8_t *)buf + done, seg, at) < 0)
                return -1;
        }
        done += seg;
    }
    return len;
}

static ssize_t
imageio_read(struct ferry_source *src, void *buf, size_t len)
{
    return ferry_remote_read(src, buf, len, MAX_GET, &((struct iio_priv *)src->priv)->cursor,
                             imageio_pread);
}

/* The next data extent at or after OFF (raw's map: zeros stay holes). */
static int
imageio_next_data(struct ferry_source *src, uint64_t off, uint64_t *ret_data, uint64_t *ret_hole)
{
    struct iio_priv *p = src->priv;

    if (off >= (uint64_t)src->size) {
        *ret_data = *ret_hole = src->size;
        return 0;
    }
    for (size_t i = extent_at(p, off); i < p->n; i++) {
        if (p->ext[i].type != FERRY_EXTENT_DATA)
            continue;
        /* extents are merged: the next one is zero */
        *ret_data = p->ext[i].offset > off ? p->ext[i].offset : off;
        *ret_hole = p->ext[i].offset + p->ext[i].length;
        return 0;
    }
    *ret_data = *ret_hole = src->size;
    return 0;
}

/* Every data extent fetched? */
static bool
all_fetched(struct iio_priv *p)
{
    size_t k = 0;

    for (size_t i = 0; i < p->n; i++) {
        const struct ferry_extent *e = &p->ext[i];
        if (e->type != FERRY_EXTENT_DATA)
            continue;
        while (k < p->ngot && p->got[k].b <= e->offset)
            k++;
        if (k == p->ngot || p->got[k].a > e->offset || p->got[k].b < e->offset + e->length)
            return false;
    }
    return p->n > 0;
}

static void
imageio_close(struct ferry_source *src)
{
    struct iio_priv *p = src->priv;

    if (!p)
        return;
    if (p->watching) {
        unsigned char stop = 0;
        if (write(p->pipe[1], &stop, 1) != 1)
            pthread_cancel(p->watcher);
        pthread_join(p->watcher, NULL);
        restore_signals();
        signal_fd = -1;
        close(p->pipe[0]);
        close(p->pipe[1]);
    }
    /* Success: the import's thread has no error, and every byte of data
     * came.  Anything else (an error, a ticket that expired, an import
     * given up half way) cancels. */
    bool ok = ferry_error_code() == FERRY_ERR_OK && !p->read_failed && all_fetched(p);
    end_transfer(src, p, ok);
    struct ferry_error_saved saved = { 0 };
    ferry_error_save(&saved);
    logout(src, p);
    if (ferry_error_restore(&saved) == 0)
        ferry_error_reset();
    ferry_curl_pool_destroy(&p->pool);
    free(p->base);
    free(p->disk);
    free(p->user);
    if (p->password)
        explicit_bzero(p->password, strlen(p->password));
    free(p->password);
    free(p->token);
    free(p->ca);
    free(p->transfer);
    free(p->daemon);
    free(p->ext);
    free(p->got);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->end_lock);
    pthread_cond_destroy(&p->reader_free);
    free(p);
    src->priv = NULL;
}

static int
imageio_open(struct ferry_source *src, const char *url)
{
    struct iio_priv *p = ferry_calloc(1, sizeof(*p));

    pthread_mutex_init(&p->lock, NULL);
    ferry_curl_pool_init(&p->pool, POOL);
    pthread_mutex_init(&p->end_lock, NULL);
    pthread_cond_init(&p->reader_free, NULL);
    p->max_readers = 1;
    p->pipe[0] = p->pipe[1] = -1;
    src->priv = p;
    if (parse_url(url, p) < 0)
        return -1;
    FERRY_AUTOFREE char *what = ferry_printf("imageio '%s'", url);
    if (ferry_remote_credentials(what, "--imageio-secret-dir", opt.secret_dir, &p->user,
                                 &p->password) < 0)
        return -1;
    /* CDI's certConfigMap, mounted where IMPORTER_CERT_DIR says. */
    if (ferry_remote_ca_option("--imageio-ca", opt.ca_path, &p->ca, &p->ca_len) < 0)
        return -1;
    if (login(src, p) < 0 || create_transfer(src, p) < 0 || load_extents(src, p) < 0)
        return -1;
    src->seekable = true;
    src->next_data = imageio_next_data;
    /* Asked in raw format: a guest's disk that starts like a qcow2 or a
     * gzip stream is still the guest's disk. */
    src->format = &ferry_format_raw;
    return 0;
}

int
ferry_imageio_url_from_cdi(const char *endpoint, const char *disk_id, char **ret_url)
{
    const char *rest = endpoint && ferry_str_has_prefix(endpoint, "https://")
                           ? endpoint + strlen("https://")
                           : NULL;
    size_t n = rest ? strlen(rest) : 0;

    while (n > 0 && rest[n - 1] == '/')
        n--;
    if (!rest || n == 0 || !disk_id || !id_ok(disk_id) || memchr(rest, '?', n) ||
        memchr(rest, '#', n))
        return ferry_error(FERRY_ERR_INVALID,
                           "imageio endpoint '%s', disk '%s': expected an https:// URL of the "
                           "engine's API (https://ENGINE/ovirt-engine/api) and a disk id",
                           endpoint ? endpoint : "", disk_id ? disk_id : "");
    size_t hl = strcspn(rest, "/");
    FERRY_AUTOFREE char *url = NULL;
    if (hl >= n)   /* https://ENGINE: the API at its usual place */
        url = ferry_printf("imageio://%.*s/ovirt-engine/api/disks/%s", (int)n, rest, disk_id);
    else if (n >= 4 && strncmp(rest + n - 4, "/api", 4) == 0)
        url = ferry_printf("imageio://%.*s/disks/%s", (int)n, rest, disk_id);
    else
        url = ferry_printf("imageio://%.*s/api/disks/%s", (int)n, rest, disk_id);
    /* Only a URL the source itself reads. */
    struct iio_priv check = { 0 };
    int r = parse_url(url, &check);
    free(check.base);
    free(check.disk);
    if (r < 0)
        return ferry_error_prefix("imageio endpoint '%s'", endpoint);
    *ret_url = FERRY_STEAL(url);
    return 0;
}

static const char *const imageio_schemes[] = { "imageio://", NULL };

const struct ferry_source_ops ferry_source_imageio = {
    .name = "imageio",
    .help = "a disk of an oVirt/RHV engine through an imageio transfer (only data extents "
            "fetched): imageio://ENGINE[:PORT]/DISK-ID or "
            "imageio://ENGINE[:PORT]/ovirt-engine/api/disks/DISK-ID",
    .schemes = imageio_schemes,
    .options = imageio_options,
    .config = imageio_config,
    /* spec.source.imageio {url, diskId}: the controller builds the URL with
     * ferry_imageio_url_from_cdi */
    .dv_source = "imageio",
    .needs_network = ferry_remote_needs_network,
    .handles = imageio_handles,
    .open = imageio_open,
    .read = imageio_read,
    .pread = imageio_pread,
    .close = imageio_close,
};
