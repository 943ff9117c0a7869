"""System facts (distro, init, systemd version, SELinux) and distro families."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import guests as g
from xen2kvm import distros
from xen2kvm.facts.system import InitSystem, SystemFacts, gather_system
from xen2kvm.guest.base import FileKind
from xen2kvm.guest.memory import MemoryGuest, Special, Symlink
from xen2kvm.jsonutil import dumps


def facts(tree: g.Tree) -> SystemFacts:
    return gather_system(MemoryGuest(tree))


# name: family, id, version, major, minor, codename, init, systemd, selinux
FIXTURES = {
    "debian7": ("debian", "debian", "7.11", 7, 11, "wheezy", "sysvinit", None, None),
    "debian12": ("debian", "debian", "12.5", 12, 5, "bookworm", "systemd", 252, None),
    "ubuntu1404": ("ubuntu", "ubuntu", "14.04", 14, 4, "trusty", "upstart", None, None),
    "ubuntu2204": ("ubuntu", "ubuntu", "22.04", 22, 4, "jammy", "systemd", 249, None),
    "centos6": ("rhel", "centos", "6.10", 6, 10, "Final", "upstart", None, "enforcing"),
    "centos7": ("rhel", "centos", "7.9.2009", 7, 9, "Core", "systemd", 219, "enforcing"),
    "arch": ("arch", "arch", "", None, None, None, "systemd", 254, None),
    "opensuse": ("suse", "opensuse", "13.1", 13, 1, "Bottle", "systemd", 208, None),
    "fedora": ("fedora", "fedora", "39", 39, None, "Thirty Nine", "systemd", 254, "enforcing"),
    "kvm_ready": ("debian", "debian", "12.5", 12, 5, "bookworm", "systemd", 252, None),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_guests(name: str) -> None:
    family, distro_id, version, major, minor, codename, init, sd, selinux = FIXTURES[name]
    f = facts(g.ALL[name][0])
    assert f.os_found
    assert (f.family, f.distro_id, f.version) == (family, distro_id, version)
    assert (f.version_major, f.version_minor, f.codename) == (major, minor, codename)
    assert f.init.value == init
    assert f.systemd_version == sd
    assert f.selinux_mode == selinux
    assert f.selinux_enabled == (selinux == "enforcing")
    assert f.distro_family.name == family
    assert f.problems == []
    # Results cross process boundaries as JSON.
    doc = json.loads(dumps(f))
    assert doc["init"] == init and doc["distro_id"] == distro_id


def test_evidence_names_the_source() -> None:
    assert facts(g.DEBIAN12).init_evidence == "/sbin/init -> ../lib/systemd/systemd"
    assert facts(g.DEBIAN7).init_evidence == "/etc/inittab with initdefault"
    assert facts(g.CENTOS7).systemd_version_source == "/usr/share/licenses/systemd-219"
    assert facts(g.ARCH).systemd_version_source == "/var/lib/pacman/local/systemd-254.5-1/desc"
    assert facts(g.FEDORA).systemd_version_source == (
        "/usr/lib64/systemd/libsystemd-shared-254.10-1.fc39.so"
    )
    assert facts(g.OPENSUSE).systemd_version_source == "/usr/lib/systemd/systemd"
    assert facts(g.CENTOS6).release_files == ["/etc/centos-release"]
    assert facts(g.CENTOS7).release_files == ["/etc/os-release", "/etc/centos-release"]


# --- release files without (or besides) os-release -----------------------------------------

OLD_RELEASES = [
    ({"/etc/redhat-release": "CentOS release 5.11 (Final)\n"}, "rhel", "centos", "5.11"),
    (
        {"/etc/redhat-release": "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n"},
        "rhel",
        "rhel",
        "5.11",
    ),
    (
        {
            "/etc/redhat-release": "Scientific Linux release 6.10 (Carbon)\n",
            "/etc/sl-release": "Scientific Linux release 6.10 (Carbon)\n",
        },
        "rhel",
        "scientific",
        "6.10",
    ),
    ({"/etc/fedora-release": "Fedora release 20 (Heisenbug)\n"}, "fedora", "fedora", "20"),
    (
        {
            "/etc/SuSE-release": "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\n"
            "PATCHLEVEL = 4\n"
        },
        "suse",
        "sles",
        "11.4",
    ),
    (
        {"/etc/SuSE-release": "openSUSE 12.3 (x86_64)\nVERSION = 12.3\nCODENAME = Dartmouth\n"},
        "suse",
        "opensuse",
        "12.3",
    ),
    (
        {
            "/etc/lsb-release": "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=12.04\n"
            'DISTRIB_CODENAME=precise\nDISTRIB_DESCRIPTION="Ubuntu 12.04.5 LTS"\n',
            "/etc/debian_version": "wheezy/sid\n",
        },
        "ubuntu",
        "ubuntu",
        "12.04",
    ),
    ({"/etc/debian_version": "6.0.10\n"}, "debian", "debian", "6.0.10"),
    ({"/etc/debian_version": "trixie/sid\n"}, "debian", "debian", "trixie/sid"),
    ({"/etc/arch-release": ""}, "arch", "arch", ""),
]


@pytest.mark.parametrize(("tree", "family", "distro_id", "version"), OLD_RELEASES)
def test_old_release_files(tree: g.Tree, family: str, distro_id: str, version: str) -> None:
    f = facts({**tree, "/sbin/init": g.ELF})
    assert (f.family, f.distro_id, f.version) == (family, distro_id, version)
    assert f.os_found


def test_oracle_linux_redhat_release_does_not_override_os_release() -> None:
    f = facts(
        {
            "/etc/os-release": 'NAME="Oracle Linux Server"\nVERSION="7.9"\nID="ol"\n'
            'ID_LIKE="fedora"\nVERSION_ID="7.9"\nPRETTY_NAME="Oracle Linux Server 7.9"\n',
            "/etc/redhat-release": "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
            "/etc/oracle-release": "Oracle Linux Server release 7.9\n",
        }
    )
    assert (f.family, f.distro_id, f.version) == ("rhel", "ol", "7.9")
    assert f.release_files == ["/etc/os-release", "/etc/oracle-release"]


@pytest.mark.parametrize(
    ("os_release", "family", "version"),
    [
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n', "rhel", "9.3"),
        ('ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.9"\n', "rhel", "8.9"),
        ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.5"\n', "suse", "15.5"),
        ('ID="sles"\nID_LIKE="suse"\nVERSION_ID="12.5"\n', "suse", "12.5"),
        ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "ubuntu", "24.04"),
        ('ID=debian\nVERSION_ID="11"\nVERSION="11 (bullseye)"\n', "debian", "11"),
        # An unknown derivative falls back on ID_LIKE.
        ('ID=mycorp\nID_LIKE="rhel fedora"\nVERSION_ID="3"\n', "rhel", "3"),
        ('ID=weird\nVERSION_ID="1"\n', "unknown", "1"),
    ],
)
def test_os_release_families(os_release: str, family: str, version: str) -> None:
    f = facts({"/etc/os-release": os_release, "/sbin/init": g.ELF})
    assert (f.family, f.version) == (family, version)


def test_usr_lib_os_release_is_a_fallback() -> None:
    f = facts({"/usr/lib/os-release": g.DEBIAN12_OS_RELEASE, "/etc/hostname": "x\n"})
    assert (f.distro_id, f.codename, f.release_files) == (
        "debian",
        "bookworm",
        ["/usr/lib/os-release"],
    )


def test_codename_from_version_when_no_codename_key() -> None:
    assert facts(g.DEBIAN7).codename == "wheezy"


# --- init system ------------------------------------------------------------------------------


def test_sysvinit_guest_with_systemd_installed_is_sysvinit() -> None:
    # Debian 7 with the (non-default) systemd package: /sbin/init is still sysvinit's binary.
    tree = {**g.DEBIAN7, "/lib/systemd/systemd": g.ELF}
    assert facts(tree).init is InitSystem.SYSVINIT


def test_systemd_binary_without_sbin_init() -> None:
    f = facts({"/etc/os-release": "ID=arch\n", "/usr/lib/systemd/systemd": g.ELF})
    assert f.init is InitSystem.SYSTEMD
    assert f.init_evidence == "/usr/lib/systemd/systemd present and no other init"


def test_dangling_init_link_still_names_systemd() -> None:
    # /usr on another disk that is not mounted: the link still says which init it is.
    f = facts({"/etc/os-release": "ID=debian\n", "/sbin/init": Symlink("/lib/systemd/systemd")})
    assert f.init is InitSystem.SYSTEMD


def test_upstart_needs_initctl_and_jobs() -> None:
    tree = {k: v for k, v in g.UBUNTU1404.items() if k != "/sbin/initctl"}
    assert facts(tree).init is InitSystem.UNKNOWN  # a bare /sbin/init: nothing says which
    assert facts(g.UBUNTU1404).init is InitSystem.UPSTART


def test_inittab_without_initdefault_is_not_sysvinit() -> None:
    tree = {**g.DEBIAN7, "/etc/inittab": "# nothing here\n"}
    assert facts(tree).init is InitSystem.UNKNOWN


# --- systemd version --------------------------------------------------------------------------


def test_dpkg_removed_systemd_is_not_counted() -> None:
    status = (
        "Package: systemd\nStatus: deinstall ok config-files\nVersion: 215-17+deb8u7\n\n"
        "Package: sysvinit-core\nStatus: install ok installed\nVersion: 2.88dsf-59\n\n"
    )
    f = facts({**g.DEBIAN7, "/var/lib/dpkg/status": status})
    assert f.systemd_version is None


def test_libsystemd_shared_gives_version_on_rpm_guests() -> None:
    tree = {
        "/etc/os-release": 'ID="rocky"\nVERSION_ID="9.3"\n',
        "/usr/lib/systemd/systemd": g.ELF,
        "/usr/lib64/systemd/libsystemd-shared-252-18.el9.so": g.ELF,
    }
    f = facts(tree)
    assert (f.systemd_version, f.init) == (252, InitSystem.SYSTEMD)


def test_no_version_source_gives_none() -> None:
    tree = {"/etc/os-release": "ID=fedora\n", "/usr/lib/systemd/systemd": g.ELF}
    f = facts(tree)
    assert f.systemd_version is None and f.systemd_version_source is None


# --- SELinux ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "enabled"), [("enforcing", True), ("permissive", True), ("disabled", False)]
)
def test_selinux_modes(value: str, enabled: bool) -> None:
    config = g.SELINUX_ENFORCING.replace("SELINUX=enforcing", f"SELINUX={value}")
    f = facts({**g.CENTOS7, "/etc/selinux/config": config})
    assert (f.selinux_mode, f.selinux_enabled) == (value, enabled)


# --- not a Linux guest; hostile guests --------------------------------------------------------


@pytest.mark.parametrize(
    "tree",
    [
        {},
        {"/etc": None},
        {"/etc/passwd": "root:x:0:0::/root:/bin/sh\n"},
        {"/Windows/System32/config/SYSTEM": b"regf", "/etc": None},
        {"/sbin/init": g.ELF},  # an init but no /etc
    ],
)
def test_no_os_found(tree: g.Tree) -> None:
    f = facts(tree)
    assert not f.os_found
    assert f.family == "unknown"


def test_hostile_guest_problems_recorded_not_raised() -> None:
    f = facts(g.HOSTILE)
    # The loop at /etc/os-release is reported; /usr/lib/os-release still identifies the guest.
    assert f.problems == ["/etc/os-release: too many levels of symbolic links (loop?)"]
    assert (f.distro_id, f.version, f.init) == ("debian", "12.5", InitSystem.SYSTEMD)


def test_fifo_and_huge_release_files() -> None:
    tree = {
        **g.DEBIAN7,
        "/etc/os-release": Special(FileKind.FIFO),
        "/etc/debian_version": g.HUGE,
        "/etc/selinux/config": Symlink("/etc/selinux/config"),
    }
    f = facts(tree)
    assert f.problems == [
        "/etc/os-release: is a fifo, not a regular file",
        "/etc/debian_version: larger than the 4194304-byte limit for this file",
        "/etc/selinux/config: too many levels of symbolic links (loop?)",
    ]
    assert f.distro_id == "" and f.init is InitSystem.SYSVINIT and f.os_found


def test_unterminated_quote_in_os_release_is_a_problem() -> None:
    f = facts({**g.DEBIAN7, "/etc/os-release": 'ID="debian\n'})
    assert f.distro_id == "debian"  # from /etc/debian_version
    assert len(f.problems) == 1 and f.problems[0].startswith("/etc/os-release:1")


# --- distro families --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("os_id", "like", "family"),
    [
        ("centos", (), distros.RHEL),
        ("ol", (), distros.RHEL),
        ("scientific", (), distros.RHEL),
        ("fedora", (), distros.FEDORA),
        ("ubuntu", ("debian",), distros.UBUNTU),
        ("linuxmint", ("ubuntu", "debian"), distros.UBUNTU),
        ("opensuse-tumbleweed", ("opensuse", "suse"), distros.SUSE),
        ("sles", ("suse",), distros.SUSE),
        ("arch", (), distros.ARCH),
        ("nobara", ("fedora",), distros.FEDORA),
        ("mycorp", ("centos", "rhel", "fedora"), distros.RHEL),
        (None, (), distros.UNKNOWN),
    ],
)
def test_family_for(os_id: str | None, like: tuple[str, ...], family: distros.DistroFamily) -> None:
    assert distros.family_for(os_id, like) is family


def test_families_hold_their_differences_as_data() -> None:
    assert distros.RHEL.ifcfg_dir == "/etc/sysconfig/network-scripts"
    assert distros.SUSE.ifcfg_dir == "/etc/sysconfig/network"
    assert distros.DEBIAN.initramfs_patterns == ("/boot/initrd.img-{version}",)
    assert distros.RHEL.grub_legacy_paths[0] == "/boot/grub/grub.conf"
    assert distros.FEDORA.grub2_cfg_paths[0] == "/boot/grub2/grub.cfg"
    assert distros.ARCH.initramfs_generators[0] is distros.InitramfsGenerator.MKINITCPIO
    assert distros.UBUNTU.network_styles[0] is distros.NetworkStyle.NETPLAN
    assert distros.GettyStyle.UPSTART in distros.UBUNTU.getty_styles
    assert distros.GettyStyle.UPSTART not in distros.DEBIAN.getty_styles
    assert distros.RHEL.selinux_usual and not distros.DEBIAN.selinux_usual
    names = [f.name for f in distros.FAMILIES]
    assert names == ["debian", "ubuntu", "rhel", "fedora", "arch", "suse", "unknown"]
    assert distros.family_by_name("nope") is distros.UNKNOWN
