"""Kernel facts on guest fixtures (MemoryGuest) and on a real module tree (LocalGuest)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from xen2kvm.facts.kernels import (
    gather_generator_config,
    gather_kernels,
    parse_kernel_config,
)
from xen2kvm.guest.base import FileKind
from xen2kvm.guest.memory import MemoryGuest, Special, Symlink
from xen2kvm.initramfs import Compression, Generator, NewcEntry, write_newc
from xen2kvm.initramfs.compression import compress

DEB = "6.1.0-9-amd64"
DEB_DEP = (
    "kernel/drivers/scsi/virtio_scsi.ko: kernel/drivers/scsi/scsi_mod.ko\n"
    "kernel/drivers/scsi/scsi_mod.ko:\n"
    "kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_mod.ko\n"
    "kernel/drivers/net/virtio_net.ko:\n"
    "kernel/drivers/virtio/virtio_blk.ko:\n"
    "kernel/drivers/ata/ata_piix.ko: kernel/drivers/ata/libata.ko\n"
    "kernel/drivers/ata/libata.ko:\n"
    "kernel/drivers/net/ethernet/intel/e1000/e1000.ko:\n"
)
DEB_BUILTIN = (
    "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/tty/serial/8250/8250.ko\n"
)


def initrd(files: list[NewcEntry]) -> bytes:
    return compress(Compression.GZIP, write_newc(files))


def debian_guest(initrd_bytes: bytes | None = None) -> MemoryGuest:
    return MemoryGuest(
        {
            f"/boot/vmlinuz-{DEB}": b"kernel",
            f"/boot/config-{DEB}": (
                "CONFIG_VIRTIO=y\nCONFIG_SCSI_VIRTIO=m\n# CONFIG_IDE is not set\n"
            ),
            f"/boot/initrd.img-{DEB}": initrd_bytes
            or initrd(
                [
                    NewcEntry("/conf/initramfs.conf", data=b"MODULES=dep\n"),
                    NewcEntry("/scripts/local", data=b""),
                    NewcEntry(f"/lib/modules/{DEB}/kernel/drivers/block/xen-blkfront.ko"),
                ]
            ),
            "/boot/vmlinuz": Symlink(f"vmlinuz-{DEB}"),
            f"/lib/modules/{DEB}/modules.dep": DEB_DEP,
            f"/lib/modules/{DEB}/modules.builtin": DEB_BUILTIN,
            **{
                f"/lib/modules/{DEB}/{line.split(':')[0]}": b"\x7fELF"
                for line in DEB_DEP.splitlines()
                if "ata_piix" not in line
            },
            "/etc/initramfs-tools/initramfs.conf": "MODULES=dep\nCOMPRESS=zstd\n",
            "/etc/initramfs-tools/conf.d/override": "MODULES=list\n",
            "/etc/initramfs-tools/modules": "# comment\nxen-blkfront\nvirtio_scsi  opt=1\n\n",
        }
    )


def test_debian_kernel_drivers_and_initramfs_only_when_asked() -> None:
    g = debian_guest()
    (k,) = gather_kernels(g)
    assert k.version == DEB
    assert k.image == f"/boot/vmlinuz-{DEB}"
    assert k.config == f"/boot/config-{DEB}"
    assert k.initramfs == f"/boot/initrd.img-{DEB}"
    assert k.modules_dir == f"/lib/modules/{DEB}"
    assert k.drivers["virtio"] == "builtin"
    assert k.drivers["virtio_pci"] == "builtin"
    assert k.drivers["8250"] == "builtin"
    assert k.drivers["virtio_scsi"] == "module"
    assert k.drivers["sd_mod"] == "module"
    assert k.drivers["ata_generic"] == "missing"
    assert k.drivers["ata_piix"] == "missing"  # in modules.dep, but its file is gone
    assert k.drivers["ide_core"] == "missing"
    assert k.has("e1000") and not k.builtin("e1000")
    assert k.config_options["SCSI_VIRTIO"] == "m" and k.config_options["IDE"] == "n"
    assert not k.xen_only
    assert k.initramfs_contents is None  # not asked

    (k,) = gather_kernels(g, initramfs_for=[DEB])
    s = k.initramfs_contents
    assert s is not None and s.error is None
    assert s.generator is Generator.INITRAMFS_TOOLS
    assert s.compression is Compression.GZIP
    assert s.modules == {"xen_blkfront"}
    assert gather_kernels(g, initramfs_for=["other"])[0].initramfs_contents is None


def test_corrupt_initramfs_is_a_problem_not_an_exception() -> None:
    g = debian_guest(b"\x1f\x8b" + b"garbage" * 10)
    (k,) = gather_kernels(g, initramfs_for=True)
    assert k.initramfs_contents is not None
    assert k.initramfs_contents.error is not None and "gzip" in k.initramfs_contents.error
    assert any("initramfs" in p for p in k.problems)


def test_hostile_initramfs_fifo() -> None:
    g = debian_guest()
    g2 = MemoryGuest(
        {
            **{p: c for p, c in g.snapshot().items() if c is not None},
            f"/boot/initrd.img-{DEB}": Special(FileKind.FIFO),
        }
    )
    (k,) = gather_kernels(g2, initramfs_for=True)
    # A FIFO is never opened: not an initramfs file at all.
    assert k.initramfs is None and k.initramfs_contents is None


def test_centos5_xenlinux_kernel_is_xen_only() -> None:
    g = MemoryGuest(
        {
            "/boot/vmlinuz-2.6.18-398.el5xen": b"k",
            "/boot/config-2.6.18-398.el5xen": "CONFIG_X86_64_XEN=y\nCONFIG_XEN=y\n",
            "/boot/initrd-2.6.18-398.el5xen.img": b"",
            "/lib/modules/2.6.18-398.el5xen/modules.dep": "",
            "/boot/vmlinuz-2.6.18-398.el5": b"k",
            "/boot/config-2.6.18-398.el5": "CONFIG_VIRTIO_PCI=m\nCONFIG_VIRTIO_BLK=m\n",
            "/lib/modules/2.6.18-398.el5/modules.dep": (
                "/lib/modules/2.6.18-398.el5/kernel/drivers/virtio/virtio_pci.ko:\n"
            ),
            "/lib/modules/2.6.18-398.el5/kernel/drivers/virtio/virtio_pci.ko": b"\x7fELF",
        }
    )
    xen, plain = sorted(gather_kernels(g), key=lambda k: not k.xen_only)
    assert xen.version == "2.6.18-398.el5xen" and xen.xen_only
    assert xen.xen_only_reason is not None and "CONFIG_X86_64_XEN" in xen.xen_only_reason
    assert xen.initramfs == "/boot/initrd-2.6.18-398.el5xen.img"
    assert not plain.xen_only
    # Old modules.dep with absolute paths still names the module.
    assert plain.drivers["virtio_pci"] == "module"


def test_suse_xen_flavour_without_virtio() -> None:
    v = "3.0.101-63-xen"
    g = MemoryGuest(
        {
            f"/boot/vmlinuz-{v}": b"k",
            f"/boot/initrd-{v}": b"",
            f"/lib/modules/{v}/modules.dep": "kernel/drivers/xen/blkfront/xenblk.ko:\n",
            "/etc/sysconfig/kernel": 'INITRD_MODULES="xenblk processor"\nDOMU_INITRD_MODULES=""\n',
        }
    )
    (k,) = gather_kernels(g)
    assert k.xen_only and k.xen_only_reason is not None and "Xen flavour" in k.xen_only_reason
    assert k.initramfs == f"/boot/initrd-{v}"
    # No config, no modules.builtin: built-ins cannot be told apart.
    assert k.drivers["virtio_blk"] == "unknown"
    cfg = gather_generator_config(g)
    assert cfg.suse is not None and cfg.suse.initrd_modules == ["xenblk", "processor"]


def test_arch_pkgbase_kernel() -> None:
    v = "6.9.1-arch1-1"
    g = MemoryGuest(
        {
            "/boot/vmlinuz-linux": b"k",
            "/boot/initramfs-linux.img": b"",
            "/boot/initramfs-linux-fallback.img": b"",
            f"/usr/lib/modules/{v}/pkgbase": "linux\n",
            f"/usr/lib/modules/{v}/modules.dep": "kernel/drivers/block/virtio_blk.ko.zst:\n",
            f"/usr/lib/modules/{v}/modules.builtin": "kernel/drivers/virtio/virtio.ko\n",
            f"/usr/lib/modules/{v}/kernel/drivers/block/virtio_blk.ko.zst": b"(\xb5/\xfd",
            "/etc/mkinitcpio.conf": (
                "MODULES=(ext4 xen-blkfront)\n"
                "HOOKS=(base udev autodetect modconf block filesystems)\n"
            ),
        }
    )
    (k,) = gather_kernels(g)
    assert (k.version, k.pkgbase, k.image) == (v, "linux", "/boot/vmlinuz-linux")
    assert k.initramfs == "/boot/initramfs-linux.img"
    assert k.modules_dir == f"/usr/lib/modules/{v}"
    assert k.drivers["virtio_blk"] == "module" and k.drivers["virtio"] == "builtin"
    cfg = gather_generator_config(g)
    assert cfg.mkinitcpio is not None
    assert cfg.mkinitcpio.modules == ["ext4", "xen-blkfront"]
    assert cfg.mkinitcpio.autodetect


def test_rhel_dracut_config() -> None:
    v = "3.10.0-1160.el7.x86_64"
    g = MemoryGuest(
        {
            f"/boot/vmlinuz-{v}": b"k",
            f"/boot/initramfs-{v}.img": b"",
            f"/boot/initramfs-{v}kdump.img": b"",
            f"/lib/modules/{v}/modules.dep": "",
            "/etc/dracut.conf": 'hostonly="yes"\nadd_drivers+=" xen-blkfront "\n',
            "/etc/dracut.conf.d/10-a.conf": 'add_drivers+=" virtio_scsi "\ndrivers="sd_mod"\n',
            "/usr/lib/dracut/dracut.conf.d/01-dist.conf": 'omit_drivers+=" floppy "\n',
            "/usr/lib/dracut/dracut.conf.d/10-a.conf": 'add_drivers+=" hidden "\n',
        }
    )
    (k,) = gather_kernels(g)
    assert k.initramfs == f"/boot/initramfs-{v}.img"
    d = gather_generator_config(g).dracut
    assert d is not None
    assert d.hostonly is True
    assert d.add_drivers == ["xen-blkfront", "virtio_scsi"]
    assert d.drivers == ["sd_mod"] and d.omit_drivers == ["floppy"]
    assert d.files == [
        "/etc/dracut.conf",
        "/usr/lib/dracut/dracut.conf.d/01-dist.conf",
        "/etc/dracut.conf.d/10-a.conf",
    ]


def test_initramfs_tools_config() -> None:
    it = gather_generator_config(debian_guest()).initramfs_tools
    assert it is not None
    assert it.modules_policy == "list"  # conf.d overrides initramfs.conf
    assert it.modules == ["xen-blkfront", "virtio_scsi"]
    assert it.compress == "zstd"


def test_kernel_config_parser() -> None:
    assert parse_kernel_config('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x"\njunk\n') == {
        "A": "y",
        "B": "n",
        "C": "x",
    }


# --- a real tree: the host's installed kernel's real module metadata and files ----------------


def _host_kernel() -> Path:
    for d in sorted(Path("/lib/modules").glob("*/modules.dep")):
        if (d.parent / "kernel").is_dir():
            return d.parent
    pytest.skip("no installed kernel modules on this machine (linux-image-amd64)")


def test_real_module_tree_with_local_guest(tmp_path: Path) -> None:
    from xen2kvm.guest.local import LocalGuest
    from xen2kvm.initramfs import read_initramfs
    from xen2kvm.initramfs.append import append_keep, build_initramfs_append
    from xen2kvm.initramfs.moddep import load_module_index, module_closure

    host = _host_kernel()
    version = host.name
    root = tmp_path / "guest"
    moddir = root / "lib/modules" / version
    moddir.mkdir(parents=True)
    for name in ("modules.dep", "modules.builtin", "modules.softdep", "modules.alias"):
        if (host / name).exists():
            shutil.copy(host / name, moddir / name)
    host_index = load_module_index(LocalGuest(Path("/")), version)
    needed = module_closure(host_index, ["virtio_scsi", "sd_mod", "ext4"])
    for mod in needed.modules:
        (moddir / mod.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(host / mod.path, moddir / mod.path)
    (root / "boot").mkdir()
    (root / "boot" / f"vmlinuz-{version}").write_bytes(b"not a real image")
    if Path(f"/boot/config-{version}").exists():
        shutil.copy(f"/boot/config-{version}", root / "boot" / f"config-{version}")
    (root / "boot" / f"initrd.img-{version}").write_bytes(
        initrd(
            [
                NewcEntry("/conf/initramfs.conf", data=b"MODULES=dep\n"),
                NewcEntry("/scripts/local", data=b""),
                NewcEntry(f"/lib/modules/{version}/kernel/drivers/block/xen-blkfront.ko"),
            ]
        )
    )

    guest = LocalGuest(root)
    (k,) = gather_kernels(guest, initramfs_for=True)
    assert k.version == version
    assert k.drivers["virtio_scsi"] in ("module", "builtin")
    assert k.drivers["sd_mod"] in ("module", "builtin")
    assert k.drivers["e1000"] in ("missing", "builtin")  # its file was not copied
    assert k.initramfs_contents is not None
    assert k.initramfs_contents.modules == {"xen_blkfront"}

    image = guest.read_bytes(f"/boot/initrd.img-{version}")
    result = build_initramfs_append(
        guest, version, read_initramfs(image, keep=append_keep), ["virtio_scsi", "sd_mod", "ext4"]
    )
    combined = read_initramfs(image + result.data)
    assert {m.name for m in needed.modules} <= combined.modules
    for mod in needed.modules:
        plain = mod.path.removesuffix(".xz").removesuffix(".zst")
        got = combined.read(f"/lib/modules/{version}/{plain}")
        assert got.startswith(b"\x7fELF")
        if mod.path == plain:
            assert got == (host / mod.path).read_bytes()
