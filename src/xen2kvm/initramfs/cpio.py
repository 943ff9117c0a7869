"""cpio "newc" (070701) and "crc" (070702) archives: a streaming reader and a writer.

Written by hand on purpose. The only pure-Python cpio library on PyPI (cpiofile) was last
released in 2011; libarchive-c needs the C libarchive and, like GNU cpio, stops at the first
``TRAILER!!!``, whereas an initramfs is read the way the kernel's ``init/initramfs.c`` reads
it: archive after archive, zero bytes allowed between members, headers 4-byte aligned, input
that may be split anywhere between decompression chunks. The format itself is small: a
110-byte header of 13 hex fields, a NUL-terminated name, data, each padded to 4 bytes.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from xen2kvm.errors import ParseError
from xen2kvm.guest.base import normalize

NEWC_MAGIC = b"070701"
CRC_MAGIC = b"070702"
HEADER_LEN = 110
TRAILER = "TRAILER!!!"
#: The kernel's PATH_MAX: longer names and symlink targets are refused.
PATH_MAX = 4096

_HEX_FIELDS = re.compile(rb"[0-9A-Fa-f]{104}")
_NONZERO = re.compile(rb"[^\x00]")


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def kind_of(mode: int) -> str:
    """A file type name for a full ``st_mode``."""
    fmt = stat.S_IFMT(mode)
    return {
        stat.S_IFREG: "file",
        stat.S_IFDIR: "dir",
        stat.S_IFLNK: "symlink",
        stat.S_IFCHR: "chardev",
        stat.S_IFBLK: "blockdev",
        stat.S_IFIFO: "fifo",
        stat.S_IFSOCK: "socket",
    }.get(fmt, "other")


@dataclass(frozen=True)
class CpioEntry:
    """One member as its header describes it. ``path`` is an absolute, normalised path."""

    path: str
    mode: int  # full st_mode, file type included
    uid: int
    gid: int
    nlink: int
    mtime: int
    size: int
    ino: int
    devmajor: int
    devminor: int
    rdevmajor: int
    rdevminor: int
    link_target: str | None  # symlinks only
    header_offset: int  # offset of the header in its segment's (decompressed) stream

    @property
    def kind(self) -> str:
        return kind_of(self.mode)


#: Called for every member; ``data`` is the content when the keep predicate asked for it.
OnEntry = Callable[[CpioEntry, bytes | None], None]

_RESET, _HEADER, _NAME, _DATA, _SKIP = range(5)


class CpioStreamParser:
    """Incremental newc/crc parser fed with arbitrary pieces of a byte stream.

    It follows the kernel's state machine: after each member (and after a trailer) any number
    of zero bytes may follow; the next non-zero byte must start a header (``0``, aligned to 4
    in its stream). ``feed(..., stop_at_foreign=True)`` stops at a byte that cannot start a
    header instead of failing (for uncompressed archives followed by a compressed one).

    Limits: ``max_total`` bytes of archive data in all, ``max_members`` members.
    """

    def __init__(
        self,
        on_entry: OnEntry,
        *,
        keep: Callable[[str], bool] | None = None,
        max_total: int = 1 << 30,
        max_members: int = 1_000_000,
        source: str = "<input>",
    ) -> None:
        self._on_entry = on_entry
        self._keep = keep
        self._max_total = max_total
        self._max_members = max_members
        self._source = source
        self.total = 0
        self.members = 0
        self._state = _RESET
        self._acc = bytearray()
        self._need = 0
        self._left = 0
        self._pos = 0
        self._where = "stream"
        self._hdr: list[int] = []
        self._hdr_pos = 0
        self._crc = False
        self._sum = 0
        self._entry_name = ""
        self._data: bytearray | None = None

    # --- positions and errors ----------------------------------------------------------------

    def begin_segment(self, where: str, *, start: int = 0) -> None:
        """Start a new stream. ``where`` describes it for messages (e.g. 'gzip data at 1024');
        ``start`` is the offset of its first byte (alignment is checked against it).

        The member state carries over, as in the kernel.
        """
        self._pos = start
        self._where = where

    def _error(self, message: str, pos: int | None = None) -> ParseError:
        at = self._pos if pos is None else pos
        return ParseError(f"{message} (at offset {at} of the {self._where})", source=self._source)

    @property
    def in_member(self) -> bool:
        """True when the stream stopped in the middle of a member."""
        return self._state != _RESET

    def finish(self) -> None:
        """End of input: fail if it ended inside a member."""
        if self._state != _RESET:
            what = {_HEADER: "a header", _NAME: "a name", _DATA: "file data", _SKIP: "padding"}
            raise self._error(f"truncated cpio archive: input ends inside {what[self._state]}")

    # --- feeding -----------------------------------------------------------------------------

    def feed(
        self, data: bytes | memoryview, start: int = 0, *, stop_at_foreign: bool = False
    ) -> int:
        """Parse ``data[start:]``; return the index where parsing stopped (``len(data)`` unless
        ``stop_at_foreign`` stopped it at a byte that does not start a header)."""
        mv = memoryview(data)
        i = start
        n = len(mv)
        try:
            while i < n:
                st = self._state
                if st == _RESET:
                    m = _NONZERO.search(mv, i)
                    if m is None:
                        self._pos += n - i
                        i = n
                        break
                    j = m.start()
                    self._pos += j - i
                    i = j
                    if mv[i] != 0x30:
                        if stop_at_foreign:
                            break
                        raise self._error(
                            f"junk byte 0x{mv[i]:02x} where a cpio header should start"
                        )
                    if self._pos % 4:
                        raise self._error("cpio header is not 4-byte aligned (broken padding)")
                    self._state = _HEADER
                    self._need = HEADER_LEN
                    self._acc.clear()
                    self._hdr_pos = self._pos
                elif st in (_HEADER, _NAME):
                    take = min(self._need - len(self._acc), n - i)
                    self._acc += mv[i : i + take]
                    i += take
                    self._pos += take
                    if len(self._acc) == self._need:
                        if st == _HEADER:
                            self._parse_header()
                        else:
                            self._parse_name()
                elif st == _DATA:
                    take = min(self._left, n - i)
                    piece = mv[i : i + take]
                    if self._data is not None:
                        self._data += piece
                    if self._crc:
                        self._sum += sum(piece)
                    i += take
                    self._pos += take
                    self._left -= take
                    if self._left == 0:
                        self._end_member()
                else:  # _SKIP
                    take = min(self._left, n - i)
                    i += take
                    self._pos += take
                    self._left -= take
                    if self._left == 0:
                        self._state = _RESET
        finally:
            self.total += i - start
        if self.total > self._max_total:
            raise ParseError(
                f"archive data exceeds the limit of {self._max_total} bytes "
                f"(decompression bomb or unexpectedly large initramfs; in the {self._where})",
                source=self._source,
            )
        return i

    def _parse_header(self) -> None:
        hdr = bytes(self._acc)
        magic = hdr[:6]
        if magic not in (NEWC_MAGIC, CRC_MAGIC):
            if magic == b"070707":
                raise self._error(
                    "old portable (odc) cpio header: the kernel reads only newc (070701) and "
                    "crc (070702) archives",
                    self._hdr_pos,
                )
            raise self._error(f"no cpio magic (found {magic!r})", self._hdr_pos)
        if not _HEX_FIELDS.fullmatch(hdr[6:HEADER_LEN]):
            raise self._error("cpio header has non-hex characters", self._hdr_pos)
        self._hdr = [int(hdr[6 + 8 * k : 14 + 8 * k], 16) for k in range(13)]
        self._crc = magic == CRC_MAGIC
        namesize = self._hdr[11]
        if namesize == 0 or namesize > PATH_MAX:
            raise self._error(f"cpio name size {namesize} out of range", self._hdr_pos)
        self._need = namesize + _pad4(HEADER_LEN + namesize)
        self._acc.clear()
        self._state = _NAME

    def _parse_name(self) -> None:
        namesize = self._hdr[11]
        raw = bytes(self._acc[:namesize])
        if raw[-1] != 0:
            raise self._error("cpio member name is not NUL-terminated", self._hdr_pos)
        name = raw[: raw.index(b"\0")].decode("utf-8", "surrogateescape")
        mode, filesize = self._hdr[1], self._hdr[6]
        self._entry_name = name
        self._data = None
        self._sum = 0
        if name == TRAILER:
            self._state = _SKIP if filesize else _RESET
            self._left = filesize + _pad4(filesize)
            return
        self.members += 1
        if self.members > self._max_members:
            raise self._error(f"more than {self._max_members} cpio members")
        path = normalize(name) if name else "/"
        if stat.S_ISLNK(mode):
            if filesize > PATH_MAX:
                raise self._error(f"symlink {path} target longer than {PATH_MAX}")
            self._data = bytearray()
        elif stat.S_ISREG(mode) and self._keep is not None and self._keep(path):
            self._data = bytearray()
        self._entry_name = path
        self._left = filesize
        if filesize:
            self._state = _DATA
        else:
            self._end_member()

    def _end_member(self) -> None:
        h = self._hdr
        # GNU cpio fills the crc field for regular files only (0 for symlinks).
        if self._crc and stat.S_ISREG(h[1]) and (self._sum & 0xFFFFFFFF) != h[12]:
            raise self._error(f"crc cpio checksum mismatch for {self._entry_name}")
        mode, filesize = h[1], h[6]
        data = bytes(self._data) if self._data is not None else None
        target = None
        if stat.S_ISLNK(mode):
            target = (data or b"").split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            data = None
        entry = CpioEntry(
            path=self._entry_name,
            mode=mode,
            uid=h[2],
            gid=h[3],
            nlink=h[4],
            mtime=h[5],
            size=filesize,
            ino=h[0],
            devmajor=h[7],
            devminor=h[8],
            rdevmajor=h[9],
            rdevminor=h[10],
            link_target=target,
            header_offset=self._hdr_pos,
        )
        self._data = None
        pad = _pad4(filesize)
        self._left = pad
        self._state = _SKIP if pad else _RESET
        self._on_entry(entry, data)


# --- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewcEntry:
    """A member to write. ``path`` is absolute; ``mode`` holds permission bits only."""

    path: str
    kind: Literal["file", "dir", "symlink"] = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""  # symlinks


_TYPE_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}


def _header(ino: int, mode: int, nlink: int, size: int, namesize: int) -> bytes:
    fields = (ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, namesize, 0)
    return NEWC_MAGIC + "".join(f"{v:08X}" for v in fields).encode()


def _member(ino: int, name: str, mode: int, nlink: int, data: bytes) -> bytes:
    raw = name.encode("utf-8", "surrogateescape") + b"\0"
    out = _header(ino, mode, nlink, len(data), len(raw)) + raw
    out += b"\0" * _pad4(len(out))
    out += data + b"\0" * _pad4(len(data))
    return out


def write_newc(entries: Iterable[NewcEntry], *, parents: bool = True) -> bytes:
    """A deterministic newc archive: sorted by path, parents first, owner 0, mtime 0, trailer.

    ``parents``: add a 0755 directory member for every missing parent directory. Names are
    written relative (``usr/lib/...``), as the kernel's own gen_init_cpio and most generators
    do. Duplicate paths raise ValueError (the archive would be ambiguous).
    """
    by_path: dict[str, NewcEntry] = {}
    for e in entries:
        path = normalize(e.path)
        if path == "/":
            raise ValueError("the root directory cannot be an archive member")
        if path in by_path:
            raise ValueError(f"duplicate archive member {path}")
        by_path[path] = NewcEntry(path, e.kind, e.data, e.mode, e.target)
    if parents:
        for path in list(by_path):
            parent = path.rsplit("/", 1)[0]
            while parent and parent not in by_path:
                by_path[parent] = NewcEntry(parent, "dir", mode=0o755)
                parent = parent.rsplit("/", 1)[0]
    out = bytearray()
    for ino, path in enumerate(sorted(by_path, key=lambda p: p.split("/")), start=1):
        e = by_path[path]
        mode = _TYPE_BITS[e.kind] | (e.mode & 0o7777)
        if e.kind == "symlink":
            data, nlink = e.target.encode("utf-8", "surrogateescape"), 1
        elif e.kind == "dir":
            data, nlink = b"", 2
        else:
            data, nlink = e.data, 1
        out += _member(ino, path.lstrip("/"), mode, nlink, data)
    out += _member(0, TRAILER, 0, 1, b"")
    return bytes(out)
