"""End to end, as a user runs it: convert a real Xen-style guest, boot it on KVM devices (QEMU,
TCG here), log in on ttyS0 and check the network; roll back to the original bytes.

Each guest is built from Debian packages by tools/guestbuilder (cached). Every test works on
sparse copies of the cached images, never on the cache itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.guests import fresh_copy
from tools.guestbuilder import BuiltGuest

pytestmark = [pytest.mark.boot, pytest.mark.slow]


def xen2kvm(
    *args: str, env: dict[str, str] | None = None, timeout: int = 900
) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "xen2kvm", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    doc = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    return proc.returncode, doc, proc.stderr


def sha(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        out.append(h.hexdigest())
    return out


def convert_and_verify(
    guest: BuiltGuest,
    tmp_path: Path,
    env: dict[str, str],
    mode: str,
    *,
    boot: str = "kernel",
    rollback: bool = False,
) -> dict[str, Any]:
    disks = fresh_copy(guest, tmp_path / "disks")
    original = sha(disks) if rollback else []
    code, doc, err = xen2kvm("convert", ",".join(map(str, disks)), "--mode", mode)
    assert code == 0, err or doc
    converted = doc["guests"][0]
    assert converted["applied"], "nothing was converted"
    assert not [f for f in converted["remaining"] if f["severity"] != "warning"]

    log = tmp_path / "console.log"
    code, res, err = xen2kvm(
        "verify",
        *map(str, disks),
        "--mode",
        mode,
        "--boot",
        boot,
        "--login",
        guest.login,
        "--console-log",
        str(log),
        env=env,
    )
    assert res.get("verdict") == "network", (
        f"{res.get('verdict')}: {res.get('reason')}\n" + "\n".join(res.get("console_tail", []))
        or err
    )
    assert code == 0
    login = res["login"]
    assert {"name": "eth0", "ipv4": ["10.0.2.15"]} in login["interfaces"]
    assert login["root_disk_index"] == 0, "/ must be mounted from the guest's first disk"
    assert login["swaps"], "swap must be on"
    if guest.init == "systemd":
        assert login["failed_units"] == []
    else:  # sysvinit has no notion of failed units: verify reports "unknown"
        assert login["failed_units"] is None
    # The command line the guest really booted with (read inside it: also for disk boot).
    assert "console=ttyS0" in login["cmdline"]

    if rollback:
        code, doc, err = xen2kvm("rollback", ",".join(map(str, disks)))
        assert code == 0, err
        assert sha(disks) == original, "rollback must restore the images byte for byte"
    shutil.rmtree(tmp_path / "disks", ignore_errors=True)
    return res


def test_reference_paravirt_boots_with_network_and_rolls_back(
    reference_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    convert_and_verify(reference_guest, tmp_path, verify_env, "paravirt", rollback=True)


def test_reference_fullvirt_boots_with_network(
    reference_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    convert_and_verify(reference_guest, tmp_path, verify_env, "fullvirt", rollback=True)


def test_partitioned_guest_direct_disk_boot(
    partitioned_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    convert_and_verify(partitioned_guest, tmp_path, verify_env, "paravirt", boot="disk")


def test_dracut_guest_paravirt(
    dracut_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    convert_and_verify(dracut_guest, tmp_path, verify_env, "paravirt")


def test_sysvinit_guest_fullvirt(
    sysvinit_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    convert_and_verify(sysvinit_guest, tmp_path, verify_env, "fullvirt")
