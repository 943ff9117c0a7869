#!/bin/sh
# KVM guest Arch, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=Arch \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 1024 \
    -smp 2 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/srv/linode/arch.img,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1 \
    -drive file=/dev/disk/by-id/scsi-0Linode_Volume_data,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -netdev user,id=net0 \
    -device virtio-net-pci,netdev=net0 \
    -netdev user,id=net1 \
    -device virtio-net-pci,netdev=net1
