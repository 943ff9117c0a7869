"""Properties every config parser must have, on arbitrary text and on config-shaped soup:
parsing gives a model or the project's ParseError (nothing else), and rendering an unedited
model gives the input back byte for byte."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xen2kvm.errors import ParseError
from xen2kvm.parsers import (
    bls,
    cmdline,
    devicemap,
    fstab,
    grub2,
    grub_legacy,
    inittab,
    interfaces,
    linelist,
    mdadm,
    modprobe,
    osrelease,
    shellvars,
    udev,
)

# name -> parse function; every model has render()
ROUND_TRIP: dict[str, Callable[[str], Any]] = {
    "shellvars": shellvars.parse,
    "osrelease": osrelease.parse,
    "grub-default": grub2.parse_default,
    "cmdline": cmdline.parse,
    "fstab": fstab.parse_fstab,
    "crypttab": fstab.parse_crypttab,
    "grub-legacy": grub_legacy.parse,
    "grub-cfg": grub2.parse_cfg,
    "bls": bls.parse,
    "inittab": inittab.parse,
    "linelist": linelist.parse,
    "udev": udev.parse,
    "modprobe": modprobe.parse,
    "interfaces": interfaces.parse,
    "mdadm": mdadm.parse,
    "devicemap": devicemap.parse,
}

# Characters that matter to these formats, so generated text hits their syntax often.
SOUP = st.lists(
    st.sampled_from(
        [
            *list("abcxyz019 \t\n\r#=:;,{}()[]\"'\\$`+-/.>*"),
            "title ",
            "kernel ",
            "menuentry ",
            "submenu ",
            "linux ",
            "initrd ",
            "set default=",
            "ARRAY ",
            "DEVICE ",
            "alias ",
            "iface ",
            "auto ",
            "NAME=",
            'ATTR{address}=="',
            "options ",
            "respawn",
            "/dev/xvda1",
            "UUID=",
            "(hd0)",
            "\\\n",
            "$'",
            "}\n",
            "{\n",
        ]
    ),
    max_size=80,
).map("".join)


def _check(parse: Callable[[str], Any], text: str) -> None:
    try:
        model = parse(text)
    except ParseError as err:
        assert err.source  # a located, user-facing error
        return
    assert model.render() == text


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=400)
    | st.binary(max_size=400).map(lambda b: b.decode("utf-8", "surrogateescape"))
)
def test_arbitrary_text_round_trips_or_parse_error(name: str, text: str) -> None:
    _check(ROUND_TRIP[name], text)


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
@settings(max_examples=300)
@given(text=SOUP)
def test_syntax_soup_round_trips_or_parse_error(name: str, text: str) -> None:
    _check(ROUND_TRIP[name], text)


@settings(max_examples=200)
@given(text=st.text(max_size=400) | SOUP)
def test_readers_give_model_or_parse_error(text: str) -> None:
    from xen2kvm.parsers import ini, netplan

    model = ini.parse(text)
    assert all(isinstance(n, int) for n in model.bad_lines)
    with contextlib.suppress(ParseError):
        netplan.parse(text)


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_long_line_is_linear(name: str) -> None:
    # A 2 MB single line (hostile guests use 10 MB lines): must finish and round-trip.
    text = ("a=b " * 500_000)[:2_000_000]
    _check(ROUND_TRIP[name], text)


# Typical queries per parser, run on big inputs to show they stay linear (no timing asserted:
# a quadratic query on 100k lines would simply not finish in any reasonable CI time).
QUERIES: dict[str, Callable[[Any], object]] = {
    "shellvars": lambda m: m.as_dict(),
    "osrelease": lambda m: m.evaluate(),
    "grub-default": lambda m: m.get("GRUB_CMDLINE_LINUX"),
    "cmdline": lambda m: m.get_all("console"),
    "fstab": lambda m: [e.field(0) for e in m.entries()],
    "crypttab": lambda m: [e.field(1) for e in m.entries()],
    "grub-legacy": lambda m: [e.cmdline for e in m.entries()] + [m.magic(), m.default_entry()],
    "grub-cfg": lambda m: ([e.cmdline for e in m.entries()], m.default, m.find("x")),
    "bls": lambda m: (m.options_text(), m.initrds),
    "inittab": lambda m: [g.tty for g in m.gettys()],
    "linelist": lambda m: m.items(),
    "udev": lambda m: m.net_pins(),
    "modprobe": lambda m: m.xen_lines(),
    "interfaces": lambda m: (m.ifaces(), m.interface_names()),
    "mdadm": lambda m: [a.devices for a in m.arrays()],
    "devicemap": lambda m: m.mapping(),
}

BIG_LINES = {
    "shellvars": 'A{i}="x $A{i} y"\n',
    "osrelease": "K{i}=v\n",
    "grub-default": 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX a{i}"\n',
    "cmdline": "console=hvc{i} ",
    "fstab": "/dev/xvda{i} /m{i} ext4 defaults 0 0\n",
    "crypttab": "c{i} /dev/xvdb{i} none luks\n",
    "grub-legacy": "title t{i}\nkernel /vmlinuz-{i} root=/dev/xvda ro\n",
    "grub-cfg": (
        "menuentry 'e{i}' {{\n  linux /vmlinuz-{i} ro\n  set default={i}\n}}\nset default={i}\n"
    ),
    "bls": "options a{i}=1\ninitrd /i{i}\n",
    "inittab": "{i}:2345:respawn:/sbin/getty 38400 tty{i}\n",
    "linelist": "mod{i}\n",
    "udev": 'ATTR{{address}}=="00:16:3e:00:00:{i}", NAME="eth{i}"\n',
    "modprobe": "alias eth{i} xennet\n",
    "interfaces": "auto eth{i}\niface eth{i} inet dhcp\n  hwaddress ether 00:16:3e:00:00:01\n",
    "mdadm": "ARRAY /dev/md{i} devices=/dev/xvda{i}\n",
    "devicemap": "(hd{i}) /dev/xvd{i}\n",
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_many_lines_parse_and_query_linearly(name: str) -> None:
    text = "".join(BIG_LINES[name].format(i=i) for i in range(20_000))
    model = ROUND_TRIP[name](text)
    QUERIES[name](model)
    assert model.render() == text


def test_deep_nesting_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ParseError):
        shellvars.parse('A="$(' * 5000)
    with pytest.raises(ParseError):
        grub2.parse_cfg("submenu x {\n" * 5000 + "}\n" * 5000)
