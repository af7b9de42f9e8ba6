# shellcheck shell=sh
# A VMware .vmx by its parts, for what converts a VM the way vSphere writes
# it: the test guest (tests/converter/guest-lib.sh), bench/converter.sh and
# scripts/demo.sh (sourced; POSIX sh).  Each prints its lines on stdout:
#
#   vmx_head NAME GUESTOS MEMSIZE NUMVCPUS  the file's header: hardware
#                              version 19, the display name, the guest OS,
#                              the memory (MiB) and the vCPUs
#   vmx_pvscsi                 the SCSI controller scsi0, a PVSCSI one
#   vmx_disk SLOT FILE [TYPE]  a disk at SLOT (scsi0:0, sata0:1, ide1:0), its
#                              deviceType TYPE when given (scsi-hardDisk,
#                              cdrom-image)
#   vmx_nic N DEV NETWORK MAC [static]  ethernetN, a DEV (vmxnet3, e1000) on
#                              NETWORK with the MAC vSphere generated, or
#                              with "static" one set by hand

vmx_head() {
    cat <<VMX
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "$1"
guestOS = "$2"
memSize = "$3"
numvcpus = "$4"
VMX
}

vmx_pvscsi() {
    echo 'scsi0.present = "TRUE"'
    echo 'scsi0.virtualDev = "pvscsi"'
}

vmx_disk() {
    echo "$1.present = \"TRUE\""
    [ -z "${3:-}" ] || echo "$1.deviceType = \"$3\""
    echo "$1.fileName = \"$2\""
}

vmx_nic() {
    echo "ethernet$1.present = \"TRUE\""
    echo "ethernet$1.virtualDev = \"$2\""
    echo "ethernet$1.networkName = \"$3\""
    if [ "${5:-}" = static ]; then
        echo "ethernet$1.addressType = \"static\""
        echo "ethernet$1.address = \"$4\""
    else
        echo "ethernet$1.addressType = \"generated\""
        echo "ethernet$1.generatedAddress = \"$4\""
    fi
}
