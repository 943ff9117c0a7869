"""One verify boot: QEMU on overlays, the console read as it comes, an early verdict.

The guest's disks are never written: QEMU boots from qcow2 overlays in a temporary
directory. QEMU runs in its own process group and is killed and reaped in every case.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from xen2kvm.errors import VerifyError
from xen2kvm.verify.bootspec import BootSpec
from xen2kvm.verify.console import (
    ConsoleWatcher,
    Detection,
    Sample,
    SilenceJudge,
    Verdict,
    clean_line,
    console_on_ttys0,
)
from xen2kvm.verify.qemu import (
    DISK_SERIAL,
    QEMU,
    QemuConfig,
    Qmp,
    QmpError,
    die_with_parent,
    disk_ops,
    has_boot_code,
    inspect_image,
    kernel_running,
    kill_group,
    make_overlay,
    probe_accel,
    process_cpu_seconds,
    qemu_command,
    read_first_sector,
    vcpu_halted,
    wait_for_socket,
)

SUCCESS_VERDICTS = (Verdict.LOGIN, Verdict.NETWORK)


@dataclass
class VerifyOptions:
    """What to boot and how. ``boot`` is a kernel boot spec with host paths (kernel mode), or
    None for a BIOS boot from the first disk's MBR (disk mode)."""

    disks: list[str]
    mode: str
    boot: BootSpec | None = None
    login: tuple[str, str] | None = None
    timeout: float = 300.0
    memory_mb: int = 1024
    hostfwd: list[tuple[int, int]] = field(default_factory=list)
    root_disk: int = 0  # which of ``disks`` / should be mounted from
    network_wait: float = 60.0  # after login, how long to wait for an IPv4 address
    accel: str | None = None  # None: probe
    qemu: str = QEMU


@dataclass
class Timings:
    """Seconds since verify started; None for what never happened."""

    qemu_started: float | None = None
    kernel_started: float | None = None  # kernel banner on ttyS0, else vCPU seen in the kernel
    first_console_byte: float | None = None
    failure_line_seen: float | None = None
    login_prompt_seen: float | None = None
    verdict_at: float | None = None
    decision_delay: float | None = None  # verdict_at - the line (or sample) that decided it
    finished: float | None = None


@dataclass
class NetInterface:
    name: str
    ipv4: list[str]


@dataclass
class LoginReport:
    """What the guest says about itself once logged in on ttyS0."""

    logged_in: bool
    interfaces: list[NetInterface] = field(default_factory=list)
    root_source: str | None = None
    root_fstype: str | None = None
    root_disk_index: int | None = None  # which verify disk / is on (from /dev/disk/by-id)
    swaps: list[str] = field(default_factory=list)
    fstab_swaps: list[str] = field(default_factory=list)
    init_system: str | None = None
    system_state: str | None = None
    failed_units: list[str] | None = None  # None: the init system does not track failures
    cmdline: str | None = None
    error: str | None = None


@dataclass
class VerifyResult:
    """The outcome of one verify boot (serialisable with :mod:`xen2kvm.jsonutil`)."""

    verdict: Verdict
    ok: bool
    reason: str
    matched_lines: list[str]
    mode: str
    boot: str  # "kernel" or "disk"
    accel: str
    accel_reason: str
    disks: list[str]
    kernel: str | None
    initrd: str | None
    cmdline: str | None
    boot_source: str | None
    timings: Timings
    login: LoginReport | None = None
    problems: list[str] = field(default_factory=list)
    console_tail: list[str] = field(default_factory=list)
    #: QEMU's view once a second while the console was silent: disk ops, CPU, vCPU state.
    activity: list[Sample] = field(default_factory=list)
    console_log: str = ""
    qemu_command: list[str] = field(default_factory=list)
    qemu_stderr: str = ""
    qemu_pid: int | None = None  # reaped before the result is returned


