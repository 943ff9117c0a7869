"""Tests of the shell-variable file parser (round trip, values, in-place edits)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.errors import ParseError
from xen2kvm.parsers import shellvars

GRUB_DEFAULT = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet console=hvc0"
GRUB_CMDLINE_LINUX="root=/dev/xvda1 ro"

# Uncomment to disable graphical terminal
#GRUB_TERMINAL=console
"""

GRUB_D = 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT console=hvc0 earlyprintk=xen"\n'

MKINITCPIO = """\
# vim:set ft=sh
MODULES=(xen-blkfront xen-netfront)
BINARIES=()
FILES=()
HOOKS=(base udev autodetect modconf block filesystems keyboard fsck)
#COMPRESSION="zstd"
"""

DRACUT = 'add_drivers+=" xen-blkfront "\nhostonly="yes"\nadd_drivers+=" xen-netfront "\n'

IFCFG = """\
DEVICE=eth0
BOOTPROTO=dhcp
HWADDR=00:16:3E:5A:12:34
ONBOOT=yes
TYPE=Ethernet
NM_CONTROLLED='no'
"""


def test_grub_default_values_and_round_trip() -> None:
    v = shellvars.parse(GRUB_DEFAULT, source="/etc/default/grub")
    assert v.render() == GRUB_DEFAULT
    assert v.get("GRUB_DEFAULT") == "0"
    assert v.get("GRUB_CMDLINE_LINUX") == "root=/dev/xvda1 ro"
    assert v.get("GRUB_CMDLINE_LINUX_DEFAULT") == "quiet console=hvc0"
    assert v.get("GRUB_TERMINAL") is None  # only commented out
    distributor = v.assignments("GRUB_DISTRIBUTOR")[0]
    assert distributor.has_expansion
    assert distributor.value == "`lsb_release -i -s 2> /dev/null || echo Debian`"
    assert v.assignments("GRUB_CMDLINE_LINUX")[0].line == 8


def test_set_keeps_quoting_comments_and_other_lines() -> None:
    v = shellvars.parse(GRUB_DEFAULT)
    v.set("GRUB_CMDLINE_LINUX_DEFAULT", "quiet console=ttyS0,19200n8")
    v.set("GRUB_TERMINAL", "serial console")
    out = v.render()
    expected = GRUB_DEFAULT.replace("console=hvc0", "console=ttyS0,19200n8")
    expected += 'GRUB_TERMINAL="serial console"\n'
    assert out == expected
    again = shellvars.parse(out)
    assert again.get("GRUB_TERMINAL") == "serial console"


def test_set_on_single_and_unquoted_styles() -> None:
    v = shellvars.parse(IFCFG)
    v.set("NM_CONTROLLED", "yes")
    v.set("BOOTPROTO", "static")
    v.set("DEVICE", "eth 1")  # needs quoting now
    out = v.render()
    assert "NM_CONTROLLED='yes'\n" in out
    assert "BOOTPROTO=static\n" in out
    assert 'DEVICE="eth 1"\n' in out
    assert shellvars.parse(out).get("DEVICE") == "eth 1"


def test_remove_hwaddr() -> None:
    v = shellvars.parse(IFCFG)
    assert v.remove("HWADDR") == 1
    assert v.render() == IFCFG.replace("HWADDR=00:16:3E:5A:12:34\n", "")
    assert v.remove("HWADDR") == 0


def test_expansion_kept_when_written_back() -> None:
    v = shellvars.parse(GRUB_D)
    a = v.assignments()[0]
    assert a.has_expansion
    assert a.value == "$GRUB_CMDLINE_LINUX_DEFAULT console=hvc0 earlyprintk=xen"
    v.set(a.name, a.value.replace("console=hvc0", "console=ttyS0"))
    assert v.render() == GRUB_D.replace("console=hvc0", "console=ttyS0")
    assert v.resolve(a.name, {"GRUB_CMDLINE_LINUX_DEFAULT": "quiet"}) == (
        "quiet console=ttyS0 earlyprintk=xen"
    )


def test_literal_dollar_is_escaped_when_set() -> None:
    v = shellvars.parse('A="x"\n')
    v.set("A", "cost $5 `x`")
    assert v.render() == 'A="cost \\$5 \\`x\\`"\n'
    assert shellvars.parse(v.render()).get("A") == "cost $5 `x`"


def test_mkinitcpio_arrays() -> None:
    v = shellvars.parse(MKINITCPIO)
    assert v.render() == MKINITCPIO
    assert v.get_array("MODULES") == ["xen-blkfront", "xen-netfront"]
    assert v.get_array("BINARIES") == []
    assert v.get("MODULES") == "xen-blkfront xen-netfront"
    v.set_array("MODULES", ["virtio_pci", "virtio_scsi", "sd_mod"])
    assert v.render() == MKINITCPIO.replace(
        "MODULES=(xen-blkfront xen-netfront)", "MODULES=(virtio_pci virtio_scsi sd_mod)"
    )


