#!/usr/bin/env python3
"""OCI image layouts built by hand, and a small loopback registry, for the
registry tests (tests/importer/registry.sh) and bench/registry.sh.

  regtool.py layer OUT(.tar|.tar.gz|.tar.zst) ENTRY...
      ENTRY: file:NAME=SRC  data:NAME=TEXT  dir:NAME  symlink:NAME=TARGET
             hardlink:NAME=TARGET  whiteout:NAME (writes .wh.)  opaque:DIR
             raw:NAME (a regular member named NAME verbatim, e.g. "../x")
  regtool.py manifest LAYOUT ARCH [--docker] [--size-of N=BYTES] LAYER...
      writes config, layer and manifest blobs; prints "digest size"
      (--size-of 1=107374182400 lies about layer 1's size)
  regtool.py index LAYOUT [--docker] DIGEST...   an index of manifests
  regtool.py tag LAYOUT TAG DIGEST               index.json entry named TAG
  regtool.py serve LAYOUT PORTFILE MODE          a registry from the layout
      MODE: anon | bearer (token endpoint on the same origin) |
            bearer-foreign (token endpoint on another origin) |
            bearer-expiring (tokens refused after 3 requests) |
            cut (blobs over 1 MiB cut at half, Range honoured) |
            cut-norange (cut, and Range ignored)

The small registry exists because Debian's docker-registry cannot be made to
serve what the hostile tests need (blobs whose bytes do not match their
digest, manifests naming layers of 100 GiB) nor a Bearer token service
without a JWT issuer; everything else is tested against docker-registry.
"""
import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