def parse_interfaces(text: str) -> list[NetInterface]:
    """Interfaces and IPv4 addresses from ``ip -4 -o addr show``."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"\s*\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+([\d.]+)/\d+", line)
        if m:
            found.setdefault(m.group(1), []).append(m.group(2))
    return [NetInterface(name, addrs) for name, addrs in found.items()]


def parse_root_mount(mounts: str) -> tuple[str | None, str | None]:
    """(source, fstype) of / from /proc/mounts (the last mount on / wins, rootfs ignored)."""
    source = fstype = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "/" and parts[0] != "rootfs":
            source, fstype = parts[0], parts[2]
    return source, fstype


def disk_index_of(device: str | None, by_id: str) -> int | None:
    """Which verify disk ``device`` (e.g. /dev/sda1) belongs to, from ``ls -l /dev/disk/by-id``
    (our disks carry serial numbers x2kdiskN)."""
    if not device:
        return None
    base = os.path.basename(device)
    marker = DISK_SERIAL.format("")
    for line in by_id.splitlines():
        m = re.search(re.escape(marker) + r"(\d+)(?:-part\d+)?\s+->\s+\S*?([^/\s]+)\s*$", line)
        if m and m.group(2) == base:
            return int(m.group(1))
    return None


def parse_swaps(text: str) -> list[str]:
    return [ln.split()[0] for ln in text.splitlines()[1:] if ln.strip()]


def parse_fstab_swaps(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 3 and parts[2] == "swap":
            out.append(parts[0])
    return out


class _Console:
    """The serial socket plus a buffer for expect-style waits; everything read is also fed
    to the watcher so the saved log is complete."""

    def __init__(self, sock: socket.socket, watcher: ConsoleWatcher, t0: float) -> None:
        self.sock = sock
        self.watcher = watcher
        self.t0 = t0
        self.buf = ""
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ)
        self.closed = False

    def read(self, timeout: float) -> bytes | None:
        """Bytes that arrived within ``timeout`` (b"" if none); None once the socket closed."""
        if self.closed:
            return None
        if not self.sel.select(max(0.0, timeout)):
            return b""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return None
        self.buf += data.decode("utf-8", "replace")
        return data

    def send(self, text: str) -> None:
        self.buf = ""
        self.sock.sendall(text.encode())

    def expect(
        self, patterns: list[re.Pattern[str]], timeout: float
    ) -> tuple[int, re.Match[str]] | None:
        deadline = time.monotonic() + timeout
        while True:
            for i, pat in enumerate(patterns):
                m = pat.search(self.buf)
                if m:
                    return i, m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.read(min(left, 0.5))
            if data is None:
                return None
            if data:
                self.watcher.feed(data, time.monotonic() - self.t0)

    def close(self) -> None:
        self.sel.close()
        self.sock.close()


class _Shell:
    """Commands on a logged-in serial shell, framed by markers the echo cannot contain."""

    def __init__(self, console: _Console) -> None:
        self.console = console
        self.n = 0

    def run(self, command: str, timeout: float = 30.0) -> str | None:
        self.n += 1
        tag = f"X2K{self.n}"
        # '' splits the marker in the echoed command line, so only the output matches
        self.console.send(f"echo {tag}''B; {command}; echo {tag}''E $?\r")
        got = self.console.expect(
            [re.compile(rf"{tag}B\r?\n(.*?){tag}E (\d+)", re.S)], timeout
        )
        if got is None:
            return None
        return "\n".join(clean_line(ln) for ln in got[1].group(1).splitlines())


def _login(console: _Console, user: str, password: str, opts: VerifyOptions) -> LoginReport:
    report = LoginReport(logged_in=False)
    console.send(user + "\r")
    if console.expect([re.compile(r"[Pp]assword:\s*$")], 30.0) is None:
        report.error = "no password prompt after the user name"
        return report
    console.send(password + "\r")
    got = console.expect(
        [re.compile(r"[#$]\s*$"), re.compile(r"Login incorrect"), re.compile(r"login:\s*$")],
        60.0,
    )
    if got is None or got[0] != 0:
        report.error = "login failed (wrong user or password?)"
        return report
    report.logged_in = True
    sh = _Shell(console)
    if sh.run("stty -echo cols 250 2>/dev/null; export TERM=dumb LC_ALL=C SYSTEMD_PAGER=cat;"
              " dmesg -n 1 2>/dev/null") is None:
        report.error = "the shell did not answer"
        return report
    init = sh.run("if [ -d /run/systemd/system ]; then echo systemd; else cat /proc/1/comm; fi")
    report.init_system = (init or "").strip() or None
    if report.init_system == "systemd":
        # let boot finish (networking.service, ifup) before judging units; bounded
        state = sh.run("timeout 90 systemctl is-system-running --wait 2>&1", timeout=100)
        report.system_state = (state or "").strip().splitlines()[-1] if state else None
        failed = sh.run("systemctl --failed --no-legend --plain --no-pager 2>&1")
        report.failed_units = [
            ln.split()[0] for ln in (failed or "").splitlines() if ln.strip()
        ]
    else:
        level = sh.run("runlevel 2>&1")
        report.system_state = (level or "").strip() or None
    deadline = time.monotonic() + opts.network_wait
    while True:
        addrs = sh.run("ip -4 -o addr show 2>&1") or ""
        report.interfaces = parse_interfaces(addrs)
        if any(i.name != "lo" for i in report.interfaces) or time.monotonic() > deadline:
            break
        sh.run("sleep 3", timeout=10)
    mounts = sh.run("cat /proc/mounts") or ""
    report.root_source, report.root_fstype = parse_root_mount(mounts)
    by_id = sh.run("ls -l /dev/disk/by-id/ 2>&1") or ""
    report.root_disk_index = disk_index_of(report.root_source, by_id)
    report.swaps = parse_swaps(sh.run("cat /proc/swaps") or "")
    report.fstab_swaps = parse_fstab_swaps(sh.run("cat /etc/fstab") or "")
    report.cmdline = (sh.run("cat /proc/cmdline") or "").strip() or None
    return report


def _problems(report: LoginReport, opts: VerifyOptions) -> list[str]:
    out: list[str] = []
    if not report.logged_in:
        out.append(report.error or "could not log in")
        return out
    if not any(i.name != "lo" for i in report.interfaces):
        out.append(f"no IPv4 address on any interface after {opts.network_wait:.0f} s")
    if report.root_disk_index is None:
        out.append(f"/ is mounted from {report.root_source}, not recognisably one of the disks")
    elif report.root_disk_index != opts.root_disk:
        out.append(
            f"/ is mounted from {report.root_source} (disk {report.root_disk_index}), "
            f"expected disk {opts.root_disk}"
        )
    if report.fstab_swaps and not report.swaps:
        out.append(f"fstab lists swap ({', '.join(report.fstab_swaps)}) but none is active")
    if report.failed_units:
        out.append("failed units: " + ", ".join(report.failed_units))
    return out


def run_verify(opts: VerifyOptions) -> VerifyResult:
    """Boot the guest once and return the verdict. Raises VerifyError when it cannot run."""
    t0 = time.monotonic()

    def now() -> float:
        return round(time.monotonic() - t0, 3)

    if not opts.disks:
        raise VerifyError("no guest disk given")
    if not shutil.which(opts.qemu):
        raise VerifyError(f"{opts.qemu} not found (install qemu-system-x86)")
    images = [inspect_image(p) for p in opts.disks]
    if opts.boot is None and not has_boot_code(read_first_sector(images[0])):
        raise VerifyError(
            f"{images[0].path}: no MBR boot code (a bare filesystem?): disk boot is impossible;"
            " use --boot kernel"
        )
    if opts.accel:
        accel_name, accel_reason = opts.accel, "chosen by the caller"
    else:
        acc = probe_accel(opts.qemu, opts.boot.kernel if opts.boot else None)
        accel_name, accel_reason = acc.name, acc.reason

    timings = Timings()
    watcher = ConsoleWatcher()
    predicted_silent = opts.boot is not None and not console_on_ttys0(opts.boot.cmdline)
    judge = SilenceJudge(predicted_silent=predicted_silent)
    result = VerifyResult(
        verdict=Verdict.TIMEOUT, ok=False, reason="", matched_lines=[], mode=opts.mode,
        boot="kernel" if opts.boot else "disk", accel=accel_name, accel_reason=accel_reason,
        disks=[i.path for i in images],
        kernel=opts.boot.kernel if opts.boot else None,
        initrd=opts.boot.initrd if opts.boot else None,
        cmdline=opts.boot.cmdline if opts.boot else None,
        boot_source=opts.boot.source if opts.boot else None, timings=timings,
    )
    tmp = Path(tempfile.mkdtemp(prefix="x2k-verify-"))
    proc: subprocess.Popen[bytes] | None = None
    console: _Console | None = None
    qmp: Qmp | None = None
    try:
        overlays = [make_overlay(img, tmp / f"disk{i}.qcow2") for i, img in enumerate(images)]
        cfg = QemuConfig(
            mode=opts.mode, disks=overlays, serial_socket=tmp / "serial.sock",
            qmp_socket=tmp / "qmp.sock", accel=accel_name, memory_mb=opts.memory_mb,
            kernel=opts.boot.kernel if opts.boot else None,
            initrd=opts.boot.initrd if opts.boot else None,
            append=opts.boot.cmdline if opts.boot else None,
            hostfwd=opts.hostfwd, qemu=opts.qemu,
        )
        cmd = qemu_command(cfg)
        result.qemu_command = cmd
        with open(tmp / "qemu.stderr", "wb") as errlog:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog,
                start_new_session=True, preexec_fn=die_with_parent,
            )
        timings.qemu_started = now()
        result.qemu_pid = proc.pid
        if not wait_for_socket(cfg.serial_socket, proc, 30.0):
            return _finish(result, Verdict.QEMU_ERROR, "QEMU did not start", [], tmp, t0)
        sock = _connect(cfg.serial_socket, proc, 30.0)
        if sock is None:
            return _finish(result, Verdict.QEMU_ERROR, "QEMU's serial socket refused", [], tmp, t0)
        console = _Console(sock, watcher, t0)
        if wait_for_socket(cfg.qmp_socket, proc, 30.0):
            try:
                qmp = Qmp(cfg.qmp_socket)
            except (OSError, QmpError):
                qmp = None  # without QMP only the console and the timeout decide

        detection = _watch(opts, proc, console, qmp, watcher, judge, timings, t0)
        if isinstance(detection, Detection):
            timings.verdict_at = now()
            timings.decision_delay = round(timings.verdict_at - detection.at, 3)
            result.matched_lines = [detection.line]
            if detection.verdict is Verdict.LOGIN:
                timings.login_prompt_seen = detection.at
                if opts.login:
                    report = _login(console, opts.login[0], opts.login[1], opts)
                    result.login = report
                    result.problems = _problems(report, opts)
                    has_net = any(i.name != "lo" for i in report.interfaces)
                    verdict = Verdict.NETWORK if report.logged_in and has_net else Verdict.LOGIN
                    reason = "logged in on ttyS0" if report.logged_in else "login prompt on ttyS0"
                    if verdict is Verdict.NETWORK:
                        reason += "; " + ", ".join(
                            f"{i.name} {' '.join(i.ipv4)}" for i in report.interfaces
                            if i.name != "lo"
                        )
                    return _finish(result, verdict, reason, [detection.line], tmp, t0,
                                   keep_verdict_time=True)
                return _finish(result, Verdict.LOGIN, "login prompt on ttyS0",
                               [detection.line], tmp, t0, keep_verdict_time=True)
            timings.failure_line_seen = detection.at
            return _finish(result, detection.verdict, f"console: {detection.line}",
                           [detection.line], tmp, t0, keep_verdict_time=True)
        verdict, reason, decided_at = detection
        timings.verdict_at = now()
        if decided_at is not None:
            timings.decision_delay = round(timings.verdict_at - decided_at, 3)
        return _finish(result, verdict, reason, [], tmp, t0, keep_verdict_time=True)
    finally:
        if qmp is not None:
            qmp.close()
        if proc is not None:
            kill_group(proc)
            result.qemu_stderr = _read_tail(tmp / "qemu.stderr")
        if console is not None:
            console.close()
        result.console_log = watcher.text
        result.console_tail = watcher.tail()
        result.activity = list(judge.samples)
        timings.first_console_byte = watcher.first_byte_at
        if watcher.kernel_banner_at is not None:
            timings.kernel_started = watcher.kernel_banner_at
        elif judge.kernel_seen_at is not None:
            timings.kernel_started = judge.kernel_seen_at
        timings.finished = now()
        shutil.rmtree(tmp, ignore_errors=True)


def _connect(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> socket.socket | None:
    """Connect to QEMU's listening socket. The socket file appears when QEMU binds it, a moment
    before it listens: a refused connection is retried while QEMU lives (seen under load)."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def _read_tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", "replace")
    except OSError:
        return ""


