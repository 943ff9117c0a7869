"""kernel and initramfs-drivers checks on a guest tree holding a real Debian kernel's modules.

The module files and metadata are the host's own (Debian's linux-image-amd64, installed by the
project's set-up); the guest's initramfs is a real `cpio -H newc` archive holding only
xen-blkfront, as initramfs-tools builds it on Xen with MODULES=list.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.fixtures.boot import with_boot
from tests.fixtures.tree import build_tree, snapshot

from xen2kvm.cli import main
from xen2kvm.guest.local import LocalGuest
from xen2kvm.initramfs import read_initramfs
from xen2kvm.initramfs.moddep import load_module_index, module_closure

MODULES = [
    "virtio_scsi",
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "sd_mod",
    "ata_piix",
    "ata_generic",
    "e1000",
    "ext4",
    "xen_blkfront",
]


def host_kernel() -> Path:
    for dep in sorted(Path("/lib/modules").glob("*/modules.dep")):
        if (dep.parent / "kernel").is_dir() and Path(f"/boot/config-{dep.parent.name}").exists():
            return dep.parent
    pytest.skip("no installed Debian kernel on this machine (run ./run.sh setup)")


def guest_with_kernel(tmp_path: Path, *, with_virtio: bool = True) -> tuple[Path, str]:
    host = host_kernel()
    version = host.name
    root = build_tree(tmp_path / "guest", with_boot("DEBIAN12"))
    # The fixture's boot configs name 6.1.0-18; point them at the real kernel version.
    for rel in ("boot/grub/grub.cfg", "boot/grub/menu.lst"):
        p = root / rel
        p.write_text(p.read_text().replace("6.1.0-18-amd64", version))
    moddir = root / "lib/modules" / version
    moddir.mkdir(parents=True)
    for name in (
        "modules.dep",
        "modules.builtin",
        "modules.softdep",
        "modules.alias",
        "modules.order",
    ):
        if (host / name).exists():
            shutil.copy(host / name, moddir / name)
    index = load_module_index(LocalGuest(Path("/")), version)
    wanted = MODULES if with_virtio else ["ext4", "xen_blkfront"]
    for mod in module_closure(index, wanted).modules:
        (moddir / mod.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(host / mod.path, moddir / mod.path)
    boot = root / "boot"
    (boot / f"vmlinuz-{version}").write_bytes(b"kernel image placeholder")
    config = Path(f"/boot/config-{version}").read_text()
    if not with_virtio:  # a custom kernel built without virtio
        for opt in ("VIRTIO_PCI", "SCSI_VIRTIO", "VIRTIO_BLK", "VIRTIO_NET", "VIRTIO"):
            config = config.replace(f"CONFIG_{opt}=m", f"# CONFIG_{opt} is not set")
            config = config.replace(f"CONFIG_{opt}=y", f"# CONFIG_{opt} is not set")
    (boot / f"config-{version}").write_text(config)
    # The Xen-built initramfs: initramfs-tools layout, only xen-blkfront (+ ext4 to mount root).
    staging = tmp_path / "initrd"
    (staging / "conf").mkdir(parents=True)
    (staging / "conf/initramfs.conf").write_text("MODULES=list\n")
    (staging / "conf/modules").write_text("xen-blkfront\n")
    (staging / "scripts").mkdir()
    (staging / "scripts/local").write_text("# initramfs-tools local boot script\n")
    xen = module_closure(index, ["xen_blkfront", "ext4"]).modules
    for mod in xen:
        dest = staging / "lib/modules" / version / mod.path.removesuffix(".xz")
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = (host / mod.path).read_bytes()
        if mod.path.endswith(".xz"):
            import lzma

            data = lzma.decompress(data)
        dest.write_bytes(data)
    names = subprocess.run(
        ["find", ".", "-mindepth", "1"], cwd=staging, check=True, capture_output=True, text=True
    ).stdout.split()
    archive = subprocess.run(
        ["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"],
        cwd=staging,
        input=("\n".join(sorted(names)) + "\n").encode(),
        check=True,
        capture_output=True,
    ).stdout
    (boot / f"initrd.img-{version}").write_bytes(gzip.compress(archive, mtime=0))
    etc = root / "etc/initramfs-tools"
    etc.mkdir(parents=True)
    (etc / "initramfs.conf").write_text("MODULES=list\nBUSYBOX=auto\n")
    (etc / "modules").write_text(
        "# List of modules to include in the initramfs\nxen-blkfront\nxen-netfront\n"
    )
    return root, version


@pytest.mark.parametrize("mode", ["paravirt", "fullvirt"])
def test_initramfs_gets_the_mode_drivers_and_rollback_restores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    root, version = guest_with_kernel(tmp_path)
    original = snapshot(root)
    main(["inspect", str(root), "--mode", mode, "--json"])
    doc = json.loads(capsys.readouterr().out)
    checks = {f["check"] for f in doc["guests"][0]["findings"]}
    assert "initramfs-drivers" in checks

    assert main(["convert", str(root), "--mode", mode, "--quiet"]) == 0
    capsys.readouterr()
    initrd = (root / f"boot/initrd.img-{version}").read_bytes()
    combined = read_initramfs(initrd)
    need = {"virtio_scsi", "virtio_pci", "sd_mod"} if mode == "paravirt" else {"ata_piix", "sd_mod"}
    assert need <= combined.modules
    assert "xen_blkfront" in combined.modules  # nothing removed from the original archive
    early = combined.read("/conf/modules").decode().split()
    assert "xen-blkfront" in early and (need & {m.replace("-", "_") for m in early})
    modules_file = (root / "etc/initramfs-tools/modules").read_text()
    assert "xen-blkfront" not in modules_file and "sd_mod" in modules_file

    assert main(["convert", str(root), "--mode", mode, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["guests"][0]["plan"] == []

    assert main(["rollback", str(root)]) == 0
    capsys.readouterr()
    assert snapshot(root) == original


def test_kernel_without_virtio_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _version = guest_with_kernel(tmp_path, with_virtio=False)
    original = snapshot(root)
    assert main(["convert", str(root), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "This isn't a KVM kernel" in err and "virtio" in err
    assert snapshot(root) == original
