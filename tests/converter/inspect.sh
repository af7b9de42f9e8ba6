#!/bin/sh
# ferry-converter --inspect on a real (tiny) Linux guest disk built here:
# a directory tree with /etc/os-release and an empty /var/lib/dpkg/status,
# made into a qcow2 filesystem image by virt-make-fs, referenced from a libvirt
# domain XML that does not say what the OS is.  Inspection must find Debian 12
# and the converter must pick the debian preference from it.  The libguestfs
# appliance takes 12-25 s per launch (two launches here): labelled slow.
# Exits 77 when libguestfs cannot run on this machine.
set -u
: "${FERRY_BIN:?}"
export FERRY_LOG_FORMAT=text
command -v virt-make-fs >/dev/null 2>&1 || { echo "SKIP: virt-make-fs not installed"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
# KVM under nested virtualization can abort qemu (MSR 0x10a): TCG is slower but sure.
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"

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
"$FERRY_BIN/ferry-converter" "$TMP/tiny.xml" --inspect >"$TMP/out.yaml" 2>"$TMP/err"
rc=$?
echo "ferry-converter --inspect: $(( $(date +%s) - start )) s, exit $rc"
cat "$TMP/err"
fail=0
[ $rc -eq 0 ] || fail=1
grep -q 'ferry.io/inspection: linux debian 12' "$TMP/out.yaml" || { echo "FAIL: no debian inspection annotation"; fail=1; }
grep -q 'vm.kubevirt.io/os: debian12' "$TMP/out.yaml" || { echo "FAIL: osinfo not debian12"; fail=1; }
grep -q 'name: debian$' "$TMP/out.yaml" || { echo "FAIL: preference not debian"; fail=1; }
grep -q 'storage: ' "$TMP/out.yaml" || { echo "FAIL: disk size not read from the qcow2"; fail=1; }
[ $fail -eq 0 ] || { cat "$TMP/out.yaml"; exit 1; }

# The disk gone: inspection fails, the conversion still succeeds with a warning
# (without a second appliance launch).
rm -f "$TMP/tiny.qcow2"
"$FERRY_BIN/ferry-converter" "$TMP/tiny.xml" --inspect --inspect-timeout 120 >"$TMP/out2.yaml" 2>"$TMP/err2"
rc=$?
cat "$TMP/err2"
[ $rc -eq 0 ] || { echo "FAIL: a failed inspection must not fail the conversion (exit $rc)"; exit 1; }
grep -q 'warning: .*inspection of tiny-debian' "$TMP/err2" || { echo "FAIL: no inspection warning"; exit 1; }
echo "PASS"
