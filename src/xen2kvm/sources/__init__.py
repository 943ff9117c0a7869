"""Where a guest comes from: one module per kind of source (see :mod:`.base`)."""
