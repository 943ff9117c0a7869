#!/bin/sh
# KVM guest storage, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=storage \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 4096 \
    -smp 4 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/dev/vg0/storage-root,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1 \
    -drive file=/dev/vg0/storage-swap,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -drive file=/dev/vg1/storage-d1,format=raw,if=none,id=drive-sdc \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=2,lun=0,drive=drive-sdc,id=sdc \
    -drive file=/dev/vg1/storage-d2,format=raw,if=none,id=drive-sdd \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=3,lun=0,drive=drive-sdd,id=sdd \
    -drive file=/dev/vg1/storage-d3,format=raw,if=none,id=drive-sde \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=4,lun=0,drive=drive-sde,id=sde \
    -drive file=/dev/vg1/storage-d4,format=raw,if=none,id=drive-sdf \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=5,lun=0,drive=drive-sdf,id=sdf \
    -netdev bridge,id=net0,br=xenbr0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:57:00:01
