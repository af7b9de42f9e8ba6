#!/bin/sh
# Build Ferry's tiny test guest from Debian packages: the kernel of
# linux-image-amd64, an initramfs of busybox-static plus the few modules it
# needs, and a bootable raw disk (MBR + FAT + syslinux) holding both.
#
#   scripts/build-tiny-guest.sh OUTDIR     -> OUTDIR/vmlinuz OUTDIR/initrd.img OUTDIR/disk.raw
#
# The guest prints "FERRY-GUEST-MARKER booted" on its serial console (ttyS0),
# looks for a cloud-init CD-ROM (NoCloud "cidata" or ConfigDrive "config-2")
# and prints its user-data between FERRY-USER-DATA-BEGIN/END lines, then:
#   - powers off at once when the kernel command line has ferry.mode=poweroff
#     or the user-data holds a line "ferry-guest: poweroff";
#   - otherwise stays up: the ACPI power button powers it off (graceful stop)
#     and the console answers line commands: "marker" prints the marker
#     again, "userdata" prints the user-data again, "poweroff" powers off,
#     "panic" crashes the kernel (sysrq c; a pvpanic device, KubeVirt's
#     panicDevices isa, tells qemu), anything else is echoed back as
#     "ferry-guest: echo LINE".
# Every network interface (virtio-net or e1000) asks for a DHCP lease in the
# background (busybox udhcpc), so the markers come no later than without a
# NIC; once bound the guest prints "FERRY-GUEST-NET IFACE ADDRESS/PREFIX" and
# answers ping on that address.
# Needs: busybox-static, linux-image-amd64, cpio, gzip, fdisk (sfdisk),
# dosfstools, mtools, syslinux, syslinux-common.  No root, no loop device.
set -eu

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage ;; esac
OUT=$1
mkdir -p "$OUT"

missing=""
for t in busybox cpio gzip sfdisk mkfs.vfat mcopy syslinux; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || [ -x "/sbin/$t" ] || missing="$missing $t"
done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically' || BUSYBOX=$(command -v busybox)
KVER=$(ls /lib/modules 2>/dev/null | sort -V | tail -1)
KERNEL=/boot/vmlinuz-$KVER
[ -n "$KVER" ] && [ -r "$KERNEL" ] || missing="$missing linux-image-amd64(vmlinuz)"
MBR=""
for m in /usr/lib/syslinux/mbr/mbr.bin /usr/lib/EXTLINUX/mbr.bin; do [ -r "$m" ] && MBR=$m && break; done
[ -n "$MBR" ] || missing="$missing syslinux-common(mbr.bin)"
if [ -n "$missing" ]; then
    echo "build-tiny-guest: missing:$missing" >&2
    exit 77
fi
PATH=$PATH:/usr/sbin:/sbin

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
mkdir -p "$R/bin" "$R/dev" "$R/proc" "$R/sys" "$R/mnt" "$R/etc/acpi/PWRF" "$R/lib/modules" "$R/run"
cp "$BUSYBOX" "$R/bin/busybox"

# Modules for a SATA/SCSI/virtio CD-ROM with ISO9660, the ACPI power button,
# the NICs Ferry's interface models most often get (virtio, e1000), and the
# pvpanic device.
MODDIR=/lib/modules/$KVER
want="ahci sr_mod isofs virtio_pci virtio_blk virtio_scsi button evdev virtio_net e1000 pvpanic-mmio"
order=""
# modules.dep lists every module's full dependency closure, nearest first:
# load the dependencies in reverse, then the module.
for m in $want; do
    line=$(grep -E "(^|/)$m\.ko(\.xz|\.zst)?:" "$MODDIR/modules.dep" | head -1) || true
    [ -n "$line" ] || continue
    list=""
    for d in ${line#*:}; do list="$d $list"; done
    for p in $list ${line%%:*}; do
        case " $order " in *" $p "*) ;; *) order="$order $p" ;; esac
    done
done
: > "$R/modules.order"
for p in $order; do
    case "$p" in *.ko) ;; *) continue ;; esac   # busybox insmod: plain .ko only
    cp "$MODDIR/$p" "$R/lib/modules/"
    basename "$p" >> "$R/modules.order"
done

