#!/bin/sh
# KVM guest bare-fs, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=bare-fs \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 4096 \
    -smp 2,maxcpus=4 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -kernel /var/lib/xen2kvm/bare-fs/vmlinuz \
    -initrd /var/lib/xen2kvm/bare-fs/initrd.img \
    -append 'root=/dev/sda ro console=ttyS0,19200n8' \
    -drive file=/var/lib/xen/images/bare-fs-root.img,format=raw,if=none,id=drive-sda \
    -device ide-hd,bus=ide.0,unit=0,drive=drive-sda,id=sda \
    -drive file=/var/lib/xen/images/bare-fs-swap.img,format=raw,if=none,id=drive-sdb \
    -device ide-hd,bus=ide.0,unit=1,drive=drive-sdb,id=sdb \
    -drive file=/var/lib/xen/images/bare-fs-data.img,format=raw,if=none,id=drive-sdc,snapshot=on \
    -device ide-hd,bus=ide.1,unit=0,drive=drive-sdc,id=sdc \
    -netdev bridge,id=net0,br=xenbr0 \
    -device e1000,netdev=net0,mac=f2:3c:91:00:aa:01
