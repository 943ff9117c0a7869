"""Read an initramfs image the way the kernel unpacks it, without running any tool.

An initramfs is a sequence of segments: uncompressed cpio archives (each starting with ``0``
at a 4-byte aligned offset), compressed streams holding cpio archives, and zero padding
between them. Early-microcode images are an uncompressed archive followed by a compressed
one. Later members overwrite earlier ones with the same path ("later files win").
"""

from __future__ import annotations

import enum
import posixpath
import re
import stat
from collections.abc import Callable
from dataclasses import InitVar, dataclass

from xen2kvm.errors import ParseError
from xen2kvm.guest.base import LARGE_READ_LIMIT, Guest
from xen2kvm.initramfs.compression import Compression, decompress_one, detect
from xen2kvm.initramfs.cpio import CpioEntry, CpioStreamParser, kind_of

#: Default bound on the decompressed size of all segments together.
DEFAULT_MAX_TOTAL = 2 << 30

_MODULE_RE = re.compile(r"^/(?:usr/)?lib/modules/([^/]+)/.*?([^/]+)\.ko(?:\.(?:xz|zst|gz))?$")
_NONZERO = re.compile(rb"[^\x00]")
_MODDIR_RE = re.compile(r"^/(?:usr/)?lib/modules/([^/]+)(?:/|$)")


def module_name(filename: str) -> str:
    """The kernel's name for a module file: ``virtio-scsi.ko.xz`` -> ``virtio_scsi``."""
    base = posixpath.basename(filename)
    for suffix in (".xz", ".zst", ".gz"):
        if base.endswith(".ko" + suffix):
            base = base[: -len(suffix)]
            break
    if base.endswith(".ko"):
        base = base[:-3]
    return base.replace("-", "_")


class Generator(enum.Enum):
    """Which tool built an initramfs (or is configured in a guest)."""

    INITRAMFS_TOOLS = "initramfs-tools"
    DRACUT = "dracut"
    MKINITCPIO = "mkinitcpio"
    SUSE_MKINITRD = "suse-mkinitrd"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Segment:
    """One piece of the image: where it starts in the file, how it is stored."""

    offset: int
    length: int  # bytes of the file it occupies
    compression: Compression
    uncompressed_size: int
    members: int


@dataclass(frozen=True)
class Member:
    """One archive member. ``path`` is absolute; ``mode`` has permission bits only."""

    path: str
    kind: str  # file, dir, symlink, chardev, blockdev, fifo, socket, other
    mode: int
    size: int
    link_target: str | None
    segment: int  # index into Initramfs.segments


