"""Round-trip parsers for the guest configuration files xen2kvm reads and edits.

Every editable format parses to a model whose ``render()`` gives the input back byte for byte
when nothing was changed (comments, blank lines, spacing and unknown lines are kept), so a
rewritten file differs from the original only where an edit was made. Parsers never execute
anything and take already-bounded text; on any text they return a model or raise
:class:`xen2kvm.errors.ParseError` (most line formats accept every text).

Modules: ``shellvars`` (/etc/default/grub, ifcfg, mkinitcpio.conf, dracut.conf, sysconfig),
``cmdline`` (kernel command lines), ``fstab`` (fstab, crypttab), ``devref`` (device
references, /dev/xvd* finder), ``grub_legacy`` (menu.lst, grub.conf), ``grub2`` (grub.cfg,
/etc/default/grub helpers), ``bls`` (BLS entries, /etc/kernel/cmdline), ``inittab``,
``linelist`` (securetty, initramfs-tools modules, /etc/modules), ``udev`` (rules, persistent
net pins), ``modprobe``, ``interfaces`` (ifupdown), ``osrelease``, ``mdadm``, ``devicemap``;
read-only: ``netplan``, ``ini`` (systemd-networkd .network/.link, NetworkManager keyfiles).
"""
