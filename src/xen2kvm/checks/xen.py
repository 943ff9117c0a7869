"""Xen leftovers: module aliases, xenfs mounts, Xen clock/console arguments, guest tools.

- xen-modprobe-aliases: ``alias eth0 xennet`` / ``alias scsi_hostadapter xenblk`` make old
  initrd generators (RHEL 5 mkinitrd) and modprobe load Xen drivers instead of KVM's.
- xen-leftovers: a ``xenfs`` /proc/xen mount fails on KVM (a failed unit, or a mount error at
  boot), ``clocksource=xen`` names a clock that does not exist, and Xen guest tools services
  fail on every boot. They are disabled, not deleted.
"""

from __future__ import annotations

from xen2kvm.checks._bootcfg import CmdlineEdit, all_cmdlines, edit_cmdlines
from xen2kvm.checks.base import Check, CheckContext, Mode, Severity
from xen2kvm.parsers import fstab as fstab_mod
from xen2kvm.parsers import modprobe
from xen2kvm.parsers.cmdline import KernelCmdline

NET_XEN = {"xennet", "xen-netfront", "xen_netfront", "xen-vnif", "xen_vnif"}
BLK_XEN = {"xenblk", "xen-blkfront", "xen_blkfront", "xen-vbd", "xen_vbd"}
MODPROBE_FILES = ("/etc/modprobe.conf", "/etc/modules.conf")
XEN_SERVICES = ("xe-linux-distribution", "xen-guest-agent", "xe-daemon", "xenstored")
_XEN_CMDLINE = {"clocksource": {"xen"}, "xen_emul_unplug": None}


def _modprobe_files(ctx: CheckContext) -> list[str]:
    return [*MODPROBE_FILES, *ctx.plan.guest.glob("/etc/modprobe.d/*.conf")]


def run_aliases(ctx: CheckContext) -> None:
    net = "virtio_net" if ctx.mode is Mode.PARAVIRT else "e1000"
    blk = "virtio_scsi" if ctx.mode is Mode.PARAVIRT else "ata_piix"
    paths: list[str] = []
    for path in _modprobe_files(ctx):
        text = ctx.read_text(path)
        if text is None:
            continue
        conf = modprobe.parse(text, source=path)
        for line in conf.aliases():
            target = line.module
            if target in NET_XEN:
                conf.set_alias(line, net)
            elif target in BLK_XEN:
                conf.set_alias(line, blk)
        new = conf.render()
        if new != text:
            ctx.write_text(path, new, "Xen driver aliases")
            paths.append(path)
    if paths:
        ctx.finding(
            Severity.BLOCKS_BOOT,
            "modprobe aliases point at Xen drivers",
            why="initrd generators and modprobe load xennet/xenblk for the NIC and disks, which "
            "find no device on KVM",
            fix=f"aliases -> {net} / {blk}",
            paths=paths,
        )


def _fix_cmdline(cl: KernelCmdline) -> None:
    cl.remove_where(
        lambda p: p.key in _XEN_CMDLINE
        and (_XEN_CMDLINE[p.key] is None or p.value in (_XEN_CMDLINE[p.key] or set()))
    )


def run_leftovers(ctx: CheckContext) -> None:
    # xenfs mounts.
    text = ctx.read_text("/etc/fstab")
    if text is not None:
        tab = fstab_mod.parse_fstab(text)
        for entry in tab.entries():
            if isinstance(entry, fstab_mod.FstabEntry) and entry.is_xenfs:
                tab.comment_out(entry, "disabled by xen2kvm: no xenfs on KVM")
        new = tab.render()
        if new != text:
            ctx.write_text("/etc/fstab", new, "xenfs mount")
            ctx.finding(
                Severity.WARNING,
                "fstab mounts xenfs on /proc/xen",
                why="there is no xenfs on KVM: the mount fails at every boot",
                fix="the line is commented out",
                paths=["/etc/fstab"],
            )
    # Xen-only kernel arguments.
    if any(
        p.key in _XEN_CMDLINE for _path, cl in all_cmdlines(ctx) for p in cl.params
    ):
        paths = edit_cmdlines(ctx, CmdlineEdit(fix=_fix_cmdline), "Xen-only kernel arguments")
        if paths:
            ctx.finding(
                Severity.WARNING,
                "the kernel command line has Xen-only arguments (clocksource=xen, ...)",
                why="they name Xen devices or clocks that KVM does not have",
                fix="removed",
                paths=paths,
            )
    # Xen guest tools: disabled (their enable links removed), never deleted.
    links: list[str] = []
    g = ctx.plan.guest
    for name in XEN_SERVICES:
        links += g.glob(f"/etc/systemd/system/*.wants/{name}.service")
        links += g.glob(f"/etc/rc[0-6S].d/S[0-9][0-9]{name}")
    for link in links:
        if g.is_symlink(link):
            ctx.remove(link, "Xen guest tools have nothing to talk to on KVM")
    if links:
        ctx.finding(
            Severity.WARNING,
            "Xen guest tools are enabled",
            why="they talk to XenStore, which KVM does not have, and fail at every boot",
            fix="their enable links are removed (the tools stay installed)",
            paths=links,
        )


XEN_MODPROBE_ALIASES = Check(
    id="xen-modprobe-aliases",
    title="Xen driver aliases",
    why="modprobe aliases to xennet/xenblk load Xen drivers instead of KVM's",
    run=run_aliases,
)

XEN_LEFTOVERS = Check(
    id="xen-leftovers",
    title="Xen leftovers",
    why="xenfs mounts, Xen clock arguments and Xen guest tools fail on KVM",
    run=run_leftovers,
)
