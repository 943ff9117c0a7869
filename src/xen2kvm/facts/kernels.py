"""Kernel facts: installed kernels, the KVM drivers each has, Xen-only kernels, each kernel's
initramfs (read by xen2kvm itself), and the initramfs generator's configuration.

Kernels are found from both ends: images in /boot (``vmlinuz-VER``, ``vmlinux-VER``,
``kernel-VER``, Arch's ``vmlinuz-PKGBASE``) and module trees (/lib/modules/VER,
/usr/lib/modules/VER). Reading an initramfs decompresses tens of MB, so it happens only when
asked, for the kernels asked for.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from xen2kvm.errors import GuestPathError, ParseError
from xen2kvm.facts._reader import FactReader
from xen2kvm.guest.base import LARGE_READ_LIMIT, Guest
from xen2kvm.initramfs.compression import Compression
from xen2kvm.initramfs.moddep import ModuleIndex, join_modpath, load_module_index
from xen2kvm.initramfs.reader import Generator, Segment, read_initramfs
from xen2kvm.parsers import shellvars

#: Drivers that matter on KVM, with the config option that builds each.
KVM_DRIVERS: dict[str, str] = {
    "virtio": "VIRTIO",
    "virtio_ring": "VIRTIO",
    "virtio_pci": "VIRTIO_PCI",
    "virtio_blk": "VIRTIO_BLK",
    "virtio_scsi": "SCSI_VIRTIO",
    "virtio_net": "VIRTIO_NET",
    "scsi_mod": "SCSI",
    "sd_mod": "BLK_DEV_SD",
    "libata": "ATA",
    "ata_piix": "ATA_PIIX",
    "ata_generic": "ATA_GENERIC",
    "ide_core": "IDE",
    "ide_disk": "BLK_DEV_IDEDISK",
    "ide_gd_mod": "BLK_DEV_IDEDISK",
    "ide_generic": "BLK_DEV_GENERIC",
    "piix": "BLK_DEV_PIIX",
    "e1000": "E1000",
    "8250": "SERIAL_8250",
}

#: Config options recorded in the facts (the rest of a kernel config is not kept).
CONFIG_OPTIONS = (
    *sorted(set(KVM_DRIVERS.values())),
    "KVM_GUEST",
    "PARAVIRT",
    "VIRTIO_PCI_LEGACY",
    "SERIAL_8250_CONSOLE",
    "X86_XEN",
    "X86_64_XEN",
    "XEN",
    "XEN_BLKDEV_FRONTEND",
    "XEN_NETDEV_FRONTEND",
    "EXT4_FS",
    "DEVTMPFS",
)

_VIRTIO = ("virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net")
_IMAGE_PREFIXES = ("vmlinuz-", "vmlinux-", "kernel-", "bzImage-")
_XEN_FLAVOUR = re.compile(r"(?:^|[-.+_])xen(?:$|[-.+_])|xen$")
_CONFIG_LINE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$|^# CONFIG_([A-Za-z0-9_]+) is not set")


@dataclass(frozen=True)
class InitramfsSummary:
    """What a kernel's initramfs holds (read by xen2kvm from the file)."""

    path: str
    size: int
    generator: Generator
    compression: Compression
    segments: list[Segment]
    modules: frozenset[str]
    kernel_versions: list[str]
    error: str | None = None  # why it could not be read (the other fields are then empty)


@dataclass(frozen=True)
class KernelFacts:
    """One installed kernel."""

    version: str
    image: str | None
    config: str | None
    initramfs: str | None
    modules_dir: str | None
    pkgbase: str | None  # Arch's kernel package (linux, linux-lts, ...)
    #: driver -> "builtin" | "module" | "missing" | "unknown" (no config, no modules.builtin)
    drivers: dict[str, str]
    config_options: dict[str, str]  # option (no CONFIG_ prefix) -> y | m | n | value
    xen_only: bool
    xen_only_reason: str | None
    initramfs_contents: InitramfsSummary | None = None
    problems: list[str] = field(default_factory=list)

    def has(self, driver: str) -> bool:
        """Built in or available as a module."""
        return self.drivers.get(driver) in ("builtin", "module")

    def builtin(self, driver: str) -> bool:
        return self.drivers.get(driver) == "builtin"


