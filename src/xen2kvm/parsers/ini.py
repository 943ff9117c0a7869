"""Read-only reader for systemd unit-style files (.network, .link, .netdev) and
NetworkManager keyfiles.

Written by hand because :mod:`configparser` rejects repeated keys and sections, which systemd
files use on purpose (several ``Address=`` or ``[Address]`` blocks), and interpolates ``%``.
Never raises: a line that is neither a section, a key, a comment nor blank is recorded in
:attr:`IniFile.bad_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xen2kvm.parsers._lines import split_lines

__all__ = ["IniFile", "IniSection", "parse"]


@dataclass
class IniSection:
    name: str
    line: int
    items: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        """The last value of ``key`` (systemd: later assignments win for single values)."""
        vals = self.get_all(key)
        return vals[-1] if vals else None

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.items if k == key]


@dataclass
class IniFile:
    sections: list[IniSection]
    source: str = "<input>"
    bad_lines: list[int] = field(default_factory=list)

    def section(self, name: str) -> IniSection | None:
        """The first section called ``name``."""
        return next((s for s in self.sections if s.name == name), None)

    def all(self, name: str) -> list[IniSection]:
        return [s for s in self.sections if s.name == name]

    def get(self, section: str, key: str) -> str | None:
        """Last value of ``key`` over every section called ``section``."""
        vals = [v for s in self.all(section) for v in s.get_all(key)]
        return vals[-1] if vals else None

    def get_all(self, section: str, key: str) -> list[str]:
        return [v for s in self.all(section) for v in s.get_all(key)]


def parse(text: str, source: str = "<input>") -> IniFile:
    """Parse a unit-style file (``#``/``;`` comments, backslash continuation lines)."""
    result = IniFile([], source)
    current: IniSection | None = None
    pending = ""
    pending_line = 0
    for i, raw in enumerate(split_lines(text), 1):
        line = raw.rstrip("\r\n")
        if pending:
            line = pending + " " + line.strip()
        elif line.strip().startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            if not pending:
                pending_line = i
            pending = line[:-1]
            continue
        lineno = pending_line if pending else i
        pending = ""
        s = line.strip()
        if not s:
            continue
        if s.startswith("[") and s.endswith("]"):
            current = IniSection(s[1:-1].strip(), lineno)
            result.sections.append(current)
            continue
        key, eq, value = s.partition("=")
        if not eq or current is None or not key.strip():
            result.bad_lines.append(lineno)
            continue
        current.items.append((key.strip(), value.strip()))
    return result
