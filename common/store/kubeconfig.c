/* The kube driver's client configuration, as client-go's clientcmd reads it:
 * KUBECONFIG as a ':' list of files merged so that the first file to set a
 * cluster, user or context name (or current-context) wins and missing files
 * are skipped; ~/.kube/config when KUBECONFIG is unset; else the in-cluster
 * config (KUBERNETES_SERVICE_HOST/PORT and the service account's token,
 * ca.crt and namespace).  Relative paths resolve against the directory of
 * the file that named them.
 *
 * Credentials: a static token, a tokenFile (re-read every minute, as
 * client-go's cached token source; it wins over token), a client
 * certificate and key (files or -data), or an exec plugin (client.
 * authentication.k8s.io v1beta1 or v1 ExecCredential: token or client
 * certificate, cached until its expirationTimestamp and re-run after a 401).
 * The in-cluster token is a token file, so a rotated projected token is
 * picked up. */
#include "common/store/kube-internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN_REREAD_NS (60ULL * 1000000000ULL)
#define FILE_MAX (4 * 1024 * 1024)
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void
ferry_kube_config_free(struct kube_config *c)
{
    if (!c)
        return;
    free(c->source);
    free(c->server);
    free(c->tls_server_name);
    free(c->ca_pem);
    free(c->cert_pem);
    free(c->key_pem);
    free(c->token);
    free(c->token_file);
    json_object_put(c->exec);
    free(c->exec_dir);
    free(c->cluster_name);
    free(c->user_name);
    free(c->namespace);
    free(c->proxy_url);
    ferry_strv_free(c->impersonate);
    free(c->cur_token);
    free(c->exec_cert);
    free(c->exec_key);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
typedef struct kube_config kube_config;
FERRY_DEFINE_AUTOPTR(kube_config, ferry_kube_config_free)

static struct kube_config *
config_new(const char *source)
{
    struct kube_config *c = ferry_calloc(1, sizeof *c);

    pthread_mutex_init(&c->lock, NULL);
    c->source = ferry_strdup(source);
    return c;
}

/* Base64 (with or without newlines) -> bytes, NUL-terminated. */
static int
b64_decode(const char *what, const char *in, char **ret, size_t *ret_len)
{
    size_t n = strlen(in), m = 0, pad = 0;
    FERRY_AUTOFREE char *clean = ferry_malloc(n + 1);
    FERRY_AUTOFREE char *out = NULL;
    int len;

    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)in[i]))
            clean[m++] = in[i];
    clean[m] = '\0';
    if (m == 0 || m % 4 != 0)
        return ferry_error(FERRY_ERR_FORMAT, "%s: not valid base64", what);
    while (pad < 2 && clean[m - 1 - pad] == '=')
        pad++;
    out = ferry_malloc(m / 4 * 3 + 1);
    len = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)clean, (int)m);
    if (len < 0)
        return ferry_error(FERRY_ERR_FORMAT, "%s: not valid base64", what);
    len -= (int)pad;
    out[len] = '\0';
    *ret_len = (size_t)len;
    *ret = FERRY_STEAL(out);
    return 0;
}

static char *
resolve(const char *dir, const char *path)
{
    if (!path || path[0] == '/' || !dir)
        return ferry_strdup(path);
    return ferry_printf("%s/%s", dir, path);
}

/* FIELD-data (base64) or FIELD (a path relative to dir) of entry. */
static int
read_blob(json_object *entry, const char *dir, const char *field, const char *what,
          char **ret, size_t *ret_len)
{
    FERRY_AUTOFREE char *key = ferry_printf("%s-data", field);
    const char *data = ferry_json_get_string(entry, key);
    const char *file = ferry_json_get_string(entry, field);
    FERRY_AUTOFREE char *path = NULL;

    *ret = NULL;
    *ret_len = 0;
    if (data && *data) {
        FERRY_AUTOFREE char *name = ferry_printf("%s: %s", what, key);
        return b64_decode(name, data, ret, ret_len);
    }
    if (!file || !*file)
        return 0;
    path = resolve(dir, file);
    if (ferry_file_read(path, FILE_MAX, ret, ret_len) < 0)
        return ferry_error_prefix("%s: %s", what, field);
    return 0;
}

