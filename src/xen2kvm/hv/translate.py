"""Translate a Xen domain into a KVM configuration: read -> plan -> write, in one call."""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass, field

from xen2kvm.hv.mapping import DiskMapping
from xen2kvm.hv.model import Domain
from xen2kvm.hv.plan import KvmGuest, PlanOptions, plan_kvm
from xen2kvm.hv.writers import (
    Rendered,
    qemu_argv,
    render_libvirt,
    render_linode,
    render_proxmox,
)


class OutputFormat(enum.Enum):
    LIBVIRT = "libvirt"
    QEMU = "qemu"
    PROXMOX = "proxmox"
    LINODE = "linode"


@dataclass
class Translation:
    """Everything ``xen2kvm translate --json`` reports."""

    domain: Domain
    output_format: OutputFormat
    guest: KvmGuest
    output: str
    mapping: DiskMapping
    #: The QEMU argument list (QEMU output only).
    argv: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def translate(domain: Domain, output_format: OutputFormat, options: PlanOptions) -> Translation:
    """Plan the KVM guest for ``domain`` and write it in ``output_format``.

    ``options.linode`` is set for you when the output is a Linode profile.
    """
    if output_format is OutputFormat.LINODE and not options.linode:
        options = dataclasses.replace(options, linode=True)
    guest = plan_kvm(domain, options)
    description = f"translated from Xen by xen2kvm ({os.path.basename(domain.source)})"
    rendered: Rendered
    if output_format is OutputFormat.LIBVIRT:
        rendered = render_libvirt(guest, description=description)
    elif output_format is OutputFormat.QEMU:
        rendered = qemu_argv(guest)
    elif output_format is OutputFormat.PROXMOX:
        rendered = render_proxmox(guest, description=description)
    else:
        rendered = render_linode(guest)
    return Translation(
        domain=domain,
        output_format=output_format,
        guest=guest,
        output=rendered.text,
        mapping=guest.mapping,
        argv=rendered.argv,
        warnings=guest.warnings + rendered.warnings,
        notes=list(guest.notes),
    )
