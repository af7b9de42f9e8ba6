#!/usr/bin/env python3
"""A misbehaving HTTP server on 127.0.0.1 for the importer's trust tests.

  bad-http.py DIR PORTFILE

Serves the files of DIR under these prefixes (the port it bound is written
to PORTFILE once it listens):

  /ok/NAME       honest: Range as asked (206 with Content-Range), else 200
  /norange/NAME  no Range: always 200 with the whole file (Content-Length)
  /cut/NAME      no Range (200); the Range probe gets the Content-Length of
                 the whole file, the GET a close-delimited body (no
                 Content-Length) cut in the middle
  /shifted/NAME  206 for every range, but always the bytes from offset 0
                 (Content-Range says so: "bytes 0-N/SIZE")
  /nototal/NAME  206 with "Content-Range: bytes 0-0/*" (no total size)
"""
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"   # close-delimited unless Content-Length

    def log_message(self, *args):
        pass

    def do_GET(self):
        m = re.match(r"^/(ok|norange|cut|shifted|nototal)/([^/]+)$", self.path)
        path = m and os.path.join(sys.argv[1], m.group(2))
        if not m or not os.path.isfile(path):
            self.send_error(404)
            return
        mode = m.group(1)
        data = open(path, "rb").read()
        size = len(data)
        rng = self.headers.get("Range")
        first = last = None
        if rng:
            r = re.match(r"bytes=(\d+)-(\d*)", rng)
            first = int(r.group(1))
            last = int(r.group(2)) if r.group(2) else size - 1
            last = min(last, size - 1)
        if mode in ("cut", "norange") or not rng:
            self.send_response(200)
            if mode == "cut" and rng:
                self.send_header("Content-Length", str(size))   # the probe: announced size
                self.end_headers()
                self.wfile.write(data[:1])
                return
            if mode != "cut":
                self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(data[:size // 2] if mode == "cut" else data)
            return
        n = last - first + 1
        self.send_response(206)
        if mode == "nototal":
            self.send_header("Content-Range", "bytes %d-%d/*" % (first, last))
            body = data[first:last + 1]
        elif mode == "shifted":
            self.send_header("Content-Range", "bytes 0-%d/%d" % (n - 1, size))
            body = data[:n]
        else:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
            body = data[first:last + 1]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, sys.argv[2])
    srv.serve_forever()


if __name__ == "__main__":
    main()
