"""Build real Xen-style Debian 12 guests (as on Linode's old Xen) for tests and the demo.

The guests come from Debian packages (debootstrap from the host's configured Debian mirror)
and are configured like a Xen PV guest: the root disk is an unpartitioned ext4 filesystem for
xvda, swap on xvdb, pv-grub's ``/boot/grub/menu.lst`` with ``root=/dev/xvda console=hvc0``,
a getty on hvc0 only, ifupdown DHCP on eth0 and an initramfs that only carries the Xen PV
drivers. Variants change one thing each (partitioned disk with GRUB 2 in the MBR, dracut,
sysvinit).

Building needs root (debootstrap and chroot); the images are made without mounting anything
(``mkfs.ext4 -d``). Results are cached under ``$XEN2KVM_CACHE`` (default ``<repo>/cache/guests``)
keyed by a hash of the recipe and of this builder's source, so a rebuild takes seconds; the
debootstrap tree is cached too (a tarball) so that variants share it.

Running the guest's own tools inside the build chroot (update-initramfs, dracut, grub-mkimage,
chpasswd) is fine here: this builds a test fixture. The tool xen2kvm itself never runs guest
binaries.
"""

from tools.guestbuilder.build import (
    VARIANTS,
    BuiltGuest,
    build_guest,
    cache_dir,
    cached_guest,
)

__all__ = ["VARIANTS", "BuiltGuest", "build_guest", "cache_dir", "cached_guest"]
