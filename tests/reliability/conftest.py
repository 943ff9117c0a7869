"""Fixtures of the reliability suite: host canaries shared by every test, checked at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import Canaries


@pytest.fixture(scope="session")
def canaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canaries]:
    """Host files (outside every guest) that no test may see in an output or find changed."""
    c = Canaries.create(tmp_path_factory.mktemp("host-canaries"))
    yield c
    assert c.problems() == [], "a host canary was touched during the reliability suite"


@pytest.fixture
def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (device nodes, tmpfs mounts)")


def guest_root(tmp_path: Path, name: str = "guest") -> Path:
    return tmp_path / name
