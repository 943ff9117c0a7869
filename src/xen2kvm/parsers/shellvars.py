"""Round-trip-preserving reader/editor for shell-variable files.

Covers the files distributions keep as "sourced shell": ``/etc/default/grub`` and
``/etc/default/grub.d/*.cfg``, ``ifcfg-*``, ``/etc/sysconfig/kernel``, ``mkinitcpio.conf``
(bash arrays ``MODULES=(a b)``), ``dracut.conf`` (``add_drivers+=" x "``), os-release.

Nothing is ever executed: the value of an assignment is what the shell would see after quote
removal, with expansions (``$VAR``, ``${VAR}``, ``$(cmd)``, backquotes) kept verbatim as text
and flagged in :attr:`Assignment.has_expansion`. Written by hand because no maintained Python
library parses shell assignments *and* rewrites them in place keeping quoting, comments and
unrelated lines byte-for-byte (shlex loses all of that).

The file is held as a list of chunks that concatenate to the original text; only chunks that
are edited change, so ``render()`` of an unedited file is the input, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from xen2kvm.errors import ParseError

__all__ = ["Assignment", "RawChunk", "ShellVars", "parse", "quote_value"]

_ASSIGN_RE = re.compile(r"[ \t]*(export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)(\+?=)")
# Characters that end an unquoted shell word.
_WORD_END = frozenset(" \t\n\r;&|<>()")
_SAFE_UNQUOTED = re.compile(r"[A-Za-z0-9_@%+=:,./^-]+")
_NAME_START = re.compile(r"[A-Za-z_]")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]*")
_SPECIAL_PARAM = frozenset("0123456789#?@*$!-")

_ANSI_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


@dataclass
class RawChunk:
    """Text kept as is: comments, blank lines, anything that is not an assignment."""

    text: str
    line: int

    def render(self) -> str:
        return self.text


@dataclass
class Assignment:
    """One ``[export ]NAME=VALUE`` or ``NAME+=VALUE`` (scalar or array) with its raw text."""

    name: str
    op: str  # "=" or "+="
    value: str  # after quote removal; array elements joined by one space
    array: list[str] | None  # elements when the value is a bash array ``(a b)``
    style: str  # "none" | "single" | "double" | "ansi" | "mixed" | "array"
    has_expansion: bool
    line: int  # 1-based line of the assignment
    prefix: str  # leading blanks, ``export ``, name and operator
    value_raw: str  # the value exactly as written
    suffix: str  # the rest of the logical line (trailing blanks, comment, newline)
    exported: bool = False

    def render(self) -> str:
        return self.prefix + self.value_raw + self.suffix


Chunk = RawChunk | Assignment


@dataclass
class _Word:
    end: int
    value: str
    style: str
    has_expansion: bool


class _Scanner:
    """Shell word scanner over one text. Positions are indexes into ``text``."""

    #: Quotes and expansions nest (``"$(echo "$(x)")"``); real files nest two or three deep,
    #: and a bound keeps hostile input from exhausting the Python stack.
    MAX_NESTING = 64

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.nesting = 0

    def _enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > self.MAX_NESTING:
            raise self._err("quotes and expansions nested too deeply", pos)

    def _err(self, message: str, pos: int) -> ParseError:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return ParseError(message, source=self.source, line=line, column=col)

    def word(self, pos: int, extra_end: str = "") -> _Word:
        text = self.text
        n = len(text)
        out: list[str] = []
        styles: set[str] = set()
        expansion = False
        while pos < n:
            ch = text[pos]
            if ch in _WORD_END or ch in extra_end:
                break
            if ch == "\\":
                if pos + 1 >= n:
                    out.append("\\")
                    pos += 1
                elif text[pos + 1] == "\n":
                    pos += 2  # line continuation: removed by the shell
                else:
                    out.append(text[pos + 1])
                    styles.add("none")
                    pos += 2
            elif ch == "'":
                end = text.find("'", pos + 1)
                if end < 0:
                    raise self._err("unterminated single quote", pos)
                out.append(text[pos + 1 : end])
                styles.add("single")
                pos = end + 1
            elif ch == "$" and text.startswith("$'", pos):
                val, pos = self._ansi(pos + 2, pos)
                out.append(val)
                styles.add("ansi")
            elif ch == '"':
                val, pos, exp = self._double(pos + 1, pos)
                out.append(val)
                expansion = expansion or exp
                styles.add("double")
            elif ch == "$" or ch == "`":
                end, exp = self._expansion(pos)
                out.append(text[pos:end])
                expansion = expansion or exp
                styles.add("none")
                pos = end
            else:
                out.append(ch)
                styles.add("none")
                pos += 1
        if not styles:
            style = "none"
        elif len(styles) == 1:
            style = styles.pop()
        else:
            style = "mixed"
        return _Word(pos, "".join(out), style, expansion)

    def _ansi(self, pos: int, start: int) -> tuple[str, int]:
        text = self.text
        n = len(text)
        out: list[str] = []
        while pos < n:
            ch = text[pos]
            if ch == "'":
                return "".join(out), pos + 1
            if ch == "\\" and pos + 1 < n:
                nxt = text[pos + 1]
                if nxt in _ANSI_ESCAPES:
                    out.append(_ANSI_ESCAPES[nxt])
                    pos += 2
                    continue
                m = re.match(r"x([0-9A-Fa-f]{1,2})|([0-7]{1,3})", text[pos + 1 : pos + 4])
                if m:
                    code = int(m.group(1), 16) if m.group(1) else int(m.group(2), 8)
                    out.append(chr(code))
                    pos += 1 + m.end()
                    continue
                out.append("\\" + nxt)
                pos += 2
                continue
            out.append(ch)
            pos += 1
        raise self._err("unterminated $'...' quote", start)

    def _double(self, pos: int, start: int) -> tuple[str, int, bool]:
        self._enter(start)
        try:
            return self._double_body(pos, start)
        finally:
            self.nesting -= 1

    def _double_body(self, pos: int, start: int) -> tuple[str, int, bool]:
        text = self.text
        n = len(text)
        out: list[str] = []
        expansion = False
        while pos < n:
            ch = text[pos]
            if ch == '"':
                return "".join(out), pos + 1, expansion
            if ch == "\\" and pos + 1 < n:
                nxt = text[pos + 1]
                if nxt == "\n":
                    pos += 2
                elif nxt in '$`"\\':
                    out.append(nxt)
                    pos += 2
                else:
                    out.append("\\")
                    pos += 1
            elif ch == "$" or ch == "`":
                end, exp = self._expansion(pos)
                out.append(text[pos:end])
                expansion = expansion or exp
                pos = end
            else:
                out.append(ch)
                pos += 1
        raise self._err("unterminated double quote", start)

    def _expansion(self, pos: int) -> tuple[int, bool]:
        """End of the expansion starting at ``pos`` (at ``$`` or a backquote)."""
        text = self.text
        if text[pos] == "`":
            i = pos + 1
            while i < len(text):
                if text[i] == "\\":
                    i += 2
                    continue
                if text[i] == "`":
                    return i + 1, True
                i += 1
            raise self._err("unterminated backquote", pos)
        nxt = text[pos + 1 : pos + 2]
        if nxt == "(":
            return self._balanced(pos + 2, pos, "(", ")"), True
        if nxt == "{":
            return self._balanced(pos + 2, pos, "{", "}"), True
        if nxt and _NAME_START.match(nxt):
            m = _NAME_CHARS.match(text, pos + 2)
            assert m is not None
            return m.end(), True
        if nxt and nxt in _SPECIAL_PARAM:
            return pos + 2, True
        return pos + 1, False  # a lone "$" is literal

    def _balanced(self, pos: int, start: int, open_: str, close: str) -> int:
        self._enter(start)
        try:
            return self._balanced_body(pos, start, open_, close)
        finally:
            self.nesting -= 1

    def _balanced_body(self, pos: int, start: int, open_: str, close: str) -> int:
        text = self.text
        n = len(text)
        depth = 1
        while pos < n:
            ch = text[pos]
            if ch == "\\":
                pos += 2
                continue
            if ch == "'" and open_ == "(":
                end = text.find("'", pos + 1)
                if end < 0:
                    break
                pos = end + 1
                continue
            if ch == '"':
                _, pos, _ = self._double(pos + 1, pos)
                continue
            if ch == open_:
                depth += 1
            elif ch == close:
                depth -= 1
                if depth == 0:
                    return pos + 1
            pos += 1
        raise self._err(f"unterminated ${open_}...{close}", start)

    def array(self, pos: int, start: int) -> tuple[int, list[str], bool]:
        """Parse ``(a b "c d")`` starting just after ``(``."""
        text = self.text
        n = len(text)
        items: list[str] = []
        expansion = False
        while True:
            while pos < n and text[pos] in " \t\r\n":
                pos += 1
            if pos >= n:
                raise self._err("unterminated array", start)
            ch = text[pos]
            if ch == ")":
                return pos + 1, items, expansion
            if ch == "#":
                nl = text.find("\n", pos)
                pos = n if nl < 0 else nl
                continue
            if ch == "\\" and text.startswith("\\\n", pos):
                pos += 2
                continue
            w = self.word(pos)
            if w.end == pos:
                raise self._err(f"unexpected {ch!r} in array", pos)
            items.append(w.value)
            expansion = expansion or w.has_expansion
            pos = w.end

    def rest_of_line(self, pos: int) -> int:
        """End (after the newline) of the logical line that continues at ``pos``.

        Quotes are respected so a quoted newline does not end the line; an unterminated quote
        in this trailing part (which we never interpret) just ends at the physical newline.
        """
        text = self.text
        n = len(text)
        i = pos
        while i < n:
            ch = text[i]
            if ch == "\n":
                return i + 1
            if ch == "#" and (i == pos or text[i - 1] in " \t;"):
                nl = text.find("\n", i)
                return n if nl < 0 else nl + 1
            if ch == "\\":
                i += 2
                continue
            if ch in "'\"":
                end = text.find(ch, i + 1)
                if end < 0:
                    nl = text.find("\n", i)
                    return n if nl < 0 else nl + 1
                i = end + 1
                continue
            i += 1
        return n


def quote_value(value: str, style: str = "double", *, expand: bool = False) -> str:
    """Quote ``value`` for a shell assignment in ``style`` ("none", "single", "double").

    ``expand`` keeps ``$`` and backquotes unescaped so expansions in ``value`` stay live.
    Falls back to a safe style when the requested one cannot hold the value.
    """
    if style == "none":
        if value and _SAFE_UNQUOTED.fullmatch(value):
            return value
        if expand and value and re.fullmatch(r"[A-Za-z0-9_@%+=:,./^${}-]+", value):
            return value
        style = "double"
    if style == "single" and "'" not in value and not expand:
        return f"'{value}'"
    specials = '"\\' if expand else '"\\$`'
    return '"' + "".join("\\" + c if c in specials else c for c in value) + '"'


def _quote_array(items: Sequence[str]) -> str:
    return "(" + " ".join(quote_value(i, "none") for i in items) + ")"


def parse(text: str, source: str = "<input>") -> ShellVars:
    """Parse a shell-variable file. Raises :class:`ParseError` on unterminated quotes."""
    sc = _Scanner(text, source)
    chunks: list[Chunk] = []
    pos = 0
    n = len(text)
    line = 1
    while pos < n:
        nl = text.find("\n", pos)
        line_end = n if nl < 0 else nl + 1
        m = _ASSIGN_RE.match(text, pos)
        if m is None or m.end() > line_end:
            chunks.append(RawChunk(text[pos:line_end], line))
            line += 1
            pos = line_end
            continue
        vstart = m.end()
        if text.startswith("(", vstart):
            end, items, exp = sc.array(vstart + 1, vstart)
            value, array, style = " ".join(items), items, "array"
        else:
            w = sc.word(vstart)
            end, value, array, style, exp = w.end, w.value, None, w.style, w.has_expansion
        stop = sc.rest_of_line(end)
        chunk = Assignment(
            name=m.group(2),
            op=m.group(3),
            value=value,
            array=array,
            style=style,
            has_expansion=exp,
            line=line,
            prefix=text[pos:vstart],
            value_raw=text[vstart:end],
            suffix=text[end:stop],
            exported=m.group(1) is not None,
        )
        chunks.append(chunk)
        line += text.count("\n", pos, stop)
        pos = stop
    return ShellVars(chunks, source)


@dataclass
class ShellVars:
    """A parsed shell-variable file. Edit with :meth:`set`/:meth:`remove`, then :meth:`render`."""

    chunks: list[Chunk]
    source: str = "<input>"

    # --- reading ------------------------------------------------------------------------

    def assignments(self, name: str | None = None) -> list[Assignment]:
        """Every assignment (of ``name`` if given), in file order."""
        return [
            c for c in self.chunks if isinstance(c, Assignment) and (name is None or c.name == name)
        ]

    def names(self) -> list[str]:
        """Assigned names, first occurrence order, without duplicates."""
        seen: dict[str, None] = {}
        for a in self.assignments():
            seen.setdefault(a.name)
        return list(seen)

    def __iter__(self) -> Iterator[Assignment]:
        return iter(self.assignments())

    def __contains__(self, name: object) -> bool:
        return any(a.name == name for a in self.assignments())

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of ``name`` after every assignment in order (``+=`` appends), unquoted.

        Arrays give their elements joined by one space. Expansions are kept as written.
        """
        arr = self.get_array(name)
        if arr is None:
            return default
        if any(a.array is not None for a in self.assignments(name)):
            return " ".join(arr)
        return arr[0] if arr else ""

    def get_array(self, name: str) -> list[str] | None:
        """Bash-array view of ``name`` (a scalar is a one-element array); None if unset."""
        result: list[str] | None = None
        for a in self.assignments(name):
            if a.op == "=" or result is None:
                result = list(a.array) if a.array is not None else [a.value]
            elif a.array is not None:
                result.extend(a.array)
            elif result:
                result[0] += a.value
            else:
                result = [a.value]
        return result

    def as_dict(self) -> dict[str, str]:
        """Every name with its final value (as :meth:`get` gives it), in one pass."""
        arrays: dict[str, list[str]] = {}
        is_array: dict[str, bool] = {}
        for a in self.assignments():
            cur = arrays.get(a.name)
            if a.op == "=" or cur is None:
                arrays[a.name] = list(a.array) if a.array is not None else [a.value]
            elif a.array is not None:
                cur.extend(a.array)
            elif cur:
                cur[0] += a.value
            else:
                cur.append(a.value)
            is_array[a.name] = is_array.get(a.name, False) or a.array is not None
        return {n: " ".join(v) if is_array[n] else (v[0] if v else "") for n, v in arrays.items()}

    def resolve(self, name: str, env: dict[str, str] | None = None) -> str | None:
        """Like :meth:`get` but with ``$NAME``/``${NAME}`` replaced by earlier values.

        Only plain variable references are substituted (from ``env``, then from assignments
        earlier in this file, like ``GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT x"``
        in /etc/default/grub.d); command substitutions are left as written. Never executes.
        """
        return self.evaluate(env).get(name)

    def evaluate(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """``env`` updated by every assignment of this file in order, as :meth:`resolve` does
        (for sourcing several files one after the other, like /etc/default/grub.d)."""
        values: dict[str, str] = dict(env or {})
        for a in self.assignments():
            new = a.value if not a.has_expansion else _substitute(a.value, values)
            if a.op == "+=":
                new = values.get(a.name, "") + (" " if a.array is not None else "") + new
            values[a.name] = new
        return values

    # --- editing ------------------------------------------------------------------------

    def set(
        self,
        name: str,
        value: str,
        *,
        style: str | None = None,
        expand: bool | None = None,
    ) -> None:
        """Make ``name`` equal ``value``, editing the last plain assignment in place.

        The quoting style of the edited assignment is kept (unless ``style`` is given), and
        so is everything else on its line. ``expand`` (default: whatever the old value did)
        leaves ``$``/backquotes live, so a value read with :meth:`get` can be written back.
        Later ``+=`` assignments of ``name`` are removed, since they would change the value.
        A missing name is appended at the end of the file as ``NAME="value"``.
        """
        targets = self.assignments(name)
        base = next((a for a in reversed(targets) if a.op == "="), None)
        if base is None:
            self.append(name, value, style=style or "double", expand=bool(expand))
            for a in targets:
                self._drop(a)
            return
        use_style = style or base.style
        if use_style in ("mixed", "ansi", "array"):
            use_style = "double"
        keep_exp = base.has_expansion if expand is None else expand
        base.value_raw = quote_value(value, use_style, expand=keep_exp)
        base.value, base.array = value, None
        base.style, base.has_expansion = use_style, keep_exp and ("$" in value or "`" in value)
        after = False
        for a in targets:
            if a is base:
                after = True
            elif after:
                self._drop(a)

    def set_array(self, name: str, items: Sequence[str]) -> None:
        """Make ``name`` the bash array ``items``, edited in place (or appended)."""
        targets = self.assignments(name)
        base = next((a for a in reversed(targets) if a.op == "="), None)
        raw = _quote_array(items)
        if base is None:
            self._append_raw(name, raw)
            for a in targets:
                self._drop(a)
            new = self.assignments(name)[-1]
            new.array, new.value, new.style = list(items), " ".join(items), "array"
            return
        base.value_raw = raw
        base.array, base.value, base.style = list(items), " ".join(items), "array"
        after = False
        for a in targets:
            if a is base:
                after = True
            elif after:
                self._drop(a)

    def append(self, name: str, value: str, *, style: str = "double", expand: bool = False) -> None:
        """Append a new ``NAME=value`` line at the end of the file."""
        self._append_raw(name, quote_value(value, style, expand=expand))
        new = self.assignments(name)[-1]
        new.value, new.style = value, style
        new.has_expansion = expand and ("$" in value or "`" in value)

    def _append_raw(self, name: str, raw: str) -> None:
        if self.chunks:
            last = self.chunks[-1]
            tail = last.render()
            if tail and not tail.endswith("\n"):
                if isinstance(last, Assignment):
                    last.suffix += "\n"
                else:
                    last.text += "\n"
        line = self.render().count("\n") + 1
        self.chunks.append(
            Assignment(
                name=name,
                op="=",
                value="",
                array=None,
                style="none",
                has_expansion=False,
                line=line,
                prefix=f"{name}=",
                value_raw=raw,
                suffix="\n",
            )
        )

    def remove(self, name: str) -> int:
        """Remove every assignment of ``name`` (whole logical lines). Returns how many."""
        targets = self.assignments(name)
        for a in targets:
            self._drop(a)
        return len(targets)

    def _drop(self, chunk: Chunk) -> None:
        self.chunks = [c for c in self.chunks if c is not chunk]

    def render(self) -> str:
        """The file text; identical to the input when nothing was edited."""
        return "".join(c.render() for c in self.chunks)


def _substitute(value: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return values.get(name, "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", repl, value)
