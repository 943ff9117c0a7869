"""Every place a guest keeps a kernel command line, and one way to edit them all.

Several checks change the kernel command line (console, device names, NIC naming, clock, SCSI
scan). The line lives in up to six formats at once: GRUB legacy entries and Debian's
``# kopt=`` magic comment, ``/etc/default/grub`` (+ ``grub.d``), the generated ``grub.cfg``
(which is what boots now), BLS entries, Fedora's ``grubenv`` ``kernelopts``, and
``/etc/kernel/cmdline``. A check describes its edit once (:class:`CmdlineEdit`); this module
applies it wherever the guest has a command line, so no place is forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from xen2kvm.checks.base import CheckContext
from xen2kvm.errors import GuestPathError
from xen2kvm.parsers import cmdline as cmdline_mod
from xen2kvm.parsers import grub_legacy, shellvars
from xen2kvm.parsers.cmdline import KernelCmdline

GRUB_LEGACY = (
    "/boot/grub/menu.lst",
    "/boot/grub/grub.conf",
    "/boot/grub2/menu.lst",
    "/boot/grub2/grub.conf",
    "/grub/menu.lst",
    "/grub/grub.conf",
    "/etc/grub.conf",
)
GRUB_DEFAULT = "/etc/default/grub"
GRUB_CFG = ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/grub/grub.cfg", "/grub2/grub.cfg")
GRUBENV = ("/boot/grub2/grubenv", "/boot/grub/grubenv")
KERNEL_CMDLINE = "/etc/kernel/cmdline"

_LINUX_RE = re.compile(r"^([ \t]*)(linux|linux16|linuxefi|linux32)([ \t]+)(\S+)(.*)$")
_BLS_OPTIONS_RE = re.compile(r"^([ \t]*options)([ \t]+)(.*)$")


@dataclass(frozen=True)
class CmdlineEdit:
    """An edit of kernel command lines.

    ``fix`` rewrites or removes parameters in place (it is applied to every part of a split
    line, e.g. both GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT). ``add`` looks at the
    whole line and returns parameters to append (added once, to the primary part).
    """

    fix: Callable[[KernelCmdline], None] = lambda _cl: None
    add: Callable[[KernelCmdline], list[tuple[str, str | None]]] = lambda _cl: []


def _apply(edit: CmdlineEdit, parts: list[KernelCmdline]) -> None:
    for part in parts:
        edit.fix(part)
    whole = cmdline_mod.parse(" ".join(p.render().strip() for p in parts))
    for key, value in edit.add(whole):
        parts[0].add(key, value)


def _existing(ctx: CheckContext, paths: tuple[str, ...] | list[str]) -> list[str]:
    """Existing regular files among ``paths``, one per real file (symlinks collapse)."""
    seen: set[str] = set()
    out: list[str] = []
    for path in paths:
        if ctx.read_text(path) is None:
            continue
        try:
            real = ctx.plan.guest.realpath(path)
        except GuestPathError:
            real = path
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out


def grub_legacy_paths(ctx: CheckContext) -> list[str]:
    return _existing(ctx, GRUB_LEGACY)


def grub_cfg_paths(ctx: CheckContext) -> list[str]:
    return _existing(ctx, GRUB_CFG)


def grub_default_paths(ctx: CheckContext) -> list[str]:
    extra = [p for p in ctx.plan.guest.glob("/etc/default/grub.d/*.cfg")]
    return _existing(ctx, [GRUB_DEFAULT, *extra])


def bls_paths(ctx: CheckContext) -> list[str]:
    return _existing(ctx, ctx.plan.guest.glob("/boot/loader/entries/*.conf"))


def edit_cmdlines(ctx: CheckContext, edit: CmdlineEdit, reason: str) -> list[str]:
    """Apply ``edit`` to every kernel command line in the guest. Returns the changed paths."""
    changed: list[str] = []

    def save(path: str, old: str, new: str) -> None:
        if new != old:
            ctx.write_text(path, new, reason)
            changed.append(path)

    for path in grub_legacy_paths(ctx):
        text = ctx.read_text(path) or ""
        cfg = grub_legacy.parse(text, source=path)
        for entry in cfg.entries():
            cl = entry.cmdline
            if cl is not None:
                _apply(edit, [cl])  # the parser renders an edited command line itself
        kopt = cfg.magic().get("kopt")
        if kopt is not None:
            cl = cmdline_mod.parse(kopt.magic_value)
            _apply(edit, [cl])
            cfg.set_magic("kopt", cl.render())
        save(path, text, cfg.render())

    for path in grub_default_paths(ctx):
        text = ctx.read_text(path) or ""
        sv = shellvars.parse(text, source=path)
        names = [n for n in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT") if n in sv]
        if path == GRUB_DEFAULT and "GRUB_CMDLINE_LINUX" not in names:
            names.insert(0, "GRUB_CMDLINE_LINUX")
        parts = [cmdline_mod.parse(sv.get(n) or "") for n in names]
        before = [p.render() for p in parts]
        _apply(edit, parts)
        for name, part, old in zip(names, parts, before, strict=True):
            if part.render() != old:
                sv.set(name, part.render().strip())
        save(path, text, sv.render())

    for path in grub_cfg_paths(ctx):
        text = ctx.read_text(path) or ""
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            body = line.rstrip("\r\n")
            m = _LINUX_RE.match(body)
            if not m:
                continue
            cl = cmdline_mod.parse(m.group(5))
            _apply(edit, [cl])
            lines[i] = m.group(1) + m.group(2) + m.group(3) + m.group(4) + cl.render() + line[
                len(body) :
            ]
        save(path, text, "".join(lines))

    for path in bls_paths(ctx):
        text = ctx.read_text(path) or ""
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            body = line.rstrip("\r\n")
            m = _BLS_OPTIONS_RE.match(body)
            if m and "$" not in m.group(3):
                cl = cmdline_mod.parse(m.group(3))
                _apply(edit, [cl])
                lines[i] = m.group(1) + m.group(2) + cl.render() + line[len(body) :]
        save(path, text, "".join(lines))

    for path in _existing(ctx, GRUBENV):
        text = ctx.read_text(path) or ""
        new = _edit_grubenv(text, edit)
        if new is not None:
            save(path, text, new)

    for path in _existing(ctx, [KERNEL_CMDLINE]):
        text = ctx.read_text(path) or ""
        cl = cmdline_mod.parse(text)
        _apply(edit, [cl])
        save(path, text, cl.render())
    return changed


def _edit_grubenv(text: str, edit: CmdlineEdit) -> str | None:
    """Edit ``kernelopts=`` in a GRUB environment block, keeping its fixed 1024-byte size."""
    if not text.startswith("# GRUB Environment Block"):
        return None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("kernelopts="):
            cl = cmdline_mod.parse(line[len("kernelopts=") :])
            _apply(edit, [cl])
            lines[i] = "kernelopts=" + cl.render()
    body = "\n".join(lines).rstrip("#")
    if len(text) == 1024:
        if len(body) > 1024:
            return None  # no room: leave grubenv alone rather than corrupt it
        body += "#" * (1024 - len(body))
    return body


def all_cmdlines(ctx: CheckContext) -> list[tuple[str, KernelCmdline]]:
    """Every kernel command line found (path, line), for detection: do not modify them.

    Parsed once per state of the plan; five checks ask, most of them before any change.
    """
    return ctx.plan.derived("all_cmdlines", lambda: _all_cmdlines(ctx))


def _all_cmdlines(ctx: CheckContext) -> list[tuple[str, KernelCmdline]]:
    collected: list[tuple[str, KernelCmdline]] = []
    for path in grub_legacy_paths(ctx):
        cfg = grub_legacy.parse(ctx.read_text(path) or "", source=path)
        for entry in cfg.entries():
            if entry.cmdline is not None:
                collected.append((path, entry.cmdline))
    for path in grub_default_paths(ctx):
        sv = shellvars.parse(ctx.read_text(path) or "", source=path)
        for n in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"):
            if n in sv:
                collected.append((path, cmdline_mod.parse(sv.get(n) or "")))
    for path in grub_cfg_paths(ctx):
        for line in (ctx.read_text(path) or "").splitlines():
            m = _LINUX_RE.match(line)
            if m:
                collected.append((path, cmdline_mod.parse(m.group(5))))
    for path in bls_paths(ctx):
        for line in (ctx.read_text(path) or "").splitlines():
            m = _BLS_OPTIONS_RE.match(line)
            if m:
                collected.append((path, cmdline_mod.parse(m.group(3))))
    for path in _existing(ctx, [KERNEL_CMDLINE]):
        collected.append((path, cmdline_mod.parse(ctx.read_text(path) or "")))
    return collected
