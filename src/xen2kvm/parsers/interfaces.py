"""Debian ifupdown ``/etc/network/interfaces`` (and interfaces.d files), round-trip preserving.

Stanzas: ``auto``/``allow-*`` lines naming interfaces, ``iface NAME FAMILY METHOD`` followed by
option lines, ``mapping``, ``source``/``source-directory``. Never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xen2kvm.parsers._lines import split_lines

__all__ = ["Iface", "InterfacesFile", "InterfacesLine", "parse"]

_STANZA_WORDS = ("iface", "mapping", "auto", "source", "source-directory", "rename")


@dataclass
class InterfacesLine:
    raw: str
    line: int
    words: list[str] = field(default_factory=list)

    @property
    def keyword(self) -> str | None:
        return self.words[0] if self.words else None

    @property
    def is_stanza(self) -> bool:
        k = self.keyword
        return k is not None and (k in _STANZA_WORDS or k.startswith("allow-"))

    def render(self) -> str:
        return self.raw


@dataclass
class Iface:
    """An ``iface`` stanza: a view over its header and option lines."""

    header: InterfacesLine
    options: list[InterfacesLine]

    @property
    def name(self) -> str:
        return self.header.words[1] if len(self.header.words) > 1 else ""

    @property
    def family(self) -> str | None:
        return self.header.words[2] if len(self.header.words) > 2 else None

    @property
    def method(self) -> str | None:
        return self.header.words[3] if len(self.header.words) > 3 else None

    def option(self, key: str) -> str | None:
        for ln in self.options:
            if ln.keyword == key:
                return " ".join(ln.words[1:])
        return None

    def option_lines(self, key: str) -> list[InterfacesLine]:
        return [ln for ln in self.options if ln.keyword == key]


def _parse_line(raw: str, lineno: int) -> InterfacesLine:
    body = raw.replace("\\\n", " ")
    s = body.strip()
    if not s or s.startswith("#"):
        return InterfacesLine(raw, lineno)
    return InterfacesLine(raw, lineno, s.split())


@dataclass
class InterfacesFile:
    lines: list[InterfacesLine]
    source: str = "/etc/network/interfaces"

    def ifaces(self) -> list[Iface]:
        out: list[Iface] = []
        current: Iface | None = None
        for ln in self.lines:
            if ln.is_stanza:
                current = Iface(ln, []) if ln.keyword == "iface" else None
                if current is not None:
                    out.append(current)
            elif current is not None and ln.words:
                current.options.append(ln)
        return out

    def auto(self) -> list[str]:
        """Interfaces brought up at boot (``auto`` and ``allow-auto``)."""
        return [
            w for ln in self.lines if ln.keyword in ("auto", "allow-auto") for w in ln.words[1:]
        ]

    def allow(self, kind: str = "hotplug") -> list[str]:
        return [w for ln in self.lines if ln.keyword == f"allow-{kind}" for w in ln.words[1:]]

    def sources(self) -> list[tuple[str, str]]:
        """``(keyword, pattern)`` for ``source`` / ``source-directory`` lines."""
        return [
            (ln.keyword or "", w)
            for ln in self.lines
            if ln.keyword in ("source", "source-directory")
            for w in ln.words[1:]
        ]

    def interface_names(self) -> list[str]:
        """Every interface name mentioned in auto/allow/iface lines, in order, no duplicates."""
        seen: dict[str, None] = {}
        for ln in self.lines:
            k = ln.keyword
            if k == "auto" or (k is not None and k.startswith("allow-")):
                for w in ln.words[1:]:
                    seen.setdefault(w)
            elif k == "iface" and len(ln.words) > 1:
                seen.setdefault(ln.words[1])
        return list(seen)

    def rename(self, old: str, new: str) -> int:
        """Rename an interface in auto/allow/iface lines (also ``old:N`` aliases). Returns the
        number of lines changed. Option values are left alone."""
        pat = re.compile(rf"(?<![\w.:-]){re.escape(old)}(?=$|[\s:.])")
        changed = 0
        for i, ln in enumerate(self.lines):
            k = ln.keyword
            if k == "iface" or k == "auto" or (k is not None and k.startswith("allow-")):
                head, _, rest = ln.raw.partition(k)
                new_rest = (
                    pat.sub(new, rest) if k != "iface" else self._rename_iface(rest, pat, new)
                )
                if new_rest != rest:
                    self.lines[i] = _parse_line(head + k + new_rest, ln.line)
                    changed += 1
        return changed

    @staticmethod
    def _rename_iface(rest: str, pat: re.Pattern[str], new: str) -> str:
        m = re.match(r"([ \t]+)([^ \t\n]+)(.*)", rest, re.S)
        if m is None:
            return rest
        return m.group(1) + pat.sub(new, m.group(2)) + m.group(3)

    def remove_line(self, target: InterfacesLine) -> None:
        self.lines = [ln for ln in self.lines if ln is not target]

    def render(self) -> str:
        return "".join(ln.raw for ln in self.lines)


def parse(text: str, source: str = "/etc/network/interfaces") -> InterfacesFile:
    """Parse an interfaces file; never raises."""
    out: list[InterfacesLine] = []
    buf, start = "", 1
    for i, raw in enumerate(split_lines(text), 1):
        if not buf:
            start = i
        buf += raw
        if not raw.endswith("\\\n"):
            out.append(_parse_line(buf, start))
            buf = ""
    if buf:
        out.append(_parse_line(buf, start))
    return InterfacesFile(out, source)
