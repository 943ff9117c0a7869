"""The check contract: metadata plus one pure function that both detects and plans.

A check compares what the guest is with what KVM needs in the chosen mode. It reports findings
(what will break, why, how badly, and what convert will do) and records the edits that remove
exactly those findings into a :class:`~xen2kvm.plan.PlanBuilder`. It never writes to the guest.
No difference, no findings, no actions: that is what makes a second ``convert`` plan nothing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# One mode enum for the whole project: the hypervisor model owns it.
from xen2kvm.hv.model import VMMode as Mode

__all__ = ["Check", "CheckContext", "ConvertOptions", "Finding", "Mode", "Severity"]

if TYPE_CHECKING:
    from xen2kvm.facts import GuestFacts
    from xen2kvm.hv.mapping import DiskMapping
    from xen2kvm.plan import PlanBuilder


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
    #: Xen device -> KVM device from the domain config (``translate``); None: the disks the
    #: guest names are assigned in order, xvda -> sda, xvdb -> sdb, with no gaps.
    disk_map: DiskMapping | None = None
    #: Name filesystems by UUID=/LABEL= where known (default) instead of literal /dev/sdX.
    use_uuids: bool = True
    #: Interface name -> new MAC, to rewrite pins instead of removing them.
    new_macs: Mapping[str, str] = field(default_factory=dict)
    force: bool = False


@dataclass
class CheckContext:
    """What a check sees: the facts, the options, and a plan overlay to record edits into.

    The same function serves ``detect`` and ``plan``: run against a scratch overlay, its
    findings are the inspection; run against the convert plan, its edits are the fix. A finding
    and its fix therefore cannot disagree, and a guest with nothing to fix yields neither.
    """

    facts: GuestFacts
    options: ConvertOptions
    plan: PlanBuilder
    check_id: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def mode(self) -> Mode:
        return self.options.mode

    def finding(
        self,
        severity: Severity,
        summary: str,
        *,
        why: str,
        fix: str,
        paths: tuple[str, ...] | list[str] = (),
        fixable: bool = True,
    ) -> None:
        self.findings.append(
            Finding(
                check=self.check_id,
                severity=severity,
                summary=summary,
                why=why,
                fix=fix,
                paths=tuple(paths),
                fixable=fixable,
            )
        )

    def read_text(self, path: str) -> str | None:
        """Current text of a guest file, with edits of earlier checks applied."""
        return self.plan.read_text(path)

    def write_text(self, path: str, text: str, reason: str, *, mode: int | None = None) -> None:
        self.plan.write_text(path, text, check=self.check_id, reason=reason, mode=mode)

    def remove(self, path: str, reason: str) -> None:
        self.plan.remove(path, check=self.check_id, reason=reason)

    def symlink(self, path: str, target: str, reason: str) -> None:
        self.plan.symlink(path, target, check=self.check_id, reason=reason)


RunFn = Callable[[CheckContext], None]

_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Check:
    """A registered check. ``families`` empty means every distro family."""

    id: str
    title: str
    why: str
    run: RunFn
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
