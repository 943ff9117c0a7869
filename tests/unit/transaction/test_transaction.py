"""The transaction: journaled apply, verification, rollback to the exact original tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xen2kvm.errors import GuestPathError, TransactionError
from xen2kvm.guest.base import Guest
from xen2kvm.guest.local import LocalGuest
from xen2kvm.guest.memory import MemoryGuest, Symlink
from xen2kvm.plan import Plan, PlanBuilder
from xen2kvm.transaction import JOURNAL_ROOT, Transaction

FILES = {
    "/etc/fstab": "/dev/xvda / ext4 defaults 0 1\n/dev/xvdb none swap sw 0 0\n",
    "/boot/grub/menu.lst": (
        "default 0\ntitle Debian\nkernel /boot/vmlinuz root=/dev/xvda console=hvc0\n"
    ),
    "/etc/grub.conf": Symlink("../boot/grub/menu.lst"),
    "/etc/udev/rules.d/70-persistent-net.rules": 'SUBSYSTEM=="net", NAME="eth0"\n',
    "/boot/initrd.img": b"\x07\x07\x01" + b"A" * 100,
    "/var/lib/dpkg/status": "Package: systemd\n",
}


def tree(root: Path) -> dict[str, tuple[str, bytes | str, int, int, int]]:
    """Every path under root with kind, content or target, mode, uid, gid."""
    out: dict[str, tuple[str, bytes | str, int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = "/" + str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("l", os.readlink(p), st.st_mode, st.st_uid, st.st_gid)
            elif p.is_dir():
                out[rel] = ("d", "", st.st_mode, st.st_uid, st.st_gid)
            else:
                out[rel] = ("f", p.read_bytes(), st.st_mode, st.st_uid, st.st_gid)
    return out


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "guest"
    for path, content in FILES.items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            os.symlink(content.target, p)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    os.chmod(root / "boot/grub/menu.lst", 0o600)
    return root


def sample_plan(guest: Guest) -> Plan:
    b = PlanBuilder(guest)
    fstab = b.read_text("/etc/fstab")
    assert fstab is not None
    b.write_text("/etc/fstab", fstab.replace("xvd", "sd"), check="block-device-names", reason="r")
    # Edited through the /etc/grub.conf symlink: lands on the real file.
    menu = b.read_text("/etc/grub.conf")
    assert menu is not None
    b.write_text("/etc/grub.conf", menu.replace("hvc0", "ttyS0"), check="console", reason="c")
    menu2 = b.read_text("/boot/grub/menu.lst")
    assert menu2 is not None and "ttyS0" in menu2
    b.write_text(
        "/boot/grub/menu.lst", menu2.replace("/dev/xvda", "/dev/sda"), check="block-device-names",
        reason="r",
    )
    b.remove("/etc/udev/rules.d/70-persistent-net.rules", check="persistent-net-rules", reason="p")
    b.symlink("/etc/udev/rules.d/80-net-setup-link.rules", "/dev/null", check="nic", reason="n")
    b.write_text("/etc/dracut.conf.d/xen2kvm.conf", "add_drivers+=\" virtio_scsi \"\n",
                 check="initramfs-drivers", reason="i", mode=0o644)
    b.append("/boot/initrd.img", b"\x07\x07\x01NEW", check="initramfs-drivers", reason="i",
             summary=["lib/modules/x/virtio_scsi.ko"])
    return b.build()


def test_plan_merges_edits_per_file_and_follows_symlinks(tmp_path: Path) -> None:
    guest = LocalGuest(make_root(tmp_path))
    plan = sample_plan(guest)
    by_path = {a.path: a for a in plan.actions}
    assert "/etc/grub.conf" not in by_path
    menu = by_path["/boot/grub/menu.lst"]
    assert menu.checks == ("console", "block-device-names")
    assert menu.content == (
        b"default 0\ntitle Debian\nkernel /boot/vmlinuz root=/dev/sda console=ttyS0\n"
    )
    assert by_path["/etc/udev/rules.d/70-persistent-net.rules"].kind == "remove"
    diff = plan.diff(guest)
    assert "-kernel /boot/vmlinuz root=/dev/xvda console=hvc0" in diff
    assert "+kernel /boot/vmlinuz root=/dev/sda console=ttyS0" in diff
    assert "append 6 bytes to /boot/initrd.img" in diff


def test_no_difference_means_no_action() -> None:
    g = MemoryGuest({"/etc/fstab": "x\n"}, read_only=True)
    b = PlanBuilder(g)
    b.write_text("/etc/fstab", "x\n", check="c", reason="r")
    b.write_text("/etc/new", "y\n", check="c", reason="r")
    b.write_text("/etc/fstab", "z\n", check="c", reason="r")
    b.write_text("/etc/fstab", "x\n", check="d", reason="r")  # back to the original
    assert [a.path for a in b.build().actions] == ["/etc/new"]


@pytest.mark.parametrize("backend", ["local", "memory"])
def test_apply_then_rollback_restores_exactly(tmp_path: Path, backend: str) -> None:
    if backend == "local":
        root = make_root(tmp_path)
        original = tree(root)
        guest: Guest = LocalGuest(root, read_only=False)
    else:
        guest = MemoryGuest(FILES)
        original_mem = guest.snapshot() if isinstance(guest, MemoryGuest) else {}
    plan = sample_plan(guest)
    result = Transaction(guest).apply(plan)
    assert result.applied == plan.paths
    assert guest.read_text("/etc/fstab").startswith("/dev/sda /")
    assert guest.readlink("/etc/udev/rules.d/80-net-setup-link.rules") == "/dev/null"
    assert guest.read_bytes("/boot/initrd.img").endswith(b"NEW")
    assert guest.is_file(f"{result.journal}/journal.json")
    # A second plan over the converted guest is empty.
    assert not PlanBuilder(guest).build()
    rb = Transaction(guest).rollback()
    assert rb.txids == [result.txid]
    assert not rb.crashed
    if backend == "local":
        assert tree(root) == original
    else:
        assert isinstance(guest, MemoryGuest)
        assert guest.snapshot() == original_mem


def test_failure_mid_apply_rolls_everything_back(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    original = tree(root)
    guest = LocalGuest(root, read_only=False)
    b = PlanBuilder(guest)
    b.write_text("/etc/fstab", "changed\n", check="c", reason="r")
    b.write_text("/etc/zz/new", "x\n", check="c", reason="r")
    plan = b.build()
    # Make the second action fail: a directory appears where the new file goes.
    real_write = guest.write_bytes
    calls = []

    def failing(path: str, data: bytes, **kw: object) -> None:
        calls.append(path)
        if path == "/etc/zz/new":
            raise GuestPathError(path, "no space left on the guest filesystem")
        real_write(path, data, **kw)  # type: ignore[arg-type]

    guest.write_bytes = failing  # type: ignore[method-assign]
    with pytest.raises(TransactionError, match="rolled back"):
        Transaction(guest).apply(plan)
    guest.write_bytes = real_write  # type: ignore[method-assign]
    assert "/etc/fstab" in calls
    assert tree(root) == original


def test_read_only_guest_is_refused() -> None:
    with pytest.raises(TransactionError, match="read-only"):
        Transaction(MemoryGuest({}, read_only=True))


CRASH_SCRIPT = """
import sys
from xen2kvm.guest.local import LocalGuest
from xen2kvm.plan import PlanBuilder
sys.path.insert(0, sys.argv[2])
from test_transaction import sample_plan
g = LocalGuest(sys.argv[1], read_only=False)
from xen2kvm.transaction import Transaction
Transaction(g).apply(sample_plan(g))
"""


def test_sigkill_at_every_operation_is_recoverable(tmp_path: Path) -> None:
    """Kill the apply after each filesystem operation; rollback must restore the original."""
    ref_root = make_root(tmp_path / "ref")
    original = tree(ref_root)
    # Count the operations of a full apply.
    g = LocalGuest(ref_root, read_only=False)
    t = Transaction(g)
    t.apply(sample_plan(g))
    total = t.ops
    assert total > 10
    survived = 0
    for n in range(total):
        root = make_root(tmp_path / f"n{n}")
        env = dict(os.environ, XEN2KVM_CRASH_AFTER_OPS=str(n))
        proc = subprocess.run(
            [sys.executable, "-c", CRASH_SCRIPT, str(root), str(Path(__file__).parent)],
            env=env, capture_output=True, timeout=60,
        )
        assert proc.returncode == -9, proc.stderr.decode()
        guest = LocalGuest(root, read_only=False)
        Transaction(guest).rollback()
        assert tree(root) == original, f"not restored after a kill at operation {n}"
        assert not (root / JOURNAL_ROOT.lstrip("/")).exists()
        survived += 1
    assert survived == total
