"""Every libvirt XML xen2kvm writes passes libvirt's own schema (virt-xml-validate)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xen2kvm.hv import OutputFormat, PlanOptions, VMMode, read_domain, translate

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "hv" / "golden"
GOLDEN_XML = sorted(GOLDEN.glob("*/*-libvirt.xml"))

pytestmark = pytest.mark.skipif(
    not (shutil.which("virt-xml-validate") and shutil.which("xmllint")),
    reason="virt-xml-validate (libvirt-clients) and xmllint (libxml2-utils) are needed",
)


def _validate(path: Path) -> None:
    proc = subprocess.run(
        ["virt-xml-validate", str(path), "domain"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"{path}:\n{proc.stdout}{proc.stderr}"


def test_corpus_is_not_empty() -> None:
    assert len(GOLDEN_XML) >= 20


@pytest.mark.parametrize("path", GOLDEN_XML, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_xml_validates(path: Path) -> None:
    _validate(path)


ODD = """\
name = "odd-chars"
memory = 300
maxmem = 600
vcpus = 1
maxvcpus = 3
kernel = "/srv/k&r/<vmlinuz>"
cmdline = "root=/dev/xvda ro init=/bin/sh -c 'echo <&>' \\"x\\""
disk = [ "vdev=xvda, target=/srv/a 'b' & <c>.img", ",,xvdb:cdrom,r" ]
vif = [ "mac=00:16:3e:00:00:01" ]
on_poweroff = "restart"
on_reboot = "destroy"
on_crash = "soft-reset"
"""


@pytest.mark.parametrize("mode", list(VMMode))
def test_escaped_values_and_odd_shapes_validate(mode: VMMode, tmp_path: Path) -> None:
    domain = read_domain(ODD, "odd.cfg")
    result = translate(domain, OutputFormat.LIBVIRT, PlanOptions(mode=mode))
    out = tmp_path / "odd.xml"
    out.write_text(result.output)
    _validate(out)
    # The odd characters survive the trip (escaped in XML, intact when parsed back).
    import defusedxml.ElementTree as ET

    root = ET.fromstring(result.output)
    assert root.findtext("os/kernel") == "/srv/k&r/<vmlinuz>"
    assert root.find("devices/disk/source").get("file") == "/srv/a 'b' & <c>.img"
    assert "on_crash = 'soft-reset' has no libvirt equivalent; destroy used" in result.warnings
