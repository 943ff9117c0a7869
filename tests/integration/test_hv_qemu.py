"""Every QEMU argument list xen2kvm writes is accepted by the real QEMU.

Each corpus case is translated the way its golden was, then its disk sources are pointed at
small temporary images (qemu-img create) and any kernel at the host's own /boot/vmlinuz, and
QEMU is started paused (-S) under TCG with the monitor on stdio, told to quit at once. The
NICs use ``-netdev user,restrict=on``: the guest can reach nothing.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from xen2kvm.cli import build_parser
from xen2kvm.cli.translate import options_from_args
from xen2kvm.errors import Xen2KvmError
from xen2kvm.hv import BootKind, BootMethod, plan_kvm, read_domain_file
from xen2kvm.hv.writers import qemu_argv

DATA = Path(__file__).resolve().parents[1] / "data" / "hv"
CASES = sorted(p for p in (DATA / "inputs").iterdir() if p.suffix in (".cfg", ".xm", ".xml",
                                                                        ".json"))
HOST_KERNELS = sorted(glob.glob("/boot/vmlinuz-*"))
HOST_INITRDS = sorted(glob.glob("/boot/initrd.img-*"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("qemu-system-x86_64") and shutil.which("qemu-img") and HOST_KERNELS),
        reason="needs qemu-system-x86, qemu-utils and a kernel in /boot",
    ),
]


def _args(case: Path) -> list[str]:
    f = case.with_suffix(".args")
    return [str(a) for a in json.loads(f.read_text())] if f.exists() else []


def _run_qemu(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*argv, "-S", "-monitor", "stdio"],
        input="quit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("mode", ["paravirt", "fullvirt"])
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_qemu_accepts_argv(case: Path, mode: str, tmp_path: Path) -> None:
    ns = build_parser().parse_args(
        ["translate", str(case), "--to", "qemu", "--mode", mode, *_args(case)]
    )
    read_opts, plan_opts = options_from_args(ns)
    # The blank test images have no boot code; decide the boot method as the golden did,
    # when the images were absent.
    plan_opts = dataclasses.replace(plan_opts, check_disk=False)
    domain = read_domain_file(case, ns.input_format, read_opts)
    disks = []
    for n, d in enumerate(domain.disks):
        if not d.source:
            disks.append(d)
            continue
        img = tmp_path / f"disk{n}.{d.format}"
        subprocess.run(["qemu-img", "create", "-q", "-f", d.format, str(img), "4M"], check=True)
        disks.append(dataclasses.replace(d, source=str(img)))
    domain.disks = disks
    if domain.boot.kind is BootKind.HOST_KERNEL and not domain.boot.kernel.startswith("linode/"):
        domain.boot = dataclasses.replace(
            domain.boot, kernel=HOST_KERNELS[-1], initrd=HOST_INITRDS[-1] if HOST_INITRDS else ""
        )
    if plan_opts.kernel:
        plan_opts = dataclasses.replace(
            plan_opts, kernel=HOST_KERNELS[-1], initrd=HOST_INITRDS[-1] if HOST_INITRDS else ""
        )
    try:
        guest = plan_kvm(domain, plan_opts)
    except Xen2KvmError:
        # The golden records this refusal (e.g. six disks in fullvirt); nothing to start.
        assert (DATA / "golden" / case.stem / f"{mode}-qemu.error").exists()
        return
    argv = qemu_argv(guest, accel="tcg", restricted_user_net=True).argv
    assert argv[0] == "qemu-system-x86_64"
    assert all(isinstance(a, str) for a in argv)
    proc = _run_qemu(argv)
    assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stderr}"
    assert "qemu-system-x86_64:" not in proc.stderr, proc.stderr
    if guest.boot is BootMethod.KERNEL:
        assert "-kernel" in argv


def test_qemu_rejects_a_broken_argv(tmp_path: Path) -> None:
    """The check above can fail: QEMU refuses an argument list it cannot use."""
    proc = _run_qemu(["qemu-system-x86_64", "-accel", "tcg", "-display", "none", "-nodefaults",
                      "-device", "scsi-hd,drive=nonexistent"])
    assert proc.returncode != 0
