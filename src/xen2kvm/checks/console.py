"""console: move the console from Xen's hvc0/xvc0 to the serial port ttyS0.

On Xen PV the console is ``hvc0`` (``xvc0`` on very old kernels). KVM has no such device:
the console is the first serial port. A guest left as it is boots in silence on ttyS0 and
offers no login there (the out-of-band console that hosting users rely on).
"""

from __future__ import annotations

import re

from xen2kvm.checks._bootcfg import (
    CmdlineEdit,
    all_cmdlines,
    edit_cmdlines,
    grub_cfg_paths,
    grub_legacy_paths,
)
from xen2kvm.checks.base import Check, CheckContext, Severity
from xen2kvm.facts.system import InitSystem
from xen2kvm.parsers import grub_legacy, inittab, linelist, shellvars
from xen2kvm.parsers.cmdline import KernelCmdline

ID = "console"
SERIAL = "ttyS0"
SPEED = "19200"
SERIAL_CONSOLE = f"{SERIAL},{SPEED}n8"
XEN_TTYS = ("hvc0", "xvc0")
_XEN_CONSOLE_RE = re.compile(r"^(hvc|xvc)\d+")
GRUB_SERIAL_COMMAND = f"serial --speed={SPEED} --unit=0 --word=8 --parity=no --stop=1"
SYSTEMD_UNIT_DIRS = ("/lib/systemd/system", "/usr/lib/systemd/system")
WANTS_DIRS = (
    "/etc/systemd/system/getty.target.wants",
    "/etc/systemd/system/multi-user.target.wants",
)


def _is_xen_console(value: str | None) -> bool:
    return value is not None and bool(_XEN_CONSOLE_RE.match(value))


def _fix_cmdline(cl: KernelCmdline) -> None:
    has_serial = any((v or "").startswith(SERIAL) for v in cl.get_all("console"))
    drop: set[int] = set()
    for p in cl.find("console"):
        if _is_xen_console(p.value):
            if has_serial:
                drop.add(id(p))  # a serial console is already named: hvc0 just goes
            else:
                cl.replace_param(p, f"console={SERIAL_CONSOLE}")  # same place: order matters
                has_serial = True
    cl.remove_where(lambda q: id(q) in drop or q.key == "xencons")


CMDLINE_EDIT = CmdlineEdit(fix=_fix_cmdline)


def _wants_links(ctx: CheckContext, tty: str) -> list[str]:
    out = []
    for d in WANTS_DIRS:
        for unit in (f"serial-getty@{tty}.service", f"getty@{tty}.service"):
            path = f"{d}/{unit}"
            if ctx.plan.exists(path):
                out.append(path)
    return out


def _unit_template(ctx: CheckContext) -> str | None:
    for d in SYSTEMD_UNIT_DIRS:
        path = f"{d}/serial-getty@.service"
        if ctx.plan.guest.exists(path):
            return path
    return None


