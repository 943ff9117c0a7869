#!/bin/sh
# KVM guest router, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=router \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 512 \
    -smp 2,maxcpus=4 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/dev/vg0/router,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1 \
    -netdev bridge,id=net0,br=wan0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:10:00:01 \
    -netdev bridge,id=net1,br=lan0 \
    -device virtio-net-pci,netdev=net1,mac=00:16:3e:10:00:02 \
    -netdev bridge,id=net2,br=dmz0 \
    -device virtio-net-pci,netdev=net2 \
    -no-reboot
