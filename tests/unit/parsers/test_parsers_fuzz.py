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
