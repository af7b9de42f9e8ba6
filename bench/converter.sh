#!/bin/sh
# ferry-converter against virt-v2v -o kubevirt, on the same inputs, in one run.
#
# Builds (once, cached in $FERRY_BENCH_CACHE) a real Debian 12 guest disk:
# debootstrap --variant=minbase with a kernel, initramfs-tools and GRUB, made
# into a partitioned disk by virt-make-fs, as a VMware VMDK.  Then a VMware
# .vmx (SCSI disk, two NICs with MACs, an ISO on the IDE CD-ROM, BIOS) and an
# OVA of the same VM, and for each:
#   virt-v2v -i vmx|ova ... -o kubevirt -os OUT      (metadata + in-guest conversion)
#   ferry-converter ...                              (metadata only; median of 5)
# and a table of what each output keeps: disks, NICs, MACs, firmware, boot
# order, whether it passes the KubeVirt/CDI schemas, and the wall time.
#
# And the guest conversion side by side ("guest" in FERRY_BENCH_INPUTS): the
# VMware-looking Debian guest of tests/converter/vmware-guest.sh (initramfs
# without virtio, fstab on /dev/sda1, open-vm-tools) converted by
#   ferry-converter guest.vmx --guest-disk COPY.raw   (in place)
#   virt-v2v -i disk COPY.raw -o kubevirt -os OUT     (a converted copy)
# each timed with its peak RSS (the appliance's qemu included), the ratio of
# the times, and each result booted under TCG on virtio-blk: it boots when
# the guest's marker line comes on the serial console.
#
# usage: bench/converter.sh [BINDIR]          (root; BINDIR default build/bin)
#   FERRY_BENCH_INPUTS="vmx ova"   which inputs, of vmx ova guest (virt-v2v takes ~25 min each under TCG
#                                  here, most of it rebuilding the guest's initramfs)
#   FERRY_BENCH_V2V_TIMEOUT=3000   seconds before a virt-v2v run counts as failed
#   FERRY_BENCH_KEEP=DIR           keep the guest run's logs, YAML and virt-v2v's disk there
# A run that cannot measure (a missing tool, the guest that cannot be built,
# ferry-converter or virt-v2v failing) says why and exits 1, after the table.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
. "$SRC/tests/lib/vmx.sh"
BIN=$(bench_bindir "${1:-$SRC/build/bin}")
VALIDATE="$SRC/scripts/validate-manifests"
CACHE="${FERRY_BENCH_CACHE:-/var/tmp/ferry-bench-converter}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
# KVM under nested virtualization aborts qemu on this kind of machine: TCG.
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"
export FERRY_LOG_FORMAT=text
mkdir -p "$CACHE"

# --- the guest disk ---------------------------------------------------------
if [ ! -f "$CACHE/guest.vmdk" ]; then
    bench_need debootstrap virt-make-fs qemu-img
    echo "building a Debian 12 guest (debootstrap minbase + kernel + grub) ..."
    t0=$(now)
    rm -rf "$CACHE/root"
    DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase \
        --include=linux-image-amd64,initramfs-tools,grub-pc,systemd-sysv,ifupdown \
        bookworm "$CACHE/root" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -5 "$CACHE/debootstrap.log" >&2; bench_fail "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    kver=$(ls "$CACHE/root/lib/modules" | head -1)
    cat > "$CACHE/root/etc/fstab" <<EOF
/dev/sda1 / ext4 defaults 0 1
EOF
    mkdir -p "$CACHE/root/boot/grub"
    cat > "$CACHE/root/boot/grub/grub.cfg" <<EOF
set default=0
set timeout=1
menuentry 'Debian GNU/Linux' {
    insmod ext2
    set root='hd0,msdos1'
    linux /boot/vmlinuz-$kver root=/dev/sda1 ro console=ttyS0
    initrd /boot/initrd.img-$kver
}
EOF
    echo "bench-guest" > "$CACHE/root/etc/hostname"
    echo "debootstrap: $(since "$t0") s"
    t0=$(now)
    # virt-v2v rebuilds the initramfs inside the guest: leave it room.
    virt-make-fs --partition=mbr --type=ext4 --format=raw --size=+1G \
        "$CACHE/root" "$CACHE/guest.raw" || bench_fail "virt-make-fs failed"
    qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$CACHE/guest.raw" \
        "$CACHE/guest.vmdk.tmp" && mv "$CACHE/guest.vmdk.tmp" "$CACHE/guest.vmdk"
    rm -f "$CACHE/guest.raw"
    echo "virt-make-fs + vmdk: $(since "$t0") s"
