"""The translate corpus: inputs under tests/data/hv/inputs, goldens under tests/data/hv/golden.

Each input may have a ``<name>.args`` file: a JSON list of extra ``xen2kvm translate``
arguments (a kernel for guests whose disks cannot boot Direct Disk, Linode disk paths).
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "hv"
INPUTS = DATA / "inputs"
GOLDEN = DATA / "golden"
INPUT_SUFFIXES = (".cfg", ".xm", ".xml", ".json")
WRITERS = {"libvirt": "xml", "qemu": "sh", "proxmox": "conf", "linode": "json"}
MODES = ("paravirt", "fullvirt")


def cases() -> list[Path]:
    return sorted(p for p in INPUTS.iterdir() if p.suffix in INPUT_SUFFIXES)


def case_args(case: Path) -> list[str]:
    args_file = case.with_suffix(".args")
    if not args_file.exists():
        return []
    args = json.loads(args_file.read_text())
    assert isinstance(args, list)
    return [str(a) for a in args]
