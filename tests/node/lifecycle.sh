#!/bin/sh
# A VMI's life on a real libvirtd: Scheduled -> Running within a bound, the
# marker and the cloud-init user-data seen through `ferry console` (pipe
# mode), pause/unpause (Paused condition), the VNC socket, graceful deletion
# (ACPI power button; directory, domain and finalizer gone), a guest that
# powers itself off (Succeeded), and refusals that fail the VMI clearly.
. "$FERRY_SRC/tests/node/lib.sh"
TESTPREFIX=lc
node_setup
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && dump_logs; node_cleanup; exit $rc' EXIT
export FERRY_STATE_DIR=$STATE
FERRY=$FERRY_BIN/ferry
node_start_handler

# ci_vmi NAME USERDATA: node_vmi_yaml with a cloud-init NoCloud CD-ROM whose
# user data is USERDATA (its lines indented under userData).
ci_vmi() {
    EXTRA_DISKS='      - name: ci
        cdrom:
          bus: sata' \
    EXTRA_VOLUMES="  - name: ci
    cloudInitNoCloud:
      userData: |
        $(printf '%s' "$2" | sed '2,$s/^/        /')" \
    node_vmi_yaml "$1"
}

# 1. boot with cloud-init
node_volume lc-a
ci_vmi lc-a '#cloud-config
ferry-test: hello-from-cloud-init' > "$WORK/lc-a.yaml"
tool create "$WORK/lc-a.yaml" "$NODE"
tool wait-phase "$NS" lc-a Running 60
node_log "lc-a Running"
tool get "$NS" lc-a > "$WORK/lc-a.json"
jq -e '.status.nodeName == "testnode" and (.status.interfaces[0].mac | test("^[0-9a-f:]{17}$"))
       and ([.status.conditions[] | select(.type == "Ready" and .status == "True")] | length == 1)' \
    "$WORK/lc-a.json" >/dev/null || { cat "$WORK/lc-a.json"; exit 1; }
virsh -q -c qemu:///system domstate "${NS}_lc-a" | grep -q running

wait_console_log "$NS" lc-a "FERRY-GUEST-MARKER ready" 180
grep -q "hello-from-cloud-init" "$STATE/vmis/$NS/lc-a/console.log"
printf 'marker\n' | "$FERRY" console lc-a --linger 3 > "$WORK/console.out"
grep -q "FERRY-GUEST-MARKER booted" "$WORK/console.out" || { cat "$WORK/console.out"; exit 1; }
printf 'userdata\n' | "$FERRY" console lc-a --linger 3 > "$WORK/console2.out"
grep -q "ferry-test: hello-from-cloud-init" "$WORK/console2.out" || { cat "$WORK/console2.out"; exit 1; }
node_log "marker and user-data seen through ferry console"

# 2. pause / unpause
"$FERRY" pause vmi lc-a >/dev/null
tool wait-cond "$NS" lc-a Paused True 20
virsh -q -c qemu:///system domstate "${NS}_lc-a" | grep -q paused
"$FERRY" unpause vmi lc-a >/dev/null
tool wait-cond "$NS" lc-a Paused absent 20
tool wait-cond "$NS" lc-a Ready True 20
node_log "pause/unpause"

# 3. vnc: the socket, and served on 127.0.0.1 (the RFB banner comes through)
sock=$("$FERRY" vnc lc-a)
[ -S "$sock" ]
if command -v curl >/dev/null; then
    port=$((20000 + $$ % 30000))
    "$FERRY" vnc lc-a --port "$port" 2>/dev/null &
    VNC_PID=$!
    PIDS="$PIDS $VNC_PID"
    i=0
    until curl -s --max-time 2 "telnet://127.0.0.1:$port" </dev/null 2>/dev/null | grep -q "^RFB 003"; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "no RFB banner on 127.0.0.1:$port"; exit 1; }; sleep 0.2
    done
    kill "$VNC_PID"
    node_log "vnc served on 127.0.0.1:$port"
fi

# 4. graceful deletion: ACPI power button, then cleanup and finalizer removal
tool delete "$NS" lc-a
tool wait-gone "$NS" lc-a 90
grep -q 'lc-a: Succeeded: the guest shut down' "$WORK/handler.log" ||
    { echo "lc-a was not shut down gracefully"; exit 1; }
