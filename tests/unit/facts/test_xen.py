"""Xen leftover facts: modprobe aliases, module lists, xenfs, cmdline args, tools, caches."""

from __future__ import annotations

import pytest

from tests.fixtures import guests as g
from xen2kvm.facts.system import gather_system
from xen2kvm.facts.xen import XenFacts, gather_xen, is_xen_driver
from xen2kvm.guest.memory import MemoryGuest, Symlink
from xen2kvm.jsonutil import to_jsonable


def xen(tree: g.Tree, cmdlines: list[str] | None = None) -> XenFacts:
    guest = MemoryGuest(tree)
    return gather_xen(guest, gather_system(guest), cmdlines or [])


def test_centos6_aliases_tools_and_caches() -> None:
    f = xen(g.CENTOS6, [g.CENTOS6_CMDLINE])
    assert [(m.path, m.line, m.alias, m.module) for m in f.aliases] == [
        ("/etc/modprobe.d/anaconda.conf", 1, "eth0", "xennet"),
        ("/etc/modprobe.d/anaconda.conf", 2, "scsi_hostadapter", "xenblk"),
    ]
    assert [a.param for a in f.cmdline_args] == ["xencons=tty", "console=hvc0"]
    (service, daemon) = f.tools
    assert (service.name, service.enabled, service.paths) == (
        "xe-linux-distribution",
        True,
        ["/etc/init.d/xe-linux-distribution"],
    )
    # /etc/rc3.d is a link to rc.d/rc3.d: each S link is listed once.
    assert service.enabled_by == [
        "/etc/rc3.d/S14xe-linux-distribution",
        "/etc/rc.d/rc2.d/S14xe-linux-distribution",
        "/etc/rc.d/rc4.d/S14xe-linux-distribution",
        "/etc/rc.d/rc5.d/S14xe-linux-distribution",
    ]
    assert (daemon.name, daemon.enabled, daemon.paths) == (
        "xe-daemon",
        None,
        ["/usr/sbin/xe-daemon"],
    )
    assert f.stale_caches == ["/etc/blkid/blkid.tab", "/etc/lvm/cache/.cache"]
    assert f.any and f.problems == []
    assert to_jsonable(f)["tools"][0]["enabled"] is True


def test_debian7_xenfs_and_clocksource() -> None:
    f = xen(g.DEBIAN7, [g.DEBIAN7_CMDLINE])
    assert [(x.line, x.text.split()[:3]) for x in f.fstab] == [(7, ["xenfs", "/proc/xen", "xenfs"])]
    assert [(a.key, a.param) for a in f.cmdline_args] == [
        ("console", "console=hvc0"),
        ("clocksource", "clocksource=xen"),
    ]
    assert f.modprobe == [] and f.tools == []


def test_kvm_ready_has_no_leftovers() -> None:
    f = xen(g.KVM_READY, [g.KVM_READY_CMDLINE])
    assert not f.any
    assert f.problems == []


def test_rhel5_modprobe_conf_and_module_lists() -> None:
    tree = {
        **g.CENTOS6,
        "/etc/modprobe.conf": "alias eth0 xennet\nalias scsi_hostadapter xenblk\n"
        "options xen-vbd sda_is_xvda=1\nalias eth1 xen-vnif\nalias eth2 e1000\n",
        "/etc/modules-load.d/xen.conf": "; loaded at boot\nxen-netfront\nxen_blkfront\nloop\n",
        "/etc/modules": "# /etc/modules\nxen-blkfront\nloop\n",
        "/etc/modprobe.d/masked.conf": Symlink("/dev/null"),
    }
    f = xen(tree)
    assert [(m.path, m.command, m.alias, m.module) for m in f.modprobe[:4]] == [
        ("/etc/modprobe.conf", "alias", "eth0", "xennet"),
        ("/etc/modprobe.conf", "alias", "scsi_hostadapter", "xenblk"),
        ("/etc/modprobe.conf", "options", None, "xen-vbd"),
        ("/etc/modprobe.conf", "alias", "eth1", "xen-vnif"),
    ]
    assert all(m.module != "e1000" for m in f.modprobe)
    assert [(m.path, m.line, m.module) for m in f.module_lists] == [
        ("/etc/modules", 2, "xen-blkfront"),
        ("/etc/modules-load.d/xen.conf", 2, "xen-netfront"),
        ("/etc/modules-load.d/xen.conf", 3, "xen_blkfront"),
    ]
    assert f.problems == []


def test_systemd_guest_tools_enabled_masked_and_installed_only() -> None:
    unit = "[Unit]\nDescription=Linux Guest Agent\n"
    tree = {
        **g.DEBIAN12,
        "/usr/lib/systemd/system/xe-linux-distribution.service": unit,
        "/etc/systemd/system/multi-user.target.wants/xe-linux-distribution.service": Symlink(
            "/lib/systemd/system/xe-linux-distribution.service"
        ),
        "/usr/lib/systemd/system/xen-guest-agent.service": unit,
        "/usr/sbin/xen-guest-agent": g.ELF,
        "/usr/bin/xenstore-read": g.ELF,
    }
    f = xen(tree)
    assert [(t.name, t.enabled) for t in f.tools] == [
        ("xe-linux-distribution", True),
        ("xen-guest-agent", False),
        ("xenstore-utils", None),
    ]
    assert f.tools[0].enabled_by == [
        "/etc/systemd/system/multi-user.target.wants/xe-linux-distribution.service"
    ]
    assert f.tools[1].paths == [
        "/usr/lib/systemd/system/xen-guest-agent.service",
        "/usr/sbin/xen-guest-agent",
    ]
    masked = xen(
        {**tree, "/etc/systemd/system/xe-linux-distribution.service": Symlink("/dev/null")}
    )
    assert [t.enabled for t in masked.tools][:1] == [False]
    assert masked.enabled_services == []


def test_cmdline_args_per_boot_entry() -> None:
    f = xen(
        g.DEBIAN7,
        [
            "root=/dev/sda console=ttyS0,19200n8",
            "root=/dev/xvda console=xvc0 xen_blkfront.sda_is_xvda=1",
        ],
    )
    assert [(a.cmdline, a.param) for a in f.cmdline_args] == [
        (1, "console=xvc0"),
        (1, "xen_blkfront.sda_is_xvda=1"),
    ]


@pytest.mark.parametrize(
    ("name", "xen"),
    [("xennet", True), ("xen-blkfront", True), ("xen_vnif", True), ("virtio_net", False)],
)
def test_is_xen_driver(name: str, xen: bool) -> None:
    assert is_xen_driver(name) is xen


def test_stale_lvm_devices_file() -> None:
    tree = {
        **g.FEDORA,
        "/etc/lvm/devices/system.devices": "VERSION=1.1.1\nIDTYPE=devname IDNAME=/dev/xvda2\n",
    }
    assert xen(tree).stale_caches == ["/etc/lvm/devices/system.devices"]


def test_hostile_guest_problems_recorded_not_raised() -> None:
    tree = {**g.HOSTILE, "/etc/modules": Symlink("/etc/modules"), "/etc/fstab": g.HUGE}
    f = xen(tree, [g.DEBIAN12_CMDLINE])
    assert sorted(f.problems) == [
        "/etc/fstab: larger than the 4194304-byte limit for this file",
        "/etc/modprobe.d/xen.conf: larger than the 4194304-byte limit for this file",
        "/etc/modules: too many levels of symbolic links (loop?)",
        "/etc/systemd/system/getty.target.wants: too many levels of symbolic links (loop?)",
    ]
    assert [a.param for a in f.cmdline_args] == ["console=hvc0"]
