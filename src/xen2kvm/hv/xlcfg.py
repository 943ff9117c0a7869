"""Parse xl.cfg and xm domain configuration files as data.

xl.cfg has its own small grammar (libxlu's bison parser): ``KEY = VALUE`` or ``KEY += VALUE``
statements separated by newlines or ``;``, strings in either quote style, numbers, lists
``[ ... ]`` that may span lines and end with a trailing comma, ``#`` comments. No library
parses it, so this module does, with positions for every value so that errors (also those
found later, inside a disk spec) name file, line and column.

xm configs are Python programs that xend *executed*. We never run them: :func:`parse_xm`
reads them with :mod:`ast` (which only parses) and accepts nothing but ``NAME = literal``
statements; any code (imports, calls, arithmetic, conditionals) is refused with its position.
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from xen2kvm.errors import ParseError

Scalar = str | int | float
_Err = Callable[[str, int], ParseError]


class _Lines:
    """Where the lines of a file start, found on first use: only error messages need it."""

    __slots__ = ("_newlines", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._newlines: list[int] | None = None

    def locate(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        if self._newlines is None:
            self._newlines = [m.start() for m in _NL_RE.finditer(self.text)]
        n = bisect.bisect_left(self._newlines, offset)
        return n + 1, offset - (self._newlines[n - 1] + 1 if n else 0) + 1


def _locate(at: int | tuple[int, int], lines: _Lines | None) -> tuple[int, int]:
    if lines is None:
        assert isinstance(at, tuple)
        return at
    assert isinstance(at, int)
    return lines.locate(at)


class Item(NamedTuple):
    """A value and where it starts; ``line`` and ``column`` are 1-based.

    xl values keep an offset into the file and compute their line only when asked (errors
    are rare, values are many); xm values come with line and column from :mod:`ast`.
    """

    value: Scalar | list[Item]
    at: int | tuple[int, int]  # offset into ``lines``, or (line, column)
    lines: _Lines | None = None

    @property
    def line(self) -> int:
        return _locate(self.at, self.lines)[0]

    @property
    def column(self) -> int:
        return _locate(self.at, self.lines)[1]

    def plain(self) -> object:
        if isinstance(self.value, list):
            return [i.plain() for i in self.value]
        return self.value


class Setting(NamedTuple):
    """``key = item``; the position is the key's."""

    key: str
    item: Item
    at: int | tuple[int, int]
    lines: _Lines | None = None

    @property
    def line(self) -> int:
        return _locate(self.at, self.lines)[0]

    @property
    def column(self) -> int:
        return _locate(self.at, self.lines)[1]


@dataclass
class XenConfig:
    """The settings of one xl/xm file, last assignment of a key winning (as in xl)."""

    settings: dict[str, Setting]
    source: str
    dialect: str  # "xl" or "xm"

    def get(self, key: str) -> Setting | None:
        return self.settings.get(key)


# Token shapes shared by the lexer and the fast path below (no capturing groups inside).
_BLANKS = r"[ \t\r\f\v]*"
_COMMENT = r"(?:\#[^\n]*)?"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r""""[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'"""
_NUMBER = r"0[xX][0-9a-fA-F]+(?![A-Za-z_0-9.])|[0-9]+(?:\.[0-9]+)?(?![A-Za-z_0-9.])"

# One match per significant token: blanks and a comment before it are consumed by the prefix,
# so the Python loop never sees them; frequent kinds come first and strings use the unrolled
# loop form (no alternation per character): the lexer is the hot path of bench/translate.py.
_TOKEN = re.compile(
    rf"""{_BLANKS}{_COMMENT}(?:
     (?P<ident>{_IDENT})
    |(?P<eq>=)
    |(?P<str>{_STRING})
    |(?P<nl>\n)
    |(?P<comma>,)
    |(?P<lbr>\[)
    |(?P<rbr>\])
    |(?P<num>{_NUMBER})
    |(?P<semi>;)
    |(?P<peq>\+=)
    |(?P<badnum>[0-9][A-Za-z0-9_.]*)
    |(?P<badstr>["'])
    |(?P<eof>\Z)
    |(?P<other>.)
    )""",
    re.VERBOSE,
)
_BAD_KINDS = frozenset(("badstr", "badnum", "other"))
_NL_RE = re.compile("\n")

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_ESC_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body

    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] == "x" and len(e) == 3:  # "\\x" without two hex digits: kept as written
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            return chr(int(e, 8))
        # Unknown escapes are kept as written, like Python and libxlu do.
        return _ESCAPES.get(e, "\\" + e)

    return _ESC_RE.sub(sub, body)


