"""Disk images served without the libguestfs appliance: e2fsprogs' fuse2fs over FUSE.

The guest's ext2/3/4 filesystems are parsed by fuse2fs, a userspace process running as the
calling user; the host kernel only relays FUSE requests and never parses the untrusted
filesystem. qcow2 disks are first exposed as flat files by ``qemu-storage-daemon``'s FUSE
export (also userspace, no root, no NBD device). Opening takes a fraction of a second, against
tens of seconds for the appliance under TCG.

Layout: everything lives in a private (0700) temporary directory, one mount directory per
filesystem, each served by a :class:`~xen2kvm.guest.local.LocalGuest` (confined by directory
fds). :class:`Fuse2fsGuest` composes them as the guest's fstab says, resolving paths across
mountpoints itself. No root needed anywhere. Mounts are removed on
:meth:`Fuse2fsGuest.close` or when the object is collected (``weakref.finalize``, which also
runs at interpreter exit).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat as stat_mod
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from xen2kvm.errors import (
    GuestError,
    GuestFileNotFound,
    GuestFileTooLarge,
    GuestNotAFile,
    GuestPathError,
    GuestReadOnly,
    GuestSymlinkLoop,
)
from xen2kvm.guest._walk import resolve
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, FileKind, FileStat, FilesystemInfo, Guest
from xen2kvm.guest.disks import (
    EXT_TYPES,
    IGNORED_TYPES,
    ROOT_MARKERS,
    DiskInfo,
    FsInfo,
    ImageInspection,
    filesystems_from,
    match_device,
    parse_fstab_mounts,
    probe_filesystems,
)
from xen2kvm.guest.local import LocalGuest

T = TypeVar("T")
_MOUNT_TIMEOUT = 30.0
_UNMOUNT_TIMEOUT = 60.0
_FSTAB_LIMIT = 1024 * 1024
#: fstab types that are never on the guest's disks.
_VIRTUAL_FSTYPES = frozenset(
    {
        "proc",
        "sysfs",
        "tmpfs",
        "devpts",
        "devtmpfs",
        "nfs",
        "nfs4",
        "cifs",
        "none",
        "bind",
        "usbfs",
        "securityfs",
        "debugfs",
        "configfs",
        "cgroup",
        "cgroup2",
        "xenfs",
        "binfmt_misc",
        "hugetlbfs",
        "mqueue",
        "fusectl",
        "efivarfs",
        "pstore",
        "rpc_pipefs",
        "autofs",
    }
)


class BackendUnsuitable(GuestError):
    """This guest's disks need the libguestfs backend (LVM, non-ext filesystems, ...)."""


def fuse2fs_unusable_reason(*, need_qsd: bool) -> str | None:
    """Why the userspace backend cannot run on this host, or None if it can."""
    if shutil.which("fuse2fs") is None:
        return "fuse2fs is not installed (Debian package fuse2fs)"
    if need_qsd and shutil.which("qemu-storage-daemon") is None:
        return "qemu-storage-daemon is not installed (needed for qcow2 without the appliance)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is missing or not accessible"
    if _fusermount() is None:
        return "fusermount3/fusermount is not installed"
    return None


def _fusermount() -> str | None:
    return shutil.which("fusermount3") or shutil.which("fusermount")


def _log_tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [
            ln.strip()
            for ln in log.read_text(errors="replace").splitlines()
            if ln.strip() and "journal is not supported" not in ln
        ]
        if lines:
            return lines[-1]
    return "no message"


