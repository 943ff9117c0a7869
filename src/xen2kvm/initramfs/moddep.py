"""A kernel's module metadata: modules.dep, modules.builtin, modules.softdep, modules.alias,
the dependency closure of a set of modules, and kmod's binary index (``modules.dep.bin``).

kmod's ``modprobe`` looks modules up only through ``modules.dep.bin`` (busybox's reads the
text ``modules.dep``), so an archive that adds modules to an initramfs must bring both. No
library writes kmod's index and running the guest's ``depmod`` is out of the question (we
never run guest programs); the format is a small radix trie documented in kmod's
``libkmod-index.c``, implemented here with a reader used to check the writer against real
indexes.
"""

from __future__ import annotations

import posixpath
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from xen2kvm.errors import GuestFileNotFound, ParseError
from xen2kvm.guest.base import Guest
from xen2kvm.initramfs.reader import module_name

#: Bound for reading one metadata file of a kernel (modules.alias is a few MB at most).
METADATA_LIMIT = 64 * 1024 * 1024

KMOD_INDEX_MAGIC = 0xB007F457
KMOD_INDEX_VERSION = 0x00020001
_NODE_PREFIX = 0x80000000
_NODE_VALUES = 0x40000000
_NODE_CHILDS = 0x20000000
_NODE_MASK = 0x0FFFFFFF


@dataclass(frozen=True)
class ModuleDep:
    """One line of modules.dep: a module's file (relative to the modules directory) and the
    files of the modules it needs, in the order modprobe loads them (last first)."""

    name: str
    path: str
    deps: tuple[str, ...] = ()

    def line(self) -> str:
        return f"{self.path}:" + "".join(f" {d}" for d in self.deps)


@dataclass(frozen=True)
class SoftDep:
    pre: tuple[str, ...] = ()
    post: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModuleIndex:
    """What a kernel's /lib/modules/VER says about its modules."""

    version: str
    directory: str  # guest path of the modules directory ("" when built from text only)
    modules: dict[str, ModuleDep] = field(default_factory=dict)
    builtin: frozenset[str] = frozenset()
    softdeps: dict[str, SoftDep] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # plain (no wildcard) aliases only

    def resolve(self, name: str) -> str:
        """A module name for ``name`` (a module name, a ``-`` spelling, or a plain alias)."""
        norm = name.replace("-", "_")
        if norm in self.modules or norm in self.builtin:
            return norm
        return self.aliases.get(name, self.aliases.get(norm, norm))

    def has(self, name: str) -> bool:
        """Built in or available as a module file."""
        n = self.resolve(name)
        return n in self.modules or n in self.builtin


@dataclass(frozen=True)
class Closure:
    """The modules needed to load a set of modules, in load order (dependencies first)."""

    modules: list[ModuleDep]  # files to load, dependencies before dependents
    builtin: list[str]  # requested or needed names that are built into the kernel
    missing: list[str]  # names neither built in nor found as a module

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.modules]


# --- text formats ----------------------------------------------------------------------------


def parse_modules_dep(text: str, *, source: str = "modules.dep") -> dict[str, ModuleDep]:
    """Parse modules.dep (``path: dep dep ...`` per line) keyed by module name, in file order."""
    out: dict[str, ModuleDep] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        path, sep, rest = line.partition(":")
        if not sep or not path.strip():
            raise ParseError("expected 'module-path: dependencies'", source=source, line=lineno)
        path = path.strip()
        name = module_name(path)
        out.setdefault(name, ModuleDep(name, path, tuple(rest.split())))
    return out


def parse_modules_builtin(text: str) -> frozenset[str]:
    """Names in modules.builtin (one ``kernel/.../name.ko`` per line)."""
    return frozenset(module_name(line.strip()) for line in text.splitlines() if line.strip())


def parse_modules_softdep(text: str) -> dict[str, SoftDep]:
    """``softdep MOD pre: a b post: c`` lines (modules.softdep or modprobe.d syntax)."""
    out: dict[str, SoftDep] = {}
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "softdep":
            continue
        pre: list[str] = []
        post: list[str] = []
        target = pre
        for w in words[2:]:
            if w == "pre:":
                target = pre
            elif w == "post:":
                target = post
            else:
                target.append(w)
        old = out.get(words[1].replace("-", "_"), SoftDep())
        out[words[1].replace("-", "_")] = SoftDep(old.pre + tuple(pre), old.post + tuple(post))
    return out


