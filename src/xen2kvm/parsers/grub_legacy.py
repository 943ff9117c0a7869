"""GRUB legacy ``menu.lst`` / ``grub.conf`` (pv-grub, pygrub, CentOS 5/6), round-trip preserving.

Global directives (``default``, ``timeout``, ``serial``, ``terminal``, ``hiddenmenu``,
``fallback``, ...) come before the first ``title``; each ``title`` starts an entry holding
``root``, ``kernel PATH CMDLINE``, ``initrd PATH`` and others. GRUB legacy accepts ``=`` or
blanks between a keyword and its arguments; both are kept. Debian's update-grub "magic"
comments (``# kopt=...``, ``# groot=...``) are exposed because update-grub regenerates the
entries from them: a fix that edits only the entries is undone by the next kernel update.

Every text parses (unknown lines are kept as they are), so :func:`parse` never raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from xen2kvm.parsers import cmdline as cmdline_mod
from xen2kvm.parsers._lines import line_body, split_lines
from xen2kvm.parsers.cmdline import KernelCmdline

__all__ = ["MAGIC_KEYS", "GrubLegacyConfig", "GrubLegacyEntry", "GrubLine", "parse"]

_DIRECTIVE_RE = re.compile(r"([ \t]*)([A-Za-z_][A-Za-z0-9_-]*)([ \t]*=[ \t]*|[ \t]+|(?=\r?$))(.*)")
_MAGIC_RE = re.compile(r"(#[ \t]?)([A-Za-z0-9_]+)=(.*)")
#: Keys of Debian's update-grub "magic" comment lines that describe the generated entries.
MAGIC_KEYS = frozenset(
    {
        "kopt",
        "kopt_2_6",
        "groot",
        "defoptions",
        "altoptions",
        "xenkopt",
        "xenhopt",
        "alternative",
        "lockalternative",
        "lockold",
        "howmany",
        "memtest86",
        "updatedefaultentry",
        "savedefault",
        "indomU",
    }
)
_LINE_KEYWORDS = ("kernel", "initrd", "module", "modulenounzip")


@dataclass
class GrubLine:
    """One line. ``keyword`` is None for comments, blank and unrecognised lines."""

    raw: str
    line: int
    keyword: str | None = None
    lead: str = ""
    sep: str = " "
    args: str = ""  # the argument text as written (for kernel lines: rebuilt from path+cmdline)
    newline: str = "\n"
    # kernel/initrd/module lines: leading --flags, the path, and the command line after it
    flags: str = ""
    path: str | None = None
    path_sep: str = ""
    cmdline: KernelCmdline | None = field(default=None, repr=False)
    magic_key: str | None = None  # for "# kopt=..." comment lines
    magic_value: str = ""
    _edited: bool = field(default=False, repr=False)

    def render(self) -> str:
        if not self._edited and (self.cmdline is None or self._args_now() == self.args):
            return self.raw
        if self.magic_key is not None:
            return f"{self.lead}{self.magic_key}={self.magic_value}{self.newline}"
        assert self.keyword is not None
        args = self._args_now()
        sep = self.sep if args else ""
        if args and not sep:
            sep = " "
        return f"{self.lead}{self.keyword}{sep}{args}{self.newline}"

    def _args_now(self) -> str:
        if self.path is None:
            return self.args
        cl = self.cmdline.render() if self.cmdline is not None else ""
        sep = self.path_sep or (" " if cl.strip() else "")
        return f"{self.flags}{self.path}{sep}{cl}"

    def set_args(self, args: str) -> None:
        """Replace the whole argument text of a directive."""
        self.args = args
        if self.keyword in _LINE_KEYWORDS:
            _split_kernel_args(self)
        self._edited = True

    def set_path(self, path: str) -> None:
        self.path = path
        self._edited = True


def _split_kernel_args(gl: GrubLine) -> None:
    m = re.match(r"((?:--[^ \t]*[ \t]+)*)([^ \t]*)([ \t]*)(.*)", gl.args, re.S)
    assert m is not None
    gl.flags, gl.path, gl.path_sep = m.group(1), m.group(2), m.group(3)
    gl.cmdline = cmdline_mod.parse(m.group(4))


def _parse_line(raw: str, lineno: int) -> GrubLine:
    body, nl = line_body(raw)
    gl = GrubLine(raw, lineno, newline=nl)
    stripped = body.lstrip(" \t")
    if stripped.startswith("#"):
        mm = _MAGIC_RE.fullmatch(stripped)
        if mm and mm.group(2) in MAGIC_KEYS and body == stripped:
            gl.lead, gl.magic_key, gl.magic_value = mm.group(1), mm.group(2), mm.group(3)
        return gl
    m = _DIRECTIVE_RE.fullmatch(body)
    if m is None:
        return gl
    gl.lead, gl.keyword, gl.sep, gl.args = m.group(1), m.group(2), m.group(3), m.group(4)
    if gl.keyword in _LINE_KEYWORDS:
        _split_kernel_args(gl)
    return gl


@dataclass
class GrubLegacyEntry:
    """One ``title`` entry: a view over lines of the file (edits show in the render)."""

    index: int
    title_line: GrubLine
    lines: list[GrubLine]

    @property
    def title(self) -> str:
        return self.title_line.args.strip()

    def directive(self, keyword: str) -> GrubLine | None:
        return next((gl for gl in self.lines if gl.keyword == keyword), None)

    @property
    def root(self) -> str | None:
        d = self.directive("root") or self.directive("rootnoverify")
        return d.args.strip() if d else None

    @property
    def kernel_line(self) -> GrubLine | None:
        return self.directive("kernel")

    @property
    def kernel(self) -> str | None:
        """The kernel path as written (may carry a ``(hd0,0)`` device prefix)."""
        k = self.kernel_line
        return k.path if k else None

    @property
    def cmdline(self) -> KernelCmdline | None:
        """The kernel command line; edit it in place, then render the config."""
        k = self.kernel_line
        return k.cmdline if k else None

    @property
    def initrd(self) -> str | None:
        d = self.directive("initrd")
        return d.path if d else None

    @property
    def is_chainloader(self) -> bool:
        return self.directive("chainloader") is not None


@dataclass
class GrubLegacyConfig:
    """A parsed menu.lst / grub.conf."""

    lines: list[GrubLine]
    source: str = "<input>"

    def __iter__(self) -> Iterator[GrubLine]:
        return iter(self.lines)

    # --- structure ---------------------------------------------------------------------------

    def _first_title(self) -> int:
        return next(
            (i for i, gl in enumerate(self.lines) if gl.keyword == "title"), len(self.lines)
        )

    def globals(self) -> list[GrubLine]:
        """Directives before the first ``title``."""
        return [gl for gl in self.lines[: self._first_title()] if gl.keyword is not None]

    def global_directive(self, keyword: str) -> GrubLine | None:
        return next((gl for gl in self.globals() if gl.keyword == keyword), None)

    def entries(self) -> list[GrubLegacyEntry]:
        out: list[GrubLegacyEntry] = []
        current: GrubLegacyEntry | None = None
        for gl in self.lines:
            if gl.keyword == "title":
                current = GrubLegacyEntry(len(out), gl, [])
                out.append(current)
            elif current is not None and gl.keyword is not None:
                current.lines.append(gl)
        return out

    @property
    def default(self) -> str | None:
        """The ``default`` argument as written: a number, ``saved``, or None if absent."""
        d = self.global_directive("default")
        return d.args.strip() if d else None

    def default_index(self, saved: int | None = None) -> int:
        """Index of the default entry (GRUB falls back to 0 for a missing/bad value).

        ``saved`` is the entry recorded by ``savedefault`` (from /boot/grub/default), used when
        the config says ``default saved``.
        """
        value = self.default
        if value == "saved":
            return saved if saved is not None else 0
        if value is not None and value.isdigit():
            return int(value)
        return 0

    def default_entry(self, saved: int | None = None) -> GrubLegacyEntry | None:
        entries = self.entries()
        idx = self.default_index(saved)
        if 0 <= idx < len(entries):
            return entries[idx]
        return entries[0] if entries else None

    # --- magic comments (Debian update-grub) ---------------------------------------------------

    def magic(self) -> dict[str, GrubLine]:
        """Debian's ``# key=value`` lines (``kopt``, ``groot``, ...), last one wins."""
        return {gl.magic_key: gl for gl in self.lines if gl.magic_key is not None}

    def set_magic(self, key: str, value: str) -> bool:
        """Edit an existing magic line. Returns False if there is none (nothing added)."""
        gl = self.magic().get(key)
        if gl is None:
            return False
        gl.magic_value = value
        gl._edited = True
        return True

    # --- editing -----------------------------------------------------------------------------

    def set_global(self, keyword: str, args: str) -> GrubLine:
        """Set a global directive: edit the existing one or insert a new line."""
        d = self.global_directive(keyword)
        if d is not None:
            d.set_args(args)
            return d
        return self.add_global(f"{keyword} {args}" if args else keyword)

    def set_default(self, index: int | str) -> None:
        self.set_global("default", str(index))

    def add_global(self, text: str) -> GrubLine:
        """Insert a global line (e.g. ``serial --unit=0 --speed=19200``) after the last global
        directive (or before the first entry if there is none)."""
        end = self._first_title()
        pos = 0
        for i in range(end):
            if self.lines[i].keyword is not None:
                pos = i + 1
        if pos == 0:
            pos = end
        if pos > 0 and not self.lines[pos - 1].render().endswith("\n"):
            self._terminate(self.lines[pos - 1])
        gl = _parse_line(text + "\n", 0)
        self.lines.insert(pos, gl)
        return gl

    def remove_global(self, keyword: str) -> int:
        targets = [gl for gl in self.globals() if gl.keyword == keyword]
        self.lines = [gl for gl in self.lines if all(gl is not t for t in targets)]
        return len(targets)

    def remove_line(self, target: GrubLine) -> None:
        self.lines = [gl for gl in self.lines if gl is not target]

    @staticmethod
    def _terminate(gl: GrubLine) -> None:
        gl.newline = "\n"
        if not gl._edited and gl.cmdline is None:
            gl.raw += "\n"
        else:
            gl._edited = True

    def render(self) -> str:
        return "".join(gl.render() for gl in self.lines)


def parse(text: str, source: str = "/boot/grub/menu.lst") -> GrubLegacyConfig:
    """Parse a GRUB legacy configuration; never raises."""
    return GrubLegacyConfig(
        [_parse_line(raw, i) for i, raw in enumerate(split_lines(text), 1)], source
    )
