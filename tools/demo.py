"""The README's demo: build the example Xen guest, then inspect, convert and verify it.

Run through ``./run.sh demo``. The example is a Debian 12 guest built from Debian packages and
laid out as on Linode's old Xen hosts (a bare ext4 root disk, a swap disk, pv-grub menu.lst,
console=hvc0, a getty on hvc0 only, an initramfs holding only Xen drivers); it is cached in
``cache/guests``. The demo works on copies in ``demo-out/`` and never changes the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
XEN2KVM = [str(REPO / ".venv/bin/xen2kvm")]


def say(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def build_guest() -> dict[str, Any]:
    cmd = [str(REPO / "tools/build-guest"), "reference", "--json"]
    if os.geteuid() != 0:
        cmd = ["sudo", *cmd]  # debootstrap needs root; xen2kvm itself does not
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        sys.exit("demo: building the example guest failed (see above)")
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def run(*args: str, check_codes: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[str]:
    print("$ xen2kvm " + " ".join(args), flush=True)
    proc = subprocess.run([*XEN2KVM, *args], text=True, stdout=subprocess.PIPE, check=False)
    print(proc.stdout, end="")
    if proc.returncode not in check_codes:
        sys.exit(f"demo: 'xen2kvm {args[0]}' exited {proc.returncode}")
    return proc


def verify(disks: list[str], mode: str, login: str | None, log: Path) -> dict[str, Any]:
    args = ["verify", *disks, "--mode", mode, "--json", "--console-log", str(log)]
    if login:
        args += ["--login", login]
    print("$ xen2kvm " + " ".join(args), flush=True)
    t0 = time.monotonic()
    proc = subprocess.run([*XEN2KVM, *args], text=True, stdout=subprocess.PIPE, check=False)
    if not proc.stdout.strip().startswith("{"):
        sys.exit(f"demo: verify failed to run (exit {proc.returncode})")
    res: dict[str, Any] = json.loads(proc.stdout)
    print(f"   verdict: {res['verdict']} ({res['reason']}) after {time.monotonic() - t0:.0f} s")
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="paravirt", choices=("paravirt", "fullvirt"))
    parser.add_argument("--out", default=str(REPO / "demo-out"), help="working directory")
    parser.add_argument("--no-boot", action="store_true", help="skip the two QEMU boots")
    args = parser.parse_args()

    say("building (or reusing) the example Xen guest: Debian 12 from Debian packages")
    guest = build_guest()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    disks = []
    for disk in guest["disks"]:
        target = out / Path(disk).name
        subprocess.run(["cp", "--sparse=always", disk, str(target)], check=True)
        disks.append(str(target))
    spec = ",".join(disks)
    print(f"   disks: {', '.join(disks)} (xvda: bare ext4 root, xvdb: swap)")

    say(f"inspect: what would break on KVM ({args.mode})")
    run("inspect", spec, "--mode", args.mode)

    before = None
    if not args.no_boot:
        say("verify BEFORE conversion: boot on KVM devices under QEMU, read ttyS0")
        before = verify(disks, args.mode, None, out / "console-before.log")

    say("convert --dry-run: the plan as a diff, nothing changed")
    run("convert", spec, "--mode", args.mode, "--dry-run")
    say("convert: apply in one journaled transaction (undo: xen2kvm rollback)")
    run("convert", spec, "--mode", args.mode, check_codes=(0,))
    say("convert again: nothing left to do")
    run("convert", spec, "--mode", args.mode, check_codes=(0,))

    after = None
    if not args.no_boot:
        say("verify AFTER conversion: boot, log in on ttyS0, check network, root, swap")
        login = f"root:{guest['root_password']}"
        after = verify(disks, args.mode, login, out / "console-after.log")

    say("summary")
    if before is not None and after is not None:
        print(f"   before: {before['verdict']:8} {before['reason']}")
        print(f"   after:  {after['verdict']:8} {after['reason']}")
        print(f"   console logs: {out}/console-before.log, {out}/console-after.log")
    print(f"   converted images: {spec}")
    print(f"   undo: .venv/bin/xen2kvm rollback {spec}")
    return 0 if after is None or after.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
