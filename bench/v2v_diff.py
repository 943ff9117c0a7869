#!/usr/bin/env python3
"""What virt-v2v-in-place and xen2kvm change in the same guest, file by file, and whether the
results boot. The source of docs/virt-v2v-comparison.md.

Usage (as root: the images are loop-mounted read-only to compare their trees):
    .venv/bin/python bench/v2v_diff.py [--variant reference|partitioned] [--v2v-result IMG]
                                       [--no-boot] [--json FILE]

Each tool gets a fresh copy of the guest's images: ``virt-v2v-in-place -i disk`` (or a result
it produced earlier from the same images: ``--v2v-result``), ``xen2kvm convert --mode
paravirt`` and ``--mode fullvirt``. The root filesystem of the original and of each result is
walked (loop mount, read-only, no journal replay) and compared: added, removed, content
(SHA-256), mode, owner, symlink target, extended attributes. Directory timestamps are ignored.
Then each result boots with ``xen2kvm verify`` in each mode it is meant for (virt-v2v's result
in both). Prints Markdown: the table (path | virt-v2v-in-place | xen2kvm) and the verdicts.
"""

from __future__ import annotations

import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench._common import (  # noqa: E402
    GFS_ENV,
    XEN2KVM,
    fresh_copy,
    loop_mount,
    measure,
    precompile,
    print_machine,
    reference_guest,
    require_root,
    verify_boot,
    which,
)

Entry = tuple[str, str, int, int, int, str]  # kind, content hash/link, mode, uid, gid, xattrs


