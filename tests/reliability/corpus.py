"""The hostile-guest corpus: which guest paths to poison, and how.

The list of paths is *collected from the code*, not typed in: every fixture guest is inspected,
converted and rolled back through a recording guest, and every path the tool reads as a file,
lists as a directory, or changes becomes a target (the journal's own files excepted: their name
holds a transaction id). A fixed list adds the paths the brief names that no fixture guest
exercises yet, and the directories above the files (``/etc -> /``-style escapes). When a new
fact or check starts reading a file, the corpus grows by itself.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures import guests as g
from tests.fixtures.boot import NAMES, with_boot
from tests.fixtures.tree import build_tree
from xen2kvm.checks import ConvertOptions, Mode
from xen2kvm.convert import convert_guest
from xen2kvm.guest.base import DEFAULT_READ_LIMIT
from xen2kvm.guest.local import LocalGuest
from xen2kvm.guest.memory import Content
from xen2kvm.transaction import JOURNAL_ROOT, Transaction

#: Fixture guests the corpus is built on (cheapest first: ties go to the smaller guest).
BASES = [*NAMES, "FEDORA", "KVM_READY"]

#: Variants of a path where a regular file is expected.
FILE_VARIANTS = (
    "abs-symlink",  # /etc/fstab -> /host/canary/secret.txt
    "rel-symlink",  # /etc/fstab -> ../../../../host/canary/secret.txt
    "symlink-loop",  # /etc/fstab -> fstab
    "fifo",
    "device",  # a character device (/dev/zero's numbers: reading it never ends)
    "directory",
    "sparse-2g",
    "garbage",
    "bad-utf8",
    "long-line-10m",
)
#: Variants of a path where a directory is expected.
DIR_VARIANTS = ("abs-symlink", "rel-symlink", "symlink-loop", "fifo", "regular-file")

#: Paths named in the brief or read by code not yet exercised by any fixture; with the guest
#: whose family uses them.
EXTRA_FILES = {
    "/etc/crypttab": "DEBIAN12",
    "/etc/default/grub": "DEBIAN12",
    "/etc/initramfs-tools/initramfs.conf": "DEBIAN12",
    "/etc/initramfs-tools/modules": "DEBIAN12",
    "/etc/dracut.conf": "CENTOS7",
    "/etc/dracut.conf.d/xen.conf": "CENTOS7",
    "/etc/mkinitcpio.conf": "ARCH",
    "/etc/sysconfig/kernel": "OPENSUSE",
    "/etc/selinux/config": "CENTOS6",
    "/var/lib/dpkg/status": "DEBIAN12",
    "/etc/os-release": "DEBIAN12",
    "/usr/lib/os-release": "DEBIAN12",
    "/etc/debian_version": "DEBIAN12",
    "/etc/redhat-release": "CENTOS6",
    "/etc/securetty": "CENTOS6",
    "/etc/inittab": "DEBIAN7",
    "/etc/init/hvc0.conf": "UBUNTU1404",
    "/etc/network/interfaces": "DEBIAN12",
    "/etc/netplan/50-cloud-init.yaml": "UBUNTU2204",
    "/etc/modprobe.d/xen.conf": "CENTOS6",
    "/boot/loader/entries/fedora.conf": "FEDORA",
    "/etc/kernel/cmdline": "FEDORA",
    "/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service": "DEBIAN12",
    "/sbin/init": "DEBIAN12",
    "/boot/initrd.img-6.1.0-18-amd64": "DEBIAN12",
    "/boot/config-6.1.0-18-amd64": "DEBIAN12",
    "/lib/modules/6.1.0-18-amd64/modules.dep": "DEBIAN12",
    f"{JOURNAL_ROOT}/tx-1/journal.json": "DEBIAN12",
}
EXTRA_DIRS = {
    "/etc": "DEBIAN12",
    "/boot": "DEBIAN12",
    "/boot/grub": "DEBIAN12",
    "/etc/default": "DEBIAN12",
    "/var/lib": "DEBIAN12",
    "/etc/sysconfig": "CENTOS6",
    "/lib/modules": "DEBIAN12",
    JOURNAL_ROOT: "DEBIAN12",
}


class RecordingGuest(LocalGuest):
    """A LocalGuest that notes every path read, listed or changed."""

    def __init__(self, root: Path, *, read_only: bool) -> None:
        super().__init__(root, read_only=read_only)
        self.read: set[str] = set()
        self.listed: set[str] = set()
        self.changed: set[str] = set()

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        self.read.add(path)
        return super().read_bytes(path, limit=limit)

    def read_bytes_if_exists(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes | None:
        self.read.add(path)
        return super().read_bytes_if_exists(path, limit=limit)

    def listdir(self, path: str) -> list[str]:
        self.listed.add(path)
        return super().listdir(path)

    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        self.changed.add(path)
        super().write_bytes(path, data, mode=mode, uid=uid, gid=gid)

    def remove(self, path: str) -> None:
        self.changed.add(path)
        super().remove(path)

    def symlink(self, target: str, path: str) -> None:
        self.changed.add(path)
        super().symlink(target, path)


def _journal(path: str) -> bool:
    return path == JOURNAL_ROOT or path.startswith(JOURNAL_ROOT + "/")


def _tree(base: str) -> Mapping[str, Content]:
    return with_boot(base) if base in NAMES else getattr(g, base)


@dataclass(frozen=True)
class Targets:
    files: dict[str, str]  # guest path -> base guest
    dirs: dict[str, str]


@functools.cache
def collect_targets() -> Targets:
    """Every path the tool touches on the fixture guests, each with a guest that uses it."""
    files: dict[str, list[str]] = {}
    dirs: dict[str, list[str]] = {}
    present: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory(prefix="xen2kvm-targets-") as tmp:
        for base in BASES:
            tree = _tree(base)
            present[base] = set(tree)
            root = build_tree(Path(tmp) / base, tree)
            guest = RecordingGuest(root, read_only=False)
            try:
                for mode in Mode:
                    # A refused or failing guest still read what it read.
                    with contextlib.suppress(Exception):
                        convert_guest(guest, ConvertOptions(mode=mode))
                    Transaction(guest).rollback()
            finally:
                guest.close()
            for p in guest.read | guest.changed:
                if not _journal(p):
                    files.setdefault(os.path.normpath(p), []).append(base)
            for p in guest.listed:
                if not _journal(p):
                    dirs.setdefault(os.path.normpath(p), []).append(base)
            shutil.rmtree(root, ignore_errors=True)

    def pick(path: str, bases: list[str]) -> str:
        # A guest that has the file beats one that only looks for it.
        have = [b for b in bases if path in present[b]]
        return (have or bases)[0]

    out_files = {p: pick(p, b) for p, b in files.items()}
    out_dirs = {p: pick(p, b) for p, b in dirs.items() if p != "/"}
    for p, base in EXTRA_FILES.items():
        out_files.setdefault(p, base)
    for p, base in EXTRA_DIRS.items():
        out_dirs.setdefault(p, base)
    for p in list(out_dirs):
        out_files.pop(p, None)  # listed as a directory: poisoned as one
    return Targets(dict(sorted(out_files.items())), dict(sorted(out_dirs.items())))


@dataclass(frozen=True)
class Case:
    base: str
    path: str
    variant: str
    expect_dir: bool

    @property
    def id(self) -> str:
        return f"{self.base}:{self.path}:{self.variant}"


#: For paths the tool only probes for (absent from every fixture guest): the variants that
#: test resolution and opening. Set XEN2KVM_RELIABILITY_FULL=1 for every variant everywhere.
PROBE_FILE_VARIANTS = ("abs-symlink", "fifo", "garbage")
PROBE_DIR_VARIANTS = ("abs-symlink", "symlink-loop", "regular-file")
FULL_ENV = "XEN2KVM_RELIABILITY_FULL"


def cases() -> list[Case]:
    t = collect_targets()
    full = os.environ.get(FULL_ENV) == "1"

    def present(base: str, path: str) -> bool:
        tree = _tree(base)
        return path in tree or any(p.startswith(path + "/") for p in tree)

    out = [
        Case(b, p, v, False)
        for p, b in t.files.items()
        for v in (FILE_VARIANTS if full or present(b, p) else PROBE_FILE_VARIANTS)
    ]
    out += [
        Case(b, p, v, True)
        for p, b in t.dirs.items()
        for v in (DIR_VARIANTS if full or present(b, p) else PROBE_DIR_VARIANTS)
    ]
    return out


LONG_LINE = 10 * 1024 * 1024
SPARSE = 2 * 1024 * 1024 * 1024


def _rel_to_host(path: str, host: Path) -> str:
    """A relative symlink target for guest ``path`` that climbs out of any host root (40
    ``..``: more than any tmp directory is deep) and lands on ``host``."""
    return "../" * 40 + str(host).lstrip("/")


def poison(root: Path, case: Case, canary_file: Path, canary_dir: Path) -> None:
    """Replace ``case.path`` under ``root`` with the hostile variant (creating parents)."""
    p = root / case.path.lstrip("/")
    original: bytes | None = None
    if p.is_file() and not p.is_symlink():
        original = p.read_bytes()
    if p.is_symlink() or p.is_file() or p.is_fifo():
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    target = canary_dir if case.expect_dir else canary_file
    v = case.variant
    if v == "abs-symlink":
        os.symlink(str(target), p)
    elif v == "rel-symlink":
        os.symlink(_rel_to_host(case.path, target), p)
    elif v == "symlink-loop":
        os.symlink(p.name, p)
    elif v == "fifo":
        os.mkfifo(p)
    elif v == "device":
        os.mknod(p, 0o600 | 0o020000, os.makedev(1, 5))
    elif v == "directory":
        p.mkdir()
        (p / "inner").write_text("x\n")
    elif v == "regular-file":
        p.write_text("not a directory\n")
    elif v == "sparse-2g":
        with open(p, "wb") as f:
            f.truncate(SPARSE)
    elif v == "garbage":
        p.write_bytes(random.Random(case.id).randbytes(4096))
    elif v == "bad-utf8":
        text = original or b"key=value\n/dev/xvda / ext4 defaults 0 1\n"
        p.write_bytes(b"".join(b"\xff\xfe\xc3(" + ln for ln in text.splitlines(True)) + b"\x80")
    elif v == "long-line-10m":
        p.write_bytes(b"a" * LONG_LINE)
    else:  # pragma: no cover
        raise ValueError(v)


def build_case(root: Path, case: Case, canary_file: Path, canary_dir: Path) -> Path:
    build_tree(root, _tree(case.base))
    poison(root, case, canary_file, canary_dir)
    return root
