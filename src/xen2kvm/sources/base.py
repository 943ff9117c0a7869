"""The input-source interface: every source yields its disks as streams plus a ``Domain``.

A source (local images or a mounted root today; XVA, VHD chains, block devices/LVM and
``ssh://`` hosts next) is opened from the same GUEST/SOURCE argument every command takes,
describes itself cheaply (:meth:`Source.describe`: domain and disks, no data read), and streams
each disk as *extents*: ``(offset, data)`` pieces in increasing offset order, where a gap
between extents is a hole (zeros). The shared copier (``xen2kvm.sources.copy``) turns a stream
into a sparse raw or qcow2 file under a temporary name, renamed when complete and verified.

Contract for implementers:
- ``describe()`` and ``open_disk()`` never write anything and never follow links out of the
  source; bad input raises a :class:`xen2kvm.errors.Xen2KvmError` subclass naming the file,
  the disk and the chunk/offset.
- ``open_disk()`` is a context manager; the iterator it yields holds constant memory whatever
  the disk size, and raises on a checksum mismatch or a truncated source *before* the copier
  renames its output.
- Disks are listed in KVM order (the Xen assignment order, gaps closed: ``xvda, xvdc`` ->
  ``sda, sdb``); each keeps its Xen name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from xen2kvm.hv.model import Domain

#: One piece of a disk's data: ``(offset in bytes, data)``. Gaps between pieces are holes.
Extent = tuple[int, bytes]


@dataclass(frozen=True)
class SourceDisk:
    """A disk as a source describes it (no data read yet)."""

    index: int  # position in KVM order, 0-based
    xen_name: str  # "xvda", "hda", ... as the Xen side named it ("" if unknown)
    virtual_size: int  # bytes
    label: str  # human-readable origin: "vm.xva:Ref:12", "/dev/vg/lv", "ssh://h/p"
    format: str = "raw"  # what the source holds: raw, qcow2, vhd, xva, ...
    bootable: bool = False
    #: Bytes that hold data, when the source knows it cheaply (XVA chunks, VHD BAT); for
    #: progress and "bytes to copy" estimates. None when unknown.
    allocated: int | None = None


@dataclass
class SourceInfo:
    """What ``describe()`` returns: the domain (when the source carries one) and its disks."""

    source: str
    kind: str  # "local", "xva", "vhd", "block", "ssh+..."
    disks: list[SourceDisk]
    domain: Domain | None = None
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class Source(Protocol):
    """One guest's origin. Implementations live in ``xen2kvm.sources.<kind>``."""

    def describe(self) -> SourceInfo: ...

    def open_disk(self, disk: SourceDisk) -> AbstractContextManager[Iterator[Extent]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StagedDisk:
    """A disk written by the copier: a complete, verified local file (the import result)."""

    index: int
    xen_name: str
    kvm_name: str  # "sda", "sdb", ... in the chosen mode's naming
    path: str
    format: str  # "raw" | "qcow2"
    virtual_size: int
    sha256: str = ""  # of the virtual disk's content, when computed while copying
