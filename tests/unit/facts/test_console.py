"""Console facts: cmdline consoles, gettys for each init system, securetty, GRUB serial."""

from __future__ import annotations

import pytest

from tests.fixtures import guests as g
from xen2kvm.distros import GettyStyle
from xen2kvm.facts.console import ConsoleFacts, gather_console
from xen2kvm.facts.system import gather_system
from xen2kvm.guest.base import FileKind
from xen2kvm.guest.memory import MemoryGuest, Special, Symlink
from xen2kvm.jsonutil import to_jsonable


def console(
    tree: g.Tree, cmdlines: list[str] | None = None, grub_serial: bool | None = None
) -> ConsoleFacts:
    guest = MemoryGuest(tree)
    return gather_console(guest, gather_system(guest), cmdlines or [], grub_serial=grub_serial)


def active(f: ConsoleFacts) -> list[tuple[str, str]]:
    return [(x.device, x.style.value) for x in f.active_gettys()]


# --- each fixture guest -----------------------------------------------------------------------

# name: active gettys (device, style), automatic console getty, securetty has hvc0 / ttyS0
EXPECTED = {
    "debian7": (
        [(f"tty{n}", "sysvinit") for n in range(1, 7)] + [("hvc0", "sysvinit")],
        False,
        (True, True),
    ),
    "debian12": ([("tty1", "systemd"), ("hvc0", "systemd")], True, None),
    "ubuntu1404": ([("hvc0", "upstart"), ("tty1", "upstart")], False, (True, True)),
    "ubuntu2204": ([("tty1", "systemd")], True, None),
    "centos6": ([("$DEV", "upstart"), ("$TTY", "upstart")], True, (True, True)),
    "centos7": ([("tty1", "systemd")], True, (True, True)),
    "arch": ([("tty1", "systemd")], True, (True, True)),
    "opensuse": ([("tty1", "systemd")], True, (True, False)),
    "fedora": ([("tty1", "systemd")], True, None),
    "kvm_ready": ([("tty1", "systemd"), ("ttyS0", "systemd")], True, None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_guests(name: str) -> None:
    tree, cmdline = g.ALL[name]
    gettys, auto, securetty = EXPECTED[name]
    f = console(tree, [cmdline])
    assert active(f) == gettys
    assert f.console_getty_automatic is auto
    if securetty is None:
        assert f.securetty_path is None
    else:
        assert f.securetty_path == "/etc/securetty"
        assert (f.securetty_lists("hvc0"), f.securetty_lists("ttyS0")) == securetty
    assert f.problems == []
    assert to_jsonable(f)["gettys"][0]["style"] in ("systemd", "upstart", "sysvinit")


def test_cmdline_consoles_and_xencons() -> None:
    f = console(
        g.CENTOS6, [g.CENTOS6_CMDLINE, "ro root=/dev/sda console=tty0 console=ttyS0,19200n8"]
    )
    assert [(c.cmdline, c.device, c.options, c.param) for c in f.cmdline_consoles] == [
        (0, "hvc0", None, "console=hvc0"),
        (1, "tty0", None, "console=tty0"),
        (1, "ttyS0", "19200n8", "console=ttyS0,19200n8"),
    ]
    assert f.xencons == [(0, "tty")]
    assert [c.param for c in f.xen_cmdline_consoles] == ["console=hvc0"]
    assert [c.device for c in f.consoles_on(1)] == ["tty0", "ttyS0"]


def test_old_xenlinux_console() -> None:
    f = console(g.OPENSUSE, [g.OPENSUSE_CMDLINE])
    assert [c.device for c in f.xen_cmdline_consoles] == ["xvc0"]
    assert f.xencons == [(0, "xvc")]


def test_kvm_ready_has_no_xen_console() -> None:
    f = console(g.KVM_READY, [g.KVM_READY_CMDLINE])
    assert f.xen_cmdline_consoles == []
    assert [c.device for c in f.consoles_on(0)] == ["ttyS0"]
    assert [x.path for x in f.getty_on("ttyS0")] == [
        "/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
    ]


# --- sysvinit ---------------------------------------------------------------------------------


def test_inittab_lines_and_commented_gettys() -> None:
    f = console(g.DEBIAN7)
    (hvc0,) = f.getty_on("hvc0")
    assert (hvc0.path, hvc0.line, hvc0.text) == (
        "/etc/inittab",
        70,
        "hvc0:2345:respawn:/sbin/getty 38400 hvc0",
    )
    # The shipped, commented-out serial getty is known (convert can switch it on) but off.
    (ttys0,) = [x for x in f.gettys if x.device == "ttyS0"]
    assert (ttys0.enabled, ttys0.line, ttys0.text) == (
        False,
        63,
        "#T0:23:respawn:/sbin/getty -L ttyS0 9600 vt100",
    )
    assert f.getty_on("ttyS0") == []


def test_inittab_on_a_systemd_guest_is_not_in_use() -> None:
    # Debian 7 upgraded to 8 keeps its inittab; systemd ignores it.
    tree = {**g.DEBIAN12, "/etc/inittab": g.DEBIAN7_INITTAB}
    f = console(tree)
    inittab = [x for x in f.gettys if x.style is GettyStyle.SYSVINIT]
    assert inittab and not any(x.in_use for x in inittab)
    assert [x.style for x in f.getty_on("hvc0")] == [GettyStyle.SYSTEMD]


def test_old_rhel5_inittab_xvc0() -> None:
    tree = {
        "/etc/redhat-release": "CentOS release 5.11 (Final)\n",
        "/sbin/init": g.ELF,
        "/etc/inittab": "id:3:initdefault:\n"
        "1:2345:respawn:/sbin/mingetty tty1\n"
        "co:2345:respawn:/sbin/agetty xvc0 9600 vt100-nav\n",
    }
    f = console(tree)
    assert active(f) == [("tty1", "sysvinit"), ("xvc0", "sysvinit")]


# --- upstart ----------------------------------------------------------------------------------


def test_upstart_job_line_and_manual_override() -> None:
    (hvc0,) = console(g.UBUNTU1404).getty_on("hvc0")
    assert (hvc0.path, hvc0.line, hvc0.text) == (
        "/etc/init/hvc0.conf",
        10,
        "exec /sbin/getty -8 38400 hvc0",
    )
    f = console({**g.UBUNTU1404, "/etc/init/hvc0.override": "manual\n"})
    assert f.getty_on("hvc0") == []
    assert [x.enabled for x in f.gettys if x.device == "hvc0"] == [False]


def test_ttys0_upstart_job() -> None:
    job = g.UBUNTU1404_HVC0_CONF.replace("hvc0", "ttyS0").replace(
        "-8 38400 ttyS0", "-L 115200 ttyS0 vt102"
    )
    f = console({**g.UBUNTU1404, "/etc/init/ttyS0.conf": job})
    assert [x.path for x in f.getty_on("ttyS0")] == ["/etc/init/ttyS0.conf"]


def test_centos6_serial_conf_follows_the_kernel_console() -> None:
    f = console(g.CENTOS6, [g.CENTOS6_CMDLINE])
    assert f.console_getty_automatic
    assert f.console_getty_evidence == "/etc/init/serial.conf starts a getty on the serial console"


# --- systemd ----------------------------------------------------------------------------------


def test_masked_serial_getty_is_not_enabled() -> None:
    tree = {**g.DEBIAN12, "/etc/systemd/system/serial-getty@hvc0.service": Symlink("/dev/null")}
    f = console(tree)
    assert f.getty_on("hvc0") == []
    assert [x.enabled for x in f.gettys if x.device == "hvc0"] == [False]


def test_local_unit_without_wants_link_is_recorded_off() -> None:
    tree = {**g.KVM_READY, "/etc/systemd/system/serial-getty@ttyS1.service": g.SERIAL_GETTY_UNIT}
    f = console(tree)
    (unit,) = [x for x in f.gettys if x.device == "ttyS1"]
    assert (unit.enabled, unit.text) == (False, "unit file")


def test_masked_getty_generator() -> None:
    tree = {
        **g.ARCH,
        "/etc/systemd/system-generators/systemd-getty-generator": Symlink("/dev/null"),
    }
    f = console(tree)
    assert not f.console_getty_automatic
    assert "masked" in f.console_getty_evidence


# --- GRUB serial terminal ---------------------------------------------------------------------

LEGACY_SERIAL = """\
serial --unit=0 --speed=19200 --word=8 --parity=no --stop=1
terminal --timeout=10 serial console
default 0
title Debian
kernel /boot/vmlinuz root=/dev/xvda console=hvc0
"""


def test_grub_legacy_serial_lines() -> None:
    f = console({**g.DEBIAN7, "/boot/grub/menu.lst": LEGACY_SERIAL})
    assert f.grub_serial is True
    assert f.grub_serial_evidence == [
        "/boot/grub/menu.lst:1: serial --unit=0 --speed=19200 --word=8 --parity=no --stop=1",
        "/boot/grub/menu.lst:2: terminal --timeout=10 serial console",
    ]


def test_grub2_default_serial_terminal() -> None:
    tree = {
        **g.DEBIAN12,
        "/etc/default/grub": 'GRUB_DEFAULT=0\nGRUB_TERMINAL="console serial"\n'
        'GRUB_SERIAL_COMMAND="serial --speed=19200 --unit=0 --word=8 --parity=no --stop=1"\n',
    }
    f = console(tree)
    assert f.grub_serial is True
    assert f.grub_serial_evidence == ["/etc/default/grub: GRUB_TERMINAL=console serial"]


def test_grub_without_serial_and_no_grub_at_all() -> None:
    menu = "default 0\ntitle Debian\nkernel /boot/vmlinuz root=/dev/xvda\n"
    assert console({**g.DEBIAN7, "/boot/grub/menu.lst": menu}).grub_serial is False
    assert console(g.DEBIAN7).grub_serial is None


def test_grub_serial_given_by_caller_wins() -> None:
    f = console({**g.DEBIAN7, "/boot/grub/menu.lst": LEGACY_SERIAL}, grub_serial=False)
    assert f.grub_serial is False and f.grub_serial_evidence == []


# --- hostile ----------------------------------------------------------------------------------


def test_hostile_guest_problems_recorded_not_raised() -> None:
    f = console(g.HOSTILE, [g.DEBIAN12_CMDLINE])
    assert sorted(f.problems) == [
        "/etc/inittab: is a fifo, not a regular file",
        "/etc/securetty: larger than the 4194304-byte limit for this file",
        "/etc/systemd/system/getty.target.wants: too many levels of symbolic links (loop?)",
    ]
    assert f.securetty_path is None
    assert [c.device for c in f.cmdline_consoles] == ["hvc0"]


def test_hostile_upstart_job_and_grub_files() -> None:
    tree = {
        **g.UBUNTU1404,
        "/etc/init/hvc0.conf": Special(FileKind.FIFO),
        "/boot/grub/menu.lst": Symlink("/boot/grub/menu.lst"),
    }
    f = console(tree)
    assert f.getty_on("hvc0") == []
    assert f.grub_serial is None
    assert sorted(f.problems) == [
        "/boot/grub/menu.lst: too many levels of symbolic links (loop?)",
        "/etc/init/hvc0.conf: is a fifo, not a regular file",
    ]