def tree_state(root: Path) -> dict[str, Entry]:
    """Every path under ``root`` (a mounted guest filesystem), without following symlinks."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = "/" + os.path.relpath(p, root)
            try:
                xattrs = ",".join(
                    f"{k}={hashlib.sha256(os.getxattr(p, k, follow_symlinks=False)).hexdigest()}"
                    for k in sorted(os.listxattr(p, follow_symlinks=False))
                )
            except OSError:
                xattrs = ""
            if stat.S_ISLNK(st.st_mode):
                kind, content = "symlink", os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                kind, content = "dir", ""
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                kind, content = "file", h.hexdigest()
            else:
                kind, content = "special", f"{st.st_rdev:x}"
            out[rel] = (kind, content, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, xattrs)
    return out


def describe(before: Entry | None, after: Entry | None) -> str:
    if before is None and after is not None:
        return f"added ({after[0]}{' -> ' + after[1] if after[0] == 'symlink' else ''})"
    if after is None and before is not None:
        return f"removed ({before[0]})"
    assert before is not None and after is not None
    what = []
    if before[0] != after[0]:
        what.append(f"{before[0]} -> {after[0]}")
    elif before[1] != after[1]:
        what.append("target changed" if after[0] == "symlink" else "content changed")
    if before[2] != after[2]:
        what.append(f"mode {before[2]:o} -> {after[2]:o}")
    if before[3:5] != after[3:5]:
        what.append(f"owner {before[3]}:{before[4]} -> {after[3]}:{after[4]}")
    if before[5] != after[5]:
        what.append("xattrs changed")
    return ", ".join(what)


def changes(before: dict[str, Entry], after: dict[str, Entry]) -> dict[str, str]:
    out = {}
    for path in sorted(set(before) | set(after)):
        b, a = before.get(path), after.get(path)
        if b == a:
            continue
        d = describe(b, a)
        if d:
            out[path] = d
    return out


def collapse(paths: dict[str, str], limit: int = 8) -> dict[str, str]:
    """Directories with more than ``limit`` changed entries become one row each."""
    counts: dict[str, int] = {}
    for p in paths:
        parent = p.rsplit("/", 1)[0] or "/"
        counts[parent] = counts.get(parent, 0) + 1
    big = {d for d, n in counts.items() if n > limit}
    out: dict[str, str] = {}
    for p, d in paths.items():
        parent = p.rsplit("/", 1)[0] or "/"
        if parent in big:
            kinds = sorted({v.split(" ")[0] for q, v in paths.items()
                            if (q.rsplit("/", 1)[0] or "/") == parent})  # fmt: skip
            out[parent + "/*"] = f"{counts[parent]} entries {'/'.join(kinds)}"
        else:
            out[p] = d
    return out


def root_state(images: list[Path]) -> dict[str, Entry]:
    with loop_mount(images[0]) as mnt:
        return tree_state(mnt)


def boot_virtio_blk(images: list[Path], timeout: float = 300) -> str:
    """Boot ``images`` on virtio-blk disks (/dev/vdX, what virt-v2v converts for), which
    ``xen2kvm verify``'s modes (virtio-scsi, IDE) do not offer: the kernel, initrd and command
    line of the first menu.lst entry, QEMU with -snapshot, ttyS0 read until a login prompt or a
    failure line."""
    with loop_mount(images[0]) as mnt, tempfile.TemporaryDirectory() as tmp:
        kernel_m = initrd_m = None
        for cfg, word in (("boot/grub/menu.lst", "kernel"), ("boot/grub/grub.cfg", "linux")):
            if (mnt / cfg).is_file():
                text = (mnt / cfg).read_text(errors="replace")
                kernel_m = re.search(rf"^\s*{word}\s+(\S+)\s*(.*)$", text, re.M)
                initrd_m = re.search(r"^\s*initrd\s+(\S+)", text, re.M)
                break
        if kernel_m is None or initrd_m is None:
            return "no boot entry in menu.lst or grub.cfg"
        kernel = Path(tmp) / "vmlinuz"
        initrd = Path(tmp) / "initrd"
        shutil.copyfile(mnt / kernel_m.group(1).lstrip("/"), kernel)
        shutil.copyfile(mnt / initrd_m.group(1).lstrip("/"), initrd)
        drives = [a for i, img in enumerate(images) for a in (
            "-drive", f"file={img},format=raw,if=none,id=d{i}",
            "-device", f"virtio-blk-pci,drive=d{i}")]  # fmt: skip
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-snapshot", "-nographic",
                "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd),
                "-append", kernel_m.group(2) + " panic=-1", *drives,
                "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
                "-serial", "stdio", "-monitor", "none", "-display", "none"]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)  # fmt: skip
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        seen, t0 = b"", time.monotonic()
        verdict = "timeout"
        try:
            while time.monotonic() - t0 < timeout:
                chunk = proc.stdout.read() or b""
                seen += chunk
                tail = seen[-4096:]
                if b" login:" in tail:
                    verdict = "login prompt"
                    break
                if b"ALERT!" in tail or b"Kernel panic" in tail or b"(initramfs)" in tail:
                    verdict = "initramfs-shell" if b"ALERT!" in tail else "panic"
                    break
                if proc.poll() is not None:
                    rest = proc.stdout.read() or b""
                    last = (seen + rest).decode(errors="replace").strip().splitlines()[-1:]
                    verdict = f"qemu exited {proc.returncode}: {' '.join(last)[:80]!r}"
                    break
                time.sleep(0.2)
        finally:
            proc.kill()
            proc.wait()
        return f"{verdict} (virtio-blk, {time.monotonic() - t0:.0f} s)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variant", default="reference")
    ap.add_argument("--v2v-result", metavar="IMG",
                    help="a root image virt-v2v-in-place already converted from the same guest "
                    "(e.g. left by bench/convert.py --keep); default: run it now")  # fmt: skip
    ap.add_argument("--no-boot", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    require_root("bench/v2v_diff.py")
    precompile()
    images, login = reference_guest(args.variant)
    print_machine(f"virt-v2v-in-place vs xen2kvm: {args.variant} guest")
    work = Path(tempfile.mkdtemp(prefix="xen2kvm-bench-v2vdiff-"))
    try:
        original = root_state(images)
        results: dict[str, list[Path]] = {}
        v2v = fresh_copy(images, work, "v2v")
        if args.v2v_result:
            shutil.copyfile(args.v2v_result, v2v[0])
            print(f"  virt-v2v-in-place: result taken from {args.v2v_result}", flush=True)
        else:
            run = measure([which("virt-v2v-in-place"), "-i", "disk", *map(str, v2v)], env=GFS_ENV)
            print(f"  virt-v2v-in-place: rc {run.rc}, {run.wall:.0f} s", flush=True)
        results["virt-v2v-in-place"] = v2v
        for mode in ("paravirt", "fullvirt"):
            copy = fresh_copy(images, work, f"x2k-{mode}")
            run = measure([*XEN2KVM, "convert", ",".join(map(str, copy)), "--mode", mode,
                           "--quiet"])  # fmt: skip
            print(f"  xen2kvm --mode {mode}: rc {run.rc}, {run.wall:.1f} s", flush=True)
            results[f"xen2kvm {mode}"] = copy
        diffs = {name: changes(original, root_state(imgs)) for name, imgs in results.items()}
        boots: dict[str, dict[str, str]] = {}
        if not args.no_boot:
            blk = boot_virtio_blk(results["virt-v2v-in-place"])
            boots["virt-v2v-in-place"] = {"virtio-blk": blk}
            print(f"  boot virt-v2v-in-place on virtio-blk: {blk}", flush=True)
            plan = [("virt-v2v-in-place", "paravirt"), ("virt-v2v-in-place", "fullvirt"),
                    ("xen2kvm paravirt", "paravirt"), ("xen2kvm fullvirt", "fullvirt"),
                    ("xen2kvm paravirt", "fullvirt")]
            for name, mode in plan:
                doc = verify_boot(results[name], mode, login)
                boots.setdefault(name, {})[mode] = f"{doc.get('verdict')}"
                print(f"  boot {name} in {mode}: {doc.get('verdict')} ({doc.get('reason')})",
                      flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)

    v2v_rows = collapse(diffs["virt-v2v-in-place"])
    pv, fv = diffs["xen2kvm paravirt"], diffs["xen2kvm fullvirt"]
    merged: dict[str, str] = {}
    for path in sorted(set(pv) | set(fv)):
        a, b = pv.get(path), fv.get(path)
        if a == b:
            merged[path] = str(a)
        elif a and b:
            merged[path] = f"paravirt: {a}; fullvirt: {b}"
        else:
            merged[path] = f"{a} (paravirt only)" if a else f"{b} (fullvirt only)"
    x2k = collapse(merged)
    print(f"\n## Files changed in the root filesystem ({args.variant} guest)\n")
    print("| path | virt-v2v-in-place | xen2kvm |")
    print("|------|-------------------|---------|")
    for path in sorted(set(v2v_rows) | set(x2k)):
        print(f"| `{path}` | {v2v_rows.get(path, '-')} | {x2k.get(path, '-')} |")
    print("\ncounts (before collapsing): " + ", ".join(
        f"{n}: {len(d)} paths" for n, d in diffs.items()))  # fmt: skip
    if boots:
        print("\n## Boot verdicts (xen2kvm verify --login)\n")
        print("| result | paravirt (virtio-scsi) | fullvirt (IDE) | virtio-blk (own QEMU boot) |")
        print("|--------|------------------------|----------------|----------------------------|")
        for name, by_mode in boots.items():
            cells = [by_mode.get(m, "-") for m in ("paravirt", "fullvirt", "virtio-blk")]
            print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"changes": diffs, "boots": boots}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