class _Lexer:
    __slots__ = ("kinds", "lines", "matches", "source")

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = _Lines(text)
        matches = list(_TOKEN.finditer(text))
        kinds: list[str] = [m.lastgroup for m in matches]  # type: ignore[misc]
        self.kinds = kinds
        self.matches = matches
        if kinds[-1:] != ["eof"]:  # defensive: the pattern always ends with one
            raise ParseError("unreadable text", source=source)
        if not _BAD_KINDS.isdisjoint(kinds):
            i = next(j for j, k in enumerate(kinds) if k in _BAD_KINDS)
            line, col = self.pos(i)
            bad = self.text(i)
            if kinds[i] == "badstr":
                msg = "unterminated string"
            elif kinds[i] == "badnum":
                msg = f"{bad!r} is not a number (quote it if it is a string)"
            else:
                msg = f"unexpected character {bad!r}"
            raise ParseError(msg, source=source, line=line, column=col)

    def text(self, i: int) -> str:
        return self.matches[i].group(self.kinds[i])

    def pos(self, i: int) -> tuple[int, int]:
        """1-based line and column of token ``i``."""
        return self.lines.locate(self.matches[i].start(self.kinds[i]))

    def error(self, msg: str, i: int) -> ParseError:
        line, col = self.pos(i)
        return ParseError(msg, source=self.source, line=line, column=col)

    def describe(self, i: int) -> str:
        k = self.kinds[i]
        if k == "eof":
            return "end of file"
        if k == "nl":
            return "end of line"
        return repr(self.text(i))


# The fast path: most files are ``KEY = VALUE`` lines whose values are strings without
# escapes, numbers or flat lists of those, which one match per setting (and per list element)
# reads. Everything else (``+=``, escapes, nested lists, any error) makes _parse_xl_fast give
# up and the token parser read the file from the start, so it alone decides what is malformed
# and how to say so.
# Only blanks may stand between the key, '=' and the value (a comment there would swallow the
# rest of the line: the token parser refuses such a line). Comments run to the end of the line
# (possessive: no shorter match lets a quote or a ';' inside one count).
_PLAIN_STRING = r"""\"[^"\\\n]*"|'[^'\\\n]*'"""
# What may follow a value: blanks, a comment, then a newline, ';' or the end of the file.
_END = r"[ \t\r\f\v]*(?:\#[^\n]*+)?(?:[\n;]|\Z)"
_FAST_SETTING = re.compile(
    rf"""{_BLANKS}(?:\#[^\n]*+)?(?:
     (?P<key>{_IDENT}){_BLANKS}={_BLANKS}(?:
        (?:(?P<str>{_PLAIN_STRING})|(?P<num>{_NUMBER})){_END}
       |(?P<lbr>\[))
    |[\n;]
    |(?P<eof>\Z)
    )""",
    re.VERBOSE,
)
_FAST_END = re.compile(_END)
# Inside a list, newlines count as blanks.
_LIST_BLANKS = r"(?:[ \t\r\f\v\n]|\#[^\n]*+)*+"
_FAST_ELEMENT = re.compile(
    rf"{_LIST_BLANKS}(?:(?P<str>{_PLAIN_STRING})|(?P<num>{_NUMBER})){_LIST_BLANKS}(?P<sep>[,\]])"
)
_FAST_CLOSE = re.compile(rf"{_LIST_BLANKS}\]")


# Item(...) and Setting(...) without the Python-level __new__ of a NamedTuple (all fields
# given): the fast path makes some 25 of them per file.
_new = tuple.__new__


def _number(t: str) -> int | float:
    """The value of a ``num`` token."""
    if t[:2] in ("0x", "0X"):
        return int(t, 16)
    return float(t) if "." in t else int(t)


