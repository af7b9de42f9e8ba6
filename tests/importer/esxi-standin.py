#!/usr/bin/env python3
"""A stand-in for an ESXi host's datastore file access over HTTPS, for the
vmware source's test (tests/importer/vmware.sh).  NOT VMware code: written
here from the published API, as there is no ESXi server to test against:

  - VMware vSphere Web Services SDK Programming Guide, "Datastore Access
    (/folder)" / "HTTP access to datastore files":
    GET https://HOST/folder/PATH?dcPath=DC&dsName=DS; on ESXi dcPath is
    ha-datacenter;
  - the session cookie: a request with Basic credentials gets
    'Set-Cookie: vmware_soap_session="..."; Path=/; HttpOnly; Secure;',
    which later requests send instead of the credentials; a session that
    expired is answered 401 (virt-v2v input/vCenter.ml and
    nbdkit-curl-plugin(1) "VMware ESXi cookies" renew it);
  - Range requests as libvirt's esx stream driver and nbdkit-curl use them.

Usage: esxi-standin.py --root DIR --datastore NAME --cert PEM --key PEM
  --user U --password P --port-file F --log F [--cookie-uses N]
  [--no-range]
DIR is the datastore's root.  --cookie-uses N: a session cookie is good
for N requests, then answered 401 (a deterministic "expiry").  Every
request is logged as one line:
  METHOD PATH AUTH STATUS [RANGE]
with AUTH one of basic, cookie, none.  Listens on 127.0.0.1, on a port it
picks (written to --port-file)."""
import argparse
import base64
import http.server
import os
import secrets
import threading
import urllib.parse

import standin

ap = argparse.ArgumentParser()
ap.add_argument("--root", required=True)
ap.add_argument("--datastore", required=True)
ap.add_argument("--datacenter", default="ha-datacenter")
standin.add_common_args(ap)
ap.add_argument("--cookie-uses", type=int, default=0)
ap.add_argument("--no-range", action="store_true")
args = ap.parse_args()

ROOT = os.path.realpath(args.root)
lock = threading.Lock()
sessions = {}          # cookie value -> requests left (None: no limit)
log = standin.logger(args.log)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def auth(self):
        """(kind, set_cookie) or None when refused."""
        cookie = self.headers.get("Cookie", "")
        for part in cookie.split(";"):
            k, _, v = part.strip().partition("=")
            if k == "vmware_soap_session":
                with lock:
                    left = sessions.get(v, 0)
                    if left is None:
                        return ("cookie", None)
                    if left > 0:
                        sessions[v] = left - 1
                        return ("cookie", None)
                    sessions.pop(v, None)
                return None     # expired or unknown session
        a = self.headers.get("Authorization", "")
        if a.startswith("Basic "):
            try:
                u, _, p = base64.b64decode(a[6:]).decode().partition(":")
            except Exception:
                return None
            if u == args.user and p == args.password:
                value = '"%s"' % secrets.token_hex(20)
                with lock:
                    # this request is the first use
                    sessions[value] = (args.cookie_uses - 1) if args.cookie_uses else None
                return ("basic", 'vmware_soap_session=%s; Path=/; HttpOnly; Secure;' % value)
        return None

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        rng = self.headers.get("Range", "")
        a = self.auth()
        if a is None:
            kind = "cookie" if "vmware_soap_session" in self.headers.get("Cookie", "") else (
                "basic" if self.headers.get("Authorization") else "none")
            log("%s %s %s 401 %s" % (self.command, u.path, kind, rng))
            self.reply(401, b"Unauthorized", [("WWW-Authenticate", 'Basic realm="VMware HTTP server"')])
            return
        kind, set_cookie = a
        extra = [("Set-Cookie", set_cookie)] if set_cookie else []
        path = urllib.parse.unquote(u.path)
        ok = (path.startswith("/folder/") and q.get("dsName") == [args.datastore]
              and q.get("dcPath", [args.datacenter]) == [args.datacenter])
        full = os.path.realpath(os.path.join(ROOT, path[len("/folder/"):])) if ok else ""
        if not ok or not full.startswith(ROOT + "/") or not os.path.isfile(full):
            log("%s %s %s 404 %s" % (self.command, u.path, kind, rng))
            self.reply(404, b"Not Found", extra)
            return
        size = os.path.getsize(full)
        with open(full, "rb") as f:
            if rng and not args.no_range:
                try:
                    unit, _, spec = rng.partition("=")
                    first, _, last = spec.partition("-")
                    first = int(first)
                    last = min(int(last), size - 1) if last else size - 1
                    assert unit == "bytes" and "," not in spec and first <= last
                except Exception:
                    log("%s %s %s 416 %s" % (self.command, u.path, kind, rng))
                    self.reply(416, b"", extra + [("Content-Range", "bytes */%d" % size)])
                    return
                if first >= size:
                    log("%s %s %s 416 %s" % (self.command, u.path, kind, rng))
                    self.reply(416, b"", extra + [("Content-Range", "bytes */%d" % size)])
                    return
                f.seek(first)
                body = f.read(last - first + 1)
                log("%s %s %s 206 %s" % (self.command, u.path, kind, rng))
                self.reply(206, body, extra + [("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                                               ("Content-Type", "application/octet-stream")])
                return
            body = f.read()
        log("%s %s %s 200 %s" % (self.command, u.path, kind, rng))
        self.reply(200, body, extra + [("Content-Type", "application/octet-stream")])

    do_HEAD = do_GET


standin.serve(standin.tls_server(Handler, args.cert, args.key), args.port_file)
