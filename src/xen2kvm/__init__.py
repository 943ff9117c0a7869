"""xen2kvm: move Linux guests from Xen to KVM.

Inspect a guest and say what would break on KVM, convert it in place (transactionally, with
rollback), translate its Xen domain configuration, check kernels, and prove the result boots.
"""

__version__ = "0.1.0"
