"""Xen vdevs -> KVM slots: sequential, no gaps, partition-only devices become whole disks."""

from __future__ import annotations

import pytest

from xen2kvm.errors import ParseError, RefusedError, UsageError
from xen2kvm.hv.mapping import build_mapping, disk_letters, parse_disk_map, parse_vdev
from xen2kvm.hv.model import Disk, VMMode

P, F = VMMode.PARAVIRT, VMMode.FULLVIRT


def disks(*vdevs: str, cdrom: tuple[str, ...] = ()) -> list[Disk]:
    return [Disk(source=f"/img/{v}", vdev=v, cdrom=v in cdrom) for v in vdevs]


def test_vdev_names() -> None:
    assert parse_vdev("xvdb2").index == 1 and parse_vdev("xvdb2").partition == 2
    assert parse_vdev("/dev/xvdaa").index == 26
    assert [disk_letters(i) for i in (0, 25, 26, 27, 701, 702)] == [
        "a", "z", "aa", "ab", "zz", "aaa"]
    for bad in ("xvd", "xvda0", "hdaa", "nvme0n1", "51712", "xvdA"):
        with pytest.raises(ParseError):
            parse_vdev(bad)


def test_gaps_are_compacted_in_xen_order() -> None:
    m = build_mapping(disks("xvde", "xvda", "xvdc"), P)
    assert m.pairs == [("/dev/xvda", "/dev/sda"), ("/dev/xvdc", "/dev/sdb"),
                       ("/dev/xvde", "/dev/sdc")]
    assert [d.target for d in m.devices] == ["sda", "sdb", "sdc"]


def test_partition_only_devices_become_whole_disks() -> None:
    m = build_mapping(disks("xvda1", "xvda2", "xvdb"), P)
    assert m.pairs == [("/dev/xvda1", "/dev/sda"), ("/dev/xvda2", "/dev/sdb"),
                       ("/dev/xvdb", "/dev/sdc")]
    assert [d.partition_only for d in m.devices] == [True, True, False]
    assert m.translate("/dev/xvda1") == "/dev/sda"
    assert m.translate("/dev/xvdb3") == "/dev/sdc3"  # partition of a whole disk follows it
    assert m.translate("/dev/xvda3") is None  # not a device of this domain
    assert m.translate("/dev/xvdz") is None


def test_cdroms_go_after_disks_and_become_sr() -> None:
    m = build_mapping(disks("hda", "hdc", "hdb", cdrom=("hdc",)), F, hvm=True)
    assert [(d.xen, d.kvm, d.target) for d in m.devices] == [
        ("/dev/hda", "/dev/sda", "sda"), ("/dev/hdb", "/dev/sdb", "sdb"),
        ("/dev/hdc", "/dev/sr0", "sdc")]
    # An HVM guest with PV drivers knew hda as xvda too.
    assert m.translate("/dev/xvda1") == "/dev/sda1"
    assert ("/dev/xvda", "/dev/sda") in m.pairs


def test_duplicates_and_overlaps_are_errors() -> None:
    with pytest.raises(ParseError, match="duplicate vdev xvda"):
        build_mapping(disks("xvda", "xvdb", "xvda"), P)
    with pytest.raises(ParseError, match=r"duplicate vdev hda \(same device as xvda\)"):
        build_mapping(disks("xvda", "hda"), P)
    with pytest.raises(ParseError, match="partition of xvda"):
        build_mapping(disks("xvda", "xvda1"), P)


def test_slot_limits_per_mode() -> None:
    build_mapping(disks(*[f"xvd{c}" for c in "abcd"]), F)
    with pytest.raises(RefusedError, match=r"fullvirt offers 4 block devices \(sda..sdd\)"):
        build_mapping(disks(*[f"xvd{c}" for c in "abcde"]), F)
    build_mapping(disks(*[f"xvd{c}" for c in "abcdefgh"]), P)
    with pytest.raises(RefusedError, match="paravirt offers 8"):
        build_mapping(disks(*[f"xvd{c}" for c in "abcdefghi"]), P)


def test_user_disk_map() -> None:
    m = build_mapping(disks("xvda", "xvdb", "xvdc"), P, parse_disk_map("xvdc=sda,/dev/xvda=sdc"))
    assert m.pairs == [("/dev/xvdc", "/dev/sda"), ("/dev/xvdb", "/dev/sdb"),
                       ("/dev/xvda", "/dev/sdc")]
    with pytest.raises(UsageError, match="leaves sdb empty"):
        build_mapping(disks("xvda", "xvdb"), P, {"xvdb": "sdc"})
    with pytest.raises(UsageError, match="sda is given to two disks"):
        build_mapping(disks("xvda", "xvdb"), P, {"xvda": "sda", "xvdb": "sda"})
    with pytest.raises(UsageError, match="not a disk of this domain"):
        build_mapping(disks("xvda"), P, {"xvdq": "sda"})
    with pytest.raises(UsageError, match="beyond the fullvirt slots"):
        build_mapping(disks("xvda"), F, {"xvda": "sde"})
    for bad in ("xvda", "xvda=vda", "xvda=sda,xvda=sdb", "=sda"):
        with pytest.raises(UsageError):
            parse_disk_map(bad)
