#!/bin/sh
# KVM guest hvm-qcow, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=hvm-qcow \
    -uuid 0f0e0d0c-0b0a-0908-0706-050403020100 \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 2048 \
    -smp 4 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/var/lib/xen/images/hvm-qcow.qcow2,format=qcow2,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1 \
    -drive file=/var/lib/xen/images/hvm-qcow-data.img,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -drive if=none,id=drive-sdc,media=cdrom,readonly=on \
    -device scsi-cd,bus=scsi0.0,channel=0,scsi-id=2,lun=0,drive=drive-sdc,id=sdc \
    -netdev bridge,id=net0,br=xenbr0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:5e:5e:01
