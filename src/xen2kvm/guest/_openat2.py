"""Linux ``openat2(2)`` with ``RESOLVE_IN_ROOT``: resolve a whole guest path in one system call.

``LocalGuest`` confines every path to the guest root by walking it one component at a time
(see ``local.py``); that costs a ``stat`` and an ``open`` per component plus the Python around
them, and it was the largest single cost of inspecting a mounted root (docs/benchmarks.md).
Since Linux 5.6 the kernel does the same confinement itself: with ``RESOLVE_IN_ROOT`` the
directory fd acts as ``/`` for the lookup (absolute symlinks are re-anchored at it, ``..``
cannot climb above it), and ``RESOLVE_NO_MAGICLINKS`` refuses ``/proc``-style links that could
name something outside. Python's ``os`` module does not expose ``openat2`` and no maintained
package binds it, so it is called here through ``ctypes``; where it is missing (an older
kernel, a seccomp filter, another libc) :func:`load` returns None and the caller keeps its own
walk.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
from collections.abc import Callable
from typing import Any

#: ``openat2`` has the same number on every architecture (it came after the syscall tables
#: were unified).
_NR_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


#: ``open_in_root(root_fd, path, flags)``: an fd, or ``-errno`` on failure.
OpenInRoot = Callable[[int, bytes, int], int]


@functools.cache
def load() -> OpenInRoot | None:
    """A working ``open_in_root`` function, or None where ``openat2`` cannot be used.

    Probed once per process; the answer is a fact about the host, not state.
    """
    if platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    # No argtypes (converting through them costs more than the system call): the variadic
    # syscall() reads every argument as a long, so the number and the size are passed as
    # ctypes longs, the fd as an int (the kernel reads an int), the path as char *.
    syscall.restype = ctypes.c_long
    nr = ctypes.c_long(_NR_OPENAT2)
    size = ctypes.c_size_t(ctypes.sizeof(_OpenHow))
    get_errno = ctypes.get_errno
    hows: dict[int, Any] = {}

    def open_in_root(root_fd: int, path: bytes, flags: int) -> int:
        how = hows.get(flags)
        if how is None:
            how = hows[flags] = ctypes.pointer(_OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE))
        fd: int = syscall(nr, root_fd, path, how, size)
        return fd if fd >= 0 else -get_errno()

    # Probe: the kernel, libc and any seccomp policy must all let it through.
    try:
        root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fd = open_in_root(root, b".", os.O_PATH)
    finally:
        os.close(root)
    if fd < 0:  # ENOSYS, EPERM from a filter, EINVAL/E2BIG from an older ABI: not usable
        return None
    os.close(fd)
    return open_in_root
