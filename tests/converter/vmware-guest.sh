#!/bin/sh
# Build (once, cached) a real Debian 12 guest disk that looks like one that
# ran on VMware, for the guest-conversion test and bench/converter.sh:
#   - debootstrap --variant=minbase with linux-image-amd64, initramfs-tools and
#     grub-pc (no systemd: the kernel runs /usr/local/sbin/ferry-marker as init,
#     which prints one line on ttyS0 and powers off; the drivers for
#     graphics, media, sound, wireless, InfiniBand and sensors removed);
#   - an initramfs without virtio drivers: MODULES=list with the SATA/SCSI
#     drivers a VMware guest uses (ahci, ata_piix, sd_mod, vmw_pvscsi,
#     mptspi) and ext4 -- checked with lsinitramfs;
#   - /etc/fstab and GRUB's root= naming /dev/sda1 (GRUB_DISABLE_LINUX_UUID);
#   - an "open-vm-tools" package (a stand-in .deb: /usr/bin/vmtoolsd, its unit
#     and /etc/vmware-tools) registered in dpkg;
#   - ifupdown on "ens192" (vmxnet3's name on VMware) and a
#     70-persistent-net.rules pinning eth0 to a VMware MAC;
#   - one MBR partition (ext4), GRUB in the MBR.
# The marker line:  FERRY-GUEST-BOOTED root=DEV fstab=ok|missing:SPEC vmtools=present|absent
#
#   tests/converter/vmware-guest.sh CACHE     -> CACHE/vmware-guest.raw
#
# FERRY_DEBIAN_MIRROR (default http://deb.debian.org/debian).  Needs root,
# debootstrap, dpkg-deb, guestfish (libguestfs) and network access the first
# time.  Exits 77 when one of these is missing, 1 when a step fails.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 CACHE" >&2; exit 2; }
CACHE=$1
VERSION=4      # bump when the guest changes: the cached disk is rebuilt
OUT=$CACHE/vmware-guest.raw
mkdir -p "$CACHE"
# One builder at a time (scripts/prepare-tests.sh may be building it while a
# test asks for it): the second waits and then finds the disk made.
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$OUT" ] && [ "$(cat "$CACHE/vmware-guest.version" 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "vmware-guest: needs root (debootstrap, chroot)" >&2; exit 77; }
for t in debootstrap dpkg-deb guestfish chroot; do
    command -v $t >/dev/null 2>&1 || { echo "vmware-guest: $t missing (scripts/install-deps.sh)" >&2; exit 77; }
done
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
# KVM under nested virtualization aborts qemu on some machines: TCG is sure.
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"
R=$CACHE/vmware-root
log=$CACHE/vmware-guest.log
rm -f "$OUT" "$CACHE/vmware-guest.version"
if [ ! -x "$R/usr/sbin/update-initramfs" ] || [ ! -x "$R/usr/sbin/grub-install" ]; then
    rm -rf "$R"
    echo "vmware-guest: debootstrap (log: $log) ..."
    # In two stages, to configure dpkg and initramfs-tools before the kernel
    # is installed: dpkg without fsync (this root is only copied onto the
    # disk below), and MODULES=list, so that the kernel's postinst writes
    # the small initramfs of the end rather than one with every driver.
    if ! DEBIAN_FRONTEND=noninteractive debootstrap --foreign --variant=minbase \
            --include=linux-image-amd64,initramfs-tools,grub-pc \
            bookworm "$R" "${FERRY_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$log" 2>&1; then
        tail -3 "$log" >&2
        rm -rf "$R"
        echo "vmware-guest: debootstrap failed (no network?)" >&2
        exit 77
    fi
    mkdir -p "$R/etc/dpkg/dpkg.cfg.d" "$R/etc/initramfs-tools/conf.d"
    echo force-unsafe-io >"$R/etc/dpkg/dpkg.cfg.d/ferry-build"
    echo MODULES=list >"$R/etc/initramfs-tools/conf.d/ferry-build"
    if ! DEBIAN_FRONTEND=noninteractive chroot "$R" /debootstrap/debootstrap --second-stage \
            >>"$log" 2>&1; then
        tail -3 "$log" >&2
        rm -rf "$R"
        echo "vmware-guest: debootstrap --second-stage failed (log: $log)" >&2
        exit 1
    fi
    rm -f "$R/etc/dpkg/dpkg.cfg.d/ferry-build" "$R/etc/initramfs-tools/conf.d/ferry-build"
fi
kver=$(ls "$R/lib/modules" | sort -V | tail -1)
# Drivers no conversion of this guest can want (graphics, media, sound,
# wireless, InfiniBand, sensors): without them the root copied onto the disk
# through the TCG appliance below is half the size.  Disk, NIC, virtio and
# file system drivers all stay.
M=$R/lib/modules/$kver/kernel
rm -rf "$M/drivers/gpu" "$M/drivers/media" "$M/sound" "$M/drivers/net/wireless" \
    "$M/drivers/infiniband" "$M/drivers/iio" "$M/drivers/staging" "$M/drivers/bluetooth" \
    "$M/net/wireless" "$M/net/mac80211" "$M/net/bluetooth"
chroot "$R" depmod "$kver" >>"$log" 2>&1 ||
    { tail -3 "$log" >&2; echo "vmware-guest: depmod failed (log: $log)" >&2; exit 1; }

# --- what VMware left in the guest -----------------------------------------
cat >"$R/etc/fstab" <<'EOF'
# /etc/fstab: static file system information.
/dev/sda1 / ext4 errors=remount-ro 0 1
EOF
echo vmware-guest >"$R/etc/hostname"
mkdir -p "$R/etc/network"
cat >"$R/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback

