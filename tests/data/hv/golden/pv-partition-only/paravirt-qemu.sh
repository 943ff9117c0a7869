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
    -device virtio-scsi-pci,id=scsi0 \
    -drive file=/var/lib/xen/images/bare-fs-root.img,format=raw,if=none,id=drive-sda \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda \
    -drive file=/var/lib/xen/images/bare-fs-swap.img,format=raw,if=none,id=drive-sdb \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb \
    -drive file=/var/lib/xen/images/bare-fs-data.img,format=raw,if=none,id=drive-sdc,readonly=on \
    -device scsi-hd,bus=scsi0.0,channel=0,scsi-id=2,lun=0,drive=drive-sdc,id=sdc \
    -netdev bridge,id=net0,br=xenbr0 \
    -device virtio-net-pci,netdev=net0,mac=f2:3c:91:00:aa:01
