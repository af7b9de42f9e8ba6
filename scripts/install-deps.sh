#!/bin/sh
# Install what Ferry needs to build, test and run on Debian 12, as root.
#
# Both README commands (make demo, make check) call this first. It is idempotent
# and quiet when everything is already there: dpkg-query decides what is
# missing, and apt-get runs only for that.
set -eu

PACKAGES="
build-essential cmake pkg-config git
libjson-c-dev libyaml-dev libxml2-dev libsqlite3-dev libssl-dev zlib1g-dev
libcurl4-openssl-dev libarchive-dev libcmocka-dev liblzma-dev libzstd-dev libbz2-dev
libvirt-dev libguestfs-dev
clang libclang-rt-14-dev
qemu-system-x86 qemu-utils qemu-block-extra ovmf
libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-clients
libguestfs-tools linux-image-amd64
nginx-light docker-registry skopeo apache2-utils
busybox-static cpio syslinux extlinux syslinux-common mtools dosfstools fdisk
python3-jsonschema python3-yaml libxml2-utils
xz-utils zstd bzip2 gzip genisoimage
virt-v2v libnbd-bin nbdkit debootstrap
dnsmasq-base iproute2 time bc
"

# s3rver (npm), the S3 server of tests/importer/s3.sh: Debian 12 packages
# none (no minio, garage or moto).  Pinned, into its own prefix.
S3RVER_VERSION=3.7.1
S3RVER_PREFIX=/opt/ferry-npm
install_s3rver() {
    [ -f "$S3RVER_PREFIX/node_modules/s3rver/bin/s3rver.js" ] && return 0
    command -v npm >/dev/null 2>&1 || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: s3rver is missing (run as root to install it)" >&2
        return 0
    fi
    echo "install-deps: installing s3rver@$S3RVER_VERSION into $S3RVER_PREFIX"
    npm install --silent --no-audit --no-fund --prefix "$S3RVER_PREFIX" "s3rver@$S3RVER_VERSION" \
        >/dev/null || echo "install-deps: npm install s3rver failed (tests/importer/s3.sh will skip)" >&2
}

missing=
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
# kubectl is the typing oracle of the YAML tests (tests/unit/yaml-kubectl.sh):
# Debian's kubernetes-client unless a kubectl is already on the machine.
command -v kubectl >/dev/null 2>&1 || missing="$missing kubernetes-client"
# npm installs s3rver below: Debian's npm (and nodejs) unless a node with
# npm is already on the machine.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && { install_s3rver; exit 0; }

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing (run as root to install them)" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive INITRD=No
apt-get -q update >/dev/null
# shellcheck disable=SC2086
apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $missing >/dev/null
install_s3rver
