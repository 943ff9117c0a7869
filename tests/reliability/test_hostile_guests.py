"""Hostile guests: every path the tool touches, replaced by something nasty, on the mounted-root
backend, through ``inspect``, ``convert`` and ``rollback``.

For each case the tool must: finish before a deadline; exit 0/1 (with a JSON report) or 2/3 with
exactly one ``xen2kvm: error:`` line, never a traceback; never show the host canaries' content;
never change a host canary; leave the guest byte-identical after inspect, after a refused or
failed convert, and after the rollback of a successful one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.corpus import Case, build_case, cases, collect_targets, poison
from tests.reliability.harness import (
    Canaries,
    diff_snapshots,
    record_figures,
    run_here,
    run_parallel,
    run_subprocess,
    snapshot,
)
from xen2kvm.transaction import JOURNAL_ROOT

CASES = {c.id: c for c in cases()}
#: Bound for one command on one case (each takes well under a second when nothing hangs).
STEP_TIMEOUT = 60.0
#: Variants whose whole point is that the file cannot be read as text.
UNREADABLE = {"symlink-loop", "fifo", "device", "sparse-2g", "long-line-10m", "directory"}
#: Files every conversion depends on: when one of these cannot be read, inspect must say so
#: (a finding naming it, or an error), never carry on as if it were simply absent.
MUST_REPORT = {
    "/etc/fstab", "/etc/os-release", "/etc/inittab", "/etc/default/grub",
    "/boot/grub/grub.cfg", "/boot/grub/menu.lst", "/boot/grub/grub.conf",
    "/boot/grub2/grub.cfg", "/etc/network/interfaces", "/etc/securetty",
    "/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/udev/rules.d/70-persistent-net.rules",
    "/etc/netplan/50-cloud-init.yaml", "/etc/selinux/config",
}


def _mentions(run_out: str, path: str) -> bool:
    try:
        doc = json.loads(run_out)
    except ValueError:
        return False
    return path in json.dumps(doc.get("guests", [{}])[0].get("findings", []))


def run_case(case: Case, canaries: Canaries, work: Path) -> dict[str, Any]:
    """inspect, convert, rollback on one poisoned guest; every broken promise is a problem."""
    root = build_case(work / "root", case, canaries.file, canaries.subdir)
    journal_case = case.path == JOURNAL_ROOT or case.path.startswith(JOURNAL_ROOT + "/")

    def ours(p: str) -> bool:  # the tool may tidy its own journal directory
        return journal_case and (p == JOURNAL_ROOT or p.startswith(JOURNAL_ROOT + "/"))

    before = snapshot(root, skip=ours)
    problems: list[str] = []
    codes: list[int | None] = []
    reported = False
    for argv in (["inspect", str(root), "--json"], ["convert", str(root), "--json"],
                 ["rollback", str(root), "--json"]):
        run = run_here(argv)
        codes.append(run.code)
        problems += run.problems(canaries)
        if run.hung:
            break
        now = snapshot(root, skip=ours)
        if argv[0] == "inspect":
            reported = run.code in (2, 3) or _mentions(run.out, case.path)
            if now != before:
                problems.append(f"inspect changed the guest: {diff_snapshots(before, now)}")
        elif argv[0] == "convert" and run.code in (2, 3) and now != before:
            problems.append(
                f"convert exited {run.code} but changed the guest: {diff_snapshots(before, now)}"
            )
        elif argv[0] == "rollback":
            if run.code != 0 and not journal_case:
                problems.append(f"rollback exited {run.code}: {run.err.strip()}")
            if now != before:
                problems.append(
                    f"guest not byte-identical after rollback: {diff_snapshots(before, now)}"
                )
    problems += canaries.problems()
    shutil.rmtree(work, ignore_errors=True)
    return {"problems": problems, "codes": codes, "reported": reported}


@pytest.fixture(scope="session")
def corpus_results(
    request: pytest.FixtureRequest, canaries: Canaries, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Run every selected case of this module, on every core, once per session."""
    wanted = [
        CASES[item.callspec.params["case_id"]]
        for item in request.session.items
        if hasattr(item, "callspec") and "case_id" in item.callspec.params
        and getattr(item, "module", None) is not None
        and item.module.__name__ == __name__  # type: ignore[attr-defined]
    ]
    if os.geteuid() != 0:
        wanted = [c for c in wanted if c.variant != "device"]
    work = tmp_path_factory.mktemp("hostile")
    jobs = [
        (c.id, (lambda c=c, n=n: run_case(c, canaries, work / f"c{n}")))
        for n, c in enumerate(wanted)
    ]
    results = run_parallel(jobs, workdir=work / "results", timeout=2 * STEP_TIMEOUT)
    done = [r for r in results.values() if "codes" in r]
    record_figures("hostile", {
        "cases": len(results),
        "paths": len({CASES[k].path for k in results}),
        "variants": len({CASES[k].variant for k in results}),
        "commands": 3 * len(done),
        "clean": sum(1 for r in results.values() if not r.get("problems") and "error" not in r),
        "escapes": sum(1 for r in results.values()
                       if any("canary" in p for p in r.get("problems", []))),
        "hangs": sum(1 for r in results.values() if "hang" in str(r.get("error", ""))
                     or any("hang" in p for p in r.get("problems", []))),
        "exit_codes": {str(code): sum(1 for r in done for c in r["codes"] if c == code)
                       for code in sorted({c for r in done for c in r["codes"]}, key=str)},
        "unreadable_reported": sum(1 for k, r in results.items() if r.get("reported")
                                   and CASES[k].variant in UNREADABLE),
        "unreadable_cases": sum(1 for k in results if CASES[k].variant in UNREADABLE),
    })
    return results


