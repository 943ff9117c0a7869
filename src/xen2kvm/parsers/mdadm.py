"""mdadm.conf: ``DEVICE`` and ``ARRAY`` lines (continuation lines start with blanks),
round-trip preserving, with device-path replacement for renames. Never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xen2kvm.parsers._lines import split_lines

__all__ = ["MdadmConf", "MdadmLine", "parse", "replace_path"]


def replace_path(text: str, old: str, new: str) -> str:
    """Replace the device path ``old`` as a whole word (``/dev/xvda1`` but not ``/dev/xvda10``)."""
    return re.sub(rf"(?<![\w/.-]){re.escape(old)}(?![\w-])", new, text)


@dataclass
class MdadmLine:
    raw: str
    line: int
    keyword: str | None = None  # upper-cased
    words: list[str] = field(default_factory=list)

    def option(self, key: str) -> str | None:
        """Value of ``key=value`` on an ARRAY line (case-insensitive key)."""
        for w in self.words[1:]:
            k, eq, v = w.partition("=")
            if eq and k.lower() == key.lower():
                return v
        return None

    @property
    def devices(self) -> list[str]:
        """DEVICE line patterns, or an ARRAY line's ``devices=`` list."""
        if self.keyword == "DEVICE":
            return self.words[1:]
        d = self.option("devices")
        return d.split(",") if d else []

    @property
    def array(self) -> str | None:
        if self.keyword != "ARRAY" or len(self.words) < 2 or "=" in self.words[1]:
            return None
        return self.words[1]

    def render(self) -> str:
        return self.raw


def _parse(raw: str, lineno: int) -> MdadmLine:
    words = raw.split()
    if not words or words[0].startswith("#"):
        return MdadmLine(raw, lineno)
    cut = next((i for i, w in enumerate(words) if w.startswith("#")), len(words))
    return MdadmLine(raw, lineno, words[0].upper(), words[:cut])


@dataclass
class MdadmConf:
    lines: list[MdadmLine]
    source: str = "/etc/mdadm/mdadm.conf"

    def keyword(self, kw: str) -> list[MdadmLine]:
        return [ln for ln in self.lines if ln.keyword == kw.upper()]

    def arrays(self) -> list[MdadmLine]:
        return self.keyword("ARRAY")

    def device_lines(self) -> list[MdadmLine]:
        return self.keyword("DEVICE")

    def replace_device(self, old: str, new: str) -> int:
        """Rename a device path everywhere outside comments. Returns lines changed."""
        changed = 0
        for i, ln in enumerate(self.lines):
            if ln.keyword is None:
                continue
            text = replace_path(ln.raw, old, new)
            if text != ln.raw:
                self.lines[i] = _parse(text, ln.line)
                changed += 1
        return changed

    def render(self) -> str:
        return "".join(ln.raw for ln in self.lines)


def parse(text: str, source: str = "/etc/mdadm/mdadm.conf") -> MdadmConf:
    out: list[MdadmLine] = []
    for i, raw in enumerate(split_lines(text), 1):
        if out and raw[:1] in (" ", "\t") and raw.strip() and out[-1].keyword is not None:
            prev = out[-1]
            out[-1] = _parse(prev.raw + raw, prev.line)
        else:
            out.append(_parse(raw, i))
    return MdadmConf(out, source)