@dataclass(frozen=True)
class Initramfs:
    """What an initramfs image holds.

    ``members`` lists every member in archive order (a path may appear more than once; the
    last one wins, as when the kernel unpacks). ``modules`` are module names normalised with
    ``-`` -> ``_``; ``module_paths`` maps each to its (last) file path. Contents of members
    kept while reading are available through :meth:`read`.
    """

    source: str
    size: int
    segments: list[Segment]
    members: list[Member]
    modules: frozenset[str]
    module_paths: dict[str, str]
    kernel_versions: list[str]
    generator: Generator
    store: InitVar[dict[str, bytes] | None] = None

    def __post_init__(self, store: dict[str, bytes] | None) -> None:
        object.__setattr__(self, "_store", store if store is not None else {})
        final: dict[str, Member] = {}
        for m in self.members:
            final[m.path] = m
        object.__setattr__(self, "_final", final)

    @property
    def compression(self) -> Compression:
        """The storage of the segment holding the most members (the main archive)."""
        if not self.segments:
            return Compression.NONE
        return max(self.segments, key=lambda s: s.members).compression

    @property
    def uncompressed_size(self) -> int:
        return sum(s.uncompressed_size for s in self.segments)

    def final(self) -> dict[str, Member]:
        """Path -> the member that wins for it (the tree the kernel ends up with)."""
        final: dict[str, Member] = self._final  # type: ignore[attr-defined]
        return final

    def resolve(self, path: str) -> str:
        """``path`` with symlinks inside the archive resolved (e.g. /lib -> usr/lib)."""
        final = self.final()
        parts = [p for p in path.split("/") if p]
        done: list[str] = []
        hops = 0
        while parts:
            comp = parts.pop(0)
            if comp == "..":
                if done:
                    done.pop()
                continue
            if comp == ".":
                continue
            cand = "/" + "/".join([*done, comp])
            m = final.get(cand)
            if m is not None and m.kind == "symlink" and m.link_target is not None:
                hops += 1
                if hops > 40:
                    raise ParseError(f"symlink loop at {cand}", source=self.source)
                if m.link_target.startswith("/"):
                    done = []
                parts = [p for p in m.link_target.split("/") if p] + parts
                continue
            done.append(comp)
        return "/" + "/".join(done)

    def member(self, path: str) -> Member | None:
        """The member that wins for ``path`` (symlinks in its parents resolved)."""
        final = self.final()
        got = final.get(path)
        if got is not None:
            return got
        return final.get(self.resolve(path))

    def has_content(self, path: str) -> bool:
        store: dict[str, bytes] = self._store  # type: ignore[attr-defined]
        return self.resolve(path) in store

    def read(self, path: str) -> bytes:
        """Content of a regular file member (following symlinks inside the archive).

        Raises KeyError if it is absent or its content was not kept while reading.
        """
        store: dict[str, bytes] = self._store  # type: ignore[attr-defined]
        real = self.resolve(path)
        if real not in store:
            m = self.final().get(real)
            why = "no such member" if m is None else "content not kept while reading"
            raise KeyError(f"{path}: {why}")
        return store[real]

    def paths(self) -> list[str]:
        return sorted(self.final())


def detect_generator(paths: set[str]) -> Generator:
    """Guess the generator from the member paths (each leaves its own layout)."""

    def under(prefix: str) -> bool:
        return any(p.startswith(prefix) for p in paths)

    if "/conf/initramfs.conf" in paths and under("/scripts/"):
        return Generator.INITRAMFS_TOOLS
    if (
        under("/usr/lib/dracut/")
        or under("/lib/dracut/")
        or any(posixpath.basename(p).startswith("dracut-") for p in paths)
    ):
        return Generator.DRACUT
    if "/buildconfig" in paths or ("/config" in paths and under("/hooks/")):
        return Generator.MKINITCPIO
    if "/run_all.sh" in paths and under("/config/"):
        return Generator.SUSE_MKINITRD
    return Generator.UNKNOWN


