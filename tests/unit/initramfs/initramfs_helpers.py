"""Helpers for the initramfs tests: real archives from the real `cpio` and compressor CLIs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Each compressor CLI as a user (or a generator) would run it, reading stdin.
COMPRESSORS: dict[str, list[str]] = {
    "gzip": ["gzip", "-9", "-n", "-c"],
    "xz": ["xz", "--check=crc32", "-c"],
    "lzma": ["xz", "--format=lzma", "-c"],
    "bzip2": ["bzip2", "-c"],
    "zstd": ["zstd", "-q", "-c"],
    "lz4-legacy": ["lz4", "-l", "-q", "-c"],
    "lz4-frame": ["lz4", "-q", "-c"],
}


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (tools/debian-packages.txt lists it)")


def make_tree(root: Path, files: dict[str, bytes | str | None]) -> Path:
    """files: relative path -> bytes (file), 'link:TARGET' str (symlink), None (dir)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            p.mkdir(exist_ok=True)
        elif isinstance(content, str) and content.startswith("link:"):
            os.symlink(content[5:], p)
        else:
            p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def cpio_newc(root: Path, fmt: str = "newc") -> bytes:
    """A real `cpio -o -H newc` archive of everything under root (sorted, relative names)."""
    need("cpio")
    names = subprocess.run(
        ["find", ".", "-mindepth", "1"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.split()
    listing = "\n".join(sorted(names)) + "\n"
    return subprocess.run(
        ["cpio", "-o", "-H", fmt, "--quiet", "-R", "0:0"],
        cwd=root,
        input=listing.encode(),
        check=True,
        capture_output=True,
    ).stdout


def compress_cli(name: str, data: bytes) -> bytes:
    cmd = COMPRESSORS[name]
    need(cmd[0])
    return subprocess.run(cmd, input=data, check=True, capture_output=True).stdout
