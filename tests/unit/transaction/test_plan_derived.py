"""PlanBuilder.derived: a value derived from files is reused until one of those files changes."""

from __future__ import annotations

from xen2kvm.guest.memory import MemoryGuest, Symlink
from xen2kvm.plan import PlanBuilder


def _plan() -> tuple[PlanBuilder, list[str]]:
    g = MemoryGuest(
        {
            "/boot/grub/menu.lst": "kernel /vmlinuz root=/dev/xvda\n",
            "/etc/grub.conf": Symlink("../boot/grub/menu.lst"),
            "/etc/fstab": "/dev/xvda / ext4 defaults 0 1\n",
        },
        read_only=True,
    )
    return PlanBuilder(g), []


def test_reused_until_a_file_it_read_changes() -> None:
    b, computed = _plan()

    def roots() -> str:
        computed.append("roots")
        return (b.read_text("/etc/grub.conf") or "").split("root=")[1].strip()

    assert b.derived("roots", roots) == "/dev/xvda"
    assert b.derived("roots", roots) == "/dev/xvda"
    assert computed == ["roots"]
    # A change elsewhere keeps it...
    b.write_text("/etc/fstab", "/dev/sda / ext4 defaults 0 1\n", check="c", reason="r")
    assert b.derived("roots", roots) == "/dev/xvda" and len(computed) == 1
    # ...a change to the file it read (here through the symlink's target) drops it.
    b.write_text("/boot/grub/menu.lst", "kernel /vmlinuz root=/dev/sda\n", check="c", reason="r")
    assert b.derived("roots", roots) == "/dev/sda"
    assert len(computed) == 2


def test_nested_derived_values_pass_their_reads_outwards() -> None:
    b, computed = _plan()

    def inner() -> str:
        computed.append("inner")
        return b.read_text("/etc/fstab") or ""

    def outer() -> int:
        computed.append("outer")
        return len(b.derived("inner", inner))

    first = b.derived("outer", outer)
    b.remove("/etc/fstab", check="c", reason="r")
    assert b.derived("outer", outer) == 0 != first
    assert computed == ["outer", "inner", "outer", "inner"]
