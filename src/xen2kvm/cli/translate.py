"""``xen2kvm translate``: a Xen domain configuration in, a KVM configuration out."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from xen2kvm.errors import ExitCode, UsageError, Xen2KvmError
from xen2kvm.hv import (
    BootMethod,
    OutputFormat,
    PlanOptions,
    ReadOptions,
    VMMode,
    parse_disk_map,
    read_domain_file,
    translate,
)
from xen2kvm.jsonutil import dumps

DESCRIPTION = """\
Read a Xen domain configuration (xl.cfg, xm, libvirt <domain type='xen'> XML or a Linode API v4
configuration profile) and write the KVM configuration of the same guest: disks assigned
sequentially with no gaps (xvda, xvdc -> sda, sdb; a partition-only xvda1 -> whole disk sda),
MACs kept, serial console on ttyS0, and a boot method the disk supports. Everything that cannot
be carried over is printed as a warning. The disk mapping printed here is the one
'xen2kvm convert' must apply to the guest's fstab.
"""

EPILOG = """\
boot methods:
  kernel  a kernel given to the hypervisor (--kernel, or the Xen host kernel of the domain);
          for --to linode: linode/grub2, which boots the guest's own kernel via its grub.cfg
  disk    Direct Disk: the BIOS runs the MBR of the boot disk. Refused when the disk holds a
          bare filesystem (no MBR boot code), e.g. every partition-only (xvda1) device.
  (default: what the source does, else Direct Disk when the disk has boot code)

examples:
  xen2kvm translate web1.cfg --to libvirt --out web1.xml
  xen2kvm translate web1.cfg --to qemu --mode fullvirt --kernel vmlinuz --initrd initrd.img
  xen2kvm translate profile.json --to linode --disk-path 12345=/srv/web1-root.img --json
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "translate",
        help="translate a Xen domain config into libvirt/QEMU/Proxmox/Linode KVM config",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="XEN_CONFIG", help="the Xen domain configuration file")
    p.add_argument(
        "--to", required=True, choices=[f.value for f in OutputFormat], help="output format"
    )
    p.add_argument(
        "--mode",
        default="paravirt",
        choices=[m.value for m in VMMode],
        help="KVM mode: paravirt = virtio-scsi + virtio-net (up to 8 disks), "
        "fullvirt = IDE + e1000 (up to 4) (default: paravirt)",
    )
    p.add_argument(
        "--input-format",
        default="auto",
        choices=["auto", "xl", "xm", "libvirt", "linode"],
        help="input format (default: detect; xm files are never executed)",
    )
    p.add_argument(
        "--boot",
        choices=[b.value for b in BootMethod],
        help="boot method (default: chosen from the source and the disk)",
    )
    p.add_argument(
        "--disk-map",
        metavar="XEN=KVM,...",
        help="place disks yourself, e.g. xvdb=sda,xvda=sdb (no gaps allowed)",
    )
    p.add_argument("--kernel", default="", help="kernel on the KVM host for kernel boot")
    p.add_argument("--initrd", default="", help="initrd on the KVM host for kernel boot")
    p.add_argument(
        "--cmdline",
        default="",
        help="kernel command line (default: the Xen one, devices and console rewritten)",
    )
    p.add_argument("--bridge", default="", help="bridge for every NIC (replaces Xen's)")
    p.add_argument(
        "--disk-path",
        action="append",
        default=[],
        metavar="ID=PATH",
        help="Linode input: image path of disk ID (or volume:ID); repeatable",
    )
    p.add_argument(
        "--memory",
        type=int,
        default=0,
        metavar="MIB",
        help="Linode input: memory when the profile has no memory_limit",
    )
    p.add_argument("--vcpus", type=int, default=0, help="Linode input: number of vCPUs")
    p.add_argument(
        "--no-disk-check",
        action="store_true",
        help="do not read the boot disk's first sector to check for MBR boot code",
    )
    p.add_argument("--out", metavar="FILE", help="write the configuration here, not stdout")
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON: the domain model, the output, the mapping and warnings",
    )
    p.set_defaults(func=run)


def _disk_paths(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, path = item.partition("=")
        key = key.strip()
        if not sep or not key or not path:
            raise UsageError(f"--disk-path: {item!r} is not ID=PATH")
        out[key] = path
    return out


def _write_out(path: str, text: str) -> None:
    """Write atomically so a failed run never leaves half a config behind."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".xen2kvm-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if path.endswith(".sh"):
            os.chmod(tmp, 0o755)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise Xen2KvmError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def options_from_args(args: argparse.Namespace) -> tuple[ReadOptions, PlanOptions]:
    """The reader and planner options a parsed ``translate`` command line asks for."""
    if args.initrd and not args.kernel:
        raise UsageError("--initrd needs --kernel")
    read_opts = ReadOptions(
        disk_paths=_disk_paths(args.disk_path), memory_mib=args.memory, vcpus=args.vcpus
    )
    opts = PlanOptions(
        mode=VMMode(args.mode),
        boot=BootMethod(args.boot) if args.boot else None,
        disk_map=parse_disk_map(args.disk_map) if args.disk_map else {},
        kernel=args.kernel,
        initrd=args.initrd,
        cmdline=args.cmdline,
        bridge=args.bridge,
        check_disk=not args.no_disk_check,
    )
    return read_opts, opts


def run(args: argparse.Namespace) -> int:
    read_opts, opts = options_from_args(args)
    domain = read_domain_file(args.config, args.input_format, read_opts)
    result = translate(domain, OutputFormat(args.to), opts)
    if args.out:
        _write_out(args.out, result.output)
    if args.json:
        print(dumps(result))
        return ExitCode.OK
    if not args.out:
        sys.stdout.write(result.output)
    for dev in result.mapping.devices:
        print(f"map: {dev.xen} -> {dev.kvm} (slot {dev.target})", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    return ExitCode.OK
