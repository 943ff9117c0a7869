"""The target interface: put converted disks and a KVM definition somewhere, undoably.

Targets today: files (libvirt XML, QEMU script, Proxmox and Linode configs in a directory);
next: libvirt (pool volumes + a defined domain), Proxmox (HTTP API).

Contract for implementers:
- ``check()`` validates everything it can *before* creating anything (connection, pool,
  networks, name/UUID/MAC collisions) and raises a :class:`xen2kvm.errors.Xen2KvmError`
  subclass with a clear message; nothing is created when it raises.
- ``apply()`` creates, and returns a :class:`TargetRecord` that lists exactly what it
  created; a failure midway undoes what that call created before raising.
- ``undo(record)`` removes exactly what the record lists, and nothing else.
- A second ``apply()`` of the same guest finds its own earlier work (same UUID) and reports
  ``already`` instead of creating twice (or replaces it when asked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from xen2kvm.hv.model import Domain
from xen2kvm.sources.base import StagedDisk


@dataclass
class TargetRecord:
    """What a target created (serialisable: stored by the pipeline and by fleets)."""

    target: str  # "files", "libvirt", "proxmox"
    location: str  # output dir, libvirt URI, Proxmox node URL
    created: list[dict[str, Any]] = field(default_factory=list)  # [{"kind": ..., "id": ...}]
    state: str = "defined"  # "defined" | "already" | "replaced" | "started"
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Target(Protocol):
    name: str

    def check(self, domain: Domain, disks: Sequence[StagedDisk]) -> list[str]: ...

    def apply(self, domain: Domain, disks: Sequence[StagedDisk]) -> TargetRecord: ...

    def undo(self, record: TargetRecord) -> None: ...
