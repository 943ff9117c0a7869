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
    -drive file=/dev/vg0/router,format=raw,if=none,id=drive-sda \
    -device ide-hd,bus=ide.0,unit=0,drive=drive-sda,id=sda,bootindex=1 \
    -netdev bridge,id=net0,br=wan0 \
    -device e1000,netdev=net0,mac=00:16:3e:10:00:01 \
    -netdev bridge,id=net1,br=lan0 \
    -device e1000,netdev=net1,mac=00:16:3e:10:00:02 \
    -netdev bridge,id=net2,br=dmz0 \
    -device e1000,netdev=net2 \
    -no-reboot
