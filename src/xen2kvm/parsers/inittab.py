"""/etc/inittab (sysvinit, and RHEL 5/6 leftovers), round-trip preserving.

Entries are ``id:runlevels:action:process``. Lines that do not have four fields are kept as
they are and flagged ``malformed`` (init ignores them too). Never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xen2kvm.parsers._lines import line_body, split_lines

__all__ = ["Inittab", "InittabLine", "parse"]

_TTY_RE = re.compile(r"^(?:/dev/)?((?:tty|hvc|xvc|console|ttyS|ttyAMA)[A-Za-z0-9]*)$")


@dataclass
class InittabLine:
    raw: str
    line: int
    id: str | None = None
    runlevels: str = ""
    action: str = ""
    process: str = ""
    newline: str = "\n"
    malformed: bool = False

    @property
    def is_entry(self) -> bool:
        return self.id is not None

    @property
    def is_getty(self) -> bool:
        if self.id is None or self.action not in ("respawn", "once", "wait", "off", "ondemand"):
            return False
        prog = self.process.split()[0] if self.process.split() else ""
        return "getty" in prog.rsplit("/", 1)[-1]

    @property
    def tty(self) -> str | None:
        """The terminal a getty line runs on (``hvc0``, ``ttyS0``, ``tty1``), if any."""
        if not self.is_getty:
            return None
        for word in self.process.split()[1:]:
            m = _TTY_RE.match(word)
            if m:
                return m.group(1)
        return None

    def render(self) -> str:
        return self.raw


def _parse_line(raw: str, lineno: int) -> InittabLine:
    body, nl = line_body(raw)
    ln = InittabLine(raw, lineno, newline=nl)
    s = body.strip()
    if not s or s.startswith("#"):
        return ln
    parts = body.split(":", 3)
    if len(parts) < 4:
        ln.malformed = True
        return ln
    ln.id, ln.runlevels, ln.action, ln.process = parts
    return ln


def format_entry(id_: str, runlevels: str, action: str, process: str) -> str:
    return f"{id_}:{runlevels}:{action}:{process}"


@dataclass
class Inittab:
    lines: list[InittabLine]
    source: str = "/etc/inittab"

    def entries(self) -> list[InittabLine]:
        return [ln for ln in self.lines if ln.is_entry]

    def gettys(self) -> list[InittabLine]:
        return [ln for ln in self.lines if ln.is_getty]

    def getty_for(self, tty: str) -> list[InittabLine]:
        """Getty entries running on ``tty`` (e.g. ``hvc0``)."""
        return [ln for ln in self.gettys() if ln.tty == tty]

    def entry(self, id_: str) -> InittabLine | None:
        return next((ln for ln in self.entries() if ln.id == id_), None)

    def _index(self, target: InittabLine) -> int:
        return next(i for i, ln in enumerate(self.lines) if ln is target)

    def replace(self, target: InittabLine, text: str) -> InittabLine:
        """Replace a line's text (without newline), keeping its position and line ending."""
        new = _parse_line(text + (target.newline or "\n"), target.line)
        self.lines[self._index(target)] = new
        return new

    def set_entry(
        self,
        target: InittabLine,
        *,
        id: str | None = None,
        runlevels: str | None = None,
        action: str | None = None,
        process: str | None = None,
    ) -> InittabLine:
        """Change fields of an entry (others kept as written)."""
        return self.replace(
            target,
            format_entry(
                (target.id or "") if id is None else id,
                target.runlevels if runlevels is None else runlevels,
                target.action if action is None else action,
                target.process if process is None else process,
            ),
        )

    def comment_out(self, target: InittabLine) -> InittabLine:
        return self.replace(target, "#" + line_body(target.raw)[0])

    def add(self, text: str, *, after: InittabLine | None = None) -> InittabLine:
        """Insert a line after ``after`` (or at the end)."""
        if after is not None:
            idx = self._index(after) + 1
            if not after.raw.endswith("\n"):
                self.replace(after, after.raw)
        else:
            idx = len(self.lines)
            if self.lines and not self.lines[-1].raw.endswith("\n"):
                self.replace(self.lines[-1], self.lines[-1].raw)
        new = _parse_line(text + "\n", idx + 1)
        self.lines.insert(idx, new)
        return new

    def remove(self, target: InittabLine) -> None:
        del self.lines[self._index(target)]

    def render(self) -> str:
        return "".join(ln.raw for ln in self.lines)


def parse(text: str, source: str = "/etc/inittab") -> Inittab:
    """Parse inittab; never raises."""
    return Inittab([_parse_line(raw, i) for i, raw in enumerate(split_lines(text), 1)], source)
