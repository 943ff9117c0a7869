"""Facts: read-only, typed descriptions of a guest, gathered once and shared by every check.

Like pyinfra's facts, a fact reads and parses and never changes anything. Unreadable files
(symlink loops, FIFOs, huge files) do not raise: they are collected in ``problems`` so that
inspect can report them as findings while describing the rest of the guest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xen2kvm.facts.system import SystemFacts, gather_system
from xen2kvm.guest.base import FilesystemInfo, Guest


@dataclass(frozen=True)
class GuestFacts:
    guest: str
    backend: str
    system: SystemFacts
    filesystems: list[FilesystemInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def gather_facts(guest: Guest) -> GuestFacts:
    system = gather_system(guest)
    problems = list(system.problems)
    return GuestFacts(
        guest=guest.name,
        backend=guest.backend,
        system=system,
        filesystems=guest.filesystems(),
        problems=problems,
    )
