"""The guest builder: debootstrap stage (cached tarball), variant stage (cached images)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
ARCH = "amd64"
#: What every variant starts from (debootstrap --variant=minbase --include=...).
BASE_PACKAGES = (
    "systemd-sysv",
    "udev",
    "kmod",
    "ifupdown",
    "isc-dhcp-client",
    "iproute2",
    "procps",
    "initramfs-tools",
    "linux-image-amd64",
)
ROOT_PASSWORD = "xen2kvm"
ROOT_IMAGE_MB = 2048
SWAP_IMAGE_MB = 256
#: Bumped by hand when the base stage changes in a way its inputs do not show.
BASE_RECIPE_VERSION = 1
FALLBACK_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Variant:
    """One guest recipe. Each variant changes one thing from the reference."""

    name: str
    description: str
    layout: str = "bare"  # "bare": the disk is the filesystem; "mbr": one partition + GRUB 2
    init: str = "systemd"  # or "sysvinit"
    initramfs: str = "initramfs-tools"  # or "dracut"
    extra_packages: tuple[str, ...] = ()
    remove_packages: tuple[str, ...] = ()


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "reference",
            "bare ext4 xvda + swap xvdb, pv-grub menu.lst, systemd, initramfs-tools MODULES=list",
        ),
        Variant(
            "partitioned",
            "MBR disk with one ext4 partition (xvda1) and GRUB 2 in the MBR (Direct Disk)",
            layout="mbr",
            extra_packages=("grub-pc",),
        ),
        Variant(
            "dracut",
            "like reference, initramfs by dracut (hostonly, Xen PV drivers only)",
            initramfs="dracut",
            extra_packages=("dracut",),
            remove_packages=("initramfs-tools",),
        ),
        Variant(
            "sysvinit",
            "like reference, sysvinit-core instead of systemd, getty on hvc0 in inittab",
            init="sysvinit",
            extra_packages=("sysvinit-core",),
            remove_packages=("systemd-sysv",),
        ),
    )
}


@dataclass
class BuiltGuest:
    """A built guest in the cache. ``disks`` are in assignment order (xvda, xvdb)."""

    variant: str
    directory: str
    disks: list[str]
    kernel_version: str
    kernel: str  # copy of the guest's kernel, for tests that boot it explicitly
    initrd: str
    cmdline: str  # the default boot entry's command line, as the guest has it
    root_password: str
    layout: str
    init: str
    initramfs: str
    recipe_hash: str
    build_seconds: float
    initramfs_modules: list[str] = field(default_factory=list)

    @property
    def login(self) -> str:
        return f"root:{self.root_password}"


def log(msg: str, *, start: float | None = None) -> None:
    stamp = time.strftime("%H:%M:%S")
    extra = f" (+{time.monotonic() - start:.1f}s)" if start is not None else ""
    print(f"[build-guest {stamp}]{extra} {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    env = os.environ.get("XEN2KVM_CACHE")
    return Path(env) / "guests" if env else REPO / "cache" / "guests"


def debian_mirror() -> str:
    """The Debian mirror apt is configured with on this host (deb822 or one-line format)."""
    override = os.environ.get("XEN2KVM_DEBIAN_MIRROR")
    if override:
        return override
    files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + sorted(
        glob.glob("/etc/apt/sources.list.d/*.list")
    )
    files.insert(0, "/etc/apt/sources.list")
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
                if uris and suites and SUITE in suites.group(1).split():
                    return uris.group(1).rstrip("/")
        else:
            for line in text.splitlines():
                m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m and m.group(2) == SUITE:
                    return m.group(1).rstrip("/")
    return FALLBACK_MIRROR


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def base_hash() -> str:
    return _hash({"v": BASE_RECIPE_VERSION, "suite": SUITE, "arch": ARCH, "pkgs": BASE_PACKAGES})


def _recipe_source() -> str:
    # The code that decides a guest's content is part of the key: changing how guests are
    # configured must invalidate cached images without anyone remembering to bump a number.
    # (Only that code: editing the CLI or the cache handling keeps the cache.)
    funcs = (configure, write_dracut_conf, make_grub2, build_tree, make_ext4, make_mbr_disk)
    return "".join(inspect.getsource(f) for f in funcs) + DRACUT_CONF + ROOT_PASSWORD


def variant_hash(variant: Variant) -> str:
    return _hash(
        {
            "base": base_hash(),
            "variant": dataclasses.asdict(variant),
            "src": hashlib.sha256(_recipe_source().encode()).hexdigest(),
            "sizes": [ROOT_IMAGE_MB, SWAP_IMAGE_MB],
        }
    )


def prune_stale(cache: Path, keep: Path) -> None:
    """Remove older builds of the same variant (a changed recipe leaves them behind)."""
    prefix = keep.name.rsplit("-", 1)[0] + "-"
    for old in cache.glob(prefix + "*"):
        if old != keep and (old / "guest.json").exists():
            shutil.rmtree(old, ignore_errors=True)
            log(f"removed stale build {old.name}")


def run(cmd: Sequence[str], *, input: str | None = None, env: dict[str, str] | None = None,
        quiet: bool = True) -> str:
    proc = subprocess.run(
        list(cmd), input=input, text=True, capture_output=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"build-guest: command failed ({proc.returncode}): {' '.join(cmd)}")
    if not quiet:
        sys.stderr.write(proc.stdout)
    return proc.stdout


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        raise SystemExit(f"build-guest: {why} needs root (debootstrap and chroot); run as root")


# --- stage 1: debootstrap tarball ----------------------------------------------------------


def base_tarball(cache: Path, *, force: bool = False) -> Path:
    tar = cache / f"base-{SUITE}-{base_hash()}.tar.zst"
    if tar.exists() and not force:
        log(f"debootstrap tree cached: {tar.name}")
        return tar
    require_root("debootstrap")
    cache.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache, prefix="base-work-") as work:
        tree = Path(work) / "tree"
        log(f"debootstrap {SUITE} minbase from {mirror} (a few minutes)")
        run(
            [
                "debootstrap", "--variant=minbase", f"--arch={ARCH}", "--components=main",
                "--include=" + ",".join(BASE_PACKAGES), SUITE, str(tree), mirror,
            ]
        )
        log("debootstrap done", start=t0)
        tmp = tar.with_suffix(".tmp")
        run(
            [
                "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-I", "zstd -T0 -3",
                "-cf", str(tmp), "-C", str(tree), ".",
            ]
        )
        tmp.rename(tar)
    log(f"base tarball written: {tar.name}", start=t0)
    return tar


# --- stage 2: configure a variant -----------------------------------------------------------


@contextlib.contextmanager
def chroot_mounts(tree: Path) -> Iterator[None]:
    mounted: list[Path] = []
    try:
        for fstype, target in (("proc", "proc"), ("devpts", "dev/pts")):
            path = tree / target
            path.mkdir(parents=True, exist_ok=True)
            run(["mount", "-t", fstype, fstype, str(path)])
            mounted.append(path)
        yield
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "-l", str(path)], check=False)


def in_chroot(tree: Path, script: str) -> str:
    return run(
        ["chroot", str(tree), "/bin/sh", "-ec", script],
        env={
            "DEBIAN_FRONTEND": "noninteractive",
            "LC_ALL": "C",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        },
    )


def write(tree: Path, path: str, text: str, mode: int = 0o644) -> None:
    dest = tree / path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink():
        dest.unlink()
    dest.write_text(text)
    dest.chmod(mode)


DRACUT_CONF = (
    "# Generated on the Xen host: hostonly, only the Xen PV drivers.\n"
    'hostonly="yes"\nhostonly_cmdline="no"\n'
    'drivers="xen-blkfront xen-netfront ext4"\n'
    # The build machine is itself a QEMU VM (dracut's qemu modules would add virtio) and has
    # no RAID/LVM/crypto on this guest's disk: a hostonly build on Xen would not carry them.
    'omit_dracutmodules+=" qemu qemu-net virtiofs nvdimm dm dmraid mdraid lvm crypt '
    'multipath iscsi nbd fcoe fcoe-uefi nfs cifs "\n'
)


def write_dracut_conf(tree: Path) -> None:
    write(tree, "/etc/dracut.conf.d/10-xen.conf", DRACUT_CONF)


def configure(tree: Path, v: Variant) -> tuple[str, str]:
    """Configure the tree as a Xen PV guest; returns (kernel version, boot command line)."""
    kvers = sorted(p.name[len("vmlinuz-"):] for p in (tree / "boot").glob("vmlinuz-*"))
    if not kvers:
        raise SystemExit("build-guest: no kernel in the debootstrap tree")
    kver = kvers[-1]
    root_dev = "/dev/xvda1" if v.layout == "mbr" else "/dev/xvda"
    cmdline = f"root={root_dev} ro console=hvc0"

    write(tree, "/etc/hostname", f"xen-{v.name}\n")
    write(tree, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\txen-{v.name}\n")
    write(
        tree,
        "/etc/fstab",
        "# /etc/fstab: static file system information (Linode Xen layout)\n"
        f"{root_dev}\t/\text4\terrors=remount-ro\t0\t1\n"
        "/dev/xvdb\tnone\tswap\tsw\t0\t0\n",
    )
    write(
        tree,
        "/etc/network/interfaces",
        "# The loopback network interface\nauto lo\niface lo inet loopback\n\n"
        "# The primary network interface\nallow-hotplug eth0\niface eth0 inet dhcp\n",
    )
    # systemd >= 252 names a Xen netfront NIC enX0; the guest keeps the kernel's eth0 (as
    # Linode's images did) so its eth0 configuration works on Xen at all.
    rules = tree / "etc/udev/rules.d/80-net-setup-link.rules"
    rules.parent.mkdir(parents=True, exist_ok=True)
    if rules.is_symlink() or rules.exists():
        rules.unlink()
    rules.symlink_to("/dev/null")

    grub_default = (
        'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n'
        'GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n'
        'GRUB_CMDLINE_LINUX_DEFAULT=""\n'
    )
    if v.layout == "bare":
        grub_default += 'GRUB_CMDLINE_LINUX="root=/dev/xvda console=hvc0"\n'
    else:
        grub_default += 'GRUB_CMDLINE_LINUX="console=hvc0"\n'
    grub_default += "GRUB_DISABLE_OS_PROBER=true\n"
    write(tree, "/etc/default/grub", grub_default)

    # pv-grub reads menu.lst (GRUB legacy syntax) from the guest's disk.
    write(
        tree,
        "/boot/grub/menu.lst",
        "# menu.lst for pv-grub (Linode Xen)\n"
        "default 0\ntimeout 3\n\n"
        f"title Debian GNU/Linux 12, kernel {kver}\n"
        f"root (hd0{',0' if v.layout == 'mbr' else ''})\n"
        f"kernel /boot/vmlinuz-{kver} {cmdline}\n"
        f"initrd /boot/initrd.img-{kver}\n",
    )

    # Console: a getty on hvc0 only.
    if v.init == "systemd":
        wants = tree / "etc/systemd/system/getty.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / "serial-getty@hvc0.service"
        if not link.is_symlink():
            link.symlink_to("/lib/systemd/system/serial-getty@.service")
    else:
        inittab = (tree / "etc/inittab").read_text()
        lines = [
            ln for ln in inittab.splitlines() if not re.match(r"^[^#:]+:\d+:respawn:.*ttyS\d", ln)
        ]
        lines.append("# Xen PV console")
        lines.append("h0:2345:respawn:/sbin/getty -L hvc0 9600 vt100")
        write(tree, "/etc/inittab", "\n".join(lines) + "\n")

    write(tree, "/etc/initramfs-tools/conf.d/resume", "RESUME=none\n")
    if v.initramfs == "initramfs-tools":
        conf = tree / "etc/initramfs-tools/initramfs.conf"
        text = re.sub(r"(?m)^MODULES=.*$", "MODULES=list", conf.read_text())
        conf.write_text(text)
        # ext4 is a module in Debian's kernel: without it the guest does not boot on Xen either.
        write(
            tree,
            "/etc/initramfs-tools/modules",
            "# Xen PV drivers (the guest was set up on Xen with MODULES=list)\n"
            "xen-blkfront\nxen-netfront\next4\n",
        )
    else:
        write_dracut_conf(tree)
    return kver, cmdline


def make_grub2(tree: Path, kver: str, cmdline: str) -> bytes:
    """GRUB 2 for BIOS: modules + grub.cfg into the tree; returns boot.img+core.img bytes.

    grub-install wants a block device to probe; grub-mkimage builds the same core.img (with a
    fixed prefix) and the MBR is written by hand below, which needs neither root nor a loop
    device.
    """
    moddir = tree / "usr/lib/grub/i386-pc"
    dest = tree / "boot/grub/i386-pc"
    dest.mkdir(parents=True, exist_ok=True)
    for f in moddir.iterdir():
        if f.suffix in (".mod", ".lst", ".img"):
            shutil.copy2(f, dest / f.name)
    in_chroot(
        tree,
        "grub-mkimage -O i386-pc -o /boot/grub/i386-pc/core.img "
        "-p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2",
    )
    write(
        tree,
        "/boot/grub/grub.cfg",
        "# GRUB 2 configuration (Xen guest, pvgrub2 / Direct Disk)\n"
        "set default=0\nset timeout=3\n"
        "insmod part_msdos\ninsmod ext2\nset root='hd0,msdos1'\n\n"
        f"menuentry 'Debian GNU/Linux, with Linux {kver}' --class debian --class gnu-linux {{\n"
        "\tinsmod gzio\n\tinsmod part_msdos\n\tinsmod ext2\n\tset root='hd0,msdos1'\n"
        f"\techo\t'Loading Linux {kver} ...'\n"
        f"\tlinux\t/boot/vmlinuz-{kver} {cmdline}\n"
        "\techo\t'Loading initial ramdisk ...'\n"
        f"\tinitrd\t/boot/initrd.img-{kver}\n"
        "}\n",
    )
    boot = (dest / "boot.img").read_bytes()
    core = (dest / "core.img").read_bytes()
    if len(boot) != 512 or len(core) > 2047 * 512:
        raise SystemExit("build-guest: unexpected boot.img/core.img sizes")
    return boot + core


def build_tree(tar: Path, tree: Path, v: Variant) -> tuple[str, str, bytes | None]:
    t0 = time.monotonic()
    tree.mkdir()
    run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-I", "zstd", "-xf",
         str(tar), "-C", str(tree)])
    log("base tree extracted", start=t0)
    boot_code: bytes | None = None
    shutil.copy2("/etc/resolv.conf", tree / "etc/resolv.conf")
    write(tree, "/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
    with chroot_mounts(tree):
        if v.initramfs == "dracut":
            # before installing dracut: its own first run then builds the small image too
            write_dracut_conf(tree)
        if v.extra_packages:
            log(f"installing {' '.join(v.extra_packages)} in the chroot")
            remove = " ".join(f"{p}-" for p in v.remove_packages)
            if "grub-pc" in v.extra_packages:
                in_chroot(
                    tree,
                    "echo 'grub-pc grub-pc/install_devices_empty boolean true' "
                    "| debconf-set-selections",
                )
            in_chroot(
                tree,
                "apt-get -q update && apt-get -q -y --no-install-recommends "
                "-o Dpkg::Options::=--force-confold "
                f"install {' '.join(v.extra_packages)} {remove}",
            )
            log("packages installed", start=t0)
        kver, cmdline = configure(tree, v)
        if v.layout == "mbr":
            boot_code = make_grub2(tree, kver, cmdline)
        log(f"regenerating the initramfs with {v.initramfs}")
        if v.initramfs == "dracut":
            in_chroot(tree, f"dracut --force /boot/initrd.img-{kver} {kver}")
        else:
            in_chroot(tree, f"update-initramfs -u -k {kver}")
        in_chroot(tree, f"echo 'root:{ROOT_PASSWORD}' | chpasswd")
        in_chroot(tree, "apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin")
    (tree / "usr/sbin/policy-rc.d").unlink()
    (tree / "etc/resolv.conf").unlink()
    log("tree configured", start=t0)
    return kver, cmdline, boot_code


def list_initramfs_modules(initrd: Path) -> list[str]:
    """Module names inside an initramfs, using the host's lsinitramfs (or 3cpio/cpio)."""
    out = subprocess.run(["lsinitramfs", str(initrd)], capture_output=True, text=True)
    if out.returncode != 0:
        return []
    return sorted(
        {
            re.sub(r"\.ko(\.[a-z]+)?$", "", os.path.basename(p))
            for p in out.stdout.split()
            if re.search(r"\.ko(\.[a-z]+)?$", p)
        }
    )


