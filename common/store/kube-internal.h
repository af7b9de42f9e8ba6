/* The kube store driver's parts (internal to common/store): kubeconfig.c
 * reads the client configuration and hands out credentials, kube-http.c
 * makes requests over one pool of keep-alive connections and turns the
 * server's answers into Ferry errors, kube.c implements the store ops and
 * kube-watch.c the watches. */
#ifndef FERRY_STORE_KUBE_INTERNAL_H
#define FERRY_STORE_KUBE_INTERNAL_H

#include "common/store/driver.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ---- kubeconfig.c ----------------------------------------------------- */

struct kube_config {
    char *source;           /* "kubeconfig '/root/.kube/config'", "in-cluster config" */
    char *server;           /* "https://host:port[/prefix]", no trailing '/' */
    char *tls_server_name;  /* NULL: the server's host */
    bool insecure;          /* insecure-skip-tls-verify */
    char *ca_pem;           /* NULL: the system's CAs */
    size_t ca_len;
    char *cert_pem, *key_pem; /* client certificate (kubeconfig) */
    size_t cert_len, key_len;
    char *token;            /* a static token */
    char *token_file;       /* re-read every minute; wins over token */
    json_object *exec;      /* users[].user.exec */
    char *exec_dir;         /* directory of the file that named the plugin */
    char *cluster_name;     /* for messages and KUBERNETES_EXEC_INFO */
    char *user_name;
    char *namespace;        /* the context's namespace (informational) */
    char *proxy_url;        /* cluster proxy-url, NULL: libcurl's (https_proxy ...) */
    bool no_compression;    /* cluster disable-compression */
    char **impersonate;     /* "Impersonate-User: x", "Impersonate-Group: y" ... headers */

    /* credentials as last read (lock) */
    pthread_mutex_t lock;
    char *cur_token;
    uint64_t token_read_ns;  /* CLOCK_MONOTONIC of the last token file read */
    time_t exec_expiry;      /* 0: no expiry */
    bool exec_valid;
    char *exec_cert, *exec_key; /* client certificate from the plugin */
};

/* arg: "" for $KUBECONFIG, ~/.kube/config or the in-cluster config, in
 * that order; else a kubeconfig path.  $FERRY_KUBE_SERVICEACCOUNT_DIR
 * replaces /var/run/secrets/kubernetes.io/serviceaccount (for tests). */
int ferry_kube_config_load(const char *arg, struct kube_config **ret);
void ferry_kube_config_free(struct kube_config *c);
/* The credentials for the next request (strings the caller frees; NULL
 * when not used).  refresh: the server answered 401, re-read the token
 * file and re-run the exec plugin even if its credential has not expired. */
int ferry_kube_config_credentials(struct kube_config *c, bool refresh, char **ret_token,
                                  char **ret_cert, char **ret_key);

/* ---- kube-http.c ------------------------------------------------------ */

struct kube_http;
struct kube_http *ferry_kube_http_new(struct kube_config *cfg);
void ferry_kube_http_free(struct kube_http *h);

struct kube_resp {
    long code;              /* HTTP status */
    char *body;
    size_t len;
};
void ferry_kube_resp_release(struct kube_resp *r);

/* One request; path_query starts with '/'.  body may be NULL.  0 with the
 * response for any HTTP status (401 retried once with fresh credentials,
 * 429 honoured a few times); -1 and FERRY_ERR_NETWORK when none came. */
int ferry_kube_http_request(struct kube_http *h, const char *method, const char *path_query,
                            const char *content_type, const char *body, struct kube_resp *ret);
/* A configured easy handle for a long request (a watch) that the caller
 * drives, on the same share (DNS, TLS sessions, connections).  *ret_headers
 * is to be freed with curl_slist_free_all after the transfer. */
CURL *ferry_kube_http_easy(struct kube_http *h, const char *path_query, bool refresh,
                           struct curl_slist **ret_headers);
/* Free a handle from ferry_kube_http_easy (the caller removed it from
 * its multi handle). */
void ferry_kube_http_easy_free(CURL *c);
const char *ferry_kube_http_server(struct kube_http *h);

/* The error for a non-2xx answer: 404 NOTFOUND (UNSUPPORTED when the
 * resource type itself is missing), 409 EXISTS or CONFLICT by the Status's
 * reason, 400/422 INVALID, 401/403 SECURITY naming verb and resource, 410
 * EXPIRED, 504 TIMEOUT, else NETWORK; the message is the server's. */
int ferry_kube_error(const char *verb, const struct ferry_resource *res, long code,
                     const char *body, size_t len);

/* "/apis/kubevirt.io/v1/namespaces/NS/virtualmachines[/NAME[/SUB]]",
 * "/api/v1/nodes": ns NULL for cluster-scoped kinds or all namespaces. */
char *ferry_kube_path(const struct ferry_resource *res, const char *ns, const char *name,
                      const char *sub);
/* URL-escaped copy. */
char *ferry_kube_escape(const char *s);

/* ---- kube.c / kube-watch.c -------------------------------------------- */

struct kube_store {
    struct ferry_store base;
    struct kube_config *cfg;
    struct kube_http *http;
    pthread_mutex_t lock;    /* the discovery cache */
    int8_t status_sub[32];   /* per ferry_resources[] index: 0 unknown, 1 yes, -1 no */
    struct kube_event_seen { /* Events this handle wrote (lock), as client-go's cache */
        char *key;           /* "namespace/name" */
        int64_t count;
        char *rv;
    } events[256];
    unsigned next_event;
};
#define KUBE(st) ((struct kube_store *)(st))

int ferry_kube_watch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                     int64_t from_rv, struct ferry_watch **ret);
int ferry_kube_watch_selected(struct ferry_store *st, const struct ferry_resource *res,
                              const char *ns, const struct ferry_selector *sel, int64_t from_rv,
                              struct ferry_watch **ret);
/* A list into items (may be NULL: only the resourceVersion). */
int ferry_kube_list(struct kube_store *k, const struct ferry_resource *res, const char *ns,
                    const char *selector, json_object **ret_items, int64_t *ret_rv);
/* Parse a decimal resourceVersion; -1 when it is not one. */
int64_t ferry_kube_parse_rv(const char *rv);

#endif
