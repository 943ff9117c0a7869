"""MemoGuest: repeated reads are answered once; any write through it forgets everything."""

from __future__ import annotations

import pytest

from xen2kvm.errors import GuestFileNotFound, GuestFileTooLarge, GuestSymlinkLoop
from xen2kvm.guest.memo import MemoGuest
from xen2kvm.guest.memory import MemoryGuest, Symlink


class Counting(MemoryGuest):
    def __init__(self, tree: dict[str, object]) -> None:
        super().__init__(tree)  # type: ignore[arg-type]
        self.calls: list[tuple[str, str]] = []

    def read_bytes(self, path: str, *, limit: int = 4 * 1024 * 1024) -> bytes:
        self.calls.append(("read", path))
        return super().read_bytes(path, limit=limit)

    def lstat(self, path: str):  # type: ignore[no-untyped-def]
        self.calls.append(("lstat", path))
        return super().lstat(path)


def test_repeated_reads_reach_the_guest_once() -> None:
    inner = Counting(
        {"/etc/fstab": "/dev/xvda / ext4 defaults 0 1\n", "/etc/mtab": Symlink("/proc/mounts")}
    )
    view = MemoGuest(inner)
    for _ in range(3):
        assert view.read_text("/etc/fstab").startswith("/dev/xvda")
        assert view.try_lstat("/etc/nothing") is None
    assert inner.calls.count(("read", "/etc/fstab")) == 1
    assert inner.calls.count(("lstat", "/etc/nothing")) == 1


def test_errors_are_remembered_and_raised_again() -> None:
    view = MemoGuest(Counting({"/etc/big": "x" * 100}))
    for _ in range(2):
        with pytest.raises(GuestFileNotFound):
            view.read_bytes("/etc/absent")
    with pytest.raises(GuestFileTooLarge):
        view.read_bytes("/etc/big", limit=10)
    assert view.read_bytes("/etc/big", limit=1000) == b"x" * 100  # the limit is part of the key


def test_a_write_forgets_what_was_read() -> None:
    inner = Counting({"/etc/hostname": "xen\n"})
    view = MemoGuest(inner)
    assert view.read_text("/etc/hostname") == "xen\n"
    view.write_bytes("/etc/hostname", b"kvm\n")
    assert view.read_text("/etc/hostname") == "kvm\n"
    assert inner.read_text("/etc/hostname") == "kvm\n"
    view.remove("/etc/hostname")
    assert not view.exists("/etc/hostname")


def test_listdir_results_cannot_be_changed_by_callers() -> None:
    view = MemoGuest(MemoryGuest({"/etc/a": "", "/etc/b": ""}))
    view.listdir("/etc").append("evil")
    assert view.listdir("/etc") == ["a", "b"]


def test_absence_is_one_question_whichever_way_it_is_asked() -> None:
    inner = Counting({"/etc/hostname": "guest\n"})
    view = MemoGuest(inner)
    assert view.try_lstat("/etc/nothing") is None
    assert view.lstat_if_exists("/etc/nothing") is None
    assert not view.lexists("/etc/nothing")
    with pytest.raises(GuestFileNotFound):
        view.lstat("/etc/nothing")
    assert inner.calls.count(("lstat", "/etc/nothing")) == 1
    assert view.read_bytes_if_exists("/etc/nothing") is None
    assert view.read_bytes_if_exists("/etc/hostname") == b"guest\n"
    with pytest.raises(GuestFileNotFound):
        view.read_bytes("/etc/nothing")
    assert inner.calls.count(("read", "/etc/nothing")) == 1


def test_if_exists_forms_still_raise_other_problems() -> None:
    view = MemoGuest(Counting({"/etc/big": "x" * 100, "/etc/loop": Symlink("/etc/loop")}))
    for _ in range(2):
        with pytest.raises(GuestFileTooLarge):
            view.read_bytes_if_exists("/etc/big", limit=10)
        with pytest.raises(GuestSymlinkLoop):
            view.stat_if_exists("/etc/loop")
        assert view.try_stat("/etc/loop") is None
        assert view.lexists("/etc/loop") and not view.exists("/etc/loop")
