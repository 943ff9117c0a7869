"""``xen2kvm verify``: boot a guest under QEMU as a KVM host would and report a verdict."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from xen2kvm.errors import ExitCode, GuestError, UsageError, VerifyError
from xen2kvm.jsonutil import dumps
from xen2kvm.verify.bootspec import BootSpec, check_kernel_image, check_mode, materialise
from xen2kvm.verify.console import Verdict
from xen2kvm.verify.qemu import MODES
from xen2kvm.verify.runner import VerifyOptions, VerifyResult, run_verify

DESCRIPTION = """\
Boot the guest's disks (in assignment order: sda, sdb, ...) under QEMU with the devices of a
KVM mode and read its serial console (ttyS0) as it comes. The disks are never written: QEMU
boots from copy-on-write overlays. A failure line on the console ends the run at once.

verdicts: login, network (success); no-root, initramfs-shell, panic, not-kvm-kernel, silent
(nothing on ttyS0), timeout, qemu-error (failures).
exit code: 0 if the guest booted as asked (login; with --login: network and no problems),
1 for a failed boot, 2 if verify could not run (bad image, no kernel, bad options,
qemu-error)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "verify",
        help="boot a guest under QEMU and check it reaches a login (and network)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("disks", nargs="+", metavar="GUEST",
                   help="disk images (raw or qcow2) in assignment order; the first is root")
    p.add_argument("--mode", choices=MODES, required=True,
                   help="paravirt: virtio-scsi disks + virtio-net; fullvirt: IDE disks + e1000")
    p.add_argument("--boot", choices=("kernel", "disk"), default="kernel",
                   help="kernel: the guest's own kernel/initrd/cmdline from its default boot "
                   "entry (or --kernel); disk: BIOS boot from the first disk's MBR "
                   "(default: kernel)")
    p.add_argument("--kernel", help="boot this kernel file instead of the guest's")
    p.add_argument("--initrd", help="with --kernel: this initrd")
    p.add_argument("--append", help="kernel command line (default: the boot entry's)")
    p.add_argument("--login", metavar="USER:PASS",
                   help="log in on ttyS0 and check network, root device, swap, failed units")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="give up after this many seconds (default 300)")
    p.add_argument("--memory", type=int, default=1024, metavar="MB",
                   help="guest memory in MB (default 1024)")
    p.add_argument("--hostfwd", action="append", default=[], metavar="HOSTPORT:GUESTPORT",
                   help="forward 127.0.0.1:HOSTPORT to the guest's GUESTPORT (TCP); repeatable")
    p.add_argument("--root-disk", type=int, default=0, metavar="N",
                   help="index of the disk / must be mounted from (default 0)")
    p.add_argument("--accel", choices=("kvm", "tcg"),
                   help="force an accelerator (default: KVM if a probe boot works, else TCG)")
    p.add_argument("--console-log", metavar="FILE", help="save the full console log here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _parse_login(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise UsageError("--login takes USER:PASS")
    return user, password


def _parse_hostfwd(values: list[str]) -> list[tuple[int, int]]:
    out = []
    for v in values:
        try:
            host, guest = (int(x) for x in v.split(":"))
        except ValueError:
            raise UsageError(f"--hostfwd takes HOSTPORT:GUESTPORT, got {v!r}") from None
        if not (0 < host < 65536 and 0 < guest < 65536):
            raise UsageError(f"--hostfwd: port out of range in {v!r}")
        out.append((host, guest))
    return out


def kernel_boot_spec(disks: list[str], mode: str, dest: Path, append: str | None) -> BootSpec:
    """Read the default boot entry from the guest's images and copy its kernel out."""
    from xen2kvm.guest import open_guest
    from xen2kvm.verify.bootspec import boot_spec_from_guest

    with open_guest(disks, read_only=True) as guest:
        spec = boot_spec_from_guest(guest)
        check_mode(guest, spec, mode)
        spec = materialise(guest, spec, dest)
    if append is not None:
        spec = BootSpec(spec.kernel, spec.initrd, append, spec.source + " (--append)", spec.title)
    return spec


def explicit_boot_spec(kernel: str, initrd: str | None, append: str | None) -> BootSpec:
    for path in (kernel, initrd):
        if path is not None and not Path(path).is_file():
            raise VerifyError(f"{path}: no such file")
    with open(kernel, "rb") as f:
        check_kernel_image(f.read(0x400), kernel)
    return BootSpec(str(Path(kernel).resolve()),
                    str(Path(initrd).resolve()) if initrd else None,
                    append or "", "command line")


def run(args: argparse.Namespace) -> int:
    login = _parse_login(args.login)
    hostfwd = _parse_hostfwd(args.hostfwd)
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.boot == "disk" and (args.kernel or args.initrd or args.append is not None):
        raise UsageError("--kernel/--initrd/--append only apply to --boot kernel")
    if args.initrd and not args.kernel:
        raise UsageError("--initrd needs --kernel")
    for d in args.disks:
        if not Path(d).exists():
            raise VerifyError(f"{d}: no such file")
    with tempfile.TemporaryDirectory(prefix="x2k-boot-") as tmp:
        boot: BootSpec | None = None
        if args.boot == "kernel":
            if args.kernel:
                boot = explicit_boot_spec(args.kernel, args.initrd, args.append)
            else:
                try:
                    boot = kernel_boot_spec(args.disks, args.mode, Path(tmp), args.append)
                except GuestError as exc:
                    raise VerifyError(f"cannot take the kernel from the guest: {exc}") from exc
        opts = VerifyOptions(
            disks=list(args.disks), mode=args.mode, boot=boot, login=login,
            timeout=args.timeout, memory_mb=args.memory, hostfwd=hostfwd,
            root_disk=args.root_disk, accel=args.accel,
        )
        # SIGTERM must unwind through run_verify's cleanup (QEMU is killed in a finally)
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            result = run_verify(opts)
        finally:
            signal.signal(signal.SIGTERM, previous)
    if args.console_log:
        try:
            Path(args.console_log).write_text(result.console_log)
        except OSError as exc:
            raise VerifyError(f"cannot write {args.console_log}: {exc}") from exc
    if args.json:
        print(dumps(result))
    else:
        print_human(result, args.console_log)
    if result.verdict is Verdict.QEMU_ERROR:
        return ExitCode.ERROR
    return ExitCode.OK if result.ok else ExitCode.FINDINGS


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _fmt(t: float | None) -> str:
    return "-" if t is None else f"{t:.1f}s"


def print_human(result: VerifyResult, log_path: str | None) -> None:
    out = sys.stdout
    status = "OK" if result.ok else "FAILED"
    print(f"verdict: {result.verdict.value} ({status}) - {result.reason}", file=out)
    print(f"mode: {result.mode}, boot: {result.boot}, accel: {result.accel} "
          f"({result.accel_reason})", file=out)
    if result.cmdline is not None:
        print(f"command line: {result.cmdline}  [{result.boot_source}]", file=out)
    t = result.timings
    print(f"timings: qemu {_fmt(t.qemu_started)}, kernel {_fmt(t.kernel_started)}, "
          f"first console byte {_fmt(t.first_console_byte)}, failure line "
          f"{_fmt(t.failure_line_seen)}, login prompt {_fmt(t.login_prompt_seen)}, verdict "
          f"{_fmt(t.verdict_at)} (decided {_fmt(t.decision_delay)} after the evidence)",
          file=out)
    for line in result.matched_lines:
        print(f"  > {line}", file=out)
    if result.login is not None:
        lr = result.login
        nets = ", ".join(f"{i.name}={'/'.join(i.ipv4)}" for i in lr.interfaces) or "none"
        print(f"login: {'yes' if lr.logged_in else 'no'}; interfaces: {nets}; / from "
              f"{lr.root_source} (disk {lr.root_disk_index}); swap: "
              f"{', '.join(lr.swaps) or 'none'}; init: {lr.init_system} "
              f"({lr.system_state}); failed units: "
              f"{'n/a' if lr.failed_units is None else ', '.join(lr.failed_units) or 'none'}",
              file=out)
    for p in result.problems:
        print(f"problem: {p}", file=out)
    if result.verdict not in (Verdict.LOGIN, Verdict.NETWORK) and result.console_tail:
        print("console (last lines):", file=out)
        for line in result.console_tail[-10:]:
            print(f"  | {line}", file=out)
    if log_path:
        print(f"console log: {log_path}", file=out)
