"""What every guest-facing command shares: guest arguments, --mode, --json, per-guest errors."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xen2kvm.checks import Mode
from xen2kvm.errors import ExitCode, UsageError, Xen2KvmError
from xen2kvm.jsonutil import dump_json

GUEST_HELP = (
    "a guest: a root directory, or its disk images in assignment order joined by commas "
    "(xvda.img,xvdb.img); several guests may be given"
)


def add_guest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("guests", nargs="+", metavar="GUEST", help=GUEST_HELP)
    p.add_argument(
        "--backend",
        choices=("auto", "dir", "fuse2fs", "libguestfs"),
        default="auto",
        help="how to open disk images (default: fuse2fs for ext2/3/4 raw images, else libguestfs)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document on stdout")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        metavar="N",
        help="work on N guests in parallel processes (0: one per CPU; default 1)",
    )


def add_mode_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.PARAVIRT.value,
        help="KVM mode: paravirt (virtio-scsi + virtio-net, default) or fullvirt (IDE + e1000)",
    )


def guest_paths(arg: str) -> list[Path]:
    return [Path(p) for p in arg.split(",") if p]


def is_directory(paths: list[Path]) -> bool:
    """A mounted root (one directory) rather than disk images."""
    return len(paths) == 1 and paths[0].is_dir()


@dataclass
class Outcome:
    guest: str
    code: int
    #: The guest's JSON document, already written out (the worker writes it: text crosses
    #: from a worker process far more cheaply than the nested dicts it comes from).
    doc_json: str
    text: str
    error: str


GuestFn = Callable[[str, argparse.Namespace], tuple[int, dict[str, Any], str]]


def _one_safely(fn: GuestFn, guest: str, args: argparse.Namespace) -> Outcome:
    try:
        code, doc, text = fn(guest, args)
        error = ""
    except Xen2KvmError as exc:
        code, doc, text, error = exc.exit_code, {"guest": guest, "error": str(exc)}, "", str(exc)
    return Outcome(guest, code, dump_json(doc) if args.json else "", text, error)


def _json_report(schema: str, docs: list[str]) -> str:
    """``dump_json({"schema": schema, "guests": [...]})`` from the guests' written documents."""
    if not docs:
        return dump_json({"schema": schema, "guests": []})
    # Each document was written at the top level; in the list it sits two levels deeper. A
    # newline only ever appears between tokens (inside strings it is escaped), so re-indenting
    # is a replace.
    body = ",\n".join("    " + d.replace("\n", "\n    ") for d in docs)
    return "{\n" + f'  "schema": {dump_json(schema)},\n  "guests": [\n{body}\n  ]\n' + "}"


def run_per_guest(args: argparse.Namespace, schema: str, fn: GuestFn) -> int:
    """Run ``fn`` for each guest; one guest's failure does not stop the others.

    ``fn`` (a module-level function, so it can run in a worker process) returns (exit code,
    JSON document, text report). With ``--jobs`` guests run in parallel processes: every result
    is plain data. The overall exit code is the worst one (errors before findings).
    """
    jobs = getattr(args, "jobs", 1)
    if jobs < 0:
        raise UsageError("--jobs must be 0 (one per CPU) or more")
    workers = (os.cpu_count() or 1) if jobs == 0 else jobs
    outcomes: list[Outcome] = []

    def report(o: Outcome) -> None:
        if o.error:
            print(f"xen2kvm: error: {o.error}", file=sys.stderr)
        elif not args.json:
            print(o.text, end="" if o.text.endswith("\n") else "\n", flush=True)
        outcomes.append(o)

    if workers <= 1 or len(args.guests) <= 1:
        for guest in args.guests:
            report(_one_safely(fn, guest, args))
    else:
        workers = min(workers, len(args.guests))
        # Guests go to the workers in small batches: one round trip per guest cost more than
        # a quick inspection itself. Small enough that the workers finish together.
        chunk = max(1, min(16, len(args.guests) // (workers * 8)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            one = functools.partial(_one_safely, fn, args=args)
            for outcome in pool.map(one, args.guests, chunksize=chunk):  # in the order given
                report(outcome)
    if args.json:
        sys.stdout.write(_json_report(schema, [o.doc_json for o in outcomes]))
        sys.stdout.write("\n")
    return _worst(o.code for o in outcomes)


def _worst(codes: Any) -> int:
    order = [ExitCode.INTERNAL, ExitCode.ERROR, ExitCode.REFUSED, ExitCode.FINDINGS, ExitCode.OK]
    got = list(codes)
    for c in order:
        if c in got:
            return int(c)
    return ExitCode.OK
