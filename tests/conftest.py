"""Shared fixtures. Built-guest fixtures live in tests/guests.py (imported here)."""

from tests.guests import (  # noqa: F401
    dracut_guest,
    partitioned_guest,
    reference_guest,
    reference_image,
    sysvinit_guest,
    verify_env,
)
