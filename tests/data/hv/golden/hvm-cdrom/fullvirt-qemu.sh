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
    -drive file=/dev/vg0/hvm1,format=raw,if=none,id=drive-sda \
    -device ide-hd,bus=ide.0,unit=0,drive=drive-sda,id=sda,bootindex=2 \
    -drive file=/srv/iso/debian-12.iso,format=raw,if=none,id=drive-sdb,media=cdrom,readonly=on \
    -device ide-cd,bus=ide.0,unit=1,drive=drive-sdb,id=sdb,bootindex=1 \
    -netdev bridge,id=net0,br=xenbr0 \
    -device e1000,netdev=net0,mac=00:16:3e:22:33:44
