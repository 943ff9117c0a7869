"""``xen2kvm kernel-config``: will a kernel built with this .config boot on KVM?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xen2kvm.errors import ExitCode, ParseError, Xen2KvmError
from xen2kvm.hv.kernelcfg import (
    EXPLANATION,
    KernelConfig,
    Verdict,
    assess_kernel_config,
    describe,
    fragment_text,
)
from xen2kvm.hv.model import VMMode
from xen2kvm.jsonutil import dumps

EPILOG = f"""\
{EXPLANATION}

exit codes:
  0  boots on KVM in this mode (every needed driver built in)
  1  would not boot: drivers missing, a Xen-only kernel, or drivers built as modules that the
     initramfs must carry (the report names them)
  2  error (unreadable file, not a kernel config)
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "kernel-config",
        help="check a kernel .config for the drivers KVM needs",
        description="Read a kernel .config (e.g. a guest's /boot/config-VERSION) and say, "
        "option by option, whether the kernel boots on KVM in the given mode.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG", help="kernel .config file")
    p.add_argument(
        "--mode",
        default="paravirt",
        choices=[m.value for m in VMMode],
        help="KVM mode (default: paravirt)",
    )
    p.add_argument(
        "--fragment",
        action="store_true",
        help="print only the .config lines to add so the kernel boots by itself",
    )
    p.add_argument("--json", action="store_true", help="print the assessment as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Xen2KvmError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > 16 * 1024 * 1024:
        raise ParseError("larger than 16 MiB: not a kernel config", source=str(path))
    text = raw.decode("utf-8", "surrogateescape")
    config = KernelConfig.parse(text, str(path))
    result = assess_kernel_config(config, VMMode(args.mode))
    if args.json:
        print(dumps(result))
    elif args.fragment:
        sys.stdout.write(fragment_text(result))
    else:
        print("\n".join(describe(result, str(path))))
        if result.verdict is not Verdict.BOOTS:
            print()
            print(EXPLANATION)
            if result.fragment:
                print("\nlines to add (xen2kvm kernel-config --fragment):")
                sys.stdout.write(fragment_text(result))
    return ExitCode.OK if result.boots else ExitCode.FINDINGS
