"""Every fixture guest converted in both modes, compared file by file with a golden tree.

The golden tree of a conversion holds each file the conversion changed or created, with its
new content, and ``MANIFEST`` lists every changed path with what happened to it (written,
removed, symlink -> target). Set ``XEN2KVM_REGEN_GOLDEN=1`` to rewrite them after an intended
change, then read the diff before committing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tests.fixtures.boot import NAMES, with_boot
from tests.fixtures.tree import Snapshot, build_tree, snapshot

from xen2kvm.cli import main

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "convert"
JOURNAL = "/var/lib/xen2kvm"


def changes(before: Snapshot, after: Snapshot) -> dict[str, tuple[str, bytes | str]]:
    out: dict[str, tuple[str, bytes | str]] = {}
    for path in sorted(set(before) | set(after)):
        if path == JOURNAL or path.startswith(JOURNAL + "/"):
            continue  # the journal's name holds a transaction id and a time
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if new is None:
            out[path] = ("removed", "")
        elif new[0] == "l":
            out[path] = ("symlink", new[1])
        elif new[0] == "f":
            out[path] = ("written", new[1])
        elif new[0] == "d" and old is None:
            out[path] = ("directory", "")
    return out


def manifest(found: dict[str, tuple[str, bytes | str]]) -> str:
    lines = []
    for path, (kind, data) in found.items():
        lines.append(f"{kind} {path}" + (f" -> {data}" if kind == "symlink" else ""))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["paravirt", "fullvirt"])
def test_conversion_matches_golden_tree(tmp_path: Path, name: str, mode: str) -> None:
    root = build_tree(tmp_path / "root", with_boot(name))
    before = snapshot(root)
    assert main(["convert", str(root), "--mode", mode, "--quiet", "--json"]) == 0
    found = changes(before, snapshot(root))
    golden = GOLDEN / f"{name.lower()}-{mode}"
    if os.environ.get("XEN2KVM_REGEN_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        golden.mkdir(parents=True)
        (golden / "MANIFEST").write_text(manifest(found))
        for path, (kind, data) in found.items():
            if kind == "written":
                target = golden / "tree" / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data if isinstance(data, bytes) else data.encode())
    assert (golden / "MANIFEST").read_text() == manifest(found)
    for path, (kind, data) in found.items():
        if kind == "written":
            assert (golden / "tree" / path.lstrip("/")).read_bytes() == data, path