def run(ctx: CheckContext) -> None:
    facts = ctx.facts
    # 1. Kernel command lines.
    xen_lines = [
        path
        for path, cl in all_cmdlines(ctx)
        if any(_is_xen_console(v) for v in cl.get_all("console")) or cl.has("xencons")
    ]
    if xen_lines:
        changed = edit_cmdlines(ctx, CMDLINE_EDIT, "console hvc0/xvc0 -> ttyS0")
        ctx.finding(
            Severity.LOSES_CONSOLE,
            "the kernel console is hvc0/xvc0, which does not exist on KVM",
            why="KVM's console is the first serial port; with console=hvc0 the kernel and "
            "init print nothing on ttyS0 and the boot looks dead from the serial console",
            fix=f"console=hvc0/xvc0 -> console={SERIAL_CONSOLE}, xencons= removed",
            paths=sorted(set(changed or xen_lines)),
        )

    # 2. Login prompts.
    init = facts.system.init
    getty_paths: list[str] = []
    if init is InitSystem.SYSTEMD:
        xen_links = [p for tty in XEN_TTYS for p in _wants_links(ctx, tty)]
        serial_links = _wants_links(ctx, SERIAL)
        if xen_links and not serial_links:
            template = _unit_template(ctx)
            for link in xen_links:
                ctx.remove(link, "getty on hvc0 never starts on KVM")
                getty_paths.append(link)
            if template is not None:
                link = f"{WANTS_DIRS[0]}/serial-getty@{SERIAL}.service"
                ctx.symlink(link, template, "login prompt on the serial console")
                getty_paths.append(link)
    elif init is InitSystem.UPSTART:
        for tty in XEN_TTYS:
            old = f"/etc/init/{tty}.conf"
            text = ctx.read_text(old)
            new = f"/etc/init/{SERIAL}.conf"
            if text is None or ctx.plan.exists(new):
                continue
            body = re.sub(rf"\b{tty}\b", SERIAL, text)
            body = re.sub(r"(getty\b[^\n]*?)\b(9600|38400|115200)\b", rf"\g<1>{SPEED}", body)
            ctx.write_text(new, body, "upstart getty on ttyS0", mode=0o644)
            ctx.remove(old, "getty on hvc0 never starts on KVM")
            getty_paths += [old, new]
    text = ctx.read_text("/etc/inittab")
    if text is not None and init in (InitSystem.SYSVINIT, InitSystem.UPSTART, InitSystem.UNKNOWN):
        tab = inittab.parse(text)
        if not tab.getty_for(SERIAL):
            for line in tab.gettys():
                if line.tty in XEN_TTYS:
                    process = re.sub(rf"\b{line.tty}\b", SERIAL, line.process)
                    process = re.sub(r"\b(9600|38400|115200)\b", SPEED, process, count=1)
                    tab.set_entry(line, process=process)
            new = tab.render()
            if new != text:
                ctx.write_text("/etc/inittab", new, "getty on ttyS0")
                getty_paths.append("/etc/inittab")
    if getty_paths:
        ctx.finding(
            Severity.LOSES_CONSOLE,
            "the login prompt (getty) listens on hvc0 only",
            why="there is no hvc0 on KVM, so no login prompt appears on the serial console",
            fix=f"getty moved to {SERIAL} ({init.value})",
            paths=getty_paths,
        )

    # 3. securetty: old distros refuse root logins on terminals it does not list.
    sec = ctx.read_text("/etc/securetty")
    if sec is not None:
        lst = linelist.parse(sec, source="/etc/securetty")
        if not lst.has(SERIAL):
            lst.add(SERIAL)
            ctx.write_text("/etc/securetty", lst.render(), "allow root login on ttyS0")
            ctx.finding(
                Severity.LOSES_CONSOLE,
                "/etc/securetty does not list ttyS0",
                why="root cannot log in on a terminal missing from /etc/securetty",
                fix="ttyS0 added to /etc/securetty",
                paths=["/etc/securetty"],
            )

    # 4. Boot menus on the serial line too (the seed's "check Glish as well as Lish").
    _grub_serial(ctx)


def _grub_serial(ctx: CheckContext) -> None:
    changed: list[str] = []
    for path in grub_legacy_paths(ctx):
        text = ctx.read_text(path) or ""
        cfg = grub_legacy.parse(text, source=path)
        if not cfg.entries():
            continue
        if cfg.global_directive("serial") is None:
            cfg.add_global(f"serial --unit=0 --speed={SPEED}")
        terminal = cfg.global_directive("terminal")
        if terminal is None or "serial" not in terminal.args:
            cfg.set_global("terminal", "--timeout=10 serial console")
        new = cfg.render()
        if new != text:
            ctx.write_text(path, new, "GRUB menu on the serial console")
            changed.append(path)
    default = ctx.read_text("/etc/default/grub")
    if default is not None:
        sv = shellvars.parse(default, source="/etc/default/grub")
        if "serial" not in (sv.get("GRUB_TERMINAL") or sv.get("GRUB_TERMINAL_OUTPUT") or ""):
            sv.set("GRUB_TERMINAL", "serial console")
            if "GRUB_SERIAL_COMMAND" not in sv:
                sv.set("GRUB_SERIAL_COMMAND", GRUB_SERIAL_COMMAND)
            ctx.write_text("/etc/default/grub", sv.render(), "GRUB menu on the serial console")
            changed.append("/etc/default/grub")
    for path in grub_cfg_paths(ctx):
        text = ctx.read_text(path) or ""
        if re.search(r"^\s*terminal_output\b.*\bserial\b", text, re.M):
            continue
        lines = text.splitlines(keepends=True)
        # After the generated header comments, before the first command.
        pos = next(
            (i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")),
            len(lines),
        )
        block = [
            f"{GRUB_SERIAL_COMMAND}\n",
            "terminal_input serial console\n",
            "terminal_output serial console\n",
        ]
        ctx.write_text(path, "".join(lines[:pos] + block + lines[pos:]), "GRUB on serial")
        changed.append(path)
    if changed:
        ctx.finding(
            Severity.WARNING,
            "the boot menu is not shown on the serial console",
            why="without a GRUB serial terminal the menu and GRUB's messages appear only on the "
            "graphical console",
            fix=f"GRUB serial terminal at {SPEED} baud",
            paths=sorted(set(changed)),
        )


CHECK = Check(
    id=ID,
    title="Console on ttyS0",
    why=__doc__ or "",
    run=run,
)

__all__ = ["CHECK", "SERIAL_CONSOLE"]
