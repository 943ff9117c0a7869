#!/bin/sh
# KVM guest centos5, written by xen2kvm translate.
# The serial console (ttyS0) is a pty: QEMU prints its path at start.
set -e
exec qemu-system-x86_64 \
    -name guest=centos5 \
    -machine pc \
    -accel kvm \
    -cpu host \
    -m 384 \
    -smp 1 \
    -nodefaults \
    -no-user-config \
    -display none \
    -serial pty \
    -kernel /boot/vmlinuz-2.6.18-xen \
    -initrd /boot/initrd-2.6.18-xen.img \
    -append 'root=/dev/sda1 ro console=ttyS0,19200n8' \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/var/lib/xen/images/centos5.img,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda \
    -drive file=/dev/VolGroup00/centos5-swap,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -netdev bridge,id=net0,br=xenbr0 \
    -device virtio-net-pci,netdev=net0,mac=00:16:3e:c5:c5:05
