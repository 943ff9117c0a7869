"""The fast paths of the translation agree with the general code they stand in for.

bench/translate.py measures the common case; these shortcuts serve it and must never change
a result: each is checked against the general parser (or the generated code) it skips.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.errors import ParseError
from xen2kvm.hv.mapping import MappedDevice, parse_vdev
from xen2kvm.hv.model import Disk
from xen2kvm.hv.writers import _XML_ESC, _esc
from xen2kvm.hv.xlcfg import (
    Item,
    XenConfig,
    _parse_disk_spec,
    _parse_vif_spec,
    _parse_xl_fast,
    _parse_xl_tokens,
    parse_disk_spec,
    parse_vif_spec,
    parse_xl,
)

from .corpus import INPUTS


def _item(it: Item) -> object:
    value = [_item(i) for i in it.value] if isinstance(it.value, list) else it.value
    return (type(it.value).__name__, value, it.at)


def _shape(cfg: XenConfig) -> object:
    """Everything parse_xl reports: keys in order, values, their types and positions."""
    settings = [(k, s.key, s.at, _item(s.item)) for k, s in cfg.settings.items()]
    return settings, cfg.source, cfg.dialect


# --- xl files ---------------------------------------------------------------------------------

BLANK = st.sampled_from(["", " ", "  ", "\t", " \r", "\f\v "])
COMMENT = st.sampled_from(["", "", "# c", "#", "# a = 'b' ; [", "#'", ' #"x'])
SCALAR = st.one_of(
    st.sampled_from(
        [
            "'x'",
            '"y"',
            "''",
            '""',
            "'a # b ; c'",
            "'q\"q'",
            '"it\'s"',
            "'a\\'b'",
            "'\\x41'",
            "'/boot/vmlinuz-xen'",
            "12",
            "0",
            "007",
            "0x1F",
            "0X",
            "1.5",
            "1.",
            "12abc",
            "'unterminated",
            "bare",
            "",
        ]
    ),
    st.integers(0, 10**9).map(str),
)
# Inside a list, newlines and comments may stand anywhere between elements.
LIST_BLANK = st.sampled_from(["", " ", "\n", "\n    ", " # c\n ", "\n\n", "\t"])


@st.composite
def _list(draw: st.DrawFn) -> str:
    elements = draw(st.lists(st.tuples(LIST_BLANK, SCALAR, LIST_BLANK), max_size=4))
    body = ",".join(a + v + b for a, v, b in elements)
    trailing = draw(st.sampled_from(["", ",", ", ", ",\n", ",,"]))
    inner = draw(st.sampled_from(["", "", "", "[ 'n' ]", "["]))
    return "[" + draw(LIST_BLANK) + inner + body + trailing + draw(LIST_BLANK) + "]"


VALUE = st.one_of(SCALAR, _list())


@st.composite
def _statement(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(["name", "disk", "vif", "memory", "_k9", "x", "9bad", "a-b"]))
    op = draw(st.sampled_from(["=", "=", "=", "+=", "==", ""]))
    return (
        draw(BLANK)
        + key
        + draw(BLANK)
        + op
        + draw(BLANK)
        + draw(VALUE)
        + draw(BLANK)
        + draw(COMMENT)
    )


@st.composite
def _xl_file(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(_statement(), COMMENT), max_size=8))
    separators = draw(
        st.lists(
            st.sampled_from(["\n", "\n", ";", "; ", "\n\n", "\r\n", " ; ", ""]),
            min_size=len(parts),
            max_size=len(parts),
        )
    )
    return "".join(p + s for p, s in zip(parts, separators, strict=True))


def _check_fast_xl(text: str) -> bool:
    """The fast reading of ``text``, when there is one, is the token parser's."""
    fast = _parse_xl_fast(text, "f.cfg")
    if fast is None:
        return False
    assert _shape(fast) == _shape(_parse_xl_tokens(text, "f.cfg"))
    return True


@given(_xl_file())
@settings(max_examples=1500)
def test_fast_xl_reading_agrees_with_the_token_parser(text: str) -> None:
    _check_fast_xl(text)


@given(st.lists(st.sampled_from(["a", "=", "'x'", "1", "[", "]", ",", "\n", ";", "#", " "])))
@settings(max_examples=500)
def test_fast_xl_reading_agrees_on_token_soup(words: list[str]) -> None:
    _check_fast_xl("".join(words))


def test_fast_xl_reading_agrees_on_the_corpus() -> None:
    texts = [p.read_text() for p in sorted(INPUTS.iterdir()) if p.suffix == ".cfg"]
    assert texts
    for text in texts:
        _check_fast_xl(text)


def test_plain_files_take_the_fast_path() -> None:
    text = (
        "# generated\nname = 'g1'\nmemory = 512\nvcpus = 2 ; # cpus\n"
        "uuid = 'cde9d231-c8a3-4e7b-8d7d-255f2b68beef'\nbootloader = \"pygrub\"\n"
        "disk = [\n    'phy:/dev/vg0/g1-0,xvda,w',\n    '/srv/g1.qcow2,qcow2,xvdb,w',\n]\n"
        "vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]\n"
        "on_crash = 'restart'; on_reboot = 'restart'\nweight = 1.5\nmask = 0x1f\nempty = []"
    )
    assert _check_fast_xl(text)
    assert parse_xl(text).settings["disk"].item.plain() == [
        "phy:/dev/vg0/g1-0,xvda,w",
        "/srv/g1.qcow2,qcow2,xvdb,w",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a += 'x'\n",  # appending is the token parser's
        "s = 'a\\nb'\n",  # so are escapes
        "l = [ [ 'x' ] ]\n",  # and nested lists
        "n = " + "1" * 5000 + "\n",  # too long for int(): whatever the parser says, it says
        "a = 'x' 'y'\n",
        "a = 1\nb = 'open\n",
    ],
)
def test_other_files_take_the_token_parser(text: str) -> None:
    assert _parse_xl_fast(text, "f.cfg") is None


