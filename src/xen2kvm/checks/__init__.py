"""The check registry and the engine that runs checks for inspect and convert.

Checks run in registry order over one shared plan overlay, so later checks see earlier edits
(SELinux relabel must come last: it reacts to whether anything changed at all).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xen2kvm.checks import block_devices, console, housekeeping, kernel, network, xen
from xen2kvm.checks.base import Check, CheckContext, ConvertOptions, Finding, Mode, Severity
from xen2kvm.errors import UsageError
from xen2kvm.facts import GuestFacts
from xen2kvm.guest.base import Guest
from xen2kvm.plan import Plan, PlanBuilder

REGISTRY: tuple[Check, ...] = (
    kernel.KERNEL,
    kernel.INITRAMFS_DRIVERS,
    block_devices.CHECK,
    console.CHECK,
    network.PERSISTENT_NET_RULES,
    network.PREDICTABLE_NIC_NAMES,
    xen.XEN_MODPROBE_ALIASES,
    xen.XEN_LEFTOVERS,
    housekeeping.STALE_CACHES,
    housekeeping.SCSI_SCAN_SYNC,
    housekeeping.SELINUX_RELABEL,
)

_ids = [c.id for c in REGISTRY]
if len(set(_ids)) != len(_ids):  # pragma: no cover - a registration bug
    raise RuntimeError(f"duplicate check ids in the registry: {_ids}")
del _ids

#: Pseudo-check id for files the guest has but that cannot be read safely.
UNREADABLE = "unreadable-files"

__all__ = [
    "REGISTRY",
    "Check",
    "CheckResult",
    "ConvertOptions",
    "Finding",
    "Mode",
    "Severity",
    "run_checks",
    "select_checks",
]


def select_checks(only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Check]:
    only, skip = list(only), list(skip)
    known = {c.id for c in REGISTRY}
    for name in [*only, *skip]:
        if name not in known:
            raise UsageError(f"unknown check {name!r}; known: {', '.join(sorted(known))}")
    both = sorted(set(only) & set(skip))
    if both:
        raise UsageError(f"--only and --skip both name {', '.join(both)}: choose one")
    return [c for c in REGISTRY if (not only or c.id in only) and c.id not in skip]


@dataclass(frozen=True)
class CheckResult:
    findings: list[Finding]
    plan: Plan

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity.blocking]


def run_checks(
    guest: Guest,
    facts: GuestFacts,
    options: ConvertOptions,
    checks: Iterable[Check] | None = None,
) -> CheckResult:
    """Run checks over one plan overlay: their findings, and the plan that fixes them."""
    builder = PlanBuilder(guest)
    findings: list[Finding] = []
    for check in REGISTRY if checks is None else checks:
        if not check.applies(facts, options.mode):
            continue
        ctx = CheckContext(facts=facts, options=options, plan=builder, check_id=check.id)
        check.run(ctx)
        findings.extend(ctx.findings)
    for problem in dict.fromkeys([*facts.problems, *builder.problems]):
        findings.append(
            Finding(
                check=UNREADABLE,
                severity=Severity.WARNING,
                summary=f"unreadable: {problem}",
                why="the file is a loop, a FIFO, a device, or too large; it was not read and "
                "checks that need it treat it as absent",
                fix="none: inspect the guest by hand",
                fixable=False,
            )
        )
    findings.sort(key=lambda f: f.severity.rank)
    return CheckResult(findings=findings, plan=builder.build())
