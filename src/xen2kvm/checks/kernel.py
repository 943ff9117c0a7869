"""Kernel and initramfs: the guest must boot a kernel that can drive KVM's devices, and that
kernel's initramfs must carry the drivers that find the root disk.

- kernel: the default entry's kernel needs the mode's storage drivers (built in or as modules).
  A Xen-only (XenLinux) kernel or one without virtio cannot boot: Linode's "This isn't a KVM
  kernel!". If another installed kernel can, it becomes the default; if none can, convert
  refuses (unless --force) and names what is missing.
- initramfs-drivers: a Xen-built initramfs (initramfs-tools MODULES=list/dep, dracut hostonly,
  mkinitcpio autodetect) holds xen-blkfront but no virtio/ATA driver: "ALERT! /dev/sda does
  not exist". Two fixes: the generator is told (so the next kernel update keeps working), and
  the existing initramfs gets an appended archive with the guest's own modules now, without
  running any guest program.
"""

from __future__ import annotations

from xen2kvm.checks.base import Check, CheckContext, Mode, Severity
from xen2kvm.errors import GuestPathError, ParseError, RefusedError, Xen2KvmError
from xen2kvm.facts import GuestFacts
from xen2kvm.facts.kernels import KernelFacts
from xen2kvm.guest.base import LARGE_READ_LIMIT
from xen2kvm.initramfs.append import append_keep, build_initramfs_append
from xen2kvm.initramfs.reader import read_initramfs
from xen2kvm.parsers import grub_legacy, linelist, shellvars

#: Storage drivers that must be available (built in or module) for the root disk, per mode.
STORAGE = {
    Mode.PARAVIRT: ("virtio_pci", "virtio_scsi", "sd_mod"),
    Mode.FULLVIRT: ("ata_piix", "sd_mod"),
}
#: What goes into the initramfs: storage plus, for good measure, the mode's NIC and virtio_blk.
INITRAMFS = {
    Mode.PARAVIRT: ("virtio_pci", "virtio_scsi", "sd_mod", "virtio_blk", "virtio_net"),
    Mode.FULLVIRT: ("ata_piix", "ata_generic", "sd_mod", "e1000"),
}
XEN_MODULES = {"xen-blkfront", "xen_blkfront", "xen-netfront", "xen_netfront", "xenblk", "xennet"}
DRACUT_CONF = "/etc/dracut.conf.d/90-xen2kvm.conf"
INITRAMFS_TOOLS_MODULES = "/etc/initramfs-tools/modules"


def missing_drivers(kernel: KernelFacts, mode: Mode) -> list[str]:
    if kernel.xen_only:
        return ["a non-Xen kernel"]
    out = []
    for drv in STORAGE[mode]:
        state = kernel.drivers.get(drv, "unknown")
        if state == "missing":
            out.append(drv)
    return out


def can_boot(kernel: KernelFacts, mode: Mode) -> bool:
    return not missing_drivers(kernel, mode)


def chosen_kernel(facts: GuestFacts, mode: Mode) -> KernelFacts | None:
    """The kernel the converted guest boots: the default if it can, else the newest that can."""
    default = facts.kernel(facts.default_kernel)
    if default is not None and can_boot(default, mode):
        return default
    capable = [k for k in facts.kernels if can_boot(k, mode) and k.image]
    return capable[-1] if capable else default


def _root_fs_module(facts: GuestFacts) -> str | None:
    for entry in facts.storage.fstab:
        if entry.mountpoint == "/":
            fstype = entry.vfstype
            return {"ext2": "ext4", "ext3": "ext4"}.get(fstype, fstype) if fstype else None
    return None


def run_kernel(ctx: CheckContext) -> None:
    facts = ctx.facts
    if not facts.kernels:
        ctx.finding(
            Severity.WARNING,
            "no kernel installed in the guest",
            why="the guest was booted with a kernel held by the Xen host; on KVM give a kernel "
            "with virtio built in (see 'xen2kvm kernel-config')",
            fix="none",
            fixable=False,
        )
        return
    default = facts.kernel(facts.default_kernel)
    chosen = chosen_kernel(facts, ctx.mode)
    if default is not None and can_boot(default, ctx.mode):
        return
    if chosen is not None and can_boot(chosen, ctx.mode):
        paths = _make_default(ctx, chosen)
        why = (
            f"kernel {default.version} lacks {', '.join(missing_drivers(default, ctx.mode))}"
            if default is not None
            else "the default boot entry's kernel is not installed"
        )
        ctx.finding(
            Severity.BLOCKS_BOOT,
            f"the default kernel cannot boot on KVM ({ctx.mode.value})",
            why=why,
            fix=f"make {chosen.version} the default boot entry",
            paths=paths,
            fixable=bool(paths),
        )
        return
    details = "; ".join(
        f"{k.version}: " + (k.xen_only_reason or "lacks " + ", ".join(missing_drivers(k, ctx.mode)))
        for k in facts.kernels
    )
    ctx.finding(
        Severity.BLOCKS_BOOT,
        "This isn't a KVM kernel: no installed kernel can drive KVM's "
        + ("virtio" if ctx.mode is Mode.PARAVIRT else "IDE")
        + " disks",
        why=f"{details}. Install a distribution kernel (or build one with the options "
        "'xen2kvm kernel-config --fragment' prints) before moving",
        fix="none: refused unless --force",
        fixable=False,
    )


