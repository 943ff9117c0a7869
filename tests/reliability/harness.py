"""Shared machinery of the reliability tests: host canaries, safe snapshots, bounded runs.

Everything here treats the guest tree as hostile: snapshots never open FIFOs or device nodes and
never read a 2 GB hole into memory, and every run of the tool is bounded by a deadline after
which its process is killed (a hang is a failure, never a stuck test session).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The installed console script, next to the interpreter running the tests (.venv/bin).
XEN2KVM_BIN = Path(sys.executable).parent / "xen2kvm"
#: Every documented exit code of the CLI (70, an internal error, is a bug).
DOCUMENTED_EXITS = {0, 1, 2, 3}

# --- host canaries ---------------------------------------------------------------------------


def canary_text(token: str) -> str:
    """Content that, if any parser ever read it, would surface ``token`` in a report: it is
    shaped like every file the tool parses (os-release, fstab, grub, inittab, modprobe, udev,
    ifcfg, journal JSON)."""
    return (
        f"ID={token}\nNAME={token}\nPRETTY_NAME={token}\n"
        f"/dev/xvda9 /{token} ext4 defaults 0 1\n{token} none swap sw 0 0\n"
        f"title {token}\nkernel /vmlinuz-{token} root=/dev/xvda console=hvc0\n"
        f'GRUB_CMDLINE_LINUX="console=hvc0 root=/dev/xvda {token}"\n'
        f"menuentry '{token}' {{\n linux /vmlinuz-{token} root=/dev/xvda console=hvc0\n}}\n"
        f"co:2345:respawn:/sbin/getty 38400 hvc0 {token}\n"
        f"alias eth0 {token}\nalias scsi_hostadapter xenblk\n"
        f'SUBSYSTEM=="net", ATTR{{address}}=="00:16:3e:00:00:01", NAME="{token}"\n'
        f"DEVICE=eth0\nHWADDR={token}\n"
        f'{{"txid": "{token}", "state": "applying", "entries": []}}\n'
    )


@dataclass
class Canaries:
    """Host files outside every guest, with a unique token, their hashes and mtimes."""

    dir: Path
    token: str
    files: dict[Path, tuple[str, int]] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.dir / "secret.txt"

    @property
    def subdir(self) -> Path:
        """A host directory full of canaries, for directory symlinks."""
        return self.dir / "confdir"

    @classmethod
    def create(cls, base: Path) -> Canaries:
        token = f"XEN2KVM-CANARY-{secrets.token_hex(8)}"
        c = cls(dir=base, token=token)
        base.mkdir(parents=True, exist_ok=True)
        text = canary_text(token)
        c.file.write_text(text)
        c.subdir.mkdir(exist_ok=True)
        # Names the tool globs for in the directories it lists.
        for name in (
            "canary.conf", "ifcfg-eth0", "70-persistent-net.rules", "50-canary.yaml",
            "05-canary.network", "canary.service", "hvc0.conf", "tx-1", "canary.cfg",
            "grub.cfg", "menu.lst", "fstab", "os-release",
        ):
            (c.subdir / name).write_text(text)
        # A journal that, were it ever obeyed, would "restore" a host file.
        journal = c.subdir / "tx-0" / "journal.json"
        journal.parent.mkdir()
        journal.write_text(json.dumps({
            "format": 1, "txid": "0", "state": "applying", "created": token, "note": token,
            "created_dirs": [], "entries": [{"path": str(c.file), "action": "write",
                                             "before": {"kind": "absent"}}],
        }))
        c.files = {p: c._fingerprint(p) for p in c.all_files()}
        return c

    def all_files(self) -> list[Path]:
        return sorted(p for p in self.dir.rglob("*") if p.is_file())

    @staticmethod
    def _fingerprint(p: Path) -> tuple[str, int]:
        return hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns

    def problems(self) -> list[str]:
        """What changed on the host since the canaries were made (empty: nothing)."""
        out = []
        now = set(self.all_files())
        for p in sorted(now - set(self.files)):
            out.append(f"new host file {p}")
        for p, fp in self.files.items():
            if p not in now:
                out.append(f"host canary {p} removed")
            elif self._fingerprint(p) != fp:
                out.append(f"host canary {p} changed (hash or mtime)")
        return out

    def leaked(self, *texts: str | bytes) -> bool:
        """Whether any output contains the canaries' content."""
        tok = self.token.encode()
        return any(tok in (t.encode("utf-8", "surrogateescape") if isinstance(t, str) else t)
                   for t in texts)


