"""Inspect, convert (both modes), re-run and rollback every fixture guest through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixtures import guests
from tests.fixtures.boot import NAMES, with_boot
from tests.fixtures.tree import build_tree, snapshot

from xen2kvm.cli import main

MODES = ["paravirt", "fullvirt"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_convert_then_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, mode: str
) -> None:
    root = build_tree(tmp_path / "root", with_boot(name))
    original = snapshot(root)

    code, doc = run_json(capsys, "inspect", str(root), "--mode", mode)
    assert code == 1, doc
    findings = doc["guests"][0]["findings"]
    assert any(f["severity"] != "warning" for f in findings)

    code, doc = run_json(capsys, "convert", str(root), "--mode", mode, "--dry-run")
    assert code == 1
    assert snapshot(root) == original, "a dry run changed the guest"
    planned = doc["guests"][0]["plan"]
    assert planned

    code, doc = run_json(capsys, "convert", str(root), "--mode", mode)
    g = doc["guests"][0]
    assert code == 0, g["remaining"]
    assert not [f for f in g["remaining"] if f["severity"] != "warning"]
    assert sorted(g["applied"]) == sorted(a["path"] for a in planned)
    # No Xen device or console names are left on any kernel command line or fstab entry.
    for path in ("etc/fstab", "boot/grub/menu.lst", "boot/grub/grub.cfg", "etc/default/grub"):
        p = root / path
        if p.is_file():
            text = "\n".join(
                ln for ln in p.read_text().splitlines() if not ln.lstrip().startswith("#")
            )
            assert "/dev/xvd" not in text, path
            assert "console=hvc0" not in text, path

    code, doc = run_json(capsys, "convert", str(root), "--mode", mode)
    assert code == 0
    assert doc["guests"][0]["plan"] == [], "a second convert planned changes"

    code, doc = run_json(capsys, "rollback", str(root))
    assert code == 0
    assert doc["guests"][0]["transactions"]
    assert snapshot(root) == original


def test_kvm_ready_guest_has_no_blocking_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build_tree(tmp_path / "root", with_boot("KVM_READY"))
    code, doc = run_json(capsys, "inspect", str(root))
    assert code == 0, doc
    assert doc["guests"][0]["ready"] is True


def test_debian7_pvgrub_menu_is_converted(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "root", with_boot("DEBIAN7"))
    assert main(["convert", str(root), "--quiet", "--literal-names"]) == 0
    menu = (root / "boot/grub/menu.lst").read_text()
    assert "kernel\t\t/boot/vmlinuz-3.2.0-4-amd64 root=/dev/sda ro console=ttyS0,19200n8" in menu
    assert "# kopt=root=/dev/sda ro console=ttyS0,19200n8" in menu
    assert "serial --unit=0 --speed=19200" in menu
    inittab = (root / "etc/inittab").read_text()
    gettys = [ln for ln in inittab.splitlines() if "getty" in ln and not ln.startswith("#")]
    assert "hvc0:2345:respawn:/sbin/getty 19200 ttyS0" in gettys
    assert not [ln for ln in gettys if ln.endswith(" hvc0")]


def test_centos6_symlinked_grub_conf_keeps_links(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "root", with_boot("CENTOS6"))
    assert main(["convert", str(root), "--quiet"]) == 0
    assert (root / "etc/grub.conf").is_symlink()
    conf = (root / "boot/grub/grub.conf").read_text()
    assert "console=ttyS0,19200n8" in conf and "xencons" not in conf
    assert not (root / "etc/udev/rules.d/70-persistent-net.rules").exists()
    assert "HWADDR" not in (root / "etc/sysconfig/network-scripts/ifcfg-eth0").read_text()
    assert (root / ".autorelabel").exists()


def test_hostile_guest_is_inspected_without_escaping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build_tree(tmp_path / "root", guests.HOSTILE)
    code, doc = run_json(capsys, "inspect", str(root))
    assert code in (0, 1)
    problems = [f for f in doc["guests"][0]["findings"] if f["check"] == "unreadable-files"]
    assert problems, doc


def test_bad_inputs_give_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["inspect", str(empty)]) == 2
    assert "no Linux operating system" in capsys.readouterr().err
    assert main(["convert", str(empty), "--only", "no-such-check"]) == 2
    assert "unknown check" in capsys.readouterr().err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_guest_failing_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    a = build_tree(tmp_path / "a", with_boot("DEBIAN12"))
    b = build_tree(tmp_path / "b", with_boot("KVM_READY"))
    code = main(["inspect", str(a), str(tmp_path / "missing"), str(b), "--json", "-j", jobs])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 2  # the worst outcome wins
    assert [g.get("ready") for g in doc["guests"]] == [False, None, True]
    assert "missing" in doc["guests"][1]["error"]
    assert captured.err.count("xen2kvm: error:") == 1


def test_netplan_mac_match_becomes_a_name_match(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "root", with_boot("UBUNTU2204"))
    assert main(["convert", str(root), "--quiet"]) == 0
    netplan = (root / "etc/netplan/50-cloud-init.yaml").read_text()
    assert "macaddress" not in netplan
    assert "            match:\n                name: eth0\n            set-name: eth0" in netplan


def test_new_mac_rewrites_pins_instead_of_removing(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "root", with_boot("CENTOS6"))
    assert main(["convert", str(root), "--quiet", "--mac", "eth0=52:54:00:aa:bb:cc"]) == 0
    ifcfg = (root / "etc/sysconfig/network-scripts/ifcfg-eth0").read_text()
    assert "HWADDR=52:54:00:aa:bb:cc" in ifcfg.replace('"', "")