def _parse_xl_fast(text: str, source: str) -> XenConfig | None:
    """The settings of a plainly written xl file, as parse_xl reads them; None otherwise."""
    try:
        return _parse_plain_xl(text, source)
    except ValueError:  # int() refuses a number of thousands of digits: let the parser say
        return None


def _parse_plain_xl(text: str, source: str) -> XenConfig | None:
    lines = _Lines(text)
    settings: dict[str, Setting] = {}
    match_setting = _FAST_SETTING.match
    pos = 0
    while True:
        m = match_setting(text, pos)
        if m is None:
            return None
        pos = m.end()
        kind = m.lastgroup
        if kind is None:  # an empty line, a comment, a ';'
            continue
        value: Scalar | list[Item]
        if kind == "str":
            value = m.group(kind)[1:-1]
        elif kind == "num":
            value = _number(m.group(kind))
        elif kind == "lbr":
            in_list = _plain_list(text, pos, lines)
            if in_list is None:
                return None
            value, pos = in_list
            end = _FAST_END.match(text, pos)
            if end is None:
                return None
            pos = end.end()
        else:  # eof
            return XenConfig(settings, source, "xl")
        key = m.group("key")
        item = _new(Item, (value, m.start(kind), lines))
        settings[key] = _new(Setting, (key, item, m.start("key"), lines))


def _plain_list(text: str, pos: int, lines: _Lines) -> tuple[list[Item], int] | None:
    """The elements of a flat list opened just before ``pos`` and the offset after its ']'."""
    items: list[Item] = []
    match_element = _FAST_ELEMENT.match
    while True:
        e = match_element(text, pos)
        if e is None:
            close = _FAST_CLOSE.match(text, pos)  # "[ ]" or after a trailing comma
            return None if close is None else (items, close.end())
        s = e.group("str")
        if s is not None:
            items.append(_new(Item, (s[1:-1], e.start("str"), lines)))
        else:
            items.append(_new(Item, (_number(e.group("num")), e.start("num"), lines)))
        pos = e.end()
        if e.group("sep") == "]":
            return items, pos


def parse_xl(text: str, source: str = "<input>") -> XenConfig:
    """Parse xl.cfg text; raise ParseError with line and column on malformed input."""
    cfg = _parse_xl_fast(text, source)
    return cfg if cfg is not None else _parse_xl_tokens(text, source)


def _parse_xl_tokens(text: str, source: str) -> XenConfig:
    """The token parser (see :func:`parse_xl`): every file, every error."""
    lx = _Lexer(text, source)
    kinds = lx.kinds
    settings: dict[str, Setting] = {}
    i = 0
    while True:
        k = kinds[i]
        if k == "eof":
            break
        if k == "nl" or k == "semi":
            i += 1
            continue
        if k != "ident":
            raise lx.error(f"expected a setting name, found {lx.describe(i)}", i)
        key_i = i
        key = lx.text(i)
        op = kinds[i + 1]
        if op != "eq" and op != "peq":
            raise lx.error(f"expected '=' after {key!r}, found {lx.describe(i + 1)}", i + 1)
        item, i = _value(lx, i + 2, key)
        k = kinds[i]
        if k != "nl" and k != "semi" and k != "eof":
            raise lx.error(
                f"expected end of line after the value of {key!r}, found {lx.describe(i)}", i
            )
        if op == "peq" and key in settings:
            item = _append(settings[key].item, item, lx, key_i)
        settings[key] = Setting(key, item, lx.matches[key_i].start("ident"), lx.lines)
    return XenConfig(settings, source, "xl")


def _append(old: Item, new: Item, lx: _Lexer, at: int) -> Item:
    if isinstance(old.value, list) and isinstance(new.value, list):
        return Item(old.value + new.value, old.at, old.lines)
    if isinstance(old.value, str) and isinstance(new.value, str):
        return Item(old.value + new.value, old.at, old.lines)
    raise lx.error("'+=' needs two lists or two strings", at)


