"""The reference guest as a XenServer export: XVA -> ``xen2kvm import`` -> convert -> boot.

The XVA is written by the test writer that follows XAPI's exporter (tests/unit/sources), with a
keep-alive block in it; the imported disk must be the source image byte for byte, and the
guest converted from it must reach a login with the network up.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.integration.test_e2e import convert_and_verify, sha, xen2kvm
from tests.unit.sources.xva_writer import write_xva
from tools.guestbuilder import BuiltGuest

pytestmark = [pytest.mark.boot, pytest.mark.image, pytest.mark.slow]


def test_reference_guest_from_xva_imports_exactly_and_boots(
    reference_guest: BuiltGuest, tmp_path: Path, verify_env: dict[str, str]
) -> None:
    root, swap = (Path(d) for d in reference_guest.disks)
    xva = tmp_path / "reference.xva"
    write_xva(xva, root.read_bytes(), keepalive_at=frozenset({3}))
    out = tmp_path / "imported"
    out.mkdir()
    code, doc, err = xen2kvm("import", str(xva), "--out", str(out))
    assert code == 0, err
    (disk,) = doc["disks"]
    imported = Path(disk["path"])
    assert disk["virtual_size"] == root.stat().st_size
    assert sha([imported]) == sha([root]) == [disk["sha256"]]
    assert imported.stat().st_blocks * 512 < root.stat().st_size, "output must be sparse"
    xva.unlink()  # the disks below are what a user keeps

    guest = dataclasses.replace(reference_guest, disks=[str(imported), str(swap)])
    convert_and_verify(guest, tmp_path, verify_env, "paravirt")