class _Mounts:
    """The FUSE processes and directories of one guest. Holds no reference to the guest."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        # (mountpoint, process, temporary path to remove afterwards) in mount order.
        self.active: list[tuple[Path, subprocess.Popen[bytes], Path | None]] = []
        # Servers that outlive an unmount of their mount (qemu-storage-daemon exports):
        # stopped with SIGTERM, on which they flush, unmount and exit.
        self.stop_by_signal: set[int] = set()
        # Open directory fds on the mounts: closed before unmounting, or it would be busy.
        self.trees: list[LocalGuest] = []

    def start(
        self,
        argv: Sequence[str],
        mountpoint: Path,
        log: Path,
        what: str,
        cleanup: Path | None = None,
        stop_by_signal: bool = False,
    ) -> None:
        with open(log, "ab") as logf:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,  # a Ctrl-C to us must not kill the FUSE server mid-write
            )
        deadline = time.monotonic() + _MOUNT_TIMEOUT
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None:
                raise GuestError(f"{what}: {_log_tail(log)}")
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise GuestError(f"{what}: not mounted after {_MOUNT_TIMEOUT:.0f} s")
            time.sleep(0.005)
        self.active.append((mountpoint, proc, cleanup))
        if stop_by_signal:
            self.stop_by_signal.add(proc.pid)

    def stop_last(self, *, keep_dir: bool = False) -> None:
        mountpoint, proc, cleanup = self.active.pop()
        _unmount(mountpoint, proc, signal_only=proc.pid in self.stop_by_signal)
        if cleanup is None and not keep_dir and mountpoint.parent == self.workdir:
            cleanup = mountpoint
        if cleanup is not None:
            with contextlib.suppress(OSError):
                cleanup.unlink() if cleanup.is_file() else cleanup.rmdir()

    def cleanup(self) -> None:
        for tree in self.trees:
            tree.close()
        self.trees.clear()
        while self.active:
            self.stop_last()
        # rmdir, never rmtree: if an unmount failed, a recursive delete would walk into the
        # guest's filesystem and delete its files.
        for child in sorted(self.workdir.glob("*"), reverse=True):
            with contextlib.suppress(OSError):
                child.unlink() if child.is_file() and not child.is_symlink() else child.rmdir()
        with contextlib.suppress(OSError):
            self.workdir.rmdir()


def _unmount(mountpoint: Path, proc: subprocess.Popen[bytes], *, signal_only: bool) -> None:
    fusermount = _fusermount() or "fusermount"
    if proc.poll() is None and signal_only:
        proc.terminate()
    elif proc.poll() is None:
        done = subprocess.run([fusermount, "-u", str(mountpoint)], capture_output=True, check=False)
        if done.returncode != 0:
            # Busy (a leaked fd): detach now, the server exits when the last user is gone.
            subprocess.run(
                [fusermount, "-u", "-z", str(mountpoint)], capture_output=True, check=False
            )
    try:
        # Waiting matters: fuse2fs flushes the image when it exits after the unmount.
        proc.wait(timeout=_UNMOUNT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _is_root_fs(tree: Guest) -> bool:
    return tree.is_dir("/etc") and any(tree.lexists(p) for p in ROOT_MARKERS)


def _mode_bits(st: FileStat | None) -> int:
    if st is None:
        return 0
    return {FileKind.SYMLINK: stat_mod.S_IFLNK, FileKind.DIR: stat_mod.S_IFDIR}.get(
        st.kind, stat_mod.S_IFREG
    )


def _renamed(exc: GuestPathError, path: str) -> GuestPathError:
    """The same error, naming the guest path instead of the path inside one filesystem."""
    if isinstance(exc, GuestFileNotFound):
        return GuestFileNotFound(path)
    if isinstance(exc, GuestSymlinkLoop):
        return GuestSymlinkLoop(path)
    if isinstance(exc, GuestNotAFile):
        return GuestNotAFile(path, exc.kind)
    if isinstance(exc, GuestFileTooLarge):
        return GuestFileTooLarge(path, exc.limit)
    return GuestPathError(path, exc.reason)


class Fuse2fsGuest(Guest):
    """A guest on raw or qcow2 images with only ext2/3/4 filesystems (no LVM), via fuse2fs.

    Each filesystem is mounted in its own directory and served by a
    :class:`~xen2kvm.guest.local.LocalGuest`; a guest path is resolved across them here
    (symlinks crossing mountpoints included) and handed, symlink-free, to the filesystem with
    the longest matching mountpoint. Nesting FUSE mounts inside each other would be simpler
    but needs root (or ``allow_other``): fusermount must reach the inner mountpoint, which a
    user's FUSE mount hides from everyone else, root included.

    Raises :class:`BackendUnsuitable` when the disks hold something fuse2fs cannot serve, so
    the caller can fall back to libguestfs.
    """

    def __init__(self, disks: Sequence[DiskInfo], *, read_only: bool = True) -> None:
        if not disks:
            raise GuestError("no disk images given")
        reason = fuse2fs_unusable_reason(need_qsd=any(d.format != "raw" for d in disks))
        if reason is not None:
            raise BackendUnsuitable(f"cannot use fuse2fs: {reason}")
        self.disks = tuple(disks)
        self.name = ", ".join(str(d.path) for d in disks)
        self.read_only = read_only
        workdir = Path(tempfile.mkdtemp(prefix="xen2kvm-fuse-"))
        self._mounts = _Mounts(workdir)
        # (canonical guest mountpoint, tree), longest mountpoint first for routing.
        self._trees: list[tuple[str, LocalGuest]] = []
        self._finalizer = weakref.finalize(self, self._mounts.cleanup)
        try:
            self.inspection: ImageInspection = self._mount_all(workdir, read_only)
        except BaseException:
            self._finalizer()
            raise
        #: Host directory where the root filesystem is mounted (for diagnostics and tests).
        self.root = self._trees[-1][1].root

    # --- opening -------------------------------------------------------------------------

    def _flat_images(self, workdir: Path, read_only: bool) -> list[Path]:
        flat: list[Path] = []
        for d in self.disks:
            if d.format == "raw":
                flat.append(d.path)
                continue
            target = workdir / f"disk{d.index}.raw"
            target.touch(mode=0o600)
            ro = read_only
            node_file = {
                "driver": "file",
                "node-name": "file0",
                "filename": str(d.path),
                "read-only": ro,
                "force-share": ro,
            }
            node_fmt = {
                "driver": d.format,
                "node-name": "disk0",
                "file": "file0",
                "read-only": ro,
                "force-share": ro,
            }
            export = {
                "type": "fuse",
                "id": "exp0",
                "node-name": "disk0",
                "mountpoint": str(target),
                "writable": not ro,
            }
            argv = [
                "qemu-storage-daemon",
                "--blockdev", json.dumps(node_file),
                "--blockdev", json.dumps(node_fmt),
                "--export", json.dumps(export),
            ]  # fmt: skip
            self._mounts.start(
                argv,
                target,
                workdir / f"disk{d.index}.log",
                f"{d.path}: qemu-storage-daemon cannot export it",
                cleanup=target,
                stop_by_signal=True,
            )
            flat.append(target)
        return flat

    def _mount_fs(
        self, image: Path, fs: FsInfo, mountpoint: Path, read_only: bool, workdir: Path
    ) -> None:
        opts = ["fakeroot", "nosuid", "nodev", "noexec"]
        if read_only:
            opts.append("ro")
        if fs.offset:
            opts.append(f"offset={fs.offset}")
        argv = ["fuse2fs", str(image), str(mountpoint), "-f", "-o", ",".join(opts)]
        name = fs.device.rsplit("/", 1)[-1]
        try:
            self._mounts.start(
                argv,
                mountpoint,
                workdir / f"fuse2fs-{name}.log",
                f"{self.disks[fs.disk_index].path} ({fs.device}): fuse2fs cannot mount it",
            )
        except GuestError as exc:
            # The kernel driver in the appliance may still manage (or say better what's wrong).
            raise BackendUnsuitable(str(exc)) from exc

    def _add_tree(self, mountpoint: str, host_dir: Path, read_only: bool) -> None:
        tree = LocalGuest(host_dir, read_only=read_only, name=self.name)
        self._mounts.trees.append(tree)
        self._trees.append((mountpoint, tree))
        self._trees.sort(key=lambda t: len(t[0]), reverse=True)

    def _mount_all(self, workdir: Path, read_only: bool) -> ImageInspection:
        flat = self._flat_images(workdir, read_only)
        found: list[FsInfo] = []
        for d, image in zip(self.disks, flat, strict=True):
            found.extend(probe_filesystems(image, d.index))
        self._found = list(found)
        for fs in found:
            if fs.fstype is None or fs.fstype in IGNORED_TYPES:
                continue
            if fs.fstype not in EXT_TYPES:
                raise BackendUnsuitable(f"{fs.device} holds {fs.fstype}, which fuse2fs cannot read")
            if fs.needs_recovery:
                raise BackendUnsuitable(
                    f"{fs.device}: the ext journal needs recovery, which fuse2fs cannot replay"
                )
        candidates = [fs for fs in found if fs.fstype in EXT_TYPES]
        if not candidates:
            raise GuestError(f"no operating system found in {self.name} (no ext filesystem)")
        image_of = {d.index: img for d, img in zip(self.disks, flat, strict=True)}

        def host_dir(fs: FsInfo) -> Path:
            path = workdir / ("fs-" + fs.device.rsplit("/", 1)[-1])
            path.mkdir(mode=0o700)
            return path

        root_fs = None
        for fs in candidates:
            target = host_dir(fs)
            # Probing mounts are read-only: looking must not touch the images.
            self._mount_fs(image_of[fs.disk_index], fs, target, True, workdir)
            with LocalGuest(target, read_only=True) as probe:
                is_root = _is_root_fs(probe)
            if is_root:
                root_fs = fs
                if not read_only:
                    self._mounts.stop_last(keep_dir=True)
                    self._mount_fs(image_of[fs.disk_index], fs, target, False, workdir)
                self._add_tree("/", target, read_only)
                break
            self._mounts.stop_last()
        if root_fs is None:
            raise GuestError(f"no operating system found in {self.name}")

        mountpoints = {"/": root_fs.device}
        unmounted: dict[str, str] = {}
        warnings: list[str] = []
        try:
            fstab = parse_fstab_mounts(self.read_text("/etc/fstab", limit=_FSTAB_LIMIT))
        except GuestPathError as exc:
            fstab = []
            warnings.append(str(exc))
        mounted_devices = {root_fs.device}
        for entry in sorted(fstab, key=lambda e: e.mountpoint.rstrip("/").count("/")):
            mp = "/" + entry.mountpoint.strip("/")
            if mp == "/" or entry.fstype in _VIRTUAL_FSTYPES or "bind" in entry.options:
                continue
            target_fs = match_device(entry.spec, found)
            if target_fs is None:
                if entry.spec.startswith(("/dev/", "UUID=", "LABEL=", "PARTUUID=")):
                    unmounted[mp] = f"{entry.spec} is not on the given disks"
                continue
            fs = target_fs
            if fs.fstype not in EXT_TYPES:
                if fs.fstype not in IGNORED_TYPES:
                    unmounted[mp] = f"{fs.device} has no mountable filesystem"
                continue
            if fs.device in mounted_devices:
                unmounted[mp] = f"{fs.device} is already mounted"
                continue
            try:
                canonical = self.realpath(mp)
                is_dir = self.is_dir(canonical)
            except GuestPathError as exc:
                unmounted[mp] = f"mountpoint unusable: {exc.reason}"
                continue
            if not is_dir:
                unmounted[mp] = "mountpoint is not a directory"
                continue
            target = host_dir(fs)
            self._mount_fs(image_of[fs.disk_index], fs, target, read_only, workdir)
            self._add_tree(canonical, target, read_only)
            mounted_devices.add(fs.device)
            mountpoints[mp] = fs.device
        return ImageInspection(
            backend="fuse2fs",
            disks=tuple(str(d.path) for d in self.disks),
            root=root_fs.device,
            mountpoints=mountpoints,
            unmounted=unmounted,
            warnings=tuple(warnings),
        )

    def filesystems(self) -> list[FilesystemInfo]:
        return filesystems_from(self._found, self.inspection)

    # --- routing -------------------------------------------------------------------------

    def _route(self, canonical: str) -> tuple[LocalGuest, str]:
        for mp, tree in self._trees:
            if mp == "/" or canonical == mp or canonical.startswith(mp + "/"):
                return tree, "/" + canonical[len(mp) :].lstrip("/")
        raise AssertionError("the root filesystem routes every path")

    def _lstat_or_none(self, canonical: str) -> FileStat | None:
        tree, rel = self._route(canonical)
        try:
            return tree.lstat(rel)
        except GuestFileNotFound:
            return None

    def _locate(self, path: str, *, follow_last: bool) -> tuple[LocalGuest, str]:
        if len(self._trees) == 1:
            return self._trees[0][1], path  # one filesystem: LocalGuest confines by itself
        canonical, _ = resolve(
            path,
            follow_last=follow_last,
            lstat=self._lstat_or_none,
            mode_of=_mode_bits,
            readlink=lambda p: self._on(p, False, lambda t, r: t.readlink(r)),
        )
        return self._route(canonical)

    def _on(self, path: str, follow_last: bool, fn: Callable[[LocalGuest, str], T]) -> T:
        tree, rel = self._locate(path, follow_last=follow_last)
        try:
            return fn(tree, rel)
        except GuestPathError as exc:
            if rel == path:
                raise
            raise _renamed(exc, path) from exc

    # --- reading -------------------------------------------------------------------------

    def lstat(self, path: str) -> FileStat:
        return self._on(path, False, lambda t, r: t.lstat(r))

    def stat(self, path: str) -> FileStat:
        return self._on(path, True, lambda t, r: t.stat(r))

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        return self._on(path, True, lambda t, r: t.read_bytes(r, limit=limit))

    def listdir(self, path: str) -> list[str]:
        return self._on(path, True, lambda t, r: t.listdir(r))

    def readlink(self, path: str) -> str:
        return self._on(path, False, lambda t, r: t.readlink(r))

    def realpath(self, path: str) -> str:
        if len(self._trees) == 1:
            return self._trees[0][1].realpath(path)
        canonical, st = resolve(
            path,
            follow_last=True,
            lstat=self._lstat_or_none,
            mode_of=_mode_bits,
            readlink=lambda p: self._on(p, False, lambda t, r: t.readlink(r)),
        )
        if st is None:
            raise GuestFileNotFound(path)
        return canonical

    # --- writing -------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.read_only:
            raise GuestReadOnly(f"{self.name} is opened read-only")

    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        self._check_writable()
        self._on(path, False, lambda t, r: t.write_bytes(r, data, mode=mode, uid=uid, gid=gid))

    def remove(self, path: str) -> None:
        self._check_writable()
        self._on(path, False, lambda t, r: t.remove(r))

    def rmdir(self, path: str) -> None:
        self._check_writable()
        self._on(path, False, lambda t, r: t.rmdir(r))

    def symlink(self, target: str, path: str) -> None:
        self._check_writable()
        self._on(path, False, lambda t, r: t.symlink(target, r))

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._check_writable()
        self._on(path, False, lambda t, r: t.mkdir(r, mode))

    def chmod(self, path: str, mode: int) -> None:
        self._check_writable()
        self._on(path, True, lambda t, r: t.chmod(r, mode))

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._check_writable()
        self._on(path, False, lambda t, r: t.chown(r, uid, gid))

    def getxattrs(self, path: str) -> dict[str, bytes]:
        return self._on(path, False, lambda t, r: t.getxattrs(r))

    def setxattrs(self, path: str, xattrs: dict[str, bytes]) -> None:
        self._check_writable()
        self._on(path, False, lambda t, r: t.setxattrs(r, xattrs))

    def sync(self) -> None:
        # Every write already fsyncs the file and its directory, which fuse2fs turns into a
        # flush of the image; the full flush happens when close() waits for fuse2fs to exit.
        return None

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Unmount everything (waiting for fuse2fs to flush the image) and remove temp dirs."""
        self._finalizer()
