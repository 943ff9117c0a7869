"""Boot facts: which bootloader configurations a guest has, their entries, the default entry
and its kernel command line.

Read-only. Looks at GRUB legacy (pv-grub/pygrub ``menu.lst``, RHEL ``grub.conf``; also under
``/grub`` for a separate /boot filesystem mounted elsewhere), GRUB 2 (``/etc/default/grub``,
``/etc/default/grub.d/*.cfg``, ``grub.cfg``, ``grubenv``), BLS entries and
``/etc/kernel/cmdline``. Which configuration boots follows pygrub's search order: a
``grub.cfg`` wins over ``menu.lst``/``grub.conf``; a ``grub.cfg`` that calls ``blscfg`` boots
the BLS entries.

Unreadable files (symlink loops, FIFOs, oversized files) and unparseable ones become entries of
:attr:`BootFacts.problems`, never exceptions.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from xen2kvm.errors import ParseError
from xen2kvm.facts._reader import FactReader
from xen2kvm.guest.base import FileKind, Guest
from xen2kvm.parsers import bls, grub2, grub_legacy, shellvars

__all__ = [
    "BLS_DIR",
    "GRUB2_CFG_PATHS",
    "GRUB_DEFAULT_D",
    "GRUB_DEFAULT_FILE",
    "GRUB_LEGACY_PATHS",
    "KERNEL_CMDLINE_FILE",
    "BootEntry",
    "BootFacts",
    "Bootloader",
    "gather_boot",
    "resolve_boot_path",
]

#: GRUB legacy configs in the order pv-grub/pygrub look for them; ``/grub/...`` is the same
#: file seen from a separate /boot filesystem when only that filesystem is the guest root.
GRUB_LEGACY_PATHS = (
    "/boot/grub/menu.lst",
    "/boot/grub/grub.conf",
    "/boot/grub2/menu.lst",
    "/boot/grub2/grub.conf",
    "/grub/menu.lst",
    "/grub/grub.conf",
)
GRUB2_CFG_PATHS = (
    "/boot/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/grub/grub.cfg",
    "/grub2/grub.cfg",
)
GRUB_DEFAULT_FILE = "/etc/default/grub"
GRUB_DEFAULT_D = "/etc/default/grub.d"
BLS_DIR = "/boot/loader/entries"
KERNEL_CMDLINE_FILE = "/etc/kernel/cmdline"
_GRUB_LEGACY_SAVED = ("/boot/grub/default", "/grub/default")
#: A grub.cfg is generated text of a few hundred KB at most; a BLS entry is a few lines.
_BLS_LIMIT = 64 * 1024
_DEVICE_PREFIX = re.compile(r"^\([^)]*\)")


@dataclass(frozen=True)
class BootEntry:
    """One boot menu entry."""

    title: str
    #: Kernel path as written in the configuration (may carry a ``(hd0,0)`` prefix).
    kernel: str | None
    #: The kernel as a guest path, resolved by existence under / and /boot; None if missing.
    kernel_path: str | None
    initrd: str | None
    initrd_path: str | None
    #: Kernel command line as written (BLS ``$kernelopts`` expanded from grubenv).
    cmdline: str
    #: Where the entry sits: "0" (grub legacy / top level), "1>2" (GRUB 2 submenu), or the BLS
    #: entry id (file name without ``.conf``).
    index: str
    id: str | None
    #: File holding the entry and the line of its kernel/linux/options line.
    source: str
    line: int | None = None


@dataclass(frozen=True)
class Bootloader:
    """One bootloader configuration found in the guest."""

    #: "grub-legacy" | "grub2" | "bls"
    kind: str
    #: The main configuration file (for BLS the entries directory).
    config: str
    entries: list[BootEntry] = field(default_factory=list)
    #: The default as written: "0", "saved", "${saved_entry}", an id, "1>2" ... (None: unset).
    default_ref: str | None = None
    #: Position of the default entry in :attr:`entries` (None if there are no entries).
    default_index: int | None = None
    #: GRUB 2 grub.cfg that hands over to BLS entries (``blscfg``).
    uses_bls: bool = False
    #: Every file read for this bootloader.
    files: list[str] = field(default_factory=list)

    @property
    def default_entry(self) -> BootEntry | None:
        if self.default_index is None:
            return None
        return self.entries[self.default_index]


@dataclass(frozen=True)
class BootFacts:
    bootloaders: list[Bootloader]
    #: Kind of the bootloader configuration the guest boots with (see module doc), or None.
    active: str | None
    default_entry: BootEntry | None
    #: Kernel command line of the default entry.
    default_cmdline: str | None
    #: /etc/default/grub merged with /etc/default/grub.d/*.cfg, expansions of earlier values
    #: resolved (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT, GRUB_DEFAULT, GRUB_TERMINAL,
    #: GRUB_SERIAL_COMMAND, GRUB_DISABLE_LINUX_UUID, ...).
    grub_defaults: dict[str, str]
    #: /etc/default/grub and the grub.d snippets that exist, in sourcing order.
    grub_default_files: list[str]
    #: GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT: what grub-mkconfig will write next.
    grub_defaults_cmdline: str | None
    #: Variables of grubenv (saved_entry, kernelopts, ...), and its path.
    grubenv: dict[str, str]
    grubenv_path: str | None
    #: /etc/kernel/cmdline content (stripped), None if absent.
    kernel_cmdline: str | None
    #: Debian update-grub magic lines of the legacy menu.lst (kopt, groot, ...).
    legacy_magic: dict[str, str]
    #: Every boot configuration file that was read.
    files: list[str]
    problems: list[str] = field(default_factory=list)


def resolve_boot_path(reader: FactReader, path: str | None) -> str | None:
    """Map a kernel/initrd path as a bootloader sees it to a guest path.

    Bootloaders address files relative to the filesystem they read: on a guest with a separate
    /boot, ``/vmlinuz-x`` means ``/boot/vmlinuz-x``. A ``(hd0,0)`` prefix is dropped.
    """
    if not path:
        return None
    p = _DEVICE_PREFIX.sub("", path.strip())
    if not p.startswith("/"):
        p = "/" + p
    p = posixpath.normpath(p)
    for cand in (p, "/boot" + p):
        if reader.is_file(cand):
            return cand
    return None


def _entry(
    reader: FactReader,
    *,
    title: str,
    kernel: str | None,
    initrd: str | None,
    cmdline: str,
    index: str,
    id_: str | None,
    source: str,
    line: int | None,
) -> BootEntry:
    return BootEntry(
        title=title,
        kernel=kernel,
        kernel_path=resolve_boot_path(reader, kernel),
        initrd=initrd,
        initrd_path=resolve_boot_path(reader, initrd),
        cmdline=cmdline.strip(),
        index=index,
        id=id_,
        source=source,
        line=line,
    )


def _parse_grubenv(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        env[k.strip()] = v
    return env


def _read_grubenv(reader: FactReader, cfg_path: str | None) -> tuple[dict[str, str], str | None]:
    dirs = [posixpath.dirname(cfg_path)] if cfg_path else []
    dirs += ["/boot/grub", "/boot/grub2", "/grub", "/grub2"]
    seen: set[str] = set()
    for d in dirs:
        path = f"{d}/grubenv"
        if path in seen:
            continue
        seen.add(path)
        text = reader.text(path, limit=64 * 1024)
        if text is not None:
            return _parse_grubenv(text), path
    return {}, None


def _unique_files(reader: FactReader, paths: tuple[str, ...]) -> list[str]:
    """Existing files among ``paths``, dropping ones that are the same file (menu.lst ->
    grub.conf links on RHEL)."""
    out: list[str] = []
    seen: set[str] = set()
    for p in paths:
        st = reader.stat(p)  # a loop is recorded as a problem by the reader
        if st is None:
            continue
        if st.kind is not FileKind.FILE:
            reader.problem(f"{p}: is a {st.kind.value}, not a regular file")
            continue
        real = reader.realpath(p) or p
        if real in seen:
            continue
        seen.add(real)
        out.append(p)
    return out


def _gather_legacy(reader: FactReader) -> tuple[list[Bootloader], dict[str, str]]:
    loaders: list[Bootloader] = []
    magic: dict[str, str] = {}
    for path in _unique_files(reader, GRUB_LEGACY_PATHS):
        text = reader.text(path)
        if text is None:
            continue
        cfg = grub_legacy.parse(text, path)
        files = [path]
        saved: int | None = None
        if cfg.default == "saved":
            for sp in _GRUB_LEGACY_SAVED:
                st = reader.text(sp, limit=4096)
                if st is not None:
                    files.append(sp)
                    first = st.split()[0] if st.split() else ""
                    saved = int(first) if first.isdigit() else None
                    break
        entries = []
        for e in cfg.entries():
            kl = e.kernel_line
            entries.append(
                _entry(
                    reader,
                    title=e.title,
                    kernel=e.kernel,
                    initrd=e.initrd,
                    cmdline=e.cmdline.render() if e.cmdline is not None else "",
                    index=str(e.index),
                    id_=None,
                    source=path,
                    line=kl.line if kl else e.title_line.line,
                )
            )
        default_index: int | None = None
        if entries:
            idx = cfg.default_index(saved)
            default_index = idx if 0 <= idx < len(entries) else 0
        if not magic:
            magic = {k: v.magic_value for k, v in cfg.magic().items()}
        loaders.append(
            Bootloader("grub-legacy", path, entries, cfg.default, default_index, False, files)
        )
    return loaders, magic


def _gather_grub_defaults(reader: FactReader) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    files: list[str] = []
    paths = [GRUB_DEFAULT_FILE, *reader.files(GRUB_DEFAULT_D, ".cfg")]
    for path in paths:
        text = reader.text(path)
        if text is None:
            continue
        files.append(path)
        try:
            env = shellvars.parse(text, path).evaluate(env)
        except ParseError as err:
            reader.problem(str(err))
    return env, files


def _bls_entries(
    reader: FactReader, grubenv: dict[str, str], kernel_cmdline: str | None
) -> tuple[list[BootEntry], list[str]]:
    entries: list[tuple[str, BootEntry]] = []
    files: list[str] = []
    for path in reader.files(BLS_DIR, ".conf"):
        text = reader.text(path, limit=_BLS_LIMIT)
        if text is None:
            continue
        files.append(path)
        ent = bls.parse(text, path)
        options = ent.options_text()
        if "$kernelopts" in options or "${kernelopts}" in options:
            kopts = grubenv.get("kernelopts", kernel_cmdline or "")
            options = options.replace("${kernelopts}", kopts).replace("$kernelopts", kopts)
        ident = posixpath.basename(path)[: -len(".conf")]
        opt_lines = ent.options_lines
        line = opt_lines[0].line if opt_lines else None
        entries.append(
            (
                ent.version or ident,
                _entry(
                    reader,
                    title=ent.title or ident,
                    kernel=ent.linux,
                    initrd=ent.initrds[-1] if ent.initrds else None,
                    cmdline=options,
                    index=ident,
                    id_=ident,
                    source=path,
                    line=line,
                ),
            )
        )
    # BLS menus list the newest version first (sd-boot and GRUB's blscfg both sort so).
    entries.sort(key=lambda ve: (bls.version_key(ve[0]), ve[1].id or ""), reverse=True)
    return [e for _, e in entries], files


def _gather_grub2(
    reader: FactReader, bls_entries: list[BootEntry]
) -> tuple[list[Bootloader], dict[str, str], str | None]:
    loaders: list[Bootloader] = []
    grubenv: dict[str, str] = {}
    grubenv_path: str | None = None
    for path in _unique_files(reader, GRUB2_CFG_PATHS):
        text = reader.text(path)
        if text is None:
            continue
        try:
            cfg = grub2.parse_cfg(text, path)
        except ParseError as err:
            reader.problem(str(err))
            continue
        env, env_path = _read_grubenv(reader, path)
        if grubenv_path is None:
            grubenv, grubenv_path = env, env_path
        files = [path] + ([env_path] if env_path else [])
        uses_bls = any(gl.keyword == "blscfg" for gl in cfg.lines)
        entries = [
            _entry(
                reader,
                title=e.title_path,
                kernel=e.kernel,
                initrd=e.initrd,
                cmdline=e.cmdline.render() if e.cmdline is not None else "",
                index=e.index_path,
                id_=e.id,
                source=path,
                line=e.linux_line.line if e.linux_line else e.open_line.line,
            )
            for e in cfg.entries()
        ]
        ref = cfg.default
        # GRUB boots what grub.cfg says; /etc/default/grub only matters to the next
        # grub-mkconfig run, so it is not consulted here. No "set default" means entry 0.
        target = ref or "0"
        if "saved_entry" in target:
            target = env.get("saved_entry") or "0"
        # blscfg puts the BLS entries where it is called, before 30_os-prober/40_custom.
        bls_part = list(bls_entries) if uses_bls else []
        all_entries = bls_part + entries
        default_index: int | None = None
        if all_entries:
            default_index = 0
            found = cfg.find(target)
            if bls_part and target.isdigit():
                # menu positions count the BLS entries first
                default_index = int(target) if int(target) < len(all_entries) else 0
            elif found is not None:
                default_index = len(bls_part) + next(
                    (i for i, e in enumerate(entries) if e.index == found.index_path), 0
                )
            else:
                default_index = next(
                    (i for i, e in enumerate(bls_part) if target in (e.id, e.title)), 0
                )
        entries = all_entries
        loaders.append(Bootloader("grub2", path, entries, ref, default_index, uses_bls, files))
    return loaders, grubenv, grubenv_path


def gather_boot(guest: Guest) -> BootFacts:
    """Read every boot configuration of ``guest`` (never writes, never raises on guest content)."""
    reader = FactReader(guest)
    defaults, default_files = _gather_grub_defaults(reader)
    kc_text = reader.text(KERNEL_CMDLINE_FILE, limit=64 * 1024)
    kernel_cmdline = " ".join(kc_text.split()) if kc_text is not None else None

    # grubenv is needed by BLS ($kernelopts) before grub.cfg is read; read it once up front.
    pre_env, pre_env_path = _read_grubenv(reader, None)
    bls_list, bls_files = _bls_entries(reader, pre_env, kernel_cmdline)
    grub2_loaders, grubenv, grubenv_path = _gather_grub2(reader, bls_list)
    legacy_loaders, magic = _gather_legacy(reader)

    loaders: list[Bootloader] = list(grub2_loaders)
    loaders += legacy_loaders
    if bls_list or bls_files:
        loaders.append(
            Bootloader("bls", BLS_DIR, bls_list, None, 0 if bls_list else None, False, bls_files)
        )

    active: Bootloader | None = None
    for candidate in loaders:
        if candidate.entries:
            active = candidate
            break
    if active is None and loaders:
        active = loaders[0]

    default_entry = active.default_entry if active else None
    cmd_parts = [defaults.get("GRUB_CMDLINE_LINUX"), defaults.get("GRUB_CMDLINE_LINUX_DEFAULT")]
    grub_defaults_cmdline = (
        " ".join(p.strip() for p in cmd_parts if p and p.strip())
        if any(p is not None for p in cmd_parts)
        else None
    )
    env_path = grubenv_path or pre_env_path
    files: list[str] = []
    for f in (
        *default_files,
        *([KERNEL_CMDLINE_FILE] if kc_text is not None else []),
        *(f for lo in loaders for f in lo.files),
        *([env_path] if env_path else []),
    ):
        if f not in files:
            files.append(f)
    return BootFacts(
        bootloaders=loaders,
        active=active.kind if active else None,
        default_entry=default_entry,
        default_cmdline=default_entry.cmdline if default_entry else None,
        grub_defaults=defaults,
        grub_default_files=default_files,
        grub_defaults_cmdline=grub_defaults_cmdline,
        grubenv=grubenv or pre_env,
        grubenv_path=env_path,
        kernel_cmdline=kernel_cmdline,
        legacy_magic=magic,
        files=files,
        problems=list(reader.problems),
    )
