"""Console facts: where the kernel console goes and which terminals get a login prompt.

A Xen PV guest talks on ``hvc0`` (``xvc0`` on old XenLinux kernels); on KVM the console is
``ttyS0``. Four things have to agree for a login on the serial console: the kernel command line
(``console=``), a getty on that terminal (systemd units, upstart jobs or /etc/inittab, whichever
the guest's init reads), /etc/securetty when root logs in there, and, to see the boot menu, GRUB's
serial terminal. This module records all four as they are; the console check decides.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from xen2kvm.distros import GettyStyle
from xen2kvm.errors import ParseError
from xen2kvm.facts._reader import FactReader
from xen2kvm.facts.system import InitSystem, SystemFacts
from xen2kvm.guest.base import Guest
from xen2kvm.parsers import cmdline as cmdline_parser
from xen2kvm.parsers import inittab as inittab_parser
from xen2kvm.parsers import linelist, shellvars

#: Terminals of a Xen PV guest.
XEN_CONSOLES = frozenset({"hvc0", "xvc0"})

_TTY_RE = re.compile(r"^(?:/dev/)?((?:tty|hvc|xvc|hvsi|ttyS|ttyAMA|console)[A-Za-z0-9]*)$")
_INSTANCE_RE = re.compile(r"^(?:/dev/)?(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)$")
_GETTY_UNIT_RE = re.compile(r"^(serial-getty|getty|autovt|container-getty)@(.+)\.service$")
_GENERATOR = "systemd-getty-generator"

SYSTEMD_UNIT_DIRS = ("/etc/systemd/system",)
GENERATOR_DIRS = ("/usr/lib/systemd/system-generators", "/lib/systemd/system-generators")
GRUB_LEGACY_FILES = ("/boot/grub/menu.lst", "/boot/grub/grub.conf")
GRUB2_CFG_FILES = ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg")


@dataclass(frozen=True)
class CmdlineConsole:
    """One ``console=`` parameter of a boot entry's command line."""

    #: Index of the command line in the list the caller gave.
    cmdline: int
    #: The terminal: ``hvc0``, ``xvc0``, ``ttyS0``, ``tty0``.
    device: str
    #: What follows the comma, e.g. ``19200n8``.
    options: str | None
    #: The parameter as written.
    param: str


@dataclass(frozen=True)
class Getty:
    """A login prompt configured on a terminal by one init mechanism."""

    #: ``hvc0``, ``ttyS0``, ``tty1``; for an upstart instance job the variable, e.g. ``$DEV``.
    device: str
    style: GettyStyle
    #: The unit link, unit file, upstart job or /etc/inittab.
    path: str
    #: Line in ``path`` (inittab, upstart job), None for units.
    line: int | None
    #: Configured to start (link present and not masked, job not ``manual``, line not
    #: commented out).
    enabled: bool
    #: The guest's init system reads this mechanism (an inittab getty on a systemd guest is not).
    in_use: bool
    #: The configuring text: the inittab or exec line, or the link target.
    text: str


@dataclass(frozen=True)
class ConsoleFacts:
    cmdline_consoles: list[CmdlineConsole] = field(default_factory=list)
    #: Values of ``xencons=`` (old XenLinux kernels), with the index of their command line.
    xencons: list[tuple[int, str]] = field(default_factory=list)
    gettys: list[Getty] = field(default_factory=list)
    #: Something starts a getty on the kernel's console by itself (systemd-getty-generator;
    #: RHEL 6's upstart serial.conf), so ``console=ttyS0`` alone gives a login there.
    console_getty_automatic: bool = False
    #: Why ``console_getty_automatic`` is set.
    console_getty_evidence: str = ""
    #: Path of /etc/securetty when present (only then does it restrict root logins).
    securetty_path: str | None = None
    #: Terminals listed in /etc/securetty.
    securetty: list[str] = field(default_factory=list)
    #: GRUB shows its menu on a serial terminal (legacy ``serial``/``terminal`` lines, GRUB 2
    #: GRUB_TERMINAL or ``terminal_output serial``). None when there is no GRUB config.
    grub_serial: bool | None = None
    #: ``path:line: text`` of the lines that decided ``grub_serial``.
    grub_serial_evidence: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def consoles_on(self, index: int) -> list[CmdlineConsole]:
        """The ``console=`` parameters of one command line, in order (the last is /dev/console)."""
        return [c for c in self.cmdline_consoles if c.cmdline == index]

    @property
    def xen_cmdline_consoles(self) -> list[CmdlineConsole]:
        """``console=hvc0``/``console=xvc0`` parameters on any command line."""
        return [c for c in self.cmdline_consoles if c.device in XEN_CONSOLES]

    def active_gettys(self) -> list[Getty]:
        """Gettys that will actually start: enabled, in a mechanism the init system reads."""
        return [g for g in self.gettys if g.enabled and g.in_use]

    def getty_on(self, device: str) -> list[Getty]:
        """Active gettys on ``device``."""
        return [g for g in self.active_gettys() if g.device == device]

    def securetty_lists(self, device: str) -> bool:
        return device in self.securetty


