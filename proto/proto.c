/* Line-delimited JSON over unix sockets (see proto.h). */
#include "proto/proto.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
fill_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return ferry_error(FERRY_ERR_INVALID, "socket path '%s' is longer than %zu bytes", path,
                           sizeof sa->sun_path - 1);
    strcpy(sa->sun_path, path);
    return 0;
}

/* A stream socket (FLAGS besides SOCK_CLOEXEC) for PATH, and its address. */
static int
unix_socket(const char *path, int flags, struct sockaddr_un *sa)
{
    int fd;

    if (fill_addr(path, sa) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "socket for '%s'", path);
    return fd;
}

int
ferry_proto_listen(const char *path)
{
    struct sockaddr_un sa;
    FERRY_AUTOCLOSE int fd = unix_socket(path, SOCK_NONBLOCK, &sa);

    if (fd < 0)
        return -1;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "bind '%s'", path);
    chmod(path, 0600);
    if (listen(fd, 16) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "listen '%s'", path);
    return FERRY_STEAL_FD(fd);
}

int
ferry_proto_connect(const char *path)
{
    struct sockaddr_un sa;
    FERRY_AUTOCLOSE int fd = unix_socket(path, 0, &sa);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return ferry_error_errno(errno == ENOENT || errno == ECONNREFUSED ? FERRY_ERR_NOTFOUND
                                                                          : FERRY_ERR_IO,
                                 errno, "connect '%s'", path);
    return FERRY_STEAL_FD(fd);
}

int
ferry_proto_send(int fd, json_object *msg)
{
    const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
    FERRY_AUTOFREE char *line = ferry_printf("%s\n", s);
    size_t len = strlen(line), off = 0;

    while (off < len) {
        ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            poll(&p, 1, 1000);
            continue;
        }
        if (n < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "send on socket");
        off += (size_t)n;
    }
    return 0;
}

int
ferry_proto_fill(struct ferry_proto_reader *r, int fd)
{
    if (r->cap - r->len < 4096) {
        r->cap = r->cap ? r->cap * 2 : 8192;
        r->buf = ferry_realloc(r->buf, r->cap);
    }
    for (;;) {
        ssize_t n = read(fd, r->buf + r->len, r->cap - r->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "read from socket");
        if (n == 0)
            return 0;
        r->len += (size_t)n;
        if (r->len > 16 * 1024 * 1024)
            return ferry_error(FERRY_ERR_FORMAT, "socket peer sent a line longer than 16 MiB");
        return 1;
    }
}

int
ferry_proto_next(struct ferry_proto_reader *r, json_object **ret)
{
    char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
    size_t linelen;
    json_object *o;
    int rc;

    if (!nl)
        return 0;
    linelen = (size_t)(nl - r->buf);
    rc = ferry_json_parse(r->buf, linelen, "socket message", &o);
    memmove(r->buf, nl + 1, r->len - linelen - 1);
    r->len -= linelen + 1;
    if (rc < 0)
        return -1;
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return ferry_error(FERRY_ERR_FORMAT, "socket message is not a JSON object");
    }
    *ret = o;
    return 1;
}

void
ferry_proto_reader_release(struct ferry_proto_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

int
ferry_proto_call(const char *path, json_object *request, int timeout_ms, json_object **ret)
{
    FERRY_AUTOCLOSE int fd = ferry_proto_connect(path);
    struct ferry_proto_reader r = { 0 };
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : ferry_now_ns() + (uint64_t)timeout_ms * 1000000;
    int rc = -1;

    if (fd < 0 || ferry_proto_send(fd, request) < 0)
        return -1;
    for (;;) {
        json_object *m = NULL;
        int n = ferry_proto_next(&r, &m);
        if (n < 0)
            break;
        if (n > 0) {
            if (ferry_str_eq(ferry_json_get_string(m, "type"), "reply")) {
                if (!ferry_json_get_bool(m, "ok", false)) {
                    const char *e = ferry_json_get_string(m, "error");
                    ferry_error(FERRY_ERR_INVALID, "%s", e ? e : "request refused");
                    json_object_put(m);
                    break;
                }
                *ret = m;
                rc = 0;
                break;
            }
            json_object_put(m);
            continue;
        }
        uint64_t now = ferry_now_ns();
        if (now >= deadline) {
            ferry_error(FERRY_ERR_TIMEOUT, "no reply on '%s' within %d ms", path, timeout_ms);
            break;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int wait = deadline == UINT64_MAX ? -1 : (int)((deadline - now) / 1000000 + 1);
        if (poll(&p, 1, wait) < 0 && errno != EINTR) {
            ferry_error_errno(FERRY_ERR_IO, errno, "poll '%s'", path);
            break;
        }
        if (p.revents) {
            int f = ferry_proto_fill(&r, fd);
            if (f <= 0) {
                if (f == 0)
                    ferry_error(FERRY_ERR_IO, "'%s' closed the connection before replying", path);
                break;
            }
        }
    }
    ferry_proto_reader_release(&r);
    return rc;
}