def _value(lx: _Lexer, i: int, key: str) -> tuple[Item, int]:
    """Parse the value starting at token ``i``; return it and the index after it."""
    k = lx.kinds[i]
    m = lx.matches[i]
    at = m.start(k)
    nl = lx.lines
    if k == "str":
        return Item(_unescape(m.group(k)[1:-1]), at, nl), i + 1
    if k == "num":
        return Item(_number(m.group(k)), at, nl), i + 1
    if k == "lbr":
        kinds = lx.kinds
        i += 1
        items: list[Item] = []
        expect_value = True
        while True:
            kk = kinds[i]
            if kk == "nl":
                i += 1
                continue
            if kk == "rbr":
                return Item(items, at, nl), i + 1
            if kk == "eof":
                opened = Item(items, at, nl)
                raise ParseError(
                    f"list of {key!r} opened here is never closed",
                    source=lx.source,
                    line=opened.line,
                    column=opened.column,
                )
            if not expect_value:
                if kk == "comma":
                    i += 1
                    expect_value = True
                    continue
                raise lx.error(
                    f"expected ',' or ']' in the list of {key!r}, found {lx.describe(i)}", i
                )
            if kk == "comma":
                raise lx.error(f"empty element in the list of {key!r}", i)
            item, i = _value(lx, i, key)
            items.append(item)
            expect_value = False
    if k == "ident":
        raise lx.error(f"bare word {lx.text(i)!r} as the value of {key!r}: quote it", i)
    raise lx.error(f"expected a value for {key!r}, found {lx.describe(i)}", i)


# --- xm: Python syntax, read as data only --------------------------------------------------

_CODE_NAMES = {
    ast.Import: "an import",
    ast.ImportFrom: "an import",
    ast.FunctionDef: "a function definition",
    ast.ClassDef: "a class definition",
    ast.If: "an if statement",
    ast.For: "a for loop",
    ast.While: "a while loop",
    ast.With: "a with statement",
    ast.Try: "a try statement",
    ast.AugAssign: "an augmented assignment",
    ast.Expr: "an expression statement",
    ast.Delete: "a del statement",
}


def _describe_node(node: ast.AST) -> str:
    for cls, name in _CODE_NAMES.items():
        if isinstance(node, cls):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                return "a function call"
            return name
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.BinOp):
        return "arithmetic or string formatting"
    if isinstance(node, ast.Name):
        return f"a reference to the variable {node.id!r}"
    return f"Python code ({type(node).__name__})"


def _literal(node: ast.expr, key: str, source: str) -> Item:
    line, col = node.lineno, node.col_offset + 1
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            return Item(int(v), (line, col))
        if isinstance(v, (str, int, float)):
            return Item(v, (line, col))
        if v is None:
            return Item("", (line, col))
    elif isinstance(node, (ast.List, ast.Tuple)):
        return Item([_literal(e, key, source) for e in node.elts], (line, col))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal(node.operand, key, source)
        if isinstance(inner.value, (int, float)):
            return Item(-inner.value, (line, col))
    raise ParseError(
        f"the value of {key!r} is {_describe_node(node)}, not plain data; xm configs are read "
        "as data and never executed: write the value out literally",
        source=source,
        line=line,
        column=col,
    )


def _ast_parse(text: str, source: str) -> ast.Module:
    # Python's compile warnings (invalid escapes...) are about Python code, not about a
    # config read as data: keep them off the user's terminal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, filename=source)


