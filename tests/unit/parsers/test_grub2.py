"""GRUB 2: grub.cfg as written by grub-mkconfig on Debian 12, and /etc/default/grub."""

from __future__ import annotations

from pathlib import Path

import pytest

from xen2kvm.errors import ParseError
from xen2kvm.parsers import grub2

DATA = Path(__file__).parent / "data"
DEBIAN12 = (DATA / "debian12-grub.cfg").read_text()

UBUNTU1404_DEFAULT = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_HIDDEN_TIMEOUT=0
GRUB_HIDDEN_TIMEOUT_QUIET=true
GRUB_TIMEOUT=10
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="console=hvc0"
GRUB_CMDLINE_LINUX=""

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
GRUB_DISABLE_LINUX_UUID=true
"""


def test_debian12_grub_cfg_entries() -> None:
    cfg = grub2.parse_cfg(DEBIAN12)
    assert cfg.render() == DEBIAN12
    entries = cfg.entries()
    assert [e.index_path for e in entries] == ["0", "1>0", "1>1", "1>2"]
    first = entries[0]
    assert first.title == "Debian GNU/Linux"
    assert first.id == "gnulinux-simple-5d3c6c1e-4bd6-4b7b-9d38-0e3d0a2f2b61"
    assert first.kernel == "/boot/vmlinuz-6.1.0-13-amd64"
    assert first.initrd == "/boot/initrd.img-6.1.0-13-amd64"
    assert first.cmdline is not None
    assert first.cmdline.get("root") == "UUID=5d3c6c1e-4bd6-4b7b-9d38-0e3d0a2f2b61"
    assert first.cmdline.get_all("console") == ["hvc0"]
    assert [gl.keyword for gl in first.root_settings] == ["set", "search", "search"]
    old = entries[3]
    assert old.parents == ("Advanced options for Debian GNU/Linux",)
    assert old.kernel == "/boot/vmlinuz-5.10.0-26-amd64"
    assert [s.kind for s in cfg.top] == ["menuentry", "submenu"]
    assert cfg.default == "0"
    assert len(cfg.set_default_lines()) == 1  # not the ${next_entry} one


def test_find_by_every_grub_default_notation() -> None:
    cfg = grub2.parse_cfg(DEBIAN12)
    target = cfg.entries()[3]
    assert cfg.find("1>2") is target
    assert cfg.find(target.id or "") is target
    assert cfg.find(target.title) is target
    assert cfg.find(target.title_path) is target
    assert (
        cfg.find("gnulinux-advanced-5d3c6c1e-4bd6-4b7b-9d38-0e3d0a2f2b61>" + target.title) is target
    )
    assert cfg.find("0") is cfg.entries()[0]
    assert cfg.find("1") is None  # a submenu is not bootable
    assert cfg.find("nope") is None


def test_edit_cmdlines_and_default_in_place() -> None:
    cfg = grub2.parse_cfg(DEBIAN12)
    for e in cfg.entries():
        assert e.cmdline is not None
        e.cmdline.replace("console", "ttyS0,19200n8", old_value="hvc0")
    assert cfg.set_default("1>2") == 1
    out = cfg.render()
    assert out == DEBIAN12.replace("console=hvc0", "console=ttyS0,19200n8").replace(
        '   set default="0"', '   set default="1>2"'
    )
    again = grub2.parse_cfg(out)
    assert again.default == "1>2"
    assert again.find(again.default or "") is again.entries()[3]


def test_linux16_linuxefi_and_multiple_initrds() -> None:
    text = (
        "set default='x'\n"
        "menuentry 'CentOS Linux (3.10)' --class centos --id x {\n"
        "  linux16 /vmlinuz-3.10 root=/dev/mapper/c-root ro console=hvc0\n"
        "  initrd16 /initramfs-3.10.img\n"
        "}\n"
        'menuentry "EFI \\"quoted\\"" {\n'
        "  linuxefi /vmlinuz-4 ro\n"
        "  initrdefi /intel-ucode.img /initramfs-4.img\n"
        "}\n"
    )
    cfg = grub2.parse_cfg(text)
    a, b = cfg.entries()
    assert a.kernel == "/vmlinuz-3.10" and a.initrd == "/initramfs-3.10.img" and a.id == "x"
    assert b.title == 'EFI "quoted"'
    assert b.initrds == ["/intel-ucode.img", "/initramfs-4.img"]
    assert b.initrd == "/initramfs-4.img"
    assert cfg.default == "x" and cfg.find("x") is a


def test_unbalanced_blocks_are_parse_errors() -> None:
    with pytest.raises(ParseError) as exc:
        grub2.parse_cfg("menuentry 'a' {\n  linux /v\n", "/boot/grub/grub.cfg")
    assert exc.value.line == 1 and exc.value.source == "/boot/grub/grub.cfg"
    with pytest.raises(ParseError) as exc2:
        grub2.parse_cfg("}\n")
    assert exc2.value.line == 1


def test_ubuntu1404_default_grub() -> None:
    d = grub2.parse_default(UBUNTU1404_DEFAULT)
    assert d.render() == UBUNTU1404_DEFAULT
    c = grub2.get_cmdline(d, "GRUB_CMDLINE_LINUX_DEFAULT")
    assert c is not None and c.get_all("console") == ["hvc0"]
    empty = grub2.get_cmdline(d)
    assert empty is not None and len(empty) == 0
    assert grub2.get_cmdline(d, "GRUB_CMDLINE_XEN") is None
    c.replace("console", "ttyS0,19200n8")
    grub2.set_cmdline(d, "GRUB_CMDLINE_LINUX_DEFAULT", c)
    empty.add("net.ifnames", "0")
    grub2.set_cmdline(d, "GRUB_CMDLINE_LINUX", empty)
    d.set("GRUB_TERMINAL", "serial console")
    d.set("GRUB_SERIAL_COMMAND", "serial --speed=19200 --unit=0 --word=8 --parity=no --stop=1")
    out = d.render()
    assert out == UBUNTU1404_DEFAULT.replace(
        'GRUB_CMDLINE_LINUX_DEFAULT="console=hvc0"',
        'GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0,19200n8"',
    ).replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="net.ifnames=0"') + (
        'GRUB_TERMINAL="serial console"\n'
        'GRUB_SERIAL_COMMAND="serial --speed=19200 --unit=0 --word=8 --parity=no --stop=1"\n'
    )


def test_split_words() -> None:
    assert grub2.split_words('menuentry \'a b\' "c\\"d" e\\ f # x') == [
        "menuentry",
        "a b",
        'c"d',
        "e f",
    ]
    assert grub2.split_words("echo 'unterminated") == ["echo", "unterminated"]
