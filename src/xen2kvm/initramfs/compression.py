"""Compression formats the kernel accepts for an initramfs, decompressed with bounded output.

The kernel (``init/initramfs.c`` + ``lib/decompress.c``) recognises each compressed segment of
an initramfs by its magic bytes and decompresses exactly one stream, then looks at what follows.
We mirror that: each function here decompresses *one* stream from the start of ``data``, hands
its output to ``emit`` in pieces of at most :data:`OUT_CHUNK` bytes (so a decompression bomb is
stopped by the consumer's size limit long before memory runs out), and returns how many input
bytes the stream used.

The decoders are the standard ones (zlib, lzma, bz2 from the stdlib; the ``zstandard`` and
``lz4`` packages). Only two framings are done by hand, because no library exposes them:
the kernel's *legacy* lz4 framing (what ``lz4 -l`` writes) and walking a zstd frame's block
headers to find where the frame ends.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import lzma
import zlib
from collections.abc import Callable
from typing import Protocol

import lz4.block
import lz4.frame
import zstandard

from xen2kvm.errors import ParseError

#: Largest piece of decompressed output produced at once.
OUT_CHUNK = 1 << 20
#: Compressed input handed to a streaming decoder at once.
IN_CHUNK = 1 << 18

#: The kernel's lz4 legacy framing: this magic, then (le32 size, block) pairs; every block
#: decompresses to at most 8 MiB (``LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE``).
LZ4_LEGACY_MAGIC = 0x184C2102
LZ4_LEGACY_BLOCK = 8 << 20

Emit = Callable[[bytes], None]


class Compression(enum.Enum):
    """How one segment of an initramfs is stored."""

    NONE = "none"
    GZIP = "gzip"
    XZ = "xz"
    LZMA = "lzma"
    BZIP2 = "bzip2"
    ZSTD = "zstd"
    LZ4_LEGACY = "lz4-legacy"
    LZ4_FRAME = "lz4-frame"
    LZO = "lzo"


# Same magic table as the kernel's lib/decompress.c (plus the modern lz4 frame, which the
# kernel does not take but tools do write).
_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\x1f\x9e", Compression.GZIP),
    (b"BZh", Compression.BZIP2),
    (b"\x5d\x00\x00", Compression.LZMA),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"\x89LZO", Compression.LZO),
    (b"\x02\x21\x4c\x18", Compression.LZ4_LEGACY),
    (b"\x04\x22\x4d\x18", Compression.LZ4_FRAME),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
)


def detect(data: bytes | memoryview, offset: int = 0) -> Compression | None:
    """The compression whose magic starts at ``offset``, or None if none matches."""
    head = bytes(data[offset : offset + 6])
    for magic, comp in _MAGIC:
        if head.startswith(magic):
            return comp
    return None


class _Streaming(Protocol):
    """What zlib/bz2/lzma/lz4.frame decompressor objects have in common."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


def _fail(comp: Compression, offset: int, source: str, what: str) -> ParseError:
    return ParseError(f"{comp.value} stream at offset {offset}: {what}", source=source)


def _run_streaming(
    comp: Compression,
    dec: _Streaming,
    data: memoryview,
    emit: Emit,
    *,
    offset: int,
    source: str,
    has_tail: bool,
) -> int:
    """Drive a stdlib-style decompressor over ``data`` until its stream ends.

    ``has_tail``: the decoder keeps unconsumed input in ``unconsumed_tail`` (zlib) instead of
    buffering it internally (bz2, lzma, lz4.frame).
    """
    fed = 0
    pending = b""
    while not dec.eof:
        if pending:
            chunk, pending = pending, b""
        elif has_tail or getattr(dec, "needs_input", True):
            chunk = bytes(data[fed : fed + IN_CHUNK])
            fed += len(chunk)
            if not chunk:
                # Out of input: let the decoder flush what it holds, else it is truncated.
                out = dec.decompress(b"", OUT_CHUNK)
                if out:
                    emit(out)
                    continue
                raise _fail(comp, offset, source, "truncated (input ends inside the stream)")
        else:
            chunk = b""
        out = dec.decompress(chunk, OUT_CHUNK)
        if has_tail:
            pending = dec.unconsumed_tail  # type: ignore[attr-defined]
        if out:
            emit(out)
    return fed - len(pending) - len(dec.unused_data or b"")


def _zstd_frame_end(data: memoryview, offset: int, source: str) -> int:
    """Length of the zstd frame (or skippable frame) at the start of ``data``.

    python-zstandard offers no way to learn how much input a frame used, and its
    ``decompressobj`` has no output bound; walking the block headers (RFC 8878 section 3.1)
    gives the exact extent, after which ``stream_reader`` decompresses with bounded reads.
    """
    n = len(data)

    def need(end: int) -> None:
        if end > n:
            raise _fail(Compression.ZSTD, offset, source, "truncated (input ends inside a frame)")

    need(4)
    magic = int.from_bytes(data[0:4], "little")
    if 0x184D2A50 <= magic <= 0x184D2A5F:
        need(8)
        size = int.from_bytes(data[4:8], "little")
        need(8 + size)
        return 8 + size
    need(5)
    fhd = data[4]
    if fhd & 0x08:
        raise _fail(Compression.ZSTD, offset, source, "reserved bit set in the frame header")
    fcs_flag = fhd >> 6
    single_segment = bool(fhd & 0x20)
    has_checksum = bool(fhd & 0x04)
    did_size = (0, 1, 2, 4)[fhd & 0x03]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    pos = 5 + (0 if single_segment else 1) + did_size + fcs_size
    while True:
        need(pos + 3)
        bh = int.from_bytes(data[pos : pos + 3], "little")
        last = bh & 1
        btype = (bh >> 1) & 3
        bsize = bh >> 3
        if btype == 3:
            raise _fail(Compression.ZSTD, offset, source, f"reserved block type at {offset + pos}")
        pos += 3 + (1 if btype == 1 else bsize)
        need(pos)
        if last:
            break
    if has_checksum:
        pos += 4
        need(pos)
    return pos