static char *
trim(char *s)
{
    size_t n = strlen(s);

    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (isspace((unsigned char)*s))
        memmove(s, s + 1, strlen(s));
    return s;
}

/* ---- kubeconfig files ------------------------------------------------- */

/* name -> entry (with "__dir" added), first file wins. */
static void
merge_named(json_object *into, json_object *list, const char *inner, const char *dir)
{
    if (!json_object_is_type(list, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *item = json_object_array_get_idx(list, i);
        const char *name = ferry_json_get_string(item, "name");
        json_object *body = ferry_json_get(item, inner);
        json_object *copy;

        if (!name || json_object_object_get_ex(into, name, NULL))
            continue;
        copy = body ? ferry_json_copy(body) : json_object_new_object();
        if (!json_object_is_type(copy, json_type_object)) {
            json_object_put(copy);
            continue;
        }
        json_object_object_add(copy, "__dir", json_object_new_string(dir));
        json_object_object_add(into, name, copy);
    }
}

/* Whom to act as: as, as-uid, as-groups, as-user-extra (the server checks
 * that the credentials may impersonate). */
static int
impersonation(struct kube_config *c, json_object *user, const char *what)
{
    const char *as = ferry_json_get_string(user, "as");
    const char *uid = ferry_json_get_string(user, "as-uid");
    json_object *groups = ferry_json_get(user, "as-groups");
    json_object *extra = ferry_json_get(user, "as-user-extra");

    if (as && *as) {
        FERRY_AUTOFREE char *h = ferry_printf("Impersonate-User: %s", as);
        ferry_strv_push(&c->impersonate, h);
    }
    if (uid && *uid) {
        FERRY_AUTOFREE char *h = ferry_printf("Impersonate-Uid: %s", uid);
        ferry_strv_push(&c->impersonate, h);
    }
    for (size_t i = 0; json_object_is_type(groups, json_type_array) &&
                       i < json_object_array_length(groups); i++) {
        FERRY_AUTOFREE char *h = ferry_printf(
            "Impersonate-Group: %s", json_object_get_string(json_object_array_get_idx(groups, i)));
        ferry_strv_push(&c->impersonate, h);
    }
    if (json_object_is_type(extra, json_type_object)) {
        json_object_object_foreach(extra, key, vals) {
            FERRY_AUTOFREE char *ekey = ferry_kube_escape(key);
            for (size_t i = 0; json_object_is_type(vals, json_type_array) &&
                               i < json_object_array_length(vals); i++) {
                FERRY_AUTOFREE char *h = ferry_printf(
                    "Impersonate-Extra-%s: %s", ekey,
                    json_object_get_string(json_object_array_get_idx(vals, i)));
                ferry_strv_push(&c->impersonate, h);
            }
        }
    }
    for (char **h = c->impersonate; h && *h; h++)
        for (const char *p = *h; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return ferry_error(FERRY_ERR_INVALID, "%s: as/as-groups/as-user-extra: a "
                                   "value holds a control character", what);
    return 0;
}

/* A credential goes into a header: no control characters. */
static int
check_token(const char *what, const char *token)
{
    for (const char *p = token; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return ferry_error(FERRY_ERR_INVALID, "%s: token holds a control character", what);
    return 0;
}

static int
load_kubeconfig(char **paths, const char *what, struct kube_config **ret)
{
    FERRY_AUTOPTR(json_object) clusters = json_object_new_object();
    FERRY_AUTOPTR(json_object) users = json_object_new_object();
    FERRY_AUTOPTR(json_object) contexts = json_object_new_object();
    FERRY_AUTOPTR(kube_config) c = config_new(what);
    FERRY_AUTOFREE char *current = NULL;
    json_object *ctx, *cluster, *user;
    const char *cname, *uname, *server, *dir;
    size_t nread = 0;

    for (char **p = paths; p && *p; p++) {
        FERRY_AUTOPTR(json_object) docs = NULL;
        FERRY_AUTOFREE char *d = NULL;
        json_object *doc;
        char *slash;

        if (access(*p, F_OK) < 0)
            continue; /* as client-go: a missing file in the list is skipped */
        if (ferry_yaml_parse_file(*p, &docs) < 0)
            return ferry_error_prefix("%s", what);
        nread++;
        if (json_object_array_length(docs) == 0)
            continue;
        doc = json_object_array_get_idx(docs, 0);
        if (!json_object_is_type(doc, json_type_object))
            return ferry_error(FERRY_ERR_FORMAT, "kubeconfig '%s': not a mapping", *p);
        d = ferry_strdup(*p);
        slash = strrchr(d, '/');
        if (slash)
            *slash = '\0';
        else {
            free(d);
            d = ferry_strdup(".");
        }
        if (slash == d)
            strcpy(d, "/");
        merge_named(clusters, ferry_json_get(doc, "clusters"), "cluster", d);
        merge_named(users, ferry_json_get(doc, "users"), "user", d);
        merge_named(contexts, ferry_json_get(doc, "contexts"), "context", d);
        if (!current && ferry_json_get_string(doc, "current-context") &&
            *ferry_json_get_string(doc, "current-context"))
            current = ferry_strdup(ferry_json_get_string(doc, "current-context"));
    }
    if (nread == 0)
        return ferry_error(FERRY_ERR_NOTFOUND, "%s: no such file", what);
    if (!current)
        return ferry_error(FERRY_ERR_INVALID, "%s: current-context is not set", what);
    if (!json_object_object_get_ex(contexts, current, &ctx))
        return ferry_error(FERRY_ERR_INVALID, "%s: current-context: context \"%s\" not found",
                           what, current);
    cname = ferry_json_get_string(ctx, "cluster");
    uname = ferry_json_get_string(ctx, "user");
    if (!cname || !json_object_object_get_ex(clusters, cname, &cluster))
        return ferry_error(FERRY_ERR_INVALID, "%s: context \"%s\": cluster \"%s\" not found",
                           what, current, cname ? cname : "");
    user = NULL;
    if (uname && *uname && !json_object_object_get_ex(users, uname, &user))
        return ferry_error(FERRY_ERR_INVALID, "%s: context \"%s\": user \"%s\" not found",
                           what, current, uname);
    c->cluster_name = ferry_strdup(cname);
    c->user_name = ferry_strdup(uname ? uname : "");
    c->namespace = ferry_strdup(ferry_json_get_string(ctx, "namespace") ?: "default");

    server = ferry_json_get_string(cluster, "server");
    if (!server || !*server)
        return ferry_error(FERRY_ERR_INVALID, "%s: cluster \"%s\": server: Required value",
                           what, cname);
    if (!ferry_str_has_prefix(server, "https://") && !ferry_str_has_prefix(server, "http://"))
        return ferry_error(FERRY_ERR_INVALID, "%s: cluster \"%s\": server: Invalid value: "
                           "\"%s\": must be an http(s) URL", what, cname, server);
    c->server = ferry_strdup(server);
    while (strlen(c->server) > 8 && c->server[strlen(c->server) - 1] == '/')
        c->server[strlen(c->server) - 1] = '\0';
    if (ferry_json_get_string(cluster, "tls-server-name") &&
        *ferry_json_get_string(cluster, "tls-server-name"))
        c->tls_server_name = ferry_strdup(ferry_json_get_string(cluster, "tls-server-name"));
    c->insecure = ferry_json_get_bool(cluster, "insecure-skip-tls-verify", false);
    c->no_compression = ferry_json_get_bool(cluster, "disable-compression", false);
    if (ferry_json_get_string(cluster, "proxy-url") && *ferry_json_get_string(cluster, "proxy-url"))
        c->proxy_url = ferry_strdup(ferry_json_get_string(cluster, "proxy-url"));
    dir = ferry_json_get_string(cluster, "__dir");
    {
        FERRY_AUTOFREE char *w = ferry_printf("%s: cluster \"%s\"", what, cname);
        if (read_blob(cluster, dir, "certificate-authority", w, &c->ca_pem, &c->ca_len) < 0)
            return -1;
    }
    if (user) {
        FERRY_AUTOFREE char *w = ferry_printf("%s: user \"%s\"", what, uname);
        const char *tf = ferry_json_get_string(user, "tokenFile");
        json_object *exec = ferry_json_get(user, "exec");

        dir = ferry_json_get_string(user, "__dir");
        if (read_blob(user, dir, "client-certificate", w, &c->cert_pem, &c->cert_len) < 0 ||
            read_blob(user, dir, "client-key", w, &c->key_pem, &c->key_len) < 0)
            return -1;
        if (!c->cert_pem != !c->key_pem)
            return ferry_error(FERRY_ERR_INVALID, "%s: client-certificate and client-key "
                               "must be given together", w);
        if (ferry_json_get_string(user, "token") && *ferry_json_get_string(user, "token")) {
            if (check_token(w, ferry_json_get_string(user, "token")) < 0)
                return -1;
            c->token = ferry_strdup(ferry_json_get_string(user, "token"));
        }
        if (tf && *tf)
            c->token_file = resolve(dir, tf);
        if (impersonation(c, user, w) < 0)
            return -1;
        if (ferry_json_get(user, "auth-provider"))
            return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: auth-provider: not supported (use an "
                               "exec credential plugin)", w);
        if (exec) {
            const char *api = ferry_json_get_string(exec, "apiVersion");
            const char *cmd = ferry_json_get_string(exec, "command");

            if (!cmd || !*cmd)
                return ferry_error(FERRY_ERR_INVALID, "%s: exec.command: Required value", w);
            if (!ferry_str_eq(api, "client.authentication.k8s.io/v1beta1") &&
                !ferry_str_eq(api, "client.authentication.k8s.io/v1"))
                return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: exec.apiVersion: Unsupported "
                                   "value: \"%s\": supported values: "
                                   "\"client.authentication.k8s.io/v1beta1\", "
                                   "\"client.authentication.k8s.io/v1\"", w, api ? api : "");
            c->exec = ferry_json_copy(exec);
            c->exec_dir = ferry_strdup(dir);
        }
    }
    *ret = FERRY_STEAL(c);
    return 0;
}

static int
load_in_cluster(struct kube_config **ret)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = getenv("FERRY_KUBE_SERVICEACCOUNT_DIR");
    const char *podns = getenv("POD_NAMESPACE");
    FERRY_AUTOPTR(kube_config) c = config_new("in-cluster config");
    FERRY_AUTOFREE char *ca = NULL, *nsfile = NULL, *ns = NULL;
    size_t nslen;

    if (!dir || !*dir)
        dir = SA_DIR;
    if (!host || !*host || !port || !*port)
        return ferry_error(FERRY_ERR_NOTFOUND, "in-cluster config: KUBERNETES_SERVICE_HOST "
                           "and KUBERNETES_SERVICE_PORT must be set");
    c->server = strchr(host, ':') ? ferry_printf("https://[%s]:%s", host, port)
                                  : ferry_printf("https://%s:%s", host, port);
    c->token_file = ferry_printf("%s/token", dir);
    if (access(c->token_file, R_OK) < 0)
        return ferry_error_errno(FERRY_ERR_NOTFOUND, errno, "in-cluster config: '%s'",
                                 c->token_file);
    ca = ferry_printf("%s/ca.crt", dir);
    if (ferry_file_read(ca, FILE_MAX, &c->ca_pem, &c->ca_len) < 0)
        return ferry_error_prefix("in-cluster config");
    nsfile = ferry_printf("%s/namespace", dir);
    if (podns && *podns)
        c->namespace = ferry_strdup(podns);
    else if (ferry_file_read(nsfile, 4096, &ns, &nslen) == 0)
        c->namespace = ferry_strdup(trim(ns));
    else {
        ferry_error_reset();
        c->namespace = ferry_strdup("default");
    }
    c->cluster_name = ferry_strdup("in-cluster");
    c->user_name = ferry_strdup("serviceaccount");
    *ret = FERRY_STEAL(c);
    return 0;
}

int
ferry_kube_config_load(const char *arg, struct kube_config **ret)
{
    FERRY_AUTOSTRV char **paths = NULL;
    FERRY_AUTOFREE char *what = NULL;
    const char *env = getenv("KUBECONFIG");

    if (arg && *arg) {
        ferry_strv_push(&paths, arg);
        what = ferry_printf("kubeconfig '%s'", arg);
        if (access(arg, F_OK) < 0)
            return ferry_error_errno(FERRY_ERR_NOTFOUND, errno, "%s", what);
    } else if (env && *env) {
        paths = ferry_strv_split(env, ":");
        what = ferry_printf("kubeconfig '%s' (KUBECONFIG)", env);
    } else {
        const char *home = getenv("HOME");
        FERRY_AUTOFREE char *def = NULL;

        if (!home || !*home) {
            struct passwd *pw = getpwuid(geteuid());
            home = pw ? pw->pw_dir : "/";
        }
        def = ferry_printf("%s/.kube/config", home);
        if (access(def, F_OK) < 0) {
            if (getenv("KUBERNETES_SERVICE_HOST"))
                return load_in_cluster(ret);
            return ferry_error(FERRY_ERR_NOTFOUND, "no kubeconfig: set "
                               "KUBECONFIG or --kubeconfig, create %s, or run in a pod "
                               "(KUBERNETES_SERVICE_HOST)", def);
        }
        ferry_strv_push(&paths, def);
        what = ferry_printf("kubeconfig '%s'", def);
    }
    return load_kubeconfig(paths, what, ret);
}

/* ---- credentials ------------------------------------------------------ */

static int
read_token_file(struct kube_config *c)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;

    if (ferry_file_read(c->token_file, 64 * 1024, &buf, &len) < 0)
        return ferry_error_prefix("%s: token file", c->source);
    trim(buf);
    if (!*buf)
        return ferry_error(FERRY_ERR_INVALID, "%s: token file '%s' is empty", c->source,
                           c->token_file);
    if (check_token(c->token_file, buf) < 0)
        return ferry_error_prefix("%s", c->source);
    free(c->cur_token);
    c->cur_token = FERRY_STEAL(buf);
    c->token_read_ns = ferry_now_ns();
    return 0;
}

