"""Kernel command line tokenising and editing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.parsers import cmdline


def test_tokenises_like_the_kernel() -> None:
    c = cmdline.parse('root=/dev/xvda1 ro  console=tty0 console=hvc0 dyndbg="file a.c +p" quiet\n')
    assert c.keys() == ["root", "ro", "console", "console", "dyndbg", "quiet"]
    assert c.get_all("console") == ["tty0", "hvc0"]
    assert c.get("console") == "hvc0"  # the last one is the kernel's /dev/console
    assert c.get("dyndbg") == "file a.c +p"
    assert c.get("ro") is None and c.has("ro")
    assert c.get("missing") is None and not c.has("missing")
    assert cmdline.parse("a= b").get_all("a") == [""]


def test_replace_keeps_position_and_spacing() -> None:
    text = "  root=/dev/xvda1 ro\tconsole=hvc0  console=tty0 quiet\n"
    c = cmdline.parse(text)
    assert c.replace("console", "ttyS0,19200n8", old_value="hvc0") == 1
    assert c.render() == "  root=/dev/xvda1 ro\tconsole=ttyS0,19200n8  console=tty0 quiet\n"


def test_remove_add_set() -> None:
    c = cmdline.parse("root=/dev/xvda ro console=hvc0 xencons=tty clocksource=xen quiet")
    assert c.remove("xencons") == 1
    assert c.remove("clocksource", "kvm-clock") == 0
    assert c.remove("clocksource", "xen") == 1
    c.add("net.ifnames", "0")
    c.add("scsi_mod.scan", "sync", after="ro")
    c.set("root", "UUID=1234")
    assert c.render() == "root=UUID=1234 ro scsi_mod.scan=sync console=hvc0 quiet net.ifnames=0"


def test_removing_first_param_keeps_leading_blank_and_set_dedups() -> None:
    c = cmdline.parse(" console=hvc0 console=tty0 ro")
    c.set("console", "ttyS0")
    assert c.render() == " console=ttyS0 ro"
    c.remove("console")
    assert c.render() == " ro"


def test_add_to_empty_and_quoted_value() -> None:
    c = cmdline.parse("")
    c.add("foo", "a b")
    assert c.render() == 'foo="a b"'
    assert cmdline.parse(c.render()).get("foo") == "a b"


def test_replace_param_with_several() -> None:
    c = cmdline.parse("ro console=hvc0 quiet")
    p = c.find("console")[0]
    c.replace_param(p, "console=tty0 console=ttyS0,19200n8")
    assert c.render() == "ro console=tty0 console=ttyS0,19200n8 quiet"


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_round_trip_and_keys(text: str) -> None:
    c = cmdline.parse(text)
    assert c.render() == text
    # removing nothing changes nothing; removing everything leaves only blanks
    assert c.remove("\x00no-such-key") == 0
    assert c.render() == text
    c.remove_where(lambda p: True)
    assert c.render().strip() == ""


keys = st.from_regex(r"[a-z_.]{1,10}", fullmatch=True)
vals = st.none() | st.from_regex(r"[A-Za-z0-9=,./:-]{0,12}", fullmatch=True)


@settings(max_examples=300)
@given(st.lists(st.tuples(keys, vals), max_size=8))
def test_generated_lines_give_back_params(params: list[tuple[str, str | None]]) -> None:
    text = " ".join(cmdline.format_param(k, v) for k, v in params)
    c = cmdline.parse(text)
    assert [(p.key, p.value) for p in c] == params
