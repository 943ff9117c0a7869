"""LocalGuest's two resolvers (the kernel's openat2 and the component walk) answer alike.

Reads take the kernel's answer only for success and "no such file" and leave every other case
to the walk, so on any tree the answers, including the exact error, must be the same. Trees are
generated: nested directories, files, FIFOs, and symlinks that are absolute, relative, climb
with ``..``, dangle, loop, or point at the host.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xen2kvm.errors import GuestPathError
from xen2kvm.guest import _openat2
from xen2kvm.guest.local import LocalGuest

pytestmark = pytest.mark.skipif(
    _openat2.load() is None, reason="openat2(RESOLVE_IN_ROOT) is not usable on this host"
)

NAMES = ("a", "b", "etc", "x")
TARGETS = st.sampled_from(
    [
        "/etc", "/etc/a", "/a/b", "a", "b", "..", "../..", "../../../../etc", "../a/b",
        "/", ".", "./a", "missing", "/missing/deeper", "{host}", "{host}/secret",
        "/etc/../a", "b/", "a/.", "//etc//a",
    ]
)  # fmt: skip
KINDS = st.sampled_from(["dir", "file", "symlink", "symlink", "fifo"])


@st.composite
def trees(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """(path, kind, symlink target) entries; parents are created as directories if needed."""
    entries = []
    for _ in range(draw(st.integers(3, 14))):
        depth = draw(st.integers(1, 3))
        path = "/".join(draw(st.sampled_from(NAMES)) for _ in range(depth))
        entries.append((path, draw(KINDS), draw(TARGETS)))
    return entries


def build(root: Path, host: Path, entries: list[tuple[str, str, str]]) -> list[str]:
    """Make the entries, never through a symlink (which could lead out of ``root``)."""
    made = []
    for path, kind, target in entries:
        parts = path.split("/")
        parent = root
        for name in parts[:-1]:
            parent = parent / name
            if not os.path.lexists(parent):
                parent.mkdir()
            elif os.path.islink(parent) or not parent.is_dir():
                break  # a link or a file on the way: skip this entry
        else:
            p = parent / parts[-1]
            if os.path.lexists(p):
                continue
            if kind == "dir":
                p.mkdir()
            elif kind == "file":
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                os.write(fd, f"content of {path}\n".encode())
                os.close(fd)
            elif kind == "fifo":
                os.mkfifo(p)
            else:
                os.symlink(target.format(host=host), p)
            made.append("/" + path)
    return made


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except GuestPathError as exc:
        return (type(exc).__name__, str(exc))


def queries(made: list[str]) -> list[str]:
    out = {"/", "", ".", "..", "/missing"}
    for p in made:
        out |= {p, p + "/", p + "/.", p + "/..", p + "/a", p + "/../etc", p.lstrip("/")}
    return sorted(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_kernel_and_walk_resolvers_give_the_same_answers(
    entries: list[tuple[str, str, str]],
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="xen2kvm-resolvers-"))
    try:
        root, host = tmp / "guest", tmp / "host"
        root.mkdir()
        host.mkdir()
        (host / "secret").write_text("HOST SECRET\n")
        made = build(root, host, entries)
        kernel = LocalGuest(root, resolver="auto")
        walk = LocalGuest(root, resolver="walk")
        for q in queries(made):
            for op in ("lstat", "stat", "read_bytes", "listdir", "readlink", "realpath",
                       "lstat_if_exists", "stat_if_exists", "read_bytes_if_exists"):  # fmt: skip
                got = outcome(getattr(kernel, op), q)
                want = outcome(getattr(walk, op), q)
                assert got == want, (op, q, entries)
                assert b"HOST SECRET" not in repr(got).encode()
        kernel.close()
        walk.close()
    finally:
        shutil.rmtree(tmp)
