"""The component-by-component resolver shared by the libguestfs and composite fuse2fs backends."""

from __future__ import annotations

import stat

import pytest

from xen2kvm.errors import GuestFileNotFound, GuestPathError, GuestSymlinkLoop
from xen2kvm.guest._walk import resolve

# path -> (mode, symlink target)
FS: dict[str, tuple[int, str]] = {
    "/": (stat.S_IFDIR, ""),
    "/etc": (stat.S_IFDIR, ""),
    "/etc/hostname": (stat.S_IFREG, ""),
    "/etc/abs": (stat.S_IFLNK, "/etc/hostname"),
    "/etc/host-escape": (stat.S_IFLNK, "/../../../../etc/hostname"),
    "/etc/rel": (stat.S_IFLNK, "../etc/./hostname"),
    "/etc/dir-link": (stat.S_IFLNK, "/etc"),
    "/etc/loop-a": (stat.S_IFLNK, "loop-b"),
    "/etc/loop-b": (stat.S_IFLNK, "loop-a"),
    "/etc/dangling": (stat.S_IFLNK, "/nowhere/at/all"),
}


def _resolve(path: str, follow_last: bool = True) -> tuple[str, tuple[int, str] | None]:
    calls: list[str] = []

    def lstat(p: str) -> tuple[int, str] | None:
        calls.append(p)
        parent = p.rsplit("/", 1)[0] or "/"
        # The resolver only asks about names in resolved, existing directories.
        assert stat.S_ISDIR(FS[parent][0]), p
        return FS.get(p)

    return resolve(
        path,
        follow_last=follow_last,
        lstat=lstat,
        mode_of=lambda st: st[0],
        readlink=lambda p: FS[p][1],
    )


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/etc/abs", "/etc/hostname"),
        ("/etc/host-escape", "/etc/hostname"),  # ".." stops at the guest root
        ("/etc/rel", "/etc/hostname"),
        ("/etc/dir-link/dir-link/hostname", "/etc/hostname"),
        ("etc//./hostname", "/etc/hostname"),
        ("/../..", "/"),
        ("/etc/dir-link/..", "/"),  # ".." applies to the resolved path, as the kernel does
    ],
)
def test_resolves_inside_the_guest(path: str, want: str) -> None:
    resolved, st = _resolve(path)
    assert resolved == want and st is not None


def test_final_symlink_kept_without_follow() -> None:
    resolved, st = _resolve("/etc/dir-link/abs", follow_last=False)
    assert resolved == "/etc/abs" and st is not None and stat.S_ISLNK(st[0])


def test_missing_and_broken() -> None:
    assert _resolve("/etc/new-file") == ("/etc/new-file", None)
    with pytest.raises(GuestFileNotFound):
        _resolve("/etc/dangling")  # its target's parent /nowhere is missing
    with pytest.raises(GuestFileNotFound):
        _resolve("/nowhere/x")
    with pytest.raises(GuestSymlinkLoop):
        _resolve("/etc/loop-a")
    with pytest.raises(GuestPathError, match="not a directory"):
        _resolve("/etc/hostname/x")
    with pytest.raises(GuestPathError, match="invalid"):
        _resolve("/etc/\0")
