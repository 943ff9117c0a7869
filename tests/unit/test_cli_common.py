"""run_per_guest: every guest reported, in order, alone or across worker processes."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from xen2kvm.cli.common import run_per_guest
from xen2kvm.errors import ExitCode, GuestError


def _fn(guest: str, args: argparse.Namespace) -> tuple[int, dict[str, Any], str]:
    if guest.startswith("bad"):
        raise GuestError(f"{guest}: not a guest")
    code = ExitCode.FINDINGS if guest.endswith("!") else ExitCode.OK
    return code, {"guest": guest, "n": len(guest), "nested": {"list": [1, "x\ny"]}}, f"{guest}\n"


@pytest.mark.parametrize("jobs", [1, 2])
def test_json_report_in_order_with_failures_isolated(
    jobs: int, capsys: pytest.CaptureFixture[str]
) -> None:
    guests = [f"g{i}" for i in range(40)] + ["bad1", "g40!", "bad2"]
    args = argparse.Namespace(guests=guests, json=True, jobs=jobs)
    code = run_per_guest(args, "test/1", _fn)
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert [g["guest"] for g in doc["guests"]] == guests
    assert doc["guests"][-1] == {"guest": "bad2", "error": "bad2: not a guest"}
    assert doc["guests"][0]["nested"] == {"list": [1, "x\ny"]}
    # The text is what json.dumps(indent=2) writes.
    assert out == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert "bad1: not a guest" in err and code == ExitCode.ERROR


def test_text_reports_and_empty_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(guests=["a", "b!"], json=False, jobs=2)
    assert run_per_guest(args, "test/1", _fn) == ExitCode.FINDINGS
    assert capsys.readouterr().out == "a\nb!\n"
    args = argparse.Namespace(guests=[], json=True, jobs=1)
    assert run_per_guest(args, "test/1", _fn) == ExitCode.OK
    assert json.loads(capsys.readouterr().out) == {"schema": "test/1", "guests": []}
