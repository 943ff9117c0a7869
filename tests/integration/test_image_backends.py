"""The disk-image backends on real images: fuse2fs and libguestfs, against virt-inspector.

Images are built once per module (tests/images.py). Appliance launches cost tens of seconds
under TCG, so each libguestfs guest is opened once, and virt-inspector runs in a background
thread while the tests use the appliance of their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from defusedxml import ElementTree
from tests.images import (
    FIFO,
    File,
    Part,
    Sparse,
    Symlink,
    Tree,
    debian_tree,
    debugfs_cat,
    make_ext4,
    make_lvm,
    make_partitioned,
    make_qcow2,
)

from xen2kvm.errors import (
    GuestError,
    GuestFileNotFound,
    GuestFileTooLarge,
    GuestNotAFile,
    GuestPathError,
    GuestReadOnly,
    GuestSymlinkLoop,
)
from xen2kvm.guest import open_guest
from xen2kvm.guest.base import FileKind, Guest
from xen2kvm.guest.fuse import BackendUnsuitable, Fuse2fsGuest
from xen2kvm.guest.gfs import GuestfsGuest
from xen2kvm.guest.image import open_images, probe_disks

pytestmark = [pytest.mark.image, pytest.mark.slow]

U_ROOT = "7c1e4b0a-0000-4000-8000-000000000001"
U_SWAP = "7c1e4b0a-0000-4000-8000-000000000002"
U_HOME = "7c1e4b0a-0000-4000-8000-000000000003"
U_BOOT = "7c1e4b0a-0000-4000-8000-000000000004"

HOME_TREE: Tree = {"/user/notes": "notes kept in /home\n", "/user/.profile": "PATH=/bin\n"}
BOOT_TREE: Tree = {"/grub/grub.cfg": "set default=0\n", "/config-6.1.0-18-amd64": "CONFIG_X=y\n"}
COMMON: Tree = {
    "/etc/motd": "hello from the guest\n",
    "/etc/secret": File("only root\n", 0o600),
    "/etc/notes-link": Symlink("/home/user/notes"),  # crosses into the /home filesystem
    "/etc/rel-link": Symlink("../etc/motd"),
    "/usr/share/big.bin": bytes(range(256)) * 24_000,  # ~6 MB: the streamed read path
}


@dataclass
class Layout:
    """One guest's images and what reading it must give."""

    disks: list[Path]
    expect_mounts: dict[str, str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    fuse_ok: bool = True


@dataclass
class Built:
    dir: Path
    layouts: dict[str, Layout]
    canary: Path
    inspector: dict[str, Future[dict[str, object]]]


def _files(extra: dict[str, str | bytes] | None = None) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "/etc/motd": "hello from the guest\n",
        "/etc/secret": "only root\n",
        "/etc/rel-link": "hello from the guest\n",
        "/usr/share/big.bin": bytes(range(256)) * 24_000,
        "/etc/debian_version": "12.5\n",
    }
    files.update(extra or {})
    return files


