/* The client side of a VMI's serial console and VNC sockets (ferry console,
 * ferry vnc): relay bytes between a unix socket and a terminal, a pipe, or
 * TCP connections on 127.0.0.1.  Part of ferry-node-proto (proto.h). */
#ifndef FERRY_PROTO_CONSOLE_H
#define FERRY_PROTO_CONSOLE_H

/* Attach in_fd/out_fd to the unix socket SOCK.  On a terminal: raw mode,
 * Ctrl-] (0x1d) leaves.  total_ms > 0 ends the session after that long;
 * after in_fd reaches end of file the output is still relayed for
 * linger_ms (pipe mode: "printf 'cmd\n' | ferry console vm" shows the
 * answer).  Returns 0, or -1 with the error. */
int ferry_console_attach(const char *sock, int in_fd, int out_fd, int total_ms, int linger_ms);

/* Listen on 127.0.0.1:PORT and relay every connection to the unix socket
 * SOCK, until a signal.  Prints nothing; returns -1 on setup errors. */
int ferry_console_proxy_tcp(const char *sock, int port);

#endif
