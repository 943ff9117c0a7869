"""XenServer/XCP-ng XVA archives, streamed (never extracted).

Layout (xen-api ``export.ml``/``stream_vdi.ml``): ``ova.xml`` first, then per VDI a prefix
``Ref:N/`` with chunks ``%08d`` of at most 1 MiB, each followed by ``%08d.xxhash`` (XXH64,
``%016X``) or ``%08d.checksum`` (SHA-1 hex). All-zero chunks are omitted except the first and
the last. Data is placed as XAPI's importer does: a write cursor advanced by the skipped chunk
numbers times 1 MiB plus the chunk's length, so an empty keep-alive chunk consumes a number
but no data, and the chunk after it holds the data of the keep-alive's own offset.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import xxhash
import zstandard
from defusedxml import ElementTree as DET

from xen2kvm.errors import Xen2KvmError
from xen2kvm.hv.model import Boot, BootKind, Disk, Domain, Nic, VMMode, normalise_mac
from xen2kvm.sources.base import Extent, SourceDisk, SourceInfo

CHUNK = 1024 * 1024
_OVA_MAX = 64 * 1024 * 1024
_CHUNK_RE = re.compile(r"^(Ref:[^/]+)/(\d{8})$")
_SUM_RE = re.compile(r"^(Ref:[^/]+)/(\d{8})\.(xxhash|checksum)$")


class XvaError(Xen2KvmError):
    """A malformed, truncated or corrupt XVA archive."""


def _open_stream(path: Path) -> tuple[IO[bytes], tarfile.TarFile]:
    raw = open(path, "rb")  # noqa: SIM115 - closed with the tar below
    magic = raw.read(4)
    raw.seek(0)
    fileobj: IO[bytes]
    if magic[:2] == b"\x1f\x8b":
        mode = "r|gz"
        fileobj = raw
    elif magic == b"\x28\xb5\x2f\xfd":
        mode = "r|"
        fileobj = zstandard.ZstdDecompressor().stream_reader(raw)
    else:
        mode = "r|"
        fileobj = raw
    try:
        return raw, tarfile.open(fileobj=fileobj, mode=mode)  # type: ignore[call-overload]
    except (tarfile.TarError, OSError, zstandard.ZstdError, EOFError) as exc:
        raw.close()
        raise XvaError(f"{path}: not a readable XVA archive: {exc}") from exc


def _check_member(path: Path, m: tarfile.TarInfo) -> None:
    name = m.name
    if name.startswith("/") or ".." in name.split("/"):
        raise XvaError(f"{path}: unsafe member name {name!r}")
    if not (m.isfile() or m.isdir()):
        raise XvaError(f"{path}: member {name!r} is a link or device (refused)")


def _members(path: Path, tf: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    try:
        for m in tf:
            _check_member(path, m)
            if m.isdir():
                continue
            f = tf.extractfile(m)
            assert f is not None
            yield m, f
    except (tarfile.TarError, OSError, zstandard.ZstdError, EOFError) as exc:
        raise XvaError(f"{path}: truncated or corrupt archive: {exc}") from exc


def _read(path: Path, m: tarfile.TarInfo, f: IO[bytes]) -> bytes:
    try:
        data = f.read()
    except (tarfile.TarError, OSError, zstandard.ZstdError, EOFError) as exc:
        raise XvaError(f"{path}: {m.name}: truncated or corrupt: {exc}") from exc
    if len(data) != m.size:
        raise XvaError(f"{path}: {m.name}: truncated ({len(data)} of {m.size} bytes)")
    return data


# --- ova.xml -----------------------------------------------------------------------------


def _value(v: Any) -> Any:
    """Decode one XML-RPC ``<value>`` (bare text is a string)."""
    kids = list(v)
    if not kids:
        return v.text or ""
    k = kids[0]
    tag = k.tag
    if tag == "struct":
        out: dict[str, Any] = {}
        for mem in k.findall("member"):
            name = mem.findtext("name") or ""
            val = mem.find("value")
            out[name] = _value(val) if val is not None else ""
        return out
    if tag == "array":
        data = k.find("data")
        return [_value(x) for x in (data.findall("value") if data is not None else [])]
    if tag in ("i4", "int", "i8"):
        return int(k.text or "0")
    if tag == "boolean":
        return (k.text or "").strip() == "1"
    if tag == "double":
        return float(k.text or "0")
    return k.text or ""


def parse_ova_xml(data: bytes, source: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return ``{ref: (class, snapshot record)}`` from ova.xml."""
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True)
    except Exception as exc:  # defusedxml raises several unrelated types
        raise XvaError(f"{source}: ova.xml: {exc}") from exc
    top = _value(root) if root.tag == "value" else {}
    if not isinstance(top, dict) or not isinstance(top.get("objects"), list):
        raise XvaError(f"{source}: ova.xml: no 'objects' list")
    objs: dict[str, tuple[str, dict[str, Any]]] = {}
    for o in top["objects"]:
        if isinstance(o, dict) and isinstance(o.get("snapshot"), dict):
            objs[str(o.get("id", ""))] = (str(o.get("class", "")), o["snapshot"])
    return objs