def _virt_inspector(disks: list[Path]) -> dict[str, object]:
    argv = ["virt-inspector", "--no-applications", "--no-icon"]
    for d in disks:
        fmt = "qcow2" if d.suffix == ".qcow2" else "raw"
        argv += [f"--format={fmt}", "-a", str(d)]
    env = {**os.environ, "LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
    out = subprocess.run(argv, capture_output=True, check=True, env=env, timeout=900).stdout
    os_el = ElementTree.fromstring(out).find("operatingsystem")
    assert os_el is not None, out
    mounts = {m.text: m.get("dev") for m in os_el.iter("mountpoint")}
    return {
        "root": os_el.findtext("root"),
        "distro": os_el.findtext("distro"),
        "major": int(os_el.findtext("major_version") or -1),
        "minor": int(os_el.findtext("minor_version") or -1),
        "product": os_el.findtext("product_name"),
        "mountpoints": mounts,
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    for tool in ("mkfs.ext4", "sfdisk", "fuse2fs", "qemu-img", "virt-inspector", "debugfs"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    d = tmp_path_factory.mktemp("images")
    canary = d / "host-canary"
    canary.write_text("HOST-CANARY-5e2b91\n")
    layouts: dict[str, Layout] = {}

    # Linode's Xen layout: the whole disk is the root filesystem, named /dev/xvda in fstab.
    bare = make_ext4(
        debian_tree(
            fstab="/dev/xvda / ext4 errors=remount-ro 0 1\n/dev/xvdb none swap sw 0 0\n",
            hostname="linode1",
            extra=COMMON,
        ),
        d / "bare.img",
        size_mb=40,
        uuid=U_ROOT,
    )
    layouts["bare"] = Layout([bare], {"/": "/dev/sda"}, _files())

    mbr_fstab = (
        f"UUID={U_ROOT} / ext4 errors=remount-ro 0 1\n"
        f"UUID={U_HOME} /home ext4 defaults 0 2\n"
        "/dev/sda2 none swap sw 0 0\n"
        "proc /proc proc defaults 0 0\n"
    )
    make_partitioned(
        d / "mbr.img",
        [
            Part(40, debian_tree(fstab=mbr_fstab, extra=COMMON), uuid=U_ROOT),
            Part(8, kind="swap", uuid=U_SWAP),
            Part(12, HOME_TREE, uuid=U_HOME),
        ],
    )
    home_files = {
        "/etc/notes-link": "notes kept in /home\n",
        "/home/user/notes": "notes kept in /home\n",
    }
    layouts["mbr"] = Layout(
        [d / "mbr.img"], {"/": "/dev/sda1", "/home": "/dev/sda3"}, _files(home_files)
    )

    gpt_fstab = "LABEL=gptroot / ext4 defaults 0 1\nLABEL=boot /boot ext4 defaults 0 2\n"
    make_partitioned(
        d / "gpt.img",
        [
            Part(1, kind="bios"),
            Part(12, BOOT_TREE, label="boot", uuid=U_BOOT),
            Part(40, debian_tree(fstab=gpt_fstab, extra=COMMON), label="gptroot"),
        ],
        table="gpt",
    )
    make_qcow2(d / "gpt.img", d / "gpt.qcow2")
    boot_files = {"/boot/grub/grub.cfg": "set default=0\n"}
    gpt_mounts = {"/": "/dev/sda3", "/boot": "/dev/sda2"}
    layouts["gpt"] = Layout([d / "gpt.img"], gpt_mounts, _files(boot_files))
    layouts["gpt-qcow2"] = Layout([d / "gpt.qcow2"], gpt_mounts, _files(boot_files))

    two_fstab = (
        "/dev/xvda / ext4 errors=remount-ro 0 1\n"
        f"UUID={U_HOME} /home ext4 defaults 0 2\n"
        "/dev/xvdb2 none swap sw 0 0\n"
    )
    make_ext4(debian_tree(fstab=two_fstab, extra=COMMON), d / "two-a.img", size_mb=40)
    make_partitioned(d / "two-b.img", [Part(12, HOME_TREE, uuid=U_HOME), Part(8, kind="swap")])
    layouts["two-disks"] = Layout(
        [d / "two-a.img", d / "two-b.img"],
        {"/": "/dev/sda", "/home": "/dev/sdb1"},
        _files(home_files),
    )

    lvm_fstab = f"/dev/mapper/vg0-root / ext4 defaults 0 1\nUUID={U_BOOT} /boot ext4 defaults 0 2\n"
    make_lvm(
        d / "lvm.img",
        debian_tree(fstab=lvm_fstab, extra=COMMON),
        boot_tree=BOOT_TREE,
        boot_uuid=U_BOOT,
    )
    layouts["lvm"] = Layout(
        [d / "lvm.img"],
        {"/": "/dev/vg0/root", "/boot": "/dev/sda1"},
        _files(boot_files),
        fuse_ok=False,
    )

    pool = ThreadPoolExecutor(max_workers=1)
    inspector = {
        name: pool.submit(_virt_inspector, layouts[name].disks)
        for name in ("bare", "mbr", "two-disks", "lvm")
    }
    yield Built(d, layouts, canary, inspector)
    pool.shutdown(wait=True, cancel_futures=True)


def _answer(fn: Callable[[], object]) -> object:
    """A call's result, or the class of the error it raised (so errors compare too)."""
    try:
        return fn()
    except GuestPathError as exc:
        return type(exc).__name__


def _snapshot(g: Guest, files: dict[str, str | bytes]) -> dict[str, object]:
    """Everything a backend answers about a guest, in comparable form."""
    snap: dict[str, object] = {}
    for path in files:
        snap[f"read {path}"] = g.read_bytes(path, limit=16 * 1024 * 1024)
        st = g.stat(path)
        snap[f"stat {path}"] = (st.kind, st.size, st.mode, st.uid, st.gid)
    for path in ("/", "/etc", "/home", "/boot", "/home/user", "/etc/motd", "/nonexistent"):
        snap[f"ls {path}"] = _answer(lambda p=path: g.listdir(p))
    for path in ("/etc/notes-link", "/etc/rel-link", "/etc/motd", "/etc/../../etc/motd"):
        snap[f"lstat {path}"] = _answer(lambda p=path: g.lstat(p).kind)
        snap[f"readlink {path}"] = _answer(lambda p=path: g.readlink(p))
        snap[f"realpath {path}"] = _answer(lambda p=path: g.realpath(p))
    snap["glob"] = g.glob("/etc/*-link")
    return snap


def _check_expected(g: Guest, layout: Layout) -> dict[str, object]:
    for path, want in layout.files.items():
        data = g.read_bytes(path, limit=16 * 1024 * 1024)
        assert data == (want.encode() if isinstance(want, str) else want), path
    assert g.stat("/etc/secret").mode == 0o600
    assert g.lstat("/etc/rel-link").kind is FileKind.SYMLINK
    assert g.readlink("/etc/notes-link") == "/home/user/notes"
    with pytest.raises(GuestFileTooLarge):
        g.read_bytes("/usr/share/big.bin", limit=1000)
    return _snapshot(g, layout.files)


@pytest.mark.parametrize("name", ["bare", "mbr", "gpt", "gpt-qcow2", "two-disks"])
def test_fuse2fs_reads_every_layout(built: Built, name: str) -> None:
    layout = built.layouts[name]
    with open_images(layout.disks, read_only=True, backend="auto") as g:
        assert isinstance(g, Fuse2fsGuest)
        assert dict(g.inspection.mountpoints) == layout.expect_mounts
        _check_expected(g, layout)
        mount_dir = str(g.root)
        assert mount_dir in Path("/proc/mounts").read_text()
    assert mount_dir not in Path("/proc/mounts").read_text()  # unmounted on close
    assert not g.root.exists()


def test_lvm_is_not_for_fuse2fs(built: Built) -> None:
    disks = probe_disks(built.layouts["lvm"].disks, read_only=True)
    with pytest.raises(BackendUnsuitable, match="LVM2_member"):
        Fuse2fsGuest(disks)
    with pytest.raises(GuestError, match="fuse2fs cannot read"):
        open_images(built.layouts["lvm"].disks, read_only=True, backend="fuse2fs")


def _compare_with_inspector(built: Built, name: str, g: GuestfsGuest) -> None:
    want = built.inspector[name].result()
    insp = g.inspection
    assert (insp.distro, insp.major_version, insp.minor_version) == (
        want["distro"], want["major"], want["minor"],
    )  # fmt: skip
    assert (insp.distro, insp.major_version, insp.minor_version) == ("debian", 12, 5)
    assert insp.product_name == want["product"]
    assert insp.root == want["root"]
    assert dict(insp.mountpoints) == want["mountpoints"] == built.layouts[name].expect_mounts


@pytest.mark.parametrize("name", ["bare", "mbr", "gpt-qcow2", "lvm"])
def test_libguestfs_matches_fuse2fs_and_virt_inspector(built: Built, name: str) -> None:
    layout = built.layouts[name]
    with open_images(layout.disks, read_only=True, backend="libguestfs") as g:
        assert isinstance(g, GuestfsGuest)
        gfs_snap = _check_expected(g, layout)
        if name in built.inspector:
            _compare_with_inspector(built, name, g)
        else:
            assert dict(g.inspection.mountpoints) == layout.expect_mounts
        with pytest.raises(GuestReadOnly):
            g.write_bytes("/etc/motd", b"x")
    if layout.fuse_ok:
        with open_images(layout.disks, read_only=True, backend="fuse2fs") as f:
            assert _snapshot(f, layout.files) == gfs_snap


def test_two_disks_libguestfs_rw_writes_reach_the_images(built: Built) -> None:
    """Root on one disk, /home on the other (by UUID); writes through the appliance."""
    layout = built.layouts["two-disks"]
    copies = []
    for disk in layout.disks:
        copies.append(built.dir / f"rw-gfs-{disk.name}")
        shutil.copyfile(disk, copies[-1])
    with open_images(layout.disks, read_only=True, backend="fuse2fs") as f:
        fuse_snap = _snapshot(f, layout.files)
    with open_images(copies, read_only=False, backend="libguestfs") as g:
        assert isinstance(g, GuestfsGuest)
        assert _check_expected(g, layout) == fuse_snap
        _compare_with_inspector(built, "two-disks", g)
        _write_some(g)
    _check_written(copies[0], copies[1], home_offset=1024 * 1024)


def _write_some(g: Guest) -> None:
    g.write_bytes("/etc/motd", b"rewritten motd\n")
    g.write_bytes("/etc/new.conf", b"key=value\n", mode=0o600, uid=1000, gid=1000)
    g.write_bytes("/home/user/notes", b"edited on the other disk\n")
    g.symlink("/etc/new.conf", "/etc/new-link")
    g.mkdir("/var/newdir", 0o750)
    g.chmod("/etc/rel-link", 0o640)  # follows the link: changes /etc/motd
    g.chown("/etc/notes-link", 7, 8)  # the link itself
    g.remove("/etc/hostname")
    g.setxattrs("/etc/new.conf", {"user.origin": b"xen2kvm"})
    assert g.getxattrs("/etc/new.conf") == {"user.origin": b"xen2kvm"}
    with pytest.raises(GuestNotAFile):
        g.write_bytes("/etc/notes-link", b"no")  # never through a final symlink
    g.sync()
    assert g.read_text("/etc/new-link") == "key=value\n"


def _debugfs(image: Path, cmd: str) -> str:
    return subprocess.run(
        ["debugfs", "-R", cmd, str(image)], capture_output=True, text=True, check=True
    ).stdout


def _check_written(root_img: Path, home_img: Path, *, home_offset: int) -> None:
    home = Path(f"{home_img}?offset={home_offset}")
    assert debugfs_cat(root_img, "/etc/motd") == b"rewritten motd\n"
    assert debugfs_cat(root_img, "/etc/new.conf") == b"key=value\n"
    assert debugfs_cat(home, "/user/notes") == b"edited on the other disk\n"
    conf = _debugfs(root_img, "stat /etc/new.conf")
    assert "Mode:  0600" in conf and "User:  1000" in conf and "Group:  1000" in conf
    assert "Mode:  0640" in _debugfs(root_img, "stat /etc/motd")
    assert "User:     7   Group:     8" in _debugfs(root_img, "stat /etc/notes-link")
    assert 'Fast link dest: "/etc/new.conf"' in _debugfs(root_img, "stat /etc/new-link")
    assert "Type: directory" in _debugfs(root_img, "stat /var/newdir")
    assert "hostname" not in _debugfs(root_img, "ls /etc")
    assert ".xen2kvm-" not in _debugfs(root_img, "ls /etc")  # no temp file left behind


def test_fuse2fs_rw_writes_reach_the_images(built: Built) -> None:
    copy = built.dir / "rw-fuse-mbr.img"
    shutil.copyfile(built.layouts["mbr"].disks[0], copy)
    with open_images([copy], read_only=False, backend="auto") as g:
        assert isinstance(g, Fuse2fsGuest) and not g.read_only
        _write_some(g)
    _check_written(
        Path(f"{copy}?offset={1024 * 1024}"), copy, home_offset=(1 + 40 + 8) * 1024 * 1024
    )


def test_fuse2fs_rw_qcow2_writes_reach_the_image(built: Built) -> None:
    copy = built.dir / "rw-fuse-gpt.qcow2"
    shutil.copyfile(built.layouts["gpt-qcow2"].disks[0], copy)
    with open_images([copy], read_only=False) as g:
        assert isinstance(g, Fuse2fsGuest)
        g.write_bytes("/boot/grub/grub.cfg", b"set default=1\n")
    raw = built.dir / "rw-fuse-gpt.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(copy), str(raw)], check=True)
    assert debugfs_cat(Path(f"{raw}?offset={2 * 1024 * 1024}"), "/grub/grub.cfg") == (
        b"set default=1\n"
    )


# --- hostile guests --------------------------------------------------------------------------


def _hostile(built: Built, variant: str) -> Path:
    fstab = {
        "fifo": FIFO,
        "sparse": Sparse(2 * 1024**3),
        "symlink": Symlink(str(built.canary)),
    }[variant]
    out = built.dir / f"hostile-{variant}.img"
    if not out.exists():
        tree = debian_tree(
            fstab=fstab,
            extra={
                "/boot": Symlink(str(built.canary.parent)),
                "/etc/loop-a": Symlink("loop-b"),
                "/etc/loop-b": Symlink("loop-a"),
                "/etc/escape": Symlink("../../../../.." + str(built.canary)),
                "/etc/motd": "hostile guest\n",
            },
        )
        make_ext4(tree, out, size_mb=16)
    return out


def _read_everything(g: Guest) -> list[bytes]:
    """Read every file reachable from the guest root, as an inspection might."""
    seen: list[bytes] = []
    stack = ["/"]
    while stack:
        d = stack.pop()
        for name in g.try_listdir(d):
            p = d.rstrip("/") + "/" + name
            st = g.try_stat(p)
            if st is None:
                continue
            if st.kind is FileKind.DIR and not g.is_symlink(p):
                stack.append(p)
            elif st.kind is FileKind.FILE:
                with contextlib.suppress(GuestPathError):
                    seen.append(g.read_bytes(p, limit=64 * 1024))
    return seen


def _check_hostile(built: Built, g: Guest, variant: str) -> None:
    canary = built.canary.read_bytes()
    expected = {
        "fifo": GuestNotAFile,
        "sparse": GuestFileTooLarge,
        "symlink": GuestFileNotFound,  # dangles inside the guest: the host path is not there
    }[variant]
    with pytest.raises(expected):
        g.read_bytes("/etc/fstab")
    assert g.try_read_text("/etc/escape") is None
    with pytest.raises(GuestSymlinkLoop):
        g.read_bytes("/etc/loop-a")
    with pytest.raises(GuestPathError):
        g.listdir("/boot")
    assert g.read_text("/etc/motd") == "hostile guest\n"
    everything = _read_everything(g)
    assert b"hostile guest\n" in everything
    assert not any(canary in data for data in everything)


@pytest.mark.parametrize("variant", ["fifo", "sparse", "symlink"])
def test_hostile_guest_fuse2fs(built: Built, variant: str) -> None:
    with open_images([_hostile(built, variant)], read_only=True) as g:
        assert isinstance(g, Fuse2fsGuest)
        assert g.inspection.warnings  # the unreadable fstab is reported, not fatal
        _check_hostile(built, g, variant)


def test_hostile_guest_libguestfs_no_hang(built: Built) -> None:
    # libguestfs inspection gives up on a FIFO fstab; the backend still finds the root.
    with open_images([_hostile(built, "fifo")], read_only=True, backend="libguestfs") as g:
        assert g.inspection.root == "/dev/sda"  # type: ignore[attr-defined]
        _check_hostile(built, g, "fifo")


# --- bad input -------------------------------------------------------------------------------


def test_corrupt_images_give_one_clear_error(built: Built) -> None:
    rnd = built.dir / "random.img"
    rnd.write_bytes(os.urandom(4 * 1024 * 1024))
    with pytest.raises(GuestError, match="no filesystem or partition table found") as e:
        open_guest([rnd])
    assert str(rnd) in str(e.value) and "\n" not in str(e.value)

    trunc = built.dir / "truncated.qcow2"
    trunc.write_bytes(built.layouts["gpt-qcow2"].disks[0].read_bytes()[: 300 * 1024])
    with pytest.raises(GuestError, match="corrupt qcow2") as e:
        open_guest([trunc])
    assert str(trunc) in str(e.value)

    # A "raw" disk whose first bytes are a qcow2 header pointing at a host file.
    evil = built.dir / "evil.img"
    subprocess.run(
        ["qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", str(built.canary), str(evil)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(GuestError, match="backing file"):
        open_guest([evil])

    with pytest.raises(GuestError, match="no such file"):
        open_guest([built.dir / "missing.img"])


def test_no_operating_system(built: Built) -> None:
    noos = make_ext4({"/data/file.txt": "just data\n"}, built.dir / "noos.img", size_mb=8)
    with pytest.raises(GuestError, match="no operating system found") as e:
        open_images([noos], read_only=True, backend="auto")
    assert str(noos) in str(e.value)
    with pytest.raises(GuestError, match="no operating system found"):
        open_images([noos], read_only=True, backend="libguestfs")


def test_read_only_image_file_cannot_be_opened_for_writing(built: Built) -> None:
    ro = built.dir / "readonly.img"
    shutil.copyfile(built.layouts["bare"].disks[0], ro)
    ro.chmod(0o444)
    with pytest.raises(GuestReadOnly, match="read-only"):
        open_images([ro], read_only=False)
    with open_images([ro], read_only=True) as g:
        assert g.read_text("/etc/motd") == "hello from the guest\n"
        with pytest.raises(GuestReadOnly):
            g.write_bytes("/etc/motd", b"x")