def gather_console(
    guest: Guest,
    system: SystemFacts,
    cmdlines: Sequence[str],
    *,
    grub_serial: bool | None = None,
) -> ConsoleFacts:
    """Console setup of ``guest``. ``cmdlines`` are the kernel command lines of its boot entries
    (from the boot facts). ``grub_serial`` may be given by a caller that already parsed the
    bootloader configuration; otherwise the GRUB files are scanned here."""
    rd = FactReader(guest)
    consoles, xencons = _cmdline_consoles(cmdlines)
    gettys: list[Getty] = []
    gettys += _systemd_gettys(rd, in_use=system.init is InitSystem.SYSTEMD)
    gettys += _upstart_gettys(rd, in_use=system.init is InitSystem.UPSTART)
    gettys += _inittab_gettys(rd, in_use=system.init is InitSystem.SYSVINIT)
    auto, auto_why = _automatic_console_getty(rd, system, gettys)
    sec_path, sec = _securetty(rd)
    evidence: list[str] = []
    if grub_serial is None:
        grub_serial, evidence = _grub_serial(rd)
    return ConsoleFacts(
        cmdline_consoles=consoles,
        xencons=xencons,
        gettys=gettys,
        console_getty_automatic=auto,
        console_getty_evidence=auto_why,
        securetty_path=sec_path,
        securetty=sec,
        grub_serial=grub_serial,
        grub_serial_evidence=evidence,
        problems=rd.problems,
    )


def _cmdline_consoles(
    cmdlines: Sequence[str],
) -> tuple[list[CmdlineConsole], list[tuple[int, str]]]:
    consoles: list[CmdlineConsole] = []
    xencons: list[tuple[int, str]] = []
    for index, text in enumerate(cmdlines):
        for param in cmdline_parser.parse(text):
            if param.key == "console" and param.value:
                device, _, options = param.value.partition(",")
                device = device.removeprefix("/dev/")
                consoles.append(CmdlineConsole(index, device, options or None, param.raw))
            elif param.key == "xencons" and param.value is not None:
                xencons.append((index, param.value))
    return consoles, xencons


def _tty_of(words: Sequence[str]) -> str | None:
    """The terminal a getty command runs on: the first argument naming a terminal."""
    for word in words:
        m = _TTY_RE.match(word)
        if m:
            return m.group(1)
        m = _INSTANCE_RE.match(word)
        if m:
            return m.group(1)
    return None


# --- systemd ----------------------------------------------------------------------------------


def _systemd_gettys(rd: FactReader, *, in_use: bool) -> list[Getty]:
    out: list[Getty] = []
    for base in SYSTEMD_UNIT_DIRS:
        names = rd.listdir(base)
        masked = {n for n in names if rd.readlink(f"{base}/{n}") == "/dev/null"}
        # .wants links are what enables a unit.
        for wants in names:
            if not wants.endswith(".wants") or not rd.is_dir(f"{base}/{wants}"):
                continue
            for unit in rd.listdir(f"{base}/{wants}"):
                m = _GETTY_UNIT_RE.match(unit)
                if m is None:
                    continue
                link = f"{base}/{wants}/{unit}"
                target = rd.readlink(link) or ""
                enabled = unit not in masked and target != "/dev/null"
                out.append(
                    Getty(m.group(2), GettyStyle.SYSTEMD, link, None, enabled, in_use, target)
                )
        # A unit file or link for one instance directly in /etc (a local unit, or a mask) does
        # not start anything by itself; it is recorded (off) unless a .wants link enables it.
        wanted = {posixpath.basename(g.path) for g in out}
        for name in names:
            m = _GETTY_UNIT_RE.match(name)
            if m is None or name in wanted:
                continue
            stored = rd.readlink(f"{base}/{name}")
            text = f"-> {stored}" if stored is not None else "unit file"
            out.append(
                Getty(m.group(2), GettyStyle.SYSTEMD, f"{base}/{name}", None, False, in_use, text)
            )
    return out