def parse_xm(text: str, source: str = "<input>") -> XenConfig:
    """Read an xm (Python-syntax) config without executing it.

    Only ``NAME = literal`` statements are accepted (strings, numbers, True/False/None, lists
    and tuples of those); a module docstring is ignored. Anything else is a ParseError with
    the position of the offending construct.
    """
    try:
        tree = _ast_parse(text, source)
    except SyntaxError as exc:
        raise ParseError(
            f"not a valid xm config: {exc.msg}",
            source=source,
            line=exc.lineno,
            column=exc.offset,
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ParseError(f"not a valid xm config: {exc}", source=source) from None
    settings: dict[str, Setting] = {}
    for n, node in enumerate(tree.body):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            key = node.targets[0].id
            settings[key] = Setting(
                key, _literal(node.value, key, source), (node.lineno, node.col_offset + 1)
            )
            continue
        if (
            n == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            continue  # a docstring is data, not code
        raise ParseError(
            f"xm config contains {_describe_node(node)}; xm configs are read as data and "
            "never executed: keep only KEY = VALUE lines",
            source=source,
            line=node.lineno,
            column=node.col_offset + 1,
        )
    return XenConfig(settings, source, "xm")


def parse_xen_config(text: str, source: str = "<input>", dialect: str = "auto") -> XenConfig:
    """Parse ``text`` as xl (``dialect="xl"``), xm, or whichever fits (``auto``).

    ``auto`` tries xl first. If that fails and the text is valid Python, the xm reading is
    used, whose error (e.g. "contains an import") explains Python-only files better.
    """
    if dialect == "xl":
        return parse_xl(text, source)
    if dialect == "xm":
        return parse_xm(text, source)
    try:
        return parse_xl(text, source)
    except ParseError as xl_error:
        try:
            _ast_parse(text, source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise xl_error from None
        return parse_xm(text, source)


# --- disk and vif specs ---------------------------------------------------------------------


class DiskSpec(NamedTuple):
    """One xl disk specification (see xl-disk-configuration(5))."""

    target: str
    vdev: str
    format: str  # raw, qcow, qcow2, vhd, qed, empty
    readonly: bool
    cdrom: bool
    backendtype: str = ""
    script: str = ""
    #: Parameters with no KVM meaning (backend, script, discard...): reported as warnings.
    ignored: tuple[str, ...] = ()


_FORMATS = {"raw", "qcow", "qcow2", "vhd", "qed", "empty"}
_DISK_KEYS = {
    "format",
    "vdev",
    "access",
    "devtype",
    "backend",
    "backendtype",
    "script",
    "specification",
    "colo-host",
    "colo-port",
    "colo-export",
    "active-disk",
    "hidden-disk",
}
_DISK_FLAGS = {"cdrom", "direct-io-safe", "discard", "no-discard", "trusted", "untrusted"}
_PREFIX_RE = re.compile(r"(raw|qcow2?|vhd|qed|iscsi|e?nbd|drbd|tapdisk|tap2?|aio|ioemu|file|phy):")
_KV_RE = re.compile(r"([a-z][-a-z0-9]*)=")
_COLON_RE = re.compile(r"([a-z][a-z0-9]*):(.*)$")


# The three shapes most configs use, parsed by one regex each; anything else (and every error)
# goes through the general parser. tests/unit/hv checks the paths agree. A group repeated by
# ``+`` keeps its last capture: the last format prefix or key=value wins, as in the parser.
_FAST_PREFIXED = re.compile(
    r"(?:(?:phy|file|tap2?|tapdisk|aio):|(raw|qcow2?|vhd|qed):)+"
    r"(/[^,:=\s]*),((?:xvd|hd|sd)[a-z]+[0-9]*),(w|rw|r|ro)\Z"
)
_FAST_POSITIONAL = re.compile(
    r"(/[^,:=\s]*),(raw|qcow2?|vhd|qed)?,((?:xvd|hd|sd)[a-z]+[0-9]*),(w|rw|r|ro)\Z"
)
_FAST_KEYVALUE = re.compile(
    r"(?:(?:vdev=((?:xvd|hd|sd)[a-z]+[0-9]*)|format=(raw|qcow2?|vhd|qed)|access=(w|rw|r|ro)),"
    r"[ \t\n]*)+target=(/[^,\s]*)\Z"
)


def parse_disk_spec(
    spec: str, *, source: str = "<input>", line: int | None = None, column: int | None = None
) -> DiskSpec:
    """Parse one disk spec the way xl's disk lexer does; ParseError on bad syntax.

    ``line``/``column`` locate the spec's first character in the file, so errors point at
    the offending parameter.
    """
    # Each shape is tried only where it can match: a positional spec starts with its path,
    # a prefixed one holds no '=' and key=value ones do.
    if spec[:1] == "/":
        m = _FAST_POSITIONAL.match(spec)
        if m:
            target, fmt, vdev, access = m.groups()
            return DiskSpec(target, vdev, fmt or "raw", access in ("r", "ro"), False)
    elif "=" in spec:
        m = _FAST_KEYVALUE.match(spec)
        if m and m.group(1):  # vdev= given
            vdev, fmt, access, target = m.groups()
            return DiskSpec(target, vdev, fmt or "raw", access in ("r", "ro"), False)
    else:
        m = _FAST_PREFIXED.match(spec)
        if m:
            fmt, target, vdev, access = m.groups()
            return DiskSpec(target, vdev, fmt or "raw", access in ("r", "ro"), False)
    return _parse_disk_spec(spec, source=source, line=line, column=column)


def _parse_disk_spec(
    spec: str, *, source: str = "<input>", line: int | None = None, column: int | None = None
) -> DiskSpec:
    """The general disk spec parser (see :func:`parse_disk_spec`)."""

    def err(msg: str, at: int) -> ParseError:
        col = None if column is None else column + at
        return ParseError(f"disk spec {spec!r}: {msg}", source=source, line=line, column=col)

    target: str | None = None
    fmt: str | None = None
    vdev: str | None = None
    access: str | None = None
    cdrom = False
    had_prefix = False
    backendtype = ""
    script = ""
    ignored: list[str] = []
    pos = 0  # offset of the current token in spec, for error columns
    for raw in spec.split(","):
        start = pos
        pos += len(raw) + 1
        token = raw.lstrip(" \t\n")
        at = start + len(raw) - len(token)
        if not token and pos > len(spec):
            break  # after a trailing comma; an empty parameter elsewhere ("x,,hda") counts
        if token.startswith("target="):
            target = spec[at + 7 :]
            if target.endswith(","):
                target = target[:-1]
            break
        # Legacy prefixes stack inside one token: tap:aio:/img, tap2:tapdisk:aio:/img.
        while ":" in token:
            pm = _PREFIX_RE.match(token)
            if not pm:
                break
            name = pm.group(1)
            had_prefix = True
            if name in ("raw", "qcow", "qcow2", "vhd", "qed"):
                fmt = name
            elif name in ("iscsi", "nbd", "enbd", "drbd"):
                script = f"block-{name}"
                ignored.append(f"{name}: (block script)")
            token = token[pm.end() :]
            at += pm.end()
        if "=" in token:
            kv = _KV_RE.match(token)
            if not kv:
                raise err(f"bad parameter {token.strip()!r}", at)
            key, val = kv.group(1), token[kv.end() :].strip()
            if key not in _DISK_KEYS:
                raise err(f"unknown parameter {key!r}", at)
            if key == "format":
                fmt = _disk_format(val, err, at)
            elif key == "vdev":
                vdev = val
            elif key == "access":
                access = _disk_access(val, err, at)
            elif key == "devtype":
                if val == "cdrom":
                    cdrom = True
                elif val != "disk":
                    raise err(f"unknown devtype {val!r} (disk or cdrom)", at)
            else:
                if key == "backendtype":
                    backendtype = val
                elif key == "script":
                    script = val
                ignored.append(f"{key}={val}")
            continue
        value = token.rstrip(" \t\n")
        if value in _DISK_FLAGS:
            if value == "cdrom":
                cdrom = True
            else:
                ignored.append(value)
            continue
        if ":" in value and not value.startswith("/"):
            colon = _COLON_RE.match(value)
            if colon and colon.group(2) not in ("cdrom", "disk"):
                raise err(f"unknown disk prefix {colon.group(1) + ':'!r}", at)
        # Positional parameters fill target, format, vdev, access in this order; a legacy
        # prefix means the format slot is skipped (phy:/dev/vg/lv,xvda1,w).
        if target is None:
            target = value
        elif not had_prefix and fmt is None:
            if not target and value.endswith(":cdrom"):
                fmt = "empty"
                vdev, cdrom = value[: -len(":cdrom")], True
            else:
                fmt = _disk_format(value, err, at)
        elif vdev is None:
            if value.endswith(":cdrom"):
                vdev, cdrom = value[: -len(":cdrom")], True
            elif value.endswith(":disk"):
                vdev = value[: -len(":disk")]
            else:
                vdev = value
        elif access is None:
            access = _disk_access(value, err, at)
        else:
            raise err("too many positional parameters", at)
    if not vdev:
        raise err("no vdev (the guest device name, e.g. xvda)", 0)
    target = (target or "").strip()
    if not target and not cdrom:
        raise err("no target (the disk image or device)", 0)
    if fmt is None:
        fmt = "raw"
    if fmt == "empty" or not target:
        target = ""
        fmt = "raw"
    if access is None:
        access = "r" if cdrom else "w"
    return DiskSpec(
        target=target,
        vdev=vdev,
        format=fmt,
        readonly=access == "r",
        cdrom=cdrom,
        backendtype=backendtype,
        script=script,
        ignored=tuple(ignored),
    )


def _disk_format(val: str, err: _Err, pos: int) -> str:
    if val == "":
        return "raw"
    if val not in _FORMATS:
        hint = ""
        if re.fullmatch(r"(xvd|hd|sd)[a-z]+[0-9]*(:cdrom)?", val):
            hint = (
                "; positional parameters are target, format, vdev, access: "
                f"write TARGET,raw,{val} or TARGET,,{val}"
            )
        raise err(f"unknown format {val!r} ({', '.join(sorted(_FORMATS))}){hint}", pos)
    return val


def _disk_access(val: str, err: _Err, pos: int) -> str:
    if val in ("", "w", "rw"):
        return "w"
    if val in ("r", "ro"):
        return "r"
    if val == "w!":
        return "w"  # shared-writable: same for KVM
    assert callable(err)
    raise err(f"unknown access {val!r} (r, ro, w, rw)", pos)


class VifSpec(NamedTuple):
    mac: str
    bridge: str
    model: str
    #: Keys with no KVM meaning (ip, vifname, script, rate...), as "key=value".
    ignored: tuple[str, ...] = ()


_VIF_KEYS = {
    "mac",
    "bridge",
    "model",
    "type",
    "ip",
    "vifname",
    "script",
    "rate",
    "backend",
    "gatewaydev",
    "accel",
    "devid",
    "mtu",
    "trusted",
    "untrusted",
    "forwarddev",
    "queues",
    "vlan",
    "name",
}


# The common shape (mac, bridge, model with plain values), parsed by one regex on the spec and
# a final comma; anything else goes through the general parser. The MAC must be what
# normalise_mac returns, unicast (even first octet). The last of a repeated key wins in both.
_FAST_VIF = re.compile(
    r"(?:(?:mac=([0-9a-f][02468ace](?::[0-9a-f]{2}){5})|bridge=([^,=\s]+)|model=([^,=\s]+)),)+\Z"
)


def parse_vif_spec(
    spec: str, *, source: str = "<input>", line: int | None = None, column: int | None = None
) -> VifSpec:
    """Parse one xl vif spec (``mac=..,bridge=..``); ParseError on bad syntax or MAC."""
    m = _FAST_VIF.match(spec + ",")
    if m:
        mac, bridge, model = m.groups()
        return VifSpec(mac or "", bridge or "", model or "")
    return _parse_vif_spec(spec, source=source, line=line, column=column)


def _parse_vif_spec(
    spec: str, *, source: str = "<input>", line: int | None = None, column: int | None = None
) -> VifSpec:
    """The general vif spec parser (see :func:`parse_vif_spec`)."""
    from xen2kvm.hv.model import normalise_mac

    mac = bridge = model = ""
    ignored: list[str] = []
    pos = 0
    for raw in spec.split(","):
        start = pos
        pos += len(raw) + 1
        tok = raw.strip()
        if not tok:
            continue
        col = None if column is None else column + start + (len(raw) - len(raw.lstrip()))
        key, sep, val = tok.partition("=")
        key, val = key.strip(), val.strip()
        if not sep or not key:
            raise ParseError(
                f"vif spec {spec!r}: {tok!r} is not key=value",
                source=source,
                line=line,
                column=col,
            )
        if key not in _VIF_KEYS:
            raise ParseError(
                f"vif spec {spec!r}: unknown parameter {key!r}",
                source=source,
                line=line,
                column=col,
            )
        if key == "mac":
            try:
                mac = normalise_mac(val, source=source)
            except ParseError as exc:
                raise ParseError(
                    f"vif spec {spec!r}: {exc.message}", source=source, line=line, column=col
                ) from None
        elif key == "bridge":
            bridge = val
        elif key == "model":
            model = val
        elif key == "type" and val in ("vif", "ioemu"):
            pass  # only says which backend Xen uses; no KVM meaning, nothing lost
        else:
            ignored.append(f"{key}={val}")
    return VifSpec(mac, bridge, model, tuple(ignored))
