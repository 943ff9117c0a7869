"""``xen2kvm inspect``: say exactly what would break on KVM, and why."""

from __future__ import annotations

import argparse
from typing import Any

from xen2kvm.checks import ConvertOptions, Mode
from xen2kvm.cli.common import add_guest_args, add_mode_arg, guest_paths, run_per_guest
from xen2kvm.errors import ExitCode
from xen2kvm.guest import open_guest
from xen2kvm.inspect import SCHEMA, InspectReport, inspect_guest


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "inspect",
        help="report what would break on KVM",
        description="Inspect guests (read-only) and list what would break on KVM in the given "
        "mode, why, how badly, and what 'convert' would do. Exit 0: KVM-ready; 1: blocking "
        "findings; 2: error.",
    )
    add_guest_args(p)
    add_mode_arg(p)
    p.set_defaults(func=main)


def render(report: InspectReport) -> str:
    f = report.facts
    s = f.system
    out = [
        f"guest: {report.guest} ({f.backend})",
        f"  system: {s.name or s.distro_id or 'unknown'} [{s.family}], init {s.init.value}"
        + (f", systemd {s.systemd_version}" if s.systemd_version else ""),
        f"  mode:   {report.mode.value}",
    ]
    if not report.findings:
        out.append("  no findings: the guest is ready for KVM")
    for fd in report.findings:
        out.append(f"  [{fd.severity.value}] {fd.check}: {fd.summary}")
        out.append(f"      why: {fd.why}")
        out.append(f"      fix: {fd.fix}")
        if fd.paths:
            out.append(f"      files: {', '.join(fd.paths)}")
    verdict = "READY" if report.ready else f"NOT READY ({len(report.blocking)} blocking)"
    out.append(f"  verdict: {verdict}")
    return "\n".join(out) + "\n"


def inspect_one(guest: str, args: argparse.Namespace) -> tuple[int, dict[str, Any], str]:
    options = ConvertOptions(mode=Mode(args.mode))
    with open_guest(guest_paths(guest), read_only=True, backend=args.backend) as g:
        report = inspect_guest(g, options)
    code = ExitCode.OK if report.ready else ExitCode.FINDINGS
    return code, report.to_json(), "" if args.json else render(report)


def main(args: argparse.Namespace) -> int:
    return run_per_guest(args, SCHEMA, inspect_one)