def _make_default(ctx: CheckContext, kernel: KernelFacts) -> list[str]:
    """Point the boot menus at ``kernel``. Returns the files changed."""
    changed: list[str] = []
    for loader in ctx.facts.boot.bootloaders:
        index = next(
            (i for i, e in enumerate(loader.entries) if e.kernel_path == kernel.image), None
        )
        if index is None:
            continue
        text = ctx.read_text(loader.config)
        if text is None:
            continue
        if loader.kind == "grub-legacy":
            cfg = grub_legacy.parse(text, source=loader.config)
            cfg.set_default(index)
            new = cfg.render()
        elif loader.kind == "grub2":
            entry = loader.entries[index]
            new = _set_grub_cfg_default(text, entry.index)
        else:
            continue
        if new != text:
            ctx.write_text(loader.config, new, f"boot kernel {kernel.version}")
            changed.append(loader.config)
    default_grub = ctx.read_text("/etc/default/grub")
    if default_grub is not None and changed:
        sv = shellvars.parse(default_grub, source="/etc/default/grub")
        entry_ids = [
            e.id
            for b in ctx.facts.boot.bootloaders
            if b.kind == "grub2"
            for e in b.entries
            if e.kernel_path == kernel.image and e.id
        ]
        if entry_ids:
            sv.set("GRUB_DEFAULT", entry_ids[0])
            ctx.write_text("/etc/default/grub", sv.render(), f"boot kernel {kernel.version}")
            changed.append("/etc/default/grub")
    return changed


def _set_grub_cfg_default(text: str, index: str) -> str:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("set default="):
            lead = line[: len(line) - len(line.lstrip())]
            lines[i] = f'{lead}set default="{index}"\n'
            return "".join(lines)
    return f'set default="{index}"\n' + text


def run_initramfs(ctx: CheckContext) -> None:
    facts = ctx.facts
    kernel = chosen_kernel(facts, ctx.mode)
    if kernel is None or not can_boot(kernel, ctx.mode):
        return  # the kernel check reports it
    wanted = [d for d in INITRAMFS[ctx.mode] if kernel.drivers.get(d) == "module"]
    root_fs = _root_fs_module(facts)
    if root_fs and kernel.config_options.get(f"{root_fs.upper()}_FS") == "m":
        wanted.append(root_fs)
    storage_modules = [d for d in STORAGE[ctx.mode] if kernel.drivers.get(d) == "module"]
    if not storage_modules:
        return  # everything the root disk needs is built in: any initramfs will do
    paths = _durable(ctx, wanted)
    appended = _immediate(ctx, kernel, wanted, storage_modules)
    if appended and kernel.initramfs:
        paths.append(kernel.initramfs)
    if not paths:
        return
    if appended:
        summary = f"the initramfs of {kernel.version} lacks {', '.join(storage_modules)}"
    else:
        summary = f"the initramfs generator is not told to include {', '.join(storage_modules)}"
    ctx.finding(
        Severity.BLOCKS_BOOT,
        summary,
        why="without the disk driver in the initramfs the root disk is never found "
        "('ALERT! ... does not exist'); the next initramfs rebuild must include it too",
        fix="the guest's own modules appended to the existing initramfs (no guest program "
        "run); the generator configured to include them from now on",
        paths=paths,
    )


