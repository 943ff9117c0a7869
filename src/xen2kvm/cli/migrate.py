"""``xen2kvm migrate``: the "Upgrade to KVM" button for one Xen domain.

Read the Xen configuration, find its disks, convert the guest in place with the disk mapping
of the translation (the same xvdX -> sdX the KVM configuration uses), write the KVM
configurations, and optionally boot the result and report.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from xen2kvm.checks import ConvertOptions, Mode
from xen2kvm.cli.convert import convert_paths
from xen2kvm.cli.translate import options_from_args
from xen2kvm.errors import ExitCode, GuestError, RefusedError, UsageError
from xen2kvm.hv import BootMethod, OutputFormat, plan_kvm, read_domain_file, translate
from xen2kvm.hv.mapping import build_mapping, parse_disk_map
from xen2kvm.jsonutil import to_jsonable
from xen2kvm.verify.bootspec import BootSpec

SCHEMA = "xen2kvm.migrate/1"
SUFFIX = {
    OutputFormat.LIBVIRT: ".xml",
    OutputFormat.QEMU: ".sh",
    OutputFormat.PROXMOX: ".proxmox.conf",
    OutputFormat.LINODE: ".linode.json",
}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "migrate",
        help="convert a Xen domain's disks and write its KVM configurations (one step)",
        description="Read XEN_CONFIG (xl, xm, libvirt Xen XML or a Linode profile), convert "
        "the guest's disks in place with the translation's disk mapping, write the KVM "
        "configurations (libvirt XML, QEMU script, Proxmox, Linode profile) into --out, and "
        "with --verify boot the result under QEMU. Exit 0: converted (and booted, with "
        "--verify); 1: blocking findings remain or the boot failed; 2: error; 3: refused.",
    )
    p.add_argument("config", metavar="XEN_CONFIG", help="the Xen domain configuration file")
    p.add_argument("--mode", default=Mode.PARAVIRT.value, choices=[m.value for m in Mode])
    p.add_argument("--out", required=True, metavar="DIR", help="where to write KVM configs")
    p.add_argument(
        "--input-format", default="auto", choices=["auto", "xl", "xm", "libvirt", "linode"]
    )
    p.add_argument("--boot", choices=["kernel", "disk"], help="boot method (default: chosen)")
    p.add_argument("--disk-map", metavar="XEN=KVM,...", help="place disks yourself")
    p.add_argument(
        "--disk-path",
        action="append",
        default=[],
        metavar="ID=PATH",
        help="Linode input: image path of disk ID; repeatable",
    )
    p.add_argument("--bridge", default="", help="bridge for every NIC")
    p.add_argument("--memory", type=int, default=0, metavar="MIB", help="Linode input memory")
    p.add_argument("--vcpus", type=int, default=0, help="Linode input vCPUs")
    p.add_argument("--literal-names", action="store_true", help="keep /dev/sdX, no UUID=")
    p.add_argument("--force", action="store_true", help="convert even if it would not boot")
    p.add_argument("--backend", default="auto", choices=("auto", "fuse2fs", "libguestfs"))
    p.add_argument("--verify", action="store_true", help="boot the result under QEMU")
    p.add_argument("--login", metavar="USER:PASS", help="with --verify: log in and check")
    p.add_argument("--timeout", type=int, default=600, help="with --verify: seconds")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    def say(msg: str) -> None:
        if not args.quiet and not args.json:
            print(f"  .. {msg}", file=sys.stderr)

    ns = argparse.Namespace(
        mode=args.mode,
        boot=args.boot,
        disk_map=args.disk_map,
        kernel="",
        initrd="",
        cmdline="",
        bridge=args.bridge,
        disk_path=args.disk_path,
        memory=args.memory,
        vcpus=args.vcpus,
        no_disk_check=False,
    )
    read_opts, plan_opts = options_from_args(ns)
    say(f"reading {args.config}")
    domain = read_domain_file(args.config, args.input_format, read_opts)
    overrides = parse_disk_map(args.disk_map) if args.disk_map else None
    mapping = build_mapping(domain.disks, Mode(args.mode), overrides, source=args.config)
    devices = [d for d in mapping.devices if not d.cdrom]
    if not devices:
        raise GuestError(f"{args.config}: the domain has no disk to convert")
    paths = [Path(d.source) for d in devices]
    for p in paths:
        if not p.exists():
            raise GuestError(f"{p}: disk of {args.config} not found")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from exc

    say(f"converting {', '.join(map(str, paths))} ({args.mode})")
    options = ConvertOptions(
        mode=Mode(args.mode),
        disk_map=mapping,
        use_uuids=not args.literal_names,
        force=args.force,
    )
    report = convert_paths(paths, options, backend=args.backend, progress=say)

    try:
        plan_kvm(domain, plan_opts)
    except RefusedError:
        if args.boot == "disk":
            raise
        # A bare filesystem has no MBR to boot and the domain names no host kernel: boot the
        # guest's own (converted) kernel and initrd, copied out next to the configs, like
        # Linode's GRUB 2 mode.
        say("copying the guest's kernel and initrd out for kernel boot")
        spec = guest_kernel(paths, args.mode, out)
        plan_opts = dataclasses.replace(
            plan_opts,
            boot=BootMethod.KERNEL,
            kernel=spec.kernel,
            initrd=spec.initrd or "",
            cmdline=spec.cmdline,
        )
    written: dict[str, str] = {}
    warnings: list[str] = []
    name = domain.name or Path(args.config).stem
    for fmt, suffix in SUFFIX.items():
        t = translate(domain, fmt, plan_opts)
        target = out / f"{name}{suffix}"
        target.write_text(t.output)
        if fmt is OutputFormat.QEMU:
            target.chmod(0o755)
        written[fmt.value] = str(target)
        warnings += [w for w in t.warnings if w not in warnings]

    verdict: dict[str, Any] | None = None
    if args.verify:
        verdict = _verify(args, [str(p) for p in paths], say)

    blocking = report.blocking_remaining
    ok = not blocking and (verdict is None or bool(verdict.get("ok")))
    summary = {
        "schema": SCHEMA,
        "config": args.config,
        "mode": args.mode,
        "disks": [{"xen": d.xen, "kvm": d.kvm, "source": d.source} for d in mapping.devices],
        "changed": report.applied,
        "image_undo": report.image_undo,
        "remaining": to_jsonable(report.remaining),
        "configs": written,
        "warnings": warnings,
        "verify": verdict,
        "ok": ok,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"migrated {args.config} -> KVM ({args.mode})")
        for d in mapping.devices:
            print(f"  disk {d.xen} -> {d.kvm}: {d.source}")
        print(
            f"  changed {len(report.applied)} file(s) in the guest"
            + (" (undo: xen2kvm rollback)" if report.applied else "")
        )
        for f in report.remaining:
            print(f"  remaining [{f.severity.value}] {f.check}: {f.summary}")
        for kind, path in written.items():
            print(f"  {kind}: {path}")
        for w in warnings:
            print(f"  warning: {w}")
        if verdict is not None:
            print(f"  verify: {verdict.get('verdict')} ({verdict.get('reason')})")
        print("  verdict: " + ("READY" if ok else "NOT READY"))
    return ExitCode.OK if ok else ExitCode.FINDINGS


def guest_kernel(paths: list[Path], mode: str, out: Path) -> BootSpec:
    from xen2kvm.cli.verify import kernel_boot_spec

    dest = out / "boot"
    dest.mkdir(exist_ok=True)
    return kernel_boot_spec([str(p) for p in paths], mode, dest, None)


def _verify(args: argparse.Namespace, disks: list[str], say: Any) -> dict[str, Any]:
    from xen2kvm.cli.verify import _parse_login, kernel_boot_spec
    from xen2kvm.verify.runner import VerifyOptions, run_verify

    say("booting the converted guest under QEMU")
    with tempfile.TemporaryDirectory(prefix="x2k-migrate-") as tmp:
        boot = None if args.boot == "disk" else kernel_boot_spec(disks, args.mode, Path(tmp), None)
        result = run_verify(
            VerifyOptions(
                disks=disks,
                mode=args.mode,
                boot=boot,
                login=_parse_login(args.login),
                timeout=args.timeout,
            )
        )
    doc: dict[str, Any] = to_jsonable(result)
    doc.pop("console_log", None)
    return doc
