from xen2kvm.cli import run

run()
