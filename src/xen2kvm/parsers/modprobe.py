"""modprobe.d / modprobe.conf files: ``alias``, ``options``, ``install``, ``remove``,
``blacklist``, ``softdep`` commands, round-trip preserving. Never raises."""

from __future__ import annotations

from dataclasses import dataclass, field

from xen2kvm.parsers._lines import split_lines

__all__ = ["XEN_MODULES", "ModprobeConf", "ModprobeLine", "parse"]

#: Xen paravirtual driver names a guest may alias devices to (old and new names).
XEN_MODULES = frozenset(
    {
        "xennet",
        "xenblk",
        "xen-vnif",
        "xen-vbd",
        "xen_netfront",
        "xen-netfront",
        "xen_blkfront",
        "xen-blkfront",
        "xen-platform-pci",
        "xen_platform_pci",
    }
)


@dataclass
class ModprobeLine:
    raw: str
    line: int
    command: str | None = None
    args: list[str] = field(default_factory=list)

    @property
    def module(self) -> str | None:
        """The module a line is about (the alias target for ``alias``)."""
        if self.command == "alias":
            return self.args[1] if len(self.args) > 1 else None
        return self.args[0] if self.args else None

    @property
    def alias_name(self) -> str | None:
        return self.args[0] if self.command == "alias" and self.args else None

    def render(self) -> str:
        return self.raw


def _parse_line(raw: str, lineno: int) -> ModprobeLine:
    body = raw.replace("\\\n", " ").rstrip("\n")
    s = body.strip()
    ln = ModprobeLine(raw, lineno)
    if not s or s.startswith("#"):
        return ln
    words = s.split()
    ln.command, ln.args = words[0], words[1:]
    return ln


@dataclass
class ModprobeConf:
    lines: list[ModprobeLine]
    source: str = "<input>"

    def commands(self, command: str | None = None) -> list[ModprobeLine]:
        return [
            ln
            for ln in self.lines
            if ln.command is not None and (command is None or ln.command == command)
        ]

    def aliases(self) -> list[ModprobeLine]:
        return self.commands("alias")

    def xen_lines(self) -> list[ModprobeLine]:
        """Lines that refer to a Xen PV driver (aliases to it, options for it, ...)."""
        return [ln for ln in self.commands() if ln.module in XEN_MODULES]

    def _index(self, target: ModprobeLine) -> int:
        return next(i for i, ln in enumerate(self.lines) if ln is target)

    def replace(self, target: ModprobeLine, text: str) -> ModprobeLine:
        nl = "\n" if target.raw.endswith("\n") else ""
        new = _parse_line(text + nl, target.line)
        self.lines[self._index(target)] = new
        return new

    def set_alias(self, target: ModprobeLine, module: str) -> ModprobeLine:
        """Point an ``alias`` line at another module (``alias eth0 xennet`` -> virtio_net)."""
        if target.command != "alias" or not target.args:
            raise ValueError("not an alias line")
        lead = target.raw[: len(target.raw) - len(target.raw.lstrip(" \t"))]
        return self.replace(target, f"{lead}alias {target.args[0]} {module}")

    def comment_out(self, target: ModprobeLine) -> None:
        text = "".join("#" + ln + "\n" for ln in target.raw.rstrip("\n").split("\n"))
        if not target.raw.endswith("\n"):
            text = text[:-1]
        self.lines[self._index(target)] = ModprobeLine(text, target.line)

    def remove(self, target: ModprobeLine) -> None:
        del self.lines[self._index(target)]

    def append(self, text: str) -> ModprobeLine:
        if self.lines and not self.lines[-1].raw.endswith("\n"):
            self.lines[-1].raw += "\n"
        new = _parse_line(text + "\n", len(self.lines) + 1)
        self.lines.append(new)
        return new

    def render(self) -> str:
        return "".join(ln.raw for ln in self.lines)


def _logical(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    buf, start = "", 1
    for i, raw in enumerate(split_lines(text), 1):
        if not buf:
            start = i
        buf += raw
        if not (raw.endswith("\\\n")):
            out.append((buf, start))
            buf = ""
    if buf:
        out.append((buf, start))
    return out


def parse(text: str, source: str = "<input>") -> ModprobeConf:
    """Parse a modprobe configuration file; never raises."""
    return ModprobeConf([_parse_line(raw, ln) for raw, ln in _logical(text)], source)
