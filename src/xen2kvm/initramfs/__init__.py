"""Reading and writing initramfs images without running any guest or host initramfs tool.

Public API:

- :func:`read_initramfs` / :func:`list_initramfs`: parse an image's bytes into an
  :class:`Initramfs` (segments, members, modules, generator, member contents).
- :func:`read_guest_initramfs`: the same for a file inside a guest (bounded read).
- :func:`write_newc`: a deterministic newc cpio writer.
- :mod:`xen2kvm.initramfs.moddep`: modules.dep parsing, dependency closure, kmod indexes.
- :mod:`xen2kvm.initramfs.append`: the archive to append so an existing initramfs loads
  extra modules early.
"""

from __future__ import annotations

from xen2kvm.initramfs.compression import Compression
from xen2kvm.initramfs.cpio import NewcEntry, write_newc
from xen2kvm.initramfs.reader import (
    Generator,
    Initramfs,
    Member,
    Segment,
    list_initramfs,
    module_name,
    read_initramfs,
)

__all__ = [
    "Compression",
    "Generator",
    "Initramfs",
    "Member",
    "NewcEntry",
    "Segment",
    "list_initramfs",
    "module_name",
    "read_initramfs",
    "write_newc",
]
