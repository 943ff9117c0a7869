"""Where a converted guest goes: one module per kind of target (see :mod:`.base`)."""
