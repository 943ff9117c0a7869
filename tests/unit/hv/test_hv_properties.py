"""Property tests: any text gives a result or a ParseError, never another exception."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.errors import ParseError, Xen2KvmError
from xen2kvm.hv import OutputFormat, PlanOptions, VMMode, read_domain, translate
from xen2kvm.hv.kernelcfg import KernelConfig
from xen2kvm.hv.xlcfg import parse_disk_spec, parse_vif_spec, parse_xl, parse_xm

# Pieces that steer generated text into the interesting branches of the spec parsers.
DISK_WORDS = st.sampled_from([
    "phy:", "file:", "tap:", "tap2:", "aio:", "qcow2:", "raw:", "vhd:", "iscsi:", "nbd:",
    "foo:", "target=", "vdev=", "format=", "access=", "devtype=", "cdrom", ":cdrom", "xvda",
    "xvda1", "hdc", "sdb", "raw", "qcow2", "empty", "r", "w", "rw", "ro", "/dev/vg/lv",
    "/img/a.img", ",", ",", ",", "=", " ", "", "backendtype=qdisk", "discard", "X=1",
])
VIF_WORDS = st.sampled_from([
    "mac=", "bridge=", "model=", "ip=", "type=", "vifname=", "00:16:3e:00:00:01",
    "00:16:3E:AA:BB:CC", "zz:zz", "xenbr0", "e1000", ",", ",", "=", " ", "", "rate=10Mb/s",
])
XL_WORDS = st.sampled_from([
    "name", "disk", "vif", "memory", " = ", "=", "+=", "'x'", '"y"', "'", '"', "[", "]", ",",
    "\n", ";", "#c\n", "12", "0x1f", "1.5", "bad", "\\", "'a\\'b'", " ",
])


def _spec(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(words, max_size=12).map("".join)


@given(st.one_of(st.text(max_size=80), _spec(DISK_WORDS)))
@settings(max_examples=400)
def test_disk_spec_result_or_parse_error(text: str) -> None:
    try:
        d = parse_disk_spec(text)
    except ParseError as exc:
        assert exc.message.startswith("disk spec ")
        return
    assert d.vdev
    assert d.target or d.cdrom


@given(st.one_of(st.text(max_size=80), _spec(VIF_WORDS)))
@settings(max_examples=400)
def test_vif_spec_result_or_parse_error(text: str) -> None:
    try:
        v = parse_vif_spec(text)
    except ParseError:
        return
    assert v.mac == "" or len(v.mac) == 17


@given(st.one_of(st.text(max_size=120), _spec(XL_WORDS)))
@settings(max_examples=300)
def test_xl_xm_and_read_domain_never_crash(text: str) -> None:
    for parse in (parse_xl, parse_xm):
        try:
            parse(text, "t")
        except ParseError as exc:
            assert exc.source == "t"
    with contextlib.suppress(ParseError):
        read_domain(text, "t")


CONFIG_LINES = st.one_of(
    st.builds(lambda n, v: f"CONFIG_{n}={v}", st.from_regex(r"[A-Z0-9_]{1,12}", fullmatch=True),
              st.sampled_from(["y", "m", '"a b"', "0x10", "42", ""])),
    st.builds(lambda n: f"# CONFIG_{n} is not set",
              st.from_regex(r"[A-Z0-9_]{1,12}", fullmatch=True)),
    st.sampled_from(["#", "# Linux/x86 6.1.0 Kernel Configuration", "", "   "]),
)


@given(st.lists(CONFIG_LINES, min_size=1, max_size=30), st.sampled_from(["\n", "\r\n"]),
       st.booleans())
def test_kernel_config_round_trip(lines: list[str], eol: str, final_eol: bool) -> None:
    text = eol.join(lines) + (eol if final_eol else "")
    try:
        cfg = KernelConfig.parse(text)
    except ParseError:
        assert not any(line.startswith("CONFIG_") or " is not set" in line for line in lines)
        return
    assert cfg.render() == text


VDEVS = st.sampled_from(
    ["xvda", "xvdb", "xvdc", "xvda1", "xvda2", "xvdb1", "hda", "hdb", "hdc", "sdb", "xvdi"]
)
DISK_FORMS = (
    "phy:/dev/vg/{v},{v},w",
    "/img/{v}.img,raw,{v},r",
    "vdev={v}, format=qcow2, access=ro, target=/img/{v},x.qcow2",
    "tap:aio:/img/{v}.img,{v},w",
    "file:/iso/{v}.iso,{v}:cdrom,r",
    ",,{v}:cdrom,r",
)
# Mostly well-formed specs (so planning and every writer run), sometimes noise.
DISK_SPECS = st.one_of(
    st.builds(lambda f, v: f.format(v=v), st.sampled_from(DISK_FORMS), VDEVS),
    _spec(DISK_WORDS),
).map(repr)
VIF_SPECS = st.one_of(
    st.builds(lambda n, b: f"mac=00:16:3e:00:00:{n:02x},bridge={b}",
              st.integers(0, 255), st.sampled_from(["br0", "xenbr0", ""])),
    _spec(VIF_WORDS),
).map(repr)


@given(
    st.lists(DISK_SPECS, max_size=6),
    st.lists(VIF_SPECS, max_size=3),
    st.sampled_from(["bootloader = 'pygrub'", "kernel = '/k'\nextra = 'root=/dev/xvda1'",
                     "type = 'hvm'", "firmware = 'pvgrub64'", ""]),
    st.sampled_from(list(VMMode)),
)
@settings(max_examples=300)
def test_whole_translation_only_raises_xen2kvm_errors(
    disks: list[str], vifs: list[str], boot: str, mode: VMMode
) -> None:
    text = (f"name = 'p'\nmemory = 64\n{boot}\ndisk = [{', '.join(disks)}]\n"
            f"vif = [{', '.join(vifs)}]\n")
    try:
        domain = read_domain(text, "p.cfg")
    except ParseError:
        return
    for fmt in OutputFormat:
        try:
            t = translate(domain, fmt, PlanOptions(mode=mode, check_disk=False))
        except Xen2KvmError:
            continue
        assert t.output
        assert len(t.mapping.devices) == len(domain.disks)
