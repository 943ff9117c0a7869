#  -*- mode: python; -*-
"""xend-era domain config (Python syntax: tuples, True, a docstring)."""
kernel = "/boot/vmlinuz-2.6.18-xen"
ramdisk = "/boot/initrd-2.6.18-xen.img"
memory = 384
name = "centos5"
vcpus = 1
disk = ('file:/var/lib/xen/images/centos5.img,xvda,w',
        'phy:/dev/VolGroup00/centos5-swap,xvdb,w',)
vif = ['mac=00:16:3e:c5:c5:05, bridge=xenbr0']
root = "/dev/xvda1 ro"
extra = "console=xvc0 xencons=xvc"
on_reboot = 'restart'
on_crash = 'restart'
localtime = False
