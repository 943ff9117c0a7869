#!/bin/sh
# KVM guest mail, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=mail \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 1024 \
    -smp 2 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -kernel /boot/vmlinuz-3.2.0-4-amd64 \
    -initrd /boot/initrd.img-3.2.0-4-amd64 \
    -append 'root=/dev/sda ro console=ttyS0,19200n8 elevator=noop' \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/dev/vg0/mail-disk,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda \
    -drive file=/dev/vg0/mail-swap,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -netdev bridge,id=net0,br=br0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:a1:b2:c3