def parse_modules_alias(text: str) -> dict[str, str]:
    """Plain aliases from modules.alias (``alias NAME module``); wildcard ones are skipped,
    they match device ids, not the names used in softdeps and configuration."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        words = raw.split()
        if len(words) == 3 and words[0] == "alias" and not any(c in words[1] for c in "*?["):
            out.setdefault(words[1], words[2].replace("-", "_"))
    return out


def render_modules_dep(entries: Iterable[ModuleDep]) -> str:
    return "".join(e.line() + "\n" for e in entries)


# --- from a guest ----------------------------------------------------------------------------


def modules_dir(guest: Guest, version: str) -> str | None:
    """The guest's modules directory for ``version`` (/lib/modules or /usr/lib/modules)."""
    for base in ("/lib/modules", "/usr/lib/modules"):
        path = f"{base}/{version}"
        if guest.is_dir(path):
            return path
    return None


def load_module_index(guest: Guest, version: str) -> ModuleIndex:
    """Read a kernel's module metadata from the guest (text files; missing ones are empty).

    Without modules.dep (never depmod'ed) the module files under ``kernel/`` are listed with
    no dependency information.
    """
    directory = modules_dir(guest, version)
    if directory is None:
        return ModuleIndex(version, "")

    def text(name: str) -> str | None:
        try:
            return guest.try_read_text(f"{directory}/{name}", limit=METADATA_LIMIT)
        except GuestFileNotFound:
            return None

    dep = text("modules.dep")
    if dep is not None:
        modules = parse_modules_dep(dep, source=f"{directory}/modules.dep")
    else:
        modules = {}
        for path in _walk_modules(guest, directory):
            rel = path[len(directory) + 1 :]
            modules.setdefault(module_name(rel), ModuleDep(module_name(rel), rel))
    return ModuleIndex(
        version=version,
        directory=directory,
        modules=modules,
        builtin=parse_modules_builtin(text("modules.builtin") or ""),
        softdeps=parse_modules_softdep(text("modules.softdep") or ""),
        aliases=parse_modules_alias(text("modules.alias") or ""),
    )


def _walk_modules(guest: Guest, directory: str, *, limit: int = 100_000) -> list[str]:
    out: list[str] = []
    stack = [f"{directory}/kernel", f"{directory}/extra", f"{directory}/updates"]
    while stack and len(out) < limit:
        d = stack.pop()
        for name in guest.try_listdir(d):
            p = f"{d}/{name}"
            if guest.is_symlink(p):
                continue
            if guest.is_dir(p):
                stack.append(p)
            elif ".ko" in name and module_name(name) != name:
                out.append(p)
    return sorted(out)


# --- closure ---------------------------------------------------------------------------------


def module_closure(index: ModuleIndex, names: Iterable[str], *, softdeps: bool = True) -> Closure:
    """The module files needed to load ``names``: each module's modules.dep dependencies and
    (``softdeps``) its softdep pre/post modules, dependencies first. Built-in modules need no
    file and are listed in ``builtin``; unknown names in ``missing``."""
    by_path = {m.path: m for m in index.modules.values()}
    ordered: list[ModuleDep] = []
    seen: set[str] = set()
    builtin: list[str] = []
    missing: list[str] = []

    def visit_name(raw: str) -> None:
        name = index.resolve(raw)
        if name in index.builtin:
            if name not in builtin:
                builtin.append(name)
            return
        mod = index.modules.get(name)
        if mod is None:
            if raw not in missing:
                missing.append(raw)
            return
        visit(mod)

    def visit(mod: ModuleDep) -> None:
        if mod.name in seen:
            return
        seen.add(mod.name)
        soft = index.softdeps.get(mod.name, SoftDep()) if softdeps else SoftDep()
        for pre in soft.pre:
            visit_name(pre)
        # modules.dep lists dependencies so that modprobe loads them last-to-first.
        for dep_path in reversed(mod.deps):
            dep = by_path.get(dep_path)
            if dep is not None:
                visit(dep)
            else:
                visit_name(module_name(dep_path))
        ordered.append(mod)
        for post in soft.post:
            visit_name(post)

    for n in names:
        visit_name(n)
    return Closure(ordered, builtin, missing)


# --- kmod binary index -------------------------------------------------------------------------


@dataclass
class _Node:
    prefix: str = ""
    children: dict[str, _Node] = field(default_factory=dict)
    values: list[tuple[int, str]] = field(default_factory=list)


def _compress(node: _Node) -> _Node:
    while not node.values and len(node.children) == 1:
        ((ch, child),) = node.children.items()
        node = _Node(node.prefix + ch + child.prefix, child.children, child.values)
    node.children = {c: _compress(n) for c, n in node.children.items()}
    return node


