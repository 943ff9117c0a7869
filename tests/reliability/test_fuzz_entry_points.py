"""Every parser entry point, fed arbitrary text or bytes: a result or the project's ParseError.

Cross-cutting (the per-parser round-trip properties live in tests/unit/parsers): one registry of
every public entry point in xen2kvm.parsers, xen2kvm.initramfs and xen2kvm.hv that takes
untrusted text or bytes, a completeness test that fails when a new entry point is added without
being registered here, and one derandomized hypothesis run per entry point with a fixed example
budget (stable in CI). Inputs are arbitrary unicode, arbitrary bytes decoded as the guest reader
decodes them (surrogateescape), syntax soup made of each format's tokens, and for binary
parsers, valid archives and compressed streams with bytes flipped or cut.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xen2kvm.hv
import xen2kvm.initramfs
import xen2kvm.parsers
from tests.reliability.harness import record_figures
from xen2kvm.errors import ParseError, UsageError, Xen2KvmError
from xen2kvm.hv import kernelcfg, mapping, readers, xlcfg
from xen2kvm.initramfs import compression, cpio, moddep, reader
from xen2kvm.parsers import (
    bls,
    cmdline,
    devicemap,
    devref,
    fstab,
    grub2,
    grub_legacy,
    ini,
    inittab,
    interfaces,
    linelist,
    mdadm,
    modprobe,
    netplan,
    osrelease,
    shellvars,
    udev,
)

#: Examples per entry point: fixed, and derandomized, so every CI run tries the same inputs.
EXAMPLES = 300
#: A single call taking longer than this is a hang (pathological backtracking, a loop).
CALL_LIMIT_S = 20


@dataclass(frozen=True)
class Entry:
    call: Callable[[Any], object]
    #: "text" (anything, as the guest reader decodes it: invalid UTF-8 as lone surrogates),
    #: "utf8" (valid Unicode only: the caller decodes strictly, as read_domain_file does) or
    #: "bytes".
    kind: str
    #: Total functions (classifiers, detectors) must not raise at all, not even ParseError.
    total: bool = False
    #: What a bad input may raise: ParseError, or UsageError for command-line option values.
    raises: tuple[type[Xen2KvmError], ...] = (ParseError,)


def _cpio_stream(data: bytes) -> object:
    seen: list[str] = []
    p = cpio.CpioStreamParser(lambda e, _d: seen.append(e.path), keep=lambda _p: True,
                              max_total=1 << 24, max_members=10_000)
    p.begin_segment("fuzz")
    p.feed(data)
    p.finish()
    return seen


def _decompress(comp: compression.Compression) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        out: list[int] = []
        return compression.decompress_one(comp, memoryview(data), lambda b: out.append(len(b)))

    return run


def _evaluate(text: str) -> object:
    return shellvars.parse(text).evaluate()


REGISTRY: dict[str, Entry] = {
    # parsers: configuration files of the guest
    "bls.parse": Entry(bls.parse, "text"),
    "bls.parse_kernel_cmdline": Entry(bls.parse_kernel_cmdline, "text"),
    "cmdline.parse": Entry(cmdline.parse, "text"),
    "devicemap.parse": Entry(devicemap.parse, "text"),
    "devref.split_disk": Entry(devref.split_disk, "text", total=True),
    "devref.classify": Entry(devref.classify, "text", total=True),
    "devref.find_xvd_paths": Entry(devref.find_xvd_paths, "text", total=True),
    "fstab.decode_field": Entry(fstab.decode_field, "text", total=True),
    "fstab.parse_fstab": Entry(fstab.parse_fstab, "text"),
    "fstab.parse_crypttab": Entry(fstab.parse_crypttab, "text"),
    "grub2.parse_default": Entry(grub2.parse_default, "text"),
    "grub2.split_words": Entry(grub2.split_words, "text"),
    "grub2.parse_cfg": Entry(grub2.parse_cfg, "text"),
    "grub_legacy.parse": Entry(grub_legacy.parse, "text"),
    "ini.parse": Entry(ini.parse, "text"),
    "inittab.parse": Entry(inittab.parse, "text"),
    "interfaces.parse": Entry(interfaces.parse, "text"),
    "linelist.parse": Entry(linelist.parse, "text"),
    "mdadm.parse": Entry(mdadm.parse, "text"),
    "modprobe.parse": Entry(modprobe.parse, "text"),
    "netplan.parse": Entry(netplan.parse, "text"),
    "osrelease.parse": Entry(osrelease.parse, "text"),
    "osrelease.parse_dict": Entry(osrelease.parse_dict, "text"),
    "shellvars.parse": Entry(shellvars.parse, "text"),
    "shellvars.evaluate": Entry(_evaluate, "text"),
    "udev.parse": Entry(udev.parse, "text"),
    # initramfs: images, module metadata
    "compression.detect": Entry(compression.detect, "bytes", total=True),
    **{
        f"compression.decompress_one[{c.value}]": Entry(_decompress(c), "bytes")
        for c in compression.Compression
        if c is not compression.Compression.NONE
    },
    "cpio.CpioStreamParser": Entry(_cpio_stream, "bytes"),
    "reader.read_initramfs": Entry(lambda d: reader.read_initramfs(d, max_total=1 << 24),
                                   "bytes"),
    "reader.list_initramfs": Entry(lambda d: reader.list_initramfs(d, max_total=1 << 24),
                                   "bytes"),
    "reader.detect_generator": Entry(lambda t: reader.detect_generator(set(t.split("\n"))),
                                     "text", total=True),
    "moddep.parse_modules_dep": Entry(moddep.parse_modules_dep, "text"),
    "moddep.parse_modules_builtin": Entry(moddep.parse_modules_builtin, "text"),
    "moddep.parse_modules_softdep": Entry(moddep.parse_modules_softdep, "text"),
    "moddep.parse_modules_alias": Entry(moddep.parse_modules_alias, "text"),
    "moddep.read_kmod_index": Entry(moddep.read_kmod_index, "bytes"),
    # hv: Xen domain configurations, kernel .config
    "kernelcfg.KernelConfig.parse": Entry(kernelcfg.KernelConfig.parse, "text"),
    "mapping.parse_vdev": Entry(mapping.parse_vdev, "text"),
    "mapping.parse_disk_map": Entry(mapping.parse_disk_map, "text", raises=(UsageError,)),
    "readers.detect_format": Entry(readers.detect_format, "text", total=True),
    "readers.read_domain": Entry(readers.read_domain, "utf8"),
    "readers.read_libvirt_xen": Entry(readers.read_libvirt_xen, "utf8"),
    "readers.read_linode": Entry(readers.read_linode, "utf8"),
    "xlcfg.parse_xl": Entry(xlcfg.parse_xl, "text"),
    "xlcfg.parse_xm": Entry(xlcfg.parse_xm, "text"),
    "xlcfg.parse_xen_config": Entry(xlcfg.parse_xen_config, "text"),
    "xlcfg.parse_disk_spec": Entry(xlcfg.parse_disk_spec, "text"),
    "xlcfg.parse_vif_spec": Entry(xlcfg.parse_vif_spec, "text"),
}

#: Public functions with a parser-like name that do not take untrusted text or bytes.
NOT_ENTRY_POINTS = {
    "moddep.load_module_index": "takes a Guest; its files go through parse_modules_* and "
    "read_kmod_index, fuzzed here",
    "reader.read_guest_initramfs": "takes a Guest; reads the bytes, then read_initramfs",
    "readers.read_domain_file": "takes a path; reads the file, then read_domain",
}

_PREFIXES = ("parse", "read", "detect", "split", "classify", "find", "decode", "list", "load")


def _public_entry_points() -> Iterator[str]:
    for pkg in (xen2kvm.parsers, xen2kvm.initramfs, xen2kvm.hv):
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, obj in vars(mod).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                    continue
                if inspect.isfunction(obj) and name.startswith(_PREFIXES):
                    yield f"{info.name}.{name}"
                elif inspect.isclass(obj) and "parse" in vars(obj):
                    yield f"{info.name}.{name}.parse"


def test_every_entry_point_is_fuzzed() -> None:
    """A new parser entry point must be registered here (or excused, with a reason)."""
    registered = {k.split("[")[0] for k in REGISTRY} | set(NOT_ENTRY_POINTS)
    missing = sorted(set(_public_entry_points()) - registered)
    assert missing == [], f"register these in {__file__}: {missing}"


# --- inputs -----------------------------------------------------------------------------------

_TOKENS = [
    *list("abcxyz0179 \t\n\r#=:;,{}()[]<>\"'\\$`+-/.*!&|@%~"),
    "\x00", "\ufeff", "\u00e9", "\udcff", "\n\n", "\\\n", "  ", "- ",
    # boot loaders, kernel command line
    "title ", "kernel ", "initrd ", "root ", "default ", "menuentry ", "submenu ", "linux ",
    "set ", "if ", "fi", "GRUB_CMDLINE_LINUX=", "root=/dev/xvda1", "console=hvc0", "options ",
    # fstab, crypttab, inittab, udev, modprobe, interfaces, netplan, ifcfg, os-release, mdadm
    "/dev/xvda", "UUID=", "LABEL=", "\\040", "defaults", "co:2345:respawn:/sbin/getty ",
    'SUBSYSTEM=="net"', "ATTR{address}==", "NAME=", "GOTO=", "LABEL=\"", "alias ", "install ",
    "blacklist ", "softdep ", "iface ", "auto ", "inet ", "source ", "network:", "ethernets:",
    "match:", "macaddress: ", "set-name: ", "&a ", "*a ", "!!python/object ", "HWADDR=",
    "ID=", "$(", "${", "${a:-b}", "[Section]", "ARRAY ", "DEVICE ", "(hd0)",
    # Xen configurations, kernel .config, module metadata, kmod
    "disk = [", "vif = [", "'phy:/dev/vg/a,xvda,w'", "'mac=00:16:3e:00:00:01,bridge=br0'",
    "vdev=", "format=raw", "target=", "name = ", "memory = ", "kernel = ", "builder = 'hvm'",
    "<domain type='xen'>", "<disk", "<!DOCTYPE", "&xxe;", '{"', '"disks":', "CONFIG_",
    "=y", "=m", "# CONFIG_XEN is not set", "kernel/drivers/a.ko:", " kernel/b.ko.xz",
    "softdep a pre: b", "alias pci:v* a", "xvda=sda", "hda",
]
SOUP = st.lists(st.sampled_from(_TOKENS), max_size=120).map("".join)
TEXT = st.one_of(
    st.text(max_size=1500),
    st.binary(max_size=1500).map(lambda b: b.decode("utf-8", "surrogateescape")),
    SOUP,
)
UTF8 = TEXT.map(lambda t: t.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def _valid_images() -> list[bytes]:
    """Small real images to corrupt: newc archives, raw and in every compression."""
    archive = cpio.write_newc([
        cpio.NewcEntry("usr/lib/modules/6.1.0/kernel/virtio_scsi.ko", data=b"\x7fELF" * 8),
        cpio.NewcEntry("conf/initramfs.conf", data=b"MODULES=most\n"),
        cpio.NewcEntry("init", data=b"#!/bin/sh\n", mode=0o100755),
    ])
    out = [archive]
    for comp in compression.Compression:
        if comp is not compression.Compression.NONE:
            try:
                out.append(compression.compress(comp, archive))
            except Exception:  # a compressor missing on this host: fewer seeds
                continue
    out.append(archive + out[-1])  # an early cpio followed by a compressed main archive
    out.append(moddep.write_kmod_index({"virtio_scsi": [(0, "virtio_scsi: virtio")]}))
    return out


IMAGES = _valid_images()


@st.composite
def _corrupted(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(IMAGES)))
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[: cut if draw(st.booleans()) else len(data)])


_MAGICS = [b"070701", b"070702", b"\x1f\x8b\x08", b"\xfd7zXZ\x00", b"BZh9", b"\x28\xb5\x2f\xfd",
           b"\x02\x21\x4c\x18", b"\x04\x22\x4d\x18", b"\x5d\x00\x00", b"\x89LZO",
           b"\xb0\x07\xf4\x57"]
BYTES = st.one_of(
    st.binary(max_size=3000),
    st.tuples(st.sampled_from(_MAGICS), st.binary(max_size=2000)).map(lambda t: t[0] + t[1]),
    _corrupted(),
)


@contextmanager
def _call_limit(seconds: int) -> Iterator[None]:
    def expire(_sig: int, _frame: object) -> None:
        raise TimeoutError(f"one call ran longer than {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_arbitrary_input_gives_result_or_parse_error(name: str) -> None:
    entry = REGISTRY[name]
    counts = {"examples": 0, "parse_errors": 0}

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data={"text": TEXT, "utf8": UTF8, "bytes": BYTES}[entry.kind])
    def run(data: Any) -> None:
        counts["examples"] += 1
        with _call_limit(CALL_LIMIT_S):
            try:
                entry.call(data)
            except entry.raises as exc:
                assert not entry.total, f"{name} is total but raised {exc!r}"
                assert str(exc), "a ParseError must say what is wrong"
                counts["parse_errors"] += 1

    run()
    record_figures("fuzz", {"entry": name, **counts})
    assert counts["examples"] >= EXAMPLES // 2, counts
