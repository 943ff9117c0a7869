"""Kernel boot specs read from the built guests' images (no boot): what `--boot kernel` boots."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.guestbuilder import BuiltGuest

from xen2kvm.cli.verify import kernel_boot_spec

pytestmark = [pytest.mark.image]


def test_reference_boots_its_menu_lst_entry(reference_guest: BuiltGuest, tmp_path: Path) -> None:
    spec = kernel_boot_spec(reference_guest.disks, "paravirt", tmp_path, None)
    assert spec.source == "/boot/grub/menu.lst"
    assert spec.cmdline == "root=/dev/xvda ro console=hvc0"
    # the files copied out of the image are the guest's own kernel and initrd
    assert Path(spec.kernel).read_bytes() == Path(reference_guest.kernel).read_bytes()
    assert spec.initrd is not None
    assert Path(spec.initrd).read_bytes() == Path(reference_guest.initrd).read_bytes()


def test_partitioned_boots_its_grub_cfg_entry(
    partitioned_guest: BuiltGuest, tmp_path: Path
) -> None:
    spec = kernel_boot_spec(partitioned_guest.disks, "fullvirt", tmp_path, "root=/dev/sda1")
    assert spec.source.startswith("/boot/grub/grub.cfg")
    assert spec.cmdline == "root=/dev/sda1"
    assert Path(spec.kernel).read_bytes() == Path(partitioned_guest.kernel).read_bytes()


@pytest.mark.parametrize("variant", ["reference", "partitioned", "dracut", "sysvinit"])
def test_built_guests_are_xen_style(variant: str) -> None:
    """What the builder promises about every variant, read back from its own record."""
    from tests.guests import get_guest

    g = get_guest(variant)
    assert "console=hvc0" in g.cmdline
    assert g.cmdline.startswith("root=/dev/xvda1" if g.layout == "mbr" else "root=/dev/xvda ")
    mods = set(g.initramfs_modules)
    assert {"xen-blkfront", "xen-netfront"} <= mods
    # built on Xen: nothing that would find the disk or NIC under KVM
    assert not mods & {"virtio_scsi", "virtio_blk", "virtio_pci", "virtio_net", "sd_mod",
                       "ata_piix", "ata_generic", "e1000"}
    assert [Path(d).name for d in g.disks][1] == "swap.img"
