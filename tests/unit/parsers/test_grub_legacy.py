"""GRUB legacy menu.lst / grub.conf parsing and edits."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.parsers import grub_legacy

DATA = Path(__file__).parent / "data"
DEBIAN7 = (DATA / "debian7-menu.lst").read_text()
CENTOS6 = (DATA / "centos6-grub.conf").read_text()


def test_debian7_pv_grub_menu_lst() -> None:
    cfg = grub_legacy.parse(DEBIAN7)
    assert cfg.render() == DEBIAN7
    assert cfg.default == "0" and cfg.default_index() == 0
    assert [g.keyword for g in cfg.globals()] == ["default", "timeout"]
    e0, e1 = cfg.entries()
    assert e0.title == "Debian GNU/Linux, kernel 3.2.0-4-amd64"
    assert e0.root == "(hd0)"
    assert e0.kernel == "/boot/vmlinuz-3.2.0-4-amd64"
    assert e0.initrd == "/boot/initrd.img-3.2.0-4-amd64"
    assert e0.cmdline is not None and e0.cmdline.get("root") == "/dev/xvda"
    assert e1.cmdline is not None and e1.cmdline.has("single")
    magic = cfg.magic()
    assert magic["kopt"].magic_value == "root=/dev/xvda ro console=hvc0"
    assert magic["groot"].magic_value == "(hd0)"
    assert magic["xenkopt"].magic_value == "console=tty0"
    assert "e.g." not in magic  # '## e.g. kopt=...' documentation lines are not magic


def test_debian7_console_fix_edits_only_what_it_must() -> None:
    cfg = grub_legacy.parse(DEBIAN7)
    for e in cfg.entries():
        assert e.cmdline is not None
        e.cmdline.replace("console", "ttyS0,19200n8", old_value="hvc0")
        e.cmdline.replace("root", "/dev/sda")
    cfg.set_magic("kopt", "root=/dev/sda ro console=ttyS0,19200n8")
    cfg.add_global("serial --unit=0 --speed=19200")
    cfg.add_global("terminal --timeout=10 serial console")
    out = cfg.render()
    expected = DEBIAN7.replace(
        "root=/dev/xvda ro console=hvc0", "root=/dev/sda ro console=ttyS0,19200n8"
    ).replace(
        "timeout\t\t5\n",
        "timeout\t\t5\nserial --unit=0 --speed=19200\nterminal --timeout=10 serial console\n",
    )
    assert out == expected
    again = grub_legacy.parse(out)
    assert [g.keyword for g in again.globals()] == ["default", "timeout", "serial", "terminal"]


def test_centos6_grub_conf() -> None:
    cfg = grub_legacy.parse(CENTOS6, "/boot/grub/grub.conf")
    assert cfg.render() == CENTOS6
    assert cfg.default == "0"
    assert cfg.global_directive("hiddenmenu") is not None
    assert cfg.global_directive("splashimage") is not None
    entries = cfg.entries()
    assert [e.kernel for e in entries] == [
        "/vmlinuz-2.6.32-754.35.1.el6.x86_64",
        "/vmlinuz-2.6.32-431.el6.x86_64",
    ]
    assert entries[0].root == "(hd0,0)"
    assert entries[1].cmdline is not None and entries[1].cmdline.get("root") == "/dev/xvda2"
    cfg.set_default(1)
    assert cfg.render() == CENTOS6.replace("default=0", "default=1")
    assert grub_legacy.parse(cfg.render()).default_index() == 1


def test_default_saved_and_out_of_range() -> None:
    text = "default saved\ntitle a\nkernel /a\ntitle b\nkernel /b\n"
    cfg = grub_legacy.parse(text)
    assert cfg.default_index(saved=1) == 1
    e = cfg.default_entry(saved=1)
    assert e is not None and e.kernel == "/b"
    assert cfg.default_index() == 0
    bad = grub_legacy.parse("default 7\ntitle a\nkernel /a\n")
    e2 = bad.default_entry()
    assert e2 is not None and e2.title == "a"


def test_set_global_adds_when_missing_and_no_final_newline() -> None:
    cfg = grub_legacy.parse("title a\nkernel /vmlinuz root=/dev/xvda1")
    cfg.set_default(0)
    e = cfg.entries()[0]
    assert e.cmdline is not None
    e.cmdline.add("console", "ttyS0")
    assert cfg.render() == "default 0\ntitle a\nkernel /vmlinuz root=/dev/xvda1 console=ttyS0"


def test_kernel_line_without_args_and_with_device_prefix() -> None:
    cfg = grub_legacy.parse("title x\nkernel=(hd0,0)/vmlinuz \ninitrd (hd0,0)/initrd\n")
    e = cfg.entries()[0]
    assert e.kernel == "(hd0,0)/vmlinuz"
    assert e.initrd == "(hd0,0)/initrd"
    assert e.cmdline is not None and len(e.cmdline) == 0
    assert cfg.render() == "title x\nkernel=(hd0,0)/vmlinuz \ninitrd (hd0,0)/initrd\n"
    e.cmdline.add("ro")
    assert cfg.render() == "title x\nkernel=(hd0,0)/vmlinuz ro\ninitrd (hd0,0)/initrd\n"


line = st.sampled_from(
    [
        "default 0",
        "default=saved",
        "timeout 5",
        "hiddenmenu",
        "title Debian",
        "title\tCentOS (x)",
        "root (hd0,0)",
        "kernel /vmlinuz root=/dev/xvda1 ro console=hvc0",
        "kernel\t/boot/vmlinuz-3 root=UUID=x  quiet ",
        "initrd /initrd.img",
        "# kopt=root=/dev/xvda ro",
        "## comment",
        "",
        "   ",
    ]
)


@settings(max_examples=300)
@given(st.lists(line, max_size=15), st.booleans())
def test_generated_configs_round_trip_and_entries(lines: list[str], final_nl: bool) -> None:
    text = "\n".join(lines) + ("\n" if final_nl and lines else "")
    cfg = grub_legacy.parse(text)
    assert cfg.render() == text
    assert len(cfg.entries()) == sum(1 for ln in lines if ln.startswith("title"))
    # editing every cmdline to itself is a no-op
    for e in cfg.entries():
        if e.cmdline is not None:
            e.cmdline.remove("\x00none")
    assert cfg.render() == text
