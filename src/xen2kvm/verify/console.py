"""Reading a serial console as it comes: failure signatures, login prompt, silence.

Pure logic, no I/O: :class:`ConsoleWatcher` is fed bytes with their arrival time and says as
soon as a line decides the boot; :class:`SilenceJudge` is fed samples of what QEMU can see
(disk operations, CPU time, where the vCPU is) and says when a guest that printed nothing on
ttyS0 will not print anything. The runner (:mod:`xen2kvm.verify.runner`) wires both to QEMU.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field


class Verdict(enum.Enum):
    """The outcome of one boot. ``LOGIN`` and ``NETWORK`` are the successes."""

    LOGIN = "login"  # a login prompt on ttyS0 (with --login: logged in, but no IPv4 address)
    NETWORK = "network"  # logged in on ttyS0 and a NIC has an IPv4 address
    NO_ROOT = "no-root"  # the root device never appeared / could not be mounted
    INITRAMFS_SHELL = "initramfs-shell"  # dropped to an initramfs or emergency shell
    PANIC = "panic"  # kernel panic (other than no root)
    NOT_KVM_KERNEL = "not-kvm-kernel"  # Linode's message for a kernel without virtio
    SILENT = "silent"  # nothing ever came on ttyS0 (console still hvc0, or a hang)
    TIMEOUT = "timeout"  # output came but no decision before the timeout
    QEMU_ERROR = "qemu-error"  # QEMU failed to start or died


#: Verdicts decided from a console line, most specific first: the first that matches a line
#: wins. "Kernel panic - not syncing: VFS: Unable to mount root fs" is no-root, not panic.
SIGNATURES: tuple[tuple[Verdict, re.Pattern[str]], ...] = tuple(
    (v, re.compile(p))
    for v, p in (
        (Verdict.NOT_KVM_KERNEL, r"This isn't a KVM kernel"),
        (Verdict.NO_ROOT, r"Gave up waiting for root"),  # initramfs-tools
        (Verdict.NO_ROOT, r"ALERT!\s+\S.* does not exist"),  # initramfs-tools
        (Verdict.NO_ROOT, r"VFS: Unable to mount root fs"),
        (Verdict.NO_ROOT, r"VFS: Cannot open root device"),
        (Verdict.NO_ROOT, r"Failed to mount \S+ as root file system"),  # initramfs-tools
        (Verdict.NO_ROOT, r"ERROR: device '[^']*' not found"),  # mkinitcpio
        (Verdict.NO_ROOT, r"dracut-initqueue.*timeout"),  # dracut
        (Verdict.NO_ROOT, r"dracut.*Could not boot"),
        (Verdict.NO_ROOT, r"Could not boot\.?\s*$"),
        (Verdict.NO_ROOT, r"Warning: /dev/\S+ does not exist"),  # dracut, before emergency
        (Verdict.INITRAMFS_SHELL, r"Dropping to a shell"),
        (Verdict.INITRAMFS_SHELL, r"^\(initramfs\)"),
        (Verdict.INITRAMFS_SHELL, r"Entering emergency mode"),
        (Verdict.INITRAMFS_SHELL, r"You are in emergency mode"),
        (Verdict.INITRAMFS_SHELL, r"Give root password for maintenance"),
        (Verdict.PANIC, r"Kernel panic"),
    )
)

#: A getty's prompt ("host login: ") ends a line without a newline.
LOGIN_PROMPT = re.compile(r"(?:^|\s)\S*\s?login:\s*$")
KERNEL_BANNER = re.compile(r"Linux version \d")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>cDEHM78]")


def clean_line(raw: str) -> str:
    """A console line without terminal escapes, carriage returns or NULs."""
    text = _ANSI.sub("", raw)
    if "\r" in text:
        # a bare CR rewrites the line: what is left visible is the last segment
        segments = [s for s in text.split("\r") if s]
        text = segments[-1] if segments else ""
    return text.replace("\x00", "").rstrip()


@dataclass
class Detection:
    """A decision taken from the console."""

    verdict: Verdict
    line: str  # the line that decided it
    at: float  # arrival time of the bytes that completed that line


@dataclass
class ConsoleWatcher:
    """Accumulates console bytes; reports the first decisive line.

    ``feed`` returns a :class:`Detection` for a failure signature or a login prompt the moment
    the bytes that complete it arrive; afterwards it keeps recording but decides nothing new
    (the first decision is the verdict).
    """

    raw: bytearray = field(default_factory=bytearray)
    lines: list[str] = field(default_factory=list)
    first_byte_at: float | None = None
    kernel_banner_at: float | None = None
    detection: Detection | None = None
    _partial: str = ""

    def feed(self, data: bytes, now: float) -> Detection | None:
        if not data:
            return None
        if self.first_byte_at is None:
            self.first_byte_at = now
        self.raw += data
        text = self._partial + data.decode("utf-8", "replace")
        *complete, self._partial = text.split("\n")
        found: Detection | None = None
        for raw_line in complete:
            line = clean_line(raw_line)
            self.lines.append(line)
            found = found or self._judge(line, now, complete_line=True)
        if found is None:
            found = self._judge(clean_line(self._partial), now, complete_line=False)
        if found is not None and self.detection is None:
            self.detection = found
            return found
        return None

    def _judge(self, line: str, now: float, *, complete_line: bool) -> Detection | None:
        if not line:
            return None
        if self.kernel_banner_at is None and KERNEL_BANNER.search(line):
            self.kernel_banner_at = now
        for verdict, pattern in SIGNATURES:
            if pattern.search(line):
                return Detection(verdict, line, now)
        if not complete_line and LOGIN_PROMPT.search(line):
            return Detection(Verdict.LOGIN, line, now)
        return None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def tail(self, n: int = 25) -> list[str]:
        """The last ``n`` lines (the partial line included)."""
        lines = [*self.lines, clean_line(self._partial)] if self._partial else list(self.lines)
        return lines[-n:]


def console_on_ttys0(cmdline: str) -> bool:
    """Whether the kernel will print on the first serial port with this command line.

    No ``console=`` at all means the kernel uses the first VGA/serial it registers (tty0 on a
    PC), so only an explicit ``console=ttyS0`` (or an earlycon/uart on 0x3f8) counts.
    """
    for word in cmdline.split():
        if word.startswith("console="):
            dev = word[len("console=") :].split(",")[0]
            if dev == "ttyS0" or (dev.startswith("uart") and "0x3f8" in word):
                return True
    return False


@dataclass
class Sample:
    """What QEMU shows at one moment (seconds since verify started)."""

    at: float
    disk_ops: int  # read + write operations on every guest disk so far
    cpu_seconds: float  # CPU time QEMU has used so far (reported, not judged: host load skews it)
    kernel_running: bool  # the vCPU has been seen executing in the kernel's address range
    halted: bool  # the vCPU was in HLT (waiting for an interrupt) at this moment


@dataclass
class SilenceJudge:
    """Decides "silent" for a guest that has printed nothing on ttyS0.

    Silence alone is not a verdict: a guest may still be decompressing its kernel. It becomes
    one when the guest has gone quiet: no disk operation for ``window`` seconds while its vCPU
    was found halted in most samples (an idle guest waits in HLT; a working one rarely is).
    The vCPU's state is used rather than QEMU's CPU time because a loaded host starves QEMU
    and makes a busy guest look idle. When the boot command line is known to have no console
    on ttyS0 and the kernel is seen running, the outcome is predictable and the shorter
    ``predicted_window`` is enough: no kernel message can come, and a getty on ttyS0 would need
    the root disk first (hence disk activity).
    """

    predicted_silent: bool
    window: float = 20.0
    predicted_window: float = 8.0
    halted_fraction: float = 0.7
    samples: list[Sample] = field(default_factory=list)
    kernel_seen_at: float | None = None

    def add(self, sample: Sample) -> str | None:
        """Record a sample; returns the reason for a "silent" verdict, or None."""
        self.samples.append(sample)
        if sample.kernel_running and self.kernel_seen_at is None:
            self.kernel_seen_at = sample.at
        predicted = self.predicted_silent and self.kernel_seen_at is not None
        window = self.predicted_window if predicted else self.window
        # the disk must have been still for the whole window ...
        still_since = sample.at
        for earlier in reversed(self.samples[:-1]):
            if earlier.disk_ops != sample.disk_ops:
                break
            still_since = earlier.at
        if sample.at - still_since < window:
            return None
        # ... and the vCPU mostly halted during it
        recent = [s for s in self.samples if s.at >= sample.at - window]
        halted = sum(1 for s in recent if s.halted) / len(recent)
        if halted < self.halted_fraction:
            return None
        idle = (
            f"the guest has been idle for {sample.at - still_since:.0f} s (no disk I/O, "
            f"vCPU halted in {halted:.0%} of samples)"
        )
        if predicted:
            return f"the kernel is running with no console on ttyS0 in its command line; {idle}"
        where = "after the kernel started" if self.kernel_seen_at is not None else (
            "and the kernel was never seen running"
        )
        return f"nothing on ttyS0; {idle} {where}"
