#!/usr/bin/env python3
"""Run the reliability suite and write its figures into docs/reliability.md.

    .venv/bin/python tools/reliability_report.py            # run tests/reliability, update doc
    .venv/bin/python tools/reliability_report.py --print    # run, print the tables only
    .venv/bin/python tools/reliability_report.py --figures F --junit J   # render a past run

The tests append one JSON line per measured thing to the file named by
$XEN2KVM_RELIABILITY_FIGURES (tests/reliability/harness.py:record_figures); pytest's JUnit XML
gives the pass/fail counts. The tables replace what lies between the BEGIN/END FIGURES markers
in the doc, so every figure there comes from the run that wrote it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- BEGIN FIGURES (tools/reliability_report.py) -->"
END = "<!-- END FIGURES -->"
FIGURES_ENV = "XEN2KVM_RELIABILITY_FIGURES"


def run_suite(figures: Path, junit: Path, extra: list[str]) -> int:
    env = {**os.environ, FIGURES_ENV: str(figures)}
    cmd = [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider",
           f"--junitxml={junit}", *extra]
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def load_figures(path: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                doc = json.loads(line)
                out[doc.pop("section")].append(doc)
    return out


def junit_totals(path: Path) -> dict[str, Any]:
    suites = ET.parse(path).getroot()
    totals: dict[str, Any] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0,
                              "time": 0.0}
    for s in suites.iter("testsuite"):
        for k in ("tests", "failures", "errors", "skipped"):
            totals[k] += int(s.get(k, "0"))
        totals["time"] += float(s.get("time", "0"))
    failed = [
        f"{c.get('classname', '')}::{c.get('name', '')}"
        for c in suites.iter("testcase")
        if c.find("failure") is not None or c.find("error") is not None
    ]
    totals["failed"] = failed
    return totals


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def git_commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def render(figs: dict[str, list[dict[str, Any]]], totals: dict[str, Any] | None) -> str:
    out: list[str] = []
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out.append(f"Run of {when} on {machine()}, commit {git_commit()}.")
    if totals:
        out.append(
            f"pytest: {totals['tests']} tests, {totals['failures']} failed, {totals['errors']} "
            f"errors, {totals['skipped']} skipped or expected failures (xfail), "
            f"{totals['time']:.0f} s."
        )
        for name in totals["failed"][:20]:
            out.append(f"- FAILED {name}")
    out.append("")

    out.append("| Area | Cases tried | Outcome |")
    out.append("|---|---|---|")
    for h in figs.get("hostile", []):
        codes = ", ".join(f"exit {k}: {v}" for k, v in sorted(h["exit_codes"].items()))
        out.append(
            f"| Hostile guests (mounted root): {h['paths']} paths, {h['variants']} kinds of "
            "variant | "
            f"{h['cases']} cases, {h['commands']} commands | {h['clean']} clean, escapes "
            f"{h['escapes']}, hangs {h['hangs']}; {codes} |"
        )
        out.append(
            f"| ... unreadable variants (loop, FIFO, device, directory, 2 GB, 10 MB line) | "
            f"{h['unreadable_cases']} | {h['unreadable_reported']} named in a finding or an "
            "error by inspect; the others are files that guest's facts do not need (e.g. "
            "/etc/redhat-release when /etc/centos-release answers) or directories seen as absent |"
        )
    strace = figs.get("hostile-strace", [])
    if strace:
        which = ", ".join(f"{s['base']}/{s['variant']}" for s in strace)
        out.append(
            f"| Every file poisoned at once, under strace -y | {len(strace)} guests x 3 "
            f"commands ({which}) | "
            "no opened fd under the canary directory |"
        )
    crash = figs.get("crash", [])
    if crash:
        kills = sum(c["kills"] for c in crash)
        survived = sum(c["survived"] for c in crash)
        per = ", ".join(f"{c['guest']} {c['survived']}/{c['kills']}" for c in crash)
        out.append(f"| SIGKILL after every filesystem operation of convert | {kills} kills | "
                   f"survived {survived} of {kills} ({per}); rollback and re-run both exact |")
    fuzz = figs.get("fuzz", [])
    if fuzz:
        ex = sum(f["examples"] for f in fuzz)
        out.append(f"| Fuzzed parser entry points | {len(fuzz)} entry points, {ex} inputs | "
                   "only ParseError (or UsageError for option values) or a result |")
    bad = figs.get("bad-input", [])
    if bad:
        bad_codes = collections.Counter(str(b["code"]) for b in bad)
        out.append(f"| Bad input matrix | {len(bad)} | "
                   + ", ".join(f"exit {k}: {v}" for k, v in sorted(bad_codes.items()))
                   + "; one stderr line, no traceback, guest unchanged |")
    ngc = figs.get("no-guest-code", [])
    if ngc:
        progs = sorted({p for n in ngc for p in n["host_programs"]})
        out.append(f"| No guest code on the host | {len(ngc)} guests x {ngc[0]['trapped']} "
                   f"trapped executables | canary never written; execve only of: "
                   f"{', '.join(progs)} |")
    out.append("")

    if fuzz:
        out.append("Fuzz examples per entry point (hypothesis, derandomized):")
        out.append("")
        out.append("| Entry point | Examples | Rejected with ParseError |")
        out.append("|---|---|---|")
        for f in sorted(fuzz, key=lambda f: f["entry"]):
            out.append(f"| `{f['entry']}` | {f['examples']} | {f['parse_errors']} |")
        out.append("")
    if bad:
        out.append("Bad input: exit code per case:")
        out.append("")
        out.append("| Case | Command | Exit |")
        out.append("|---|---|---|")
        for b in bad:
            out.append(f"| {b['row']} | {b['command']} | {b['code']} |")
        out.append("")
    if crash:
        out.append("| Guest | Filesystem operations in a full convert | Kills survived |")
        out.append("|---|---|---|")
        for c in crash:
            out.append(f"| {c['guest']} | {c['ops']} | {c['survived']} of {c['kills']} |")
        out.append("")
    return "\n".join(out)


def update_doc(text: str) -> None:
    doc = DOC.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOC}: the BEGIN/END FIGURES markers are missing")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figures", type=Path, help="render this figures file (no test run)")
    ap.add_argument("--junit", type=Path, help="with --figures: the run's JUnit XML")
    ap.add_argument("--print", action="store_true", help="print the tables; leave the doc")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    code = 0
    if args.figures:
        figures, junit = args.figures, args.junit
    else:
        tmp = Path(tempfile.mkdtemp(prefix="xen2kvm-reliability-"))
        figures, junit = tmp / "figures.jsonl", tmp / "junit.xml"
        code = run_suite(figures, junit, args.pytest_args)
        print(f"figures: {figures}\njunit:   {junit}", file=sys.stderr)
    totals = junit_totals(junit) if junit and junit.exists() else None
    text = render(load_figures(figures), totals)
    if args.print:
        print(text)
    else:
        update_doc(text)
        print(f"updated {DOC}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
