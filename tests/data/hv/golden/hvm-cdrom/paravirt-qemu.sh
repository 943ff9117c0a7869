#!/bin/sh
# KVM guest winlike-linux, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=winlike-linux \
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
    -drive file=/dev/vg0/hvm1,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=2 \
    -drive file=/srv/iso/debian-12.iso,format=raw,if=none,id=drive-sdb,media=cdrom,readonly=on \
    -device scsi-cd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb,bootindex=1 \
    -netdev bridge,id=net0,br=xenbr0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:22:33:44
