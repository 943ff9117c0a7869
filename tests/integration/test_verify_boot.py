"""verify on real Xen-style guests under QEMU (TCG here), through the command line.

Positive end-to-end tests after `convert` are wired by the convert work; here: the unconverted
guests fail with the right verdict, and a positive control shows the login/network path works.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.guests import process_alive, run_verify_cli
from tools.guestbuilder import BuiltGuest

pytestmark = [pytest.mark.boot, pytest.mark.slow]


verify = run_verify_cli
_alive = process_alive


def fingerprint(paths: list[str]) -> list[tuple[int, int]]:
    return [(os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]


def test_unconverted_reference_is_silent_in_paravirt(
    reference_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    before = fingerprint(reference_guest.disks)
    code, res, err = verify([*reference_guest.disks, "--mode", "paravirt"], verify_env, tmp_path)
    assert code == 1, err
    assert res["verdict"] == "silent"
    # kernel, initrd and command line came from the image's pv-grub menu.lst
    assert res["boot_source"] == "/boot/grub/menu.lst"
    assert res["cmdline"] == "root=/dev/xvda ro console=hvc0"
    # decided from what QEMU showed, not by running into the timeout
    assert "timeout" not in res["reason"]
    assert "no console on ttyS0" in res["reason"]
    assert any(s["kernel_running"] for s in res["activity"])
    assert res["timings"]["first_console_byte"] is None
    assert res["console_log"] == ""
    assert fingerprint(reference_guest.disks) == before, "the guest's disks must not be written"


def test_unconverted_reference_fullvirt_on_ttys0_has_no_root(
    reference_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    """With the console moved to ttyS0 by hand, the Xen-only initramfs shows why it fails."""
    code, res, err = verify(
        [*reference_guest.disks, "--mode", "fullvirt", "--append",
         "root=/dev/xvda ro console=ttyS0"], verify_env, tmp_path,
    )
    assert code == 1, err
    assert res["verdict"] == "no-root"
    assert "Gave up waiting for root" in res["matched_lines"][0]
    assert res["timings"]["failure_line_seen"] is not None
    assert res["timings"]["decision_delay"] is not None
    assert "Linux version" in res["console_log"]
    assert any("e1000" in a for a in res["qemu_command"])


HOST_KERNELS = sorted(Path("/boot").glob("vmlinuz-*-amd64"))


@pytest.mark.skipif(not HOST_KERNELS, reason="needs a Debian kernel and initrd in the host's /boot")
def test_positive_control_login_and_network_with_the_hosts_kernel(
    reference_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    """The unconverted guest's userspace, booted with the host's stock Debian kernel and
    initrd (which carry virtio) and a command line fixed by hand, logs in on ttyS0 and gets
    QEMU's DHCP address. verify still reports what is left unconverted: the swap on xvdb."""
    kernel = HOST_KERNELS[-1]
    initrd = Path(str(kernel).replace("vmlinuz-", "initrd.img-"))
    if not initrd.exists():
        pytest.skip(f"{initrd} missing")
    code, res, err = verify(
        [*reference_guest.disks, "--mode", "paravirt", "--kernel", str(kernel), "--initrd",
         str(initrd), "--append",
         # LABEL=: with two SCSI disks probed in parallel, sda is not always the root disk
         "root=LABEL=root ro console=ttyS0 net.ifnames=0 systemd.swap=0 "
         "systemd.mask=serial-getty@hvc0.service",
         "--login", reference_guest.login], verify_env, tmp_path,
    )
    assert res["verdict"] == "network", (err, res.get("console_tail"))
    login = res["login"]
    assert login["logged_in"]
    assert {"name": "eth0", "ipv4": ["10.0.2.15"]} in login["interfaces"]
    assert login["root_source"].startswith("/dev/sd")
    assert login["root_disk_index"] == 0  # by the disk's serial number, whatever its name
    assert login["init_system"] == "systemd"
    assert login["failed_units"] == []
    assert login["fstab_swaps"] == ["/dev/xvdb"] and login["swaps"] == []
    assert res["problems"] == ["fstab lists swap (/dev/xvdb) but none is active"]
    assert code == 1 and not res["ok"]


def test_direct_disk_boot_runs_grub_from_the_mbr(
    partitioned_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    code, res, err = verify(
        [*partitioned_guest.disks, "--mode", "paravirt", "--boot", "disk"], verify_env, tmp_path
    )
    assert code == 1, err
    assert res["boot"] == "disk" and res["kernel"] is None
    assert not any(a == "-kernel" for a in res["qemu_command"])
    assert res["verdict"] == "silent"
    # GRUB read the kernel and initrd off the disk, and the kernel ran
    assert max(s["disk_ops"] for s in res["activity"]) > 50
    assert any(s["kernel_running"] for s in res["activity"])


def test_disk_boot_of_a_bare_filesystem_is_an_error(
    reference_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    code, _, err = verify(
        [*reference_guest.disks, "--mode", "paravirt", "--boot", "disk"], verify_env, tmp_path
    )
    assert code == 2
    assert "no MBR boot code" in err
    assert "Traceback" not in err


def test_timeout_reaps_qemu(
    reference_guest: BuiltGuest, verify_env: dict[str, str], tmp_path: Path
) -> None:
    code, res, err = verify(
        [*reference_guest.disks, "--mode", "paravirt", "--timeout", "3"], verify_env, tmp_path
    )
    assert code == 1, err
    assert res["verdict"] == "silent"
    assert "within the 3 s timeout" in res["reason"]
    assert res["qemu_pid"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.parametrize("sig", [15, 9])
def test_killed_verify_takes_qemu_with_it(
    reference_guest: BuiltGuest, verify_env: dict[str, str], sig: int
) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "xen2kvm", "verify", *reference_guest.disks, "--mode",
         "paravirt", "--timeout", "120"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=verify_env,
    )
    qemu: list[int] = []
    deadline = time.monotonic() + 60
    while not qemu and time.monotonic() < deadline and proc.poll() is None:
        qemu = [c for c in _children(proc.pid)
                if b"qemu-system" in Path(f"/proc/{c}/cmdline").read_bytes()]
        time.sleep(0.2)
    assert qemu, "verify should have started QEMU"
    proc.send_signal(signal.Signals(sig))
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(q) for q in qemu) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(q) for q in qemu)