allow-hotplug ens192
iface ens192 inet dhcp
EOF
mkdir -p "$R/etc/udev/rules.d"
cat >"$R/etc/udev/rules.d/70-persistent-net.rules" <<'EOF'
# PCI device 0x15ad:0x07b0 (vmxnet3)
SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="00:0c:29:be:c0:01", ATTR{dev_id}=="0x0", ATTR{type}=="1", KERNEL=="eth*", NAME="eth0"
EOF

# The stand-in open-vm-tools package.
pkg=$CACHE/open-vm-tools.pkg
rm -rf "$pkg"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/vmware-tools"
cat >"$pkg/DEBIAN/control" <<'EOF'
Package: open-vm-tools
Version: 2:12.2.0-1+deb12u2
Architecture: amd64
Maintainer: Ferry tests <ferry@localhost>
Description: Open VMware Tools (stand-in for tests)
 Registered like the real package: the binary, its unit, its configuration.
EOF
printf '#!/bin/sh\necho vmtoolsd: not on VMware >&2\nexit 1\n' >"$pkg/usr/bin/vmtoolsd"
chmod 755 "$pkg/usr/bin/vmtoolsd"
printf '[Unit]\nDescription=Service for virtual machines hosted on VMware\n[Service]\nExecStart=/usr/bin/vmtoolsd\n[Install]\nWantedBy=multi-user.target\n' \
    >"$pkg/lib/systemd/system/open-vm-tools.service"
printf '[logging]\nlog = true\n' >"$pkg/etc/vmware-tools/tools.conf"
echo /etc/vmware-tools/tools.conf >"$pkg/DEBIAN/conffiles"
dpkg-deb --root-owner-group -b "$pkg" "$R/tmp/open-vm-tools.deb" >/dev/null
chroot "$R" dpkg -i /tmp/open-vm-tools.deb >>"$log" 2>&1
rm -f "$R/tmp/open-vm-tools.deb"

# The init: one line on the serial console, then power off.
mkdir -p "$R/usr/local/sbin"
cat >"$R/usr/local/sbin/ferry-marker" <<'EOF'
#!/bin/sh
# Ferry's test init: say how the guest came up, then power off.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
root=$(awk '$2 == "/" && $1 != "rootfs" { d = $1 } END { print d }' /proc/mounts)
fstab=ok
while read -r spec mp rest; do
    case "$spec" in ''|\#*) continue ;; esac
    dev=$(findfs "$spec" 2>/dev/null) || dev=$spec
    [ -b "$dev" ] || fstab="missing:$spec"
done </etc/fstab
tools=absent
[ -e /usr/bin/vmtoolsd ] && tools=present
echo "FERRY-GUEST-BOOTED root=$root fstab=$fstab vmtools=$tools" >/dev/ttyS0
sync
echo o >/proc/sysrq-trigger
sleep 30
EOF
chmod 755 "$R/usr/local/sbin/ferry-marker"

# The boot loader as update-grub writes it with GRUB_DISABLE_LINUX_UUID.
cmdline="console=ttyS0 rootdelay=10 panic=1 init=/usr/local/sbin/ferry-marker"
cat >"$R/etc/default/grub" <<EOF
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="$cmdline"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_LINUX_UUID=true
EOF
mkdir -p "$R/boot/grub"
cat >"$R/boot/grub/grub.cfg" <<EOF
set default=0
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
menuentry 'Debian GNU/Linux' {
	insmod part_msdos
	insmod ext2
	set root='hd0,msdos1'
	linux /boot/vmlinuz-$kver root=/dev/sda1 ro $cmdline
	initrd /boot/initrd.img-$kver
}
EOF

# An initramfs for VMware's disk controllers, without virtio.
sed -i 's/^MODULES=.*/MODULES=list/' "$R/etc/initramfs-tools/initramfs.conf"
cat >"$R/etc/initramfs-tools/modules" <<'EOF'
# VMware's disk controllers
ahci
ata_piix
sd_mod
vmw_pvscsi
mptspi
ext4
EOF
chroot "$R" update-initramfs -u -k "$kver" >>"$log" 2>&1 ||
    { tail -3 "$log" >&2; echo "vmware-guest: update-initramfs failed (log: $log)" >&2; exit 1; }
if chroot "$R" lsinitramfs "/boot/initrd.img-$kver" | grep -q 'virtio'; then
    echo "vmware-guest: the initramfs still holds virtio modules" >&2
    exit 1
fi

# --- the disk ----------------------------------------------------------------
# apt's downloaded packages and lists stay behind: nobody reads them there
tar -C "$R" --numeric-owner --exclude='./var/cache/apt/archives/*.deb' \
    --exclude='./var/cache/apt/*.bin' --exclude='./var/lib/apt/lists/*_*' \
    -cf "$CACHE/vmware-root.tar" .
rm -f "$OUT.tmp"
truncate -s 2G "$OUT.tmp"
if ! guestfish -a "$OUT.tmp" >>"$log" 2>&1 <<EOF
run
part-init /dev/sda mbr
part-add /dev/sda p 2048 -1
part-set-bootable /dev/sda 1 true
mkfs ext4 /dev/sda1
mount /dev/sda1 /
tar-in $CACHE/vmware-root.tar /
command "grub-install --target=i386-pc /dev/sda"
umount-all
EOF
then
    tail -5 "$log" >&2
    rm -f "$OUT.tmp" "$CACHE/vmware-root.tar"
    echo "vmware-guest: making the disk failed (log: $log)" >&2
    exit 1
fi
rm -f "$CACHE/vmware-root.tar"
mv "$OUT.tmp" "$OUT"
echo "$VERSION" >"$CACHE/vmware-guest.version"
echo "vmware-guest: $OUT (kernel $kver)"