def _immediate(
    ctx: CheckContext, kernel: KernelFacts, wanted: list[str], storage: list[str]
) -> list[str] | None:
    contents = kernel.initramfs_contents
    if kernel.initramfs is None or contents is None:
        ctx.finding(
            Severity.BLOCKS_BOOT,
            f"kernel {kernel.version} has its disk drivers as modules but no initramfs",
            why="the modules cannot load before the root filesystem is mounted",
            fix="none: build an initramfs in the guest, or a kernel with them built in",
            fixable=False,
        )
        return None
    if contents.error:
        ctx.finding(
            Severity.BLOCKS_BOOT,
            f"cannot read the initramfs {kernel.initramfs}: {contents.error}",
            why="its drivers cannot be checked or extended",
            fix="none",
            fixable=False,
        )
        return None
    if all(m in contents.modules for m in storage):
        return None
    path = kernel.initramfs
    try:
        data = ctx.plan.read_bytes(path, limit=LARGE_READ_LIMIT)
        if data is None:
            return None
        existing = read_initramfs(data, keep=append_keep, source=path)
        result = build_initramfs_append(ctx.plan.guest, kernel.version, existing, wanted)
    except (RefusedError, ParseError, GuestPathError) as exc:
        ctx.finding(
            Severity.BLOCKS_BOOT,
            f"cannot extend the initramfs {path}",
            why=str(exc),
            fix="none: rebuild the initramfs inside the guest",
            fixable=False,
        )
        return None
    except Xen2KvmError as exc:
        ctx.finding(
            Severity.BLOCKS_BOOT,
            f"cannot extend the initramfs {path}",
            why=str(exc),
            fix="none",
            fixable=False,
        )
        return None
    if not result.data:
        return None
    lines = result.summary.describe().splitlines()
    ctx.plan.append(
        path,
        result.data,
        check=ctx.check_id,
        reason="KVM disk drivers in the initramfs",
        summary=lines,
    )
    return lines


def _durable(ctx: CheckContext, wanted: list[str]) -> list[str]:
    """Tell the guest's initramfs generator to include ``wanted``; drop Xen modules."""
    gen = ctx.facts.generator
    changed: list[str] = []
    if gen.initramfs_tools is not None:
        text = ctx.read_text(INITRAMFS_TOOLS_MODULES) or ""
        lst = linelist.parse(text, source=INITRAMFS_TOOLS_MODULES)
        for xen in XEN_MODULES:
            lst.remove(xen)
        for mod in wanted:
            lst.add(mod)
        new = lst.render()
        if new != text:
            ctx.write_text(INITRAMFS_TOOLS_MODULES, new, "initramfs-tools includes KVM drivers")
            changed.append(INITRAMFS_TOOLS_MODULES)
    if gen.dracut is not None:
        have = set(gen.dracut.add_drivers) | set(gen.dracut.force_drivers)
        if not set(wanted) <= have or ctx.plan.exists(DRACUT_CONF):
            body = (
                "# Written by xen2kvm: KVM disk and NIC drivers in every initramfs.\n"
                f'add_drivers+=" {" ".join(wanted)} "\n'
            )
            before = ctx.read_text(DRACUT_CONF)
            ctx.write_text(DRACUT_CONF, body, "dracut includes KVM drivers", mode=0o644)
            if before != body:
                changed.append(DRACUT_CONF)
    if gen.mkinitcpio is not None:
        for path in gen.mkinitcpio.files[:1]:
            conf = ctx.read_text(path)
            if conf is None:
                continue
            sv = shellvars.parse(conf, source=path)
            mods = [m for m in (sv.get_array("MODULES") or []) if m not in XEN_MODULES]
            mods += [m for m in wanted if m not in mods]
            if mods != (sv.get_array("MODULES") or []):
                sv.set_array("MODULES", mods)
                ctx.write_text(path, sv.render(), "mkinitcpio includes KVM drivers")
                changed.append(path)
    if gen.suse is not None:
        path = gen.suse.file
        sysconfig = ctx.read_text(path)
        if sysconfig is not None:
            sv = shellvars.parse(sysconfig, source=path)
            mods = [m for m in (sv.get("INITRD_MODULES") or "").split() if m not in XEN_MODULES]
            mods += [m for m in wanted if m not in mods]
            value = " ".join(mods)
            if value != (sv.get("INITRD_MODULES") or ""):
                sv.set("INITRD_MODULES", value)
                ctx.write_text(path, sv.render(), "mkinitrd includes KVM drivers")
                changed.append(path)
    return changed


KERNEL = Check(
    id="kernel",
    title="KVM-capable kernel",
    why="the booted kernel must drive KVM's disks (virtio-scsi or IDE)",
    run=run_kernel,
)
INITRAMFS_DRIVERS = Check(
    id="initramfs-drivers",
    title="Drivers in the initramfs",
    why="a Xen-built initramfs lacks the KVM disk drivers",
    run=run_initramfs,
)

__all__ = ["INITRAMFS_DRIVERS", "KERNEL", "can_boot", "chosen_kernel"]
