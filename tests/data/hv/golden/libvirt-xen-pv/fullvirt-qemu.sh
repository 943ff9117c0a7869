#!/bin/sh
# KVM guest lv-pv, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=lv-pv \
    -uuid 8d5f3c2a-6b1e-4e3f-9a0b-1c2d3e4f5a6b \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 1024 \
    -smp 1,maxcpus=2 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -kernel /var/lib/xen/kernels/vmlinuz-4.19 \
    -initrd /var/lib/xen/kernels/initrd-4.19.img \
    -append 'root=/dev/sda ro console=ttyS0,19200n8' \
    -drive file=/var/lib/xen/images/lv-pv-root.img,format=raw,if=none,id=drive-sda \
    -device ide-hd,bus=ide.0,unit=0,drive=drive-sda,id=sda \
    -drive file=/dev/vg0/lv-pv-data,format=raw,if=none,id=drive-sdb,snapshot=on \
    -device ide-hd,bus=ide.0,unit=1,drive=drive-sdb,id=sdb \
    -netdev bridge,id=net0,br=xenbr0 \
    -device e1000,netdev=net0,mac=00:16:3e:7a:7b:7c
