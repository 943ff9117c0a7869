"""The ``xen2kvm`` command line. Thin: every command is a library call plus printing.

Each command lives in its own module under ``xen2kvm.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning an exit code. Errors derived from ``Xen2KvmError`` become one
line on stderr and their documented exit code; anything else is a bug (exit 70), shown with a
traceback only when ``XEN2KVM_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from xen2kvm import __version__
from xen2kvm.errors import ExitCode, Xen2KvmError

# Order here is the order in --help.
COMMAND_MODULES = (
    "inspect",
    "convert",
    "rollback",
    "translate",
    "kernel_config",
    "verify",
    "migrate",
    "import_",
)

EPILOG = """\
exit codes:
  0   success (inspect: guest is KVM-ready; verify: the guest booted as asked)
  1   findings remain (inspect/convert) or the guest failed to boot (verify)
  2   error: bad input, unreadable guest, bad usage
  3   refused: the result could not work (e.g. no KVM-capable kernel); see --force
  70  internal error (a bug; rerun with XEN2KVM_DEBUG=1 for a traceback)
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit 2, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.ERROR, f"xen2kvm: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="xen2kvm",
        description="Move Linux guests from Xen to KVM: inspect, convert, translate, verify.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xen2kvm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"xen2kvm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"xen2kvm.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser





def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        print("xen2kvm: error: no command given (see 'xen2kvm --help')", file=sys.stderr)
        return ExitCode.ERROR
    try:
        code: int = args.func(args)
        return code
    except Xen2KvmError as exc:
        print(f"xen2kvm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("xen2kvm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # a bug: say so in one line, traceback on request
        if os.environ.get("XEN2KVM_DEBUG"):
            traceback.print_exc()
        print(
            f"xen2kvm: internal error: {type(exc).__name__}: {exc} "
            "(rerun with XEN2KVM_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def run() -> None:
    sys.exit(main())
