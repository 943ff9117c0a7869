"""QEMU for verify: the command line of each mode, the KVM probe, overlays, a small QMP client.

Every QEMU we start runs in its own process group so it can always be reaped.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xen2kvm.errors import UsageError, VerifyError

QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
MODES = ("paravirt", "fullvirt")
#: Linode fullvirt has four IDE slots (sda..sdd); the PIIX controller has two buses of two.
MAX_IDE_DISKS = 4
MAX_SCSI_DISKS = 8
#: Disk serial numbers: the guest sees them in /dev/disk/by-id, which tells which of our
#: disks the guest mounted as /.
DISK_SERIAL = "x2kdisk{}"
GUEST_MAC = "52:54:00:12:34:56"


@dataclass(frozen=True)
class Accel:
    """The accelerator to use and why."""

    name: str  # "kvm" or "tcg"
    reason: str


# A boot sector that goes from real mode to 32-bit protected mode to 64-bit long mode with
# paging, then writes 1 to isa-debug-exit (port 0xf4): QEMU exits with status (1 << 1) | 1 = 3.
# Assembled from tools/kvm-probe.S (GNU as, linked at 0x7c00).
_PROBE_CODE = bytes.fromhex(
    "fa31c08ed88ed0bc007c0f0116b07c0f20c06683c8010f22c066ea217c0000080066b810008ed88ec08ed0bf"
    "0010000031c0b9000c0000f3abc7050010000003200000c7050020000003300000c705003000008300000"
    "00f20e083c8200f22e0b8001000000f22d8b9800000c00f320d000100000f300f20c00d000000800f22c0"
    "ea887c00001800b001e6f4f4ebfd900000000000000000ffff0000009acf00ffff00000092cf00ffff0000"
    "009aaf001f00907c0000"
)
_PROBE_BOOT_SECTOR = _PROBE_CODE.ljust(510, b"\0") + b"\x55\xaa"
_PROBE_EXIT_STATUS = 3


def die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the process that started us dies, so a
    QEMU cannot outlive a verify that was itself killed (no ``finally`` runs on SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the process group kill still applies
        pass


def _popen_quiet(cmd: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, preexec_fn=die_with_parent,
    )


def run_tiny_guest(accel: str, *, qemu: str = QEMU, timeout: float = 15.0) -> tuple[bool, str]:
    """Boot a one-sector guest that reaches long mode and exits QEMU. (ok, detail)."""
    with tempfile.TemporaryDirectory(prefix="x2k-probe-") as tmp:
        disk = Path(tmp) / "probe.img"
        disk.write_bytes(_PROBE_BOOT_SECTOR)
        cmd = [
            qemu, "-accel", accel, "-machine", "pc", "-nodefaults", "-no-user-config",
            "-display", "none", "-m", "16", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-drive", f"file={disk},format=raw,if=ide,index=0", "-boot", "c",
        ]
        try:
            proc = _popen_quiet(cmd)
        except OSError as exc:
            return False, f"cannot run {qemu}: {exc}"
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"a test guest under {accel} did not finish within {timeout:.0f} s"
        finally:
            kill_group(proc)
        if proc.returncode == _PROBE_EXIT_STATUS:
            return True, f"a test guest reached long mode under {accel}"
        lines = err.decode(errors="replace").strip().splitlines()
        return False, f"test guest under {accel} exited {proc.returncode}: " + (
            lines[-1] if lines else "no message"
        )


def run_probe_kernel(
    accel: str, kernel: str, *, qemu: str = QEMU, timeout: float = 20.0
) -> tuple[bool, str]:
    """Boot a real Linux kernel without root device to its panic (a known point). (ok, detail).

    Some hosts run trivial guests under KVM but hang a real kernel early (seen here: the
    decompressor stops after "Invalid physical address chosen!"), so a kernel must get through
    its whole start-up: it panics for want of a root fs and, with panic=-1 and -no-reboot,
    QEMU exits.
    """
    cmd = [
        qemu, "-accel", accel, "-machine", "pc", "-nodefaults", "-no-user-config",
        "-display", "none", "-m", "256", "-no-reboot", "-serial", "stdio",
        "-kernel", kernel, "-append", "console=ttyS0 panic=-1 loglevel=4",
    ]
    try:
        proc = _popen_quiet(cmd)
    except OSError as exc:
        return False, f"cannot run {qemu}: {exc}"
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"a Linux kernel under {accel} did not reach its panic in {timeout:.0f} s"
    finally:
        kill_group(proc)
    if b"Kernel panic" in out:
        return True, f"a Linux kernel ran to its end under {accel}"
    return False, f"a Linux kernel under {accel} exited {proc.returncode} without panicking"


def host_probe_kernel() -> str | None:
    """A kernel to probe KVM with: the host's running one if /boot has it, else any."""
    running = Path(f"/boot/vmlinuz-{os.uname().release}")
    if running.is_file() and os.access(running, os.R_OK):
        return str(running)
    others = sorted(Path("/boot").glob("vmlinuz-*"))
    readable = [str(p) for p in others if os.access(p, os.R_OK)]
    return readable[-1] if readable else None