def _zstd(data: memoryview, emit: Emit, *, offset: int, source: str) -> int:
    end = _zstd_frame_end(data, offset, source)
    if bytes(data[0:4]) != b"\x28\xb5\x2f\xfd":
        return end  # a skippable frame: no output
    # The kernel limits the zstd window (ZSTD_WINDOWSIZE_MAX 2^27 in unzstd); allow the
    # format's usual maximum so a huge window cannot make the decoder allocate gigabytes.
    dctx = zstandard.ZstdDecompressor(max_window_size=1 << 27)
    try:
        with dctx.stream_reader(bytes(data[:end]), read_across_frames=False) as reader:
            while True:
                out = reader.read(OUT_CHUNK)
                if not out:
                    break
                emit(out)
    except zstandard.ZstdError as exc:
        raise _fail(Compression.ZSTD, offset, source, f"corrupt ({exc})") from exc
    return end


def _lz4_legacy(data: memoryview, emit: Emit, *, offset: int, source: str) -> int:
    # The legacy framing has no end marker: the kernel's unlz4 reads blocks until its input
    # ends. We also stop at a zero size word (zero padding, which the kernel's caller skips)
    # and accept a repeated magic (concatenated legacy streams), as unlz4 does.
    n = len(data)
    pos = 4
    bound = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK // 255 + 16  # LZ4_compressBound
    while pos < n:
        if n - pos < 4:
            raise _fail(Compression.LZ4_LEGACY, offset, source, "truncated block size")
        size = int.from_bytes(data[pos : pos + 4], "little")
        if size == LZ4_LEGACY_MAGIC:
            pos += 4
            continue
        if size == 0:
            break
        if size > bound:
            raise _fail(
                Compression.LZ4_LEGACY, offset, source, f"block size {size} at {offset + pos}"
            )
        block = bytes(data[pos + 4 : pos + 4 + size])
        if len(block) < size:
            raise _fail(Compression.LZ4_LEGACY, offset, source, "truncated block")
        try:
            out = lz4.block.decompress(block, uncompressed_size=LZ4_LEGACY_BLOCK)
        except Exception as exc:  # lz4.block raises LZ4BlockError (a RuntimeError) or others
            raise _fail(
                Compression.LZ4_LEGACY, offset, source, f"corrupt block at {offset + pos}"
            ) from exc
        for i in range(0, len(out), OUT_CHUNK):
            emit(out[i : i + OUT_CHUNK])
        pos += 4 + size
    return pos


def decompress_one(
    comp: Compression, data: memoryview, emit: Emit, *, offset: int = 0, source: str = "<input>"
) -> int:
    """Decompress the single ``comp`` stream at the start of ``data``; return input used.

    Output goes to ``emit`` in bounded pieces. Corrupt or truncated input raises ParseError
    naming ``source`` and the stream's ``offset`` in it.
    """
    try:
        if comp is Compression.GZIP:
            if bytes(data[:2]) == b"\x1f\x9e":
                raise _fail(comp, offset, source, "old 'gzip -- packed' format is not supported")
            return _run_streaming(
                comp,
                zlib.decompressobj(wbits=31),
                data,
                emit,
                offset=offset,
                source=source,
                has_tail=True,
            )
        if comp is Compression.XZ:
            dec: _Streaming = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            return _run_streaming(
                comp, dec, data, emit, offset=offset, source=source, has_tail=False
            )
        if comp is Compression.LZMA:
            dec = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE, memlimit=1 << 30)
            return _run_streaming(
                comp, dec, data, emit, offset=offset, source=source, has_tail=False
            )
        if comp is Compression.BZIP2:
            return _run_streaming(
                comp,
                bz2.BZ2Decompressor(),
                data,
                emit,
                offset=offset,
                source=source,
                has_tail=False,
            )
        if comp is Compression.LZ4_FRAME:
            return _run_streaming(
                comp,
                lz4.frame.LZ4FrameDecompressor(),
                data,
                emit,
                offset=offset,
                source=source,
                has_tail=False,
            )
        if comp is Compression.ZSTD:
            return _zstd(data, emit, offset=offset, source=source)
        if comp is Compression.LZ4_LEGACY:
            return _lz4_legacy(data, emit, offset=offset, source=source)
    except ParseError:
        raise
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise _fail(comp, offset, source, f"corrupt ({exc})") from exc
    raise _fail(comp, offset, source, "this compression is not supported by xen2kvm")


def compress(comp: Compression, data: bytes) -> bytes:
    """Compress ``data`` in a format the kernel reads (for archives we append)."""
    if comp is Compression.NONE:
        return data
    if comp is Compression.GZIP:
        # mtime=0: the same input gives the same bytes (reproducible plans and diffs).
        return gzip.compress(data, compresslevel=9, mtime=0)
    if comp is Compression.XZ:
        # The kernel's xz decoder handles only CRC32 checks (or none).
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    if comp is Compression.ZSTD:
        return zstandard.ZstdCompressor(level=19).compress(data)
    raise ValueError(f"compressing as {comp.value} is not offered")
