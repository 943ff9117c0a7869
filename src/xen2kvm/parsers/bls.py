"""Boot Loader Specification entries (/boot/loader/entries/*.conf) and /etc/kernel/cmdline.

A BLS entry is ``key value`` lines (``title``, ``version``, ``linux``, ``initrd`` (repeatable),
``options``, ...) with ``#`` comments. Fedora/RHEL entries may use ``$kernelopts`` in options
(taken from grubenv). Every text parses; :func:`parse` never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xen2kvm.parsers import cmdline as cmdline_mod
from xen2kvm.parsers._lines import line_body, split_lines
from xen2kvm.parsers.cmdline import KernelCmdline

__all__ = ["BlsEntry", "BlsLine", "parse", "parse_kernel_cmdline", "version_key"]

_KV_RE = re.compile(r"([ \t]*)([^ \t#]+)([ \t]*)(.*)", re.S)


@dataclass
class BlsLine:
    raw: str
    line: int
    key: str | None = None
    lead: str = ""
    sep: str = ""
    value: str = ""
    newline: str = "\n"
    cmdline: KernelCmdline | None = field(default=None, repr=False)  # for "options"

    def render(self) -> str:
        value = self.cmdline.render() if self.cmdline is not None else self.value
        if value == self.value:
            return self.raw
        sep = self.sep or " "
        return f"{self.lead}{self.key}{sep}{value}{self.newline}"


@dataclass
class BlsEntry:
    """One entry file."""

    lines: list[BlsLine]
    source: str = "<input>"

    def get(self, key: str) -> str | None:
        """The (first) value of ``key``, trailing blanks removed."""
        return next((ln.value.rstrip() for ln in self.lines if ln.key == key), None)

    def get_all(self, key: str) -> list[str]:
        return [ln.value.rstrip() for ln in self.lines if ln.key == key]

    @property
    def title(self) -> str | None:
        return self.get("title")

    @property
    def version(self) -> str | None:
        return self.get("version")

    @property
    def linux(self) -> str | None:
        return self.get("linux")

    @property
    def initrds(self) -> list[str]:
        return [p for v in self.get_all("initrd") for p in v.split()]

    @property
    def options_lines(self) -> list[BlsLine]:
        return [ln for ln in self.lines if ln.key == "options"]

    @property
    def cmdline(self) -> KernelCmdline | None:
        """The first ``options`` line, editable in place (None if the entry has none)."""
        opts = self.options_lines
        return opts[0].cmdline if opts else None

    def options_text(self) -> str:
        """All ``options`` lines joined (the bootloader concatenates them)."""
        return " ".join(ln.value.strip() for ln in self.options_lines)

    def set(self, key: str, value: str) -> None:
        """Set the first ``key`` line (or append one)."""
        for i, ln in enumerate(self.lines):
            if ln.key == key:
                text = f"{ln.lead}{key}{ln.sep or ' '}{value}{ln.newline}"
                self.lines[i] = _parse_line(text, ln.line)
                return
        if self.lines and not self.lines[-1].render().endswith("\n"):
            last = self.lines[-1]
            self.lines[-1] = _parse_line(last.render() + "\n", last.line)
        new = _parse_line(f"{key} {value}\n", len(self.lines) + 1)
        self.lines.append(new)

    def render(self) -> str:
        return "".join(ln.render() for ln in self.lines)


def _parse_line(raw: str, lineno: int) -> BlsLine:
    body, nl = line_body(raw)
    ln = BlsLine(raw, lineno, newline=nl)
    if not body.strip() or body.lstrip().startswith("#"):
        return ln
    m = _KV_RE.fullmatch(body)
    assert m is not None
    ln.lead, ln.key, ln.sep, ln.value = m.group(1), m.group(2), m.group(3), m.group(4)
    if ln.key == "options":
        ln.cmdline = cmdline_mod.parse(ln.value)
    return ln


def parse(text: str, source: str = "<bls entry>") -> BlsEntry:
    """Parse a BLS entry file; never raises."""
    return BlsEntry([_parse_line(raw, i) for i, raw in enumerate(split_lines(text), 1)], source)


def parse_kernel_cmdline(text: str, source: str = "/etc/kernel/cmdline") -> KernelCmdline:
    """/etc/kernel/cmdline is a bare command line (kernel-install adds it to new entries)."""
    return cmdline_mod.parse(text, source)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key approximating rpm/systemd version order (numbers numerically)."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)
