#!/usr/bin/env python3
"""A SigV4-checking front for s3rver (tests/importer/s3.sh).

s3rver 3.7.1 checks that a SigV4 request's access key exists but never
computes the signature (lib/middleware/authentication.js: "Signature version
4 calculation is unimplemented"), so a wrong secret key would pass.  This
proxy, on 127.0.0.1, recomputes every signature independently of the
importer (Python's hmac/hashlib, AWS's published algorithm: canonical
request from the signed headers, UriEncode of the decoded path, the scope of
the Credential) with the secret of the access key, answers 403
SignatureDoesNotMatch (S3's XML) on a mismatch, and forwards the request,
Range included, to s3rver otherwise.  The bytes served are s3rver's.

usage: sigv4-check.py PORT_FILE UPSTREAM_PORT ACCESS_KEY SECRET_KEY
(writes the port it listens on to PORT_FILE; logs one line a request to
stderr: METHOD PATH STATUS RANGE).  Correctly signed requests for a key
containing "flaky" are answered 503 SlowDown twice first, as S3 does under
load (the importer must retry).
"""
import hashlib
import hmac
import http.client
import http.server
import re
import sys
import urllib.parse

PORT_FILE, UPSTREAM, AK, SK = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
FLAKY = {}


def uri_encode(s, keep_slash):
    out = []
    for b in s.encode():
        c = chr(b)
        if c.isalnum() and b < 128 or c in "-._~" or (keep_slash and c == "/"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def signature(method, path, query, headers, signed, amz_date, scope, payload):
    canon_headers = "".join("%s:%s\n" % (h, " ".join(headers.get(h, "").split())) for h in signed)
    canon_query = "&".join(sorted(
        "%s=%s" % (uri_encode(k, False), uri_encode(v, False))
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)))
    canon = "\n".join([method, uri_encode(urllib.parse.unquote(path), True), canon_query,
                       canon_headers, ";".join(signed), payload])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    k = ("AWS4" + SK).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def deny(self, code, message, status=403):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                "<Message>%s</Message></Error>" % (code, message)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        sys.stderr.write("%s %s %d %s\n" % (self.command, self.path, status, code))

    def do_GET(self):
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        auth = headers.get("authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/([^,]+), *SignedHeaders=([^,]+), *"
                     r"Signature=([0-9a-f]{64})$", auth)
        if not m:
            return self.deny("AccessDenied", "Access Denied (no SigV4 Authorization)")
        ak, scope, signed, sig = m.groups()
        if ak != AK:
            return self.deny("InvalidAccessKeyId", "The AWS Access Key Id you provided does not "
                             "exist in our records.")
        signed = signed.split(";")
        if "host" not in signed or "x-amz-date" not in signed or "x-amz-content-sha256" not in headers:
            return self.deny("AccessDenied", "host, x-amz-date and x-amz-content-sha256 are required")
        want = signature(self.command, path, query, headers, signed, headers["x-amz-date"], scope,
                         headers["x-amz-content-sha256"])
        if not hmac.compare_digest(want, sig):
            return self.deny("SignatureDoesNotMatch", "The request signature we calculated does "
                             "not match the signature you provided. Check your key and signing "
                             "method.")
        if "flaky" in path and FLAKY.get(path, 0) < 2:
            FLAKY[path] = FLAKY.get(path, 0) + 1
            return self.deny("SlowDown", "Please reduce your request rate.", 503)
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM)
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, headers=fwd)
        resp = conn.getresponse()
        body = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        sys.stderr.write("%s %s %d %s\n" % (self.command, self.path, resp.status,
                                            headers.get("range", "-")))
        conn.close()

    do_HEAD = do_GET


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(PORT_FILE + ".tmp", PORT_FILE)
sys.stderr.flush()
server.serve_forever()