# --- snapshots that survive hostile trees ---------------------------------------------------

Snapshot = dict[str, tuple[Any, ...]]
_HOLE_CHECK_OVER = 32 * 1024 * 1024


def _file_digest(p: Path, size: int) -> str:
    fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if size > _HOLE_CHECK_OVER:
            # A file that is one big hole is all zeros: no need to read 2 GB to prove it.
            try:
                os.lseek(fd, 0, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    return f"hole:{size}"
                raise
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def snapshot(root: Path, *, skip: Callable[[str], bool] | None = None) -> Snapshot:
    """Every path under root: kind, content hash or link target or device number, mode, owner.

    Byte-exact for content (sha256; all-hole files proven zero with SEEK_DATA). Never opens a
    FIFO or device and never follows a symlink. ``skip(guest_path)`` drops paths (and, for a
    directory, everything below it) from the comparison.
    """
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = "/" + str(p.relative_to(root))
            if skip is not None and skip(rel):
                if name in dirnames:
                    dirnames.remove(name)
                continue
            st = p.lstat()
            meta = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(p), *meta)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", "", *meta)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("f", _file_digest(p, st.st_size), *meta)
            elif stat.S_ISFIFO(st.st_mode):
                out[rel] = ("p", "", *meta)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out[rel] = ("c" if stat.S_ISCHR(st.st_mode) else "b", st.st_rdev, *meta)
            else:
                out[rel] = ("?", "", *meta)
    return out


def diff_snapshots(a: Snapshot, b: Snapshot, limit: int = 8) -> str:
    """A short description of how two snapshots differ ('' if equal)."""
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append(f"{k}: {a.get(k, 'absent')!r} -> {b.get(k, 'absent')!r}")
    more = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return "; ".join(s[:200] for s in lines[:limit]) + more


# --- running the tool ------------------------------------------------------------------------


@dataclass
class Run:
    """One run of a command: exit code (None: killed at the deadline), outputs, duration."""

    argv: list[str]
    code: int | None
    out: str
    err: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.code is None

    def problems(self, canaries: Canaries | None = None) -> list[str]:
        """Every way this run breaks the CLI contract (empty: it kept it)."""
        out: list[str] = []
        what = " ".join(self.argv[:1])
        if self.code is None:
            return [f"{what}: did not finish before the deadline (hang)"]
        if "Traceback" in self.err or "Traceback" in self.out:
            out.append(f"{what}: traceback in output: {self.err[-600:]!r}")
        if self.code not in DOCUMENTED_EXITS:
            out.append(f"{what}: exit {self.code} (not a documented code): {self.err[-600:]!r}")
        elif self.code in (2, 3):
            lines = [ln for ln in self.err.splitlines() if ln.strip()]
            if len(lines) != 1 or not lines[0].startswith("xen2kvm: error: "):
                out.append(f"{what}: exit {self.code} without exactly one error line: {lines!r}")
        if canaries is not None and canaries.leaked(self.out, self.err):
            out.append(f"{what}: host canary content appeared in the output")
        return out

    def json(self) -> Any:
        return json.loads(self.out)


def _child_main(argv: Sequence[str], out_fd: int, err_fd: int, env: dict[str, str]) -> int:
    """Run xen2kvm.cli.main in this (forked) process with stdout/stderr on the given fds."""
    os.environ.update(env)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
    from xen2kvm.cli import main

    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        return exc.code if isinstance(exc.code, int) else 2
    except BaseException:
        traceback.print_exc()
        return 99


