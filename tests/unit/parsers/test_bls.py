"""BLS entries (Fedora) and /etc/kernel/cmdline."""

from __future__ import annotations

from xen2kvm.parsers import bls

FEDORA = """\
title Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Cloud Edition)
version 6.5.6-300.fc39.x86_64
linux /boot/vmlinuz-6.5.6-300.fc39.x86_64
initrd /boot/initramfs-6.5.6-300.fc39.x86_64.img
options root=UUID=8d4f3e7b-2b1f-4c1a-9f5e-1a2b3c4d5e6f ro rootflags=subvol=root \
no_timer_check net.ifnames=0 console=tty1 console=hvc0
grub_users $grub_users
grub_arg --unrestricted
grub_class fedora
"""


def test_fedora_entry() -> None:
    e = bls.parse(FEDORA)
    assert e.render() == FEDORA
    assert e.title == "Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Cloud Edition)"
    assert e.version == "6.5.6-300.fc39.x86_64"
    assert e.linux == "/boot/vmlinuz-6.5.6-300.fc39.x86_64"
    assert e.initrds == ["/boot/initramfs-6.5.6-300.fc39.x86_64.img"]
    assert e.cmdline is not None and e.cmdline.get_all("console") == ["tty1", "hvc0"]
    assert e.get("grub_class") == "fedora"


def test_edit_options_in_place() -> None:
    e = bls.parse(FEDORA)
    assert e.cmdline is not None
    e.cmdline.replace("console", "ttyS0,19200n8", old_value="hvc0")
    assert e.render() == FEDORA.replace("console=hvc0", "console=ttyS0,19200n8")
    e.set("title", "Renamed")
    assert e.render().startswith("title Renamed\nversion ")
    e.set("architecture", "x64")
    assert e.render().endswith("grub_class fedora\narchitecture x64\n")


def test_several_options_lines_and_kernelopts() -> None:
    e = bls.parse("# c\noptions $kernelopts\noptions console=hvc0\ninitrd /a /b\ninitrd /c")
    assert e.options_text() == "$kernelopts console=hvc0"
    assert e.initrds == ["/a", "/b", "/c"]
    e.set("x", "y")
    assert (
        e.render()
        == "# c\noptions $kernelopts\noptions console=hvc0\ninitrd /a /b\ninitrd /c\nx y\n"
    )


def test_kernel_cmdline_file_and_version_order() -> None:
    c = bls.parse_kernel_cmdline("root=UUID=x ro console=hvc0\n")
    c.replace("console", "ttyS0")
    assert c.render() == "root=UUID=x ro console=ttyS0\n"
    versions = ["6.5.6-300.fc39.x86_64", "6.10.1-100.fc39.x86_64", "6.5.12-300.fc39.x86_64"]
    assert sorted(versions, key=bls.version_key)[-1] == "6.10.1-100.fc39.x86_64"