def put_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def ensure_layout(layout):
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    p = os.path.join(layout, "oci-layout")
    if not os.path.exists(p):
        with open(p, "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
    p = os.path.join(layout, "index.json")
    if not os.path.exists(p):
        with open(p, "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}, f)


def member(name, typ=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.mtime = 0
    ti.uid = ti.gid = 107
    ti.mode = 0o755 if typ == tarfile.DIRTYPE else 0o644
    return ti


def cmd_layer(out, entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            kind, _, rest = e.partition(":")
            name, _, val = rest.partition("=")
            if kind == "file":
                ti = member(name)
                ti.size = os.path.getsize(val)
                with open(val, "rb") as f:
                    t.addfile(ti, f)
            elif kind == "data" or kind == "raw":
                ti = member(name)
                ti.size = len(val)
                t.addfile(ti, io.BytesIO(val.encode()))
            elif kind == "dir":
                t.addfile(member(name, tarfile.DIRTYPE))
            elif kind == "symlink":
                ti = member(name, tarfile.SYMTYPE)
                ti.linkname = val
                t.addfile(ti)
            elif kind == "hardlink":
                ti = member(name, tarfile.LNKTYPE)
                ti.linkname = val
                t.addfile(ti)
            elif kind == "whiteout":
                d, _, b = name.rpartition("/")
                ti = member((d + "/" if d else "") + ".wh." + b)
                t.addfile(ti, io.BytesIO(b""))
            elif kind == "opaque":
                ti = member(name.rstrip("/") + "/.wh..wh..opq")
                t.addfile(ti, io.BytesIO(b""))
            else:
                sys.exit("unknown entry kind " + kind)
    data = buf.getvalue()
    if out.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif out.endswith(".zst"):
        data = subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    with open(out, "wb") as f:
        f.write(data)


def layer_type(path, docker):
    if docker:
        return "application/vnd.docker.image.rootfs.diff.tar.gzip"
    if path.endswith(".gz"):
        return "application/vnd.oci.image.layer.v1.tar+gzip"
    if path.endswith(".zst"):
        return "application/vnd.oci.image.layer.v1.tar+zstd"
    return "application/vnd.oci.image.layer.v1.tar"


def cmd_manifest(layout, arch, args):
    ensure_layout(layout)
    docker = False
    lies = {}
    layers = []
    i = 0
    while i < len(args):
        if args[i] == "--docker":
            docker = True
        elif args[i] == "--size-of":
            n, _, v = args[i + 1].partition("=")
            lies[int(n)] = int(v)
            i += 1
        else:
            layers.append(args[i])
        i += 1
    descs, diffs = [], []
    for n, p in enumerate(layers, 1):
        with open(p, "rb") as f:
            data = f.read()
        d = put_blob(layout, data)
        raw = data
        if p.endswith(".gz"):
            raw = gzip.decompress(data)
        elif p.endswith(".zst"):
            raw = subprocess.run(["zstd", "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE,
                                 check=True).stdout
        diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descs.append({"mediaType": layer_type(p, docker), "digest": d,
                      "size": lies.get(n, len(data))})
    config = json.dumps({"architecture": arch, "os": "linux",
                         "config": {"Env": ["PATH=/"]},
                         "rootfs": {"type": "layers", "diff_ids": diffs}},
                        sort_keys=True).encode()
    cd = put_blob(layout, config)
    m = {"schemaVersion": 2,
         "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
         "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                    "digest": cd, "size": len(config)},
         "layers": descs}
    data = json.dumps(m, indent=2).encode()
    print(put_blob(layout, data), len(data))


def cmd_index(layout, args):
    docker = args[0] == "--docker"
    if docker:
        args = args[1:]
    ms = []
    for d in args:
        with open(os.path.join(layout, "blobs", "sha256", d.split(":")[1]), "rb") as f:
            data = f.read()
        m = json.loads(data)
        with open(os.path.join(layout, "blobs", "sha256",
                               m["config"]["digest"].split(":")[1])) as f:
            c = json.load(f)
        ms.append({"mediaType": m["mediaType"], "digest": d, "size": len(data),
                   "platform": {"architecture": c["architecture"], "os": c["os"]}})
    idx = {"schemaVersion": 2, "mediaType": DOCKER_LIST if docker else OCI_INDEX,
           "manifests": ms}
    data = json.dumps(idx, indent=2).encode()
    print(put_blob(layout, data), len(data))


def cmd_tag(layout, tag, digest):
    ensure_layout(layout)
    p = os.path.join(layout, "index.json")
    with open(p) as f:
        idx = json.load(f)
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        data = f.read()
    mt = json.loads(data).get("mediaType", OCI_MANIFEST)
    idx["manifests"] = [m for m in idx["manifests"]
                        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    idx["manifests"].append({"mediaType": mt, "digest": digest, "size": len(data),
                             "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(p, "w") as f:
        json.dump(idx, f)


def cmd_serve(layout, portfile, mode):
    # bearer-expiring: each token opens 3 requests (the probe, the manifest,
    # the config), so that layers need a renewed one.
    state = {"n": 0, "uses": 0}

    def token():
        return "t0k3n-%d" % state["n"]

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, code, body=b"", ctype="application/json", extra=()):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            port = self.server.server_address[1]
            path = self.path.split("?")[0]
            if path == "/token":
                state["n"] += 1
                state["uses"] = 0
                return self.send(200, json.dumps({"token": token(), "expires_in": 300}).encode())
            authorized = self.headers.get("Authorization") == "Bearer " + token()
            if authorized and mode == "bearer-expiring":
                state["uses"] += 1
                authorized = state["uses"] <= 3
            if mode.startswith("bearer") and not authorized:
                host = "localhost" if mode == "bearer-foreign" else "127.0.0.1"
                realm = "http://%s:%d/token" % (host, port)
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}',
                                 extra=[("WWW-Authenticate",
                                         'Bearer realm="%s",service="test",scope="x"' % realm)])
            if path == "/v2/":
                return self.send(200, b"{}")
            parts = path.split("/")
            # /v2/<name...>/(manifests|blobs)/<ref>
            if len(parts) < 5 or parts[1] != "v2":
                return self.send(404)
            kind, ref = parts[-2], parts[-1]
            if ref.startswith("sha256:"):
                p = os.path.join(layout, "blobs", "sha256", ref[7:])
            elif kind == "manifests":
                with open(os.path.join(layout, "index.json")) as f:
                    idx = json.load(f)
                p = None
                for m in idx["manifests"]:
                    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
                        p = os.path.join(layout, "blobs", "sha256", m["digest"][7:])
            else:
                p = None
            if not p or not os.path.exists(p):
                return self.send(404, b'{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}')
            with open(p, "rb") as f:
                data = f.read()
            ctype = "application/octet-stream"
            if kind == "manifests":
                ctype = json.loads(data).get("mediaType", OCI_MANIFEST)
            rng = self.headers.get("Range", "")
            if kind == "blobs" and mode == "cut" and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                return self.send(206, data[start:], ctype, extra=[
                    ("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))])
            if kind == "blobs" and mode.startswith("cut") and len(data) > (1 << 20) \
                    and self.command == "GET":
                # the first half, then the connection is gone
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.send(200, data, ctype)

        do_HEAD = do_GET

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "layer":
        cmd_layer(a[1], a[2:])
    elif a[0] == "manifest":
        cmd_manifest(a[1], a[2], a[3:])
    elif a[0] == "index":
        cmd_index(a[1], a[2:])
    elif a[0] == "tag":
        cmd_tag(a[1], a[2], a[3])
    elif a[0] == "serve":
        cmd_serve(a[1], a[2], a[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
