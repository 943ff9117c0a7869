"""The xl.cfg grammar, xm-as-data, and the disk and vif spec parsers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.errors import ParseError
from xen2kvm.hv.xlcfg import (
    parse_disk_spec,
    parse_vif_spec,
    parse_xen_config,
    parse_xl,
    parse_xm,
)


def values(text: str) -> dict[str, object]:
    return {k: s.item.plain() for k, s in parse_xl(text, "t.cfg").settings.items()}


def test_both_quote_styles_numbers_and_separators() -> None:
    v = values("a = 'x' ; b=\"y\"\nc = 12;d=0x1f # comment ' with a quote\n\n")
    assert v == {"a": "x", "b": "y", "c": 12, "d": 31}


def test_lists_span_lines_with_comments_and_trailing_commas() -> None:
    text = "disk = [\n  'a', # first\n\n  # a comment line\n  \"b\",\n]\nvif=[]\n"
    assert values(text) == {"disk": ["a", "b"], "vif": []}


def test_escapes_and_other_quote_inside() -> None:
    v = values(r"""s = 'it\'s "fine"\t\x41\101\\'""")
    assert v["s"] == "it's \"fine\"\tAA\\"


def test_hex_escape_without_two_hex_digits_is_kept_as_written() -> None:
    assert values(r"""s = 'a\xZZ b\x4'""")["s"] == r"a\xZZ b\x4"


def test_plus_equals_appends_and_last_assignment_wins() -> None:
    v = values("disk = ['a']\ndisk += ['b']\nname = 'x'\nname = 'y'\nextra = 'p'\nextra += ' q'")
    assert v == {"disk": ["a", "b"], "name": "y", "extra": "p q"}


def test_positions_are_recorded() -> None:
    cfg = parse_xl("name = 'x'\ndisk = [\n   'a',\n      'b' ]\n", "t.cfg")
    items = cfg.settings["disk"].item.value
    assert isinstance(items, list)
    assert [(i.line, i.column) for i in items] == [(3, 4), (4, 7)]
    cfg = parse_xl("# c\n  name = 'x' # n\n\n   memory = 1 ; vcpus = 2\n", "t.cfg")
    assert [(s.line, s.column) for s in cfg.settings.values()] == [(2, 3), (4, 4), (4, 17)]
    xm = parse_xm("# c\nname = 'x'\nmemory = [\n  1]\n")
    assert [(s.line, s.column) for s in xm.settings.values()] == [(2, 1), (3, 1)]
    first = xm.settings["memory"].item.value[0]
    assert (first.line, first.column) == (4, 3)


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("name = 'x'\nkernel = \"/boot/vmlinuz\nmemory = 1\n", 2, 10, "unterminated string"),
        ("name = 'x'\ndisk = [ 'a',\n", 2, 8, "never closed"),
        ("name 'x'\n", 1, 6, "expected '='"),
        ("memory = 256M\n", 1, 10, "not a number"),
        ("on_crash = restart\n", 1, 12, "bare word"),
        ("disk = [ 'a' 'b' ]\n", 1, 14, "expected ',' or ']'"),
        ("disk = [ , 'a' ]\n", 1, 10, "empty element"),
        ("a = 1 2\n", 1, 7, "end of line"),
        ("a = 1\n$x = 2\n", 2, 1, "unexpected character"),
    ],
)
def test_errors_name_line_and_column(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_xl(text, "bad.cfg")
    err = info.value
    assert (err.source, err.line, err.column) == ("bad.cfg", line, column)
    assert words in err.message
    assert str(err).startswith(f"bad.cfg:{line}:{column}: ")


# --- xm -------------------------------------------------------------------------------------


def test_xm_literals_tuples_booleans_docstring() -> None:
    cfg = parse_xm('"""doc"""\nname = "a"\ndisk = ("x", "y",)\nacpi = True\nn = None\n')
    v = {k: s.item.plain() for k, s in cfg.settings.items()}
    assert v == {"name": "a", "disk": ["x", "y"], "acpi": 1, "n": ""}


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("import os\nname = 'a'\n", 1, 1, "an import"),
        ("name = 'a'\nmemory = 256 * 2\n", 2, 10, "arithmetic"),
        ("name = os.environ['X']\n", 1, 8, "Python code"),
        ("name = 'a'\nos.system('rm -rf /')\n", 2, 1, "a function call"),
        ("x = 1\nname = x\n", 2, 8, "variable 'x'"),
        ("if True:\n    name = 'a'\n", 1, 1, "an if statement"),
        ("def f():\n    pass\n", 1, 1, "a function definition"),
        ("name = 'a' % 3\n", 1, 8, "string formatting"),
        ("print 'hi'\n", 1, 1, "not a valid xm config"),
    ],
)
def test_xm_code_is_refused_never_run(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_xm(text, "dom.xm")
    assert info.value.line == line
    assert info.value.column == column
    assert words in info.value.message


def test_auto_reads_python_tuples_as_xm_and_reports_code_as_xm() -> None:
    assert parse_xen_config("disk = ('a',)\n").dialect == "xm"
    assert parse_xen_config("disk = ['a',]\n").dialect == "xl"
    with pytest.raises(ParseError, match="an import"):
        parse_xen_config("import os\n")
    # Not Python either: the xl error is the one shown.
    with pytest.raises(ParseError, match="unterminated string"):
        parse_xen_config("name = 'x\n")


# --- disk specs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "target", "fmt", "vdev", "ro", "cdrom"),
    [
        ("phy:/dev/vg/lv,xvda1,w", "/dev/vg/lv", "raw", "xvda1", False, False),
        ("file:/img/a.img,xvda,r", "/img/a.img", "raw", "xvda", True, False),
        ("tap:aio:/img/a.img,xvdb,w", "/img/a.img", "raw", "xvdb", False, False),
        ("tap2:tapdisk:aio:/img/a.img,xvdb,w", "/img/a.img", "raw", "xvdb", False, False),
        ("tap:qcow2:/img/a.qcow2,xvdc,w", "/img/a.qcow2", "qcow2", "xvdc", False, False),
        ("raw:/img/a.img,hda,w", "/img/a.img", "raw", "hda", False, False),
        ("qcow2:/img/a.qcow2,hda,w", "/img/a.qcow2", "qcow2", "hda", False, False),
        ("/img/a.img,qcow2,xvda,rw", "/img/a.img", "qcow2", "xvda", False, False),
        ("/dev/vg/guest,,hda", "/dev/vg/guest", "raw", "hda", False, False),
        ("/img/d.iso,raw,hdc:cdrom,r", "/img/d.iso", "raw", "hdc", True, True),
        (",,hdc:cdrom,r", "", "raw", "hdc", True, True),
        ("vdev=xvda, format=raw, access=rw, target=/img/a,b.img", "/img/a,b.img", "raw", "xvda",
         False, False),
        ("target=/img/x.iso,devtype=cdrom,vdev=hdc", "/img/x.iso,devtype=cdrom,vdev=hdc",
         None, None, None, None),
        ("format=qcow2,vdev=xvdb,devtype=cdrom,access=ro,target=/i.qcow2", "/i.qcow2", "qcow2",
         "xvdb", True, True),
        ("  /img/a.img , raw , xvda , w ", "/img/a.img", "raw", "xvda", False, False),
        ("vdev=xvda,discard,direct-io-safe,target=/a", "/a", "raw", "xvda", False, False),
    ],
)
def test_disk_specs(
    spec: str, target: str, fmt: str | None, vdev: str | None, ro: bool | None,
    cdrom: bool | None,
) -> None:
    if vdev is None:
        # target= swallows the rest of the string, so there is no vdev left: an error.
        with pytest.raises(ParseError, match="no vdev"):
            parse_disk_spec(spec)
        return
    d = parse_disk_spec(spec)
    assert (d.target, d.format, d.vdev, d.readonly, d.cdrom) == (target, fmt, vdev, ro, cdrom)


def test_disk_spec_reports_what_it_ignores() -> None:
    d = parse_disk_spec("vdev=xvda,backendtype=qdisk,script=block-iscsi,discard,target=/a")
    assert set(d.ignored) == {"backendtype=qdisk", "script=block-iscsi", "discard"}
    d = parse_disk_spec("iscsi:iqn.2001-05.com.example:disk1,xvda,w")
    assert d.script == "block-iscsi"


@pytest.mark.parametrize(
    ("spec", "words", "offset"),
    [
        ("/a,raw,xvda,w,extra", "too many positional", 14),
        ("/a,xvda,w", "write TARGET,raw,xvda", 3),
        ("/a,vhdx,xvda", "unknown format 'vhdx'", 3),
        ("colour=blue,/a,xvda", "unknown parameter 'colour'", 0),
        ("/a,raw,xvda,maybe", "unknown access", 12),
        ("nfs:/a,xvda", "unknown disk prefix 'nfs:'", 0),
        ("/a,raw", "no vdev", 0),
        ("vdev=xvda", "no target", 0),
        ("/a,raw,xvda,w,X=1", "bad parameter", 14),
        ("vdev=xvda,devtype=floppy,target=/a", "unknown devtype", 10),
    ],
)
def test_bad_disk_specs_point_into_the_spec(spec: str, words: str, offset: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_disk_spec(spec, source="d.cfg", line=4, column=10)
    assert words in info.value.message
    assert (info.value.line, info.value.column) == (4, 10 + offset)


# --- vif specs ------------------------------------------------------------------------------


def test_vif_spec() -> None:
    v = parse_vif_spec(" mac=00:16:3E:AA:bb:0c , bridge=xenbr0,ip=1.2.3.4,type=ioemu,model=e1000")
    assert (v.mac, v.bridge, v.model, v.ignored) == (
        "00:16:3e:aa:bb:0c", "xenbr0", "e1000", ("ip=1.2.3.4",))
    assert parse_vif_spec("") == parse_vif_spec(" , ")


@pytest.mark.parametrize(
    ("spec", "words", "offset"),
    [
        ("bridge=br0,mac=00:16:3e:zz:00:01", "not a MAC", 11),
        ("mac=01:16:3e:00:00:01", "multicast", 0),
        ("bridge=br0, xenbr1", "is not key=value", 12),
        ("colour=red", "unknown parameter 'colour'", 0),
    ],
)
def test_bad_vif_specs(spec: str, words: str, offset: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_vif_spec(spec, source="v.cfg", line=2, column=5)
    assert words in info.value.message
    assert (info.value.line, info.value.column) == (2, 5 + offset)


@pytest.mark.parametrize(
    "spec",
    [
        "phy:/dev/vg/lv,xvda1,w",
        "tap:aio:/srv/a.img,xvdb,r",
        "tap2:tapdisk:aio:/srv/a.img,hdc,ro",
        "file:/srv/a.img,sdb,rw",
        "/srv/a.img,qcow2,xvda,w",
        "/srv/a.img,,hda,r",
        "/srv/a.img,vhd,xvdaa2,rw",
        "tap:qcow2:/srv/a.qcow2,xvdb,w",
        "qcow2:raw:/srv/a.img,hda,r",
        "vdev=xvda, format=raw, access=rw, target=/srv/a.img",
        "format=qcow2,access=ro,\n vdev=hda,vdev=hdb, target=/x:y=z",
    ],
)
def test_fast_paths_agree_with_the_general_parser(spec: str) -> None:
    from xen2kvm.hv.xlcfg import (
        _FAST_KEYVALUE,
        _FAST_POSITIONAL,
        _FAST_PREFIXED,
        _parse_disk_spec,
    )

    assert _FAST_PREFIXED.match(spec) or _FAST_POSITIONAL.match(spec) or _FAST_KEYVALUE.match(spec)
    assert parse_disk_spec(spec) == _parse_disk_spec(spec)


@given(st.lists(st.sampled_from(
    ["phy:", "file:", "tap:", "aio:", "qcow2:", "/srv/a", ".img", ",", "xvda", "hdc", "1",
     "raw", "w", "ro", ":cdrom", " ", "=", "sd", "b", "raw:", "vhd:", "vdev=", "format=",
     "access=", "target=", ", ", "rw", "r", "\n"]), max_size=10).map("".join))
@settings(max_examples=500)
def test_fast_paths_agree_on_generated_specs(spec: str) -> None:
    from xen2kvm.hv.xlcfg import _parse_disk_spec

    try:
        fast = parse_disk_spec(spec)
    except ParseError as exc:
        with pytest.raises(ParseError) as general:
            _parse_disk_spec(spec)
        assert general.value.message == exc.message
        return
    assert fast == _parse_disk_spec(spec)
