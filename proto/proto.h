/* libferry-node-proto (target ferry-node-proto) owns the node protocol, where
 * the CLI and the node both reach it: this header, the launcher's control
 * socket protocol (described in launcher/launcher.c), and console.h, the
 * console and VNC relays.  It uses no libvirt, so `ferry` links it anywhere.
 *
 * The protocol: one JSON object per line over a unix stream socket.  Helpers
 * to listen, connect, send, and split a byte stream into messages. */
#ifndef FERRY_PROTO_PROTO_H
#define FERRY_PROTO_PROTO_H

#include <json-c/json.h>
#include <stddef.h>

/* Listen on PATH (a stale socket file is replaced); close-on-exec, non-blocking. */
int ferry_proto_listen(const char *path);
/* Connect to PATH; close-on-exec, blocking. FERRY_ERR_NOTFOUND when nobody listens. */
int ferry_proto_connect(const char *path);
/* Write one message (a line); blocking, retries short writes. */
int ferry_proto_send(int fd, json_object *msg);

struct ferry_proto_reader {
    char *buf;
    size_t len, cap;
};
/* Read what is available from fd (call when poll says readable).  Returns
 * 1 when data was read, 0 at end of file, -1 on error. */
int ferry_proto_fill(struct ferry_proto_reader *r, int fd);
/* Next complete message: 1 and *ret (a new reference), 0 when none buffered,
 * -1 on a line that is not a JSON object. */
int ferry_proto_next(struct ferry_proto_reader *r, json_object **ret);
void ferry_proto_reader_release(struct ferry_proto_reader *r);

/* Connect, send REQUEST, return the first message whose "type" is "reply"
 * (timeout_ms; -1 forever).  A reply with "ok": false becomes an error with
 * its "error" text. */
int ferry_proto_call(const char *path, json_object *request, int timeout_ms, json_object **ret);

#endif
