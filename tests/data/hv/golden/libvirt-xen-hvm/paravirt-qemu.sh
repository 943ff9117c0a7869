#!/bin/sh
# KVM guest lv-hvm, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=lv-hvm \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 2048 \
    -smp 2 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/var/lib/libvirt/images/lv-hvm.qcow2,format=qcow2,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=2 \
    -drive file=/var/lib/libvirt/images/install.iso,format=raw,if=none,id=drive-sdb,media=cdrom,readonly=on \
    -device scsi-cd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb,bootindex=1 \
    -netdev bridge,id=net0,br=br0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:9c:9c:01
