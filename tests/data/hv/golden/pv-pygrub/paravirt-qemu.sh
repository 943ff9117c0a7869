#!/bin/sh
# KVM guest squeeze-web, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=squeeze-web \
    -uuid 6c1e4f52-9d2a-4b1e-8f3a-1d2c3b4a5e6f \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 512 \
    -smp 1 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/srv/xen/domains/squeeze-web/disk.img,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1 \
    -drive file=/srv/xen/domains/squeeze-web/swap.img,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -netdev bridge,id=net0,br=xenbr0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:4a:10:01
