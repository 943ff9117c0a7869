"""Reading a guest for facts: absent files are simply absent, unreadable ones are problems.

Facts describe a guest, hostile or not, without raising: a symlink loop, a FIFO or a 2 GB file
where a configuration file should be becomes a line in ``problems`` (which the inspect command
reports as a finding) and the fact carries on as if the file were absent.
"""

from __future__ import annotations

from xen2kvm.errors import GuestFileNotFound, GuestPathError
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, FileKind, FileStat, Guest


def _absent(err: GuestPathError) -> bool:
    """A missing file, or a path through a regular file (/etc/sysconfig/network is a file on
    RHEL and a directory on SUSE): nothing there, and nothing hostile either."""
    return isinstance(err, GuestFileNotFound) or (
        type(err) is GuestPathError and err.reason.endswith("not a directory")
    )


#: Bound for a configuration file read by facts: none we read is legitimately this large.
CONFIG_LIMIT = DEFAULT_READ_LIMIT


class FactReader:
    """Bounded, non-raising reads of one guest, collecting problems as it goes."""

    def __init__(self, guest: Guest) -> None:
        self.guest = guest
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def text(self, path: str, *, limit: int = CONFIG_LIMIT) -> str | None:
        """A text file's content; None if absent or unreadable (the latter recorded)."""
        try:
            data = self.guest.read_bytes_if_exists(path, limit=limit)
        except GuestPathError as err:
            if not _absent(err):
                self.problem(str(err))
            return None
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def lstat(self, path: str) -> FileStat | None:
        try:
            return self.guest.lstat_if_exists(path)
        except GuestPathError as err:
            if not _absent(err):
                self.problem(str(err))
            return None

    def stat(self, path: str) -> FileStat | None:
        try:
            return self.guest.stat_if_exists(path)
        except GuestPathError as err:
            if not _absent(err):
                self.problem(str(err))
            return None

    def exists(self, path: str) -> bool:
        """True if ``path`` exists, following symlinks (a dangling link does not exist)."""
        return self.stat(path) is not None

    def lexists(self, path: str) -> bool:
        """True if ``path`` itself exists (a dangling symlink counts)."""
        return self.lstat(path) is not None

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.kind is FileKind.DIR

    def is_file(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.kind is FileKind.FILE

    def readlink(self, path: str) -> str | None:
        """The stored target of a symlink; None if ``path`` is absent or not a link."""
        st = self.lstat(path)
        if st is None or st.kind is not FileKind.SYMLINK:
            return None
        try:
            return self.guest.readlink(path)
        except GuestPathError as err:
            self.problem(str(err))
            return None

    def realpath(self, path: str) -> str | None:
        """Where ``path`` leads inside the guest; None on a loop (recorded) or if absent."""
        try:
            return self.guest.realpath(path)
        except GuestPathError as err:
            if not _absent(err):
                self.problem(str(err))
            return None

    def listdir(self, path: str) -> list[str]:
        """Names in a directory; [] if absent or not a directory. A loop is recorded."""
        st = self.stat(path)
        if st is None or st.kind is not FileKind.DIR:
            return []
        try:
            return self.guest.listdir(path)
        except GuestPathError as err:
            if not _absent(err):
                self.problem(str(err))
            return []

    def files(self, directory: str, suffix: str = "") -> list[str]:
        """Paths of the entries of ``directory`` ending in ``suffix``, sorted by name."""
        base = directory.rstrip("/")
        return [f"{base}/{n}" for n in self.listdir(directory) if n.endswith(suffix)]