static int
run_exec(struct kube_config *c)
{
    json_object *exec = c->exec;
    const char *api = ferry_json_get_string(exec, "apiVersion");
    const char *cmd = ferry_json_get_string(exec, "command");
    json_object *args = ferry_json_get(exec, "args"), *envs = ferry_json_get(exec, "env");
    FERRY_AUTOSTRV char **argv = NULL;
    FERRY_AUTOSTRV char **env = NULL;
    FERRY_AUTOFREE char *out = NULL, *info = NULL, *what = NULL;
    FERRY_AUTOPTR(json_object) cred = NULL;
    struct ferry_spawn_opts so = { 0 };
    struct ferry_child child;
    size_t len = 0, cap = 0;
    const char *token, *cert, *key, *exp;
    int status;

    what = ferry_printf("%s: user \"%s\": exec plugin '%s'", c->source, c->user_name, cmd);
    if (strchr(cmd, '/') && cmd[0] != '/') {
        FERRY_AUTOFREE char *p = resolve(c->exec_dir, cmd);
        ferry_strv_push(&argv, p);
    } else
        ferry_strv_push(&argv, cmd);
    for (size_t i = 0; json_object_is_type(args, json_type_array) &&
                       i < json_object_array_length(args); i++)
        ferry_strv_push(&argv, json_object_get_string(json_object_array_get_idx(args, i)));
    for (size_t i = 0; json_object_is_type(envs, json_type_array) &&
                       i < json_object_array_length(envs); i++) {
        json_object *e = json_object_array_get_idx(envs, i);
        FERRY_AUTOFREE char *kv = NULL;

        if (!ferry_json_get_string(e, "name"))
            continue;
        kv = ferry_printf("%s=%s", ferry_json_get_string(e, "name"),
                          ferry_json_get_string(e, "value") ?: "");
        ferry_strv_push(&env, kv);
    }
    info = ferry_printf("KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
                        "\"spec\":{\"interactive\":false}}", api);
    ferry_strv_push(&env, info);
    so.env = env;
    so.pipe_stdout = true;
    so.stdin_null = true;
    if (ferry_spawn(argv, &so, &child) < 0)
        return ferry_error_prefix("%s", what);
    for (;;) {
        ssize_t n;

        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            out = ferry_realloc(out, cap);
        }
        n = read(child.stdout_fd, out + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len > 1024 * 1024) {
            ferry_child_stop(&child, 1000);
            return ferry_error(FERRY_ERR_FORMAT, "%s: output too large", what);
        }
    }
    if (out)
        out[len] = '\0';
    if (ferry_child_wait(&child, 60000, &status) < 0) {
        ferry_child_stop(&child, 1000);
        return ferry_error_prefix("%s", what);
    }
    ferry_child_close_fds(&child);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        FERRY_AUTOFREE char *s = ferry_wait_status_string(status);
        return ferry_error(FERRY_ERR_SECURITY, "%s: %s", what, s);
    }
    if (ferry_json_parse(out ? out : "", len, what, &cred) < 0)
        return -1;
    if (!ferry_str_eq(ferry_json_get_string(cred, "kind"), "ExecCredential"))
        return ferry_error(FERRY_ERR_FORMAT, "%s: kind: want \"ExecCredential\", got \"%s\"",
                           what, ferry_json_get_string(cred, "kind") ?: "");
    if (!ferry_str_eq(ferry_json_get_string(cred, "apiVersion"), api))
        return ferry_error(FERRY_ERR_FORMAT, "%s: apiVersion: want \"%s\", got \"%s\"", what,
                           api, ferry_json_get_string(cred, "apiVersion") ?: "");
    token = ferry_json_get_string(cred, "status.token");
    cert = ferry_json_get_string(cred, "status.clientCertificateData");
    key = ferry_json_get_string(cred, "status.clientKeyData");
    exp = ferry_json_get_string(cred, "status.expirationTimestamp");
    if ((!token || !*token) && (!cert || !*cert || !key || !*key))
        return ferry_error(FERRY_ERR_FORMAT, "%s: status: no token and no "
                           "clientCertificateData/clientKeyData", what);
    if (!!cert != !!key)
        return ferry_error(FERRY_ERR_FORMAT, "%s: status: clientCertificateData and "
                           "clientKeyData must be given together", what);
    if (token && check_token(what, token) < 0)
        return -1;
    c->exec_expiry = 0;
    if (exp && ferry_time_parse_rfc3339(exp, &c->exec_expiry) < 0)
        return ferry_error_prefix("%s: status.expirationTimestamp", what);
    free(c->cur_token);
    free(c->exec_cert);
    free(c->exec_key);
    c->cur_token = ferry_strdup(token && *token ? token : NULL);
    c->exec_cert = ferry_strdup(cert);
    c->exec_key = ferry_strdup(key);
    c->exec_valid = true;
    ferry_log_debug("store.kube", "exec plugin '%s' gave a %s%s", cmd,
                    c->cur_token ? "token" : "client certificate",
                    c->exec_expiry ? " with an expiry" : "");
    return 0;
}

