/* Console and VNC relays (see console.h).  The sockets themselves are made
 * by qemu through libvirt (<serial type='unix' mode='bind'>, VNC
 * <listen type='socket'>), so a console survives launcher and handler
 * restarts; qemu serves one console client at a time. */
#include "proto/console.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "proto/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define CTRL_RIGHT_BRACKET 0x1d

static int
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int
ferry_console_attach(const char *sock, int in_fd, int out_fd, int total_ms, int linger_ms)
{
    FERRY_AUTOCLOSE int fd = ferry_proto_connect(sock);
    struct termios saved, raw;
    bool tty = isatty(in_fd), in_open = true;
    uint64_t start = ferry_now_ns(), eof_at = 0;
    char buf[8192];
    int rc = 0;

    if (fd < 0)
        return -1;
    if (tty && tcgetattr(in_fd, &saved) == 0) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(in_fd, TCSANOW, &raw);
        fprintf(stderr, "Connected to the serial console. Escape sequence is ^]\r\n");
    } else {
        tty = false;
    }
    for (;;) {
        struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = in_open ? in_fd : -1, .events = POLLIN } };
        uint64_t now = ferry_now_ns();
        int wait = 200;
        if (total_ms > 0 && now - start >= (uint64_t)total_ms * 1000000)
            break;
        if (!in_open && now - eof_at >= (uint64_t)linger_ms * 1000000)
            break;
        if (poll(p, 2, wait) < 0) {
            if (errno == EINTR)
                continue;
            rc = ferry_error_errno(FERRY_ERR_IO, errno, "poll");
            break;
        }
        if (p[0].revents) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n <= 0)
                break; /* the domain went away */
            if (write_all(out_fd, buf, (size_t)n) < 0)
                break; /* reader gone (grep -q) */
        }
        if (in_open && p[1].revents) {
            ssize_t n = read(in_fd, buf, sizeof buf);
            if (n <= 0) {
                in_open = false;
                eof_at = ferry_now_ns();
                /* no shutdown(SHUT_WR): qemu drops a half-closed client at once */
                continue;
            }
            if (tty && memchr(buf, CTRL_RIGHT_BRACKET, (size_t)n)) {
                size_t keep = (size_t)((char *)memchr(buf, CTRL_RIGHT_BRACKET, (size_t)n) - buf);
                write_all(fd, buf, keep);
                break;
            }
            if (write_all(fd, buf, (size_t)n) < 0) {
                rc = ferry_error_errno(FERRY_ERR_IO, errno, "write to console '%s'", sock);
                break;
            }
        }
    }
    if (tty) {
        tcsetattr(in_fd, TCSANOW, &saved);
        fprintf(stderr, "\r\n");
    }
    return rc;
}

static volatile sig_atomic_t proxy_stop;

static void
proxy_signal(int sig)
{
    proxy_stop = 1;
}

/* Relay one TCP connection to the unix socket until either side closes. */
static void
relay(int a, int b)
{
    char buf[65536];
    while (!proxy_stop) {
        struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
        if (poll(p, 2, 500) < 0 && errno != EINTR)
            return;
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0 || write_all(p[1 - i].fd, buf, (size_t)n) < 0)
                return;
        }
    }
}

int
ferry_console_proxy_tcp(const char *sock, int port)
{
    FERRY_AUTOCLOSE int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct sigaction act = { .sa_handler = proxy_signal };
    int one = 1;

    if (lfd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "socket");
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "listen on 127.0.0.1:%d", port);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!proxy_stop) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (poll(&p, 1, 500) <= 0)
            continue;
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        int u = ferry_proto_connect(sock);
        if (u < 0) {
            close(c);
            return -1;
        }
        relay(c, u);
        close(c);
        close(u);
    }
    return 0;
}
