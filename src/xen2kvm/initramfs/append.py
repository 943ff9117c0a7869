"""The immediate initramfs fix: an archive appended to an existing initramfs so that it loads
extra modules (KVM storage/NIC drivers and their dependencies) early, without running any
guest program.

The kernel unpacks every archive of an initramfs in turn and later files replace earlier
ones, so the appended archive brings:

- the guest's own module files for that kernel, at the paths the initramfs uses, stored
  uncompressed (every modprobe can load a plain ``.ko``; not every initramfs's modprobe was
  built with xz/zstd support);
- a merged ``modules.dep`` and ``modules.dep.bin`` covering the modules already in the
  initramfs *and* the new ones (the appended copy replaces the old one: a copy of only the
  new entries would make the old modules unloadable, and the guest's full copy would point
  at the guest's compressed file names);
- what makes that generator's init load them early: initramfs-tools' ``/conf/modules``
  (merged with the existing list), dracut's ``rd.driver.pre=`` via ``/etc/cmdline.d`` plus
  ``/etc/modules-load.d`` for systemd-modules-load, mkinitcpio's ``/config`` (the existing
  one with ``MODULES`` extended).

Every path is resolved through the existing archive's symlinks first: when the kernel
unpacks a directory member over an existing symlink of a different type it unlinks the
symlink (``clean_path`` in init/initramfs.c), so writing ``lib/`` into a usr-merged
initramfs, where ``/lib`` is a symlink to ``usr/lib``, would cut off ``/lib`` for init.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from xen2kvm.errors import GuestError, ParseError, RefusedError
from xen2kvm.guest.base import Guest
from xen2kvm.initramfs.compression import Compression, compress, decompress_one
from xen2kvm.initramfs.cpio import NewcEntry, write_newc
from xen2kvm.initramfs.moddep import (
    ModuleDep,
    load_module_index,
    module_closure,
    modules_dep_bin,
    parse_modules_dep,
    read_kmod_index,
    render_modules_dep,
)
from xen2kvm.initramfs.reader import Generator, Initramfs, module_name

#: Largest module file accepted (compressed or not); the biggest in-tree modules are ~20 MB.
MODULE_LIMIT = 256 * 1024 * 1024

DRACUT_CMDLINE = "/etc/cmdline.d/90-xen2kvm.conf"
MODULES_LOAD = "/etc/modules-load.d/xen2kvm.conf"

_KEEP_RE = re.compile(
    r"^/(?:conf/.*|config|etc/cmdline\.d/.*|etc/modules-load\.d/.*"
    r"|(?:usr/)?lib/modules/[^/]+/modules\.dep(?:\.bin)?)$"
)


def append_keep(path: str) -> bool:
    """Which members' contents :func:`build_initramfs_append` needs from the existing image:
    pass as ``keep=`` when reading it (cheap: a few small files)."""
    return bool(_KEEP_RE.match(path))


@dataclass(frozen=True)
class AppendedFile:
    path: str  # inside the initramfs
    size: int
    origin: str  # the guest file it was copied from, or "generated"


@dataclass(frozen=True)
class AppendSummary:
    """What the appended archive adds, for plans and diffs."""

    kernel_version: str
    generator: Generator
    compression: Compression
    modules_dir: str  # inside the initramfs
    added_modules: list[str]  # load order
    already_present: list[str]
    builtin: list[str]
    missing: list[str]  # neither built in nor available in the guest
    early_load: list[str]  # modules made to load early
    load_via: list[str]  # files (in the initramfs) that make them load
    files: list[AppendedFile] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.files)

    def describe(self) -> str:
        if not self.files:
            return "initramfs already carries " + (
                ", ".join(self.already_present + self.builtin) or "nothing that was asked"
            )
        lines = [
            f"append a {self.compression.value} cpio archive for kernel {self.kernel_version} "
            f"({self.generator.value} initramfs):",
            "  add modules: " + (", ".join(self.added_modules) or "none"),
        ]
        if self.early_load:
            lines.append(
                "  load early: " + ", ".join(self.early_load) + " via " + ", ".join(self.load_via)
            )
        if self.missing:
            lines.append("  NOT AVAILABLE in the guest: " + ", ".join(self.missing))
        lines += [f"  + {f.path} ({f.size} bytes, {f.origin})" for f in self.files]
        return "\n".join(lines)


@dataclass(frozen=True)
class InitramfsAppend:
    """The bytes to append to the initramfs file, and what they add."""

    data: bytes
    summary: AppendSummary


def _text(existing: Initramfs, path: str) -> str | None:
    m = existing.member(path)
    if m is None or m.kind != "file":
        return None
    try:
        return existing.read(path).decode("utf-8", "surrogateescape")
    except KeyError as exc:
        raise ValueError(
            f"{path} was not kept when the initramfs was read (use keep=append_keep)"
        ) from exc


def _decompress_module(data: bytes, path: str) -> bytes:
    comp = {".xz": Compression.XZ, ".zst": Compression.ZSTD, ".gz": Compression.GZIP}.get(
        posixpath.splitext(path)[1]
    )
    if comp is None:
        return data
    parts: list[bytes] = []
    total = 0

    def emit(out: bytes) -> None:
        nonlocal total
        total += len(out)
        if total > MODULE_LIMIT:
            raise ParseError(f"decompresses to more than {MODULE_LIMIT} bytes", source=path)
        parts.append(out)

    decompress_one(comp, memoryview(data), emit, source=path)
    return b"".join(parts)


def _plain_rel(rel: str) -> str:
    for suffix in (".xz", ".zst", ".gz"):
        if rel.endswith(".ko" + suffix):
            return rel[: -len(suffix)]
    return rel


def _existing_deps(existing: Initramfs, moddir: str) -> dict[str, ModuleDep]:
    """The modules.dep the initramfs's modprobe sees now (text, else the binary index, else
    the module files found in the archive with no dependency information)."""
    text = _text(existing, f"{moddir}/modules.dep")
    if text is not None:
        return parse_modules_dep(text, source=f"{existing.source}:{moddir}/modules.dep")
    if existing.member(f"{moddir}/modules.dep.bin") is not None:
        try:
            raw = existing.read(f"{moddir}/modules.dep.bin")
        except KeyError as exc:
            raise ValueError("modules.dep.bin was not kept (use keep=append_keep)") from exc
        lines = [v[0][1] for v in read_kmod_index(raw).values() if v]
        return parse_modules_dep("\n".join(lines))
    out: dict[str, ModuleDep] = {}
    prefix = moddir + "/"
    for name, path in existing.module_paths.items():
        real = existing.resolve(path)
        if real.startswith(prefix):
            out[name] = ModuleDep(name, real[len(prefix) :])
    return out


def build_initramfs_append(
    guest: Guest,
    kernel_version: str,
    existing: Initramfs,
    modules: Iterable[str],
    *,
    compression: Compression = Compression.NONE,
) -> InitramfsAppend:
    """The archive to append to ``existing`` (an initramfs of ``kernel_version`` read with
    ``keep=append_keep``) so that it loads ``modules`` early.

    Module files come from the guest's /lib/modules/VERSION with their dependencies (and
    softdeps); modules already in the initramfs or built into the kernel are not added.
    ``compression``: NONE (default: every kernel reads it; zero-padded to the 4-byte
    alignment the kernel requires after the existing data) or GZIP. When nothing is missing
    the result has empty ``data``.

    Raises GuestError when the guest has no modules for that kernel, RefusedError when this
    initramfs cannot safely take an appended archive (last segment in lz4 legacy framing,
    or a generator with no known early-load mechanism).
    """
    if compression not in (Compression.NONE, Compression.GZIP):
        raise ValueError("the appended archive is stored uncompressed or with gzip")
    requested = list(dict.fromkeys(modules))
    index = load_module_index(guest, kernel_version)
    if not index.directory:
        raise GuestError(
            f"{guest.name}: no /lib/modules/{kernel_version} in the guest: cannot add modules "
            "to its initramfs"
        )
    closure = module_closure(index, requested)
    moddir = existing.resolve(f"/lib/modules/{kernel_version}")
    present = {
        name for name, path in existing.module_paths.items() if existing.member(path) is not None
    }
    to_add = [m for m in closure.modules if m.name not in present]
    already = [m.name for m in closure.modules if m.name in present]
    top = [index.resolve(n) for n in requested]
    early = [n for n in top if n in {m.name for m in to_add}]

    def summary(files: list[AppendedFile], load_via: list[str]) -> AppendSummary:
        return AppendSummary(
            kernel_version=kernel_version,
            generator=existing.generator,
            compression=compression,
            modules_dir=moddir,
            added_modules=[m.name for m in to_add],
            already_present=already,
            builtin=closure.builtin,
            missing=closure.missing,
            early_load=early,
            load_via=load_via,
            files=files,
        )

    if not to_add:
        return InitramfsAppend(b"", summary([], []))
    if existing.segments and existing.segments[-1].compression is Compression.LZ4_LEGACY:
        raise RefusedError(
            f"{existing.source}: its last archive uses lz4 legacy framing, which the kernel "
            "reads to the end of the file: an appended archive would be taken as corrupt lz4 "
            "data. Rebuild the initramfs with the guest's generator instead."
        )

    entries: list[NewcEntry] = []
    files: list[AppendedFile] = []

    def add(path: str, data: bytes, origin: str) -> None:
        real = existing.resolve(path)
        entries.append(NewcEntry(real, "file", data, 0o644))
        files.append(AppendedFile(real, len(data), origin))

    # 1. The module files, uncompressed, at the paths modules.dep will name.
    final_rel: dict[str, str] = {}
    for dep in _existing_deps(existing, moddir).values():
        final_rel[dep.name] = dep.path
    merged = dict(_existing_deps(existing, moddir))
    for mod in to_add:
        src = posixpath.join(index.directory, mod.path)
        raw = guest.read_bytes(src, limit=MODULE_LIMIT)
        add(f"{moddir}/{_plain_rel(mod.path)}", _decompress_module(raw, src), src)
        final_rel[mod.name] = _plain_rel(mod.path)
    for mod in to_add:
        deps = tuple(
            final_rel.get(module_name(d), _plain_rel(d))
            for d in mod.deps
            if module_name(d) not in index.builtin
        )
        merged[mod.name] = ModuleDep(mod.name, final_rel[mod.name], deps)

    # 2. The merged dependency tables, replacing the initramfs's own.
    entries_dep = list(merged.values())
    add(f"{moddir}/modules.dep", render_modules_dep(entries_dep).encode(), "generated")
    add(f"{moddir}/modules.dep.bin", modules_dep_bin(entries_dep), "generated")

    # 3. Early loading, the way this initramfs's init does it.
    load_via: list[str] = []
    gen = existing.generator
    if early:
        if gen is Generator.INITRAMFS_TOOLS:
            old = _text(existing, "/conf/modules") or ""
            listed = {ln.strip() for ln in old.splitlines()}
            new = [n for n in early if n not in listed]
            body = old + ("" if not old or old.endswith("\n") else "\n")
            add("/conf/modules", (body + "".join(f"{n}\n" for n in new)).encode(), "generated")
            load_via.append(existing.resolve("/conf/modules"))
        elif gen is Generator.DRACUT:
            add(DRACUT_CMDLINE, f"rd.driver.pre={','.join(early)}\n".encode(), "generated")
            add(MODULES_LOAD, "".join(f"{n}\n" for n in early).encode(), "generated")
            load_via += [existing.resolve(DRACUT_CMDLINE), existing.resolve(MODULES_LOAD)]
        elif gen is Generator.MKINITCPIO:
            config = _text(existing, "/config")
            if config is None:
                raise RefusedError(
                    f"{existing.source}: mkinitcpio image without /config: cannot extend its "
                    "MODULES safely"
                )
            body = config + ("" if config.endswith("\n") else "\n")
            body += f'MODULES="${{MODULES}} {" ".join(early)}"\n'
            add("/config", body.encode(), "generated")
            load_via.append(existing.resolve("/config"))
        else:
            raise RefusedError(
                f"{existing.source}: a {gen.value} initramfs has no early module loading "
                "xen2kvm knows how to extend; rebuild it with the guest's generator"
            )

    archive = write_newc(entries)
    if compression is Compression.GZIP:
        data = compress(Compression.GZIP, archive)
    else:
        # The kernel takes an uncompressed archive only at a 4-byte aligned file offset.
        data = b"\0" * (-existing.size % 4) + archive
    return InitramfsAppend(data, summary(files, load_via))