fi

# --- the VMware definitions -------------------------------------------------
cp "$CACHE/guest.vmdk" "$WORK/bench-guest.vmdk"
head -c 4194304 /dev/zero > "$WORK/tools.iso"
{
    vmx_head bench-guest debian12-64 2048 2
    echo 'cpuid.coresPerSocket = "2"'
    vmx_pvscsi
    vmx_disk scsi0:0 bench-guest.vmdk scsi-hardDisk
    vmx_disk ide1:0 tools.iso cdrom-image
    vmx_nic 0 vmxnet3 "VM Network" 00:0c:29:be:c0:01
    vmx_nic 1 e1000 Backup 00:50:56:00:be:02 static
} > "$WORK/bench-guest.vmx"
cap=$(qemu-img info --output=json "$WORK/bench-guest.vmdk" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
cat > "$WORK/bench-guest.ovf" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References><File ovf:href="bench-guest.vmdk" ovf:id="file1"/></References>
  <DiskSection><Info>disks</Info>
    <Disk ovf:capacity="$cap" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection><Info>nets</Info><Network ovf:name="VM Network"/><Network ovf:name="Backup"/></NetworkSection>
  <VirtualSystem ovf:id="bench-guest">
    <Info>A virtual machine</Info>
    <Name>bench-guest</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="debian12_64Guest"><Info>os</Info></OperatingSystemSection>
    <VirtualHardwareSection><Info>hw</Info>
      <System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID><vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType></System>
      <Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:ElementName>2 CPU</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity><vmw:CoresPerSocket ovf:required="false">2</vmw:CoresPerSocket></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>2048MB</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:ElementName>SCSI0</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>Hard disk 1</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Address>00:0c:29:be:c0:01</rasd:Address><rasd:Connection>VM Network</rasd:Connection><rasd:ElementName>nic0</rasd:ElementName><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      <Item><rasd:Address>00:50:56:00:be:02</rasd:Address><rasd:Connection>Backup</rasd:Connection><rasd:ElementName>nic1</rasd:ElementName><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
EOF
(cd "$WORK" && tar --format=ustar -cf bench-guest.ova bench-guest.ovf bench-guest.vmdk)

# --- what an output keeps ---------------------------------------------------
# disks, NICs, MACs, firmware, bootOrder entries, schema check
summarize() {
    python3 - "$1" "$VALIDATE" <<'PY'
import json, subprocess, sys, yaml
path, validate = sys.argv[1], sys.argv[2]
text = open(path).read()
docs = [d for d in yaml.safe_load_all(text) if d]
vm = next((d for d in docs if d.get("kind") in ("VirtualMachine", "VirtualMachineInstance")), {})
spec = vm.get("spec", {})
if vm.get("kind") == "VirtualMachine":
    spec = spec.get("template", {}).get("spec", {})
dom = spec.get("domain", {})
dev = dom.get("devices", {})
disks = dev.get("disks", [])
nics = dev.get("interfaces", [])
macs = sum(1 for n in nics if n.get("macAddress"))
fw = dom.get("firmware", {}).get("bootloader", {})
fw = "efi" if "efi" in fw else "bios" if "bios" in fw else "-"
boot = sum(1 for d in disks + nics if "bootOrder" in d)
cd = sum(1 for d in disks if "cdrom" in d)
models = ",".join(sorted(set(n.get("model", "?") for n in nics))) or "-"
vols = ",".join(sorted(set(k for v in spec.get("volumes", []) for k in v if k != "name"))) or "-"
r = subprocess.run(["python3", validate, path], capture_output=True, text=True)
ok = "yes" if r.returncode == 0 else "no (%d problems)" % r.stdout.count("\n")
print(f"{vm.get('kind','?')}|{len(disks)} ({cd} cdrom)|{len(nics)} [{models}]|{macs}|{fw}|{boot}|{vols}|{ok}")
PY
}

row() { # name file seconds
    s=$(summarize "$2")
    echo "| $1 | $(echo "$s" | sed 's/|/ | /g') | $3 |"
}

median5() { # command... ; prints median seconds
    for i in 1 2 3 4 5; do
        t0=$(now); "$@" >/dev/null 2>&1; since "$t0"; echo
    done | median
}

echo
echo "source VM: 1 SCSI disk ($cap bytes, Debian 12), 1 IDE CD-ROM ISO, 2 NICs (vmxnet3 generated MAC, e1000 static MAC), BIOS"
echo
echo "| tool / input | kind | disks | NICs [models] | MACs | firmware | bootOrder | volumes | validates | time (s) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
failed=
for in in ${FERRY_BENCH_INPUTS:-vmx ova}; do
    [ "$in" != guest ] || continue
    f="$WORK/bench-guest.$in"
    if ! "$BIN/ferry-converter" "$f" --network-map Backup=multus:default/backup >"$WORK/ferry-$in.yaml" 2>"$WORK/ferry-$in.err"; then
        echo "| ferry-converter -i $in | FAILED: $(tail -1 "$WORK/ferry-$in.err" | cut -c1-150) |||||||||"
        failed="$failed ferry-converter-$in"
        continue
    fi
    t=$(median5 "$BIN/ferry-converter" "$f" --network-map Backup=multus:default/backup)
    row "ferry-converter -i $in" "$WORK/ferry-$in.yaml" "$t (median of 5)"
    if command -v virt-v2v >/dev/null; then
        mkdir -p "$WORK/v2v-$in"
        t0=$(now)
        if timeout "${FERRY_BENCH_V2V_TIMEOUT:-3000}" virt-v2v -i "$in" "$f" -o kubevirt -os "$WORK/v2v-$in" -on bench-guest \
                >"$WORK/v2v-$in.log" 2>&1 && ls "$WORK"/v2v-$in/*.yaml >/dev/null 2>&1; then
            t=$(since "$t0")
            row "virt-v2v -i $in -o kubevirt" "$(ls "$WORK"/v2v-$in/*.yaml | head -1)" "$t"
        else
            t=$(since "$t0")
            echo "| virt-v2v -i $in -o kubevirt | FAILED after $t s: $(grep -m1 -i 'error' "$WORK/v2v-$in.log" | cut -c1-100) |||||||||"
            failed="$failed virt-v2v-$in"
        fi
    else
        echo "| virt-v2v -i $in | FAILED: not installed (scripts/install-deps.sh) |||||||||"
        failed="$failed virt-v2v-$in"
    fi
done
# --- the guest conversion beside virt-v2v's ---------------------------------
# boot DISK LOG: the guest's marker line under TCG on virtio-blk, else
# "no marker" and the console's last line.
boot() {
    fmt=$(qemu-img info --output=json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])')
    timeout 600 qemu-system-x86_64 -accel tcg -m 512 -display none -no-reboot -monitor none \
        -net none -serial "file:$2" -drive "file=$1,format=$fmt,if=virtio,snapshot=on" \
        >/dev/null 2>&1 || true
    m=$(grep -a -m1 FERRY-GUEST-BOOTED "$2" | tr -d '\r')
    [ -n "$m" ] && echo "$m" ||
        echo "no marker ($fmt): $(grep -a -E 'ALERT|Gave up|panic|error' "$2" | tail -1 | tr -d '\r' | cut -c1-80)"
}
# timed OUT CMD...: CMD's exit status; OUT holds "seconds peak-RSS-KB"
timed() {
    out=$1
    shift
    /usr/bin/time -o "$out" -f "%e %M" "$@"
}
case " ${FERRY_BENCH_INPUTS:-vmx ova} " in *" guest "*)
    echo
    if ! "$SRC/tests/converter/vmware-guest.sh" "$CACHE"; then
        echo "bench: the VMware-looking guest could not be built" >&2
        failed="$failed guest"
    else
        g=$CACHE/vmware-guest.raw
        echo "guest conversion: $(du -k "$g" | cut -f1) KiB used of $(($(stat -c %s "$g") >> 20)) MiB; " \
             "before conversion, on virtio-blk: $(boot "$g" "$WORK/before.log")"
        echo
        echo "| tool | time (s) | peak RSS (MB) | exit | boots on virtio-blk |"
        echo "|---|---|---|---|---|"
        cp --sparse=always "$g" "$WORK/ferry-guest.raw"
        sed 's/bench-guest.vmdk/ferry-guest.raw/' "$WORK/bench-guest.vmx" >"$WORK/ferry-guest.vmx"
        timed "$WORK/ferry.time" "$BIN/ferry-converter" "$WORK/ferry-guest.vmx" \
            --guest-disk "$WORK/ferry-guest.raw" --network-map Backup=multus:default/backup \
            >"$WORK/ferry-guest.yaml" 2>"$WORK/ferry-guest.err" &&
            frc=0 || frc=$?
        read -r ft fm <<EOF
$(tail -1 "$WORK/ferry.time")
EOF
        echo "| ferry-converter --guest-disk | $ft | $((fm / 1024)) | $frc | $(boot "$WORK/ferry-guest.raw" "$WORK/ferry-boot.log") |"
        cp --sparse=always "$g" "$WORK/v2v-guest.raw"
        mkdir -p "$WORK/v2v-guest"
        timed "$WORK/v2v.time" timeout "${FERRY_BENCH_V2V_TIMEOUT:-3000}" virt-v2v -i disk \
            "$WORK/v2v-guest.raw" -o kubevirt -os "$WORK/v2v-guest" -on v2v-guest \
            >"$WORK/v2v-guest.log" 2>&1 && vrc=0 || vrc=$?
        read -r vt vm <<EOF
$(tail -1 "$WORK/v2v.time")
EOF
        vdisk=$(ls "$WORK"/v2v-guest/v2v-guest-sd* 2>/dev/null | head -1)
        echo "| virt-v2v -i disk -o kubevirt | $vt | $((vm / 1024)) | $vrc | $([ -n "$vdisk" ] && boot "$vdisk" "$WORK/v2v-boot.log" || echo "no disk written") |"
        echo
        echo "ratio ferry/virt-v2v (time): $(echo "$ft $vt" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }')"
        echo
        echo "ferry-converter's report (annotations):"
        grep -E 'guest-conversion|compat|bus:|model:' "$WORK/ferry-guest.yaml" | sed 's/^/    /'
        [ "$frc" -eq 0 ] || { failed="$failed ferry-guest"; tail -3 "$WORK/ferry-guest.err"; }
        [ "$vrc" -eq 0 ] || { failed="$failed virt-v2v-guest"; grep -m3 -i error "$WORK/v2v-guest.log"; }
        # what each tool left in the guest, for the boot column
        if [ -n "${FERRY_BENCH_KEEP:-}" ]; then
            mkdir -p "$FERRY_BENCH_KEEP"
            cp "$WORK"/*.log "$WORK/ferry-guest.yaml" "$WORK"/v2v-guest/*.yaml "$FERRY_BENCH_KEEP/" 2>/dev/null
            [ -z "$vdisk" ] || cp --sparse=always "$vdisk" "$FERRY_BENCH_KEEP/"
        fi
    fi
    ;;
esac

for in in ${FERRY_BENCH_INPUTS:-vmx ova}; do
    [ -s "$WORK/ferry-$in.yaml" ] || continue
    echo
    echo "ferry-converter output ($in):"
    echo '```yaml'
    cat "$WORK/ferry-$in.yaml"
    echo '```'
    if ls "$WORK"/v2v-$in/*.yaml >/dev/null 2>&1; then
        echo "virt-v2v output ($in):"
        echo '```yaml'
        cat "$WORK"/v2v-$in/*.yaml
        echo '```'
        python3 "$VALIDATE" "$WORK"/v2v-$in/*.yaml || true
    fi
    break
done
if [ -n "$failed" ]; then
    echo "bench/converter.sh: could not measure:$failed" >&2
    exit 1
fi
