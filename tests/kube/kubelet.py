#!/usr/bin/env python3
"""The test kubelet: plays a node (and the scheduler and a hostPath provisioner) for the
Kubernetes-mode tests, which run a real kube-apiserver but no kubelet.

usage: kubelet.py --kubeconfig FILE --node NAME --state-dir DIR
                  [--label K=V]... [--no-schedule] [--no-provision] [--controller-manager]
                  [--bin-dir DIR] [--host-path /SRC=DST]... [--poll SECONDS]

What it does, every --poll seconds (default 0.2), until SIGTERM or SIGINT:
- registers the Node NAME (labels kubernetes.io/hostname=NAME and --label) with a Ready
  condition and refreshes its heartbeat every 10 s;
- provisioner (unless --no-provision): binds every Pending PVC to a new hostPath PV
  `pvc-<claim uid>` of the requested size: a directory DIR/pvs/<uid>/ for volumeMode
  Filesystem, a sparse file DIR/pvs/<uid>.img for Block; the claim's spec.volumeName and
  status (Bound, capacity, accessModes) are set as the PV controller sets them.  When the
  claim is gone its PV and data are deleted (reclaim policy Delete).  It also plays
  kube-controller-manager's pvc-protection: a deleted claim loses its
  kubernetes.io/pvc-protection finalizer once no pod that has not ended uses it;
- scheduler (unless --no-schedule): binds every pod with an empty spec.nodeName whose
  nodeSelector matches the Node's current labels and whose PVCs are Bound to NAME, through
  the pods/binding subresource (another test kubelet that wins the race gets the pod);
  affinity, taints, tolerations and resource requests are not considered;
- kubelet: for each pod on NAME, runs its initContainers in order, then its containers,
  each as its `command` + `args` (with $(VAR) expansion) and its `env` (value, and valueFrom
  fieldRef metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'],
  metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP,
  status.hostIP; configMapKeyRef and secretKeyRef), in its own mount namespace
  (`unshare -m`, private propagation) in which its volumes are bind-mounted:
    persistentVolumeClaim -> the bound PV's hostPath (volumeMounts' mountPath; or, for
                             volumeDevices, the PV's file at devicePath),
    hostPath              -> the path itself (created for DirectoryOrCreate/FileOrCreate),
                             or, under a --host-path /SRC=DST, the same path under DST
                             (not for paths a host daemon must see too: the handler's
                             /var/lib/ferry is read by the host's libvirtd),
    emptyDir              -> a directory under DIR/pods/<uid>/,
    configMap, secret     -> a directory of one file per key (or per item),
    the service account   -> /var/run/secrets/kubernetes.io/serviceaccount (token from the
                             TokenRequest API, ca.crt, namespace) unless the pod or its
                             ServiceAccount says automountServiceAccountToken: false or the
                             ServiceAccount does not exist; with KUBERNETES_SERVICE_HOST and
                             _PORT in the environment, in-cluster clients work, as the
                             ServiceAccount (its RBAC applies),
    /dev/termination-log  -> a file of the container's own (terminationMessagePath).
  Mount points that do not exist on the host are created there (empty, outside the
  namespace) and removed when this kubelet exits.  Pod status goes through pods/status:
  Pending -> Running (containerStatuses running, conditions Ready) -> Succeeded or Failed
  with each container's exitCode, reason (Completed, Error) and the termination message
  (up to 4096 bytes; with terminationMessagePolicy FallbackToLogsOnError and an empty
  file, the log's tail).  restartPolicy OnFailure and Always restart a container in place
  (restartCount, lastState).  Output goes to DIR/pods/<uid>/<container>.log;
- with --controller-manager (give it to one test kubelet only), kube-controller-manager's
  part too: the Job controller (batch/v1: pods from spec.template named <job>-xxxxx,
  labelled controller-uid and job-name and owned by the Job; parallelism, completions,
  backoffLimit counted in Failed pods; status active/succeeded/failed, startTime,
  completionTime, conditions Complete or Failed with reason BackoffLimitExceeded) and the
  garbage collector's background cascade: a Pod, PVC, Job, VirtualMachineInstance or
  DataVolume whose owners (Job, Pod, PVC, VirtualMachine, VirtualMachineInstance,
  DataVolume) are all gone is deleted.  Not
  played: activeDeadlineSeconds, pod-failure backoff delays, foreground deletion;
- a pod with a deletionTimestamp: its processes get SIGTERM (SIGKILL after its grace
  period, at most 10 s), by process group, then the pod is deleted with grace 0.
On exit every child is stopped by pid and the Node is marked NotReady.

THE IMAGE IS IGNORED: the command runs on this host, with this host's binaries (a pod
that asks for `busybox sh -c ...` runs /usr/bin/busybox).  A container without a command
fails with reason NoCommand.  --bin-dir DIR stands the build's programs in for the image's:
a command NAME or /usr/bin/NAME runs DIR/NAME when that exists, and DIR leads the PATH
(so a pod of ferry/ferry-importer running `ferry-importer` runs build/bin/ferry-importer).  There is no network namespace: the pod's IP is 127.0.0.1.
Runs as root (mount namespaces).  Python 3 and python3-yaml only.
"""
import argparse
import base64
import datetime
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import yaml
except ImportError:
    print("kubelet.py: python3-yaml is not installed", file=sys.stderr)
    sys.exit(2)