def make_ext4(tree: Path, image: Path, size_mb: int, fs_uuid: str, label: str) -> None:
    with open(image, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    run(["mkfs.ext4", "-q", "-F", "-L", label, "-U", fs_uuid, "-d", str(tree), str(image)])


def make_mbr_disk(part: Path, disk: Path, boot_code: bytes) -> None:
    part_size = part.stat().st_size
    offset = 1024 * 1024
    with open(disk, "wb") as f:
        f.truncate(offset + part_size)
    run(["sfdisk", "-q", "--no-reread", str(disk)],
        input=f"label: dos\nstart=2048, size={part_size // 512}, type=83, bootable\n")
    # Copy the partition in sparsely: the image is mostly zeros.
    with open(part, "rb") as src, open(disk, "r+b") as dst:
        dst.seek(offset)
        while chunk := src.read(4 * 1024 * 1024):
            if chunk.count(0) == len(chunk):
                dst.seek(len(chunk), os.SEEK_CUR)
            else:
                dst.write(chunk)
        # boot.img's code goes before the disk signature and partition table (offset 440);
        # core.img goes right after the MBR, where grub-mkimage's blocklist expects it (LBA 2
        # onwards for its body, length already filled in by grub-mkimage).
        dst.seek(0)
        dst.write(boot_code[:440])
        dst.seek(512)
        dst.write(boot_code[512:])


def cached_guest(variant: str = "reference", *, cache: Path | None = None) -> BuiltGuest | None:
    """The cached build of ``variant`` for the current recipe, or None."""
    v = VARIANTS[variant]
    d = (cache or cache_dir()) / f"{v.name}-{variant_hash(v)}"
    meta = d / "guest.json"
    if not meta.exists():
        return None
    data = json.loads(meta.read_text())
    return BuiltGuest(**data)


def build_guest(
    variant: str = "reference", *, cache: Path | None = None, force: bool = False
) -> BuiltGuest:
    """Build ``variant`` (or return the cached build). Needs root when not cached."""
    if variant not in VARIANTS:
        raise SystemExit(f"build-guest: unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    v = VARIANTS[variant]
    cache = cache or cache_dir()
    if not force and (hit := cached_guest(variant, cache=cache)) is not None:
        log(f"{variant}: cached in {hit.directory}")
        return hit
    require_root("building a guest")
    t0 = time.monotonic()
    h = variant_hash(v)
    tar = base_tarball(cache)
    final = cache / f"{v.name}-{h}"
    with tempfile.TemporaryDirectory(dir=cache, prefix=f"{v.name}-work-") as work_s:
        work = Path(work_s)
        tree = work / "tree"
        out = work / "out"
        out.mkdir()
        try:
            kver, cmdline, boot_code = build_tree(tar, tree, v)
        except BaseException:
            # never leave proc mounted inside a tree we are about to delete
            subprocess.run(["umount", "-R", "-l", str(tree / "proc")], check=False)
            raise
        shutil.copy2(tree / f"boot/vmlinuz-{kver}", out / "vmlinuz")
        shutil.copy2(tree / f"boot/initrd.img-{kver}", out / "initrd.img")
        modules = list_initramfs_modules(out / "initrd.img")
        fs_uuid = str(uuid.UUID(hashlib.sha256(f"root-{h}".encode()).hexdigest()[:32]))
        log("making the ext4 image (mkfs.ext4 -d)")
        if v.layout == "bare":
            disk = out / "root.img"
            make_ext4(tree, disk, ROOT_IMAGE_MB, fs_uuid, "root")
        else:
            part = work / "part.img"
            make_ext4(tree, part, ROOT_IMAGE_MB - 1, fs_uuid, "root")
            disk = out / "disk.img"
            assert boot_code is not None
            make_mbr_disk(part, disk, boot_code)
            part.unlink()
        swap = out / "swap.img"
        with open(swap, "wb") as f:
            f.truncate(SWAP_IMAGE_MB * 1024 * 1024)
        swap_uuid = str(uuid.UUID(hashlib.sha256(f"swap-{h}".encode()).hexdigest()[:32]))
        run(["mkswap", "-L", "swap", "-U", swap_uuid, str(swap)])
        shutil.rmtree(tree)
        built = BuiltGuest(
            variant=v.name,
            directory=str(final),
            disks=[str(final / disk.name), str(final / "swap.img")],
            kernel_version=kver,
            kernel=str(final / "vmlinuz"),
            initrd=str(final / "initrd.img"),
            cmdline=cmdline,
            root_password=ROOT_PASSWORD,
            layout=v.layout,
            init=v.init,
            initramfs=v.initramfs,
            recipe_hash=h,
            build_seconds=round(time.monotonic() - t0, 1),
            initramfs_modules=modules,
        )
        (out / "guest.json").write_text(json.dumps(dataclasses.asdict(built), indent=2) + "\n")
        if final.exists():
            shutil.rmtree(final)
        out.rename(final)
    prune_stale(cache, final)
    log(f"{variant}: built in {final}", start=t0)
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build-guest", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a guest (or reuse the cached one)")
    b.add_argument("--variant", default="reference", choices=sorted(VARIANTS))
    b.add_argument("--out", help="also copy the images into this directory")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.add_argument("--json", action="store_true", help="print the guest description as JSON")
    sub.add_parser("list", help="list the variants")
    p = sub.add_parser("path", help="print the cached guest's directory (exit 1 if not built)")
    p.add_argument("--variant", default="reference", choices=sorted(VARIANTS))
    args = parser.parse_args(argv)
    if args.cmd == "list":
        for v in VARIANTS.values():
            print(f"{v.name:12} {v.description}")
        return 0
    if args.cmd == "path":
        hit = cached_guest(args.variant)
        if hit is None:
            return 1
        print(hit.directory)
        return 0
    built = build_guest(args.variant, force=args.force)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for path in built.disks:
            # cp --sparse keeps the 2 GB image small on disk
            run(["cp", "--sparse=always", path, str(out / os.path.basename(path))])
        built = dataclasses.replace(
            built, directory=str(out), disks=[str(out / os.path.basename(p)) for p in built.disks]
        )
        (out / "guest.json").write_text(json.dumps(dataclasses.asdict(built), indent=2) + "\n")
    print(json.dumps(dataclasses.asdict(built), indent=2) if args.json else built.directory)
    return 0
