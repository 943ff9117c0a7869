"""Hypervisor side: Xen domain configurations in, KVM configurations out.

Read (xl.cfg, xm, libvirt Xen XML, Linode profile) -> :class:`Domain` -> plan a
:class:`KvmGuest` (disk slots, boot method) -> write (libvirt, QEMU, Proxmox, Linode).
The disk mapping (:class:`DiskMapping`) is what ``convert`` applies to the guest's fstab.
"""

from xen2kvm.hv.kernelcfg import (
    KernelAssessment,
    KernelConfig,
    Verdict,
    assess_from_modules,
    assess_kernel_config,
)
from xen2kvm.hv.mapping import DiskMapping, MappedDevice, build_mapping, parse_disk_map
from xen2kvm.hv.model import Boot, BootKind, Disk, Domain, Lifecycle, Nic, VMMode
from xen2kvm.hv.plan import BootMethod, KvmGuest, PlanOptions, plan_kvm
from xen2kvm.hv.readers import ReadOptions, read_domain, read_domain_file
from xen2kvm.hv.translate import OutputFormat, Translation, translate

__all__ = [
    "Boot",
    "BootKind",
    "BootMethod",
    "Disk",
    "DiskMapping",
    "Domain",
    "KernelAssessment",
    "KernelConfig",
    "KvmGuest",
    "Lifecycle",
    "MappedDevice",
    "Nic",
    "OutputFormat",
    "PlanOptions",
    "ReadOptions",
    "Translation",
    "VMMode",
    "Verdict",
    "assess_from_modules",
    "assess_kernel_config",
    "build_mapping",
    "parse_disk_map",
    "plan_kvm",
    "read_domain",
    "read_domain_file",
    "translate",
]