def run_here(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Run:
    """``xen2kvm.cli.main(argv)`` in this very process, stdout/stderr captured at the fd level.

    Only for processes that are themselves bounded (a case of :func:`run_parallel`): a hang
    here is caught by the caller's deadline, not by this function.
    """
    saved_env = dict(os.environ)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = (os.dup(1), os.dup(2), sys.stdout, sys.stderr)
        t0 = time.monotonic()
        try:
            code = _child_main(argv, out.fileno(), err.fileno(), env or {})
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sys.stdout, sys.stderr = saved[2], saved[3]
            os.environ.clear()
            os.environ.update(saved_env)
        took = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        return Run(list(argv), code, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"), took)


def wait_deadline(pid: int, timeout: float) -> int | None:
    """waitpid with a deadline; kills the process group member and returns None on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def run_inprocess(argv: Sequence[str], *, timeout: float = 60.0,
                  env: dict[str, str] | None = None) -> Run:
    """``xen2kvm.cli.main(argv)`` in a forked child (fast: no interpreter start), bounded."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 99
            try:
                code = _child_main(argv, out.fileno(), err.fileno(), env or {})
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        status = wait_deadline(pid, timeout)
        took = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        return Run(list(argv), status, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"), took)


def run_subprocess(argv: Sequence[str], *, timeout: float = 60.0,
                   env: dict[str, str] | None = None,
                   wrapper: Sequence[str] = ()) -> Run:
    """The installed ``xen2kvm`` console script as a child process, bounded."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [*wrapper, str(XEN2KVM_BIN), *argv], capture_output=True, timeout=timeout,
            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        return Run(list(argv), None, _dec(exc.stdout), _dec(exc.stderr),
                   time.monotonic() - t0)
    return Run(list(argv), proc.returncode, _dec(proc.stdout), _dec(proc.stderr),
               time.monotonic() - t0)


def _dec(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", "replace")


# --- running many cases on every core, each bounded ------------------------------------------


def run_parallel(
    cases: Iterable[tuple[str, Callable[[], dict[str, Any]]]],
    *,
    workdir: Path,
    jobs: int | None = None,
    timeout: float = 120.0,
) -> dict[str, dict[str, Any]]:
    """Run each case function in its own forked process, ``jobs`` at a time.

    A case returns a JSON-able dict; a case that raises gives ``{"error": traceback}`` and one
    that outlives ``timeout`` gives ``{"error": "hang ..."}`` (its process is killed).
    """
    jobs = jobs or max(1, os.cpu_count() or 1)
    pending = list(cases)
    pending.reverse()
    running: dict[int, tuple[str, Path, float]] = {}
    results: dict[str, dict[str, Any]] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    seq = 0
    while pending or running:
        while pending and len(running) < jobs:
            case_id, fn = pending.pop()
            seq += 1
            result_file = workdir / f"result-{seq}.json"
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                code = 0
                try:
                    res = fn()
                except BaseException:
                    res = {"error": traceback.format_exc()}
                    code = 1
                try:
                    result_file.write_text(json.dumps(res))
                finally:
                    os._exit(code)
            running[pid] = (case_id, result_file, time.monotonic() + timeout)
        finished = False
        for pid, (case_id, result_file, deadline) in list(running.items()):
            got, _status = os.waitpid(pid, os.WNOHANG)
            if got:
                finished = True
                del running[pid]
                try:
                    results[case_id] = json.loads(result_file.read_text())
                except (OSError, ValueError) as exc:
                    results[case_id] = {"error": f"case process died without a result ({exc})"}
            elif time.monotonic() > deadline:
                finished = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                del running[pid]
                results[case_id] = {"error": f"hang: case still running after {timeout:.0f} s"}
        if not finished:
            time.sleep(0.005)
    return results


# --- figures for docs/reliability.md -----------------------------------------------------------

FIGURES_ENV = "XEN2KVM_RELIABILITY_FIGURES"


def record_figures(section: str, data: dict[str, Any]) -> None:
    """Append figures of one test to the file named by $XEN2KVM_RELIABILITY_FIGURES (if set).

    tools/reliability_report.py sets it, runs this test suite and renders the doc's table.
    """
    dest = os.environ.get(FIGURES_ENV)
    if not dest:
        return
    with open(dest, "a", encoding="utf-8") as f:
        f.write(json.dumps({"section": section, **data}, sort_keys=True) + "\n")
