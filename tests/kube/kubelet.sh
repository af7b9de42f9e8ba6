#!/bin/sh
# tests/kube/kubelet.py end to end on a real kube-apiserver + etcd:
# - a PVC (Filesystem) is provisioned and Bound; a pod without a node is bound
#   to the test node; it runs `busybox sh -c` that writes its environment
#   (downward-API fieldRefs) into a file on its PVC and a termination message;
#   the pod ends Succeeded, exit code 0, message and file bytes as written;
# - a Block PVC reaches a pod as a file at its volumeDevices devicePath;
# - a failing pod ends Failed with its exit code and message;
# - hostPath, configMap and secret volumes, a configMapKeyRef;
# - nodeSelector against the Node's current labels;
# - a ServiceAccount's token in the pod authenticates as it (RBAC applies);
# - the Node heartbeat keeps what a handler adds (KVM condition, kvm capacity);
# - deleting a running pod kills its process (by pid) and removes the pod;
# - with --controller-manager, Jobs get pods and end Complete (or Failed after
#   backoffLimit + 1 failed pods), and deleting a Job garbage-collects its pods;
# - stopping the kubelet leaves no process and no mount point behind, and the
#   PVs of deleted claims are reclaimed.
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
command -v busybox >/dev/null 2>&1 || kube_skip "busybox missing"
command -v unshare >/dev/null 2>&1 || kube_skip "unshare missing"
[ "$(id -u)" = 0 ] || kube_skip "needs root (mount namespaces)"
kube_start kubelet
fail() { echo "FAIL: $*" >&2; tail -30 "$WORK/kubelet.log" >&2 || true; exit 1; }
# The mount point the pods use must not exist on the host beforehand (the
# kubelet creates and later removes it).
MNT=/ferry-kubelet-test-$$
[ ! -e $MNT ] || fail "$MNT exists"

kube_kubelet --controller-manager

jp() { kubectl get "$@" 2>/dev/null; }
phase_is() { [ "$(jp pod "$1" -o 'jsonpath={.status.phase}')" = "$2" ]; }

# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "node registered" sh -c '[ "$(kubectl get node node-a -o "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")" = True ]'
echo "ok: node node-a registered, Ready"

kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: blk}
spec:
  accessModes: [ReadWriteOnce]
  volumeMode: Block
  resources: {requests: {storage: 1Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer, labels: {app: writer}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [busybox, sh, -c]
    args:
    - |
      printf '%s %s %s %s %s\n' "\$POD_NAME" "\$POD_NAMESPACE" "\$POD_UID" "\$NODE_NAME" "\$GREETING" > $MNT/out.txt
      printf 'Import Complete: %s' "\$(wc -c < $MNT/out.txt)" > /dev/termination-log
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: GREETING, value: hello-\$(POD_NAME)}
    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    volumeMounts:
    - {name: data, mountPath: $MNT}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
EOF
wait_for "pod writer Succeeded" phase_is writer Succeeded
[ "$(jp pod writer -o 'jsonpath={.spec.nodeName}')" = node-a ] || fail "writer not bound to node-a"
[ "$(jp pvc data -o 'jsonpath={.status.phase}')" = Bound ] || fail "pvc data not Bound"
code=$(jp pod writer -o 'jsonpath={.status.containerStatuses[0].state.terminated.exitCode}')
[ "$code" = 0 ] || fail "writer exit code '$code'"
reason=$(jp pod writer -o 'jsonpath={.status.containerStatuses[0].state.terminated.reason}')
[ "$reason" = Completed ] || fail "writer reason '$reason'"
uid=$(jp pod writer -o 'jsonpath={.metadata.uid}')
expect="writer default $uid node-a hello-writer"
msg=$(jp pod writer -o 'jsonpath={.status.containerStatuses[0].state.terminated.message}')
[ "$msg" = "Import Complete: $(( ${#expect} + 1 ))" ] || fail "termination message '$msg'"
pv=$(jp pvc data -o 'jsonpath={.spec.volumeName}')
path=$(jp pv "$pv" -o 'jsonpath={.spec.hostPath.path}')
[ "$(jp pv "$pv" -o 'jsonpath={.spec.capacity.storage}')" = 10Mi ] || fail "pv capacity"
printf '%s\n' "$expect" >"$WORK/expect"
cmp "$WORK/expect" "$path/out.txt" || fail "file on the PVC: '$(cat "$path/out.txt")', expected '$expect'"
[ ! -e "$MNT/out.txt" ] || fail "the pod's file is visible on the host at $MNT (no mount namespace?)"
echo "ok: pod writer Succeeded on node-a, exit 0, message '$msg', $(wc -c <"$path/out.txt") bytes on PV $pv"

# Block: a file at the devicePath, the bytes land in the PV's file.
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: blockwriter}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [busybox, sh, -c, 'printf FERRYBLK | busybox dd of=/dev/ferry-test-blk-$$ bs=512 seek=1 conv=notrunc 2>/dev/null']
    volumeDevices:
    - {name: blk, devicePath: /dev/ferry-test-blk-$$}
  volumes:
  - name: blk
    persistentVolumeClaim: {claimName: blk}