int
ferry_kube_config_credentials(struct kube_config *c, bool refresh, char **ret_token,
                              char **ret_cert, char **ret_key)
{
    int r = 0;

    *ret_token = *ret_cert = *ret_key = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->exec) {
        if (!c->exec_valid || refresh || (c->exec_expiry && time(NULL) >= c->exec_expiry))
            r = run_exec(c);
        if (r == 0) {
            *ret_token = ferry_strdup(c->cur_token);
            *ret_cert = ferry_strdup(c->exec_cert ? c->exec_cert : c->cert_pem);
            *ret_key = ferry_strdup(c->exec_key ? c->exec_key : c->key_pem);
        }
    } else {
        if (c->token_file &&
            (refresh || !c->cur_token || ferry_now_ns() - c->token_read_ns >= TOKEN_REREAD_NS)) {
            if (read_token_file(c) < 0) {
                if (c->cur_token) { /* keep the last good one, as client-go */
                    ferry_log_warn("%s", ferry_error_message());
                    ferry_error_reset();
                } else
                    r = -1;
            }
        }
        if (r == 0) {
            *ret_token = ferry_strdup(c->token_file ? c->cur_token : c->token);
            *ret_cert = ferry_strdup(c->cert_pem);
            *ret_key = ferry_strdup(c->key_pem);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}