def _automatic_console_getty(
    rd: FactReader, system: SystemFacts, gettys: Sequence[Getty]
) -> tuple[bool, str]:
    if system.init is InitSystem.SYSTEMD:
        if rd.readlink(f"/etc/systemd/system-generators/{_GENERATOR}") == "/dev/null":
            return False, f"/etc/systemd/system-generators/{_GENERATOR} is masked"
        for directory in GENERATOR_DIRS:
            path = f"{directory}/{_GENERATOR}"
            if rd.exists(path):
                return True, f"{path} starts a getty on the kernel console"
        return False, ""
    if system.init is InitSystem.UPSTART:
        # RHEL 6: rc.sysinit emits fedora.serial-console-available for the kernel console.
        for g in gettys:
            if g.style is GettyStyle.UPSTART and g.enabled and g.device.startswith("$"):
                job = rd.text(g.path) or ""
                if "serial-console-available" in job:
                    return True, f"{g.path} starts a getty on the serial console"
    return False, ""


# --- upstart ----------------------------------------------------------------------------------


def _upstart_gettys(rd: FactReader, *, in_use: bool) -> list[Getty]:
    out: list[Getty] = []
    for path in rd.files("/etc/init", ".conf"):
        text = rd.text(path)
        if text is None:
            continue
        override = rd.text(path[: -len(".conf")] + ".override") or ""
        manual = re.search(r"^\s*manual\s*$", text + "\n" + override, re.M) is not None
        for lineno, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words or words[0] != "exec" or len(words) < 2:
                continue
            prog = posixpath.basename(words[1])
            if "getty" not in prog:
                continue
            device = _tty_of(words[2:])
            if device is None:
                continue
            out.append(
                Getty(device, GettyStyle.UPSTART, path, lineno, not manual, in_use, line.strip())
            )
    return out


# --- sysvinit ---------------------------------------------------------------------------------


def _inittab_gettys(rd: FactReader, *, in_use: bool) -> list[Getty]:
    text = rd.text("/etc/inittab")
    if text is None:
        return []
    out: list[Getty] = []
    for line in inittab_parser.parse(text).lines:
        entry, enabled = line, True
        if line.id is None:
            # A commented-out getty ("#T0:23:respawn:/sbin/getty -L ttyS0 9600 vt100") is
            # recorded too: convert may switch it on rather than write a new line.
            body = line.raw.strip()
            if not body.startswith("#"):
                continue
            entry = inittab_parser.parse(body.lstrip("#").strip() + "\n").lines[0]
            enabled = False
        if not entry.is_getty or entry.tty is None:
            continue
        if entry.action == "off":
            enabled = False
        out.append(
            Getty(
                entry.tty,
                GettyStyle.SYSVINIT,
                "/etc/inittab",
                line.line,
                enabled,
                in_use,
                line.raw.strip(),
            )
        )
    return out


# --- securetty and GRUB -----------------------------------------------------------------------


def _securetty(rd: FactReader) -> tuple[str | None, list[str]]:
    text = rd.text("/etc/securetty")
    if text is None:
        return None, []
    return "/etc/securetty", linelist.parse(text, "/etc/securetty").items()


def _grub_serial(rd: FactReader) -> tuple[bool | None, list[str]]:
    seen_config = False
    evidence: list[str] = []
    for path in GRUB_LEGACY_FILES:
        text = rd.text(path)
        if text is None:
            continue
        seen_config = True
        for lineno, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "serial" or (words[0] == "terminal" and "serial" in words[1:]):
                evidence.append(f"{path}:{lineno}: {line.strip()}")
    defaults = ["/etc/default/grub", *rd.files("/etc/default/grub.d", ".cfg")]
    env: dict[str, str] = {}
    for path in defaults:
        text = rd.text(path)
        if text is None:
            continue
        seen_config = True
        try:
            parsed = shellvars.parse(text, path)
        except ParseError as err:
            rd.problem(str(err))
            continue
        for name in ("GRUB_TERMINAL", "GRUB_TERMINAL_OUTPUT"):
            value = parsed.resolve(name, env)
            if value is not None:
                env[name] = value
    for name in ("GRUB_TERMINAL", "GRUB_TERMINAL_OUTPUT"):
        if "serial" in env.get(name, "").split():
            evidence.append(f"/etc/default/grub: {name}={env[name]}")
    for path in GRUB2_CFG_FILES:
        text = rd.text(path)
        if text is None:
            continue
        seen_config = True
        for lineno, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if (
                len(words) > 1
                and words[0] in ("terminal_output", "terminal")
                and ("serial" in words[1:])
            ):
                evidence.append(f"{path}:{lineno}: {line.strip()}")
    if not seen_config:
        return None, []
    return bool(evidence), evidence