def write_kmod_index(entries: Mapping[str, Iterable[tuple[int, str]]]) -> bytes:
    """A kmod index file (``*.bin``) mapping each key to its (priority, value) pairs."""
    root = _Node()
    for key, vals in entries.items():
        if not key.isascii() or "\0" in key:
            raise ValueError(f"kmod index keys must be ASCII: {key!r}")
        node = root
        for ch in key:
            node = node.children.setdefault(ch, _Node())
        for prio, value in vals:
            if "\0" in value:
                raise ValueError(f"kmod index values cannot hold NUL: {value!r}")
            node.values.append((prio, value))
    root = _compress(root)
    out = bytearray(struct.pack(">III", KMOD_INDEX_MAGIC, KMOD_INDEX_VERSION, 0))

    # Children are written before their parent (the parent stores their offsets), as
    # depmod's index_write__node does; the same key set gives the same bytes.
    def write(node: _Node) -> int:
        offsets: list[int] = []
        first = last = 0
        if node.children:
            first = min(ord(c) for c in node.children)
            last = max(ord(c) for c in node.children)
            for code in range(first, last + 1):
                child = node.children.get(chr(code))
                offsets.append(write(child) if child is not None else 0)
        offset = len(out)
        if node.prefix:
            out.extend(node.prefix.encode("ascii") + b"\0")
            offset |= _NODE_PREFIX
        if node.children:
            out.extend(bytes((first, last)))
            out.extend(struct.pack(f">{len(offsets)}I", *offsets))
            offset |= _NODE_CHILDS
        if node.values:
            out.extend(struct.pack(">I", len(node.values)))
            for prio, value in sorted(node.values, key=lambda v: v[0]):
                out.extend(struct.pack(">I", prio) + value.encode("utf-8", "surrogateescape"))
                out.append(0)
            offset |= _NODE_VALUES
        if len(out) > _NODE_MASK:
            raise ValueError("kmod index too large")
        return offset

    root_offset = write(root)
    out[8:12] = struct.pack(">I", root_offset)
    return bytes(out)


def read_kmod_index(data: bytes, *, source: str = "kmod index") -> dict[str, list[tuple[int, str]]]:
    """Every key of a kmod index with its (priority, value) pairs."""
    if len(data) < 12:
        raise ParseError("too short for a kmod index", source=source)
    magic, version, root = struct.unpack(">III", data[:12])
    if magic != KMOD_INDEX_MAGIC or version >> 16 != KMOD_INDEX_VERSION >> 16:
        raise ParseError(
            f"not a kmod index (magic {magic:#x}, version {version:#x})", source=source
        )
    out: dict[str, list[tuple[int, str]]] = {}
    visited: set[int] = set()

    def cstring(pos: int) -> tuple[str, int]:
        end = data.find(b"\0", pos)
        if end < 0:
            raise ParseError(f"unterminated string at {pos}", source=source)
        return data[pos:end].decode("utf-8", "surrogateescape"), end + 1

    def u32(pos: int) -> int:
        if pos + 4 > len(data):
            raise ParseError(f"truncated at {pos}", source=source)
        return int(struct.unpack_from(">I", data, pos)[0])

    stack: list[tuple[int, str]] = [(root, "")]
    while stack:
        ref, key = stack.pop()
        pos = ref & _NODE_MASK
        if pos == 0 or not ref & (_NODE_PREFIX | _NODE_VALUES | _NODE_CHILDS):
            continue  # absent, or an empty node (the root of an empty index)
        if pos in visited or pos >= len(data):
            raise ParseError(f"bad node offset {pos}", source=source)
        visited.add(pos)
        if ref & _NODE_PREFIX:
            prefix, pos = cstring(pos)
            key += prefix
        if ref & _NODE_CHILDS:
            if pos + 2 > len(data):
                raise ParseError(f"truncated at {pos}", source=source)
            first, last = data[pos], data[pos + 1]
            pos += 2
            for i in range(first, last + 1):
                child = u32(pos)
                pos += 4
                if child:
                    stack.append((child, key + chr(i)))
        if ref & _NODE_VALUES:
            count = u32(pos)
            pos += 4
            vals = []
            for _ in range(count):
                prio = u32(pos)
                value, pos = cstring(pos + 4)
                vals.append((prio, value))
            out[key] = vals
    return out


def modules_dep_bin(entries: Iterable[ModuleDep]) -> bytes:
    """modules.dep.bin for these modules (priority = position, as depmod numbers them)."""
    return write_kmod_index({e.name: [(i, e.line())] for i, e in enumerate(entries)})


def join_modpath(directory: str, rel: str) -> str:
    """Guest path of a modules.dep path (absolute ones are kept as they are)."""
    return rel if rel.startswith("/") else posixpath.join(directory, rel)