EOF
wait_for "pod blockwriter Succeeded" phase_is blockwriter Succeeded
bpath=$(jp pv "$(jp pvc blk -o 'jsonpath={.spec.volumeName}')" -o 'jsonpath={.spec.hostPath.path}')
[ "$(stat -c %s "$bpath")" = 1048576 ] || fail "block PV size $(stat -c %s "$bpath")"
[ "$(dd if="$bpath" bs=1 skip=512 count=8 2>/dev/null)" = FERRYBLK ] || fail "block bytes"
echo "ok: block PVC: 8 bytes at offset 512 of the 1 MiB PV file"

# Failure: exit code and message.
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: failer}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [busybox, sh, -c, 'echo "Unable to connect to http data source" > /dev/termination-log; exit 3']
EOF
wait_for "pod failer Failed" phase_is failer Failed
[ "$(jp pod failer -o 'jsonpath={.status.containerStatuses[0].state.terminated.exitCode}')" = 3 ] || fail "failer exit code"
[ "$(jp pod failer -o 'jsonpath={.status.containerStatuses[0].state.terminated.reason}')" = Error ] || fail "failer reason"
[ "$(jp pod failer -o 'jsonpath={.status.containerStatuses[0].state.terminated.message}')" = \
  "Unable to connect to http data source" ] || fail "failer message"
echo "ok: pod failer Failed, exit 3, reason Error, its message"

# hostPath (DirectoryOrCreate), configMap and secret volumes; a configMapKeyRef.
kubectl create configmap cfg --from-literal=greeting=hi-from-cm >/dev/null
kubectl create secret generic sec --from-literal=password=s3cret >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: volumes}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [busybox, sh, -c, 'cat $MNT-cm/greeting $MNT-sec/password > $MNT-hp/out; echo "\$FROM_CM" >> $MNT-hp/out']
    env:
    - {name: FROM_CM, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
    volumeMounts:
    - {name: hp, mountPath: $MNT-hp}
    - {name: cm, mountPath: $MNT-cm, readOnly: true}
    - {name: sec, mountPath: $MNT-sec, readOnly: true}
  volumes:
  - {name: hp, hostPath: {path: $WORK/hostpath, type: DirectoryOrCreate}}
  - {name: cm, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
EOF
wait_for "pod volumes Succeeded" phase_is volumes Succeeded
printf 'hi-from-cms3crethi-from-cm\n' >"$WORK/expect-vol"
cmp "$WORK/expect-vol" "$WORK/hostpath/out" || fail "hostPath file: '$(cat "$WORK/hostpath/out" 2>&1)'"
echo "ok: hostPath, configMap, secret volumes and a configMapKeyRef"

# nodeSelector: a pod asking for a label node-a lacks stays unscheduled (a pod
# created after it is bound and run meanwhile), until the Node gets the label.
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: picky}
spec:
  restartPolicy: Never
  nodeSelector: {kubevirt.io/schedulable: "true"}
  containers:
  - {name: main, image: busybox, command: [busybox, "true"]}
EOF
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: easy}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox, command: [busybox, "true"]}
EOF
wait_for "pod easy Succeeded" phase_is easy Succeeded
[ -z "$(jp pod picky -o 'jsonpath={.spec.nodeName}')" ] || fail "picky bound to a node without its label"
kubectl label node node-a kubevirt.io/schedulable=true >/dev/null
wait_for "pod picky Succeeded" phase_is picky Succeeded
echo "ok: nodeSelector: pod picky waited for the Node's label, then ran on node-a"

