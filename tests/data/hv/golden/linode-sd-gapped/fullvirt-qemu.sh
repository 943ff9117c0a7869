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
    -drive file=/srv/linode/arch.img,format=raw,if=none,id=drive-sda \
    -device ide-hd,bus=ide.0,unit=0,drive=drive-sda,id=sda,bootindex=1 \
    -drive file=/dev/disk/by-id/scsi-0Linode_Volume_data,format=raw,if=none,id=drive-sdb \
    -device ide-hd,bus=ide.0,unit=1,drive=drive-sdb,id=sdb \
    -netdev user,id=net0 \
    -device e1000,netdev=net0 \
    -netdev user,id=net1 \
    -device e1000,netdev=net1
