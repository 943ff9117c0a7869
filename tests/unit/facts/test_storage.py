"""Storage facts: device references, swap/xenfs/resume/mdadm/device.map, and every /dev/xvd*
name in the guest's storage and boot configuration."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures import guests
from tests.unit.facts.test_boot import DEBIAN7_BOOT, DEBIAN12_BOOT
from xen2kvm.facts.boot import gather_boot
from xen2kvm.facts.storage import gather_storage
from xen2kvm.guest.base import FileKind
from xen2kvm.guest.memory import Content, MemoryGuest, Special, Symlink
from xen2kvm.jsonutil import dumps


def test_debian7_storage_and_xvd_references() -> None:
    guest = MemoryGuest(DEBIAN7_BOOT)
    boot = gather_boot(guest)
    st = gather_storage(guest, boot)
    assert st.problems == []
    assert st.fstab_path == "/etc/fstab"
    by_mount = {e.mountpoint: e for e in st.fstab}
    root = by_mount["/"]
    assert root.device.kind == "path" and root.device.name == "xvda" and root.device.is_xen
    assert [e.spec for e in st.swap] == ["/dev/xvdb"]
    assert [e.mountpoint for e in st.xenfs] == ["/proc/xen"]
    assert st.xvd_disks == ["xvda", "xvdb"]
    files = {(r.file, r.name, r.commented) for r in st.xvd_references}
    assert ("/etc/fstab", "xvda", False) in files
    assert ("/etc/fstab", "xvdb", False) in files
    menu = [r for r in st.xvd_references if r.file == "/boot/grub/menu.lst"]
    # two kernel lines (root=/dev/xvda) and the "# kopt=root=/dev/xvda" magic comment
    assert sum(not r.commented for r in menu) == 2
    assert any(r.commented for r in menu)
    fstab_lines = guests.DEBIAN7["/etc/fstab"]
    assert isinstance(fstab_lines, str)
    for r in st.xvd_references:
        if r.file == "/etc/fstab":
            line = fstab_lines.split("\n")[r.line - 1]
            assert line[r.column - 1 :].startswith("/dev/" + r.name)
    dumps(st)


def test_gathers_boot_itself_when_not_given() -> None:
    st = gather_storage(MemoryGuest(DEBIAN7_BOOT))
    assert any(r.file == "/boot/grub/menu.lst" for r in st.xvd_references)


def test_all_storage_files() -> None:
    tree: dict[str, Content] = {
        **DEBIAN12_BOOT,
        "/etc/fstab": (
            "UUID=5d3c6c1e-4bd6-4b7b-9d38-0e3d0a2f2b61 / ext4 errors=remount-ro 0 1\n"
            "/dev/mapper/cryptswap none swap sw 0 0\n"
            "LABEL=data /data ext4 defaults 0 2\n"
        ),
        "/etc/crypttab": "cryptswap /dev/xvdb /dev/urandom swap,cipher=aes-xts-plain64\n",
        "/etc/initramfs-tools/conf.d/resume": "RESUME=/dev/xvdc\n",
        "/etc/uswsusp.conf": "# uswsusp\nresume device = /dev/xvdc\nimage size = 0\n",
        "/etc/mdadm/mdadm.conf": (
            "DEVICE /dev/xvdd1 /dev/xvde1\nARRAY /dev/md0 metadata=1.2 UUID=a:b:c:d\n"
            "   devices=/dev/xvdd1,/dev/xvde1\n"
        ),
        "/boot/grub/device.map": "(hd0)\t/dev/xvda\n",
        "/etc/default/grub": 'GRUB_CMDLINE_LINUX="console=hvc0 resume=/dev/xvdc"\n',
    }
    st = gather_storage(MemoryGuest(tree))
    assert st.problems == []
    assert [e.device.kind for e in st.fstab] == ["uuid", "mapper", "label"]
    assert [e.spec for e in st.swap] == ["/dev/mapper/cryptswap"]
    (c,) = st.crypttab
    assert c.name == "cryptswap" and c.device is not None and c.device.name == "xvdb"
    assert c.options == ["swap", "cipher=aes-xts-plain64"]
    resume = {(r.source, r.value) for r in st.resume}
    assert resume == {
        ("/etc/initramfs-tools/conf.d/resume", "/dev/xvdc"),
        ("/etc/uswsusp.conf", "/dev/xvdc"),
        ("/etc/default/grub", "/dev/xvdc"),
    }
    assert all(r.device.name == "xvdc" for r in st.resume)
    assert st.mdadm_path == "/etc/mdadm/mdadm.conf"
    assert [(m.keyword, m.devices) for m in st.mdadm] == [
        ("DEVICE", ["/dev/xvdd1", "/dev/xvde1"]),
        ("ARRAY", ["/dev/xvdd1", "/dev/xvde1"]),
    ]
    assert st.device_map_path == "/boot/grub/device.map"
    assert [(d.drive, d.device) for d in st.device_map] == [("(hd0)", "/dev/xvda")]
    assert st.xvd_disks == ["xvda", "xvdb", "xvdc", "xvdd", "xvde"]
    per_file = sorted({r.file for r in st.xvd_references})
    assert per_file == [
        "/boot/grub/device.map",
        "/etc/crypttab",
        "/etc/default/grub",
        "/etc/initramfs-tools/conf.d/resume",
        "/etc/mdadm/mdadm.conf",
        "/etc/uswsusp.conf",
    ]


def test_kvm_ready_guest_has_no_xvd_references() -> None:
    st = gather_storage(MemoryGuest(guests.KVM_READY))
    assert st.xvd_references == [] and st.xvd_disks == []
    assert all(e.device.kind in ("uuid", "none", "label") for e in st.fstab)


def test_hostile_storage_files_are_problems_not_errors() -> None:
    tree: dict[str, Content] = {
        **guests.DEBIAN12,
        "/etc/fstab": Special(FileKind.FIFO),
        "/etc/crypttab": Symlink("/etc/crypttab"),
        "/etc/mdadm/mdadm.conf": b"x" * (5 * 1024 * 1024),
        "/etc/initramfs-tools/conf.d/resume": 'RESUME="/dev/xvdb\n',
        "/boot/grub/device.map": b"\xff\xfe(hd0) /dev/xvda\x00\n",
    }
    st = gather_storage(MemoryGuest(tree))
    text = "\n".join(st.problems)
    assert "/etc/fstab: is a fifo" in text
    assert "/etc/crypttab" in text and "loop" in text
    assert "/etc/mdadm/mdadm.conf: larger than" in text
    assert "/etc/initramfs-tools/conf.d/resume:1:8: unterminated" in text
    assert st.fstab == [] and st.fstab_path is None and st.mdadm_path is None
    assert [(d.drive, d.device) for d in st.device_map] == []  # garbage before "(hd0)"
    assert sorted(r.name for r in st.xvd_references) == ["xvda", "xvdb"]


STORAGE_PATHS = [
    "/etc/fstab",
    "/etc/crypttab",
    "/etc/initramfs-tools/conf.d/resume",
    "/etc/uswsusp.conf",
    "/etc/mdadm/mdadm.conf",
    "/boot/grub/device.map",
    "/boot/grub/menu.lst",
]
_PIECES = st.sampled_from(
    [
        "/dev/xvda1 / ext4 defaults 0 1\n",
        "RESUME=/dev/xvdb\n",
        "resume device = /dev/xvdc\n",
        "ARRAY /dev/md0 devices=/dev/xvdd1\n",
        "(hd0) /dev/xvda\n",
        "kernel /v resume=/dev/xvdb\n",
        "title t\n",
        '"\n',
        "x\n",
        "# /dev/xvdz\n",
        "DEVICE /dev/xvde\n",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(STORAGE_PATHS),
        st.lists(_PIECES, max_size=6).map("".join) | st.text(max_size=80),
        max_size=6,
    )
)
def test_any_storage_file_content_gives_facts(files: dict[str, str]) -> None:
    st_facts = gather_storage(MemoryGuest(dict(files)))
    for ref in st_facts.xvd_references:
        line = files[ref.file].split("\n")[ref.line - 1]
        assert line[ref.column - 1 :].startswith("/dev/" + ref.name)
    assert st_facts.xvd_disks == sorted({r.disk for r in st_facts.xvd_references})
    dumps(st_facts)
