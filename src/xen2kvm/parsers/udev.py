"""udev rules files, round-trip preserving, with the persistent-net pins found.

A rule is one line (continued with a trailing backslash) of comma-separated
``KEY[{attr}]OP"value"`` tokens. A rule with text that is not a token is kept and flagged
``malformed`` (udev would log and skip it). Never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xen2kvm.parsers._lines import split_lines

__all__ = ["NetPin", "UdevRule", "UdevRules", "UdevToken", "parse"]

_TOKEN_RE = re.compile(
    r"[ \t,]*([A-Za-z_][A-Za-z0-9_]*)(?:\{([^}]*)\})?[ \t]*"
    r'(==|!=|\+=|-=|:=|=)[ \t]*"((?:[^"\\]|\\.)*)"'
)
_SEP_RE = re.compile(r"[ \t,]*")


@dataclass(frozen=True)
class UdevToken:
    key: str
    attr: str | None
    op: str
    value: str

    @property
    def is_match(self) -> bool:
        return self.op in ("==", "!=")


@dataclass
class UdevRule:
    """One logical line; ``tokens`` is empty for comments and blank lines."""

    raw: str
    line: int
    tokens: list[UdevToken] = field(default_factory=list)
    malformed: bool = False

    @property
    def is_rule(self) -> bool:
        return bool(self.tokens) or self.malformed

    def get(self, key: str, attr: str | None = None, *, match: bool | None = None) -> str | None:
        """Value of the first token ``key[{attr}]`` (restricted to match/assign tokens if
        ``match`` is given)."""
        for t in self.tokens:
            if t.key == key and t.attr == attr and (match is None or t.is_match == match):
                return t.value
        return None

    def render(self) -> str:
        return self.raw


@dataclass(frozen=True)
class NetPin:
    """A rule that names an interface after its MAC (70-persistent-net.rules)."""

    line: int
    name: str
    mac: str


def _parse_rule(raw: str, lineno: int) -> UdevRule:
    body = raw.replace("\\\n", " ").rstrip("\n")
    s = body.strip()
    rule = UdevRule(raw, lineno)
    if not s or s.startswith("#"):
        return rule
    pos = 0
    while True:
        m = _TOKEN_RE.match(body, pos)
        if m is None:
            break
        rule.tokens.append(
            UdevToken(m.group(1), m.group(2), m.group(3), m.group(4).replace('\\"', '"'))
        )
        pos = m.end()
    rest = _SEP_RE.match(body, pos)
    end = rest.end() if rest else pos
    if body[end:].strip():
        rule.malformed = True
    return rule


@dataclass
class UdevRules:
    rules: list[UdevRule]
    source: str = "<input>"

    def active(self) -> list[UdevRule]:
        return [r for r in self.rules if r.is_rule]

    def net_pins(self) -> list[NetPin]:
        """Rules assigning ``NAME=`` to a net device matched by ``ATTR{address}==``."""
        pins: list[NetPin] = []
        for r in self.rules:
            name = r.get("NAME", match=False)
            mac = r.get("ATTR", "address", match=True) or r.get("SYSFS", "address", match=True)
            if name is not None and mac is not None:
                pins.append(NetPin(r.line, name, mac.lower()))
        return pins

    def rule_at(self, line: int) -> UdevRule | None:
        return next((r for r in self.rules if r.line == line), None)

    def remove(self, target: UdevRule) -> None:
        self.rules = [r for r in self.rules if r is not target]

    def comment_out(self, target: UdevRule, note: str = "") -> None:
        idx = next(i for i, r in enumerate(self.rules) if r is target)
        text = "".join("# " + ln + "\n" for ln in target.raw.rstrip("\n").split("\n"))
        if note:
            text = f"# {note}\n" + text
        self.rules[idx] = UdevRule(text, target.line)

    def render(self) -> str:
        return "".join(r.raw for r in self.rules)


def _logical_lines(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    buf = ""
    start = 1
    for i, raw in enumerate(split_lines(text), 1):
        if not buf:
            start = i
        buf += raw
        if not raw.rstrip("\n").endswith("\\") or not raw.endswith("\n"):
            out.append((buf, start))
            buf = ""
    if buf:
        out.append((buf, start))
    return out


def parse(text: str, source: str = "<input>") -> UdevRules:
    """Parse a udev rules file; never raises."""
    return UdevRules([_parse_rule(raw, ln) for raw, ln in _logical_lines(text)], source)
