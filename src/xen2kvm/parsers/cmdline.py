"""Kernel command lines: tokenised like the kernel does, edited keeping the original spacing.

Used for grub ``kernel``/``linux`` lines, ``GRUB_CMDLINE_LINUX*``, BLS ``options`` and
/etc/kernel/cmdline. Quoting follows the kernel's ``next_arg()``: a double quote toggles
quoting, so ``dyndbg="file a.c +p"`` is one parameter. Every text is a valid command line
(the kernel accepts anything), so :func:`parse` never fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["KernelCmdline", "Param", "format_param", "parse"]

_WS = " \t\n\r\v\f"
_NEEDS_QUOTES = re.compile(r"[\s\"]")


@dataclass
class Param:
    """One parameter: ``raw`` as written; ``key`` and ``value`` with quotes removed.

    ``value`` is None for a bare flag (``ro``, ``quiet``) and ``""`` for ``key=``.
    """

    raw: str
    sep: str = ""  # whitespace before this parameter, kept for rendering

    @property
    def key(self) -> str:
        return self.raw.partition("=")[0].replace('"', "")

    @property
    def value(self) -> str | None:
        k, eq, v = self.raw.partition("=")
        if not eq:
            return None
        if v.startswith('"'):
            v = v[1:]
            if v.endswith('"'):
                v = v[:-1]
        elif k.startswith('"') and v.endswith('"'):  # "key=value with spaces"
            v = v[:-1]
        return v

    def __str__(self) -> str:
        return self.raw


def format_param(key: str, value: str | None = None) -> str:
    """Text of a parameter, quoting the value when it holds blanks."""
    if value is None:
        return key
    if _NEEDS_QUOTES.search(value):
        return f'{key}="{value.replace(chr(34), "")}"'
    return f"{key}={value}"


def _tokenise(text: str) -> tuple[list[Param], str]:
    params: list[Param] = []
    i, n = 0, len(text)
    while True:
        j = i
        while j < n and text[j] in _WS:
            j += 1
        if j >= n:
            return params, text[i:]
        k = j
        quoted = False
        while k < n and (quoted or text[k] not in _WS):
            if text[k] == '"':
                quoted = not quoted
            k += 1
        params.append(Param(text[j:k], text[i:j]))
        i = k


@dataclass
class KernelCmdline:
    """A parsed command line. ``str()``/:meth:`render` give the text back unchanged if unedited."""

    params: list[Param]
    trailing: str = ""  # whitespace after the last parameter (e.g. a final newline)

    # --- reading ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    def has(self, key: str) -> bool:
        return any(p.key == key for p in self.params)

    def get(self, key: str) -> str | None:
        """Value of the last ``key`` (the kernel uses the last one); None if absent or bare."""
        vals = self.get_all(key)
        return vals[-1] if vals else None

    def get_all(self, key: str) -> list[str | None]:
        """Every value of ``key`` in order (``console=`` may be given several times)."""
        return [p.value for p in self.params if p.key == key]

    def find(self, key: str) -> list[Param]:
        return [p for p in self.params if p.key == key]

    # --- editing ----------------------------------------------------------------------------

    def remove(self, key: str, value: str | None = None) -> int:
        """Remove ``key`` (only those with ``value`` if given). Returns how many went."""
        return self.remove_where(lambda p: p.key == key and (value is None or p.value == value))

    def remove_where(self, pred: Callable[[Param], bool]) -> int:
        kept: list[Param] = []
        removed = 0
        pending_sep: str | None = None
        for p in self.params:
            if pred(p):
                removed += 1
                if not kept and pending_sep is None:
                    pending_sep = p.sep  # keep leading whitespace of the line
                continue
            if pending_sep is not None:
                p.sep, pending_sep = pending_sep, None
            kept.append(p)
        self.params = kept
        return removed

    def replace(
        self, key: str, new_value: str | None, *, old_value: str | None = None, new_key: str = ""
    ) -> int:
        """Rewrite each ``key`` (with ``old_value`` if given) in place to ``new_key``/``new_value``.

        Position and spacing stay; returns how many parameters changed.
        """
        count = 0
        for p in self.params:
            if p.key == key and (old_value is None or p.value == old_value):
                p.raw = format_param(new_key or key, new_value)
                count += 1
        return count

    def replace_param(self, param: Param, text: str) -> None:
        """Replace one parameter by ``text`` (one or more parameters, space separated)."""
        idx = next(i for i, p in enumerate(self.params) if p is param)
        new, _ = _tokenise(text)
        if not new:
            self.remove_where(lambda p: p is param)
            return
        new[0].sep = param.sep
        self.params[idx : idx + 1] = new

    def add(self, key: str, value: str | None = None, *, after: str | None = None) -> Param:
        """Append a parameter (after the last ``after`` key if present, else at the end)."""
        p = Param(format_param(key, value), " ")
        idx = len(self.params)
        if after is not None:
            for i, q in enumerate(self.params):
                if q.key == after:
                    idx = i + 1
        if idx == 0 and not self.params:
            p.sep = ""
        self.params.insert(idx, p)
        return p

    def set(self, key: str, value: str | None = None) -> None:
        """Ensure exactly one ``key`` with ``value``: the first is rewritten, others removed."""
        found = self.find(key)
        if not found:
            self.add(key, value)
            return
        first = found[0]
        first.raw = format_param(key, value)
        self.remove_where(lambda p: p.key == key and p is not first)

    def render(self) -> str:
        return "".join(p.sep + p.raw for p in self.params) + self.trailing

    def __str__(self) -> str:
        return self.render()


def parse(text: str, source: str = "<cmdline>") -> KernelCmdline:
    """Tokenise a kernel command line. ``source`` is accepted for symmetry; it never fails."""
    del source
    params, trailing = _tokenise(text)
    return KernelCmdline(params, trailing)
