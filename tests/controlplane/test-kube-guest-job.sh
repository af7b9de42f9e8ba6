#!/bin/sh
# Kubernetes mode's guest conversion on the SQLite store (FERRY_KUBE_OBJECTS=1):
# a VM annotated ferry.io/guest-conversion: pending on a blank DataVolume.
# The test plays the Job controller and the kubelet with kube-play: the
# importer Job fills the volume, then the controller makes the Job
# guestconv-<vm> (one, owned by the VM) and no VMI; its pod's command (the
# real ferry-converter, libguestfs under TCG, about 2.5 minutes) runs with
# /disks/0 and /dev/termination-log mapped into the test's folder and ends
# not converted; from the termination message the VM gets the annotation
# "failed: ... no operating system found", the Warning event and the
# GuestConversion and Failure conditions, and still no VMI.
# Exits 77 without ferry-importer, kube-play or a ferry-converter with libguestfs.
. "$(dirname "$0")/lib.sh"

need_importer
KP="$FERRY_BUILD/tests/kube-play"
[ -x "$KP" ] || skip "kube-play is not built"
[ -x "$FERRY_BIN/ferry-converter" ] || skip "ferry-converter is not built"
ldd "$FERRY_BIN/ferry-converter" 2>/dev/null | grep -q libguestfs ||
    skip "ferry-converter is built without libguestfs"
export FERRY_KUBE_OBJECTS=1
start_controller

job_exists() { "$FERRY" get job "$1" >/dev/null 2>&1; }

dv_yaml blankvm-root 64Mi "    blank: {}" | "$FERRY" apply -f - >/dev/null || fail "apply the DV"
{
    vm_yaml blankvm "runStrategy: Always" "  annotations:
    ferry.io/guest-conversion: pending"
    printf '%s\n' "      volumes:" "      - name: root" "        dataVolume:" "          name: blankvm-root"
} | sed 's/^        devices: {}$/        devices:\n          disks:\n          - name: root\n            disk:\n              bus: virtio/' |
    "$FERRY" apply -f - >/dev/null || fail "apply the VM"

wait_for 30 job_exists importer-blankvm-root || fail "no importer Job"
code=$(kube_run_importer blankvm-root importer-blankvm-root-a1b2c)
[ "$code" = 0 ] || fail "the blank import exited $code"
"$KP" job-status default importer-blankvm-root 1 0 Complete || fail "job-status importer"
wait_for 30 field_is dv blankvm-root status.phase Succeeded || fail "the DV did not succeed"

wait_for 30 job_exists guestconv-blankvm || fail "no guest conversion Job"
wait_for 30 vm_cond_reason_is blankvm GuestConversion Converting ||
    fail "not Converting: $(vm_cond blankvm GuestConversion)"
no_vmi blankvm || fail "a VMI before the conversion"
"$FERRY" get job guestconv-blankvm -o json >"$T/job.json" || fail "get the Job"
# owned by the VM, as its controller
python3 - "$T/job.json" "$("$FERRY" get vm blankvm -o json)" <<'PY' || fail "the Job's owner"
import json, sys
job = json.load(open(sys.argv[1])); vm = json.loads(sys.argv[2])
refs = [r for r in job["metadata"].get("ownerReferences", []) if r.get("controller")]
assert len(refs) == 1 and refs[0]["kind"] == "VirtualMachine" and refs[0]["uid"] == vm["metadata"]["uid"], refs
PY

# the pod: its command with /disks/N and the termination log mapped here
"$KP" job-pod default guestconv-blankvm guestconv-blankvm-x1y2z || fail "job-pod"
"$KP" bind default guestconv-blankvm-x1y2z node1 || fail "bind"
python3 - "$T/job.json" "$T" >"$T/cmd" <<'PY' || fail "the Job's command"
import json, sys
job = json.load(open(sys.argv[1])); t = sys.argv[2]
pod = job["spec"]["template"]["spec"]; c = pod["containers"][0]
claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
paths = {m["mountPath"]: "%s/pvc-%s" % (t, claims[m["name"]]) for m in c.get("volumeMounts", [])}
paths["/dev/termination-log"] = t + "/term-conv"
for a in c["command"]:
    for k, v in paths.items():
        if a == k or a.startswith(k + "/"):
            a = v + a[len(k):]
    print(a)
PY
grep -qx -- "--termination-log" "$T/cmd" || fail "no --termination-log: $(cat "$T/cmd")"
grep -qx "$T/pvc-blankvm-root/disk.img" "$T/cmd" || fail "the disk is not /disks/0/disk.img: $(cat "$T/cmd")"
set --
while IFS= read -r a; do set -- "$@" "$a"; done <"$T/cmd"
shift   # ferry-converter: this build's
env -i PATH="$PATH" FERRY_LOG_FORMAT=text "$FERRY_BIN/ferry-converter" "$@" >"$T/conv.log" 2>&1
code=$?
[ "$code" = 1 ] || { cat "$T/conv.log" >&2; fail "ferry-converter exited $code on a blank disk"; }
"$KP" terminate default guestconv-blankvm-x1y2z "$code" "$T/term-conv" || fail "terminate"
"$KP" job-status default guestconv-blankvm 0 1 Failed || fail "job-status"

wait_for 60 vm_cond_reason_is blankvm GuestConversion GuestConversionFailed ||
    fail "no GuestConversionFailed: $(vm_cond blankvm GuestConversion)"
vm_cond_reason_is blankvm Failure GuestConversionFailed || fail "no Failure condition"
"$FERRY" get vm blankvm -o json | grep -q '"ferry.io/guest-conversion": *"failed: .*no operating system found' ||
    fail "annotation: $("$FERRY" get vm blankvm -o json | grep guest-conversion)"
"$FERRY" describe vm blankvm >"$T/describe" 2>&1
grep -q "Warning.*GuestConversionFailed.*no operating system found" "$T/describe" ||
    { cat "$T/describe"; fail "no Warning event GuestConversionFailed"; }
sleep 5   # resyncs: no second Job, no VMI
n=$("$FERRY" get job -o json | python3 -c 'import json,sys
print(sum(1 for j in json.load(sys.stdin)["items"] if j["metadata"]["name"].startswith("guestconv")))')
[ "$n" = 1 ] || fail "$n guest conversion Jobs, not one"
no_vmi blankvm || fail "a VMI for a guest that was not converted"
echo PASS
