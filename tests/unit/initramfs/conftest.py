"""Fixtures for the initramfs tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from initramfs_helpers import make_tree


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[dict[str, bytes | str | None]], Path]:
    counter = iter(range(1000))

    def build(files: dict[str, bytes | str | None]) -> Path:
        return make_tree(tmp_path / f"tree{next(counter)}", files)

    return build
