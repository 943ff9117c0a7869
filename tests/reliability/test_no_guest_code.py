"""No guest code ever runs on the host.

Every program a conversion might be tempted to run (initramfs generators, the shell, modprobe,
systemctl) is replaced in the guest by an executable script that would write a host canary
file. A full ``inspect``, ``convert`` and ``rollback`` must never create it; and, run under
``strace -f -e trace=execve,execveat``, no process may execute any path inside the guest root.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.fixtures.boot import with_boot
from tests.fixtures.tree import build_tree
from tests.reliability.harness import record_figures, run_inprocess, run_subprocess

TRAPPED = [
    "/sbin/update-initramfs", "/usr/sbin/update-initramfs", "/usr/bin/dracut",
    "/usr/sbin/dracut", "/usr/bin/mkinitcpio", "/sbin/mkinitrd", "/bin/sh", "/usr/bin/env",
    "/sbin/modprobe", "/usr/bin/systemctl", "/bin/bash", "/usr/sbin/grub-mkconfig",
    "/usr/sbin/update-grub", "/usr/sbin/grub2-mkconfig", "/sbin/depmod", "/usr/bin/kmod",
    "/sbin/ldconfig", "/usr/bin/python3", "/sbin/restorecon", "/usr/bin/chroot",
]
GUESTS = ["DEBIAN12", "CENTOS6", "CENTOS7", "ARCH", "DEBIAN7"]
_EXEC = re.compile(r'execve(?:at)?\((?:[^,]+, )?"((?:[^"\\]|\\.)*)"')


def trapped_guest(root: Path, name: str, canary: Path) -> Path:
    """A fixture guest whose executables would each write ``canary`` (with their name)."""
    tree = dict(with_boot(name))
    for path in TRAPPED:
        tree.pop(path, None)
    build_tree(root, tree)
    for path in TRAPPED:
        p = root / path.lstrip("/")
        if p.is_symlink() or p.exists():
            p.unlink()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"#!/bin/sh\necho 'guest code ran: {path}' >> {canary}\nexit 0\n")
        p.chmod(0o755)
    return root


@pytest.mark.parametrize("name", GUESTS)
def test_convert_never_runs_guest_executables(name: str, tmp_path: Path) -> None:
    canary = tmp_path / "host" / "guest-code-ran"
    canary.parent.mkdir()
    root = trapped_guest(tmp_path / "root", name, canary)
    for argv in (["inspect", str(root)], ["convert", str(root), "--dry-run"],
                 ["convert", str(root)], ["convert", str(root)], ["rollback", str(root)]):
        run = run_inprocess([*argv, "--json"])
        assert run.code in (0, 1), (argv, run.err)
        assert not canary.exists(), f"{argv[0]} ran guest code: {canary.read_text()}"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("name", ["DEBIAN12", "CENTOS6"])
def test_no_execve_inside_the_guest_root(name: str, tmp_path: Path) -> None:
    canary = tmp_path / "host" / "guest-code-ran"
    canary.parent.mkdir()
    root = trapped_guest(tmp_path / "root", name, canary).resolve()
    programs: set[str] = set()
    for n, argv in enumerate((["inspect", str(root)], ["convert", str(root)],
                              ["rollback", str(root)])):
        log = tmp_path / f"strace-{n}.log"
        run = run_subprocess(
            [*argv, "--json"], wrapper=["strace", "-f", "-qq", "-e", "trace=execve,execveat",
                                        "-o", str(log)],
        )
        assert run.code in (0, 1), (argv, run.err)
        execs = _EXEC.findall(log.read_text())
        assert execs, "strace saw no execve at all: the trace did not work"
        inside = [p for p in execs if p.startswith(str(root)) or p.startswith(str(tmp_path))]
        assert inside == [], f"{argv[0]} executed guest files: {inside}"
        programs.update(execs)
    assert not canary.exists()
    record_figures("no-guest-code", {"guest": name, "trapped": len(TRAPPED),
                                     "host_programs": sorted(programs)})
