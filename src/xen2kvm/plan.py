"""Plans: typed, serialisable actions on a guest, built by checks without writing anything.

Checks do not produce actions directly. They edit a :class:`PlanBuilder`, an overlay over the
guest: reading a path through the builder returns what earlier checks already planned for it,
so several checks can edit one file (the console check and the block-device check both edit
``menu.lst``) and the plan holds one action per path with its final content and every check
that contributed. That makes the diff one hunk-set per file and the transaction simple.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from xen2kvm.errors import GuestPathError, Xen2KvmError
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, LARGE_READ_LIMIT, FileKind, Guest, normalize

T = TypeVar("T")

ActionKind = Literal["write", "remove", "symlink", "append"]


@dataclass(frozen=True)
class Action:
    """One change to one guest path.

    - ``write``: replace (or create) ``path`` with ``content``; ``mode`` for new files.
    - ``remove``: delete the file or symlink at ``path``.
    - ``symlink``: make ``path`` a symlink to ``target`` (replacing what is there).
    - ``append``: add ``content`` at the end of ``path`` (used for initramfs images, where the
      kernel reads concatenated archives and later files win); undone by truncation.
    """

    kind: ActionKind
    path: str
    checks: tuple[str, ...]
    reasons: tuple[str, ...]
    content: bytes = b""
    target: str = ""
    mode: int | None = None
    #: For ``append``: the description of what the appended data adds (e.g. file list).
    summary: tuple[str, ...] = ()

    def to_json(self, *, with_content: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "path": self.path,
            "checks": list(self.checks),
            "reasons": list(self.reasons),
        }
        if self.kind == "symlink":
            out["target"] = self.target
        if self.kind in ("write", "append"):
            out["size"] = len(self.content)
            out["sha256"] = hashlib.sha256(self.content).hexdigest()
            if with_content:
                out["content_b64"] = base64.b64encode(self.content).decode()
        if self.mode is not None:
            out["mode"] = oct(self.mode)
        if self.summary:
            out["summary"] = list(self.summary)
        return out


@dataclass
class _Pending:
    kind: ActionKind
    content: bytes = b""
    target: str = ""
    mode: int | None = None
    checks: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)


class PlanError(Xen2KvmError):
    """A check asked for something the plan cannot express (a bug or a hostile guest)."""


class PlanBuilder:
    """An overlay over a read-only guest in which checks record the changes they want."""

    def __init__(self, guest: Guest) -> None:
        self.guest = guest
        self._pending: dict[str, _Pending] = {}
        #: path as asked -> (normalised path, where it lands in the guest). The guest does not
        #: change while a plan is built over it, so each path is resolved once.
        self._keys: dict[str, tuple[str, str]] = {}
        #: name -> (value, the files it was derived from); see :meth:`derived`.
        self._derived: dict[str, tuple[object, set[str]]] = {}
        self._reads: set[str] | None = None  # collecting for a derived value
        #: Files checks wanted but could not read safely (loops, FIFOs, huge files).
        self.problems: list[str] = []

    def _problem(self, err: GuestPathError) -> None:
        if str(err) not in self.problems:
            self.problems.append(str(err))

    # --- reads that see earlier planned changes ---------------------------------------------

    def _key(self, path: str) -> str:
        """The path an edit lands on: symlinks resolved inside the guest for existing files.

        Editing ``/etc/grub.conf -> ../boot/grub/grub.conf`` must change the real file and keep
        the link; a dangling or looping link is an error for the caller to report.
        """
        hit = self._keys.get(path)
        if hit is None:
            norm = normalize(path)
            hit = self._keys[path] = (norm, self._resolve(norm))
        norm, resolved = hit
        return norm if norm in self._pending else resolved

    def _resolve(self, path: str) -> str:
        st = self.guest.try_lstat(path)
        if st is not None and st.kind is FileKind.SYMLINK:
            try:
                return self.guest.realpath(path)
            except GuestPathError:
                return path  # dangling or looping: reads of it fail and are reported
        try:
            parent = self.guest.realpath(posixpath.dirname(path))
        except GuestPathError:
            return path
        return posixpath.join(parent, posixpath.basename(path))

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes | None:
        """Current bytes of ``path`` with planned changes applied; None if absent/removed.

        A file that cannot be read safely (a loop, a FIFO, a device, too large) reads as absent
        and is recorded in :attr:`problems`.
        """
        key = self._key(path)
        if self._reads is not None:
            self._reads.add(key)
        p = self._pending.get(key)
        if p is not None:
            if p.kind == "remove" or p.kind == "symlink":
                return None
            if p.kind == "append":
                base = self.guest.read_bytes(key, limit=LARGE_READ_LIMIT)
                return base + p.content
            return p.content
        try:
            return self.guest.read_bytes_if_exists(key, limit=limit)
        except GuestPathError as err:
            self._problem(err)
            return None

    def read_text(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> str | None:
        data = self.read_bytes(path, limit=limit)
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def exists(self, path: str) -> bool:
        key = normalize(path)
        p = self._pending.get(key)
        if p is not None:
            return p.kind != "remove"
        return self.guest.lexists(key)

    # --- recording changes ---------------------------------------------------------------

    def derived(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()``, reused until the plan next changes.

        For views several checks derive from the same files (every kernel command line in
        the guest is looked at by five checks). ``compute`` must read only through this plan,
        and callers must not modify what it returns.
        """
        hit = self._derived.get(name)
        if hit is not None:
            if self._reads is not None:
                self._reads |= hit[1]
            return hit[0]  # type: ignore[return-value]
        outer, self._reads = self._reads, set()
        try:
            value = compute()
            reads = self._reads
        finally:
            self._reads = outer
        if outer is not None:
            outer |= reads
        self._derived[name] = (value, reads)
        return value

    def _changed(self, key: str) -> None:
        """Forget derived values read from ``key``, which a check just changed."""
        for name in [n for n, (_v, reads) in self._derived.items() if key in reads]:
            del self._derived[name]

    def _note(self, p: _Pending, check: str, reason: str) -> None:
        if check not in p.checks:
            p.checks.append(check)
        if reason and reason not in p.reasons:
            p.reasons.append(reason)

    def write_text(
        self, path: str, text: str, *, check: str, reason: str, mode: int | None = None
    ) -> None:
        self.write_bytes(
            path, text.encode("utf-8", "surrogateescape"), check=check, reason=reason, mode=mode
        )

    def write_bytes(
        self, path: str, data: bytes, *, check: str, reason: str, mode: int | None = None
    ) -> None:
        key = self._key(path)
        old = self._pending.get(key)
        if old is not None and old.kind == "append":
            raise PlanError(f"{key}: cannot rewrite a file that another check appends to")
        current = self.read_bytes(key, limit=LARGE_READ_LIMIT)
        if current == data and (old is None or old.kind == "write"):
            return  # no difference, no action
        p = old if old is not None and old.kind == "write" else _Pending("write")
        if old is not None and old is not p:
            p.checks, p.reasons = list(old.checks), list(old.reasons)
        p.kind, p.content = "write", data
        p.mode = mode if mode is not None else p.mode
        self._note(p, check, reason)
        self._pending[key] = p
        self._changed(key)

    def remove(self, path: str, *, check: str, reason: str) -> None:
        key = normalize(path)  # remove the link itself, never its target
        if not self.exists(key):
            return
        p = self._pending.get(key) or _Pending("remove")
        if not self.guest.lexists(key):
            # Created by an earlier check in this plan and now removed: nothing to do.
            del self._pending[key]
            self._changed(key)
            return
        p.kind, p.content, p.target = "remove", b"", ""
        self._note(p, check, reason)
        self._pending[key] = p
        self._changed(key)

    def symlink(self, path: str, target: str, *, check: str, reason: str) -> None:
        key = normalize(path)
        st = self.guest.try_lstat(key)
        if (
            key not in self._pending
            and st is not None
            and st.kind is FileKind.SYMLINK
            and self.guest.readlink(key) == target
        ):
            return
        p = self._pending.get(key) or _Pending("symlink")
        p.kind, p.target, p.content = "symlink", target, b""
        self._note(p, check, reason)
        self._pending[key] = p
        self._changed(key)

    def append(
        self, path: str, data: bytes, *, check: str, reason: str, summary: list[str]
    ) -> None:
        key = self._key(path)
        if key in self._pending:
            raise PlanError(f"{key}: two checks change this file in incompatible ways")
        p = _Pending("append", content=data, summary=list(summary))
        self._note(p, check, reason)
        self._pending[key] = p
        self._changed(key)

    def _original(self, path: str) -> bytes | None:
        try:
            return self.guest.read_bytes(path, limit=LARGE_READ_LIMIT)
        except GuestPathError:
            return None

    # --- result ------------------------------------------------------------------------------

    def build(self) -> Plan:
        # A file edited by several checks may end up as it started: no difference, no action.
        unchanged = {
            path
            for path, p in self._pending.items()
            if p.kind == "write" and self._original(path) == p.content
        }
        actions = [
            Action(
                kind=p.kind,
                path=path,
                checks=tuple(p.checks),
                reasons=tuple(p.reasons),
                content=p.content,
                target=p.target,
                mode=p.mode,
                summary=tuple(p.summary),
            )
            for path, p in sorted(self._pending.items())
            if path not in unchanged
        ]
        return Plan(actions)


