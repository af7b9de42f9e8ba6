#!/usr/bin/env python3
"""A stand-in for an oVirt engine and an ovirt-imageio daemon, for the
imageio source's test (tests/importer/imageio.sh).  NOT oVirt code: written
here from the published APIs, as there is no oVirt server to test against:

  - oVirt SSO: POST /ovirt-engine/sso/oauth/token, form grant_type=password,
    scope=ovirt-app-api, username, password -> {"access_token": ...}; a bad
    password -> 400 {"error_code": "access_denied", "error": "..."}
    (RHV REST API Guide, "Authentication");
  - ovirt-engine-api-model services/ImageTransferService.java and
    ImageTransfersService.java: POST /ovirt-engine/api/imagetransfers
    {disk id, direction download} -> phase initializing, GET it until
    transferring, with transfer_url (the daemon) and proxy_url; POST
    .../extend, .../finalize, .../cancel with an empty action;
  - ovirt-imageio docs/images.md: OPTIONS /images/TICKET -> features;
    GET /images/TICKET with one Range -> 206 "Content-Range: bytes a-b/*";
    GET /images/TICKET/extents?context=zero -> [{start, length, zero,
    hole}]; 403 once the ticket expired or was removed.

The engine and the daemon listen on two ports of 127.0.0.1 (HTTPS, the
certificate given).  Usage:
  imageio-standin.py --image RAW --disk-id ID --cert PEM --key PEM
    --user U --password P --port-file F --log F [--ticket-ttl S]
    [--read-delay S] [--fail-read N] [--no-extents] [--locked N]
    [--token-uses N] [--max-readers N]
The disk is the raw file RAW; its zero extents come from SEEK_DATA /
SEEK_HOLE at 64 KiB granularity.  --ticket-ttl: the ticket expires S
seconds after it was created or last extended.  --read-delay: each data
read waits S seconds a MiB (a slow transfer).  --fail-read N: the N-th read
(from 1) fails with 500.  --locked N: the first N transfers asked for
are refused with 409 "Disk is locked".  --token-uses N: an access token
is good for N API calls, then answered 401 (the engine's session expired).
--max-readers N: the limit OPTIONS reports (0: none reported, i.e. one
reader); more data reads at once are logged as OVERLOAD.
POST /ovirt-engine/services/sso-logout (token=...) revokes a token, as
the SDK's close(logout=True).  The port file gets "ENGINE_PORT
DAEMON_PORT".
Every request is logged as one line, e.g.
  TOKEN ok / TOKEN denied / CREATE id / POLL id phase / EXTEND id /
  FINALIZE id / CANCEL id / LOGOUT ok / OPTIONS / EXTENTS json /
  READ start end status / UNAUTHORIZED method path / LEAK ..."""
import argparse
import http.server
import json
import os
import secrets
import threading
import time
import urllib.parse

import standin

ap = argparse.ArgumentParser()
ap.add_argument("--image", required=True)
ap.add_argument("--disk-id", required=True)
standin.add_common_args(ap)
ap.add_argument("--ticket-ttl", type=float, default=300)
ap.add_argument("--read-delay", type=float, default=0)
ap.add_argument("--fail-read", type=int, default=0)
ap.add_argument("--no-extents", action="store_true")
ap.add_argument("--locked", type=int, default=0)
ap.add_argument("--token-uses", type=int, default=0)
ap.add_argument("--max-readers", type=int, default=8)
args = ap.parse_args()

lock = threading.Lock()
log = standin.logger(args.log)
tokens = {}       # token -> API calls left (None: no limit)
transfers = {}    # id -> dict(phase, polls, ticket)
tickets = {}      # ticket -> dict(deadline, transfer)
reads = [0]
active = [0]      # data reads in flight
daemon_port = [0]
SIZE = os.path.getsize(args.image)


