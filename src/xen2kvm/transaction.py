"""The transaction: the only code that writes to a guest.

Before the first write it records, inside the guest (so the undo travels with the disk), the
state of every path it will touch: content, mode, owner, extended attributes (SELinux labels),
symlink target, or absence. Appends (initramfs images) are recorded by length and hash and undone
by truncation, so a full disk is not needed to convert one. Then it applies each action
atomically, re-reads what it wrote, and on any error restores everything.

Journal layout, under ``/var/lib/xen2kvm/`` in the guest::

    tx-<id>/journal.json      state, entries (one per path), created directories
    tx-<id>/b/<n>             the backed-up content of entry n

States: ``prepared`` (backups complete, nothing changed), ``applying`` (changes may be partly
done), ``committed``. A transaction directory without ``journal.json`` never got to change
anything and is removed. ``prepared``/``applying`` journals found later mean a crash: they are
rolled back before anything else happens. A rollback restores every entry, removes the journal
and the directories the transaction created, so the guest's files end as they were.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import posixpath
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xen2kvm.errors import GuestPathError, TransactionError, Xen2KvmError
from xen2kvm.guest.base import LARGE_READ_LIMIT, FileKind, Guest, normalize
from xen2kvm.plan import Action, Plan

JOURNAL_ROOT = "/var/lib/xen2kvm"
JOURNAL_NAME = "journal.json"
#: Test hook (reliability tests): SIGKILL this process after N filesystem operations.
CRASH_ENV = "XEN2KVM_CRASH_AFTER_OPS"

Progress = Callable[[str], None]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Entry:
    path: str
    action: str
    before: dict[str, Any]
    after_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "action": self.action,
            "before": self.before,
            "after_sha256": self.after_sha256,
        }


@dataclass
class Journal:
    txid: str
    state: str
    created: str
    entries: list[Entry] = field(default_factory=list)
    created_dirs: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def dir(self) -> str:
        return f"{JOURNAL_ROOT}/tx-{self.txid}"

    def to_bytes(self) -> bytes:
        doc = {
            "format": 1,
            "txid": self.txid,
            "state": self.state,
            "created": self.created,
            "note": self.note,
            "created_dirs": self.created_dirs,
            "entries": [e.to_json() for e in self.entries],
        }
        return json.dumps(doc, indent=1).encode()

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> Journal:
        try:
            doc = json.loads(data)
            j = cls(
                txid=str(doc["txid"]),
                state=str(doc["state"]),
                created=str(doc.get("created", "")),
                note=str(doc.get("note", "")),
                created_dirs=[str(d) for d in doc.get("created_dirs", [])],
            )
            for e in doc["entries"]:
                j.entries.append(
                    Entry(
                        path=normalize(str(e["path"])),
                        action=str(e["action"]),
                        before=dict(e["before"]),
                        after_sha256=str(e.get("after_sha256", "")),
                    )
                )
            return j
        except (ValueError, KeyError, TypeError) as exc:
            raise TransactionError(f"{source}: unreadable journal ({exc})") from exc


def has_journal(guest: Guest) -> bool:
    """Whether the guest holds anything of xen2kvm's journal (read-only check)."""
    return any(name.startswith("tx-") for name in guest.try_listdir(JOURNAL_ROOT))


@dataclass(frozen=True)
class ApplyResult:
    txid: str
    applied: list[str]
    journal: str


@dataclass(frozen=True)
class RollbackResult:
    txids: list[str]
    restored: list[str]
    crashed: bool  # a transaction interrupted mid-apply was found


