#!/usr/bin/env python3
"""cutproxy.py: a TCP relay on 127.0.0.1 for the importer's HTTP tests.

Written from scratch for Ferry (issue 15): nginx cannot drop a connection
after a random number of bytes, so this sits in front of it.  It is also
the HTTP proxy of the proxy tests (absolute-URI requests are relayed to the
upstream nginx, CONNECT host:port is tunnelled) and the server that answers
503 or 429 a number of times first.

  cutproxy.py --upstream HOST:PORT --port-file FILE [options]

  --cuts N            the first N cuts: each new connection (while cuts
                      remain) is dropped after a random number of bytes
                      from the upstream, uniform in [--cut-min, --cut-max]
  --cut-min B, --cut-max B
  --seed S            the random generator's seed (cut offsets, RST or FIN)
  --count-file FILE   the number of cuts done so far (rewritten each time)
  --swap NEW DST      at the first cut, rename NEW over DST (the file
                      changes on the server while it is being read)
  --fail-first K      the first K requests get --status and are closed
  --status CODE       (default 503)
  --retry-after V     a Retry-After header with value V ("1")
  --retry-after-date S  a Retry-After header with the HTTP-date S seconds
                      from now
  --log FILE          every request line seen ("CONNECT h:p", "GET url")

The port it bound is written to --port-file once it listens.
"""
import argparse
import email.utils
import os
import random
import re
import socket
import struct
import sys
import threading
import time

REQ_LINE = re.compile(rb"(?:^|\r\n)((?:GET|HEAD|CONNECT|POST|PUT) [^\r\n]+ HTTP/1\.[01])\r\n")
REASONS = {503: "Service Unavailable", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 504: "Gateway Timeout", 408: "Request Timeout"}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.cuts_left = args.cuts
        self.cuts_done = 0
        self.fail_left = args.fail_first
        self.rng = random.Random(args.seed)
        self.swapped = False

    def log(self, line):
        if not self.args.log:
            return
        with self.lock:
            with open(self.args.log, "ab") as f:
                f.write(line + b"\n")

    def take_cut(self):
        """A cut offset for a new connection while cuts remain (a connection
        that ends before it cuts nothing, and the cut stays for others)."""
        with self.lock:
            if self.cuts_left <= 0:
                return None
            return (self.rng.randint(self.args.cut_min, self.args.cut_max),
                    self.rng.random() < 0.5)

    def try_cut(self):
        """At the offset: cut, unless the last cut was taken meanwhile."""
        with self.lock:
            if self.cuts_left <= 0:
                return False
            self.cuts_left -= 1
            self.cuts_done += 1
            if self.args.count_file:
                tmp = self.args.count_file + ".tmp"
                with open(tmp, "w") as f:
                    f.write("%d\n" % self.cuts_done)
                os.replace(tmp, self.args.count_file)
            if self.args.swap and not self.swapped:
                self.swapped = True
                os.replace(self.args.swap[0], self.args.swap[1])
            return True

    def take_fail(self):
        with self.lock:
            if self.fail_left <= 0:
                return False
            self.fail_left -= 1
            return True


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1 << 20:
            return None
    return data


def pump(src, dst, state, limit, rst, log_requests):
    """Copy src to dst; with a limit, drop both after that many bytes."""
    sent = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if log_requests:
                for m in REQ_LINE.finditer(data):
                    state.log(m.group(1))
            if limit is not None and sent + len(data) >= limit:
                if state.try_cut():
                    dst.sendall(data[:limit - sent])
                    if rst:
                        dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
                    break
                limit = None
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass


def handle(client, state):
    args = state.args
    try:
        head = read_head(client)
        if head is None:
            client.close()
            return
        first = head.split(b"\r\n", 1)[0]
        state.log(first)
        if state.take_fail():
            extra = ""
            if args.retry_after is not None:
                extra = "Retry-After: %s\r\n" % args.retry_after
            elif args.retry_after_date is not None:
                when = time.time() + args.retry_after_date
                extra = "Retry-After: %s\r\n" % email.utils.formatdate(when, usegmt=True)
            client.sendall(("HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n"
                            % (args.status, REASONS.get(args.status, "Error"), extra)).encode())
            client.close()
            return
        if first.startswith(b"CONNECT "):
            host, port = first.split()[1].decode().rsplit(":", 1)
            up = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            head = b""
        else:
            up = socket.create_connection(args.upstream)
        cut = state.take_cut()
        if head:
            up.sendall(head)
        t = threading.Thread(target=pump, args=(client, up, state, None, False, True), daemon=True)
        t.start()
        pump(up, client, state, cut[0] if cut else None, cut[1] if cut else False, False)
    except OSError:
        try:
            client.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cuts", type=int, default=0)
    ap.add_argument("--cut-min", type=int, default=1)
    ap.add_argument("--cut-max", type=int, default=4 << 20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--count-file")
    ap.add_argument("--swap", nargs=2)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--status", type=int, default=503)
    ap.add_argument("--retry-after")
    ap.add_argument("--retry-after-date", type=int)
    ap.add_argument("--log")
    args = ap.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    args.upstream = (host, int(port))
    state = State(args)

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.replace(tmp, args.port_file)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=handle, args=(client, state), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
