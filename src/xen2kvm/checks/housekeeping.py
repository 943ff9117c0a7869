"""Housekeeping after the move: stale device caches, SCSI scan order, SELinux relabel.

- stale-caches: blkid and LVM caches remember Xen device names; LVM's devices file can make
  LVM ignore the renamed disks (root on LVM not found).
- scsi-scan-sync: on a paravirt guest with several disks that still names them /dev/sdX, the
  asynchronous SCSI scan can swap sda and sdb; ``scsi_mod.scan=sync`` keeps assignment order.
- selinux-relabel: files changed offline carry no SELinux label; ``/.autorelabel`` makes the
  guest relabel on its first boot. Runs last, after every other check's edits are known.
"""

from __future__ import annotations

import re

from xen2kvm.checks._bootcfg import CmdlineEdit, all_cmdlines, edit_cmdlines
from xen2kvm.checks.base import Check, CheckContext, Mode, Severity

CACHES = {
    "/etc/blkid.tab": Severity.WARNING,
    "/etc/blkid/blkid.tab": Severity.WARNING,
    "/etc/lvm/cache/.cache": Severity.WARNING,
    "/etc/lvm/devices/system.devices": Severity.BLOCKS_BOOT,
}
_SD_RE = re.compile(r"(?<![\w/.-])/dev/sd[a-z]")


def run_caches(ctx: CheckContext) -> None:
    found = [p for p in CACHES if ctx.plan.guest.lexists(p) and ctx.plan.exists(p)]
    for path in found:
        ctx.remove(path, "stale device cache")
    if found:
        worst = min((CACHES[p] for p in found), key=lambda s: s.rank)
        ctx.finding(
            worst,
            "device caches remember the Xen disks",
            why="blkid/LVM caches list /dev/xvd*; LVM's devices file makes LVM ignore renamed "
            "disks",
            fix="removed (they are rebuilt on boot)",
            paths=found,
        )


def _disk_count(ctx: CheckContext) -> int:
    if ctx.options.disk_map is not None:
        return sum(1 for d in ctx.options.disk_map.devices if not d.cdrom)
    disks = {f.disk for f in ctx.facts.filesystems}
    if disks:
        return len(disks)
    names: set[str] = set()
    for path in ("/etc/fstab", "/etc/crypttab"):
        names |= set(_SD_RE.findall(ctx.read_text(path) or ""))
    return len(names)


def run_scsi_scan(ctx: CheckContext) -> None:
    if ctx.mode is not Mode.PARAVIRT or _disk_count(ctx) < 2:
        return
    literal = bool(_SD_RE.search(ctx.read_text("/etc/fstab") or "")) or any(
        _SD_RE.search(v or "") for _p, cl in all_cmdlines(ctx) for v in cl.get_all("root")
    )
    if not literal:
        return
    if all(cl.get("scsi_mod.scan") == "sync" for _p, cl in all_cmdlines(ctx)):
        return
    paths = edit_cmdlines(
        ctx,
        CmdlineEdit(
            add=lambda cl: [] if cl.get("scsi_mod.scan") == "sync" else [("scsi_mod.scan", "sync")]
        ),
        "disks probed in assignment order",
    )
    if paths:
        ctx.finding(
            Severity.BLOCKS_BOOT,
            "several disks are named /dev/sdX literally",
            why="virtio-scsi scans disks asynchronously: sda and sdb can swap between boots",
            fix="scsi_mod.scan=sync on the kernel command line",
            paths=paths,
        )


def run_selinux(ctx: CheckContext) -> None:
    if not ctx.facts.system.selinux_enabled:
        return
    if not ctx.plan.build().actions or ctx.plan.exists("/.autorelabel"):
        return
    ctx.write_text("/.autorelabel", "", "SELinux relabel after offline changes", mode=0o644)
    ctx.finding(
        Severity.WARNING,
        "SELinux is enabled and files are changed offline",
        why="files written outside the running guest have no SELinux label and may be denied",
        fix="/.autorelabel: the guest relabels its files on first boot",
        paths=["/.autorelabel"],
    )


STALE_CACHES = Check(
    id="stale-caches", title="Stale device caches", why="caches remember Xen disks",
    run=run_caches,
)
SCSI_SCAN_SYNC = Check(
    id="scsi-scan-sync",
    title="SCSI scan order",
    why="async SCSI scanning can swap sda/sdb on multi-disk guests",
    run=run_scsi_scan,
    modes=frozenset({Mode.PARAVIRT}),
)
SELINUX_RELABEL = Check(
    id="selinux-relabel",
    title="SELinux relabel",
    why="offline edits need /.autorelabel on SELinux guests",
    run=run_selinux,
)
