"""Inspect: what would break on KVM, why, how badly, and what convert would do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xen2kvm.checks import ConvertOptions, Finding, Mode, run_checks
from xen2kvm.errors import GuestError
from xen2kvm.facts import GuestFacts, gather_facts
from xen2kvm.guest.base import Guest
from xen2kvm.guest.memo import MemoGuest
from xen2kvm.jsonutil import to_jsonable

SCHEMA = "xen2kvm.inspect/1"


@dataclass(frozen=True)
class InspectReport:
    guest: str
    mode: Mode
    facts: GuestFacts
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity.blocking]

    @property
    def ready(self) -> bool:
        return not self.blocking

    def to_json(self) -> dict[str, Any]:
        return {
            "guest": self.guest,
            "mode": self.mode.value,
            "ready": self.ready,
            "blocking": len(self.blocking),
            "findings": to_jsonable(self.findings),
            "facts": to_jsonable(self.facts),
        }


def require_os(facts: GuestFacts) -> None:
    if not facts.system.os_found:
        raise GuestError(f"{facts.guest}: no Linux operating system found")


def inspect_guest(guest: Guest, options: ConvertOptions) -> InspectReport:
    view = MemoGuest(guest)  # facts and checks ask the same questions: answer each once
    facts = gather_facts(view)
    require_os(facts)
    result = run_checks(view, facts, options)
    return InspectReport(
        guest=guest.name, mode=options.mode, facts=facts, findings=result.findings
    )
