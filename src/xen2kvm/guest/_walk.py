"""Resolving a guest path one component at a time, over any lstat/readlink pair.

The same semantics as :class:`~xen2kvm.guest.local.LocalGuest` (which does it with directory
fds instead): absolute symlink targets restart at the guest root, ``..`` is lexical on the
resolved parts and stops at the root, more than :data:`MAX_SYMLINKS` hops is a loop. Used by
backends that cannot hand the kernel a confined path: libguestfs (calls into the appliance)
and the composite of several fuse2fs mounts.
"""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Callable
from typing import TypeVar

from xen2kvm.errors import GuestFileNotFound, GuestPathError, GuestSymlinkLoop

MAX_SYMLINKS = 40

S = TypeVar("S")


def resolve(
    path: str,
    *,
    follow_last: bool,
    lstat: Callable[[str], S | None],
    mode_of: Callable[[S], int],
    readlink: Callable[[str], str],
) -> tuple[str, S | None]:
    """The symlink-free guest path of ``path`` and its lstat result (None: last part missing).

    ``lstat(p)`` is only ever called with ``p`` whose parent is a resolved, symlink-free
    directory; ``readlink(p)`` only on a symlink found that way.
    """
    if not isinstance(path, str) or "\0" in path:
        raise GuestPathError(repr(path), "invalid path")
    pending = [c for c in path.split("/") if c not in ("", ".")]
    pending.reverse()  # a stack: pop() gives the next component
    parts: list[str] = []
    hops = 0
    while pending:
        comp = pending.pop()
        if comp == "..":
            if parts:
                parts.pop()
            continue
        is_last = not pending
        cur = "/" + "/".join([*parts, comp])
        st = lstat(cur)
        if st is None:
            if is_last:
                return cur, None
            raise GuestFileNotFound(path)
        mode = mode_of(st)
        if stat_mod.S_ISLNK(mode) and (follow_last or not is_last):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise GuestSymlinkLoop(path)
            target = readlink(cur)
            if target.startswith("/"):
                parts.clear()
            pending.extend(reversed([c for c in target.split("/") if c not in ("", ".")]))
            continue
        if is_last:
            return cur, st
        if not stat_mod.S_ISDIR(mode):
            raise GuestPathError(path, f"{cur} is not a directory")
        parts.append(comp)
    # Ended on "..", "." or a followed symlink: the path is the directory reached so far.
    cur = "/" + "/".join(parts)
    return cur, lstat(cur)