class Transaction:
    """Apply a :class:`Plan` to a writable guest, journaled and reversible."""

    def __init__(self, guest: Guest, *, progress: Progress | None = None) -> None:
        if guest.read_only:
            raise TransactionError(f"{guest.name} is opened read-only; cannot change it")
        self.guest = guest
        self.progress = progress or (lambda _msg: None)
        self._ops = 0
        crash = os.environ.get(CRASH_ENV, "")
        self._crash_after = int(crash) if crash.isdigit() else -1

    # Every filesystem operation passes here, so the reliability tests can kill us between any
    # two of them and check that the journal still brings the guest back.
    def _op(self) -> None:
        self._ops += 1
        if self._crash_after >= 0 and self._ops > self._crash_after:
            os.kill(os.getpid(), signal.SIGKILL)

    @property
    def ops(self) -> int:
        return self._ops

    # --- journal I/O -------------------------------------------------------------------------

    def _save(self, journal: Journal) -> None:
        self._op()
        self.guest.write_bytes(f"{journal.dir}/{JOURNAL_NAME}", journal.to_bytes(), mode=0o600)
        self._op()
        self.guest.sync()

    def _makedirs(self, path: str, created: list[str]) -> None:
        for d in self._missing_dirs(path):
            self._op()
            self.guest.mkdir(d, 0o700 if d.startswith(JOURNAL_ROOT) else 0o755)
            created.append(d)

    def _missing_dirs(self, path: str) -> list[str]:
        """Directories that must be created for ``path`` to exist, outermost first."""
        path = normalize(path)
        missing: list[str] = []
        while path != "/" and not self.guest.lexists(path):
            missing.append(path)
            path = posixpath.dirname(path)
        if not self.guest.is_dir(path):
            raise TransactionError(f"{path} exists in the guest but is not a directory")
        return list(reversed(missing))

    def journals(self) -> list[Journal]:
        """Every journal found in the guest, oldest first. Removes empty leftovers' traces."""
        out: list[Journal] = []
        for name in self.guest.try_listdir(JOURNAL_ROOT):
            if not name.startswith("tx-"):
                continue
            path = f"{JOURNAL_ROOT}/{name}/{JOURNAL_NAME}"
            if not self.guest.is_file(path):
                out.append(Journal(txid=name[3:], state="incomplete", created=""))
                continue
            out.append(Journal.from_bytes(self.guest.read_bytes(path), path))
        return sorted(out, key=lambda j: j.txid)

    # --- apply -------------------------------------------------------------------------------

    def apply(self, plan: Plan, *, note: str = "") -> ApplyResult:
        recovered = self.recover()
        if recovered.txids:
            self.progress(f"rolled back interrupted transaction(s): {', '.join(recovered.txids)}")
        txid = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
        journal = Journal(
            txid=txid, state="prepared", created=time.strftime("%Y-%m-%dT%H:%M:%SZ"), note=note
        )
        # Directories are recorded in the order created; the journal's own come first.
        new_dirs: list[str] = []
        try:
            self._makedirs(journal.dir + "/b", journal.created_dirs)
            for n, action in enumerate(plan.actions):
                journal.entries.append(self._backup(journal, n, action))
            # Parents of new files: recorded in the journal before any is created.
            for action in plan.actions:
                for d in self._missing_dirs(posixpath.dirname(action.path)):
                    if d not in new_dirs:
                        new_dirs.append(d)
            journal.created_dirs += new_dirs
            self._save(journal)
            journal.state = "applying"
            self._save(journal)
        except (Xen2KvmError, OSError):
            # Nothing of the guest was changed yet: leave no journal behind either.
            self._discard_prepared(journal)
            raise
        applied: list[str] = []
        try:
            for d in new_dirs:
                self._op()
                self.guest.mkdir(d, 0o755)
            for entry, action in zip(journal.entries, plan.actions, strict=True):
                self.progress(f"{action.kind} {action.path}")
                entry.after_sha256 = self._apply_one(action)
                applied.append(action.path)
            journal.state = "committed"
            self._save(journal)
        except Xen2KvmError as exc:
            self._restore_or_raise(journal, exc)
            raise TransactionError(
                f"applying the changes failed ({exc}); every change was rolled back"
            ) from exc
        except OSError as exc:
            self._restore_or_raise(journal, exc)
            raise TransactionError(
                f"applying the changes failed ({exc}); every change was rolled back"
            ) from exc
        return ApplyResult(txid=txid, applied=applied, journal=journal.dir)

    def _discard_prepared(self, journal: Journal) -> None:
        """Remove a journal whose preparation failed, and the directories made for it."""
        with contextlib.suppress(Xen2KvmError, OSError):
            self._remove_tree(journal.dir)
            for d in reversed(journal.created_dirs):
                if self.guest.is_dir(d) and not self.guest.listdir(d):
                    self._op()
                    self._rmdir(d)
            self._cleanup_root()

    def _restore_or_raise(self, journal: Journal, cause: BaseException) -> None:
        try:
            self._rollback_one(journal)
        except (Xen2KvmError, OSError) as exc:
            raise TransactionError(
                f"applying failed ({cause}) and so did the rollback ({exc}); the journal at "
                f"{journal.dir} is kept: run 'xen2kvm rollback' again once the cause is fixed"
            ) from exc

    def _backup(self, journal: Journal, n: int, action: Action) -> Entry:
        g = self.guest
        path = action.path
        st = g.try_lstat(path)
        before: dict[str, Any]
        if st is None:
            before = {"kind": "absent"}
        elif st.kind is FileKind.SYMLINK:
            before = {
                "kind": "symlink",
                "target": g.readlink(path),
                "uid": st.uid,
                "gid": st.gid,
            }
        elif st.kind is FileKind.FILE:
            before = {
                "kind": "file",
                "mode": st.mode,
                "uid": st.uid,
                "gid": st.gid,
                "size": st.size,
                "xattrs": {
                    k: base64.b64encode(v).decode() for k, v in g.getxattrs(path).items()
                },
            }
            if action.kind == "append":
                data = g.read_bytes(path, limit=LARGE_READ_LIMIT)
                before["sha256"] = _sha(data)
                before["truncate_to"] = len(data)
            else:
                data = g.read_bytes(path, limit=LARGE_READ_LIMIT)
                before["sha256"] = _sha(data)
                before["backup"] = f"b/{n}"
                self._op()
                g.write_bytes(f"{journal.dir}/b/{n}", data, mode=0o600)
        else:
            raise TransactionError(f"{path} is a {st.kind.value}; refusing to change it")
        return Entry(path=path, action=action.kind, before=before)

    def _apply_one(self, action: Action) -> str:
        g = self.guest
        path = action.path
        if action.kind == "write":
            st = g.try_lstat(path)
            if st is not None and st.kind is FileKind.SYMLINK:
                self._op()
                g.remove(path)
            self._op()
            g.write_bytes(path, action.content, mode=action.mode if st is None else None)
            return self._verify_content(path, action.content)
        if action.kind == "append":
            old = g.read_bytes(path, limit=LARGE_READ_LIMIT)
            new = old + action.content
            self._op()
            g.write_bytes(path, new)
            return self._verify_content(path, new)
        if action.kind == "remove":
            if g.lexists(path):
                self._op()
                g.remove(path)
            if g.lexists(path):
                raise TransactionError(f"{path}: still present after removal")
            return ""
        if action.kind == "symlink":
            if g.lexists(path):
                self._op()
                g.remove(path)
            self._op()
            g.symlink(action.target, path)
            if g.readlink(path) != action.target:
                raise TransactionError(f"{path}: symlink reads back differently")
            return _sha(action.target.encode())
        raise TransactionError(f"unknown action {action.kind!r}")

    def _verify_content(self, path: str, want: bytes) -> str:
        got = self.guest.read_bytes(path, limit=LARGE_READ_LIMIT)
        if got != want:
            raise TransactionError(f"{path}: content reads back differently after writing")
        return _sha(got)

    # --- rollback ----------------------------------------------------------------------------

    def recover(self) -> RollbackResult:
        """Roll back every interrupted (not committed) transaction."""
        done: list[str] = []
        restored: list[str] = []
        for journal in reversed(self.journals()):
            if journal.state == "committed":
                continue
            if journal.state == "incomplete":
                self._remove_tree(journal.dir)  # never got to change anything
                self._cleanup_root()
            else:
                restored += self._rollback_one(journal)
            done.append(journal.txid)
        self._cleanup_root()
        return RollbackResult(txids=done, restored=restored, crashed=bool(done))

    def rollback(self) -> RollbackResult:
        """Undo every transaction recorded in the guest, newest first."""
        journals = self.journals()
        crashed = any(j.state != "committed" for j in journals)
        done: list[str] = []
        restored: list[str] = []
        for journal in reversed(journals):
            if journal.state == "incomplete":
                self._remove_tree(journal.dir)
                self._cleanup_root()
            else:
                restored += self._rollback_one(journal)
            done.append(journal.txid)
        self._cleanup_root()  # a run killed right after creating it leaves it empty
        return RollbackResult(txids=done, restored=restored, crashed=crashed)

    def _rollback_one(self, journal: Journal) -> list[str]:
        restored: list[str] = []
        for entry in reversed(journal.entries):
            self.progress(f"restore {entry.path}")
            if self._restore(journal, entry):
                restored.append(entry.path)
        self._drop_journal(journal)
        for d in reversed(journal.created_dirs):
            if d.startswith(journal.dir):
                continue
            with contextlib.suppress(GuestPathError):
                if self.guest.is_dir(d) and not self.guest.listdir(d):
                    self._op()
                    self._rmdir(d)
        self._cleanup_root()
        self.guest.sync()
        return restored

    def _restore(self, journal: Journal, entry: Entry) -> bool:
        g = self.guest
        path = entry.path
        before = entry.before
        st = g.try_lstat(path)
        kind = before["kind"]
        if kind == "absent":
            if st is None:
                return False
            self._op()
            g.remove(path)
            return True
        if kind == "symlink":
            if st is not None and st.kind is FileKind.SYMLINK and g.readlink(path) == before[
                "target"
            ]:
                return False
            if st is not None:
                self._op()
                g.remove(path)
            self._op()
            g.symlink(str(before["target"]), path)
            with contextlib.suppress(Xen2KvmError):
                g.chown(path, int(before["uid"]), int(before["gid"]))
            return True
        if kind != "file":
            raise TransactionError(f"{journal.dir}: unknown saved state {kind!r} for {path}")
        if st is not None and st.kind is FileKind.SYMLINK:
            self._op()
            g.remove(path)
            st = None
        if "truncate_to" in before:
            current = g.read_bytes(path, limit=LARGE_READ_LIMIT)
            original = current[: int(before["truncate_to"])]
            if _sha(original) != before["sha256"]:
                raise TransactionError(
                    f"{path}: the start of the file changed since conversion; cannot undo the "
                    "append safely"
                )
            data = original
        else:
            data = g.read_bytes(f"{journal.dir}/{before['backup']}", limit=LARGE_READ_LIMIT)
            if _sha(data) != before["sha256"]:
                raise TransactionError(f"{journal.dir}: backup of {path} is damaged")
        changed = True
        if st is not None and st.kind is FileKind.FILE:
            current = g.read_bytes(path, limit=LARGE_READ_LIMIT)
            cur = g.lstat(path)
            changed = not (
                current == data
                and cur.mode == before["mode"]
                and (cur.uid, cur.gid) == (before["uid"], before["gid"])
            )
        if changed:
            self._op()
            g.write_bytes(
                path, data, mode=int(before["mode"]), uid=int(before["uid"]),
                gid=int(before["gid"]),
            )
        xattrs = {k: base64.b64decode(v) for k, v in dict(before.get("xattrs", {})).items()}
        if g.getxattrs(path) != xattrs:
            self._op()
            g.setxattrs(path, xattrs)
            changed = True
        return changed

    def _rmdir(self, path: str) -> None:
        self.guest.rmdir(path)

    def _drop_journal(self, journal: Journal) -> None:
        # journal.json goes first: once it is gone, what is left of the directory is garbage
        # that a later run removes, and every file was already restored.
        path = f"{journal.dir}/{JOURNAL_NAME}"
        if self.guest.lexists(path):
            self._op()
            self.guest.remove(path)
        self._remove_tree(journal.dir)

    def _remove_tree(self, path: str) -> None:
        g = self.guest
        st = g.try_lstat(path)
        if st is None:
            return
        if st.kind is FileKind.DIR:
            for name in g.listdir(path):
                self._remove_tree(f"{path}/{name}")
            self._op()
            self._rmdir(path)
        else:
            self._op()
            g.remove(path)

    def _cleanup_root(self) -> None:
        """Remove /var/lib/xen2kvm when it holds nothing more (it was ours)."""
        g = self.guest
        if g.is_dir(JOURNAL_ROOT) and not g.listdir(JOURNAL_ROOT):
            # Only if no journal says it existed before us: the first transaction records it.
            self._op()
            self._rmdir(JOURNAL_ROOT)