def _int(rec: dict[str, Any], key: str, source: str) -> int:
    try:
        return int(rec.get(key, 0))
    except (TypeError, ValueError):
        raise XvaError(f"{source}: ova.xml: {key}={rec.get(key)!r} is not a number") from None


def _letter(n: int) -> str:
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(97 + r) + s
    return s


def build(objs: dict[str, tuple[str, dict[str, Any]]], source: str) -> SourceInfo:
    vms = [(r, rec) for r, (c, rec) in objs.items() if c == "VM" and not rec.get("is_a_template")]
    if not vms:
        vms = [(r, rec) for r, (c, rec) in objs.items() if c == "VM"]
    if len(vms) != 1:
        raise XvaError(f"{source}: ova.xml: expected one VM, found {len(vms)}")
    vm_ref, vm = vms[0]
    hvm = not vm.get("PV_bootloader") and not vm.get("PV_kernel")
    vbds = []
    for ref in vm.get("VBDs", []):
        cls, rec = objs.get(ref, ("", {}))
        if cls != "VBD":
            continue
        if rec.get("type") == "CD" or rec.get("empty") or rec.get("VDI") not in objs:
            continue
        vbds.append((_int(rec, "userdevice", source), rec))
    vbds.sort(key=lambda t: t[0])
    disks: list[SourceDisk] = []
    mdisks: list[Disk] = []
    for i, (udev, rec) in enumerate(vbds):
        vdi_ref = str(rec["VDI"])
        vdi = objs[vdi_ref][1]
        name = ("hd" if hvm else "xvd") + _letter(udev)
        disks.append(
            SourceDisk(
                index=i,
                xen_name=name,
                virtual_size=_int(vdi, "virtual_size", source),
                label=f"{Path(source).name}:{vdi_ref}",
                format="xva",
                bootable=bool(rec.get("bootable")),
            )
        )
        mdisks.append(Disk(source=f"{source}:{vdi_ref}", vdev=name))
    nics: list[tuple[int, Nic]] = []
    for ref in vm.get("VIFs", []):
        cls, rec = objs.get(ref, ("", {}))
        if cls != "VIF":
            continue
        net = objs.get(str(rec.get("network", "")), ("", {}))[1]
        bridge = str(net.get("bridge") or net.get("name_label") or "")
        mac = normalise_mac(str(rec.get("MAC", "")), source=source) if rec.get("MAC") else ""
        nics.append((_int(rec, "device", source), Nic(mac=mac, bridge=bridge)))
    nics.sort(key=lambda t: t[0])
    if hvm:
        order = str((vm.get("HVM_boot_params") or {}).get("order", "cd"))
        classes = {"c": "hd", "d": "cdrom", "n": "network"}
        boot = Boot(BootKind.FIRMWARE, order=tuple(classes[c] for c in order if c in classes))
    elif vm.get("PV_bootloader"):
        boot = Boot(
            BootKind.BOOTLOADER,
            bootloader=str(vm["PV_bootloader"]),
            bootloader_args=str(vm.get("PV_bootloader_args", "")),
            cmdline=str(vm.get("PV_args", "")),
        )
    else:
        boot = Boot(
            BootKind.HOST_KERNEL,
            kernel=str(vm.get("PV_kernel", "")),
            initrd=str(vm.get("PV_ramdisk", "")),
            cmdline=str(vm.get("PV_args", "")),
        )
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(vm.get("name_label", "")).strip()).strip("-")
    warnings = [f"platform: {k}={v}" for k, v in sorted((vm.get("platform") or {}).items())]
    domain = Domain(
        name=name or "imported",
        memory_mib=max(_int(vm, "memory_static_max", source) // (1024 * 1024), 1),
        vcpus=max(_int(vm, "VCPUs_at_startup", source), 1),
        maxvcpus=_int(vm, "VCPUs_max", source),
        disks=mdisks,
        nics=[n for _, n in nics],
        boot=boot,
        vm_mode=VMMode.FULLVIRT if hvm else VMMode.PARAVIRT,
        xen_type="hvm" if hvm else "pv",
        uuid=str(vm.get("uuid", "")),
        source=source,
        source_format="xva",
        warnings=warnings,
    )
    del vm_ref
    return SourceInfo(source=source, kind="xva", disks=disks, domain=domain)


# --- the source ----------------------------------------------------------------------------


class XvaSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._info: SourceInfo | None = None

    def describe(self) -> SourceInfo:
        if self._info is None:
            raw, tf = _open_stream(self.path)
            try:
                for m, f in _members(self.path, tf):
                    if m.name != "ova.xml":
                        raise XvaError(f"{self.path}: first member is {m.name!r}, not ova.xml")
                    if m.size > _OVA_MAX:
                        raise XvaError(f"{self.path}: ova.xml is {m.size} bytes (too large)")
                    self._info = build(
                        parse_ova_xml(_read(self.path, m, f), str(self.path)), str(self.path)
                    )
                    break
                else:
                    raise XvaError(f"{self.path}: empty archive (no ova.xml)")
            finally:
                tf.close()
                raw.close()
        return self._info

    @contextmanager
    def open_disk(self, disk: SourceDisk) -> Iterator[Iterator[Extent]]:
        prefix = disk.label.rsplit(":", 2)[-2] + ":" + disk.label.rsplit(":", 1)[-1]
        raw, tf = _open_stream(self.path)
        try:
            yield self._extents(tf, prefix, disk)
        finally:
            tf.close()
            raw.close()

    def _extents(self, tf: tarfile.TarFile, prefix: str, disk: SourceDisk) -> Iterator[Extent]:
        where = f"{self.path}: disk {disk.xen_name} ({prefix})"
        size = disk.virtual_size
        cursor = 0
        last = -1
        pending: tuple[str, bytes] | None = None  # chunk awaiting its checksum
        seen = False
        members = _members(self.path, tf)
        for m, f in members:
            cm = _CHUNK_RE.match(m.name)
            sm = _SUM_RE.match(m.name)
            if pending is not None:
                pname, pdata = pending
                if not sm or f"{sm.group(1)}/{sm.group(2)}" != pname:
                    raise XvaError(f"{where}: chunk {pname} has no checksum (next: {m.name})")
                want = _read(self.path, m, f).decode("ascii", "replace").strip()
                if sm.group(3) == "xxhash":
                    got = f"{xxhash.xxh64_intdigest(pdata):016X}"
                else:
                    got = hashlib.sha1(pdata).hexdigest()
                if want != got:
                    raise XvaError(f"{where}: chunk {pname}: checksum mismatch")
                off = cursor
                cursor += len(pdata)
                pending = None
                if cursor >= size:
                    # The disk is complete: a chunk of this disk after it means the names were
                    # out of order (the last chunk came first) and the data read so far is not
                    # the disk. A valid export ends the disk's directory here.
                    nxt = next(members, None)
                    if nxt is not None:
                        nm = _CHUNK_RE.match(nxt[0].name) or _SUM_RE.match(nxt[0].name)
                        if nm and nm.group(1) == prefix:
                            raise XvaError(
                                f"{where}: chunk {nxt[0].name} out of order or duplicated"
                            )
                    if pdata:
                        yield off, pdata
                    return
                if pdata:
                    yield off, pdata
                continue
            if m.name == "ova.xml" or not (cm or sm):
                if seen:
                    raise XvaError(f"{where}: unexpected member {m.name!r}")
                continue
            group = (cm or sm).group(1)  # type: ignore[union-attr]
            if group != prefix:
                if seen:
                    raise XvaError(f"{where}: ends at {cursor} of {size} bytes ({m.name} next)")
                continue
            if sm:
                raise XvaError(f"{where}: checksum {m.name} without its chunk")
            seen = True
            assert cm is not None
            num = int(cm.group(2))
            if num <= last:
                raise XvaError(f"{where}: chunk {m.name} out of order or duplicated")
            if m.size > CHUNK:
                raise XvaError(f"{where}: chunk {m.name} is {m.size} bytes (over 1 MiB)")
            cursor += (num - last - 1) * CHUNK
            last = num
            if cursor + m.size > size:
                raise XvaError(f"{where}: chunk {m.name} lies beyond the virtual size {size}")
            pending = (m.name, _read(self.path, m, f))
        if pending is not None:
            raise XvaError(f"{where}: chunk {pending[0]} has no checksum (archive ends)")
        raise XvaError(f"{where}: archive ends at {cursor} of {size} bytes")

    def close(self) -> None:
        pass
