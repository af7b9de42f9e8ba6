/* The launcher's line protocol: messages split across reads and several in
 * one read come out whole and in order; a non-object line is refused; a call
 * gets the reply and turns ok=false into an error. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"
#include "proto/proto.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "../unit/testlib.h"

static void
test_split(void **state)
{
    int sv[2];
    struct ferry_proto_reader r = { 0 };
    json_object *m = NULL;
    const char *a = "{\"type\":\"status\",\"pha", *b = "se\":\"Running\"}\n{\"type\":\"reply\"}\n[1]\n";

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], a, strlen(a)), (ssize_t)strlen(a));
    assert_int_equal(ferry_proto_fill(&r, sv[1]), 1);
    assert_int_equal(ferry_proto_next(&r, &m), 0);
    assert_int_equal(write(sv[0], b, strlen(b)), (ssize_t)strlen(b));
    assert_int_equal(ferry_proto_fill(&r, sv[1]), 1);
    assert_int_equal(ferry_proto_next(&r, &m), 1);
    assert_string_equal(ferry_json_get_string(m, "phase"), "Running");
    json_object_put(m);
    assert_int_equal(ferry_proto_next(&r, &m), 1);
    assert_string_equal(ferry_json_get_string(m, "type"), "reply");
    json_object_put(m);
    assert_int_equal(ferry_proto_next(&r, &m), -1); /* [1] is not an object */
    assert_int_equal(ferry_proto_next(&r, &m), 0);
    close(sv[0]);
    assert_int_equal(ferry_proto_fill(&r, sv[1]), 0);
    close(sv[1]);
    ferry_proto_reader_release(&r);
}

static char sock[] = "/tmp/ferry-proto-XXXXXX";
static char path[64];

static void *
server(void *arg)
{
    int lfd = *(int *)arg;
    for (int i = 0; i < 2; i++) {
        int fd;
        struct ferry_proto_reader r = { 0 };
        json_object *req = NULL;
        FERRY_AUTOPTR(json_object) st = json_object_new_object();
        FERRY_AUTOPTR(json_object) rep = json_object_new_object();
        do
            fd = accept(lfd, NULL, NULL);
        while (fd < 0);
        while (ferry_proto_next(&r, &req) == 0)
            ferry_proto_fill(&r, fd);
        json_object_object_add(st, "type", json_object_new_string("status"));
        ferry_proto_send(fd, st); /* not the reply: must be skipped */
        json_object_object_add(rep, "type", json_object_new_string("reply"));
        json_object_object_add(rep, "ok", json_object_new_boolean(i == 0));
        if (i)
            json_object_object_add(rep, "error", json_object_new_string("no such op"));
        ferry_proto_send(fd, rep);
        json_object_put(req);
        ferry_proto_reader_release(&r);
        close(fd);
    }
    return NULL;
}

static void
test_call(void **state)
{
    pthread_t t;
    int lfd;
    FERRY_AUTOPTR(json_object) req = json_object_new_object();
    json_object *rep = NULL;

    assert_non_null(mkdtemp(sock));
    snprintf(path, sizeof path, "%s/s.sock", sock);
    lfd = ferry_proto_listen(path);
    assert_true(lfd >= 0);
    {   /* the listener is non-blocking; the test server wants to block */
        int fl = 0;
        (void)fl;
    }
    pthread_create(&t, NULL, server, &lfd);
    json_object_object_add(req, "op", json_object_new_string("pause"));
    assert_int_equal(ferry_proto_call(path, req, 5000, &rep), 0);
    assert_true(ferry_json_get_bool(rep, "ok", false));
    json_object_put(rep);
    rep = NULL;
    assert_int_equal(ferry_proto_call(path, req, 5000, &rep), -1);
    assert_string_equal(ferry_error_message(), "no such op");
    pthread_join(t, NULL);
    close(lfd);
    ferry_rm_rf(sock);
    assert_int_equal(ferry_proto_connect(path), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_split),
          cmocka_unit_test(test_call))
