"""Will this kernel boot on KVM? Read a kernel ``.config`` and say, option by option.

Linode's boot error "This isn't a KVM kernel! Fix your configuration profile." means the kernel
that started has no driver for the disks KVM offers: it cannot find its root filesystem.
A custom or Xen-era kernel often has only Xen's front-end drivers (xen-blkfront,
xen-netfront). Paravirt KVM needs virtio (virtio-scsi disks, virtio-net); fullvirt needs
IDE/ATA (ata_piix) and e1000; both need the 8250 serial console. An option built in (``=y``)
works always; a module (``=m``) only if the initramfs carries it; an old XenLinux kernel
(CONFIG_X86_XEN / CONFIG_X86_64_XEN) cannot run on KVM at all.

:class:`KernelConfig` is a round-trip parser: ``KernelConfig.parse(text).render() == text``,
and :meth:`KernelConfig.set` changes only the line of that option.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from xen2kvm.errors import ParseError
from xen2kvm.hv.model import VMMode

KVM_KERNEL_MESSAGE = "This isn't a KVM kernel! Fix your configuration profile."

EXPLANATION = (
    f'"{KVM_KERNEL_MESSAGE}" (Linode) means: the kernel that was started has no drivers for '
    "the virtual hardware of a KVM machine, so it cannot find its root disk. Kernels built for "
    "Xen often have only Xen's own disk and network drivers (xen-blkfront, xen-netfront). "
    "Paravirt KVM needs the virtio drivers (virtio-scsi disks, virtio-net), fullvirt needs "
    "IDE/ATA (ata_piix) and e1000; both need the 8250 serial console. Fix it by booting a "
    "kernel that has them: built in (=y), or as modules (=m) that the initramfs carries, or "
    "switch to the distribution's kernel (GRUB 2 boot). An old XenLinux kernel "
    "(CONFIG_X86_XEN / CONFIG_X86_64_XEN) can never boot on KVM: choose another kernel."
)

_SET_RE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET_RE = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set\s*$")
_VERSION_RE = re.compile(r"^# Linux/\S+ (\S+) Kernel Configuration")


@dataclass
class _Line:
    text: str  # the raw line, newline included
    name: str = ""  # option name without CONFIG_, "" for comments and blanks
    value: str = ""  # "y", "m", "n" (is not set), or the raw value ("..." for strings)


class KernelConfig:
    """A kernel ``.config``, kept line by line so rendering gives back the same text."""

    def __init__(self, lines: list[_Line], source: str = "<input>") -> None:
        self._lines = lines
        self.source = source
        self._index = {ln.name: i for i, ln in enumerate(lines) if ln.name}

    @classmethod
    def parse(cls, text: str, source: str = "<input>") -> KernelConfig:
        """Parse ``.config`` text; lines other than options, comments and blanks are errors."""
        lines: list[_Line] = []
        for n, raw in enumerate(text.splitlines(keepends=True), 1):
            s = raw.rstrip("\r\n")
            m = _SET_RE.match(s)
            if m:
                lines.append(_Line(raw, m.group(1), m.group(2)))
                continue
            m = _UNSET_RE.match(s)
            if m:
                lines.append(_Line(raw, m.group(1), "n"))
                continue
            stripped = s.strip()
            if not stripped or stripped.startswith("#"):
                lines.append(_Line(raw))
                continue
            raise ParseError(
                f"not a kernel config line: {s[:60]!r} (expected CONFIG_NAME=value)",
                source=source,
                line=n,
                column=1 + len(s) - len(s.lstrip()),
            )
        cfg = cls(lines, source)
        if not cfg._index:
            raise ParseError("no CONFIG_ options: not a kernel config", source=source)
        return cfg

    def render(self) -> str:
        return "".join(ln.text for ln in self._lines)

    @staticmethod
    def _name(name: str) -> str:
        return name.removeprefix("CONFIG_")

    def get(self, name: str) -> str | None:
        """``y``, ``m``, ``n`` (written as "is not set"), a raw value, or None if absent."""
        i = self._index.get(self._name(name))
        return None if i is None else self._lines[i].value

    def knows(self, name: str) -> bool:
        """True if the option appears at all (set or "is not set"): the kernel has it."""
        return self._name(name) in self._index

    def set(self, name: str, value: str) -> None:
        """Set an option (``n`` writes "is not set"), in place, or appended at the end."""
        key = self._name(name)
        text = f"# CONFIG_{key} is not set\n" if value == "n" else f"CONFIG_{key}={value}\n"
        i = self._index.get(key)
        if i is not None:
            old = self._lines[i].text
            eol = old[len(old.rstrip("\r\n")) :] or ""
            self._lines[i] = _Line(text[:-1] + eol, key, value)
            return
        if self._lines and not self._lines[-1].text.endswith("\n"):
            self._lines[-1] = _Line(
                self._lines[-1].text + "\n", self._lines[-1].name, self._lines[-1].value
            )
        self._lines.append(_Line(text, key, value))
        self._index[key] = len(self._lines) - 1

    @property
    def options(self) -> dict[str, str]:
        return {ln.name: ln.value for ln in self._lines if ln.name}

    @property
    def version(self) -> str:
        for ln in self._lines[:10]:
            m = _VERSION_RE.match(ln.text)
            if m:
                return m.group(1)
        return ""


class OptionState(enum.Enum):
    BUILTIN = "built-in"
    MODULE = "module"
    MISSING = "missing"
    UNKNOWN = "unknown"  # cannot be told (a boolean option, judged from module lists)


class Verdict(enum.Enum):
    BOOTS = "boots"
    NEEDS_INITRAMFS = "needs-initramfs"  # boots only if the initramfs carries the modules
    MISSING_DRIVERS = "missing-drivers"
    XEN_ONLY = "xen-only"


#: option -> kernel module name (as in modules.builtin / .ko stems); "" = boolean option.
MODULE_NAMES = {
    "KVM_GUEST": "",
    "PARAVIRT": "",
    "HYPERVISOR_GUEST": "",
    "VIRTIO": "virtio",
    "VIRTIO_PCI": "virtio_pci",
    "VIRTIO_PCI_LEGACY": "",
    "VIRTIO_BLK": "virtio_blk",
    "SCSI": "scsi_mod",
    "SCSI_VIRTIO": "virtio_scsi",
    "BLK_DEV_SD": "sd_mod",
    "VIRTIO_NET": "virtio_net",
    "SERIAL_8250": "8250",
    "SERIAL_8250_CONSOLE": "",
    "ATA": "libata",
    "ATA_PIIX": "ata_piix",
    "IDE": "ide_core",
    "BLK_DEV_PIIX": "piix",
    "IDE_GENERIC": "ide_generic",
    "E1000": "e1000",
}


@dataclass(frozen=True)
class _Req:
    id: str
    title: str
    purpose: str  # "guest", "disk", "net", "console"
    alternatives: tuple[tuple[str, ...], ...]


_PARAVIRT = (
    _Req(
        "kvm-guest",
        "KVM guest support",
        "guest",
        (("KVM_GUEST",), ("PARAVIRT", "HYPERVISOR_GUEST")),
    ),
    _Req("virtio", "virtio core", "disk", (("VIRTIO",),)),
    _Req("virtio-pci", "virtio PCI transport", "disk", (("VIRTIO_PCI", "VIRTIO_PCI_LEGACY"),)),
    _Req("virtio-blk", "virtio block disks", "disk", (("VIRTIO_BLK",),)),
    _Req("scsi", "SCSI core", "disk", (("SCSI",),)),
    _Req("virtio-scsi", "virtio SCSI controller", "disk", (("SCSI_VIRTIO",),)),
    _Req("scsi-disk", "SCSI disks (sdX)", "disk", (("BLK_DEV_SD",),)),
    _Req("virtio-net", "virtio network", "net", (("VIRTIO_NET",),)),
    _Req("serial", "8250 serial port", "console", (("SERIAL_8250",),)),
    _Req(
        "serial-console", "console on the 8250 serial port", "console", (("SERIAL_8250_CONSOLE",),)
    ),
)
_FULLVIRT = (
    _Req(
        "ide",
        "IDE disks (libata ata_piix with sd, or the old IDE driver)",
        "disk",
        (
            ("ATA", "ATA_PIIX", "SCSI", "BLK_DEV_SD"),
            ("IDE", "BLK_DEV_PIIX"),
            ("IDE", "IDE_GENERIC"),
        ),
    ),
    _Req("e1000", "Intel e1000 network", "net", (("E1000",),)),
    _Req("serial", "8250 serial port", "console", (("SERIAL_8250",),)),
    _Req(
        "serial-console", "console on the 8250 serial port", "console", (("SERIAL_8250_CONSOLE",),)
    ),
)


def requirements(mode: VMMode) -> tuple[_Req, ...]:
    return _PARAVIRT if mode is VMMode.PARAVIRT else _FULLVIRT


@dataclass(frozen=True)
class OptionStatus:
    option: str  # without CONFIG_
    state: OptionState
    module: str = ""  # module name when it is (or would be) a module


@dataclass(frozen=True)
class RequirementStatus:
    id: str
    title: str
    purpose: str
    ok: bool  # satisfied without an initramfs
    state: OptionState  # the worst state among the options of the chosen alternative
    options: tuple[OptionStatus, ...]
    note: str = ""


@dataclass
class KernelAssessment:
    """Per-requirement status of a kernel for one KVM mode, and the verdict."""

    mode: VMMode
    verdict: Verdict
    requirements: list[RequirementStatus]
    #: Modules the initramfs must carry for the root disk to be found.
    initramfs_modules: list[str]
    missing: list[str]
    #: Lines to add to the .config (``CONFIG_X=y``) so it boots without help.
    fragment: list[str]
    xen_only: bool = False
    xen_only_reason: str = ""
    version: str = ""
    notes: list[str] = field(default_factory=list)
    explanation: str = EXPLANATION

    @property
    def boots(self) -> bool:
        return self.verdict is Verdict.BOOTS


_RANK = {
    OptionState.BUILTIN: 0,
    OptionState.UNKNOWN: 1,
    OptionState.MODULE: 2,
    OptionState.MISSING: 3,
}


def _assess(
    mode: VMMode,
    state_of: dict[str, OptionState],
    knows: set[str],
    *,
    xen_reason: str = "",
    version: str = "",
) -> KernelAssessment:
    reqs: list[RequirementStatus] = []
    initramfs: list[str] = []
    missing: list[str] = []
    fragment: list[str] = []
    notes: list[str] = []
    for req in requirements(mode):
        best: tuple[OptionStatus, ...] | None = None
        best_rank = 99
        for alt in req.alternatives:
            opts = tuple(
                OptionStatus(o, state_of.get(o, OptionState.MISSING), MODULE_NAMES.get(o, ""))
                for o in alt
                # VIRTIO_PCI_LEGACY only matters where the kernel has the option at all.
                if o != "VIRTIO_PCI_LEGACY" or o in knows
            )
            rank = max(_RANK[s.state] for s in opts)
            if rank < best_rank:
                best, best_rank = opts, rank
        assert best is not None
        worst = max((s.state for s in best), key=_RANK.__getitem__)
        note = ""
        ok = worst in (OptionState.BUILTIN, OptionState.UNKNOWN)
        if worst is OptionState.MODULE:
            mods = [s.module for s in best if s.state is OptionState.MODULE]
            if req.purpose == "disk":
                initramfs.extend(m for m in mods if m not in initramfs)
                note = "modules: the initramfs must carry " + ", ".join(mods)
            elif req.purpose == "net":
                ok = True
                note = "module: loaded from the root filesystem once it is mounted"
            else:
                note = "must be built in (=y) for the boot console on ttyS0"
                missing.extend(s.option for s in best if s.state is OptionState.MODULE)
        elif worst is OptionState.MISSING:
            absent = [s.option for s in best if s.state is OptionState.MISSING]
            missing.extend(absent)
            note = "missing: " + ", ".join(f"CONFIG_{o}" for o in absent)
        if req.id == "ide" and best and best[0].option == "IDE":
            notes.append(
                "the old IDE driver names disks hda, hdb...: the guest's fstab must "
                "use those names or UUID="
            )
        if not ok or (worst is OptionState.MODULE and req.purpose == "disk"):
            for s in best:
                if s.state in (OptionState.MISSING, OptionState.MODULE):
                    line = f"CONFIG_{s.option}=y"
                    if line not in fragment:
                        fragment.append(line)
        reqs.append(RequirementStatus(req.id, req.title, req.purpose, ok, worst, best, note))
    if xen_reason:
        verdict = Verdict.XEN_ONLY
    elif missing:
        verdict = Verdict.MISSING_DRIVERS
    elif initramfs:
        verdict = Verdict.NEEDS_INITRAMFS
    else:
        verdict = Verdict.BOOTS
    return KernelAssessment(
        mode=mode,
        verdict=verdict,
        requirements=reqs,
        initramfs_modules=initramfs,
        missing=missing,
        fragment=fragment,
        xen_only=bool(xen_reason),
        xen_only_reason=xen_reason,
        version=version,
        notes=notes,
    )


def xen_only_reason(config: KernelConfig) -> str:
    """Why ``config`` is an old XenLinux (Xen-only) kernel, or "" if it is not one."""
    for opt in ("X86_XEN", "X86_64_XEN"):
        if config.get(opt) == "y":
            return f"CONFIG_{opt}=y: a XenLinux kernel, which runs only as a Xen guest"
    if config.get("XEN") == "y" and config.get("PARAVIRT") != "y":
        return (
            "CONFIG_XEN=y without CONFIG_PARAVIRT: a XenLinux kernel, which runs only as "
            "a Xen guest"
        )
    return ""


def assess_kernel_config(config: KernelConfig, mode: VMMode) -> KernelAssessment:
    """Judge a kernel configuration for booting on KVM in ``mode``."""
    state_of: dict[str, OptionState] = {}
    for name in MODULE_NAMES:
        v = config.get(name)
        state_of[name] = (
            OptionState.BUILTIN
            if v == "y"
            else OptionState.MODULE
            if v == "m"
            else OptionState.MISSING
        )
    knows = {n for n in MODULE_NAMES if config.knows(n)}
    return _assess(
        mode, state_of, knows, xen_reason=xen_only_reason(config), version=config.version
    )


def normalise_module_name(name: str) -> str:
    """``kernel/drivers/scsi/sd_mod.ko.xz`` or ``virtio-scsi`` -> ``sd_mod`` / ``virtio_scsi``."""
    base = name.strip().rsplit("/", 1)[-1]
    base = re.sub(r"\.ko(\.(xz|gz|zst|bz2))?$", "", base)
    return base.replace("-", "_")


def assess_from_modules(
    builtin: Iterable[str], modules: Iterable[str], mode: VMMode
) -> KernelAssessment:
    """Judge a kernel that has no /boot/config from its module lists.

    ``builtin``: names from modules.builtin; ``modules``: .ko file stems (either form is
    normalised). Boolean options have no module and are reported as UNKNOWN.
    """
    b = {normalise_module_name(n) for n in builtin}
    m = {normalise_module_name(n) for n in modules}
    state_of: dict[str, OptionState] = {}
    for opt, mod in MODULE_NAMES.items():
        if not mod:
            state_of[opt] = OptionState.UNKNOWN
        elif mod in b:
            state_of[opt] = OptionState.BUILTIN
        elif mod in m:
            state_of[opt] = OptionState.MODULE
        else:
            state_of[opt] = OptionState.MISSING
    # VIRTIO_PCI_LEGACY is part of virtio_pci: module lists cannot show it, so it is left out.
    return _assess(mode, state_of, set())


def fragment_text(assessment: KernelAssessment) -> str:
    """The lines to add to a .config, with a comment saying why (empty if none needed)."""
    lines: list[str] = []
    if assessment.xen_only:
        lines.append(f"# {assessment.xen_only_reason}")
        lines.append("# No option makes a XenLinux tree boot on KVM: build a mainline kernel.")
    if assessment.fragment:
        lines.append(
            f"# xen2kvm: needed to boot on KVM ({assessment.mode.value}); then run "
            "'make olddefconfig'"
        )
        lines.extend(assessment.fragment)
    return "\n".join(lines) + ("\n" if lines else "")


_SHORT = {
    OptionState.BUILTIN: "y",
    OptionState.MODULE: "m",
    OptionState.MISSING: "(missing)",
    OptionState.UNKNOWN: "?",
}


def describe(assessment: KernelAssessment, source: str = "") -> Sequence[str]:
    """Human-readable report lines."""
    out = []
    head = source or "kernel"
    if assessment.version:
        head += f" (Linux {assessment.version})"
    out.append(f"{head}: KVM {assessment.mode.value}")
    for r in assessment.requirements:
        opts = ", ".join(f"CONFIG_{o.option}={_SHORT[o.state]}" for o in r.options)
        initramfs = r.state is OptionState.MODULE and r.purpose == "disk"
        mark = "ok " if r.ok else "mod" if initramfs else "NO "
        out.append(f"  {mark} {r.title}: {opts}" + (f"  ({r.note})" if r.note else ""))
    if assessment.xen_only:
        out.append(f"verdict: will not boot on KVM: {assessment.xen_only_reason}")
    elif assessment.verdict is Verdict.MISSING_DRIVERS:
        out.append(
            "verdict: will not boot on KVM: missing "
            + ", ".join(f"CONFIG_{o}" for o in assessment.missing)
        )
    elif assessment.verdict is Verdict.NEEDS_INITRAMFS:
        out.append(
            "verdict: boots only with an initramfs that carries: "
            + " ".join(assessment.initramfs_modules)
        )
    else:
        out.append("verdict: boots on KVM (every needed driver is built in)")
    out.extend(f"note: {n}" for n in assessment.notes)
    return out
