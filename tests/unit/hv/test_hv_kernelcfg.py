"""kernel-config on the host's real Debian kernel config and variants derived from it."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from xen2kvm.cli import main
from xen2kvm.errors import ParseError
from xen2kvm.hv.kernelcfg import (
    KVM_KERNEL_MESSAGE,
    KernelConfig,
    OptionState,
    Verdict,
    assess_from_modules,
    assess_kernel_config,
    fragment_text,
)
from xen2kvm.hv.model import VMMode

HOST_CONFIGS = sorted(glob.glob("/boot/config-*"))
P, F = VMMode.PARAVIRT, VMMode.FULLVIRT

needs_host_config = pytest.mark.skipif(
    not HOST_CONFIGS, reason="no /boot/config-* (Debian package linux-image-amd64)"
)


@pytest.fixture
def debian_text() -> str:
    if not HOST_CONFIGS:
        pytest.skip("no /boot/config-* (Debian package linux-image-amd64)")
    return Path(HOST_CONFIGS[-1]).read_text()


def variant(text: str, **options: str) -> KernelConfig:
    cfg = KernelConfig.parse(text)
    for name, value in options.items():
        cfg.set(name, value)
    return cfg


def test_round_trip_and_single_line_edits(debian_text: str) -> None:
    cfg = KernelConfig.parse(debian_text, "config")
    assert cfg.render() == debian_text
    assert cfg.version and cfg.get("KVM_GUEST") == "y"
    cfg.set("CONFIG_VIRTIO_PCI", "y")
    cfg.set("SCSI_VIRTIO", "n")
    cfg.set("XEN2KVM_NEW", "y")
    old, new = debian_text.splitlines(), cfg.render().splitlines()
    changed = [(a, b) for a, b in zip(old, new, strict=False) if a != b]
    assert sorted(changed) == [("CONFIG_SCSI_VIRTIO=m", "# CONFIG_SCSI_VIRTIO is not set"),
                               ("CONFIG_VIRTIO_PCI=m", "CONFIG_VIRTIO_PCI=y")]
    assert new[len(old):] == ["CONFIG_XEN2KVM_NEW=y"]
    assert cfg.get("SCSI_VIRTIO") == "n" and cfg.knows("SCSI_VIRTIO")


def test_round_trip_without_final_newline_and_crlf() -> None:
    for text in ("CONFIG_A=y\r\n# CONFIG_B is not set\r\n", "CONFIG_A=y\n#\nCONFIG_S=\"x y\""):
        assert KernelConfig.parse(text).render() == text
    cfg = KernelConfig.parse("CONFIG_A=y")
    cfg.set("B", "m")
    assert cfg.render() == "CONFIG_A=y\nCONFIG_B=m\n"


def test_not_a_kernel_config() -> None:
    with pytest.raises(ParseError) as info:
        KernelConfig.parse("CONFIG_A=y\nname = 'x'\n", "f")
    assert (info.value.line, info.value.column) == (2, 1)
    with pytest.raises(ParseError, match="no CONFIG_ options"):
        KernelConfig.parse("# only a comment\n")


def test_debian_paravirt_needs_initramfs_modules(debian_text: str) -> None:
    a = assess_kernel_config(KernelConfig.parse(debian_text), P)
    assert a.verdict is Verdict.NEEDS_INITRAMFS
    assert {"virtio_pci", "virtio_scsi", "sd_mod", "scsi_mod"} <= set(a.initramfs_modules)
    net = next(r for r in a.requirements if r.id == "virtio-net")
    assert net.ok and net.state is OptionState.MODULE  # loaded after root is mounted
    legacy = next(r for r in a.requirements if r.id == "virtio-pci")
    assert [o.option for o in legacy.options] == ["VIRTIO_PCI", "VIRTIO_PCI_LEGACY"]
    assert "CONFIG_SCSI_VIRTIO=y" in a.fragment and not a.missing


def test_debian_fullvirt_needs_ata_piix(debian_text: str) -> None:
    a = assess_kernel_config(KernelConfig.parse(debian_text), F)
    assert a.verdict is Verdict.NEEDS_INITRAMFS
    assert {"libata", "ata_piix", "sd_mod"} <= set(a.initramfs_modules)
    assert "virtio_scsi" not in a.initramfs_modules


def test_built_in_variant_boots_and_fragment_fixes_debian(debian_text: str) -> None:
    cfg = KernelConfig.parse(debian_text)
    first = assess_kernel_config(cfg, P)
    for line in first.fragment:
        name, _, value = line.partition("=")
        cfg.set(name, value)
    again = assess_kernel_config(cfg, P)
    assert again.verdict is Verdict.BOOTS and again.fragment == []
    assert fragment_text(again) == ""


def test_virtio_disabled_variant(debian_text: str) -> None:
    cfg = variant(debian_text, VIRTIO_PCI="n", SCSI_VIRTIO="n", VIRTIO_NET="n")
    a = assess_kernel_config(cfg, P)
    assert a.verdict is Verdict.MISSING_DRIVERS
    assert {"VIRTIO_PCI", "SCSI_VIRTIO", "VIRTIO_NET"} <= set(a.missing)
    assert "CONFIG_VIRTIO_NET=y" in a.fragment
    # fullvirt does not care about virtio.
    assert assess_kernel_config(cfg, F).verdict is Verdict.NEEDS_INITRAMFS


def test_legacy_option_only_where_the_kernel_knows_it(debian_text: str) -> None:
    unknown = "\n".join(
        line for line in debian_text.splitlines() if "VIRTIO_PCI_LEGACY" not in line) + "\n"
    a = assess_kernel_config(variant(unknown, VIRTIO_PCI="y"), P)
    req = next(r for r in a.requirements if r.id == "virtio-pci")
    assert [o.option for o in req.options] == ["VIRTIO_PCI"] and req.ok
    a = assess_kernel_config(variant(debian_text, VIRTIO_PCI_LEGACY="n"), P)
    assert "VIRTIO_PCI_LEGACY" in a.missing


def test_modular_serial_console_is_a_problem(debian_text: str) -> None:
    a = assess_kernel_config(variant(debian_text, SERIAL_8250="m"), P)
    assert a.verdict is Verdict.MISSING_DRIVERS and "SERIAL_8250" in a.missing


@pytest.mark.parametrize(
    "options",
    [{"X86_64_XEN": "y"}, {"X86_XEN": "y"}, {"PARAVIRT": "n", "XEN": "y"}],
)
def test_xen_only_kernels(debian_text: str, options: dict[str, str]) -> None:
    a = assess_kernel_config(variant(debian_text, **options), P)
    assert a.verdict is Verdict.XEN_ONLY and "XenLinux" in a.xen_only_reason
    assert "No option makes a XenLinux tree boot on KVM" in fragment_text(a)


def test_old_ide_driver_alternative() -> None:
    cfg = KernelConfig.parse("CONFIG_IDE=y\nCONFIG_BLK_DEV_PIIX=y\nCONFIG_E1000=y\n"
                             "CONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n"
                             "# CONFIG_ATA is not set\n")
    a = assess_kernel_config(cfg, F)
    assert a.verdict is Verdict.BOOTS
    assert any("hda" in n for n in a.notes)


def test_from_module_lists_of_the_host_kernel() -> None:
    dirs = sorted(glob.glob("/lib/modules/*/modules.builtin"))
    if not dirs:
        pytest.skip("no /lib/modules")
    root = Path(dirs[-1]).parent
    builtin = root.joinpath("modules.builtin").read_text().split()
    modules = [p.name for p in root.glob("kernel/**/*.ko*")]
    a = assess_from_modules(builtin, modules, P)
    assert a.verdict is Verdict.NEEDS_INITRAMFS
    assert {"virtio_scsi", "sd_mod", "virtio_pci"} <= set(a.initramfs_modules)
    serial = next(r for r in a.requirements if r.id == "serial")
    assert serial.state is OptionState.BUILTIN  # 8250 is in modules.builtin
    console = next(r for r in a.requirements if r.id == "serial-console")
    assert console.state is OptionState.UNKNOWN


def test_from_module_lists_synthetic() -> None:
    built = ["kernel/drivers/virtio/virtio.ko", "virtio_pci", "virtio-scsi", "sd_mod",
             "scsi_mod", "virtio_blk", "kernel/drivers/tty/serial/8250/8250.ko"]
    a = assess_from_modules(built, ["virtio_net.ko.xz"], P)
    assert a.verdict is Verdict.BOOTS
    a = assess_from_modules(["8250"], ["xen-blkfront", "xen-netfront"], P)
    assert a.verdict is Verdict.MISSING_DRIVERS
    assert "SCSI_VIRTIO" in a.missing


@needs_host_config
def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(HOST_CONFIGS[-1]).read_text()
    assert main(["kernel-config", HOST_CONFIGS[-1]]) == 1
    out = capsys.readouterr().out
    assert "boots only with an initramfs that carries:" in out and "virtio_scsi" in out
    assert KVM_KERNEL_MESSAGE in out
    good = tmp_path / "good.config"
    cfg = KernelConfig.parse(text)
    for line in assess_kernel_config(cfg, P).fragment:
        cfg.set(*line.split("=", 1))
    good.write_text(cfg.render())
    assert main(["kernel-config", str(good), "--mode", "paravirt"]) == 0
    assert "verdict: boots on KVM" in capsys.readouterr().out
    assert main(["kernel-config", HOST_CONFIGS[-1], "--fragment", "--mode", "fullvirt"]) == 1
    frag = capsys.readouterr().out.splitlines()
    assert "CONFIG_ATA_PIIX=y" in frag and all(
        line.startswith(("#", "CONFIG_")) for line in frag)
    assert main(["kernel-config", HOST_CONFIGS[-1], "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "needs-initramfs" and data["mode"] == "paravirt"
    bad = tmp_path / "bad"
    bad.write_text("hello\n")
    assert main(["kernel-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"xen2kvm: error: {bad}:1:1: ") and "Traceback" not in err
