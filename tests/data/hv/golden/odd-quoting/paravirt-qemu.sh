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
    -device virtio-scsi-pci,id=scsi0 \
    -drive 'file=/srv/odd/it'"'"'s root.img,format=raw,if=none,id=drive-sda' \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda \
    -drive file=/dev/mapper/odd-swap,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -netdev bridge,id=net0,br=br0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:0d:0d:0d
