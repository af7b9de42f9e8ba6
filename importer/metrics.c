/* The import progress as CDI's importer serves it (cdi:pkg/util/prometheus,
 * cdi:pkg/monitoring/metrics/cdi-importer): a self-signed certificate made
 * at start (CN cloner_target, as client-go's GenerateSelfSignedCertKey that
 * CDI calls; here an EC P-256 key, in memory only) and HTTPS on :8443 with
 * one line the controller's regular expression reads:
 *   kubevirt_cdi_import_progress_total{ownerUID="<uid>"} 45.12
 * One thread, one connection at a time: the controller scrapes every few
 * seconds with a 2 s timeout; a client that sends nothing for 2 s is
 * dropped. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/cdi.h"

#define MOD "importer.metrics"

static struct {
    pthread_mutex_t lock;
    double percent;
    char *owner;
    int fd, stop_pipe[2];
    SSL_CTX *ctx;
    pthread_t thread;
    bool running;
} m = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .stop_pipe = { -1, -1 } };

void
ferry_metrics_set_progress(double percent)
{
    if (percent > 100)
        percent = 100;
    pthread_mutex_lock(&m.lock);
    if (percent > m.percent)
        m.percent = percent;
    pthread_mutex_unlock(&m.lock);
}

double
ferry_metrics_progress(void)
{
    pthread_mutex_lock(&m.lock);
    double p = m.percent;
    pthread_mutex_unlock(&m.lock);
    return p;
}

static int
ssl_error(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return ferry_error(FERRY_ERR_INTERNAL, "metrics: %s%s%s", what, buf[0] ? ": " : "", buf);
}

/* A key and a self-signed certificate valid from an hour ago for a year. */
static int
make_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    int r = -1;

    if (!key || !x) {
        ssl_error("cannot make a key");
        goto out;
    }
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(ferry_now_ns() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"cloner_target",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, key, EVP_sha256())) {
        ssl_error("cannot sign the certificate");
        goto out;
    }
    m.ctx = SSL_CTX_new(TLS_server_method());
    if (!m.ctx || SSL_CTX_use_certificate(m.ctx, x) != 1 || SSL_CTX_use_PrivateKey(m.ctx, key) != 1) {
        ssl_error("cannot set up TLS");
        goto out;
    }
    SSL_CTX_set_min_proto_version(m.ctx, TLS1_2_VERSION);
    r = 0;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return r;
}

static void
serve_one(int cfd)
{
    SSL *ssl = SSL_new(m.ctx);
    FERRY_AUTOFREE char *body = NULL, *resp = NULL;
    char req[4096];
    size_t have = 0;
    struct timeval tv = { .tv_sec = 2 };

    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!ssl)
        return;
    SSL_set_fd(ssl, cfd);
    if (SSL_accept(ssl) != 1)
        goto out;
    while (have < sizeof(req) - 1) {
        int n = SSL_read(ssl, req + have, sizeof(req) - 1 - have);
        if (n <= 0)
            goto out;
        have += n;
        req[have] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    req[have] = '\0';
    const char *status = "200 OK";
    if (strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET /metrics?", 13) == 0 ||
        strncmp(req, "HEAD /metrics ", 14) == 0) {
        pthread_mutex_lock(&m.lock);
        body = ferry_printf("# HELP kubevirt_cdi_import_progress_total The import progress in "
                            "percentage\n"
                            "# TYPE kubevirt_cdi_import_progress_total counter\n"
                            "kubevirt_cdi_import_progress_total{ownerUID=\"%s\"} %.2f\n",
                            m.owner, m.percent);
        pthread_mutex_unlock(&m.lock);
    } else {
        status = "404 Not Found";
        body = ferry_strdup("404 page not found\n");
    }
    resp = ferry_printf("HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                        status, strlen(body), strncmp(req, "HEAD ", 5) == 0 ? "" : body);
    SSL_write(ssl, resp, (int)strlen(resp));
    SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    ERR_clear_error();
}

static void *
metrics_thread(void *opaque)
{
    (void)opaque;
    for (;;) {
        struct pollfd p[2] = { { .fd = m.fd, .events = POLLIN },
                               { .fd = m.stop_pipe[0], .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        int cfd = accept4(m.fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        serve_one(cfd);
        close(cfd);
    }
    return NULL;
}

int
ferry_metrics_start(const char *addr, int port, const char *owner_uid)
{
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
    bool v6 = !addr || !*addr || strchr(addr, ':');
    int one = 1;

    if (m.running)
        return 0;
    if (addr && *addr) {
        if ((v6 && inet_pton(AF_INET6, addr, &a6.sin6_addr) != 1) ||
            (!v6 && inet_pton(AF_INET, addr, &a4.sin_addr) != 1))
            return ferry_error(FERRY_ERR_INVALID, "metrics address '%s': not an IP address",
                               addr);
    } else {
        a6.sin6_addr = in6addr_any;
    }
    if (make_ctx() < 0)
        return -1;
    m.fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m.fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "metrics: socket");
    setsockopt(m.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6 && (!addr || !*addr)) {
        int zero = 0;   /* :: also takes IPv4, as Go's ":8443" */
        setsockopt(m.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if ((v6 ? bind(m.fd, (struct sockaddr *)&a6, sizeof(a6))
            : bind(m.fd, (struct sockaddr *)&a4, sizeof(a4))) < 0 ||
        listen(m.fd, 16) < 0) {
        int e = errno;
        close(m.fd);
        m.fd = -1;
        return ferry_error_errno(FERRY_ERR_IO, e, "metrics: cannot listen on %s%s%s:%d",
                                 v6 && addr && *addr ? "[" : "", addr && *addr ? addr : "[::]",
                                 v6 && addr && *addr ? "]" : "", port);
    }
    if (pipe2(m.stop_pipe, O_CLOEXEC) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "metrics: pipe");
    /* A label value of the text format: \\, \" and \n escaped. */
    const char *o = owner_uid ? owner_uid : "";
    m.owner = ferry_malloc(2 * strlen(o) + 1);
    char *w = m.owner;
    for (; *o; o++) {
        if (*o == '\\' || *o == '"' || *o == '\n')
            *w++ = '\\';
        *w++ = *o == '\n' ? 'n' : *o;
    }
    *w = '\0';
    if (pthread_create(&m.thread, NULL, metrics_thread, NULL) != 0)
        return ferry_error(FERRY_ERR_INTERNAL, "metrics: cannot start a thread");
    m.running = true;
    ferry_log_debug(MOD, "serving the progress on https port %d", port);
    return 0;
}

void
ferry_metrics_stop(void)
{
    if (!m.running)
        return;
    if (write(m.stop_pipe[1], "x", 1) < 0) {
        /* the thread then stays in poll; the process is ending anyway */
    }
    pthread_join(m.thread, NULL);
    m.running = false;
    close(m.fd);
    close(m.stop_pipe[0]);
    close(m.stop_pipe[1]);
    m.fd = m.stop_pipe[0] = m.stop_pipe[1] = -1;
    SSL_CTX_free(m.ctx);
    m.ctx = NULL;
    free(m.owner);
    m.owner = NULL;
}
