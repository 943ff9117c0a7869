"""fstab and crypttab parsing, device classification and device-field edits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.parsers import devref
from xen2kvm.parsers.fstab import FstabEntry, encode_field, parse_crypttab, parse_fstab

DEBIAN7_FSTAB = """\
# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
proc            /proc           proc    defaults        0       0
/dev/xvda       /               ext3    noatime,errors=remount-ro 0       1
/dev/xvdb       none            swap    sw              0       0
xenfs		/proc/xen	xenfs	defaults	0	0
UUID=5d3c6c1e-4bd6-4b7b-9d38-0e3d0a2f2b61 /srv ext4 defaults 0 2
LABEL=data      /data           xfs     nofail          0       2
PARTUUID=0a1b2c3d-01 /boot ext2 defaults 0 2
/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001-part1 /mnt ext4 defaults 0 0
/dev/mapper/vg0-home /home ext4 defaults 0 2
server:/export  /nfs            nfs     ro              0       0
/dev/xvdc1 /mnt/my\\040disk ext4 defaults
"""


def test_debian7_fstab_entries() -> None:
    tab = parse_fstab(DEBIAN7_FSTAB)
    assert tab.render() == DEBIAN7_FSTAB
    entries = tab.entries()
    assert all(isinstance(e, FstabEntry) for e in entries)
    kinds = [(e.spec, e.device.kind if e.device else None) for e in entries]  # type: ignore[attr-defined]
    assert kinds == [
        ("proc", "none"),
        ("/dev/xvda", "path"),
        ("/dev/xvdb", "path"),
        ("xenfs", "none"),
        ("UUID=5d3c6c1e-4bd6-4b7b-9d38-0e3d0a2f2b61", "uuid"),
        ("LABEL=data", "label"),
        ("PARTUUID=0a1b2c3d-01", "partuuid"),
        ("/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001-part1", "by-id"),
        ("/dev/mapper/vg0-home", "mapper"),
        ("server:/export", "other"),
        ("/dev/xvdc1", "path"),
    ]
    root = entries[1]
    assert isinstance(root, FstabEntry)
    assert root.mountpoint == "/" and root.vfstype == "ext3"
    assert root.options == ["noatime", "errors=remount-ro"]
    assert root.passno == "1" and root.line == 5
    assert root.device is not None and root.device.is_xen and root.device.disk == "xvda"
    xen = [e for e in entries if isinstance(e, FstabEntry) and e.is_xenfs]
    assert [e.line for e in xen] == [7]
    swap = [e for e in entries if isinstance(e, FstabEntry) and e.is_swap]
    assert [e.spec for e in swap] == ["/dev/xvdb"]
    last = entries[-1]
    assert isinstance(last, FstabEntry)
    assert last.mountpoint == "/mnt/my disk"  # octal escape decoded
    assert last.freq is None and not last.malformed


def test_set_spec_changes_only_the_device_field() -> None:
    tab = parse_fstab(DEBIAN7_FSTAB)
    for e in tab.entries():
        assert isinstance(e, FstabEntry)
        if e.device is not None and e.device.is_xen:
            e.set_spec(e.spec.replace("xvd", "sd") if e.spec else "")
    out = tab.render()
    assert out == DEBIAN7_FSTAB.replace("/dev/xvd", "/dev/sd")
    tab2 = parse_fstab(DEBIAN7_FSTAB)
    root = tab2.entries()[1]
    assert isinstance(root, FstabEntry)
    root.set_spec("UUID=abcd")
    assert "UUID=abcd       /               ext3" in tab2.render()


def test_comment_out_and_append() -> None:
    tab = parse_fstab("/dev/xvda / ext4 defaults 0 1\nxenfs /proc/xen xenfs defaults 0 0")
    xen = tab.entries()[1]
    tab.comment_out(xen, "disabled by xen2kvm")
    tab.append("tmpfs /tmp tmpfs defaults 0 0")
    assert tab.render() == (
        "/dev/xvda / ext4 defaults 0 1\n"
        "# xenfs /proc/xen xenfs defaults 0 0  # disabled by xen2kvm\n"
        "tmpfs /tmp tmpfs defaults 0 0\n"
    )
    assert [e.field(0) for e in parse_fstab(tab.render()).entries()] == ["/dev/xvda", "tmpfs"]


def test_malformed_line_is_kept_and_flagged() -> None:
    tab = parse_fstab("garbage\n  \n# c\n")
    (only,) = tab.entries()
    assert only.malformed
    assert tab.render() == "garbage\n  \n# c\n"


def test_crypttab() -> None:
    text = (
        "# <target> <source> <key> <options>\n"
        "cryptswap /dev/xvdb /dev/urandom swap,cipher=aes\n"
        "home UUID=1234 none luks\n"
    )
    tab = parse_crypttab(text)
    a, b = tab.entries()
    assert (a.field(0), a.field(1), a.field(2)) == ("cryptswap", "/dev/xvdb", "/dev/urandom")
    assert b.field(1) == "UUID=1234"
    from xen2kvm.parsers.fstab import CrypttabEntry

    assert isinstance(a, CrypttabEntry)
    assert a.options == ["swap", "cipher=aes"]
    assert a.device is not None and a.device.name == "xvdb"
    a.set_spec("/dev/sdb")
    assert tab.render() == text.replace("/dev/xvdb", "/dev/sdb")


def test_devref_classification() -> None:
    c = devref.classify
    assert c("/dev/xvda1").disk == "xvda" and c("/dev/xvda1").partition == 1
    assert c("/dev/sdb").bus == "sd" and c("/dev/sdb").partition is None
    assert c("/dev/nvme0n1p2").bus == "nvme" and c("/dev/nvme0n1p2").partition == 2
    assert c("/dev/hda3").bus == "hd"
    assert c("/dev/vdb").bus == "vd"
    assert c("/dev/md0").kind == "md"
    assert c("/dev/vg0/root").kind == "other-dev"
    assert c('UUID="ab-cd"').value == "ab-cd"
    assert c("/dev/disk/by-uuid/ab").kind == "by-uuid"
    assert devref.split_disk("xvdab12") == ("xvd", "xvdab", 12)


def test_find_xvd_paths() -> None:
    text = "a /dev/xvda1 b\n#root=/dev/xvdb /dev/xvdab2\n/dev/xvda10 /dev/xvdaz9x /foo/dev/xvda\n"
    found = [(m.line, m.column, m.name, m.disk) for m in devref.find_xvd_paths(text)]
    assert found == [
        (1, 3, "xvda1", "xvda"),
        (2, 7, "xvdb", "xvdb"),
        (2, 17, "xvdab2", "xvdab"),
        (3, 1, "xvda10", "xvda"),
    ]


field_text = st.text(alphabet=st.characters(blacklist_characters="\n\x00"), min_size=1, max_size=12)


@settings(max_examples=300)
@given(st.lists(st.lists(field_text, min_size=2, max_size=6), max_size=6))
def test_generated_entries_keep_their_fields(rows: list[list[str]]) -> None:
    text = "".join("\t".join(encode_field(f) for f in row) + "\n" for row in rows)
    tab = parse_fstab(text)
    assert tab.render() == text
    entries = [e for e in tab.entries()]
    rows_as_entries = [r for r in rows if not encode_field(r[0]).startswith("#")]
    assert [
        [e.field(i) for i in range(len(r))] for e, r in zip(entries, rows_as_entries, strict=True)
    ] == rows_as_entries
