"""What the benchmark scripts share: timing a command, fresh image copies, the machine, tables.

Figures are taken the same way everywhere: wall time (``time.perf_counter``), CPU time of the
process and every descendant it waited for (``os.wait4``'s rusage: user + system), and peak RSS
(the largest single process of that tree, in MB). Medians over repetitions, the tools run
alternately on fresh copies of the same input.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The environment libguestfs needs here (no KVM): the direct backend with TCG forced.
GFS_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
XEN2KVM = [sys.executable, "-m", "xen2kvm"]


@dataclass
class Run:
    """One timed run of a command."""

    argv: list[str]
    wall: float
    cpu: float  # user + system, the process and the descendants it waited for
    rss_mb: float  # peak RSS of the largest process of the tree
    rc: int
    stdout: str = ""
    stderr: str = ""

    def json(self) -> dict[str, object]:
        return json.loads(self.stdout) if self.stdout.strip() else {}


def measure(
    argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None
) -> Run:
    """Run ``argv`` to completion; its wall time, CPU time (children included) and peak RSS."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=full_env, cwd=cwd)
        # wait4, not proc.wait(): its rusage covers this child and the grandchildren it reaped
        # (fuse2fs, QEMU for libguestfs, nbdkit), which RUSAGE_CHILDREN deltas would mix up
        # with our other children.
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            argv=list(argv),
            wall=wall,
            cpu=ru.ru_utime + ru.ru_stime,
            rss_mb=ru.ru_maxrss / 1024,
            rc=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


@dataclass
class Series:
    """Repeated runs of one tool on one input."""

    name: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    @property
    def ok(self) -> bool:
        return all(r.rc == 0 for r in self.runs)


def precompile() -> None:
    """Write the bytecode of xen2kvm once, as an installed package has it.

    This machine's environment sets PYTHONDONTWRITEBYTECODE, which would make every xen2kvm
    process compile its ~60 modules from source (about half a second) and charge that to it.
    """
    compileall.compile_dir(str(REPO / "src"), quiet=1)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def accelerator() -> str:
    """What QEMU really runs with here: verify's probe (/dev/kvm can exist and not work)."""
    from xen2kvm.verify.qemu import probe_accel

    acc = probe_accel()
    return f"{acc.name} ({acc.reason})"


def machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{mem_gb:.0f} GB",
        "kernel": platform.release(),
        "accel": accelerator(),
        "python": platform.python_version(),
        "load": load_average(),
    }


def print_machine(title: str) -> None:
    m = machine()
    print(f"# {title}")
    print(
        f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, Linux {m['kernel']}, "
        f"accel {m['accel']}, Python {m['python']}; load average at start {m['load']}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable as text too)."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for r in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(lines)


def reference_guest(variant: str = "reference") -> tuple[list[Path], str]:
    """The Xen-style Debian guest's disk images (built and cached by tools/build-guest) and
    its root login."""
    sys.path.insert(0, str(REPO))
    from tools.guestbuilder.build import build_guest

    g = build_guest(variant)
    return [Path(d) for d in g.disks], g.login


def fresh_copy(images: Sequence[Path], dest: Path, tag: str) -> list[Path]:
    """Sparse copies of ``images`` in ``dest`` (the originals are never touched)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for img in images:
        target = dest / f"{tag}-{img.name}"
        target.unlink(missing_ok=True)
        subprocess.run(["cp", "--sparse=always", str(img), str(target)], check=True)
        out.append(target)
    return out


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        sys.exit(f"{why} needs root (loop mounts); run as root")


@contextlib.contextmanager
def loop_mount(image: Path, *, read_only: bool = True) -> Iterator[Path]:
    """Mount a bare-filesystem image (or its first partition) with the kernel's ext4 driver."""
    mnt = Path(tempfile.mkdtemp(prefix="xen2kvm-bench-mnt-"))
    opts = "ro,loop,noload" if read_only else "loop"
    offset = _first_partition_offset(image)
    if offset:
        opts += f",offset={offset}"
    subprocess.run(["mount", "-o", opts, str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
        mnt.rmdir()


def _first_partition_offset(image: Path) -> int:
    """Byte offset of the first partition of an MBR disk, 0 for a bare filesystem."""
    with open(image, "rb") as f:
        mbr = f.read(512)
    if mbr[510:512] != b"\x55\xaa":
        return 0
    start = int.from_bytes(mbr[446 + 8 : 446 + 12], "little")
    ptype = mbr[446 + 4]
    return start * 512 if ptype and start else 0


def verify_boot(
    images: Sequence[Path], mode: str, login: str, *, timeout: float = 300
) -> dict[str, object]:
    """``xen2kvm verify`` on ``images``: the verdict document (plus our own wall time)."""
    run = measure(
        [*XEN2KVM, "verify", *map(str, images), "--mode", mode, "--login", login, "--json",
         "--timeout", str(timeout)]
    )  # fmt: skip
    try:
        doc: dict[str, object] = json.loads(run.stdout)
    except json.JSONDecodeError:
        doc = {"verdict": "verify-error", "ok": False, "reason": run.stderr.strip()[-300:]}
    doc["bench_wall"] = run.wall
    return doc


def which(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"{tool} not found: run ./run.sh setup (tools/debian-packages.txt)")
    return path
