"""GRUB device.map (``(hd0)   /dev/xvda``), round-trip preserving. Never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xen2kvm.parsers._lines import split_lines

__all__ = ["DeviceMap", "DeviceMapLine", "parse"]

_LINE_RE = re.compile(r"([ \t]*)(\([^)]*\))([ \t]+)([^ \t\n#]+)(.*)", re.S)


@dataclass
class DeviceMapLine:
    raw: str
    line: int
    drive: str | None = None  # "(hd0)"
    device: str | None = None  # "/dev/xvda"

    def render(self) -> str:
        return self.raw


def _parse(raw: str, lineno: int) -> DeviceMapLine:
    m = _LINE_RE.fullmatch(raw)
    if m is None or raw.lstrip().startswith("#"):
        return DeviceMapLine(raw, lineno)
    return DeviceMapLine(raw, lineno, m.group(2), m.group(4))


@dataclass
class DeviceMap:
    lines: list[DeviceMapLine]
    source: str = "/boot/grub/device.map"

    def entries(self) -> list[DeviceMapLine]:
        return [ln for ln in self.lines if ln.drive is not None]

    def mapping(self) -> dict[str, str]:
        return {ln.drive: ln.device for ln in self.entries() if ln.drive and ln.device}

    def set_device(self, target: DeviceMapLine, device: str) -> None:
        m = _LINE_RE.fullmatch(target.raw)
        assert m is not None
        text = m.group(1) + m.group(2) + m.group(3) + device + m.group(5)
        idx = next(i for i, ln in enumerate(self.lines) if ln is target)
        self.lines[idx] = _parse(text, target.line)

    def render(self) -> str:
        return "".join(ln.raw for ln in self.lines)


def parse(text: str, source: str = "/boot/grub/device.map") -> DeviceMap:
    return DeviceMap([_parse(raw, i) for i, raw in enumerate(split_lines(text), 1)], source)