class _Collector:
    """Receives parsed members and keeps what the caller asked for."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.store: dict[str, bytes] = {}
        self.segment = 0
        self.seg_members = 0
        # The kernel links hard-link groups (nlink >= 2, same ino/dev/mode) to the first
        # member of the group; data may come with any of them. Reset at each trailer... but a
        # trailer is not reported to us, so groups are kept per segment, which is what the
        # generators produce.
        self._groups: dict[tuple[int, int, int, int], list[str]] = {}

    def on_entry(self, e: CpioEntry, data: bytes | None) -> None:
        self.seg_members += 1
        self.members.append(
            Member(e.path, kind_of(e.mode), e.mode & 0o7777, e.size, e.link_target, self.segment)
        )
        if stat.S_ISREG(e.mode) and e.nlink >= 2:
            key = (e.ino, e.devmajor, e.devminor, e.mode)
            group = self._groups.setdefault(key, [])
            if e.path not in group:
                group.append(e.path)
            if data is not None and (data or e.path not in self.store):
                for p in group:
                    self.store[p] = data
            elif group[0] in self.store:
                self.store[e.path] = self.store[group[0]]
            return
        if data is not None:
            self.store[e.path] = data
        else:
            self.store.pop(e.path, None)

    def next_segment(self) -> None:
        self.segment += 1
        self.seg_members = 0
        self._groups.clear()


def read_initramfs(
    data: bytes,
    *,
    keep: bool | Callable[[str], bool] = True,
    max_total: int = DEFAULT_MAX_TOTAL,
    max_members: int = 1_000_000,
    source: str = "<initramfs>",
) -> Initramfs:
    """Parse an initramfs image from its bytes.

    ``keep``: which regular files' contents to keep for :meth:`Initramfs.read` (True: all,
    False: none, or a predicate on the absolute member path). ``max_total`` bounds the
    decompressed size of all segments; exceeding it raises ParseError (a decompression bomb
    ends there, not in memory exhaustion). Corrupt or truncated input raises ParseError
    with the offset.
    """
    if keep is True:
        keep_fn: Callable[[str], bool] | None = _always
    elif keep is False:
        keep_fn = None
    else:
        keep_fn = keep
    col = _Collector()
    parser = CpioStreamParser(
        col.on_entry, keep=keep_fn, max_total=max_total, max_members=max_members, source=source
    )
    mv = memoryview(data)
    n = len(mv)
    segments: list[Segment] = []
    pos = 0
    while pos < n:
        if mv[pos] == 0:
            nonzero = _NONZERO.search(mv, pos)
            if nonzero is None:
                break
            pos = nonzero.start()
            continue
        before_total = parser.total
        if mv[pos] == 0x30 and pos % 4 == 0:
            # Offsets (and the 4-byte alignment the kernel checks) are file offsets here.
            parser.begin_segment("initramfs file", start=pos)
            end = parser.feed(mv, pos, stop_at_foreign=True)
            comp = Compression.NONE
        else:
            comp_or_none = detect(mv, pos)
            if comp_or_none is None:
                raise ParseError(
                    f"invalid magic {bytes(mv[pos : pos + 4]).hex()} at offset {pos}: neither a "
                    "cpio archive nor a compression format the kernel knows",
                    source=source,
                )
            comp = comp_or_none
            parser.begin_segment(f"{comp.value} data starting at file offset {pos}")
            used = decompress_one(
                comp, mv[pos:], lambda out: _feed(parser, out), offset=pos, source=source
            )
            end = pos + max(used, 1)
        segments.append(Segment(pos, end - pos, comp, parser.total - before_total, col.seg_members))
        col.next_segment()
        pos = end
    parser.finish()
    paths = {m.path for m in col.members}
    module_paths: dict[str, str] = {}
    versions: set[str] = set()
    for m in col.members:
        md = _MODDIR_RE.match(m.path)
        if md and (m.kind == "dir" or md.group(0).endswith("/")):
            versions.add(md.group(1))
        if m.kind == "file" and _MODULE_RE.match(m.path):
            module_paths[module_name(m.path)] = m.path
    return Initramfs(
        source=source,
        size=n,
        segments=segments,
        members=col.members,
        modules=frozenset(module_paths),
        module_paths=module_paths,
        kernel_versions=sorted(versions),
        generator=detect_generator(paths),
        store=col.store,
    )


def list_initramfs(
    data: bytes, *, max_total: int = DEFAULT_MAX_TOTAL, source: str = "<initramfs>"
) -> Initramfs:
    """Fast path: list members without keeping any content."""
    return read_initramfs(data, keep=False, max_total=max_total, source=source)


def _always(_path: str) -> bool:
    return True


def _feed(parser: CpioStreamParser, out: bytes) -> None:
    parser.feed(out)


def read_guest_initramfs(
    guest: Guest,
    path: str,
    *,
    keep: bool | Callable[[str], bool] = False,
    max_file: int = LARGE_READ_LIMIT,
    max_total: int = DEFAULT_MAX_TOTAL,
) -> Initramfs:
    """Read the initramfs at guest ``path`` (a bounded read through the guest interface)."""
    data = guest.read_bytes(path, limit=max_file)
    return read_initramfs(data, keep=keep, max_total=max_total, source=f"{guest.name}:{path}")