def parse_kernel_config(text: str) -> dict[str, str]:
    """A kernel .config as option -> value (``n`` for "is not set"), prefix dropped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _CONFIG_LINE.match(line.strip())
        if not m:
            continue
        if m.group(1):
            out[m.group(1)] = m.group(2).strip().strip('"')
        else:
            out[m.group(3)] = "n"
    return out


def driver_states(
    index: ModuleIndex,
    config: dict[str, str] | None,
    exists: Callable[[str], bool] | None = None,
) -> dict[str, str]:
    """Per KVM driver: built in (modules.builtin or ``=y``), a module (listed in modules.dep
    or found under kernel/, and, given ``exists``, its file really there), missing, or
    unknown when nothing tells built-ins apart."""
    out: dict[str, str] = {}
    knows_builtin = bool(index.builtin) or config is not None
    for name, option in KVM_DRIVERS.items():
        if name in index.builtin or (config is not None and config.get(option) == "y"):
            out[name] = "builtin"
        elif name in index.modules and (
            exists is None or exists(join_modpath(index.directory, index.modules[name].path))
        ):
            out[name] = "module"
        elif knows_builtin:
            out[name] = "missing"
        else:
            out[name] = "unknown"
    return out


def _xen_only(
    version: str, config: dict[str, str] | None, drivers: dict[str, str]
) -> tuple[bool, str | None]:
    if config is not None:
        for opt in ("X86_XEN", "X86_64_XEN"):
            if config.get(opt) == "y":
                return True, f"CONFIG_{opt}=y: a XenLinux kernel, it runs only as a Xen guest"
    if _XEN_FLAVOUR.search(version) and not any(
        drivers.get(d) in ("builtin", "module") for d in _VIRTIO
    ):
        return True, f"'{version}' is a Xen flavour with no virtio driver at all"
    return False, None


def _first_file(rd: FactReader, paths: Iterable[str]) -> str | None:
    for p in paths:
        if rd.is_file(p):
            return p
    return None


def _modules_dirs(rd: FactReader) -> dict[str, str]:
    out: dict[str, str] = {}
    for base in ("/lib/modules", "/usr/lib/modules"):
        for name in rd.listdir(base):
            path = f"{base}/{name}"
            if name not in out and rd.is_dir(path):
                out[name] = path
    return out


def _summarise_initramfs(guest: Guest, rd: FactReader, path: str) -> InitramfsSummary:
    try:
        data = guest.read_bytes(path, limit=LARGE_READ_LIMIT)
        img = read_initramfs(data, keep=False, source=f"{guest.name}:{path}")
    except (ParseError, GuestPathError) as err:
        rd.problem(f"initramfs {path}: {err}")
        return InitramfsSummary(
            path, 0, Generator.UNKNOWN, Compression.NONE, [], frozenset(), [], str(err)
        )
    return InitramfsSummary(
        path=path,
        size=img.size,
        generator=img.generator,
        compression=img.compression,
        segments=img.segments,
        modules=img.modules,
        kernel_versions=img.kernel_versions,
    )


def gather_kernels(
    guest: Guest, *, initramfs_for: bool | Iterable[str] = False
) -> list[KernelFacts]:
    """Every installed kernel, sorted by version string.

    ``initramfs_for``: read the initramfs of every kernel (True), of none (False, the
    default) or of the listed versions.
    """
    rd = FactReader(guest)
    moddirs = _modules_dirs(rd)
    pkgbases: dict[str, str] = {}
    for version, d in moddirs.items():
        text = rd.text(f"{d}/pkgbase", limit=4096)
        if text and text.strip():
            pkgbases[version] = text.strip()
    by_pkgbase = {b: v for v, b in pkgbases.items()}

    images: dict[str, str] = {}
    for name in rd.listdir("/boot"):
        path = f"/boot/{name}"
        prefix = next((p for p in _IMAGE_PREFIXES if name.startswith(p)), None)
        if prefix is None or name.endswith((".sig", ".hmac", ".old")) or not rd.is_file(path):
            continue
        suffix = name[len(prefix) :]
        version = by_pkgbase.get(suffix, suffix)
        images.setdefault(version, path)
    versions = sorted(set(moddirs) | set(images))
    if isinstance(initramfs_for, bool):
        wanted = set(versions) if initramfs_for else set()
    else:
        wanted = set(initramfs_for)

    out: list[KernelFacts] = []
    for version in versions:
        before = len(rd.problems)
        moddir = moddirs.get(version)
        pkgbase = pkgbases.get(version)
        image = images.get(version) or _first_file(rd, [f"{moddir}/vmlinuz"] if moddir else [])
        config_path = _first_file(
            rd, [f"/boot/config-{version}", *([f"{moddir}/config"] if moddir else [])]
        )
        config = None
        if config_path is not None:
            text = rd.text(config_path)
            config = parse_kernel_config(text) if text is not None else None
        try:
            index = load_module_index(guest, version)
        except (GuestPathError, ParseError) as err:
            rd.problem(f"modules of {version}: {err}")
            index = ModuleIndex(version, moddir or "")
        drivers = driver_states(index, config, rd.is_file)
        xen_only, reason = _xen_only(version, config, drivers)
        candidates = [
            f"/boot/initrd.img-{version}",
            f"/boot/initramfs-{version}.img",
            f"/boot/initrd-{version}",
            f"/boot/initrd-{version}.img",
        ]
        if pkgbase:
            candidates.insert(0, f"/boot/initramfs-{pkgbase}.img")
        initrd = _first_file(rd, candidates)
        summary = None
        if initrd is not None and version in wanted:
            summary = _summarise_initramfs(guest, rd, initrd)
        out.append(
            KernelFacts(
                version=version,
                image=image,
                config=config_path,
                initramfs=initrd,
                modules_dir=moddir,
                pkgbase=pkgbase,
                drivers=drivers,
                config_options={k: config[k] for k in CONFIG_OPTIONS if config and k in config},
                xen_only=xen_only,
                xen_only_reason=reason,
                initramfs_contents=summary,
                problems=rd.problems[before:],
            )
        )
    return out


def with_initramfs(guest: Guest, kernels: list[KernelFacts], version: str) -> list[KernelFacts]:
    """``kernels`` with the initramfs of ``version`` read: what
    ``gather_kernels(guest, initramfs_for=[version])`` returns, without gathering (and parsing
    every module index) again."""
    out: list[KernelFacts] = []
    for k in kernels:
        if k.version == version and k.initramfs is not None and k.initramfs_contents is None:
            rd = FactReader(guest)
            summary = _summarise_initramfs(guest, rd, k.initramfs)
            k = replace(k, initramfs_contents=summary, problems=[*k.problems, *rd.problems])
        out.append(k)
    return out


# --- the generator's configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class InitramfsToolsConfig:
    modules_policy: str | None  # MODULES= most | dep | list | netboot
    modules: list[str]  # /etc/initramfs-tools/modules, first word of each line
    compress: str | None
    files: list[str]


@dataclass(frozen=True)
class DracutConfig:
    hostonly: bool | None
    add_drivers: list[str]
    force_drivers: list[str]
    drivers: list[str]
    omit_drivers: list[str]
    files: list[str]  # in the order dracut reads them


@dataclass(frozen=True)
class MkinitcpioConfig:
    modules: list[str]
    hooks: list[str]
    autodetect: bool
    files: list[str]


@dataclass(frozen=True)
class SuseKernelConfig:
    initrd_modules: list[str]  # INITRD_MODULES in /etc/sysconfig/kernel
    file: str


@dataclass(frozen=True)
class GeneratorConfig:
    """How the guest's initramfs generator(s) are configured (None: not configured)."""

    initramfs_tools: InitramfsToolsConfig | None = None
    dracut: DracutConfig | None = None
    mkinitcpio: MkinitcpioConfig | None = None
    suse: SuseKernelConfig | None = None
    problems: list[str] = field(default_factory=list)