[ ! -d "$STATE/vmis/$NS/lc-a" ] || { echo "VMI directory left behind"; exit 1; }
! virsh -q -c qemu:///system dominfo "${NS}_lc-a" >/dev/null 2>&1 || { echo "domain left behind"; exit 1; }
node_log "graceful deletion cleaned up"

# 5. a guest that powers itself off: Succeeded
node_volume lc-b
ci_vmi lc-b 'ferry-guest: poweroff' > "$WORK/lc-b.yaml"
tool create "$WORK/lc-b.yaml" "$NODE"
tool wait-phase "$NS" lc-b Succeeded 180
tool wait-cond "$NS" lc-b Ready False 10
node_log "self powered-off guest Succeeded"
tool delete "$NS" lc-b
tool wait-gone "$NS" lc-b 60

# 6. refusals: Failed with Synchronized=False carrying the reason
cat > "$WORK/lc-c.yaml" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: lc-c
spec:
  domain:
    devices:
      disks:
      - name: root
        disk: {}
    resources:
      requests:
        memory: 64Mi
  volumes:
  - name: root
    containerDisk:
      image: quay.io/containerdisks/fedora:latest
      path: /custom/disk.img
YAML
tool create "$WORK/lc-c.yaml" "$NODE"
tool wait-phase "$NS" lc-c Failed 30
tool get "$NS" lc-c | jq -e '.status.conditions[] | select(.type == "Synchronized" and .status == "False")
                             | .message | test("containerDisk")' >/dev/null
# a missing volume file
node_vmi_yaml lc-d no-such-volume > "$WORK/lc-d.yaml"
tool create "$WORK/lc-d.yaml" "$NODE"
tool wait-phase "$NS" lc-d Failed 30
tool get "$NS" lc-d | jq -e '.status.conditions[] | select(.type == "Synchronized") | .message
                             | test("no-such-volume")' >/dev/null
tool delete "$NS" lc-c; tool delete "$NS" lc-d
tool wait-gone "$NS" lc-c 30; tool wait-gone "$NS" lc-d 30
node_log "refusals reported"
# 7. the devices that only show at run time: EFI with secure boot (SMM, per-VM
#    NVRAM from the OVMF template), an emptyDisk on SCSI, a ConfigDrive, and a
#    masquerade port forwarded on 127.0.0.1
node_volume lc-e
port=$((20000 + ($$ + 7) % 30000))
cat > "$WORK/lc-e.yaml" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: lc-e
spec:
  terminationGracePeriodSeconds: 0
  domain:
    features:
      smm: {}
    firmware:
      bootloader:
        efi: {}
    devices:
      disks:
      - name: root
        disk: {}
      - name: scratch
        disk:
          bus: scsi
      - name: cd
        cdrom:
          bus: sata
      interfaces:
      - name: default
        masquerade: {}
        ports:
        - port: $port
    resources:
      requests:
        memory: 256Mi
  networks:
  - name: default
    pod: {}
  volumes:
  - name: root
    dataVolume:
      name: lc-e
  - name: scratch
    emptyDisk:
      capacity: 1Gi
  - name: cd
    cloudInitConfigDrive:
      userData: "#cloud-config"
YAML
tool create "$WORK/lc-e.yaml" "$NODE"
tool wait-phase "$NS" lc-e Running 60
D=$STATE/vmis/$NS/lc-e
[ -s "$D/nvram_VARS.fd" ] && [ -f "$D/emptydisk-scratch.img" ] && [ -s "$D/cloudinit-cd.iso" ] ||
    { ls -la "$D"; exit 1; }
[ "$(du -k "$D/emptydisk-scratch.img" | cut -f1)" -lt 1024 ]       # sparse
if command -v ss >/dev/null; then
    ss -ltn | grep -q "127.0.0.1:$port " || { echo "port $port not forwarded"; exit 1; }
fi
tool delete "$NS" lc-e
tool wait-gone "$NS" lc-e 60
[ ! -d "$D" ]
node_log "EFI secure boot, emptyDisk, ConfigDrive, port forward"
echo "PASS lifecycle"
