"""The hostile-guest corpus again, on the image backend: each poisoned guest tree is made into
a real ext4 image (mkfs.ext4 -d keeps symlinks, FIFOs, device nodes and holes as they are) and
run through inspect, convert and rollback as disk images (fuse2fs, qcow2 staging overlay,
block-level undo).

The image must be byte-identical after inspect, after a refused or failed convert, and after the
rollback of a successful one; no run may hang, show a host canary, or break the CLI contract.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.corpus import Case, build_case, cases
from tests.reliability.harness import Canaries, record_figures, run_here, run_parallel

pytestmark = [pytest.mark.image, pytest.mark.slow]

CASES = {c.id: c for c in cases()}
STEP_TIMEOUT = 120.0


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def run_image_case(case: Case, canaries: Canaries, work: Path) -> dict[str, Any]:
    root = build_case(work / "root", case, canaries.file, canaries.subdir)
    image = work / "guest.img"
    mkfs = subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(root), str(image), "96M"],
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(root, ignore_errors=True)
    if mkfs.returncode != 0:
        return {"problems": [], "codes": [], "skipped": f"mkfs: {mkfs.stderr.strip()[-200:]}"}
    original = sha(image)
    problems: list[str] = []
    codes: list[int | None] = []
    for argv in (
        ["inspect", str(image), "--json"],
        ["convert", str(image), "--json"],
        ["rollback", str(image), "--json"],
    ):
        run = run_here(argv)
        codes.append(run.code)
        problems += run.problems(canaries)
        if run.hung:
            break
        same = sha(image) == original
        if argv[0] == "inspect" and not same:
            problems.append("inspect changed the image")
        elif argv[0] == "convert" and run.code in (2, 3) and not same:
            problems.append(f"convert exited {run.code} but changed the image")
        elif argv[0] == "rollback" and not same:
            problems.append(f"image not byte-identical after rollback (exit {run.code})")
    problems += canaries.problems()
    shutil.rmtree(work, ignore_errors=True)
    return {"problems": problems, "codes": codes}


@pytest.fixture(scope="module")
def image_results(
    request: pytest.FixtureRequest, canaries: Canaries, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    wanted = [
        CASES[item.callspec.params["case_id"]]
        for item in request.session.items
        if hasattr(item, "callspec")
        and "case_id" in item.callspec.params
        and getattr(item, "module", None) is not None
        and item.module.__name__ == __name__  # type: ignore[attr-defined]
    ]
    if os.geteuid() != 0:
        wanted = [c for c in wanted if c.variant != "device"]
    work = tmp_path_factory.mktemp("hostile-images")
    jobs = [
        (c.id, (lambda c=c, n=n: run_image_case(c, canaries, work / f"c{n}")))
        for n, c in enumerate(wanted)
    ]
    results = run_parallel(jobs, workdir=work / "results", timeout=4 * STEP_TIMEOUT)
    done = [r for r in results.values() if r.get("codes")]
    record_figures(
        "hostile-images",
        {
            "cases": len(results),
            "commands": sum(len(r["codes"]) for r in done),
            "clean": sum(1 for r in results.values() if not r.get("problems") and "error" not in r),
            "escapes": sum(
                1 for r in results.values() if any("canary" in p for p in r.get("problems", []))
            ),
            "skipped": sum(1 for r in results.values() if "skipped" in r),
        },
    )
    return results


@pytest.mark.parametrize("case_id", list(CASES))
def test_hostile_image(case_id: str, image_results: dict[str, dict[str, Any]]) -> None:
    result = image_results.get(case_id)
    if result is None:
        pytest.skip("device nodes need root")
    assert "error" not in result, result["error"]
    if "skipped" in result:
        pytest.skip(result["skipped"])
    assert result["problems"] == []