def _shell(rd: FactReader, path: str, env: dict[str, str]) -> dict[str, str] | None:
    text = rd.text(path)
    if text is None:
        return None
    try:
        return shellvars.parse(text, path).evaluate(env)
    except ParseError as err:
        rd.problem(str(err))
        return None


def _conf_files(rd: FactReader, main: str | None, dirs: Iterable[str], suffix: str) -> list[str]:
    """``main`` then the drop-ins of ``dirs`` by file name (an earlier dir's file of the same
    name hides a later one's, as /etc hides /usr/lib for dracut)."""
    chosen: dict[str, str] = {}
    for d in dirs:
        for p in rd.files(d, suffix):
            chosen.setdefault(posixpath.basename(p), p)
    files = [main] if main and rd.is_file(main) else []
    return files + [chosen[k] for k in sorted(chosen)]


def gather_generator_config(guest: Guest) -> GeneratorConfig:
    """The configuration of every initramfs generator found in the guest."""
    rd = FactReader(guest)
    itools = None
    conf = "/etc/initramfs-tools/initramfs.conf"
    if rd.is_dir("/etc/initramfs-tools"):
        files = _conf_files(rd, conf, ["/etc/initramfs-tools/conf.d"], "")
        env: dict[str, str] = {}
        for f in files:
            env = _shell(rd, f, env) or env
        mods_text = rd.text("/etc/initramfs-tools/modules") or ""
        mods = [
            ln.split()[0]
            for ln in mods_text.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
        itools = InitramfsToolsConfig(env.get("MODULES"), mods, env.get("COMPRESS"), files)

    dracut = None
    files = _conf_files(
        rd, "/etc/dracut.conf", ["/etc/dracut.conf.d", "/usr/lib/dracut/dracut.conf.d"], ".conf"
    )
    if files or rd.is_dir("/usr/lib/dracut") or rd.is_dir("/etc/dracut.conf.d"):
        env = {}
        for f in files:
            env = _shell(rd, f, env) or env
        host = env.get("hostonly")
        dracut = DracutConfig(
            hostonly=None if host is None else host.strip() in ("yes", "y", "1", "true"),
            add_drivers=env.get("add_drivers", "").split(),
            force_drivers=env.get("force_drivers", "").split(),
            drivers=env.get("drivers", "").split(),
            omit_drivers=env.get("omit_drivers", "").split(),
            files=files,
        )

    mkcpio = None
    files = _conf_files(rd, "/etc/mkinitcpio.conf", ["/etc/mkinitcpio.conf.d"], ".conf")
    if files:
        arrays: dict[str, list[str]] = {"MODULES": [], "HOOKS": []}
        for f in files:
            text = rd.text(f)
            if text is None:
                continue
            try:
                sv = shellvars.parse(text, f)
            except ParseError as err:
                rd.problem(str(err))
                continue
            for name in arrays:
                got = sv.get_array(name)
                if got is not None:
                    arrays[name] = [w for item in got for w in item.split()]
        hooks = arrays["HOOKS"]
        mkcpio = MkinitcpioConfig(arrays["MODULES"], hooks, "autodetect" in hooks, files)

    suse = None
    sysconfig = "/etc/sysconfig/kernel"
    values = _shell(rd, sysconfig, {}) if rd.is_file(sysconfig) else None
    if values is not None:
        suse = SuseKernelConfig(values.get("INITRD_MODULES", "").split(), sysconfig)

    return GeneratorConfig(itools, dracut, mkcpio, suse, rd.problems)