MESSAGE_MAX = 4096


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(msg):
    print("kubelet: %s" % msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# API access: a kubeconfig (token, tokenFile, client certificates, CA) over urllib.

class ApiError(Exception):
    def __init__(self, code, body):
        super().__init__("HTTP %d: %s" % (code, body[:300]))
        self.code = code


class Api:
    def __init__(self, kubeconfig):
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        base = os.path.dirname(os.path.abspath(kubeconfig))
        ctxname = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctxname)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in cfg.get("users", []) if u["name"] == ctx.get("user")), {})
        self.server = cluster["server"].rstrip("/")
        self.tmp = tempfile.mkdtemp(prefix="kubelet-tls.")

        def path(key, datakey, obj):
            if obj.get(datakey):
                p = os.path.join(self.tmp, datakey)
                with open(p, "wb") as f:
                    f.write(base64.b64decode(obj[datakey]))
                return p
            if obj.get(key):
                return os.path.join(base, obj[key])
            return None

        self.ctx = ssl.create_default_context()
        ca = path("certificate-authority", "certificate-authority-data", cluster)
        self.ca_file = ca
        if cluster.get("insecure-skip-tls-verify"):
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
        elif ca:
            self.ctx.load_verify_locations(ca)
        cert = path("client-certificate", "client-certificate-data", user)
        key = path("client-key", "client-key-data", user)
        if cert and key:
            self.ctx.load_cert_chain(cert, key)
        self.token = user.get("token")
        self.token_file = os.path.join(base, user["tokenFile"]) if user.get("tokenFile") else None

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def call(self, method, path, body=None, ctype="application/json", query=None):
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", ctype)
        token = self.token
        if self.token_file:
            with open(self.token_file) as f:
                token = f.read().strip()
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode(errors="replace"))
        return json.loads(raw) if raw else None

    def get(self, path, **query):
        return self.call("GET", path, query=query or None)

    def merge(self, path, body):
        return self.call("PATCH", path, body, "application/merge-patch+json")


# ---------------------------------------------------------------------------------------
# The exec half: `kubelet.py --exec SPEC` runs inside `unshare -m`, mounts, then execs.

def exec_container(specfile):
    with open(specfile) as f:
        spec = json.load(f)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    for m in spec["mounts"]:
        subprocess.run(["mount", "--bind", m["source"], m["target"]], check=True)
        if m.get("readOnly"):
            subprocess.run(["mount", "-o", "remount,bind,ro", m["target"]], check=True)
    if spec.get("cwd"):
        os.chdir(spec["cwd"])
    try:
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except OSError as e:
        print("kubelet: exec %s: %s" % (spec["argv"][0], e), file=sys.stderr)
        os._exit(127)


# ---------------------------------------------------------------------------------------
# The node.

VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(s, env):
    """Kubernetes' $(VAR) expansion: defined names are replaced, $$ is a $."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return VAR_REF.sub(sub, s)


def size_bytes(q):
    """A resource.Quantity as bytes (the suffixes PVC sizes use)."""
    q = str(q)
    m = re.fullmatch(r"([0-9.]+)([KMGTPE]i?|[kmMGTPE]?)", q)
    if not m:
        raise ValueError("quantity '%s'" % q)
    mult = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
            "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
            "Ei": 2**60, "m": 0.001}[m.group(2)]
    return int(float(m.group(1)) * mult)


class Container:
    def __init__(self, name, spec, init):
        self.name = name
        self.spec = spec
        self.init = init
        self.proc = None
        self.restarts = 0
        self.started_at = None
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state = {}
        self.done = False          # terminated and will not restart
        self.exit_code = None
        self.msgfile = None
        self.next_start = 0.0


class Pod:
    def __init__(self, obj, kubelet):
        self.obj = obj
        self.ns = obj["metadata"]["namespace"]
        self.name = obj["metadata"]["name"]
        self.uid = obj["metadata"]["uid"]
        self.dir = os.path.join(kubelet.state, "pods", self.uid)
        self.inits = [Container(c["name"], c, True) for c in obj["spec"].get("initContainers", [])]
        self.containers = [Container(c["name"], c, False) for c in obj["spec"]["containers"]]
        self.phase = "Pending"
        self.started = False
        self.start_time = None
        self.reported = None
        self.killing_since = None
        self.volumes = None
        self.sa_dir = None


class Kubelet:
    def __init__(self, args):
        self.api = Api(args.kubeconfig)
        self.node = args.node
        self.state = os.path.abspath(args.state_dir)
        self.labels = {"kubernetes.io/hostname": args.node, "kubernetes.io/os": "linux"}
        for kv in args.label:
            k, _, v = kv.partition("=")
            self.labels[k] = v
        self.schedule = not args.no_schedule
        self.provision = not args.no_provision
        self.controller_manager = args.controller_manager
        self.bin_dir = os.path.abspath(args.bin_dir) if args.bin_dir else None
        self.host_paths = []
        for m in args.host_path:
            src, sep, dst = m.partition("=")
            if not sep or not src.startswith("/") or not dst:
                raise SystemExit("kubelet.py: --host-path '%s': expected /SRC=DST" % m)
            self.host_paths.append((src, os.path.abspath(dst)))
        self.poll = args.poll
        self.pods = {}             # uid -> Pod
        url = urllib.parse.urlsplit(self.api.server)
        self.service_host = url.hostname
        self.service_port = str(url.port or 443)
        self.created_paths = []    # mount points made on the host, removed at exit
        self.last_heartbeat = 0.0
        self.stopping = False
        os.makedirs(os.path.join(self.state, "pods"), exist_ok=True)
        os.makedirs(os.path.join(self.state, "pvs"), exist_ok=True)

    # --- node -------------------------------------------------------------------------
    def node_status(self, ready):
        t = now()
        return {
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            "reason": "KubeletReady" if ready else "KubeletStopped",
                            "message": "ferry test kubelet", "lastHeartbeatTime": t,
                            "lastTransitionTime": t}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node}],
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                         "kubeletVersion": "ferry-test", "kubeProxyVersion": "", "osImage": "",
                         "kernelVersion": os.uname().release, "containerRuntimeVersion": "host://",
                         "machineID": "", "systemUUID": "", "bootID": ""},
        }

    def register(self):
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node, "labels": self.labels},
                "status": self.node_status(True)}
        try:
            self.api.call("POST", "/api/v1/nodes", body)
        except ApiError as e:
            if e.code != 409:
                raise
            self.api.merge("/api/v1/nodes/" + self.node, {"metadata": {"labels": self.labels}})
        self.heartbeat(True)

    def heartbeat(self, ready=True):
        # A strategic merge patch, as the kubelet's: conditions merge by type and
        # capacity by key, so what a handler adds to the Node (its KVM condition,
        # devices.kubevirt.io/kvm) survives the heartbeat.
        self.api.call("PATCH", "/api/v1/nodes/%s/status" % self.node, {"status": self.node_status(ready)},
                      "application/strategic-merge-patch+json")
        self.last_heartbeat = time.monotonic()

    # --- provisioner ------------------------------------------------------------------
    def provision_claims(self, claims, pods):
        uids = {c["metadata"]["uid"] for c in claims}
        # kube-controller-manager's pvc-protection: a deleted claim keeps its
        # kubernetes.io/pvc-protection finalizer while a pod that has not ended uses it.
        used = set()
        for p in pods:
            if p.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            for v in p["spec"].get("volumes", []):
                if "persistentVolumeClaim" in v:
                    used.add((p["metadata"]["namespace"], v["persistentVolumeClaim"]["claimName"]))
        for c in claims:
            md = c["metadata"]
            if md.get("deletionTimestamp") and "kubernetes.io/pvc-protection" in md.get("finalizers", []) \
                    and (md["namespace"], md["name"]) not in used:
                fin = [f for f in md["finalizers"] if f != "kubernetes.io/pvc-protection"]
                try:
                    self.api.merge("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (md["namespace"], md["name"]),
                                   {"metadata": {"finalizers": fin or None,
                                                 "resourceVersion": md["resourceVersion"]}})
                    uids.discard(md["uid"])
                except ApiError as e:
                    if e.code not in (404, 409):
                        log("pvc %s/%s finalizer: %s" % (md["namespace"], md["name"], e))
        for c in claims:
            if c.get("status", {}).get("phase", "Pending") != "Pending" or c["spec"].get("volumeName"):
                continue
            if c["metadata"].get("deletionTimestamp"):
                continue
            try:
                self.bind_claim(c)
            except (ApiError, ValueError, OSError) as e:
                log("provision %s/%s: %s" % (c["metadata"]["namespace"], c["metadata"]["name"], e))
        # Reclaim (Delete) the PVs of claims that are gone.
        pvs = self.api.get("/api/v1/persistentvolumes",
                           labelSelector="ferry.io/test-provisioner=true")["items"]
        for pv in pvs:
            ref = pv["spec"].get("claimRef", {})
            if ref.get("uid") in uids:
                continue
            path = pv["spec"]["hostPath"]["path"]
            name = pv["metadata"]["name"]
            try:
                # pv-protection lets a PV go once it is not Bound.
                self.api.merge("/api/v1/persistentvolumes/%s/status" % name, {"status": {"phase": "Released"}})
                self.api.call("DELETE", "/api/v1/persistentvolumes/" + name)
                self.api.merge("/api/v1/persistentvolumes/" + name, {"metadata": {"finalizers": None}})
            except ApiError as e:
                if e.code != 404:
                    log("delete pv %s: %s" % (name, e))
                continue
            log("reclaimed %s (%s)" % (name, path))
            if path.startswith(os.path.join(self.state, "pvs") + "/"):
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.exists(path):
                    os.unlink(path)

    def bind_claim(self, c):
        md, spec = c["metadata"], c["spec"]
        request = spec.get("resources", {}).get("requests", {}).get("storage")
        if request is None:
            raise ValueError("no spec.resources.requests.storage")
        size = size_bytes(request)
        mode = spec.get("volumeMode", "Filesystem")
        pvname = "pvc-" + md["uid"]
        if mode == "Block":
            path = os.path.join(self.state, "pvs", md["uid"] + ".img")
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.truncate(size)
        else:
            path = os.path.join(self.state, "pvs", md["uid"])
            os.makedirs(path, exist_ok=True)
        pv = {"apiVersion": "v1", "kind": "PersistentVolume",
              "metadata": {"name": pvname, "labels": {"ferry.io/test-provisioner": "true"},
                           "annotations": {"pv.kubernetes.io/provisioned-by": "ferry-test-kubelet"}},
              "spec": {"capacity": {"storage": request},
                       "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                       "volumeMode": mode,
                       "persistentVolumeReclaimPolicy": "Delete",
                       "storageClassName": spec.get("storageClassName") or "",
                       "hostPath": {"path": path},
                       "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                    "namespace": md["namespace"], "name": md["name"],
                                    "uid": md["uid"]}}}
        try:
            self.api.call("POST", "/api/v1/persistentvolumes", pv)
        except ApiError as e:
            if e.code != 409:
                raise
        self.api.merge("/api/v1/persistentvolumes/%s/status" % pvname, {"status": {"phase": "Bound"}})
        base = "/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (md["namespace"], md["name"])
        self.api.merge(base, {"metadata": {
            "resourceVersion": md["resourceVersion"],
            "annotations": {"pv.kubernetes.io/bind-completed": "yes",
                            "pv.kubernetes.io/bound-by-controller": "yes"}},
            "spec": {"volumeName": pvname}})
        self.api.merge(base + "/status", {"status": {
            "phase": "Bound", "capacity": {"storage": request},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"]}})
        log("bound pvc %s/%s to %s (%s, %s)" % (md["namespace"], md["name"], pvname, mode, request))

    # --- scheduler --------------------------------------------------------------------
    def claims_bound(self, pod, claims_by_key):
        for v in pod["spec"].get("volumes", []):
            if "persistentVolumeClaim" in v:
                c = claims_by_key.get((pod["metadata"]["namespace"], v["persistentVolumeClaim"]["claimName"]))
                if not c or c.get("status", {}).get("phase") != "Bound":
                    return False
        return True

    def fits(self, pod, labels):
        """nodeSelector against the Node's labels as they are now (a handler may add some,
        e.g. kubevirt.io/schedulable); affinity, taints and resources are not considered."""
        for k, v in (pod["spec"].get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return False
        return True

    def bind(self, pod):
        md = pod["metadata"]
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": md["name"], "namespace": md["namespace"], "uid": md["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node}}
        try:
            self.api.call("POST", "/api/v1/namespaces/%s/pods/%s/binding" % (md["namespace"], md["name"]), body)
            log("bound pod %s/%s to %s" % (md["namespace"], md["name"], self.node))
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    # --- kubelet ----------------------------------------------------------------------
    def mountpoint(self, target, is_file):
        """Make TARGET exist on the host (so a bind mount can cover it); remember what we made."""
        if os.path.lexists(target):
            return
        parent = os.path.dirname(target)
        missing = []
        p = parent
        while not os.path.exists(p):
            missing.append(p)
            p = os.path.dirname(p)
        os.makedirs(parent, exist_ok=True)
        self.created_paths.extend(reversed(missing))
        if is_file:
            open(target, "a").close()
        else:
            os.mkdir(target)
        self.created_paths.append(target)

    def host_path(self, path):
        """--host-path SRC=DST: a hostPath volume at or under SRC uses DST instead."""
        for src, dst in self.host_paths:
            if path == src or path.startswith(src.rstrip("/") + "/"):
                return dst + path[len(src):]
        return path

    def resolve_volumes(self, pod):
        """{volume name: (host path, is_file)} or raise ValueError while something is missing."""
        obj = pod.obj
        out = {}
        for v in obj["spec"].get("volumes", []):
            name = v["name"]
            if "persistentVolumeClaim" in v:
                cn = v["persistentVolumeClaim"]["claimName"]
                c = self.api.get("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (pod.ns, cn))
                if c.get("status", {}).get("phase") != "Bound":
                    raise ValueError("persistentVolumeClaim %s is not Bound" % cn)
                pv = self.api.get("/api/v1/persistentvolumes/" + c["spec"]["volumeName"])
                if "hostPath" not in pv["spec"]:
                    raise ValueError("PersistentVolume %s is not a hostPath volume" % pv["metadata"]["name"])
                path = pv["spec"]["hostPath"]["path"]
                out[name] = (path, os.path.isfile(path))
            elif "hostPath" in v:
                path, kind = self.host_path(v["hostPath"]["path"]), v["hostPath"].get("type", "")
                if kind == "DirectoryOrCreate":
                    os.makedirs(path, exist_ok=True)
                elif kind == "FileOrCreate" and not os.path.exists(path):
                    open(path, "a").close()
                if not os.path.exists(path):
                    if kind == "":
                        out[name] = (None, False)   # unchecked type: nothing to mount (e.g. no /dev/kvm)
                        continue
                    raise ValueError("hostPath %s does not exist" % path)
                out[name] = (path, not os.path.isdir(path))
            elif "emptyDir" in v:
                path = os.path.join(pod.dir, "volumes", name)
                os.makedirs(path, exist_ok=True)
                out[name] = (path, False)
            elif "configMap" in v or "secret" in v:
                src = v.get("configMap") or v.get("secret")
                kind = "configmaps" if "configMap" in v else "secrets"
                ref = src.get("name") or src.get("secretName")
                try:
                    o = self.api.get("/api/v1/namespaces/%s/%s/%s" % (pod.ns, kind, ref))
                except ApiError as e:
                    if e.code == 404 and src.get("optional"):
                        o = {}
                    else:
                        raise ValueError("%s %s: %s" % (kind[:-1], ref, e))
                data = {k: val.encode() for k, val in (o.get("data") or {}).items()}
                if kind == "secrets":
                    data = {k: base64.b64decode(val) for k, val in (o.get("data") or {}).items()}
                for k, val in (o.get("binaryData") or {}).items():
                    data[k] = base64.b64decode(val)
                path = os.path.join(pod.dir, "volumes", name)
                os.makedirs(path, exist_ok=True)
                items = src.get("items") or [{"key": k, "path": k} for k in data]
                for it in items:
                    if it["key"] in data:
                        fp = os.path.join(path, it["path"])
                        os.makedirs(os.path.dirname(fp), exist_ok=True)
                        with open(fp, "wb") as f:
                            f.write(data[it["key"]])
                out[name] = (path, False)
            else:
                raise ValueError("volume %s: unsupported source %s" % (name, sorted(set(v) - {"name"})))
        return out

    SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"

    def service_account(self, pod):
        """The kubelet's service-account volume: a token from the TokenRequest API (bound to
        the pod, 3607 s), ca.crt and namespace, for in-cluster clients.  None when the pod
        opts out (automountServiceAccountToken: false, on the pod or its ServiceAccount) or
        the ServiceAccount does not exist (the tests' apiserver runs no controller that makes
        "default"); the pod then runs without credentials."""
        spec = pod.obj["spec"]
        sa = spec.get("serviceAccountName") or "default"
        base = "/api/v1/namespaces/%s/serviceaccounts/%s" % (pod.ns, sa)
        try:
            acct = self.api.get(base)
        except ApiError as e:
            if e.code == 404:
                return None
            raise
        auto = spec.get("automountServiceAccountToken")
        if auto is None:
            auto = acct.get("automountServiceAccountToken", True)
        if not auto:
            return None
        tr = self.api.call("POST", base + "/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3607,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.name,
                                        "uid": pod.uid}}})
        d = os.path.join(pod.dir, "serviceaccount")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "token"), "w") as f:
            f.write(tr["status"]["token"])
        with open(os.path.join(d, "namespace"), "w") as f:
            f.write(pod.ns)
        if self.api.ca_file:
            shutil.copyfile(self.api.ca_file, os.path.join(d, "ca.crt"))
        return d

    def env_for(self, pod, c):
        obj = pod.obj
        md = obj["metadata"]
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOSTNAME": pod.name, "HOME": "/root",
               "KUBERNETES_SERVICE_HOST": self.service_host,
               "KUBERNETES_SERVICE_PORT": self.service_port}
        fields = {"metadata.name": md["name"], "metadata.namespace": md["namespace"],
                  "metadata.uid": md["uid"], "spec.nodeName": self.node,
                  "spec.serviceAccountName": obj["spec"].get("serviceAccountName", "default"),
                  "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
        for e in c.spec.get("env", []):
            if "valueFrom" not in e:
                env[e["name"]] = expand(e.get("value", ""), env)
                continue
            vf = e["valueFrom"]
            if "fieldRef" in vf:
                fp = vf["fieldRef"]["fieldPath"]
                m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", fp)
                if m:
                    env[e["name"]] = (md.get(m.group(1)) or {}).get(m.group(2), "")
                elif fp in fields:
                    env[e["name"]] = fields[fp]
                else:
                    raise ValueError("env %s: fieldRef %s not supported" % (e["name"], fp))
            elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
                ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef")
                kind = "configmaps" if "configMapKeyRef" in vf else "secrets"
                try:
                    o = self.api.get("/api/v1/namespaces/%s/%s/%s" % (pod.ns, kind, ref["name"]))
                    val = (o.get("data") or {})[ref["key"]]
                    env[e["name"]] = base64.b64decode(val).decode() if kind == "secrets" else val
                except (ApiError, KeyError):
                    if not ref.get("optional"):
                        raise ValueError("env %s: %s %s key %s not found"
                                         % (e["name"], kind[:-1], ref["name"], ref["key"]))
            else:
                raise ValueError("env %s: valueFrom %s not supported" % (e["name"], sorted(vf)))
        return env

    def start_container(self, pod, c):
        spec = c.spec
        env = self.env_for(pod, c)
        argv = [expand(a, env) for a in (spec.get("command") or []) + (spec.get("args") or [])]
        if not spec.get("command"):
            raise ValueError("container %s has no command (the image is ignored)" % c.name)
        if self.bin_dir:
            # The build's programs stand in for the image's: NAME or /usr/bin/NAME.
            name = argv[0][len("/usr/bin/"):] if argv[0].startswith("/usr/bin/") else argv[0]
            if "/" not in name and os.access(os.path.join(self.bin_dir, name), os.X_OK):
                argv[0] = os.path.join(self.bin_dir, name)
            env["PATH"] = self.bin_dir + ":" + env["PATH"]
        mounts = []
        for vm in spec.get("volumeMounts", []):
            src, is_file = pod.volumes[vm["name"]]
            if src is None:
                continue
            if vm.get("subPath"):
                src = os.path.join(src, vm["subPath"])
                os.makedirs(src, exist_ok=True)
                is_file = False
            self.mountpoint(vm["mountPath"], is_file)
            mounts.append({"source": src, "target": vm["mountPath"], "readOnly": vm.get("readOnly", False)})
        for vd in spec.get("volumeDevices", []):
            src, is_file = pod.volumes[vd["name"]]
            if not is_file:
                raise ValueError("volumeDevice %s: PV is not a block (file) volume" % vd["name"])
            self.mountpoint(vd["devicePath"], True)
            mounts.append({"source": src, "target": vd["devicePath"]})
        if pod.sa_dir and not any(m["target"] == self.SA_PATH for m in mounts):
            self.mountpoint(self.SA_PATH, False)
            mounts.append({"source": pod.sa_dir, "target": self.SA_PATH, "readOnly": True})
        cdir = os.path.join(pod.dir, "containers", c.name)
        os.makedirs(cdir, exist_ok=True)
        c.msgfile = os.path.join(cdir, "termination-log")
        open(c.msgfile, "w").close()
        tpath = spec.get("terminationMessagePath", "/dev/termination-log")
        self.mountpoint(tpath, True)
        mounts.append({"source": c.msgfile, "target": tpath})
        specfile = os.path.join(cdir, "exec.json")
        with open(specfile, "w") as f:
            json.dump({"argv": argv, "env": env, "mounts": mounts, "cwd": spec.get("workingDir")}, f)
        logf = open(os.path.join(pod.dir, c.name + ".log"), "ab")
        c.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--",
             sys.executable, os.path.abspath(__file__), "--exec", specfile],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        c.started_at = now()
        c.state = {"running": {"startedAt": c.started_at}}
        log("pod %s/%s container %s: pid %d: %s" % (pod.ns, pod.name, c.name, c.proc.pid, argv))

    def message(self, pod, c, code):
        with open(c.msgfile, "rb") as f:
            msg = f.read(MESSAGE_MAX)
        if not msg and code != 0 and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            with open(os.path.join(pod.dir, c.name + ".log"), "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 2048))
                msg = f.read()
        return msg.decode(errors="replace")

    def reap(self, pod, c):
        code = c.proc.poll()
        if code is None:
            return False
        if code < 0:
            code = 128 - code      # killed by a signal, as a container runtime reports it
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": c.started_at, "finishedAt": now(),
                "containerID": "ferry-test://%d" % c.proc.pid}
        msg = self.message(pod, c, code)
        if msg:
            term["message"] = msg
        c.proc = None
        policy = pod.obj["spec"].get("restartPolicy", "Always")
        if not c.init and (policy == "Always" or (policy == "OnFailure" and code != 0)) \
                and pod.killing_since is None:
            c.last_state = {"terminated": term}
            c.restarts += 1
            c.state = {"waiting": {"reason": "CrashLoopBackOff" if code else "Completed"}}
            c.next_start = time.monotonic() + 1.0
            log("pod %s/%s container %s exited %d: restart %d" % (pod.ns, pod.name, c.name, code, c.restarts))
            return True
        if c.init and code != 0 and policy != "Never" and pod.killing_since is None:
            c.last_state = {"terminated": term}
            c.restarts += 1
            c.next_start = time.monotonic() + 1.0
            return True
        c.state = {"terminated": term}
        c.exit_code = code
        c.done = True
        log("pod %s/%s container %s exited %d" % (pod.ns, pod.name, c.name, code))
        return True

    def cstatus(self, c):
        st = {"name": c.name, "state": c.state, "ready": "running" in c.state,
              "restartCount": c.restarts, "image": c.spec.get("image", ""), "imageID": "",
              "started": "running" in c.state}
        if c.last_state:
            st["lastState"] = c.last_state
        if c.proc is not None:
            st["containerID"] = "ferry-test://%d" % c.proc.pid
        return st

    def report(self, pod):
        t = now()
        ready = pod.phase == "Running" and all("running" in c.state for c in pod.containers)
        inits_done = all(c.done and c.exit_code == 0 for c in pod.inits)
        status = {
            "phase": pod.phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}], "startTime": pod.start_time, "qosClass": "BestEffort",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": pod.start_time},
                {"type": "Initialized", "status": "True" if inits_done else "False",
                 "lastTransitionTime": t},
                {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": t},
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": t},
            ],
            "containerStatuses": [self.cstatus(c) for c in pod.containers],
        }
        if pod.inits:
            status["initContainerStatuses"] = [self.cstatus(c) for c in pod.inits]
        key = json.dumps({k: v for k, v in status.items() if k != "conditions"}, sort_keys=True)
        if key == pod.reported:
            return
        try:
            self.api.merge("/api/v1/namespaces/%s/pods/%s/status" % (pod.ns, pod.name), {"status": status})
            pod.reported = key
        except ApiError as e:
            if e.code != 404:
                log("pod %s/%s status: %s" % (pod.ns, pod.name, e))

    def fail_pod(self, pod, reason, message):
        for c in pod.containers:
            c.state = {"waiting": {"reason": reason, "message": message}}
        status = {"phase": "Failed", "reason": reason, "message": message, "hostIP": "127.0.0.1",
                  "startTime": pod.start_time,
                  "containerStatuses": [self.cstatus(c) for c in pod.containers]}
        self.api.merge("/api/v1/namespaces/%s/pods/%s/status" % (pod.ns, pod.name), {"status": status})
        pod.phase = "Failed"
        log("pod %s/%s failed: %s: %s" % (pod.ns, pod.name, reason, message))

    def step_pod(self, pod):
        if pod.phase in ("Succeeded", "Failed"):
            return
        if not pod.started:
            try:
                pod.volumes = self.resolve_volumes(pod)
                pod.sa_dir = self.service_account(pod)
            except ValueError as e:
                if pod.reported != "waiting:%s" % e:
                    log("pod %s/%s waits: %s" % (pod.ns, pod.name, e))
                    pod.reported = "waiting:%s" % e
                return
            pod.started = True
            pod.start_time = now()
        running = None
        for c in pod.inits:
            if c.done:
                if c.exit_code != 0:
                    pod.phase = "Failed"
                    self.report(pod)
                    return
                continue
            running = c
            break
        group = [running] if running else pod.containers
        for c in group:
            if c.proc is not None:
                self.reap(pod, c)
            if c.proc is None and not c.done and time.monotonic() >= c.next_start:
                try:
                    self.start_container(pod, c)
                except (ValueError, OSError) as e:
                    self.fail_pod(pod, "NoCommand" if "no command" in str(e) else "CreateContainerError", str(e))
                    return
        if running:
            pod.phase = "Pending"
        elif all(c.done for c in pod.containers):
            pod.phase = "Succeeded" if all(c.exit_code == 0 for c in pod.containers) else "Failed"
        else:
            pod.phase = "Running"
        self.report(pod)

    def kill_pod(self, pod, grace):
        procs = [c.proc for c in pod.inits + pod.containers if c.proc is not None]
        if pod.killing_since is None:
            pod.killing_since = time.monotonic()
            for p in procs:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if procs and time.monotonic() - pod.killing_since >= min(grace, 10):
            for p in procs:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for c in pod.inits + pod.containers:
            if c.proc is not None and c.proc.poll() is not None:
                self.reap(pod, c)
        return all(c.proc is None for c in pod.inits + pod.containers)


    # --- kube-controller-manager's Job controller and garbage collector ---------------
    def job_condition(self, job, ctype):
        return any(c.get("type") == ctype and c.get("status") == "True"
                   for c in job.get("status", {}).get("conditions", []))

    def sync_jobs(self, pods):
        jobs = self.api.get("/apis/batch/v1/jobs")["items"]
        for job in jobs:
            md, spec = job["metadata"], job["spec"]
            if md.get("deletionTimestamp") or self.job_condition(job, "Complete") \
                    or self.job_condition(job, "Failed"):
                continue
            mine = [p for p in pods if p["metadata"].get("labels", {}).get("controller-uid") == md["uid"]
                    and not p["metadata"].get("deletionTimestamp")]
            phase = lambda p: p.get("status", {}).get("phase")
            active = [p for p in mine if phase(p) not in ("Succeeded", "Failed")]
            succeeded = sum(1 for p in mine if phase(p) == "Succeeded")
            failed = sum(1 for p in mine if phase(p) == "Failed")
            completions = spec.get("completions", 1)
            parallelism = spec.get("parallelism", 1)
            backoff = spec.get("backoffLimit", 6)
            st = dict(job.get("status", {}))
            st.setdefault("startTime", now())
            t = now()
            if succeeded >= completions:
                st.update({"completionTime": t, "conditions": [
                    {"type": "Complete", "status": "True", "lastProbeTime": t, "lastTransitionTime": t}]})
            elif failed > backoff:
                for p in active:
                    self.delete_object("/api/v1/namespaces/%s/pods/%s" % (md["namespace"], p["metadata"]["name"]))
                active = []
                st["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit",
                                     "lastProbeTime": t, "lastTransitionTime": t}]
            else:
                while len(active) < parallelism and succeeded + len(active) < completions:
                    active.append(self.create_job_pod(job))
            st.update({"active": len(active), "succeeded": succeeded, "failed": failed})
            for k in ("active", "succeeded", "failed"):
                if not st[k]:
                    del st[k]
            if st != job.get("status", {}):
                try:
                    self.api.merge("/apis/batch/v1/namespaces/%s/jobs/%s/status" % (md["namespace"], md["name"]),
                                   {"status": st})
                except ApiError as e:
                    if e.code != 404:
                        log("job %s/%s status: %s" % (md["namespace"], md["name"], e))

    def create_job_pod(self, job):
        md = job["metadata"]
        tmpl = json.loads(json.dumps(job["spec"]["template"]))
        pmd = tmpl.setdefault("metadata", {})
        labels = pmd.setdefault("labels", {})
        labels.setdefault("controller-uid", md["uid"])
        labels.setdefault("job-name", md["name"])
        pmd["generateName"] = md["name"] + "-"
        pmd["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": md["name"],
                                   "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pmd, "spec": tmpl["spec"]}
        made = self.api.call("POST", "/api/v1/namespaces/%s/pods" % md["namespace"], pod)
        log("job %s/%s: created pod %s" % (md["namespace"], md["name"], made["metadata"]["name"]))
        return made

    # Owners the garbage collector can look up: kind -> collection path format.
    OWNERS = {
        ("batch/v1", "Job"): "/apis/batch/v1/namespaces/%s/jobs/%s",
        ("v1", "Pod"): "/api/v1/namespaces/%s/pods/%s",
        ("v1", "PersistentVolumeClaim"): "/api/v1/namespaces/%s/persistentvolumeclaims/%s",
        ("kubevirt.io/v1", "VirtualMachine"): "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines/%s",
        ("kubevirt.io/v1", "VirtualMachineInstance"):
            "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s",
        ("cdi.kubevirt.io/v1beta1", "DataVolume"): "/apis/cdi.kubevirt.io/v1beta1/namespaces/%s/datavolumes/%s",
    }

    def delete_object(self, path):
        try:
            self.api.call("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions",
                                           "propagationPolicy": "Background"})
            return True
        except ApiError as e:
            if e.code != 404:
                log("delete %s: %s" % (path, e))
            return False

    def collect_garbage(self, pods, claims):
        """Background cascading deletion: an object whose every owner (of a kind above) is
        gone, or has another uid now, is deleted."""
        jobs = self.api.get("/apis/batch/v1/jobs")["items"]
        exists = {}

        def owner_alive(ns, ref):
            key = (ref.get("apiVersion"), ref.get("kind"))
            if key not in self.OWNERS:
                return True          # unknown kinds are never collected
            k = (key, ns, ref["name"])
            if k not in exists:
                try:
                    o = self.api.get(self.OWNERS[key] % (ns, ref["name"]))
                    exists[k] = o["metadata"]["uid"]
                except ApiError as e:
                    if e.code != 404:
                        return True
                    exists[k] = None
            return exists[k] == ref["uid"]

        kinds = [("Pod", pods, "/api/v1/namespaces/%s/pods/%s"),
                 ("PersistentVolumeClaim", claims, "/api/v1/namespaces/%s/persistentvolumeclaims/%s"),
                 ("Job", jobs, "/apis/batch/v1/namespaces/%s/jobs/%s")]
        for kind, coll in (("VirtualMachineInstance", "/apis/kubevirt.io/v1/%svirtualmachineinstances"),
                           ("DataVolume", "/apis/cdi.kubevirt.io/v1beta1/%sdatavolumes")):
            try:
                items = self.api.get(coll % "")["items"]
            except ApiError as e:
                if e.code != 404:       # 404: the CRD is not installed
                    log("gc: list %s: %s" % (kind, e))
                continue
            kinds.append((kind, items, coll % "namespaces/%s/" + "/%s"))
        for kind, items, base in kinds:
            for o in items:
                md = o["metadata"]
                refs = md.get("ownerReferences") or []
                if not refs or md.get("deletionTimestamp"):
                    continue
                if not any(owner_alive(md["namespace"], r) for r in refs):
                    if self.delete_object(base % (md["namespace"], md["name"])):
                        log("gc: %s %s/%s (owner gone)" % (kind, md["namespace"], md["name"]))

    def sync(self):
        if time.monotonic() - self.last_heartbeat > 10:
            self.heartbeat()
        pods = self.api.get("/api/v1/pods")["items"]
        claims = self.api.get("/api/v1/persistentvolumeclaims")["items"]
        node_labels = None
        if self.provision:
            self.provision_claims(claims, pods)
            claims = self.api.get("/api/v1/persistentvolumeclaims")["items"]
        by_key = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in claims}
        if self.controller_manager:
            self.collect_garbage(pods, claims)
            self.sync_jobs(pods)
        seen = set()
        for p in pods:
            md, spec = p["metadata"], p["spec"]
            node = spec.get("nodeName")
            if not node:
                if self.schedule and not md.get("deletionTimestamp") and self.claims_bound(p, by_key):
                    if node_labels is None:
                        node_labels = self.api.get("/api/v1/nodes/" + self.node)["metadata"].get("labels", {})
                    if self.fits(p, node_labels):
                        self.bind(p)
                continue
            if node != self.node:
                continue
            uid = md["uid"]
            seen.add(uid)
            pod = self.pods.get(uid)
            if pod is None:
                if p.get("status", {}).get("phase") in ("Succeeded", "Failed") and not md.get("deletionTimestamp"):
                    continue       # finished before this kubelet started
                pod = self.pods[uid] = Pod(p, self)
            pod.obj = p
            if md.get("deletionTimestamp"):
                grace = md.get("deletionGracePeriodSeconds", 30)
                if self.kill_pod(pod, grace):
                    try:
                        self.api.call("DELETE", "/api/v1/namespaces/%s/pods/%s" % (pod.ns, pod.name),
                                      {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                       "preconditions": {"uid": uid}})
                        log("pod %s/%s deleted" % (pod.ns, pod.name))
                    except ApiError as e:
                        if e.code not in (404, 409):
                            log("delete pod %s/%s: %s" % (pod.ns, pod.name, e))
                continue
            self.step_pod(pod)
        for uid in list(self.pods):
            if uid not in seen:    # gone from the API (deleted with grace 0 by someone)
                pod = self.pods.pop(uid)
                while not self.kill_pod(pod, 0):
                    time.sleep(0.05)
                shutil.rmtree(pod.dir, ignore_errors=True)

    def stop_all(self):
        for pod in self.pods.values():
            for c in pod.inits + pod.containers:
                if c.proc is not None:
                    try:
                        os.killpg(c.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    c.proc.wait()
        for p in reversed(self.created_paths):
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    os.rmdir(p)
                else:
                    os.unlink(p)
            except OSError:
                pass

    def run(self):
        self.register()
        log("node %s registered (state %s)" % (self.node, self.state))
        while not self.stopping:
            try:
                self.sync()
            except (ApiError, OSError) as e:
                log("sync: %s" % e)
            time.sleep(self.poll)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--exec":
        exec_container(sys.argv[2])
        return 127
    ap = argparse.ArgumentParser(prog="kubelet.py", description="the Ferry tests' kubelet")
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--no-schedule", action="store_true")
    ap.add_argument("--no-provision", action="store_true")
    ap.add_argument("--controller-manager", action="store_true")
    ap.add_argument("--bin-dir")
    ap.add_argument("--host-path", action="append", default=[])
    ap.add_argument("--poll", type=float, default=0.2)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("kubelet.py: needs root (mount namespaces)", file=sys.stderr)
        return 77
    k = Kubelet(args)

    def stop(signum, frame):
        k.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        k.run()
    finally:
        k.stop_all()
        try:
            k.heartbeat(False)
        except (ApiError, OSError):
            pass
        k.api.close()
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