@functools.cache
def probe_accel(qemu: str = QEMU, kernel: str | None = None) -> Accel:
    """KVM if a guest really runs under it, else TCG. Cached per process, binary and kernel.

    ``/dev/kvm`` existing is not enough (here it exists, a boot sector reaches long mode, and
    a Linux kernel hangs while decompressing), so a real kernel (``kernel``, else the host's)
    must reach a known point within a timeout. ``XEN2KVM_ACCEL=kvm|tcg`` skips the probe.
    """
    forced = os.environ.get("XEN2KVM_ACCEL")
    if forced in ("kvm", "tcg"):
        return Accel(forced, "forced by XEN2KVM_ACCEL")
    if not os.path.exists("/dev/kvm"):
        return Accel("tcg", "/dev/kvm does not exist")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return Accel("tcg", "/dev/kvm is not accessible to this user")
    ok, detail = run_tiny_guest("kvm", qemu=qemu, timeout=10.0)
    if not ok:
        return Accel("tcg", f"KVM unusable: {detail}")
    kernel = kernel or host_probe_kernel()
    if kernel is None:
        return Accel("kvm", detail + " (no kernel available for a fuller probe)")
    ok, detail = run_probe_kernel("kvm", kernel, qemu=qemu, timeout=15.0)
    return Accel("kvm", detail) if ok else Accel("tcg", f"KVM unusable: {detail}")


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill a process started with start_new_session=True, its whole group, and reap it."""
    # Also when the leader already exited: children of its group must not survive it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@dataclass(frozen=True)
class DiskImage:
    path: str
    format: str  # raw | qcow2 | ...
    virtual_size: int


def inspect_image(path: str) -> DiskImage:
    """Format and size of an image, through qemu-img; a clear error if it is not usable."""
    if not os.path.exists(path):
        raise VerifyError(f"{path}: no such file")
    if os.path.isdir(path):
        raise VerifyError(f"{path}: is a directory, not a disk image")
    if not shutil.which(QEMU_IMG):
        raise VerifyError(f"{QEMU_IMG} not found (install qemu-utils)")
    proc = subprocess.run(
        [QEMU_IMG, "info", "--output=json", path], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()
        why = msg[-1] if msg else "qemu-img failed"
        raise VerifyError(f"{path}: not a usable disk image: {why}")
    info = json.loads(proc.stdout)
    fmt = str(info.get("format", "raw"))
    size = int(info.get("virtual-size", 0))
    if size < 512:
        raise VerifyError(f"{path}: empty or truncated disk image ({size} bytes)")
    if fmt not in ("raw", "qcow2"):
        raise VerifyError(f"{path}: unsupported image format {fmt} (raw or qcow2 only)")
    if fmt == "qcow2":
        check = subprocess.run(
            [QEMU_IMG, "check", "-q", "-f", "qcow2", path],
            capture_output=True, text=True, timeout=300,
        )
        # 1: corruptions, 3: leaked clusters only (harmless); 2/63: check failed
        if check.returncode in (1, 2):
            why = check.stderr.strip() or "check failed"
            raise VerifyError(f"{path}: corrupt qcow2 image ({why})")
    return DiskImage(os.path.abspath(path), fmt, size)


def make_overlay(image: DiskImage, dest: Path) -> Path:
    """A qcow2 overlay backed by ``image``: the guest writes there, never to the image."""
    proc = subprocess.run(
        [QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", image.path, "-F", image.format,
         str(dest)],
        capture_output=True, text=True, timeout=60,
    )
    if proc.returncode != 0:
        raise VerifyError(f"cannot create an overlay for {image.path}: {proc.stderr.strip()}")
    return dest


def read_first_sector(image: DiskImage) -> bytes:
    """The MBR of an image, without writing anything."""
    if image.format == "raw":
        with open(image.path, "rb") as f:
            return f.read(512)
    with tempfile.TemporaryDirectory(prefix="x2k-mbr-") as tmp:
        out = Path(tmp) / "mbr"
        proc = subprocess.run(
            [QEMU_IMG, "dd", "-f", image.format, "-O", "raw", "bs=512", "count=1",
             f"if={image.path}", f"of={out}"],
            capture_output=True, text=True, timeout=60,
        )
        if proc.returncode != 0:
            raise VerifyError(f"{image.path}: cannot read its first sector: {proc.stderr.strip()}")
        return out.read_bytes()[:512]


def has_boot_code(mbr: bytes) -> bool:
    """An MBR with the boot signature and some code in it (a bare filesystem has neither)."""
    return len(mbr) == 512 and mbr[510:512] == b"\x55\xaa" and any(mbr[:440])


@dataclass
class QemuConfig:
    """Everything that decides the QEMU command line of one verify boot."""

    mode: str
    disks: list[Path]  # overlays, in assignment order
    serial_socket: Path
    qmp_socket: Path
    accel: str = "tcg"
    memory_mb: int = 1024
    cpus: int = 1
    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None
    hostfwd: list[tuple[int, int]] = field(default_factory=list)  # (host port, guest port)
    qemu: str = QEMU


def qemu_command(cfg: QemuConfig) -> list[str]:
    """The QEMU argument list for a verify boot (Linode's device models per mode)."""
    if cfg.mode not in MODES:
        raise UsageError(f"unknown mode {cfg.mode!r} (paravirt or fullvirt)")
    if not cfg.disks:
        raise UsageError("no disk to boot")
    if cfg.mode == "fullvirt" and len(cfg.disks) > MAX_IDE_DISKS:
        raise UsageError(f"fullvirt has at most {MAX_IDE_DISKS} IDE disks, got {len(cfg.disks)}")
    if cfg.mode == "paravirt" and len(cfg.disks) > MAX_SCSI_DISKS:
        raise UsageError(f"paravirt has at most {MAX_SCSI_DISKS} disks, got {len(cfg.disks)}")
    cmd = [
        cfg.qemu, "-nodefaults", "-no-user-config", "-machine", f"pc,accel={cfg.accel}",
        "-m", str(cfg.memory_mb), "-smp", str(cfg.cpus), "-display", "none", "-no-reboot",
        "-chardev", f"socket,id=ser0,path={cfg.serial_socket},server=on,wait=on",
        "-serial", "chardev:ser0",
        "-chardev", f"socket,id=qmp0,path={cfg.qmp_socket},server=on,wait=off",
        "-mon", "chardev=qmp0,mode=control",
    ]
    if cfg.mode == "paravirt":
        cmd += ["-device", "virtio-scsi-pci,id=scsi0"]
    for i, disk in enumerate(cfg.disks):
        cmd += ["-drive", f"file={disk},format=qcow2,if=none,id=disk{i},cache=unsafe"]
        serial = DISK_SERIAL.format(i)
        # -kernel takes boot index 0 itself; a disk boot starts from the first disk
        boot = ",bootindex=0" if i == 0 and not cfg.kernel else ""
        if cfg.mode == "paravirt":
            cmd += ["-device",
                    f"scsi-hd,drive=disk{i},bus=scsi0.0,channel=0,scsi-id={i},lun=0,"
                    f"serial={serial}" + boot]
        else:
            cmd += ["-device",
                    f"ide-hd,drive=disk{i},bus=ide.{i // 2},unit={i % 2},serial={serial}"
                    + boot]
    netdev = "user,id=n0,restrict=on"
    for host_port, guest_port in cfg.hostfwd:
        netdev += f",hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}"
    nic = "virtio-net-pci" if cfg.mode == "paravirt" else "e1000"
    cmd += ["-netdev", netdev, "-device", f"{nic},netdev=n0,mac={GUEST_MAC}"]
    if cfg.kernel:
        cmd += ["-kernel", cfg.kernel]
        if cfg.initrd:
            cmd += ["-initrd", cfg.initrd]
        cmd += ["-append", cfg.append or ""]
    return cmd


class QmpError(Exception):
    pass


class Qmp:
    """A minimal synchronous QMP client (JSON lines over a unix socket).

    Written by hand because the only library for it (qemu.qmp) is asyncio-based while the
    runner is a plain selector loop over the console; we need three commands.
    """

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self._buf = b""
        self._read_message()  # greeting
        self.execute("qmp_capabilities")

    def _read_message(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QMP connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg: dict[str, Any] = json.loads(line)
        return msg

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        req: dict[str, Any] = {"execute": command}
        if arguments:
            req["arguments"] = arguments
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self._read_message()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise QmpError(f"{command}: {msg['error'].get('desc', msg['error'])}")
            # asynchronous events are skipped

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def disk_ops(blockstats: Sequence[dict[str, Any]]) -> int:
    """Total read+write operations over every guest disk (query-blockstats)."""
    total = 0
    for dev in blockstats:
        stats = dev.get("stats", {})
        total += int(stats.get("rd_operations", 0)) + int(stats.get("wr_operations", 0))
    return total


def vcpu_halted(registers: str) -> bool:
    """Whether HMP ``info registers`` shows the vCPU halted (``HLT=1``)."""
    return "HLT=1" in registers


def kernel_running(registers: str) -> bool:
    """Whether HMP ``info registers`` shows a 64-bit vCPU in the kernel's upper-half addresses.

    Only long mode counts: 32-bit firmware (SeaBIOS's init code at 0xfffc0000) would look
    like a 32-bit kernel's 0xc0000000 range.
    """
    for word in registers.split():
        if word.startswith("RIP="):
            try:
                return int(word[4:], 16) >= 0xFFFF800000000000
            except ValueError:
                return False
    return False


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user+system) a process has used, from /proc (0.0 if unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def wait_for_socket(path: Path, proc: subprocess.Popen[Any], timeout: float) -> bool:
    """Wait until QEMU has created a listening socket (False if QEMU exited first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if path.exists():
            return True
        time.sleep(0.02)
    return False
