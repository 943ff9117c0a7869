"""ifupdown interfaces, ifcfg (via shellvars), netplan and systemd-networkd/NM readers."""

from __future__ import annotations

import pytest

from xen2kvm.errors import ParseError
from xen2kvm.parsers import ini, interfaces, netplan, shellvars

DEBIAN_INTERFACES = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
auto eth0
allow-hotplug eth0
iface eth0 inet static
    address 192.0.2.10/24
    gateway 192.0.2.1
    hwaddress ether 00:16:3e:5a:12:34
iface eth0 inet6 auto
auto eth0:1
iface eth0:1 inet static
    address 192.0.2.11/24
"""

CENTOS6_IFCFG = """\
DEVICE="eth0"
BOOTPROTO="dhcp"
HWADDR="00:16:3E:5A:12:34"
NM_CONTROLLED="no"
ONBOOT="yes"
TYPE="Ethernet"
UUID="3b0a6f5c-6c2e-4d4b-9c5b-1d2f3e4a5b6c"
"""

UBUNTU_NETPLAN = """\
# This file is generated from information provided by the datasource.
network:
    ethernets:
        eth0:
            dhcp4: true
            match:
                macaddress: 00:16:3e:5a:12:34
            set-name: eth0
        ens4:
            addresses: [192.0.2.5/24]
    version: 2
"""


def test_debian_interfaces() -> None:
    f = interfaces.parse(DEBIAN_INTERFACES)
    assert f.render() == DEBIAN_INTERFACES
    assert f.auto() == ["lo", "eth0", "eth0:1"]
    assert f.allow("hotplug") == ["eth0"]
    assert f.sources() == [("source", "/etc/network/interfaces.d/*")]
    assert f.interface_names() == ["lo", "eth0", "eth0:1"]
    ifs = f.ifaces()
    assert [(i.name, i.family, i.method) for i in ifs] == [
        ("lo", "inet", "loopback"),
        ("eth0", "inet", "static"),
        ("eth0", "inet6", "auto"),
        ("eth0:1", "inet", "static"),
    ]
    assert ifs[1].option("hwaddress") == "ether 00:16:3e:5a:12:34"
    assert ifs[1].option("gateway") == "192.0.2.1"


def test_interfaces_rename_and_drop_hwaddress() -> None:
    f = interfaces.parse(DEBIAN_INTERFACES)
    assert f.rename("eth0", "ens3") == 6
    for line in f.ifaces()[1].option_lines("hwaddress"):
        f.remove_line(line)
    out = f.render()
    assert out == DEBIAN_INTERFACES.replace("eth0", "ens3").replace(
        "    hwaddress ether 00:16:3e:5a:12:34\n", ""
    )
    assert interfaces.parse(out).auto() == ["lo", "ens3", "ens3:1"]


def test_centos6_ifcfg_hwaddr() -> None:
    v = shellvars.parse(CENTOS6_IFCFG, "/etc/sysconfig/network-scripts/ifcfg-eth0")
    assert v.get("HWADDR") == "00:16:3E:5A:12:34"
    assert v.get("DEVICE") == "eth0"
    v.remove("HWADDR")
    assert v.render() == CENTOS6_IFCFG.replace('HWADDR="00:16:3E:5A:12:34"\n', "")
    v.set("HWADDR", "52:54:00:12:34:56")
    assert v.render().endswith('HWADDR="52:54:00:12:34:56"\n')


def test_netplan() -> None:
    cfg = netplan.parse(UBUNTU_NETPLAN)
    eth0, ens4 = cfg.interfaces
    assert eth0.kind == "ethernets" and eth0.dhcp4
    assert eth0.match_mac == "00:16:3e:5a:12:34" and eth0.names == ("eth0",)
    assert ens4.addresses == ("192.0.2.5/24",) and ens4.names == ("ens4",)


@pytest.mark.parametrize(
    "text",
    [
        "network: [1, 2]\n",
        "a: &x 1\nb: *x\n",
        "network:\n  ethernets: 5\n",
        "x: !!python/object/apply:os.system ['true']\n",
        "\t- bad",
        "[" * 5000,
    ],
)
def test_netplan_bad_input_is_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        netplan.parse(text, "/etc/netplan/x.yaml")


def test_networkd_and_nm_keyfile() -> None:
    network = ini.parse(
        "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nAddress=192.0.2.5/24\n"
        "Address=192.0.2.6/24\n# c\n[Address]\nAddress=192.0.2.7/24\ngarbage\n"
    )
    assert network.get("Match", "Name") == "eth0"
    assert network.get_all("Network", "Address") == ["192.0.2.5/24", "192.0.2.6/24"]
    assert network.get("Address", "Address") == "192.0.2.7/24"
    assert network.bad_lines == [11]
    link = ini.parse("[Match]\nMACAddress=00:16:3e:5a:12:34\n[Link]\nName=eth0\n")
    assert link.get("Link", "Name") == "eth0"
    nm = ini.parse(
        "[connection]\nid=System eth0\ntype=ethernet\ninterface-name=eth0\n"
        "[ethernet]\nmac-address=00:16:3E:5A:12:34\n"
    )
    assert nm.get("ethernet", "mac-address") == "00:16:3E:5A:12:34"
