"""Disk images served without the libguestfs appliance: e2fsprogs' fuse2fs over FUSE.

The guest's ext2/3/4 filesystems are parsed by fuse2fs, a userspace process running as the
calling user; the host kernel only relays FUSE requests and never parses the untrusted
filesystem. qcow2 disks are first exposed as flat files by ``qemu-storage-daemon``'s FUSE
export (also userspace, no root, no NBD device). Opening takes a fraction of a second, against
tens of seconds for the appliance under TCG.

Layout: everything lives in a private (0700) temporary directory. The root filesystem is
mounted at ``<tmp>/root``; every other filesystem named by the guest's fstab is mounted *into*
the root mount at its (symlink-resolved) mountpoint, so the whole guest is one directory tree
and :class:`~xen2kvm.guest.local.LocalGuest` serves it with its usual confinement, including
symlinks that cross mountpoints. Mounts are removed on :meth:`Fuse2fsGuest.close` or when the
object is collected (``weakref.finalize``, which also runs at interpreter exit).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from xen2kvm.errors import GuestError, GuestPathError
from xen2kvm.guest.disks import (
    EXT_TYPES,
    IGNORED_TYPES,
    DiskInfo,
    FsInfo,
    ImageInspection,
    match_device,
    parse_fstab_mounts,
    probe_filesystems,
)
from xen2kvm.guest.local import LocalGuest

_MOUNT_TIMEOUT = 30.0
_UNMOUNT_TIMEOUT = 60.0
_FSTAB_LIMIT = 1024 * 1024
#: Files that mark a filesystem as an operating system's root (any one suffices).
_ROOT_MARKERS = (
    "/etc/fstab",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/debian_version",
    "/etc/redhat-release",
    "/etc/centos-release",
    "/etc/fedora-release",
    "/etc/SuSE-release",
    "/etc/arch-release",
    "/etc/lsb-release",
    "/etc/gentoo-release",
    "/etc/alpine-release",
)
#: fstab types that are never on the guest's disks.
_VIRTUAL_FSTYPES = frozenset(
    {"proc", "sysfs", "tmpfs", "devpts", "devtmpfs", "nfs", "nfs4", "cifs", "none", "bind",
     "usbfs", "securityfs", "debugfs", "configfs", "cgroup", "cgroup2", "xenfs", "binfmt_misc",
     "hugetlbfs", "mqueue", "fusectl", "efivarfs", "pstore", "rpc_pipefs", "autofs"}
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

    def stop_last(self) -> None:
        mountpoint, proc, cleanup = self.active.pop()
        _unmount(mountpoint, proc, signal_only=proc.pid in self.stop_by_signal)
        if cleanup is not None:
            with contextlib.suppress(OSError):
                cleanup.unlink() if cleanup.is_file() else cleanup.rmdir()

    def cleanup(self) -> None:
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
        done = subprocess.run(
            [fusermount, "-u", str(mountpoint)], capture_output=True, check=False
        )
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


def _is_root_fs(tree: LocalGuest) -> bool:
    return tree.is_dir("/etc") and any(tree.lexists(p) for p in _ROOT_MARKERS)


class Fuse2fsGuest(LocalGuest):
    """A guest on raw or qcow2 images with only ext2/3/4 filesystems (no LVM), via fuse2fs.

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
        label = ", ".join(str(d.path) for d in disks)
        workdir = Path(tempfile.mkdtemp(prefix="xen2kvm-fuse-"))
        self._mounts = _Mounts(workdir)
        self._finalizer = weakref.finalize(self, self._mounts.cleanup)
        try:
            root_dir, inspection = self._mount_all(workdir, label, read_only)
            super().__init__(root_dir, read_only=read_only, name=label)
        except BaseException:
            self._finalizer()
            raise
        self.inspection: ImageInspection = inspection

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
        self._mounts.start(
            argv,
            mountpoint,
            workdir / f"fuse2fs-{name}.log",
            f"{image} ({fs.device}): fuse2fs cannot mount it",
            cleanup=None,
        )

    def _mount_all(
        self, workdir: Path, label: str, read_only: bool
    ) -> tuple[Path, ImageInspection]:
        flat = self._flat_images(workdir, read_only)
        found: list[FsInfo] = []
        for d, image in zip(self.disks, flat, strict=True):
            found.extend(probe_filesystems(image, d.index))
        for fs in found:
            if fs.fstype is None or fs.fstype in IGNORED_TYPES:
                continue
            if fs.fstype not in EXT_TYPES:
                raise BackendUnsuitable(
                    f"{fs.device} holds {fs.fstype}, which fuse2fs cannot read"
                )
            if fs.needs_recovery:
                raise BackendUnsuitable(
                    f"{fs.device}: the ext journal needs recovery, which fuse2fs cannot replay"
                )
        candidates = [fs for fs in found if fs.fstype in EXT_TYPES]
        if not candidates:
            raise GuestError(f"no operating system found in {label} (no ext filesystem)")
        image_of = {d.index: img for d, img in zip(self.disks, flat, strict=True)}

        root_dir = workdir / "root"
        root_dir.mkdir(mode=0o700)
        root_fs = self._find_root(candidates, image_of, root_dir, workdir)
        if root_fs is None:
            raise GuestError(f"no operating system found in {label}")
        if not read_only:
            # Found with a read-only mount (probing must not touch the images); now for real.
            self._mounts.stop_last()
            self._mount_fs(image_of[root_fs.disk_index], root_fs, root_dir, False, workdir)

        mountpoints = {"/": root_fs.device}
        unmounted: dict[str, str] = {}
        warnings: list[str] = []
        tree = LocalGuest(root_dir, read_only=True, name=label)
        try:
            try:
                fstab = parse_fstab_mounts(tree.read_text("/etc/fstab", limit=_FSTAB_LIMIT))
            except GuestPathError as exc:
                fstab = []
                warnings.append(str(exc))
            mounted_devices = {root_fs.device}
            for entry in sorted(fstab, key=lambda e: e.mountpoint.rstrip("/").count("/")):
                mp = "/" + entry.mountpoint.strip("/")
                if mp == "/" or entry.fstype in _VIRTUAL_FSTYPES or "bind" in entry.options:
                    continue
                target = match_device(entry.spec, found)
                if target is None:
                    if entry.spec.startswith(("/dev/", "UUID=", "LABEL=", "PARTUUID=")):
                        unmounted[mp] = f"{entry.spec} is not on the given disks"
                    continue
                fs = target
                if fs.fstype not in EXT_TYPES:
                    if fs.fstype not in IGNORED_TYPES:
                        unmounted[mp] = f"{fs.device} has no mountable filesystem"
                    continue
                if fs.device in mounted_devices:
                    unmounted[mp] = f"{fs.device} is already mounted"
                    continue
                try:
                    resolved = tree.realpath(mp)
                    is_dir = tree.is_dir(resolved)
                except GuestPathError as exc:
                    unmounted[mp] = f"mountpoint unusable: {exc.reason}"
                    continue
                if not is_dir:
                    unmounted[mp] = "mountpoint is not a directory in the root filesystem"
                    continue
                # ``resolved`` has no symlink left, so the host path below stays in the mount.
                host_mp = root_dir / resolved.lstrip("/")
                self._mount_fs(image_of[fs.disk_index], fs, host_mp, read_only, workdir)
                mounted_devices.add(fs.device)
                mountpoints[mp] = fs.device
        finally:
            tree.close()
        inspection = ImageInspection(
            backend="fuse2fs",
            disks=tuple(str(d.path) for d in self.disks),
            root=root_fs.device,
            mountpoints=mountpoints,
            unmounted=unmounted,
            warnings=tuple(warnings),
        )
        return root_dir, inspection

    def _find_root(
        self, candidates: list[FsInfo], image_of: dict[int, Path], target: Path, workdir: Path
    ) -> FsInfo | None:
        """Mount candidates read-only at ``target`` until one is an OS root; leave it mounted."""
        for fs in candidates:
            self._mount_fs(image_of[fs.disk_index], fs, target, True, workdir)
            tree = LocalGuest(target, read_only=True)
            try:
                if _is_root_fs(tree):
                    return fs
            finally:
                tree.close()
            self._mounts.stop_last()
        return None

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Unmount everything (waiting for fuse2fs to flush the image) and remove temp dirs."""
        super().close()
        self._finalizer()

    def sync(self) -> None:
        # Every write already fsyncs the file and its directory, which fuse2fs turns into a
        # flush of the image; the full flush happens on close.
        return None
