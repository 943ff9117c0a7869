"""LocalGuest: confinement of every path inside the guest root, bounded reads, safe writes."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from xen2kvm.errors import (
    GuestFileNotFound,
    GuestFileTooLarge,
    GuestNotAFile,
    GuestPathError,
    GuestReadOnly,
    GuestSymlinkLoop,
)
from xen2kvm.guest import _openat2
from xen2kvm.guest.base import FileKind
from xen2kvm.guest.local import LocalGuest


@pytest.fixture(autouse=True, params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs twice: reads resolved by the kernel (openat2) and by the walk alone."""
    if request.param == "walk":
        monkeypatch.setattr(_openat2, "load", lambda: None)
    elif _openat2.load() is None:
        pytest.skip("openat2(RESOLVE_IN_ROOT) is not usable on this host")
    return str(request.param)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A host file outside the guest whose content must never be read or changed."""
    host = tmp_path / "host"
    host.mkdir()
    f = host / "canary"
    f.write_text("HOST-CANARY-7d1f0c\n")
    return f


@pytest.fixture
def root(tmp_path: Path, canary: Path) -> Path:
    r = tmp_path / "guest"
    (r / "etc").mkdir(parents=True)
    (r / "etc/hostname").write_text("guest\n")
    (r / "etc/shadow-guest").write_text("guest-shadow\n")
    # Absolute symlink to a host path: must resolve inside the guest.
    os.symlink(str(canary), r / "etc/abs-escape")
    os.symlink("../../../../../../" + str(canary).lstrip("/"), r / "etc/rel-escape")
    os.symlink("/etc/hostname", r / "etc/abs-inside")
    os.symlink("loop-b", r / "etc/loop-a")
    os.symlink("loop-a", r / "etc/loop-b")
    os.mkfifo(r / "etc/fifo")
    with open(r / "etc/sparse", "wb") as f:
        f.truncate(2 * 1024**3)
    (r / "boot").mkdir()
    os.symlink(str(canary.parent), r / "hostdir")
    return r


def test_absolute_symlink_is_reanchored_at_guest_root(root: Path, canary: Path) -> None:
    g = LocalGuest(root)
    # The guest has no /tmp/.../host/canary, so the link dangles inside the guest.
    with pytest.raises(GuestFileNotFound):
        g.read_bytes("/etc/abs-escape")
    assert g.read_text("/etc/abs-inside") == "guest\n"
    assert g.realpath("/etc/abs-inside") == "/etc/hostname"


def test_relative_dotdot_stops_at_root(root: Path, canary: Path) -> None:
    g = LocalGuest(root)
    with pytest.raises(GuestFileNotFound):
        g.read_bytes("/etc/rel-escape")
    # If the guest itself has a file at that path, it is the guest's that is read.
    inside = root / str(canary).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_text("guest copy\n")
    assert g.read_text("/etc/rel-escape") == "guest copy\n"
    assert g.read_text("/../../etc/hostname") == "guest\n"


def test_directory_symlink_to_host_is_confined(root: Path, canary: Path) -> None:
    g = LocalGuest(root)
    with pytest.raises(GuestPathError):
        g.read_bytes("/hostdir/canary")
    assert g.try_listdir("/hostdir") == []


def test_symlink_loop_is_an_error(root: Path) -> None:
    g = LocalGuest(root)
    with pytest.raises(GuestSymlinkLoop):
        g.read_bytes("/etc/loop-a")


def test_fifo_is_never_opened(root: Path) -> None:
    g = LocalGuest(root)
    result: list[BaseException] = []

    def read() -> None:
        try:
            g.read_bytes("/etc/fifo")
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=read)
    t.start()
    t.join(10)
    assert not t.is_alive(), "reading a FIFO hung"
    assert isinstance(result[0], GuestNotAFile)
    assert g.lstat("/etc/fifo").kind is FileKind.FIFO


def test_huge_sparse_file_is_refused_without_reading(root: Path) -> None:
    g = LocalGuest(root)
    with pytest.raises(GuestFileTooLarge):
        g.read_bytes("/etc/sparse")
    assert g.stat("/etc/sparse").size == 2 * 1024**3


def test_read_only_guest_refuses_writes(root: Path) -> None:
    g = LocalGuest(root)
    with pytest.raises(GuestReadOnly):
        g.write_bytes("/etc/hostname", b"x")
    assert (root / "etc/hostname").read_text() == "guest\n"


def test_write_through_escaping_symlink_stays_inside(root: Path, canary: Path) -> None:
    before = hashlib.sha256(canary.read_bytes()).hexdigest()
    g = LocalGuest(root, read_only=False)
    # The final component is a symlink: refused rather than followed.
    with pytest.raises(GuestNotAFile):
        g.write_bytes("/etc/abs-escape", b"pwned")
    # A parent that is a symlink to a host dir resolves inside the guest (missing there).
    with pytest.raises(GuestPathError):
        g.write_bytes("/hostdir/canary", b"pwned")
    assert hashlib.sha256(canary.read_bytes()).hexdigest() == before


def test_atomic_write_keeps_mode_and_replaces_content(root: Path) -> None:
    g = LocalGuest(root, read_only=False)
    os.chmod(root / "etc/hostname", 0o600)
    g.write_bytes("/etc/hostname", b"new\n")
    assert (root / "etc/hostname").read_bytes() == b"new\n"
    assert g.stat("/etc/hostname").mode == 0o600
    assert [n for n in os.listdir(root / "etc") if "xen2kvm" in n] == []


def test_symlink_mkdir_remove_roundtrip(root: Path) -> None:
    g = LocalGuest(root, read_only=False)
    g.makedirs("/etc/udev/rules.d")
    g.symlink("/dev/null", "/etc/udev/rules.d/80-net-setup-link.rules")
    assert g.readlink("/etc/udev/rules.d/80-net-setup-link.rules") == "/dev/null"
    assert os.readlink(root / "etc/udev/rules.d/80-net-setup-link.rules") == "/dev/null"
    g.remove("/etc/udev/rules.d/80-net-setup-link.rules")
    assert not g.lexists("/etc/udev/rules.d/80-net-setup-link.rules")
    with pytest.raises(GuestNotAFile):
        g.remove("/etc/udev")


def test_missing_and_non_directory_paths(root: Path, tmp_path: Path) -> None:
    g = LocalGuest(root)
    with pytest.raises(GuestFileNotFound):
        g.read_bytes("/nope/file")
    with pytest.raises(GuestPathError):
        g.read_bytes("/etc/hostname/child")
    assert g.glob("/etc/host*") == ["/etc/hostname"]
    assert g.listdir("/") == ["boot", "etc", "hostdir"]
    assert g.is_dir("/") and g.realpath("/") == "/"


def test_if_exists_forms_say_absent_without_raising(root: Path) -> None:
    g = LocalGuest(root)
    assert g.lstat_if_exists("/nope") is None
    assert g.stat_if_exists("/nope/deeper") is None
    assert g.read_bytes_if_exists("/etc/missing") is None
    assert g.read_bytes_if_exists("/etc/hostname") == b"guest\n"
    assert g.stat_if_exists("/etc/abs-inside").kind is FileKind.FILE
    assert g.lstat_if_exists("/etc/abs-inside").kind is FileKind.SYMLINK
    # Anything but absence still raises.
    with pytest.raises(GuestSymlinkLoop):
        g.stat_if_exists("/etc/loop-a")
    with pytest.raises(GuestNotAFile):
        g.read_bytes_if_exists("/etc/fifo")
    with pytest.raises(GuestFileTooLarge):
        g.read_bytes_if_exists("/etc/sparse")


def test_trailing_slash_does_not_follow_a_final_symlink(root: Path) -> None:
    g = LocalGuest(root)
    # The walk's reading: "/etc/abs-inside/" names the link itself for lstat.
    assert g.lstat("/etc/abs-inside/").kind is FileKind.SYMLINK
    assert g.lstat("/etc/abs-inside/.").kind is FileKind.SYMLINK
    assert g.readlink("etc/abs-inside/") == "/etc/hostname"