# --- disk specs -------------------------------------------------------------------------------


def _mostly(common: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """Common (fast path) pieces nine times in ten, odd ones otherwise."""
    return st.integers(0, 9).flatmap(lambda n: st.sampled_from(odd if n == 0 else common))


PATH = _mostly(["/srv/a.img", "/dev/vg/lv"], ["/x:y", "/a=b", "/", "rel.img", "/a b", ""])
VDEV = _mostly(["xvda", "xvdb1", "hdc", "sdaa2"], ["xvda:cdrom", "xvd", "XVDA", ""])
FORMAT = _mostly(["raw", "qcow", "qcow2", "vhd", "qed", ""], ["empty", "vmdk"])
ACCESS = _mostly(["w", "rw", "r", "ro"], ["w!", "x", ""])
SEP = _mostly([","], [", ", ",\n ", " ,", ",,"])
PREFIX = _mostly(
    ["phy:", "file:", "tap:", "tap2:", "tapdisk:", "aio:", "raw:", "qcow2:", "vhd:"],
    ["nbd:", "ioemu:", "foo:"],
)


@st.composite
def _disk_spec(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["prefixed", "positional", "keyvalue"]))
    sep = draw(st.one_of(SEP, st.sampled_from([", ", ",\n  "])))
    if shape == "prefixed":
        prefixes = draw(st.lists(PREFIX, min_size=1, max_size=3))
        return "".join(prefixes) + draw(PATH) + sep + draw(VDEV) + draw(SEP) + draw(ACCESS)
    if shape == "positional":
        return draw(PATH) + sep + draw(FORMAT) + draw(SEP) + draw(VDEV) + draw(SEP) + draw(ACCESS)
    params = draw(
        st.lists(
            st.one_of(
                VDEV.map("vdev={}".format),
                FORMAT.map("format={}".format),
                ACCESS.map("access={}".format),
                st.sampled_from(["devtype=cdrom", "devtype=disk", "script=x", "cdrom"]),
            ),
            max_size=4,
        )
    )
    target = draw(st.sampled_from(["target=", ""])) + draw(PATH)
    return sep.join([*params, target])


@given(_disk_spec())
@settings(max_examples=1500)
def test_fast_disk_specs_agree_with_the_general_parser(spec: str) -> None:
    try:
        general = _parse_disk_spec(spec, source="d", line=2, column=9)
    except ParseError as exc:
        with pytest.raises(ParseError) as fast:
            parse_disk_spec(spec, source="d", line=2, column=9)
        assert (fast.value.message, fast.value.column) == (exc.message, exc.column)
        return
    assert parse_disk_spec(spec, source="d", line=2, column=9) == general


# --- vif specs --------------------------------------------------------------------------------

VIF_WORDS = st.sampled_from(
    [
        "mac=",
        "bridge=",
        "model=",
        "ip=",
        "type=",
        "00:16:3e:00:00:01",
        "00:16:3e:0a:bb:cc",
        "01:16:3e:00:00:01",
        "0f:00:00:00:00:00",
        "00:16:3E:AA:BB:CC",
        "00-16-3e-00-00-01",
        "xenbr0",
        "e1000",
        ",",
        ",",
        "=",
        " ",
        "",
        "\n",
    ]
)


@given(st.lists(VIF_WORDS, max_size=10).map("".join))
@settings(max_examples=1000)
def test_fast_vif_specs_agree_with_the_general_parser(spec: str) -> None:
    try:
        general = _parse_vif_spec(spec, source="v", line=3, column=7)
    except ParseError as exc:
        with pytest.raises(ParseError) as fast:
            parse_vif_spec(spec, source="v", line=3, column=7)
        assert (fast.value.message, fast.value.line, fast.value.column) == (
            exc.message,
            exc.line,
            exc.column,
        )
        return
    assert parse_vif_spec(spec, source="v", line=3, column=7) == general


# --- model and mapping ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Disk, MappedDevice])
def test_written_out_init_matches_the_fields(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        default = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert p.default == default
        assert f.default_factory is dataclasses.MISSING


def test_disk_init_fills_every_field() -> None:
    d = Disk("/a", "xvda", cdrom=True)
    assert vars(d) == {
        "source": "/a",
        "vdev": "xvda",
        "format": "raw",
        "readonly": False,
        "cdrom": True,
        "kvm_target": "",
        "linode_ref": "",
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.vdev = "xvdb"  # type: ignore[misc]
    assert dataclasses.replace(d, kvm_target="sda").kvm_target == "sda"
    assert d == Disk(source="/a", vdev="xvda", cdrom=True) and hash(d) == hash(
        Disk("/a", "xvda", cdrom=True)
    )


def test_parse_vdev_errors_name_each_source() -> None:
    for source in ("a.cfg", "b.cfg"):
        with pytest.raises(ParseError) as info:
            parse_vdev("xvda0", source=source)
        assert info.value.source == source
    assert parse_vdev("xvdb2") is parse_vdev("xvdb2")  # immutable, so kept


# --- writers ----------------------------------------------------------------------------------


@given(st.text(alphabet=st.sampled_from("ab/&<>'\"é \n"), max_size=12))
def test_xml_escape_is_translate(s: str) -> None:
    assert _esc(s) == s.translate(_XML_ESC)
