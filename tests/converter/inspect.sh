#!/bin/sh
# ferry-converter --inspect on a real (tiny) Linux guest disk built here:
# a directory tree with /etc/os-release and an empty /var/lib/dpkg/status,
# made into a qcow2 filesystem image by virt-make-fs, referenced from a libvirt
# domain XML that does not say what the OS is.  Inspection must find Debian 12
# and the converter must pick the debian preference from it.  Then the same
# disk as a streamOptimized VMDK inside an OVA, inspected in place (nbdkit's
# tar filter).  Then inspections stopped at their deadline.  After every run
# nothing may be left: no files in TMPDIR (the converter's run directory with
# libguestfs's temporary directory and nbdkit's sockets), nothing in /tmp --
# as root, where libguestfs always puts its socket directory, each run gets a
# private empty /tmp (unshare -m) that is listed afterwards -- and no qemu or
# nbdkit of this test.  The libguestfs appliance takes 12-25 s per launch
# (three launches here): labelled slow.
# Exits 77 when libguestfs cannot run on this machine.
set -u
: "${FERRY_BIN:?}"
export FERRY_LOG_FORMAT=text
command -v virt-make-fs >/dev/null 2>&1 || { echo "SKIP: virt-make-fs not installed"; exit 77; }
# Not under /tmp: the runs below may get a private /tmp of their own.
TMP=$(mktemp -d /var/tmp/ferry-inspect-test.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
# KVM under nested virtualization can abort qemu (MSR 0x10a): TCG is slower but sure.
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"
mkdir -p "$TMP/run"

# A private /tmp hides whatever lives under /tmp: not when the build, the
# sources or $TMP are there.  Then the libguestfs* entries of the real /tmp
# are compared before and after each run instead (nothing else here uses
# libguestfs while this test runs).
under_tmp() { case "$1" in /tmp/*) true ;; *) false ;; esac; }
private_tmp=0
if [ "$(id -u)" -eq 0 ] && ! under_tmp "$TMP" && ! under_tmp "$(cd "$FERRY_BIN" && pwd -P)" &&
   ! under_tmp "$(cd "$(dirname "$0")" && pwd -P)" &&
   unshare -m sh -c 'mount -t tmpfs -o size=1m ferry-test /tmp' 2>/dev/null; then
    private_tmp=1
else
    echo "note: no private /tmp (not root, no unshare -m, or the build is under /tmp):" \
         "new libguestfs* entries in /tmp are checked"
fi

# conv OUT ERR ARGS...: ferry-converter ARGS with TMPDIR=$TMP/run (as root in a
# private /tmp whose leftovers go to $TMP/tmp-left); its exit status.
conv() {
    out=$1 err=$2
    shift 2
    if [ $private_tmp -eq 1 ]; then
        LEFT="$TMP/tmp-left" TMPDIR="$TMP/run" unshare -m sh -c '
            mount -t tmpfs -o size=64m ferry-test /tmp || exit 125
            "$@"; rc=$?
            ls -A /tmp >"$LEFT"
            exit $rc' sh "$FERRY_BIN/ferry-converter" "$@" >"$out" 2>"$err"
    else
        ls -d /tmp/libguestfs* 2>/dev/null | sort >"$TMP/tmp-before"
        TMPDIR="$TMP/run" "$FERRY_BIN/ferry-converter" "$@" >"$out" 2>"$err"
        rc=$?
        ls -d /tmp/libguestfs* 2>/dev/null | sort | comm -13 "$TMP/tmp-before" - >"$TMP/tmp-left"
        return $rc
    fi
}

# check_clean WHAT: nothing of the last run is left, files or processes.
check_clean() {
    [ -z "$(ls -A "$TMP/run")" ] || { echo "FAIL: $1: left in TMPDIR:"; ls -laR "$TMP/run"; fail=1; }
    if [ -s "$TMP/tmp-left" ]; then
        echo "FAIL: $1: left in /tmp:"; cat "$TMP/tmp-left"; fail=1
    fi
    rm -f "$TMP/tmp-left"
    # qemu's command line names its overlay in TMPDIR, nbdkit's the OVA
    if pgrep -f -- "$TMP" >/dev/null; then
        echo "FAIL: $1: still running:"; pgrep -af -- "$TMP"; fail=1
    fi
}

root="$TMP/root"
mkdir -p "$root/etc" "$root/var/lib/dpkg" "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" \
         "$root/boot" "$root/root" "$root/tmp"
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
cat > "$root/etc/os-release" <<'OS'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
OS
echo "12.5" > "$root/etc/debian_version"
echo "tiny" > "$root/etc/hostname"
printf '/dev/sda1 / ext4 defaults 0 1\n' > "$root/etc/fstab"
: > "$root/var/lib/dpkg/status"

start=$(date +%s)
if ! virt-make-fs --format=qcow2 --type=ext4 --size=+16M "$root" "$TMP/tiny.qcow2" \
        >"$TMP/mkfs.log" 2>&1; then
    echo "SKIP: libguestfs cannot build a disk here:"; tail -5 "$TMP/mkfs.log"
    exit 77
fi
echo "virt-make-fs: $(( $(date +%s) - start )) s"

cat > "$TMP/tiny.xml" <<XML
<domain type="kvm">
  <name>tiny-debian</name>
  <memory unit="MiB">2048</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64" machine="q35">hvm</type></os>
  <devices>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2"/>
      <source file="tiny.qcow2"/>
      <target dev="vda" bus="virtio"/>
    </disk>
  </devices>
</domain>
XML

start=$(date +%s)
conv "$TMP/out.yaml" "$TMP/err" "$TMP/tiny.xml" --inspect
rc=$?
echo "ferry-converter --inspect: $(( $(date +%s) - start )) s, exit $rc"
cat "$TMP/err"
fail=0
[ $rc -eq 0 ] || fail=1
check_clean "inspection"
grep -q 'ferry.io/inspection: linux debian 12' "$TMP/out.yaml" || { echo "FAIL: no debian inspection annotation"; fail=1; }
grep -q 'vm.kubevirt.io/os: debian12' "$TMP/out.yaml" || { echo "FAIL: osinfo not debian12"; fail=1; }
grep -q 'name: debian$' "$TMP/out.yaml" || { echo "FAIL: preference not debian"; fail=1; }
grep -q 'storage: ' "$TMP/out.yaml" || { echo "FAIL: disk size not read from the qcow2"; fail=1; }
[ $fail -eq 0 ] || { cat "$TMP/out.yaml"; exit 1; }

# The same disk inside an OVA, as VMware exports it (streamOptimized VMDK, the
# descriptor first): inspection opens the member in place through nbdkit's tar
# filter, and leaves no socket directory and no nbdkit behind.
if command -v nbdkit >/dev/null 2>&1; then
    qemu-img convert -O vmdk -o subformat=streamOptimized "$TMP/tiny.qcow2" "$TMP/tiny-disk1.vmdk"
    vsize=$(qemu-img info --output=json "$TMP/tiny.qcow2" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
    cat > "$TMP/tiny.ovf" <<OVF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References><File ovf:href="tiny-disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Info>disks</Info>
    <Disk ovf:capacity="$vsize" ovf:diskId="vmdisk1" ovf:fileRef="file1"
          ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="tiny-ova">
    <Info>a VM</Info><Name>tiny-ova</Name>
    <OperatingSystemSection ovf:id="1"><Info>unknown</Info></OperatingSystemSection>
    <VirtualHardwareSection><Info>hw</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:Address>0</rasd:Address></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
OVF
    (cd "$TMP" && tar --format=ustar -cf tiny.ova tiny.ovf tiny-disk1.vmdk)
    rm -f "$TMP/tiny-disk1.vmdk"   # only the OVA: nothing unpacked to find
    start=$(date +%s)
    conv "$TMP/ova.yaml" "$TMP/ova.err" "$TMP/tiny.ova" --inspect
    rc=$?
    echo "ferry-converter --inspect on the OVA: $(( $(date +%s) - start )) s, exit $rc"
    cat "$TMP/ova.err"
    [ $rc -eq 0 ] || fail=1
    grep -q 'ferry.io/inspection: linux debian 12' "$TMP/ova.yaml" || { echo "FAIL: OVA member not inspected in place"; fail=1; }
    grep -q 'name: debian$' "$TMP/ova.yaml" || { echo "FAIL: OVA: preference not debian"; fail=1; }
    check_clean "OVA inspection"
    [ $fail -eq 0 ] || { cat "$TMP/ova.yaml"; exit 1; }
    input="$TMP/tiny.ova"
else
    echo "nbdkit not installed: OVA inspection not tested"
    input="$TMP/tiny.xml"
fi

# Stopped at the deadline.  1 s is always before the appliance is up (the
# launch alone takes 12-25 s): the child is cancelled in the launch, its
# process group stopped and reaped, the run directory removed.  With 10 s the
# deadline falls wherever it falls (in the qemu boot here; a fast KVM host
# may finish): either way nothing may be left.
for t in 1 10; do
    start=$(date +%s)
    conv "$TMP/dl.yaml" "$TMP/dl.err" "$input" --inspect --inspect-timeout $t
    rc=$?
    echo "ferry-converter --inspect --inspect-timeout $t: $(( $(date +%s) - start )) s, exit $rc"
    cat "$TMP/dl.err"
    [ $rc -eq 0 ] || { echo "FAIL: a deadline must not fail the conversion (exit $rc)"; fail=1; }
    if [ $t -eq 1 ]; then
        grep -q 'warning: .*inspection of .* did not finish in 1 s' "$TMP/dl.err" ||
            { echo "FAIL: no deadline warning"; fail=1; }
    fi
    check_clean "inspection stopped at ${t} s"
done
[ $fail -eq 0 ] || exit 1

# The disk gone: inspection fails, the conversion still succeeds with a warning
# (without a second appliance launch).
rm -f "$TMP/tiny.qcow2"
conv "$TMP/out2.yaml" "$TMP/err2" "$TMP/tiny.xml" --inspect --inspect-timeout 120
rc=$?
cat "$TMP/err2"
[ $rc -eq 0 ] || { echo "FAIL: a failed inspection must not fail the conversion (exit $rc)"; exit 1; }
grep -q 'warning: .*inspection of tiny-debian' "$TMP/err2" || { echo "FAIL: no inspection warning"; exit 1; }
check_clean "failed inspection"
[ $fail -eq 0 ] || exit 1
echo "PASS"
