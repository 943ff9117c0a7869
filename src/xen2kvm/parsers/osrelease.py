"""os-release (/etc/os-release, /usr/lib/os-release): shell-style ``KEY=value`` lines.

A thin layer over :mod:`xen2kvm.parsers.shellvars`, which keeps the file byte-for-byte.
"""

from __future__ import annotations

from xen2kvm.parsers import shellvars
from xen2kvm.parsers.shellvars import ShellVars

__all__ = ["parse", "parse_dict"]


def parse(text: str, source: str = "/etc/os-release") -> ShellVars:
    """Parse os-release. Raises ParseError on an unterminated quote."""
    return shellvars.parse(text, source)


def parse_dict(text: str, source: str = "/etc/os-release") -> dict[str, str]:
    """Every key with its unquoted value (``ID``, ``VERSION_ID``, ``ID_LIKE``, ...)."""
    return parse(text, source).as_dict()
