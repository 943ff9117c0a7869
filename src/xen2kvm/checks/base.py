"""The check contract: metadata plus two pure functions, ``detect`` and ``plan``.

A check compares what the guest is with what KVM needs in the chosen mode. ``detect`` returns
findings (what will break, why, how badly, and what convert will do); ``plan`` records the
edits that remove exactly those findings into a :class:`~xen2kvm.plan.PlanBuilder`. Neither
writes to the guest. No difference, no findings, no actions: that is what makes a second
``convert`` plan nothing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xen2kvm.facts import GuestFacts
    from xen2kvm.plan import PlanBuilder


class Mode(enum.Enum):
    """KVM virtualization mode: virtio devices (paravirt) or emulated IDE/e1000 (fullvirt)."""

    PARAVIRT = "paravirt"
    FULLVIRT = "fullvirt"


class Severity(enum.Enum):
    """How bad a finding is, worst first."""

    BLOCKS_BOOT = "blocks-boot"
    LOSES_NETWORK = "loses-network"
    LOSES_CONSOLE = "loses-console"
    WARNING = "warning"

    @property
    def blocking(self) -> bool:
        return self is not Severity.WARNING

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Finding:
    """One thing that will break (or may) on KVM."""

    check: str
    severity: Severity
    summary: str
    why: str
    fix: str
    paths: tuple[str, ...] = ()
    #: False when convert cannot fix it by itself (the user must act, or --force).
    fixable: bool = True


@dataclass(frozen=True)
class ConvertOptions:
    mode: Mode = Mode.PARAVIRT
    #: Xen device -> KVM device, e.g. {"xvda": "sda", "xvdb": "sdb"} (from the domain config);
    #: None: assign xvdX in order, no gaps.
    disk_map: Mapping[str, str] | None = None
    #: Name filesystems by UUID=/LABEL= where known (default) instead of literal /dev/sdX.
    use_uuids: bool = True
    #: Interface name -> new MAC, to rewrite pins instead of removing them.
    new_macs: Mapping[str, str] = field(default_factory=dict)
    force: bool = False


Detect = Callable[["GuestFacts", ConvertOptions], list[Finding]]
PlanFn = Callable[["PlanBuilder", "GuestFacts", ConvertOptions], None]

_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Check:
    """A registered check. ``families`` empty means every distro family."""

    id: str
    title: str
    why: str
    detect: Detect
    plan: PlanFn
    modes: frozenset[Mode] = frozenset(Mode)
    families: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Validated at load, like cloud-init's module contract: a malformed registration is a
        # bug caught by the first import, not a surprise on some guest.
        if not _ID.match(self.id):
            raise ValueError(f"check id {self.id!r} is not kebab-case")
        if not self.title or not self.why:
            raise ValueError(f"check {self.id} needs a title and a why")

    def applies(self, facts: GuestFacts, mode: Mode) -> bool:
        if mode not in self.modes:
            return False
        return not self.families or facts.system.family in self.families