# In-cluster credentials: a pod of a ServiceAccount gets its token, ca.crt and
# namespace and KUBERNETES_SERVICE_HOST/PORT; the apiserver authenticates the
# token as that ServiceAccount, so its RBAC applies (pods yes, secrets no).
# automountServiceAccountToken: false gets nothing.
if command -v curl >/dev/null 2>&1; then
kubectl create serviceaccount reader >/dev/null
kubectl create role pod-reader --verb=get,list --resource=pods >/dev/null
kubectl create rolebinding reader --role=pod-reader --serviceaccount=default:reader >/dev/null
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: incluster}
spec:
  restartPolicy: Never
  serviceAccountName: reader
  containers:
  - name: main
    image: curlimages/curl
    command: [sh, -c]
    args:
    - |
      sa=/var/run/secrets/kubernetes.io/serviceaccount
      api=https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/$(cat $sa/namespace)
      get() { curl -s -o /dev/null -w '%{http_code}' --cacert $sa/ca.crt -H "Authorization: Bearer $(cat $sa/token)" "$api/$1"; }
      printf 'pods %s secrets %s' "$(get pods)" "$(get secrets)" > /dev/termination-log
---
apiVersion: v1
kind: Pod
metadata: {name: nocreds}
spec:
  restartPolicy: Never
  serviceAccountName: reader
  automountServiceAccountToken: false
  containers:
  - name: main
    image: busybox
    command: [busybox, sh, -c, 'if [ -e /var/run/secrets/kubernetes.io/serviceaccount/token ]; then echo present; else echo absent; fi > /dev/termination-log']
EOF
wait_for "pod incluster Succeeded" phase_is incluster Succeeded
wait_for "pod nocreds Succeeded" phase_is nocreds Succeeded
m=$(jp pod incluster -o 'jsonpath={.status.containerStatuses[0].state.terminated.message}')
[ "$m" = "pods 200 secrets 403" ] || fail "in-cluster requests as ServiceAccount reader: '$m'"
m2=$(jp pod nocreds -o 'jsonpath={.status.containerStatuses[0].state.terminated.message}')
[ "$m2" = absent ] || fail "automountServiceAccountToken: false: token $m2"
echo "ok: in-cluster token of ServiceAccount reader: $m; with automount off: token $m2"
else
echo "skipped: in-cluster credentials (no curl)"
fi

# Deletion of a running pod: the process dies, the pod goes.
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: busybox
    command: [busybox, sleep, "1000"]
EOF
wait_for "pod sleeper Running" phase_is sleeper Running
[ "$(jp pod sleeper -o 'jsonpath={.status.containerStatuses[0].ready}')" = true ] || fail "sleeper not ready"
spid=$(jp pod sleeper -o 'jsonpath={.status.containerStatuses[0].containerID}' | sed 's,^ferry-test://,,')
kill -0 "$spid" || fail "sleeper pid $spid not running"
kubectl delete pod sleeper --wait=false >/dev/null
wait_for "pod sleeper gone" sh -c '! kubectl get pod sleeper'
! kill -0 "$spid" 2>/dev/null || fail "sleeper pid $spid still running after delete"
echo "ok: deleting pod sleeper killed pid $spid and removed the pod"

# Reclaim: deleting the claim deletes its PV and data.
kubectl delete pod writer >/dev/null
kubectl delete pvc data --wait=false >/dev/null
wait_for "pv $pv reclaimed" sh -c "! kubectl get pv $pv"
[ ! -e "$path" ] || fail "PV data $path left behind"
echo "ok: PVC deleted: PV $pv and its directory reclaimed"