def test_multiline_array_with_comments() -> None:
    text = 'MODULES=(a\n  # a comment\n  "b c" \\\n  d)  # trailing\nX=1\n'
    v = shellvars.parse(text)
    assert v.render() == text
    assert v.get_array("MODULES") == ["a", "b c", "d"]
    assert v.assignments("X")[0].line == 5


def test_dracut_plus_equals_accumulates() -> None:
    v = shellvars.parse(DRACUT)
    assert v.get("add_drivers") == " xen-blkfront  xen-netfront "
    assert [a.op for a in v.assignments("add_drivers")] == ["+=", "+="]
    v.set("add_drivers", " virtio_blk ")
    # No plain "=" to edit: a fresh assignment replaces the appends.
    out = v.render()
    assert "xen-blkfront" not in out
    assert shellvars.parse(out).get("add_drivers") == " virtio_blk "


def test_quoting_forms() -> None:
    text = (
        "A='it'\\''s'\n"
        'B="a \\"q\\" \\\\ \\$x \\n"\n'
        "C=$'tab\\there\\x41\\101'\n"
        "D=a\\ b\n"
        'E=""\n'
        "F=\n"
        "G=pre'mid'\"post\"\n"
        "export H=1\n"
        "I=1; J=2\n"
    )
    v = shellvars.parse(text)
    assert v.render() == text
    assert v.get("A") == "it's"
    assert v.get("B") == 'a "q" \\ $x \\n'
    assert v.assignments("B")[0].has_expansion is False
    assert v.get("C") == "tab\thereAA"
    assert v.get("D") == "a b"
    assert v.get("E") == ""
    assert v.get("F") == ""
    assert v.get("G") == "premidpost"
    assert v.assignments("G")[0].style == "mixed"
    assert v.assignments("H")[0].exported
    assert v.get("I") == "1"


def test_multiline_double_quoted_value() -> None:
    text = 'A="one\ntwo"\nB=3\n'
    v = shellvars.parse(text)
    assert v.get("A") == "one\ntwo"
    assert v.assignments("B")[0].line == 3
    v.set("B", "4")
    assert v.render() == 'A="one\ntwo"\nB=4\n'


def test_append_to_file_without_final_newline() -> None:
    v = shellvars.parse("A=1")
    v.set("B", "2")
    assert v.render() == 'A=1\nB="2"\n'
    empty = shellvars.parse("")
    empty.set("X", "y z", style="single")
    assert empty.render() == "X='y z'\n"


def test_unterminated_quote_is_a_parse_error_with_position() -> None:
    for bad, col in (('A="abc\n', 3), ("B='x\n", 3), ("C=(a b\n", 3), ("D=$(echo\n", 3)):
        try:
            shellvars.parse("# c\n" + bad, source="/etc/default/grub")
        except ParseError as exc:
            assert exc.source == "/etc/default/grub"
            assert exc.line == 2
            assert exc.column == col
        else:
            raise AssertionError(f"no error for {bad!r}")


# --- properties ---------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_arbitrary_text_round_trips_or_parse_error(text: str) -> None:
    try:
        v = shellvars.parse(text)
    except ParseError:
        return
    assert v.render() == text


@settings(max_examples=300)
@given(
    st.text(alphabet="A=\"'$`(){}\\ \t\n#;+x_e", max_size=80),
)
def test_shell_syntax_soup_round_trips_or_parse_error(text: str) -> None:
    try:
        v = shellvars.parse(text)
    except ParseError:
        return
    assert v.render() == text


@settings(max_examples=300)
@given(
    st.lists(st.tuples(names, values, st.sampled_from(["none", "single", "double"])), max_size=6),
)
def test_generated_files_give_back_their_values(
    entries: list[tuple[str, str, str]],
) -> None:
    text = "".join(f"{n}={shellvars.quote_value(v, style)}  # c\n" for n, v, style in entries)
    parsed = shellvars.parse(text)
    assert parsed.render() == text
    expected: dict[str, str] = {}
    for n, v, _ in entries:
        expected[n] = v
    assert parsed.as_dict() == expected


@settings(max_examples=300)
@given(st.lists(st.tuples(names, values), min_size=1, max_size=5), names, values)
def test_set_then_get(entries: list[tuple[str, str]], name: str, value: str) -> None:
    text = "# header\n" + "".join(f"{n}={shellvars.quote_value(v)}\n" for n, v in entries)
    parsed = shellvars.parse(text)
    parsed.set(name, value)
    again = shellvars.parse(parsed.render())
    assert again.get(name) == value
    for n, v in dict(entries).items():
        if n != name:
            assert again.get(n) == v
    assert again.render().startswith("# header\n")
