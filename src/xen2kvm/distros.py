"""Distro families as data.

Families differ mostly in *where* things live (initramfs images, GRUB configuration, network
configuration, gettys). Like cloud-init's distro classes, those differences are attributes of one
:class:`DistroFamily` value per family instead of ``if distro == ...`` branches scattered through
checks. A family lists every layout it has used across its supported releases (e.g. RHEL's
``/boot/grub/grub.conf`` of releases 5-6 and ``/boot/grub2/grub.cfg`` of 7+); facts read what is
actually present and checks use the family only to know where to look and what to write.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NetworkStyle(enum.Enum):
    """A network configuration stack a distro family uses."""

    IFUPDOWN = "ifupdown"  # /etc/network/interfaces
    IFCFG = "ifcfg"  # /etc/sysconfig/network-scripts/ifcfg-* (RHEL) or network/ifcfg-* (SUSE)
    NETPLAN = "netplan"  # /etc/netplan/*.yaml
    NETWORKD = "networkd"  # /etc/systemd/network/*.network
    NETWORKMANAGER = "networkmanager"  # /etc/NetworkManager/system-connections/*
    NETCTL = "netctl"  # /etc/netctl/*


class GettyStyle(enum.Enum):
    """How an init system starts gettys."""

    SYSTEMD = "systemd"  # getty@/serial-getty@ units, enabled through .wants links
    UPSTART = "upstart"  # /etc/init/*.conf jobs
    SYSVINIT = "sysvinit"  # /etc/inittab respawn lines


class InitramfsGenerator(enum.Enum):
    INITRAMFS_TOOLS = "initramfs-tools"
    DRACUT = "dracut"
    MKINITCPIO = "mkinitcpio"
    SUSE_MKINITRD = "suse-mkinitrd"
    RHEL_MKINITRD = "mkinitrd"  # RHEL 5's nash-based mkinitrd
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DistroFamily:
    """Where one family of distributions keeps the things xen2kvm reads and edits.

    Path patterns use ``{version}`` for the kernel release (``uname -r``). Tuples are ordered
    by preference: the first entry is the modern layout.
    """

    #: Stable family name: debian, ubuntu, rhel, fedora, arch, suse, unknown.
    name: str
    #: os-release ``ID`` values belonging to this family.
    ids: frozenset[str]
    #: Families whose conventions this one inherits (for ``ID_LIKE`` matching).
    like: tuple[str, ...]
    #: Release files identifying the family, besides /etc/os-release.
    release_files: tuple[str, ...]
    #: Initramfs generators the family has shipped, newest first.
    initramfs_generators: tuple[InitramfsGenerator, ...]
    #: Where the initramfs of a kernel lives.
    initramfs_patterns: tuple[str, ...]
    #: Where the kernel image lives.
    kernel_patterns: tuple[str, ...]
    #: GRUB legacy / pv-grub configuration files.
    grub_legacy_paths: tuple[str, ...]
    #: GRUB 2 generated configuration files.
    grub2_cfg_paths: tuple[str, ...]
    #: GRUB 2 defaults (input of grub-mkconfig).
    grub2_defaults: str
    #: Network stacks the family uses, most usual first.
    network_styles: tuple[NetworkStyle, ...]
    #: Directory holding ifcfg-* files, if the family uses them.
    ifcfg_dir: str | None
    #: Getty mechanisms across the family's releases, newest first.
    getty_styles: tuple[GettyStyle, ...]
    #: Whether SELinux is normally enabled (so offline edits need /.autorelabel).
    selinux_usual: bool
    #: The initramfs generator's module list (durable fix), if it has a simple one.
    initramfs_modules_config: str | None


DEBIAN = DistroFamily(
    name="debian",
    ids=frozenset({"debian", "raspbian", "devuan"}),
    like=(),
    release_files=("/etc/debian_version",),
    initramfs_generators=(InitramfsGenerator.INITRAMFS_TOOLS, InitramfsGenerator.DRACUT),
    initramfs_patterns=("/boot/initrd.img-{version}",),
    kernel_patterns=("/boot/vmlinuz-{version}",),
    grub_legacy_paths=("/boot/grub/menu.lst",),
    grub2_cfg_paths=("/boot/grub/grub.cfg",),
    grub2_defaults="/etc/default/grub",
    network_styles=(NetworkStyle.IFUPDOWN, NetworkStyle.NETWORKD, NetworkStyle.NETWORKMANAGER),
    ifcfg_dir=None,
    getty_styles=(GettyStyle.SYSTEMD, GettyStyle.SYSVINIT),
    selinux_usual=False,
    initramfs_modules_config="/etc/initramfs-tools/modules",
)

UBUNTU = DistroFamily(
    name="ubuntu",
    ids=frozenset({"ubuntu", "linuxmint", "pop", "elementary"}),
    like=("debian",),
    release_files=("/etc/lsb-release", "/etc/debian_version"),
    initramfs_generators=(InitramfsGenerator.INITRAMFS_TOOLS, InitramfsGenerator.DRACUT),
    initramfs_patterns=("/boot/initrd.img-{version}",),
    kernel_patterns=("/boot/vmlinuz-{version}",),
    grub_legacy_paths=("/boot/grub/menu.lst",),
    grub2_cfg_paths=("/boot/grub/grub.cfg",),
    grub2_defaults="/etc/default/grub",
    # netplan since 17.10, ifupdown before it; upstart gettys up to 14.04.
    network_styles=(
        NetworkStyle.NETPLAN,
        NetworkStyle.IFUPDOWN,
        NetworkStyle.NETWORKD,
        NetworkStyle.NETWORKMANAGER,
    ),
    ifcfg_dir=None,
    getty_styles=(GettyStyle.SYSTEMD, GettyStyle.UPSTART, GettyStyle.SYSVINIT),
    selinux_usual=False,
    initramfs_modules_config="/etc/initramfs-tools/modules",
)

RHEL = DistroFamily(
    name="rhel",
    ids=frozenset(
        {
            "rhel",
            "centos",
            "rocky",
            "almalinux",
            "ol",
            "scientific",
            "cloudlinux",
            "eurolinux",
            "virtuozzo",
            "amzn",
        }
    ),
    like=("fedora",),
    release_files=(
        "/etc/redhat-release",
        "/etc/centos-release",
        "/etc/rocky-release",
        "/etc/almalinux-release",
        "/etc/oracle-release",
        "/etc/sl-release",
        "/etc/system-release",
    ),
    # RHEL 5 used mkinitrd (nash); 6 and later dracut.
    initramfs_generators=(InitramfsGenerator.DRACUT, InitramfsGenerator.RHEL_MKINITRD),
    initramfs_patterns=("/boot/initramfs-{version}.img", "/boot/initrd-{version}.img"),
    kernel_patterns=("/boot/vmlinuz-{version}",),
    grub_legacy_paths=("/boot/grub/grub.conf", "/boot/grub/menu.lst"),
    grub2_cfg_paths=("/boot/grub2/grub.cfg", "/boot/efi/EFI/redhat/grub.cfg"),
    grub2_defaults="/etc/default/grub",
    network_styles=(NetworkStyle.IFCFG, NetworkStyle.NETWORKMANAGER),
    ifcfg_dir="/etc/sysconfig/network-scripts",
    getty_styles=(GettyStyle.SYSTEMD, GettyStyle.UPSTART, GettyStyle.SYSVINIT),
    selinux_usual=True,
    initramfs_modules_config=None,
)

FEDORA = DistroFamily(
    name="fedora",
    ids=frozenset({"fedora"}),
    like=(),
    release_files=("/etc/fedora-release", "/etc/system-release"),
    initramfs_generators=(InitramfsGenerator.DRACUT,),
    initramfs_patterns=("/boot/initramfs-{version}.img",),
    kernel_patterns=("/boot/vmlinuz-{version}",),
    grub_legacy_paths=("/boot/grub/grub.conf", "/boot/grub/menu.lst"),
    grub2_cfg_paths=("/boot/grub2/grub.cfg", "/boot/efi/EFI/fedora/grub.cfg"),
    grub2_defaults="/etc/default/grub",
    network_styles=(NetworkStyle.NETWORKMANAGER, NetworkStyle.IFCFG, NetworkStyle.NETWORKD),
    ifcfg_dir="/etc/sysconfig/network-scripts",
    getty_styles=(GettyStyle.SYSTEMD,),
    selinux_usual=True,
    initramfs_modules_config=None,
)

ARCH = DistroFamily(
    name="arch",
    ids=frozenset({"arch", "archarm", "manjaro", "endeavouros"}),
    like=(),
    release_files=("/etc/arch-release",),
    initramfs_generators=(InitramfsGenerator.MKINITCPIO, InitramfsGenerator.DRACUT),
    # Arch names images after the kernel package, not the release.
    initramfs_patterns=("/boot/initramfs-linux*.img",),
    kernel_patterns=("/boot/vmlinuz-linux*",),
    grub_legacy_paths=("/boot/grub/menu.lst",),
    grub2_cfg_paths=("/boot/grub/grub.cfg",),
    grub2_defaults="/etc/default/grub",
    network_styles=(NetworkStyle.NETWORKD, NetworkStyle.NETCTL, NetworkStyle.NETWORKMANAGER),
    ifcfg_dir=None,
    getty_styles=(GettyStyle.SYSTEMD,),
    selinux_usual=False,
    initramfs_modules_config="/etc/mkinitcpio.conf",
)

SUSE = DistroFamily(
    name="suse",
    ids=frozenset(
        {
            "opensuse",
            "opensuse-leap",
            "opensuse-tumbleweed",
            "opensuse-microos",
            "sles",
            "sled",
            "sles_sap",
            "sle-micro",
        }
    ),
    like=(),
    release_files=("/etc/SuSE-release", "/etc/SUSE-brand"),
    initramfs_generators=(InitramfsGenerator.DRACUT, InitramfsGenerator.SUSE_MKINITRD),
    initramfs_patterns=("/boot/initrd-{version}",),
    kernel_patterns=("/boot/vmlinuz-{version}",),
    grub_legacy_paths=("/boot/grub/menu.lst",),
    grub2_cfg_paths=("/boot/grub2/grub.cfg",),
    grub2_defaults="/etc/default/grub",
    network_styles=(NetworkStyle.IFCFG, NetworkStyle.NETWORKMANAGER),
    ifcfg_dir="/etc/sysconfig/network",
    getty_styles=(GettyStyle.SYSTEMD, GettyStyle.SYSVINIT),
    selinux_usual=False,
    initramfs_modules_config="/etc/sysconfig/kernel",
)

UNKNOWN = DistroFamily(
    name="unknown",
    ids=frozenset(),
    like=(),
    release_files=(),
    initramfs_generators=(InitramfsGenerator.UNKNOWN,),
    initramfs_patterns=(
        "/boot/initrd.img-{version}",
        "/boot/initramfs-{version}.img",
        "/boot/initrd-{version}",
        "/boot/initrd-{version}.img",
    ),
    kernel_patterns=("/boot/vmlinuz-{version}",),
    grub_legacy_paths=("/boot/grub/menu.lst", "/boot/grub/grub.conf"),
    grub2_cfg_paths=("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"),
    grub2_defaults="/etc/default/grub",
    network_styles=tuple(NetworkStyle),
    ifcfg_dir=None,
    getty_styles=tuple(GettyStyle),
    selinux_usual=False,
    initramfs_modules_config=None,
)

#: Every known family, in lookup order (UNKNOWN last).
FAMILIES: tuple[DistroFamily, ...] = (DEBIAN, UBUNTU, RHEL, FEDORA, ARCH, SUSE, UNKNOWN)

_BY_NAME = {f.name: f for f in FAMILIES}


def family_by_name(name: str) -> DistroFamily:
    """The family called ``name`` (``debian``, ``rhel``, ...); UNKNOWN if there is none."""
    return _BY_NAME.get(name, UNKNOWN)


def family_for(os_id: str | None, id_like: tuple[str, ...] | list[str] = ()) -> DistroFamily:
    """The family of an os-release ``ID`` (falling back on ``ID_LIKE``, in its order)."""
    if os_id:
        os_id = os_id.lower()
        for fam in FAMILIES:
            if os_id in fam.ids:
                return fam
        # Derivatives not listed by name, e.g. "opensuse-slowroll", "sles-foo".
        if os_id.startswith(("opensuse", "sle")):
            return SUSE
    for like in id_like:
        like = like.lower()
        # ID_LIKE="rhel centos fedora": the first that names a family wins, but an rhel-like
        # distro is RHEL-family even though RHEL itself says ID_LIKE="fedora".
        if like in ("rhel", "centos"):
            return RHEL
        for fam in FAMILIES:
            if like == fam.name or like in fam.ids:
                return fam
        if like.startswith(("suse", "opensuse", "sles")):
            return SUSE
    return UNKNOWN
