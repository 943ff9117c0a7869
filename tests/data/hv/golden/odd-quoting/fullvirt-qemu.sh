#!/bin/sh
# KVM guest odd, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=odd \
    -uuid a1b2c3d4-0000-4000-8000-00000000abcd \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 640 \
    -smp 1 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -kernel /boot/vmlinuz-xen \
    -initrd /boot/initrd-xen.img \
    -append 'root=/dev/sda ro console=ttyS0,19200n8 quiet "init=/sbin/init"' \
    -drive 'file=/srv/odd/it'"'"'s root.img,format=raw,if=none,id=drive-sda' \
    -device ide-hd,bus=ide.0,unit=0,drive=drive-sda,id=sda \
    -drive file=/dev/mapper/odd-swap,format=raw,if=none,id=drive-sdb \
    -device ide-hd,bus=ide.0,unit=1,drive=drive-sdb,id=sdb \
    -netdev bridge,id=net0,br=br0 \
    -device e1000,netdev=net0,mac=00:16:3e:0d:0d:0d
