"""Convert: inspect, plan, apply in one transaction, re-inspect."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from xen2kvm.checks import ConvertOptions, Finding, run_checks, select_checks
from xen2kvm.errors import RefusedError
from xen2kvm.facts import gather_facts
from xen2kvm.guest.base import Guest
from xen2kvm.guest.memo import MemoGuest
from xen2kvm.inspect import require_os
from xen2kvm.jsonutil import to_jsonable
from xen2kvm.plan import Plan
from xen2kvm.transaction import Transaction

SCHEMA = "xen2kvm.convert/1"


@dataclass(frozen=True)
class ConvertReport:
    guest: str
    mode: str
    dry_run: bool
    findings: list[Finding]
    plan: Plan
    diff: str
    applied: list[str] = field(default_factory=list)
    txid: str | None = None
    remaining: list[Finding] = field(default_factory=list)
    #: Block-level undo records written for disk images (see xen2kvm.imageundo).
    image_undo: list[str] = field(default_factory=list)

    @property
    def blocking_remaining(self) -> list[Finding]:
        source = self.findings if self.dry_run else self.remaining
        return [f for f in source if f.severity.blocking]

    def to_json(self) -> dict[str, Any]:
        return {
            "guest": self.guest,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "changed": bool(self.plan),
            "findings": to_jsonable(self.findings),
            "plan": self.plan.to_json(),
            "diff": self.diff,
            "applied": self.applied,
            "transaction": self.txid,
            "remaining": to_jsonable(self.remaining),
            "image_undo": self.image_undo,
        }


def convert_guest(
    guest: Guest,
    options: ConvertOptions,
    *,
    dry_run: bool = False,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    progress: Callable[[str], None] | None = None,
) -> ConvertReport:
    checks = select_checks(only, skip)
    say = progress or (lambda _m: None)
    if not dry_run:
        # Undo an interrupted conversion before reading the guest: a plan made on the
        # half-converted files would skip what the killed run wrote, which recovery then undoes.
        recovered = Transaction(guest, progress=say).recover()
        if recovered.txids:
            say(f"rolled back interrupted transaction(s): {', '.join(recovered.txids)}")
    say("reading the guest")
    # Facts and checks ask the same questions many times: a view answers each once. The
    # transaction writes to the guest itself, and the result is read through a new view.
    view = MemoGuest(guest)
    facts = gather_facts(view)
    require_os(facts)
    say("planning")
    result = run_checks(view, facts, options, checks)
    diff = result.plan.diff(view)
    unfixable = [f for f in result.findings if f.severity.blocking and not f.fixable]
    if dry_run or not result.plan:
        return ConvertReport(
            guest=guest.name,
            mode=options.mode.value,
            dry_run=dry_run,
            findings=result.findings,
            plan=result.plan,
            diff=diff,
            remaining=[] if dry_run else result.findings,
        )
    if unfixable and not options.force:
        names = "; ".join(f.summary for f in unfixable)
        raise RefusedError(
            f"{guest.name}: the result would not boot on KVM ({names}); nothing was changed "
            "(use --force to apply the other fixes anyway)"
        )
    applied = Transaction(guest, progress=say).apply(result.plan, note=f"mode={options.mode.value}")
    say("checking the result")
    after_view = MemoGuest(guest)
    after = run_checks(after_view, gather_facts(after_view), options, checks)
    return ConvertReport(
        guest=guest.name,
        mode=options.mode.value,
        dry_run=False,
        findings=result.findings,
        plan=result.plan,
        diff=diff,
        applied=applied.applied,
        txid=applied.txid,
        remaining=after.findings,
    )
