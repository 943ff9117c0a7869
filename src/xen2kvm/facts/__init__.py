"""Facts: read-only, typed descriptions of a guest, gathered once and shared by every check.

Like pyinfra's facts, a fact reads and parses and never changes anything. Unreadable files
(symlink loops, FIFOs, huge files) do not raise: they are collected in ``problems`` so that
inspect can report them as findings while describing the rest of the guest.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from xen2kvm.facts.boot import BootFacts, gather_boot
from xen2kvm.facts.console import ConsoleFacts, gather_console
from xen2kvm.facts.kernels import (
    GeneratorConfig,
    KernelFacts,
    gather_generator_config,
    gather_kernels,
    with_initramfs,
)
from xen2kvm.facts.network import NetworkFacts, gather_network
from xen2kvm.facts.storage import StorageFacts, gather_storage
from xen2kvm.facts.system import SystemFacts, gather_system
from xen2kvm.facts.xen import XenFacts, gather_xen
from xen2kvm.guest.base import FilesystemInfo, Guest

__all__ = ["GuestFacts", "gather_facts"]


@dataclass(frozen=True)
class GuestFacts:
    guest: str
    backend: str
    system: SystemFacts
    boot: BootFacts
    storage: StorageFacts
    kernels: list[KernelFacts]
    #: Version of the kernel the default boot entry starts (None if not found in the guest).
    default_kernel: str | None
    generator: GeneratorConfig
    console: ConsoleFacts
    network: NetworkFacts
    xen: XenFacts
    filesystems: list[FilesystemInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def kernel(self, version: str | None) -> KernelFacts | None:
        return next((k for k in self.kernels if k.version == version), None)


def _default_kernel(boot: BootFacts, kernels: list[KernelFacts]) -> str | None:
    entry = boot.default_entry
    if entry is not None and entry.kernel_path:
        for k in kernels:
            if k.image == entry.kernel_path:
                return k.version
        name = posixpath.basename(entry.kernel_path)
        for k in kernels:
            if name.endswith(k.version) or (k.pkgbase and name.endswith(k.pkgbase)):
                return k.version
    # No bootloader config (e.g. a host kernel was used on Xen): the newest installed kernel.
    return kernels[-1].version if kernels else None


def gather_facts(guest: Guest, *, read_initramfs: bool = True) -> GuestFacts:
    """Every fact about ``guest``. ``read_initramfs``: also read the default kernel's
    initramfs (decompressing tens of MB; needed to know which drivers it carries)."""
    system = gather_system(guest)
    boot = gather_boot(guest)
    cmdlines = [e.cmdline for b in boot.bootloaders for e in b.entries]
    if boot.grub_defaults_cmdline:
        cmdlines.append(boot.grub_defaults_cmdline)
    storage = gather_storage(guest, boot)
    kernels = gather_kernels(guest)
    default = _default_kernel(boot, kernels)
    if read_initramfs and default is not None:
        # Read the initramfs only now that we know which kernel boots (one decompression).
        kernels = with_initramfs(guest, kernels, default)
    console = gather_console(guest, system, cmdlines)
    network = gather_network(guest, system, cmdlines)
    xen = gather_xen(guest, system, cmdlines)
    generator = gather_generator_config(guest)
    problems: list[str] = []
    for part in (system, boot, storage, console, network, xen, generator):
        problems += part.problems
    for k in kernels:
        problems += k.problems
    return GuestFacts(
        guest=guest.name,
        backend=guest.backend,
        system=system,
        boot=boot,
        storage=storage,
        kernels=kernels,
        default_kernel=default,
        generator=generator,
        console=console,
        network=network,
        xen=xen,
        filesystems=guest.filesystems(),
        problems=list(dict.fromkeys(problems)),
    )
