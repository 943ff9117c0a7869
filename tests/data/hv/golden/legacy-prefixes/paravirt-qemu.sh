#!/bin/sh
# KVM guest legacy, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=legacy \
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
    -drive file=/srv/xen/legacy/root.img,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1 \
    -drive file=/srv/xen/legacy/home.img,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -drive file=/srv/xen/legacy/var.qcow2,format=qcow2,if=none,id=drive-sdc \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=2,lun=0,drive=drive-sdc,id=sdc \
    -drive file=/srv/xen/legacy/iso/rescue.iso,format=raw,if=none,id=drive-sdd,media=cdrom,readonly=on \
    -device scsi-cd,bus=scsi0.0,channel=0,scsi-id=3,lun=0,drive=drive-sdd,id=sdd \
    -netdev bridge,id=net0,br=xenbr0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:1e:9a:c0