@pytest.mark.slow
@pytest.mark.parametrize("case_id", list(CASES))
def test_hostile_guest(case_id: str, corpus_results: dict[str, dict[str, Any]]) -> None:
    case = CASES[case_id]
    if case.variant == "device" and os.geteuid() != 0:
        pytest.skip("device nodes need root")
    result = corpus_results[case_id]
    assert "error" not in result, result["error"]
    assert result["problems"] == [], f"{case_id}: exit codes {result['codes']}"
    if case.path in MUST_REPORT and case.variant in UNREADABLE:
        assert result["reported"], f"inspect did not name unreadable {case.path}"


_FD_PATH = re.compile(r"= \d+<([^>]*)>")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("variant", ["abs-symlink", "rel-symlink"])
@pytest.mark.parametrize("base", ["DEBIAN12", "CENTOS6"])
def test_every_file_poisoned_at_once_under_strace(
    base: str, variant: str, canaries: Canaries, tmp_path: Path
) -> None:
    """The installed script, with every file the tool touches on this guest a symlink to the
    host canary at once, under ``strace -f -y``: no file descriptor the tool (or anything it
    starts) ever opens resolves to a path under the canaries' directory."""
    targets = [Case(base, p, variant, False) for p in collect_targets().files
               if not p.startswith(JOURNAL_ROOT)]
    assert len(targets) > 10
    root = build_case(tmp_path / "root", targets[0], canaries.file, canaries.subdir)
    for case in targets[1:]:
        with contextlib.suppress(FileExistsError, NotADirectoryError):  # a parent is a file here
            poison(root, case, canaries.file, canaries.subdir)
    before = snapshot(root)
    for n, argv in enumerate((["inspect", str(root), "--json"], ["convert", str(root), "--json"],
                              ["rollback", str(root), "--json"])):
        log = tmp_path / f"strace-{n}.log"
        run = run_subprocess(argv, wrapper=["strace", "-f", "-qq", "-y", "-o", str(log), "-e",
                                            "trace=open,openat,openat2,execve"])
        assert run.problems(canaries) == [], run.problems(canaries)
        opened = _FD_PATH.findall(log.read_text(errors="replace"))
        assert opened, "strace -y showed no opened paths: the trace did not work"
        escaped = [p for p in opened if p.startswith(str(canaries.dir))]
        assert escaped == [], f"{argv[0]} opened host files: {escaped[:5]}"
        assert any(p.startswith(str(root)) for p in opened), "nothing in the guest was opened"
    assert snapshot(root) == before
    assert canaries.problems() == []
    record_figures("hostile-strace", {"base": base, "variant": variant, "files": len(targets)})
