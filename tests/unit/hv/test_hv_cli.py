"""The translate and kernel-config commands: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xen2kvm.cli import main

from .corpus import INPUTS


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_holds_model_output_mapping_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["translate", str(INPUTS / "pv-gapped.cfg"), "--to", "libvirt",
                        "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["domain"]["name"] == "gapped"
    assert data["output"].startswith("<domain type='kvm'>")
    assert [(d["xen"], d["kvm"]) for d in data["mapping"]["devices"]] == [
        ("/dev/xvda", "/dev/sda"), ("/dev/xvdc", "/dev/sdb"), ("/dev/xvde", "/dev/sdc")]
    assert isinstance(data["warnings"], list) and data["warnings"]


def test_out_file_and_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "g.sh"
    code, out, err = run(["translate", str(INPUTS / "pv-multi-nic.cfg"), "--to", "qemu",
                          "--out", str(out_file)], capsys)
    assert code == 0 and out == ""
    assert out_file.read_text().startswith("#!/bin/sh\n")
    assert out_file.stat().st_mode & 0o111
    assert "warning: not carried over: pci = [\"0000:03:00.0\"]" in err
    assert "map: /dev/xvda -> /dev/sda (slot sda)" in err


BAD = {
    "unterminated.cfg": ("name = 'x'\nmemory = 256\nkernel = \"/boot/vmlinuz\n", ":3:10: "
                         "unterminated string"),
    "unknown-disk.cfg": ("name = 'x'\nmemory = 1\nbootloader = 'pygrub'\n"
                         "disk = [ 'nfs:/srv/a,xvda,w' ]\n",
                         ":4:11: disk spec 'nfs:/srv/a,xvda,w': unknown disk prefix"),
    "dup-vdev.cfg": ("name = 'x'\nmemory = 1\nbootloader = 'pygrub'\n"
                     "disk = [ '/a,raw,xvda,w', '/b,raw,xvda,w' ]\n", "duplicate vdev xvda"),
    "code.xm": ("import os\nname = 'x'\n", ":1:1: xm config contains an import"),
    "bad.xml": ("<domain type='xen'><name>x</name>", ":1:34: malformed XML"),
    "bad.json": ('{"devices": {"xvda": {"disk_id": "one"}}}', "devices.xvda.disk_id"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_malformed_inputs_give_one_line_errors(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BAD[name]
    f = tmp_path / name
    f.write_text(text)
    code, out, err = run(["translate", str(f), "--to", "libvirt"], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"xen2kvm: error: {f}")
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(INPUTS / "pv-gapped.cfg")
    code, _, err = run(["translate", cfg, "--to", "libvirt", "--disk-map", "xvda=sdd"], capsys)
    assert code == 2 and "leaves sdc empty" in err
    code, _, err = run(["translate", cfg, "--to", "libvirt", "--initrd", "/i"], capsys)
    assert code == 2 and "--initrd needs --kernel" in err
    code, _, err = run(["translate", str(tmp_path / "none.cfg"), "--to", "qemu"], capsys)
    assert code == 2 and "cannot read" in err
    code, _, err = run(["translate", str(INPUTS / "many-disks.cfg"), "--to", "libvirt",
                        "--mode", "fullvirt"], capsys)
    assert code == 3 and "fullvirt offers 4 block devices (sda..sdd)" in err


def test_disk_map_reorders(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["translate", str(INPUTS / "pv-gapped.cfg"), "--to", "proxmox",
                        "--disk-map", "xvde=sda,xvda=sdb", "--bridge", "vmbr1"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert "scsi0: /srv/img/gapped-logs.img,format=raw" in lines
    assert "scsi1: /srv/img/gapped-root.img,format=raw" in lines
    assert "scsi2: /srv/img/gapped,data.qcow2,format=qcow2" in lines
    assert "net0: virtio=00:16:3E:00:00:0E,bridge=vmbr1" in lines


def test_missing_disk_file_matters_for_direct_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "g.cfg"
    cfg.write_text("name='g'\nmemory=64\nbootloader='pygrub'\n"
                   f"disk=['{tmp_path}/gone.img,raw,xvda,w']\n")
    code, out, err = run(["translate", str(cfg), "--to", "libvirt", "--boot", "disk"], capsys)
    assert code == 2 and out == ""
    assert f"disk xvda: {tmp_path}/gone.img not found" in err and "--no-disk-check" in err
    code, out, err = run(["translate", str(cfg), "--to", "libvirt", "--boot", "disk",
                          "--no-disk-check"], capsys)
    assert code == 0 and "<boot dev='hd'/>" in out
    assert "could not check" in err
    # Automatic choice: a warning, since the image may live on another host.
    code, out, err = run(["translate", str(cfg), "--to", "libvirt"], capsys)
    assert code == 0 and "the disk is not present here" in err
