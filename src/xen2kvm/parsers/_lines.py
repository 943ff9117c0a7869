"""Shared helpers for line-based config formats."""

from __future__ import annotations

import re

_FIELD_RE = re.compile(r"[^ \t\n]+")


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping the newline on each line (``"".join`` gives ``text``)."""
    if not text:
        return []
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def line_body(raw: str) -> tuple[str, str]:
    """``"text\\n"`` -> ``("text", "\\n")``; ``\\r\\n`` endings stay with the body's end."""
    if raw.endswith("\n"):
        return raw[:-1], "\n"
    return raw, ""


class Fields:
    """Whitespace-separated fields of one line with the exact separators kept."""

    def __init__(self, body: str) -> None:
        self.lead = ""
        self.values: list[str] = []
        self.seps: list[str] = []
        self.trail = ""
        pos = 0
        for m in _FIELD_RE.finditer(body):
            gap = body[pos : m.start()]
            if not self.values:
                self.lead = gap
            else:
                self.seps.append(gap)
            self.values.append(m.group(0))
            pos = m.end()
        if not self.values:
            self.lead = body
        else:
            self.trail = body[pos:]

    def get(self, i: int) -> str | None:
        return self.values[i] if i < len(self.values) else None

    def set(self, i: int, value: str) -> None:
        """Set field ``i``, adding fields (tab-separated) if the line is shorter."""
        while len(self.values) <= i:
            if self.values:
                self.seps.append("\t")
            self.values.append("")
        self.values[i] = value

    def render(self) -> str:
        out = [self.lead]
        for i, v in enumerate(self.values):
            if i:
                out.append(self.seps[i - 1])
            out.append(v)
        out.append(self.trail)
        return "".join(out)
