"""Files that list one item per line with ``#`` comments: /etc/securetty,
/etc/initramfs-tools/modules (``module [args]``), /etc/modules, /etc/modules-load.d/*.conf.

Round-trip preserving; never raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from xen2kvm.parsers._lines import line_body, split_lines

__all__ = ["LineList", "ListLine", "parse"]


@dataclass
class ListLine:
    raw: str
    line: int
    item: str | None = None  # first word, None for comments/blank lines
    args: str = ""  # rest of the line after the item (module parameters)

    def render(self) -> str:
        return self.raw


def _parse_line(raw: str, lineno: int, comment_chars: str) -> ListLine:
    body, _ = line_body(raw)
    s = body.strip()
    if not s or s[0] in comment_chars:
        return ListLine(raw, lineno)
    item, _, args = s.partition(" ")
    if "\t" in item:
        item, _, more = item.partition("\t")
        args = (more + " " + args).strip()
    return ListLine(raw, lineno, item, args.strip())


@dataclass
class LineList:
    lines: list[ListLine]
    source: str = "<input>"
    comment_chars: str = "#"

    def items(self) -> list[str]:
        return [ln.item for ln in self.lines if ln.item is not None]

    def has(self, item: str) -> bool:
        return item in self.items()

    def add(self, item: str, args: str = "") -> bool:
        """Append ``item`` unless present. Returns True if it was added."""
        if self.has(item):
            return False
        if self.lines and not self.lines[-1].raw.endswith("\n"):
            self.lines[-1].raw += "\n"
        text = f"{item} {args}".rstrip() + "\n"
        self.lines.append(_parse_line(text, len(self.lines) + 1, self.comment_chars))
        return True

    def remove(self, item: str) -> int:
        """Remove every line naming ``item``. Returns how many."""
        before = len(self.lines)
        self.lines = [ln for ln in self.lines if ln.item != item]
        return before - len(self.lines)

    def comment_out(self, item: str) -> int:
        count = 0
        for i, ln in enumerate(self.lines):
            if ln.item == item:
                self.lines[i] = ListLine("#" + ln.raw, ln.line)
                count += 1
        return count

    def render(self) -> str:
        return "".join(ln.raw for ln in self.lines)


def parse(text: str, source: str = "<input>", comment_chars: str = "#") -> LineList:
    """Parse a one-item-per-line file (``comment_chars`` start a comment; ``#;`` for
    modules-load.d)."""
    return LineList(
        [_parse_line(raw, i, comment_chars) for i, raw in enumerate(split_lines(text), 1)],
        source,
        comment_chars,
    )
