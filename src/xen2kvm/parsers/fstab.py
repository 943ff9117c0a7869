"""/etc/fstab and /etc/crypttab, round-trip preserving.

Each line is kept with its exact separators; comments, blank lines and malformed lines are
kept as they are (a malformed entry is reported by :attr:`TabEntry.malformed`, not refused:
the guest's own mount would skip it too, and we must not lose it when rewriting the file).
Every text parses, so these parsers never raise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from xen2kvm.parsers._lines import Fields, line_body, split_lines
from xen2kvm.parsers.devref import DeviceRef, classify

__all__ = [
    "CrypttabEntry",
    "FstabEntry",
    "TabEntry",
    "TabFile",
    "decode_field",
    "encode_field",
    "parse_crypttab",
    "parse_fstab",
]

_OCTAL = re.compile(r"\\([0-7]{3})")


def decode_field(value: str) -> str:
    """Undo fstab's octal escapes (``\\040`` is a space)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), value)


def encode_field(value: str) -> str:
    """Escape blanks and backslashes the way fstab expects."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in value)


@dataclass
class TabEntry:
    """One line of the file. ``fields`` is None for comments and blank lines."""

    raw: str
    line: int
    fields: Fields | None = field(default=None, repr=False)
    newline: str = "\n"

    #: Minimum number of fields of a well-formed entry (set by subclasses).
    min_fields = 2

    @property
    def is_entry(self) -> bool:
        return self.fields is not None

    @property
    def malformed(self) -> bool:
        return self.fields is not None and len(self.fields.values) < self.min_fields

    def field(self, i: int) -> str | None:
        """Field ``i`` decoded, or None if the line is a comment or too short."""
        if self.fields is None:
            return None
        v = self.fields.get(i)
        return None if v is None else decode_field(v)

    def set_field(self, i: int, value: str) -> None:
        if self.fields is None:
            raise ValueError("cannot set a field of a comment or blank line")
        self.fields.set(i, encode_field(value))

    def render(self) -> str:
        if self.fields is None:
            return self.raw
        return self.fields.render() + self.newline


@dataclass
class FstabEntry(TabEntry):
    """fs_spec, fs_file, fs_vfstype, fs_mntops, fs_freq, fs_passno."""

    min_fields = 2

    @property
    def spec(self) -> str | None:
        return self.field(0)

    @property
    def mountpoint(self) -> str | None:
        return self.field(1)

    @property
    def vfstype(self) -> str | None:
        return self.field(2)

    @property
    def options(self) -> list[str]:
        v = self.field(3)
        return v.split(",") if v else []

    @property
    def freq(self) -> str | None:
        return self.field(4)

    @property
    def passno(self) -> str | None:
        return self.field(5)

    @property
    def device(self) -> DeviceRef | None:
        s = self.spec
        return None if s is None else classify(s)

    @property
    def is_swap(self) -> bool:
        return self.vfstype == "swap"

    @property
    def is_xenfs(self) -> bool:
        return self.vfstype == "xenfs" or self.mountpoint == "/proc/xen"

    def set_spec(self, spec: str) -> None:
        """Replace the device field, keeping everything else on the line."""
        self.set_field(0, spec)


@dataclass
class CrypttabEntry(TabEntry):
    """name, encrypted device, key file, options."""

    min_fields = 2

    @property
    def name(self) -> str | None:
        return self.field(0)

    @property
    def spec(self) -> str | None:
        return self.field(1)

    @property
    def keyfile(self) -> str | None:
        return self.field(2)

    @property
    def options(self) -> list[str]:
        v = self.field(3)
        return v.split(",") if v else []

    @property
    def device(self) -> DeviceRef | None:
        s = self.spec
        return None if s is None else classify(s)

    def set_spec(self, spec: str) -> None:
        self.set_field(1, spec)


@dataclass
class TabFile:
    """A parsed fstab or crypttab."""

    lines: list[TabEntry]
    source: str = "<input>"

    def __iter__(self) -> Iterator[TabEntry]:
        return iter(self.lines)

    def entries(self) -> list[TabEntry]:
        """Lines that are entries (not comments or blanks), malformed ones included."""
        return [e for e in self.lines if e.is_entry]

    def remove(self, entry: TabEntry) -> None:
        self.lines = [e for e in self.lines if e is not entry]

    def comment_out(self, entry: TabEntry, note: str = "") -> None:
        """Turn ``entry`` into a comment (``# text`` plus an optional note after it)."""
        body = entry.render().rstrip("\n")
        suffix = f"  # {note}" if note else ""
        idx = next(i for i, e in enumerate(self.lines) if e is entry)
        self.lines[idx] = type(entry)(f"# {body}{suffix}\n", entry.line)

    def append(self, text: str) -> TabEntry:
        """Add a line (``text`` without newline) at the end of the file."""
        if self.lines and not self.lines[-1].render().endswith("\n"):
            self.lines[-1].newline = "\n"
            if self.lines[-1].fields is None:
                self.lines[-1].raw += "\n"
        cls = type(self.lines[0]) if self.lines else TabEntry
        entry = _make(cls, text + "\n", len(self.lines) + 1)
        self.lines.append(entry)
        return entry

    def render(self) -> str:
        return "".join(e.render() for e in self.lines)


def _make(cls: type[TabEntry], raw: str, line: int) -> TabEntry:
    body, nl = line_body(raw)
    stripped = body.strip(" \t")
    if not stripped or stripped.startswith("#"):
        return cls(raw, line, None, nl)
    return cls(raw, line, Fields(body), nl)


def _parse(cls: type[TabEntry], text: str, source: str) -> TabFile:
    return TabFile([_make(cls, raw, i) for i, raw in enumerate(split_lines(text), 1)], source)


def parse_fstab(text: str, source: str = "/etc/fstab") -> TabFile:
    """Parse an fstab. Entries are :class:`FstabEntry`."""
    return _parse(FstabEntry, text, source)


def parse_crypttab(text: str, source: str = "/etc/crypttab") -> TabFile:
    """Parse a crypttab. Entries are :class:`CrypttabEntry`."""
    return _parse(CrypttabEntry, text, source)