@dataclass(frozen=True)
class Plan:
    actions: list[Action]

    def __bool__(self) -> bool:
        return bool(self.actions)

    @property
    def paths(self) -> list[str]:
        return [a.path for a in self.actions]

    def to_json(self) -> list[dict[str, Any]]:
        return [a.to_json() for a in self.actions]

    def diff(self, guest: Guest) -> str:
        """A unified diff of the plan against the guest (text files; binaries summarised)."""
        out: list[str] = []
        for a in self.actions:
            header = f"# {a.path}: {', '.join(a.checks)}"
            out.append(header)
            old = _old_text(guest, a.path)
            if a.kind == "append":
                out.append(f"# append {len(a.content)} bytes to {a.path}:")
                out.extend(f"#   {line}" for line in a.summary)
                continue
            if a.kind == "symlink":
                new_lines = [f"-> {a.target}\n"]
            elif a.kind == "remove":
                new_lines = []
            else:
                new = _as_text(a.content)
                if new is None:
                    out.append(f"# binary content, {len(a.content)} bytes")
                    continue
                new_lines = new.splitlines(keepends=True)
            old_lines = [] if old is None else old.splitlines(keepends=True)
            label_new = "/dev/null" if a.kind == "remove" else f"b{a.path}"
            label_old = "/dev/null" if old is None else f"a{a.path}"
            for line in difflib.unified_diff(old_lines, new_lines, label_old, label_new):
                if not line.endswith("\n"):
                    line += "\n\\ No newline at end of file\n"
                out.append(line)
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _as_text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    return data.decode("utf-8", "surrogateescape")


def _old_text(guest: Guest, path: str) -> str | None:
    st = guest.try_lstat(path)
    if st is None:
        return None
    if st.kind is FileKind.SYMLINK:
        return f"-> {guest.readlink(path)}\n"
    if st.kind is not FileKind.FILE:
        return None
    try:
        return _as_text(guest.read_bytes(path, limit=DEFAULT_READ_LIMIT))
    except GuestPathError:
        return None