def _finish(
    result: VerifyResult, verdict: Verdict, reason: str, lines: list[str], tmp: Path, t0: float,
    *, keep_verdict_time: bool = False,
) -> VerifyResult:
    result.verdict = verdict
    result.reason = reason
    result.matched_lines = lines
    if not keep_verdict_time or result.timings.verdict_at is None:
        result.timings.verdict_at = round(time.monotonic() - t0, 3)
    if verdict is Verdict.QEMU_ERROR:
        result.qemu_stderr = _read_tail(tmp / "qemu.stderr")
        if result.qemu_stderr.strip():
            result.reason += ": " + result.qemu_stderr.strip().splitlines()[-1]
    result.ok = verdict in SUCCESS_VERDICTS and not result.problems and (
        result.login is None or verdict is Verdict.NETWORK
    )
    return result


def _watch(
    opts: VerifyOptions,
    proc: subprocess.Popen[bytes],
    console: _Console,
    qmp: Qmp | None,
    watcher: ConsoleWatcher,
    judge: SilenceJudge,
    timings: Timings,
    t0: float,
) -> Detection | tuple[Verdict, str, float | None]:
    """Read the console until something decides the boot."""
    deadline = t0 + opts.timeout
    next_sample = time.monotonic()
    seen_kernel = False
    while True:
        mono = time.monotonic()
        rel = mono - t0
        if mono >= deadline:
            if watcher.first_byte_at is None:
                return (Verdict.SILENT, f"nothing on ttyS0 within the {opts.timeout:.0f} s "
                        "timeout", None)
            return (Verdict.TIMEOUT, f"no login prompt or failure within {opts.timeout:.0f} s",
                    None)
        data = console.read(min(0.25, max(0.0, next_sample - mono), deadline - mono))
        if data is None or proc.poll() is not None:
            # QEMU went away: -no-reboot turns a guest reboot or a panic=N into an exit
            code = proc.wait(timeout=10)
            det = watcher.detection
            if det is not None:
                return det
            return (Verdict.QEMU_ERROR, f"QEMU exited with status {code}", None)
        if data:
            det = watcher.feed(data, round(rel, 3))
            if det is not None:
                return det
        if time.monotonic() >= next_sample:
            next_sample = time.monotonic() + 1.0
            if qmp is None:
                continue
            try:
                ops = disk_ops(qmp.execute("query-blockstats"))
                regs = qmp.execute("human-monitor-command", {"command-line": "info registers"})
            except (OSError, QmpError, ValueError):
                continue
            in_kernel = kernel_running(str(regs))
            seen_kernel = seen_kernel or in_kernel
            sample = Sample(round(time.monotonic() - t0, 3), ops,
                            round(process_cpu_seconds(proc.pid), 2), seen_kernel,
                            vcpu_halted(str(regs)))
            if watcher.first_byte_at is None:
                reason = judge.add(sample)
                if reason is not None:
                    return (Verdict.SILENT, reason, sample.at)