# Jobs (the kubelet plays the Job controller and the garbage collector).
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: good}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: importer, image: ferry-importer, command: [busybox, sh, -c, 'echo "Import Complete" > /dev/termination-log']}
---
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: importer, image: ferry-importer, command: [busybox, sh, -c, 'exit 7']}
EOF
job_cond() { [ "$(jp job "$1" -o "jsonpath={.status.conditions[?(@.type==\"$2\")].status}")" = True ]; }
wait_for "job good Complete" job_cond good Complete
wait_for "job bad Failed" job_cond bad Failed
[ "$(jp job good -o 'jsonpath={.status.succeeded}')" = 1 ] || fail "job good succeeded count"
gpod=$(jp pods -l job-name=good -o 'jsonpath={.items[*].metadata.name}')
[ "$(jp pod "$gpod" -o 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')" = Job/good ] ||
    fail "job pod '$gpod' not owned by Job good"
[ "$(jp pod "$gpod" -o 'jsonpath={.status.containerStatuses[0].state.terminated.message}')" = "Import Complete" ] ||
    fail "job pod message"
[ "$(jp job bad -o 'jsonpath={.status.failed}')" = 2 ] || fail "job bad failed count $(jp job bad -o 'jsonpath={.status.failed}')"
[ "$(jp job bad -o 'jsonpath={.status.conditions[0].reason}')" = BackoffLimitExceeded ] || fail "job bad reason"
[ "$(jp pods -l job-name=bad -o name | wc -l)" = 2 ] || fail "job bad pods"
echo "ok: Job good Complete (pod $gpod, owned by it); Job bad Failed after 2 pods, BackoffLimitExceeded"
kubectl delete job good bad >/dev/null
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "job pods collected" sh -c '[ -z "$(kubectl get pods -l "job-name in (good,bad)" -o name)" ]'
echo "ok: deleting the Jobs garbage-collected their 3 pods"

# What another writer (the handler) adds to the Node survives the heartbeat.
kubectl patch node node-a --subresource=status --type=strategic -p \
    '{"status":{"conditions":[{"type":"KVM","status":"False","reason":"EmulationForced"}],"capacity":{"devices.kubevirt.io/kvm":"0"}}}' >/dev/null
sleep_beats() { # until the heartbeat moved on from $1
    [ "$(kubectl get node node-a -o 'jsonpath={.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')" != "$1" ]
}
hb=$(kubectl get node node-a -o 'jsonpath={.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')
wait_for "a heartbeat" sleep_beats "$hb"
[ "$(kubectl get node node-a -o 'jsonpath={.status.conditions[?(@.type=="KVM")].reason}')" = EmulationForced ] ||
    fail "the heartbeat dropped the Node's KVM condition"
[ "$(kubectl get node node-a -o 'jsonpath={.status.capacity.devices\.kubevirt\.io/kvm}')" = 0 ] ||
    fail "the heartbeat dropped devices.kubevirt.io/kvm"
echo "ok: a heartbeat keeps the Node's KVM condition and devices.kubevirt.io/kvm capacity"

# A long-running pod when the kubelet stops: stopped by pid; mount points gone.
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: lingerer}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [busybox, sleep, "1000"]
    volumeMounts: [{name: scratch, mountPath: $MNT-scratch}]
  volumes: [{name: scratch, emptyDir: {}}]
EOF
wait_for "pod lingerer Running" phase_is lingerer Running
lpid=$(jp pod lingerer -o 'jsonpath={.status.containerStatuses[0].containerID}' | sed 's,^ferry-test://,,')
kill "$KPID"
wait "$KPID" || fail "kubelet exit status $?"
KPID=
! kill -0 "$lpid" 2>/dev/null || fail "lingerer pid $lpid outlived the kubelet"
for p in $MNT $MNT-scratch $MNT-hp $MNT-cm $MNT-sec /dev/ferry-test-blk-$$ /var/run/secrets; do
    [ ! -e "$p" ] || fail "mount point $p left on the host"
done
[ "$(kubectl get node node-a -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = False ] ||
    fail "node-a still Ready after the kubelet stopped"
echo "ok: kubelet stopped: pid $lpid stopped, mount points removed, node-a NotReady"
