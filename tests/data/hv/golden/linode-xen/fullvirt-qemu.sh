#!/bin/sh
# KVM guest My-Debian-8-Profile, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=My-Debian-8-Profile \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 2048 \
    -smp 1 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -drive file=/srv/linode/debian8-root.img,format=raw,if=none,id=drive-sda \
    -device ide-hd,bus=ide.0,unit=0,drive=drive-sda,id=sda,bootindex=1 \
    -drive file=/path/to/linode-disk-124459.img,format=raw,if=none,id=drive-sdb \
    -device ide-hd,bus=ide.0,unit=1,drive=drive-sdb,id=sdb \
    -netdev user,id=net0 \
    -device e1000,netdev=net0