def extents():
    out = []
    fd = os.open(args.image, os.O_RDONLY)
    try:
        pos = 0
        while pos < SIZE:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                data = SIZE
            if data > pos:
                out.append((pos, data - pos, True))
            if data >= SIZE:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            out.append((data, hole - data, False))
            pos = hole
    finally:
        os.close(fd)
    # 64 KiB granularity, as a real qemu-nbd block status is coarse: a
    # zero extent shorter than that becomes data.
    merged = []
    for s, l, z in out:
        if z and l < 65536:
            z = False
        if merged and merged[-1][2] == z and merged[-1][0] + merged[-1][1] == s:
            merged[-1] = (merged[-1][0], merged[-1][1] + l, z)
        else:
            merged.append((s, l, z))
    return [{"start": s, "length": l, "zero": z, "hole": False} for s, l, z in merged]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def bearer(self):
        a = self.headers.get("Authorization", "")
        if not a.startswith("Bearer "):
            return False
        with lock:
            left = tokens.get(a[7:], 0)
            if left is None:
                return True
            if left > 0:
                tokens[a[7:]] = left - 1
                return True
            tokens.pop(a[7:], None)     # expired: the engine's session is gone
            return False

    def fault(self, code, reason, detail):
        self.reply(code, {"reason": reason, "detail": detail})

    # ---- engine ----
    def engine(self, method):
        u = urllib.parse.urlsplit(self.path)
        p = u.path
        if p == "/ovirt-engine/sso/oauth/token" and method == "POST":
            f = urllib.parse.parse_qs(self.body().decode())
            if (f.get("grant_type") != ["password"] or "ovirt-app-api" not in f.get("scope", [""])[0].split()):
                log("TOKEN bad-request")
                return self.reply(400, {"error_code": "invalid_request", "error": "bad grant"})
            if f.get("username") != [args.user] or f.get("password") != [args.password]:
                log("TOKEN denied")
                return self.reply(400, {"error_code": "access_denied",
                                        "error": "Cannot authenticate user '%s': The username or "
                                        "password is incorrect.." % f.get("username", [""])[0]})
            t = secrets.token_urlsafe(32)
            with lock:
                tokens[t] = args.token_uses or None
            log("TOKEN ok")
            return self.reply(200, {"access_token": t, "scope": "ovirt-app-api", "token_type": "bearer",
                                    "exp": str(int(time.time() * 1000) + 3600000)})
        if p == "/ovirt-engine/services/sso-logout" and method == "POST":
            f = urllib.parse.parse_qs(self.body().decode())
            with lock:
                known = tokens.pop(f.get("token", [""])[0], 0) != 0
            log("LOGOUT %s" % ("ok" if known else "unknown-token"))
            return self.reply(200, {})
        if not p.startswith("/ovirt-engine/api/"):
            return self.fault(404, "Not Found", p)
        if not self.bearer():
            log("UNAUTHORIZED %s %s" % (method, p))
            return self.reply(401, "", "text/plain", [("WWW-Authenticate", "Bearer")])
        rest = p[len("/ovirt-engine/api/"):].split("/")
        if rest == ["imagetransfers"] and method == "POST":
            req = json.loads(self.body() or b"{}")
            if req.get("direction") != "download" or req.get("disk", {}).get("id") != args.disk_id:
                log("CREATE refused %s" % json.dumps(req))
                return self.fault(404, "Operation Failed", "Entity not found: disk")
            with lock:
                locked = args.locked > 0
                args.locked -= 1
            if locked:
                log("CREATE locked")
                return self.fault(409, "Operation Failed",
                                  "[Cannot transfer Virtual Disk: Disk is locked. Please try again later.]")
            tid = secrets.token_hex(4) + "-0000-4000-8000-" + secrets.token_hex(6)
            ticket = secrets.token_hex(16)
            with lock:
                transfers[tid] = {"phase": "initializing", "polls": 0, "ticket": ticket}
            log("CREATE %s format=%s" % (tid, req.get("format")))
            return self.reply(201, self.transfer(tid))
        if len(rest) >= 2 and rest[0] == "imagetransfers" and rest[1] in transfers:
            tid = rest[1]
            t = transfers[tid]
            if len(rest) == 2 and method == "GET":
                with lock:
                    t["polls"] += 1
                    if t["phase"] == "initializing" and t["polls"] >= 2:
                        t["phase"] = "transferring"
                        tickets[t["ticket"]] = {"deadline": time.time() + args.ticket_ttl, "transfer": tid}
                log("POLL %s %s" % (tid, t["phase"]))
                return self.reply(200, self.transfer(tid))
            if len(rest) == 3 and method == "POST" and rest[2] in ("extend", "finalize", "cancel"):
                self.body()
                with lock:
                    if rest[2] == "extend":
                        if t["ticket"] in tickets:
                            tickets[t["ticket"]]["deadline"] = time.time() + args.ticket_ttl
                    else:
                        tickets.pop(t["ticket"], None)
                        t["phase"] = "finished_success" if rest[2] == "finalize" else "cancelled_user"
                log("%s %s" % (rest[2].upper(), tid))
                return self.reply(200, {"status": "complete"})
        if rest == ["disks", args.disk_id] and method == "GET":
            return self.reply(200, {"id": args.disk_id, "provisioned_size": str(SIZE), "format": "raw"})
        return self.fault(404, "Not Found", p)

    def transfer(self, tid):
        t = transfers[tid]
        d = {"id": tid, "href": "/ovirt-engine/api/imagetransfers/" + tid, "direction": "download",
             "phase": t["phase"], "format": "raw"}
        if t["phase"] == "transferring":
            d["transfer_url"] = "https://127.0.0.1:%d/images/%s" % (daemon_port[0], t["ticket"])
            d["proxy_url"] = "https://127.0.0.1:%d/images/%s" % (daemon_port[0], t["ticket"])
        return d

    # ---- daemon ----
    def daemon(self, method):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.split("/")
        if len(parts) < 3 or parts[1] != "images":
            return self.reply(404, "no such resource", "text/plain")
        ticket = parts[2]
        if self.headers.get("Authorization"):
            log("LEAK the engine's credentials were sent to the daemon")
        with lock:
            tk = tickets.get(ticket)
            valid = tk is not None and time.time() < tk["deadline"]
        if not valid:
            log("FORBIDDEN %s %s" % (method, "expired" if tk else "no-ticket"))
            return self.reply(403, "You are not allowed to access this resource: No such ticket %s" % ticket,
                              "text/plain")
        if method == "OPTIONS" and len(parts) == 3:
            log("OPTIONS")
            feats = [] if args.no_extents else ["extents"]
            opts = {"features": feats, "max_writers": 1}
            if args.max_readers:
                opts["max_readers"] = args.max_readers
            return self.reply(200, opts, headers=[("Allow", "OPTIONS,GET")])
        if method == "GET" and len(parts) == 4 and parts[3] == "extents" and not args.no_extents:
            ctx = urllib.parse.parse_qs(u.query).get("context", ["zero"])
            if ctx != ["zero"]:
                return self.reply(404, "dirty extents only in incremental backup", "text/plain")
            ext = extents()
            log("EXTENTS %s" % json.dumps(ext))
            return self.reply(200, ext)
        if method == "GET" and len(parts) == 3:
            rng = self.headers.get("Range", "")
            if not rng.startswith("bytes=") or "," in rng:
                log("READ whole")
                return self.reply(416, "one range only", "text/plain")
            a, _, b = rng[6:].partition("-")
            a = int(a)
            b = min(int(b), SIZE - 1) if b else SIZE - 1
            with lock:
                reads[0] += 1
                n = reads[0]
                active[0] += 1
                now = active[0]
            if now > (args.max_readers or 1):
                log("OVERLOAD %d readers, max_readers %d" % (now, args.max_readers or 1))
            try:
                if args.read_delay:
                    time.sleep(args.read_delay * max(1.0, (b + 1 - a) / 1048576.0))
            finally:
                with lock:
                    active[0] -= 1
            if args.fail_read and n == args.fail_read:
                log("READ %d %d 500" % (a, b + 1))
                return self.reply(500, "Internal server error: I/O error", "text/plain")
            with open(args.image, "rb") as f:
                f.seek(a)
                data = f.read(b - a + 1)
            log("READ %d %d 206" % (a, b + 1))
            return self.reply(206, data, "application/octet-stream",
                              [("Content-Range", "bytes %d-%d/*" % (a, b))])
        return self.reply(405, "method not allowed", "text/plain")

    def dispatch(self, method):
        if self.server.role == "engine":
            self.engine(method)
        else:
            self.daemon(method)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")


def serve(role):
    srv = standin.tls_server(Handler, args.cert, args.key)
    srv.role = role
    return srv


engine = serve("engine")
daemon = serve("daemon")
daemon_port[0] = daemon.server_address[1]
standin.serve(engine, args.port_file, daemon)