cat > "$R/etc/acpi/PWRF/00000080" <<'SH'
#!/bin/busybox sh
echo "FERRY-GUEST-MARKER acpi-poweroff" > /dev/console
/bin/busybox poweroff -f
SH
chmod 755 "$R/etc/acpi/PWRF/00000080"

# udhcpc's hook: configure the address (and the default route) it was given.
cat > "$R/etc/udhcpc.script" <<'SH'
#!/bin/busybox sh
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; break; done
    [ "$1" = bound ] && echo "FERRY-GUEST-NET $interface $ip/${mask:-24}" > /dev/console
    ;;
esac
exit 0
SH
chmod 755 "$R/etc/udhcpc.script"

cat > "$R/init" <<'SH'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in $(cat /modules.order); do insmod /lib/modules/$m 2>/dev/null; done
echo "FERRY-GUEST-MARKER booted"
ip link set lo up
for n in /sys/class/net/*; do
    n=${n##*/}
    [ "$n" = lo ] || [ ! -e "/sys/class/net/$n/device" ] && continue
    udhcpc -f -q -i "$n" -s /etc/udhcpc.script -t 30 -T 2 -A 5 -p "/run/udhcpc.$n.pid" >/dev/null 2>&1 &
done
mode=stay
for a in $(cat /proc/cmdline); do case "$a" in ferry.mode=*) mode=${a#ferry.mode=} ;; esac; done

# cloud-init: the first ISO9660 CD-ROM labelled cidata or config-2.
userdata=""
i=0
while [ $i -lt 30 ] && ! ls /dev/sr* >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
for dev in /dev/sr* /dev/vd? /dev/sd?; do
    [ -b "$dev" ] || continue
    mount -t iso9660 -o ro "$dev" /mnt 2>/dev/null || continue
    for f in /mnt/user-data /mnt/openstack/latest/user_data; do
        [ -f "$f" ] && userdata=$f && break
    done
    [ -n "$userdata" ] && break
    umount /mnt
done
show_userdata() {
    if [ -n "$userdata" ]; then
        echo "FERRY-USER-DATA-BEGIN"; cat "$userdata"; echo; echo "FERRY-USER-DATA-END"
    else
        echo "FERRY-USER-DATA-NONE"
    fi
}
show_userdata
[ -n "$userdata" ] && grep -q '^ferry-guest: poweroff' "$userdata" && mode=poweroff
if [ "$mode" = poweroff ]; then
    echo "FERRY-GUEST-MARKER poweroff"
    poweroff -f
fi
acpid -c /etc/acpi -l /dev/null 2>/dev/null || true
echo "FERRY-GUEST-MARKER ready"
while true; do
    read -r line || { sleep 1; continue; }
    case "$line" in
    marker) echo "FERRY-GUEST-MARKER booted" ;;
    userdata) show_userdata ;;
    poweroff) echo "FERRY-GUEST-MARKER poweroff"; poweroff -f ;;
    panic) echo "FERRY-GUEST-MARKER panic"; echo c > /proc/sysrq-trigger ;;
    "") ;;
    *) echo "ferry-guest: echo $line" ;;
    esac
done
SH
chmod 755 "$R/init"

(cd "$R" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) > "$WORK/initrd.img"
cp "$KERNEL" "$WORK/vmlinuz"

# Bootable raw disk: MBR, one bootable FAT partition at 1 MiB with syslinux.
PART_MB=32
cat > "$WORK/syslinux.cfg" <<'CFG'
SERIAL 0 115200
DEFAULT linux
TIMEOUT 0
PROMPT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=ttyS0 quiet panic=-1
CFG
truncate -s $((PART_MB + 1))M "$WORK/disk.raw"
echo "2048,,c,*" | sfdisk -q "$WORK/disk.raw" >/dev/null
mkfs.vfat -C "$WORK/part.img" $((PART_MB * 1024)) >/dev/null
syslinux --install "$WORK/part.img"
MTOOLS_SKIP_CHECK=1 mcopy -i "$WORK/part.img" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/syslinux.cfg" ::/
dd if="$WORK/part.img" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$MBR" of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none

for f in vmlinuz initrd.img disk.raw; do mv "$WORK/$f" "$OUT/$f"; done
chmod 644 "$OUT/vmlinuz" "$OUT/initrd.img" "$OUT/disk.raw"
echo "build-tiny-guest: $OUT/vmlinuz $OUT/initrd.img $OUT/disk.raw (kernel $KVER)"
