"""Boot facts on guest fixtures (data) for each bootloader family, and on hostile guests."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures import guests
from xen2kvm.facts.boot import BootFacts, gather_boot
from xen2kvm.guest.base import FileKind
from xen2kvm.guest.local import LocalGuest
from xen2kvm.guest.memory import Content, MemoryGuest, Special, Symlink
from xen2kvm.jsonutil import dumps

DATA = Path(__file__).parents[1] / "parsers" / "data"
DEBIAN7_MENU = (DATA / "debian7-menu.lst").read_text()
CENTOS6_GRUB = (DATA / "centos6-grub.conf").read_text()
DEBIAN12_CFG = (DATA / "debian12-grub.cfg").read_text()
UUID = "5d3c6c1e-4bd6-4b7b-9d38-0e3d0a2f2b61"

DEBIAN7_BOOT: dict[str, Content] = {
    **guests.DEBIAN7,
    "/boot/grub/menu.lst": DEBIAN7_MENU,
    "/boot/vmlinuz-3.2.0-4-amd64": b"kernel",
    "/boot/initrd.img-3.2.0-4-amd64": b"initrd",
}

# CentOS 6 with a separate /boot (paths in grub.conf are relative to it) and the usual
# menu.lst -> ./grub.conf link.
CENTOS6_BOOT: dict[str, Content] = {
    **guests.CENTOS6,
    "/boot/grub/grub.conf": CENTOS6_GRUB.replace("default=0", "default=1"),
    "/boot/grub/menu.lst": Symlink("./grub.conf"),
    "/etc/grub.conf": Symlink("../boot/grub/grub.conf"),
    "/boot/vmlinuz-2.6.32-754.35.1.el6.x86_64": b"k",
    "/boot/initramfs-2.6.32-754.35.1.el6.x86_64.img": b"i",
    "/boot/vmlinuz-2.6.32-431.el6.x86_64": b"k",
}

DEBIAN12_DEFAULT_GRUB = """\
GRUB_DEFAULT=saved
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX="console=hvc0"
"""

DEBIAN12_BOOT: dict[str, Content] = {
    **guests.DEBIAN12,
    "/etc/default/grub": DEBIAN12_DEFAULT_GRUB,
    "/etc/default/grub.d/50-cloud.cfg": (
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT earlyprintk=xen"\n'
    ),
    "/etc/default/grub.d/init-select.cfg": "# nothing here\n",
    "/boot/grub/grub.cfg": DEBIAN12_CFG.replace('set default="0"', 'set default="${saved_entry}"'),
    "/boot/grub/grubenv": (
        "# GRUB Environment Block\n"
        f"saved_entry=gnulinux-advanced-{UUID}>gnulinux-5.10.0-26-amd64-advanced-{UUID}\n"
        + "#"
        * 900
    ),
    "/boot/vmlinuz-6.1.0-13-amd64": b"k",
    "/boot/initrd.img-6.1.0-13-amd64": b"i",
    "/boot/vmlinuz-5.10.0-26-amd64": b"k",
    "/boot/initrd.img-5.10.0-26-amd64": b"i",
}

FEDORA_GRUB_CFG = """\
set default="${saved_entry}"
load_env -f ${config_directory}/grubenv
insmod blscfg
blscfg
"""


def _bls(version: str, options: str) -> str:
    return (
        f"title Fedora Linux ({version}) 39 (Cloud Edition)\n"
        f"version {version}\n"
        f"linux /vmlinuz-{version}\n"
        f"initrd /initramfs-{version}.img\n"
        f"options {options}\n"
        "grub_class fedora\n"
    )


MID = "0123456789abcdef0123456789abcdef"
NEW, OLD = "6.10.1-100.fc39.x86_64", "6.5.6-300.fc39.x86_64"
FEDORA_BOOT: dict[str, Content] = {
    **guests.FEDORA,
    "/boot/grub2/grub.cfg": FEDORA_GRUB_CFG,
    "/boot/grub2/grubenv": (
        f"# GRUB Environment Block\nsaved_entry={MID}-{OLD}\n"
        "kernelopts=root=UUID=8d4f ro console=hvc0\n"
    ),
    f"/boot/loader/entries/{MID}-{NEW}.conf": _bls(NEW, "$kernelopts quiet"),
    f"/boot/loader/entries/{MID}-{OLD}.conf": _bls(OLD, "root=UUID=8d4f ro console=hvc0"),
    "/etc/kernel/cmdline": "root=UUID=8d4f ro console=hvc0\n",
    f"/boot/vmlinuz-{NEW}": b"k",
    f"/boot/vmlinuz-{OLD}": b"k",
    f"/boot/initramfs-{OLD}.img": b"i",
}


def test_debian7_pv_grub() -> None:
    boot = gather_boot(MemoryGuest(DEBIAN7_BOOT))
    assert boot.active == "grub-legacy"
    assert boot.problems == []
    (loader,) = boot.bootloaders
    assert loader.config == "/boot/grub/menu.lst" and loader.default_ref == "0"
    assert len(loader.entries) == 2
    e = boot.default_entry
    assert e is not None
    assert e.title == "Debian GNU/Linux, kernel 3.2.0-4-amd64"
    assert e.kernel_path == "/boot/vmlinuz-3.2.0-4-amd64"
    assert e.initrd_path == "/boot/initrd.img-3.2.0-4-amd64"
    assert boot.default_cmdline == "root=/dev/xvda ro console=hvc0"
    assert e.source == "/boot/grub/menu.lst" and e.line is not None
    assert DEBIAN7_MENU.split("\n")[e.line - 1].startswith("kernel")
    assert boot.legacy_magic["kopt"] == "root=/dev/xvda ro console=hvc0"
    assert boot.grub_defaults == {} and boot.grub_defaults_cmdline is None
    assert boot.files == ["/boot/grub/menu.lst"]
    dumps(boot)  # serialisable


def test_centos6_separate_boot_and_default_1() -> None:
    boot = gather_boot(MemoryGuest(CENTOS6_BOOT))
    assert boot.active == "grub-legacy"
    # menu.lst is a link to grub.conf: one bootloader, not two
    assert [b.config for b in boot.bootloaders] == ["/boot/grub/menu.lst"]
    e = boot.default_entry
    assert e is not None and e.index == "1"
    assert e.kernel == "/vmlinuz-2.6.32-431.el6.x86_64"
    assert e.kernel_path == "/boot/vmlinuz-2.6.32-431.el6.x86_64"  # relative to /boot
    assert e.initrd_path is None  # that initramfs is missing from the guest
    assert boot.default_cmdline is not None and "console=hvc0" in boot.default_cmdline


def test_centos6_boot_filesystem_as_root() -> None:
    # Only the /boot filesystem: grub.conf is at /grub/grub.conf and kernels at /.
    tree: dict[str, Content] = {
        "/grub/grub.conf": CENTOS6_GRUB,
        "/vmlinuz-2.6.32-754.35.1.el6.x86_64": b"k",
    }
    boot = gather_boot(MemoryGuest(tree))
    e = boot.default_entry
    assert e is not None and e.kernel_path == "/vmlinuz-2.6.32-754.35.1.el6.x86_64"


def test_debian12_grub2_saved_default_and_grub_d() -> None:
    boot = gather_boot(MemoryGuest(DEBIAN12_BOOT))
    assert boot.problems == []
    assert boot.active == "grub2"
    (loader,) = boot.bootloaders
    assert loader.config == "/boot/grub/grub.cfg" and loader.default_ref == "${saved_entry}"
    assert [e.index for e in loader.entries] == ["0", "1>0", "1>1", "1>2"]
    e = boot.default_entry
    assert e is not None and e.index == "1>2"
    assert e.kernel_path == "/boot/vmlinuz-5.10.0-26-amd64"
    assert e.id == f"gnulinux-5.10.0-26-amd64-advanced-{UUID}"
    assert boot.default_cmdline == f"root=UUID={UUID} ro  console=hvc0 quiet"
    assert boot.grub_default_files == [
        "/etc/default/grub",
        "/etc/default/grub.d/50-cloud.cfg",
        "/etc/default/grub.d/init-select.cfg",
    ]
    assert boot.grub_defaults["GRUB_DEFAULT"] == "saved"
    assert boot.grub_defaults["GRUB_CMDLINE_LINUX_DEFAULT"] == "quiet earlyprintk=xen"
    assert boot.grub_defaults_cmdline == "console=hvc0 quiet earlyprintk=xen"
    assert boot.grubenv_path == "/boot/grub/grubenv"
    assert "/boot/grub/grubenv" in boot.files and "/etc/default/grub" in boot.files


def test_grub2_saved_entry_missing_falls_back_to_first() -> None:
    tree = {**DEBIAN12_BOOT, "/boot/grub/grubenv": "# GRUB Environment Block\n"}
    boot = gather_boot(MemoryGuest(tree))
    assert boot.default_entry is not None and boot.default_entry.index == "0"


def test_fedora_bls_through_blscfg() -> None:
    boot = gather_boot(MemoryGuest(FEDORA_BOOT))
    assert boot.problems == []
    assert boot.active == "grub2"
    grub, bls_loader = boot.bootloaders
    assert grub.uses_bls and bls_loader.kind == "bls"
    # newest first, like GRUB's blscfg
    assert [e.id for e in grub.entries] == [f"{MID}-{NEW}", f"{MID}-{OLD}"]
    e = boot.default_entry
    assert e is not None and e.id == f"{MID}-{OLD}"  # saved_entry in grubenv
    assert e.kernel_path == f"/boot/vmlinuz-{OLD}"  # /vmlinuz-... relative to /boot
    assert e.initrd_path == f"/boot/initramfs-{OLD}.img"
    newest = grub.entries[0]
    assert newest.cmdline == "root=UUID=8d4f ro console=hvc0 quiet"  # $kernelopts expanded
    assert boot.kernel_cmdline == "root=UUID=8d4f ro console=hvc0"
    assert "/etc/kernel/cmdline" in boot.files


def test_bls_alone_defaults_to_newest() -> None:
    tree = {k: v for k, v in FEDORA_BOOT.items() if not k.startswith("/boot/grub2")}
    boot = gather_boot(MemoryGuest(tree))
    assert boot.active == "bls"
    assert boot.default_entry is not None and boot.default_entry.id == f"{MID}-{NEW}"
    # no grubenv: $kernelopts falls back to /etc/kernel/cmdline
    assert boot.default_cmdline == "root=UUID=8d4f ro console=hvc0 quiet"


def test_no_bootloader() -> None:
    boot = gather_boot(MemoryGuest(guests.ARCH))
    assert boot.bootloaders == [] and boot.active is None
    assert boot.default_entry is None and boot.default_cmdline is None
    assert boot.problems == []


def test_hostile_boot_files_become_problems() -> None:
    tree: dict[str, Content] = {
        **guests.DEBIAN12,
        "/boot/grub/grub.cfg": Symlink("/boot/grub/loop"),
        "/boot/grub/loop": Symlink("/boot/grub/grub.cfg"),
        "/boot/grub2/grub.cfg": "menuentry 'x' {\n  linux /vmlinuz\n",  # never closed
        "/boot/grub/menu.lst": Special(FileKind.FIFO),
        "/etc/default/grub": b"GRUB_CMDLINE_LINUX=" + b"x" * (5 * 1024 * 1024),
        "/etc/default/grub.d/bad.cfg": 'GRUB_CMDLINE_LINUX="unterminated\n',
        "/boot/loader/entries": Special(FileKind.FIFO),
        "/boot/grub/grub.conf": b"\xff\xfe title \x00 garbage\nkernel \xc3(\n",
    }
    boot = gather_boot(MemoryGuest(tree))
    text = "\n".join(boot.problems)
    assert "/boot/grub/grub.cfg" in text and "loop" in text
    assert "/boot/grub2/grub.cfg:1" in text and "never closed" in text
    assert "/boot/grub/menu.lst: is a fifo" in text
    assert "/etc/default/grub: larger than" in text
    assert "/etc/default/grub.d/bad.cfg:1:20" in text
    assert boot.bootloaders[0].kind == "grub-legacy"  # the FIFO entries dir gave no BLS loader
    # the garbage grub.conf still parses (GRUB legacy accepts any line) and has no entries
    assert [b.config for b in boot.bootloaders] == ["/boot/grub/grub.conf"]
    assert boot.default_entry is None


def test_symlinks_out_of_the_root_stay_inside(tmp_path: Path) -> None:
    # A real directory guest whose boot files point at host files: facts read the guest's
    # own (absent) files, never the host's.
    canary = tmp_path / "host-canary"
    canary.write_text("title HOST\nkernel /host root=/dev/host\n")
    root = tmp_path / "guest"
    (root / "boot" / "grub").mkdir(parents=True)
    (root / "etc" / "default").mkdir(parents=True)
    os.symlink(str(canary), root / "boot" / "grub" / "menu.lst")
    os.symlink("../../../host-canary", root / "boot" / "grub" / "grub.conf")
    os.symlink(str(canary), root / "etc" / "default" / "grub")
    boot = gather_boot(LocalGuest(root))
    assert boot.bootloaders == []
    assert "HOST" not in dumps(boot)


def test_boot_facts_type() -> None:
    assert isinstance(gather_boot(MemoryGuest({})), BootFacts)


def test_blscfg_with_custom_menuentry_and_numeric_default() -> None:
    cfg = FEDORA_GRUB_CFG.replace('set default="${saved_entry}"', 'set default="2"') + (
        "menuentry 'Custom' {\n  linux /vmlinuz-custom root=/dev/xvda1\n}\n"
    )
    tree = {**FEDORA_BOOT, "/boot/grub2/grub.cfg": cfg}
    boot = gather_boot(MemoryGuest(tree))
    grub = boot.bootloaders[0]
    assert [e.title for e in grub.entries][-1] == "Custom"
    assert len(grub.entries) == 3
    e = boot.default_entry
    assert e is not None and e.title == "Custom" and e.cmdline == "root=/dev/xvda1"


def test_grub_cfg_without_set_default_boots_first_entry() -> None:
    cfg = DEBIAN12_CFG.replace('   set default="0"\n', "")
    boot = gather_boot(MemoryGuest({**DEBIAN12_BOOT, "/boot/grub/grub.cfg": cfg}))
    assert boot.bootloaders[0].default_ref is None
    assert boot.default_entry is not None and boot.default_entry.index == "0"


BOOT_PATHS = [
    "/boot/grub/menu.lst",
    "/boot/grub/grub.cfg",
    "/boot/grub/grubenv",
    "/boot/grub/default",
    "/etc/default/grub",
    "/etc/default/grub.d/x.cfg",
    "/boot/loader/entries/a.conf",
    "/etc/kernel/cmdline",
]
_SNIPPETS = st.sampled_from(
    [
        "title x\n",
        "kernel /v root=/dev/xvda\n",
        "default saved\n",
        "default=9\n",
        "menuentry 'a' {\n",
        "}\n",
        "linux /v ro\n",
        'set default="${saved_entry}"\n',
        "saved_entry=1>0\n",
        "blscfg\n",
        "options $kernelopts\n",
        "GRUB_DEFAULT=saved\n",
        'GRUB_CMDLINE_LINUX="$X\n',
        "0\n",
        "x\n",
    ]
)
_CONTENT = st.lists(_SNIPPETS, max_size=8).map("".join) | st.text(max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(BOOT_PATHS), _CONTENT, max_size=6))
def test_any_boot_file_content_gives_facts(files: dict[str, str]) -> None:
    boot = gather_boot(MemoryGuest(dict(files)))
    assert isinstance(boot, BootFacts)
    for loader in boot.bootloaders:
        if loader.default_index is not None:
            assert 0 <= loader.default_index < len(loader.entries)
    dumps(boot)
