"""Every corpus input through every writer in both modes, compared with reviewed goldens.

Regenerate with ``XEN2KVM_REGEN_GOLDEN=1`` and review the diff by eye before committing.
A golden ``.error`` file records an expected refusal (e.g. six disks in fullvirt).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from xen2kvm.cli import main

from .corpus import GOLDEN, MODES, WRITERS, case_args, cases

REGEN = os.environ.get("XEN2KVM_REGEN_GOLDEN") == "1"


def _report(data: dict[str, object]) -> str:
    lines = []
    mapping = data["mapping"]
    assert isinstance(mapping, dict)
    for dev in mapping["devices"]:
        lines.append(f"map {dev['xen']} -> {dev['kvm']} (slot {dev['target']})")
    lines += [f"note {n}" for n in data["notes"]]  # type: ignore[attr-defined]
    lines += [f"warning {w}" for w in data["warnings"]]  # type: ignore[attr-defined]
    return "\n".join(lines) + "\n"


def _check(path: Path, text: str) -> None:
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no golden {path} (run with XEN2KVM_REGEN_GOLDEN=1 and review)"
    assert text == path.read_text(), f"{path} differs"


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_golden(
    case: Path, mode: str, writer: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(case.parent)  # relative names keep paths out of the goldens
    code = main(
        ["translate", case.name, "--to", writer, "--mode", mode, "--json", *case_args(case)]
    )
    out, err = capsys.readouterr()
    base = GOLDEN / case.stem / f"{mode}-{writer}"
    outputs = {
        base.with_suffix(f".{WRITERS[writer]}"),
        base.with_suffix(".report"),
        base.with_suffix(".error"),
    }
    if code == 0:
        data = json.loads(out)
        produced = {
            base.with_suffix(f".{WRITERS[writer]}"): data["output"],
            base.with_suffix(".report"): _report(data),
        }
        assert "Traceback" not in err
    else:
        assert code in (1, 2, 3), err
        assert err.startswith("xen2kvm: error: "), err
        assert "Traceback" not in err
        produced = {base.with_suffix(".error"): f"exit {code}: {err}"}
    for path in outputs - set(produced):
        if REGEN:
            path.unlink(missing_ok=True)
        else:
            assert not path.exists(), f"{path} is golden but this run did not produce it"
    for path, text in produced.items():
        _check(path, text)
