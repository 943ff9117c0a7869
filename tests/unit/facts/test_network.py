"""Network facts: stacks, configured interfaces, MAC pins, predictable names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import guests as g
from tests.fixtures.tree import build_tree
from xen2kvm.facts.network import NetworkFacts, gather_network
from xen2kvm.facts.system import gather_system
from xen2kvm.guest.base import FileKind, Guest
from xen2kvm.guest.local import LocalGuest
from xen2kvm.guest.memory import MemoryGuest, Special, Symlink
from xen2kvm.jsonutil import to_jsonable


def network(tree: g.Tree, cmdlines: list[str] | None = None) -> NetworkFacts:
    return network_of(MemoryGuest(tree), cmdlines)


def network_of(guest: Guest, cmdlines: list[str] | None = None) -> NetworkFacts:
    return gather_network(guest, gather_system(guest), [] if cmdlines is None else cmdlines)


def pins(f: NetworkFacts) -> list[tuple[str, str, str, str | None, str]]:
    return [(p.stack, p.key, p.mac, p.name, p.effect) for p in f.mac_pins]


# name: stacks, names used, predictable names (with the fixture cmdline)
EXPECTED = {
    "debian7": (["ifupdown"], ["eth0"], False),
    "debian12": (["ifupdown"], ["eth0"], False),
    "ubuntu1404": (["ifupdown"], ["eth0"], False),
    "ubuntu2204": (["netplan", "networkd"], ["eth0"], False),
    "centos6": (["ifcfg"], ["eth0"], False),
    "centos7": (["ifcfg", "networkmanager"], ["eth0"], False),
    "arch": (["networkd"], ["eth0"], True),
    "opensuse": (["ifcfg"], ["eth0"], True),
    "fedora": (["networkmanager"], [], False),
    "kvm_ready": (["ifupdown"], ["ens3"], True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_guests(name: str) -> None:
    tree, cmdline = g.ALL[name]
    stacks, names, predictable = EXPECTED[name]
    f = network(tree, [cmdline])
    assert [s.name for s in f.stacks] == stacks
    assert f.interface_names == names
    assert f.predictable_names is predictable
    assert f.problems == []
    assert to_jsonable(f)["interface_names"] == names


def test_centos6_mac_pins_and_persistent_rules() -> None:
    f = network(g.CENTOS6, [g.CENTOS6_CMDLINE])
    mac = g.CENTOS6_MAC
    assert pins(f) == [
        ("ifcfg", "HWADDR", mac, "eth0", "match"),
        ("udev", "ATTR{address}", mac, "eth0", "match"),
    ]
    assert [(p.path, p.line) for p in f.mac_pins] == [
        ("/etc/sysconfig/network-scripts/ifcfg-eth0", 3),
        ("/etc/udev/rules.d/70-persistent-net.rules", 8),
    ]
    assert f.persistent_net_rules == "/etc/udev/rules.d/70-persistent-net.rules"
    assert f.persistent_net_generator == "/lib/udev/rules.d/75-persistent-net-generator.rules"
    assert f.naming_rules is None
    (eth0,) = f.interfaces
    assert (eth0.name, eth0.match_mac, eth0.method, eth0.onboot) == ("eth0", mac, "dhcp", True)
    (ifcfg,) = f.stacks
    assert ifcfg.config_paths == [
        "/etc/sysconfig/network-scripts/ifcfg-eth0",
        "/etc/sysconfig/network-scripts/ifcfg-lo",
    ]
    assert ifcfg.installed


def test_ubuntu2204_netplan_match_and_set_name() -> None:
    f = network(g.UBUNTU2204, [g.UBUNTU2204_CMDLINE])
    (cfg,) = f.interfaces
    assert (cfg.stack, cfg.name, cfg.match_mac, cfg.set_name, cfg.method) == (
        "netplan",
        None,
        g.UBUNTU2204_MAC,
        "eth0",
        "dhcp",
    )
    assert pins(f) == [("netplan", "match.macaddress", g.UBUNTU2204_MAC, "eth0", "match")]
    assert f.ifnames_disabled == [True]
    assert f.predictable_names_reason == "net.ifnames=0 on the kernel command line"
    networkd = f.stack("networkd")
    assert networkd is not None and networkd.enabled and networkd.installed


def test_fedora_networkmanager_keyfile_pins_mac() -> None:
    f = network(g.FEDORA, [g.FEDORA_CMDLINE])
    (cfg,) = f.interfaces
    assert (cfg.stack, cfg.name, cfg.match_mac, cfg.method, cfg.onboot) == (
        "networkmanager",
        None,
        g.FEDORA_MAC,
        "auto",
        True,
    )
    assert f.pins("match")[0].key == "mac-address"


def test_opensuse_ifcfg_and_lladdr() -> None:
    tree = {
        **g.OPENSUSE,
        "/etc/sysconfig/network/ifcfg-eth1": "BOOTPROTO='static'\nSTARTMODE='manual'\n"
        "LLADDR='F2:3C:91:00:00:01'\n",
        "/etc/sysconfig/network/ifcfg-eth0.bak": "BOOTPROTO='dhcp'\n",
    }
    f = network(tree, [g.OPENSUSE_CMDLINE])
    assert [(i.name, i.method, i.onboot, i.set_mac) for i in f.interfaces] == [
        ("eth0", "dhcp", True, None),
        ("eth1", "static", False, "f2:3c:91:00:00:01"),
    ]
    assert pins(f) == [("ifcfg", "LLADDR", "f2:3c:91:00:00:01", "eth1", "set")]
    assert f.pins("match") == []


def test_arch_predictable_names_apply_and_the_seed_fix_masks_them() -> None:
    f = network(g.ARCH, [g.ARCH_CMDLINE])
    assert f.predictable_names is True
    assert f.systemd_version == 254
    assert f.naming_rules == "/usr/lib/udev/rules.d/80-net-setup-link.rules"
    (cfg,) = f.interfaces
    assert (cfg.stack, cfg.name, cfg.path, cfg.method) == (
        "networkd",
        "eth0",
        "/etc/systemd/network/05-eth0.network",
        "dhcp",
    )
    fixed = network(
        {**g.ARCH, "/etc/udev/rules.d/80-net-setup-link.rules": Symlink("/dev/null")},
        [g.ARCH_CMDLINE],
    )
    assert fixed.predictable_names is False
    assert fixed.naming_rules_masked_by == "/etc/udev/rules.d/80-net-setup-link.rules"
    assert fixed.problems == []


def test_empty_override_file_also_masks_naming_rules() -> None:
    tree = {**g.ARCH, "/etc/udev/rules.d/80-net-setup-link.rules": "# disabled\n"}
    assert network(tree, [g.ARCH_CMDLINE]).predictable_names is False


def test_masked_default_link_policy() -> None:
    tree = {**g.ARCH, "/etc/systemd/network/99-default.link": Symlink("/dev/null")}
    f = network(tree, [g.ARCH_CMDLINE])
    assert f.predictable_names is False
    assert [(lf.path, lf.masked) for lf in f.link_files] == [
        ("/etc/systemd/network/99-default.link", True)
    ]


def test_ifnames_on_some_cmdlines_or_none_given() -> None:
    with_flag = g.ARCH_CMDLINE + " net.ifnames=0"
    f = network(g.ARCH, [with_flag, g.ARCH_CMDLINE])
    assert (f.ifnames_disabled, f.predictable_names) == ([True, False], True)
    assert "missing from some" in f.predictable_names_reason
    assert network(g.ARCH, [with_flag, with_flag]).predictable_names is False
    assert network(g.ARCH, []).predictable_names is None
    centos7 = network(g.CENTOS7, [g.CENTOS7_CMDLINE])
    assert centos7.biosdevname_disabled == [True]


def test_networkd_match_by_mac_and_link_file() -> None:
    tree = {
        **g.ARCH,
        "/etc/systemd/network/05-eth0.network": "[Match]\nMACAddress=f2:3c:91:aa:bb:cc\n\n"
        "[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\n",
        "/etc/systemd/network/10-persistent.link": "[Match]\nMACAddress=f2:3c:91:aa:bb:cc\n\n"
        "[Link]\nName=net0\n",
        "/etc/systemd/network/20-all.network": "[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n",
    }
    f = network(tree, [g.ARCH_CMDLINE])
    assert [(i.name, i.name_is_pattern, i.match_mac, i.method) for i in f.interfaces] == [
        (None, False, "f2:3c:91:aa:bb:cc", "static"),
        ("en*", True, None, "dhcp"),
    ]
    assert pins(f) == [
        ("networkd", "MACAddress", "f2:3c:91:aa:bb:cc", None, "match"),
        ("link", "MACAddress", "f2:3c:91:aa:bb:cc", "net0", "match"),
    ]
    assert [(lf.name, lf.match_mac) for lf in f.link_files] == [("net0", "f2:3c:91:aa:bb:cc")]
    assert f.interface_names == ["net0"]


def test_ifupdown_sources_and_hwaddress() -> None:
    tree = {
        **g.DEBIAN12,
        "/etc/network/interfaces.d/eth1": "auto eth1\niface eth1 inet static\n"
        "    address 192.0.2.5/24\n    hwaddress ether F2:3C:91:00:00:02\n",
        # Not a run-parts name, but `source` with a glob takes every file.
        "/etc/network/interfaces.d/eth2.cfg": "iface eth2 inet manual\n",
    }
    f = network(tree, [g.DEBIAN12_CMDLINE])
    assert [(i.name, i.path, i.method, i.onboot, i.set_mac) for i in f.interfaces] == [
        ("eth0", "/etc/network/interfaces", "dhcp", True, None),
        ("eth1", "/etc/network/interfaces.d/eth1", "static", True, "f2:3c:91:00:00:02"),
        ("eth2", "/etc/network/interfaces.d/eth2.cfg", "manual", False, None),
    ]
    assert pins(f) == [("ifupdown", "hwaddress", "f2:3c:91:00:00:02", "eth1", "set")]


def test_ifupdown_source_directory_uses_run_parts_names() -> None:
    tree = {
        **g.DEBIAN12,
        "/etc/network/interfaces": "source-directory interfaces.d\n",
        "/etc/network/interfaces.d/eth1": "iface eth1 inet dhcp\n",
        "/etc/network/interfaces.d/eth2.cfg": "iface eth2 inet dhcp\n",
    }
    assert network(tree).interface_names == ["eth1"]


def test_ifupdown_source_loop_terminates() -> None:
    tree = {
        **g.DEBIAN12,
        "/etc/network/interfaces": "source /etc/network/interfaces\niface eth0 inet dhcp\n",
    }
    assert network(tree).interface_names == ["eth0"]


def test_netctl_profile() -> None:
    tree = {
        **g.ARCH,
        "/etc/netctl/ethernet-dhcp": "Description='A basic dhcp ethernet connection'\n"
        "Interface=eth0\nConnection=ethernet\nIP=dhcp\n",
        "/etc/netctl/examples/ethernet-static": "Interface=eth9\n",
        "/usr/bin/netctl": g.ELF,
        "/etc/systemd/system/multi-user.target.wants/netctl@ethernet-dhcp.service": Symlink(
            "/usr/lib/systemd/system/netctl@.service"
        ),
    }
    f = network(tree, [g.ARCH_CMDLINE])
    netctl = [i for i in f.interfaces if i.stack == "netctl"]
    assert [(i.name, i.method, i.onboot) for i in netctl] == [("eth0", "dhcp", True)]
    stack = f.stack("netctl")
    assert stack is not None and stack.installed


def test_bad_mac_is_a_problem_not_a_pin() -> None:
    tree = {**g.CENTOS6, "/etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\nHWADDR=zz\n"}
    f = network(tree)
    assert [p.key for p in f.mac_pins] == ["ATTR{address}"]
    assert f.problems == [
        "/etc/sysconfig/network-scripts/ifcfg-eth0: HWADDR value 'zz' is not a MAC address"
    ]


def test_hostile_guest_problems_recorded_not_raised() -> None:
    f = network(g.HOSTILE, [g.DEBIAN12_CMDLINE])
    assert sorted(f.problems) == [
        "/etc/netplan/01-loop.yaml: too many levels of symbolic links (loop?)",
        "/etc/sysconfig/network-scripts/ifcfg-eth0: is a fifo, not a regular file",
        "/etc/systemd/system/getty.target.wants: too many levels of symbolic links (loop?)",
        "/etc/udev/rules.d/70-persistent-net.rules: too many levels of symbolic links (loop?)",
    ]
    assert f.interface_names == ["eth0"]


def test_invalid_netplan_yaml_and_huge_keyfile() -> None:
    tree = {
        **g.UBUNTU2204,
        "/etc/netplan/50-cloud-init.yaml": "network: [unclosed\n",
        "/etc/NetworkManager/system-connections/big.nmconnection": g.HUGE,
    }
    f = network(tree)
    assert len(f.problems) == 2
    assert f.problems[0].startswith("/etc/netplan/50-cloud-init.yaml:")
    assert f.problems[1] == (
        "/etc/NetworkManager/system-connections/big.nmconnection: "
        "larger than the 4194304-byte limit for this file"
    )


def test_real_directory_with_fifo_and_dev_null_mask(tmp_path: Path) -> None:
    """On a real tree, a mask is a link to /dev/null (a device node if the guest has /dev
    populated): it must be recognised, never opened; a FIFO must not hang."""
    tree = {
        **g.ARCH,
        "/etc/udev/rules.d/80-net-setup-link.rules": Symlink("/dev/null"),
        "/etc/systemd/network/10-eth1.network": Special(FileKind.FIFO),
    }
    root = build_tree(tmp_path / "root", tree)
    (root / "dev").mkdir()
    with LocalGuest(root) as guest:
        f = network_of(guest, [g.ARCH_CMDLINE])
    assert f.predictable_names is False
    assert f.problems == ["/etc/systemd/network/10-eth1.network: is a fifo, not a regular file"]
    assert f.interface_names == ["eth0"]


def test_nul_in_interfaces_source_is_a_problem() -> None:
    tree = {
        **g.DEBIAN12,
        "/etc/network/interfaces": "source /etc/x\x00*\niface eth0 inet dhcp\n",
    }
    f = network(tree)
    assert f.problems == ["'/etc/x\\x00*': invalid path"]
    assert f.interface_names == ["eth0"]
