"""The initramfs reader on this machine's real Debian initramfs (made by initramfs-tools)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xen2kvm.guest.local import LocalGuest
from xen2kvm.initramfs import Generator, list_initramfs, module_name, read_initramfs
from xen2kvm.initramfs.append import append_keep, build_initramfs_append
from xen2kvm.initramfs.moddep import load_module_index, module_closure


def _real_initrd() -> Path:
    found = sorted(Path("/boot").glob("initrd.img-*"))
    if not found:
        pytest.skip(
            "no /boot/initrd.img-* here: install linux-image-amd64 (tools/debian-packages.txt)"
        )
    return found[-1]


def test_real_debian_initramfs() -> None:
    path = _real_initrd()
    version = path.name.removeprefix("initrd.img-")
    r = read_initramfs(path.read_bytes(), keep=append_keep, source=str(path))
    assert r.generator is Generator.INITRAMFS_TOOLS
    assert version in r.kernel_versions
    # Debian builds ext4 as a module; initramfs-tools always carries the root fs module.
    assert {"ext4", "jbd2", "mbcache"} <= r.modules
    # The initramfs's own modules.dep agrees with the module files we found in it.
    dep = r.read(f"/lib/modules/{version}/modules.dep").decode()
    listed = {
        line.split(":")[0].rsplit("/", 1)[-1].split(".ko")[0].replace("-", "_")
        for line in dep.splitlines()
        if line
    }
    assert listed == set(r.modules)
    assert r.uncompressed_size > r.size


def test_member_list_matches_lsinitramfs() -> None:
    path = _real_initrd()
    if shutil.which("lsinitramfs") is None:
        pytest.skip("lsinitramfs (initramfs-tools-core) is not installed")
    theirs = subprocess.run(
        ["lsinitramfs", str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ours = list_initramfs(path.read_bytes())
    mine = {"." if m.path == "/" else m.path.lstrip("/") for m in ours.members}
    assert mine == set(theirs)


def test_append_to_real_initramfs_with_host_modules(tmp_path: Path) -> None:
    """On the real image, modules it already has are not added again; a module it lacks is,
    with its dependencies from the real modules.dep, readable by the real modprobe."""
    path = _real_initrd()
    version = path.name.removeprefix("initrd.img-")
    host = LocalGuest(Path("/"))
    index = load_module_index(host, version)
    if not index.modules:
        pytest.skip(f"no /lib/modules/{version}/modules.dep")
    image = path.read_bytes()
    existing = read_initramfs(image, keep=append_keep)
    absent = [
        n
        for n in ("8139cp", "virtio_input", "e1000e", "vmw_pvscsi")
        if n in index.modules and n not in existing.modules
    ]
    if not absent:
        pytest.skip("the real initramfs already has every candidate module")
    want = absent[:1]
    result = build_initramfs_append(host, version, existing, ["ext4", *want])
    s = result.summary
    assert "ext4" in s.already_present
    assert s.added_modules[-1] == want[0]
    closure = module_closure(index, want)
    assert set(s.added_modules) == {m.name for m in closure.modules} - existing.modules
    combined = read_initramfs(image + result.data)
    assert set(existing.modules) | set(s.added_modules) == set(combined.modules)
    lib = combined.member("/lib")
    assert lib is not None and lib.kind == "symlink"  # usrmerge kept
    if shutil.which("modprobe") is None:
        return
    # Unpack what the kernel would end up with (module dirs only) and ask real kmod.
    moddir = combined.resolve(f"/lib/modules/{version}")
    root = tmp_path / "root"
    target = root / "lib/modules" / version
    for p, m in combined.final().items():
        if p.startswith(moddir + "/") and m.kind == "file":
            dest = target / p[len(moddir) + 1 :]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(combined.read(p))
    for name in ("ext4", want[0]):
        out = subprocess.run(
            ["modprobe", "-d", str(root), "-S", version, "--show-depends", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        last = out.strip().splitlines()[-1].split()
        assert last[0] == "insmod"
        assert Path(last[1]).exists()
        assert module_name(last[1]) == name
