"""The exception hierarchy of xen2kvm.

Every error the tool reports to a user derives from :class:`Xen2KvmError`. Lower-level errors
(OSError, guestfs.GuestFSException, parse failures) are translated at the boundary with
``raise ... from``, so callers only ever catch this family. Each class carries the CLI exit code
it maps to; the codes are documented in the README.
"""

from __future__ import annotations


class ExitCode:
    """Process exit codes shared by every command."""

    OK = 0  # success / guest ready / verify passed
    FINDINGS = 1  # inspect found problems; convert left blocking findings; verify failed
    ERROR = 2  # bad input, unreadable guest, usage error
    REFUSED = 3  # the tool refuses to act (e.g. no KVM-capable kernel) unless forced
    INTERNAL = 70  # a bug: an unexpected exception


class Xen2KvmError(Exception):
    """Base of every error xen2kvm reports. ``str(err)`` is one line for the user."""

    exit_code: int = ExitCode.ERROR


class UsageError(Xen2KvmError):
    """Conflicting or invalid options."""


class GuestError(Xen2KvmError):
    """Problem with a guest as a whole: missing, not a guest, corrupt image, no OS."""


class GuestPathError(Xen2KvmError):
    """A path inside the guest cannot be used: loop, wrong type, too large, missing."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class GuestFileNotFound(GuestPathError):
    def __init__(self, path: str) -> None:
        super().__init__(path, "no such file in the guest")


class GuestSymlinkLoop(GuestPathError):
    def __init__(self, path: str) -> None:
        super().__init__(path, "too many levels of symbolic links (loop?)")


class GuestNotAFile(GuestPathError):
    """The path is a FIFO, socket, device node or directory where a regular file was expected."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(path, f"is a {kind}, not a regular file")
        self.kind = kind


class GuestFileTooLarge(GuestPathError):
    def __init__(self, path: str, limit: int) -> None:
        super().__init__(path, f"larger than the {limit}-byte limit for this file")
        self.limit = limit


class GuestReadOnly(Xen2KvmError):
    """A write was attempted on a guest opened read-only."""


class ParseError(Xen2KvmError):
    """Malformed input. ``where`` names the file and, if known, line and column."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "<input>",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = source
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")
        self.message = message
        self.source = source
        self.line = line
        self.column = column


class RefusedError(Xen2KvmError):
    """The tool will not act because the result could not work (override with --force)."""

    exit_code = ExitCode.REFUSED


class TransactionError(Xen2KvmError):
    """Applying or rolling back changes failed; the message says what state the guest is in."""


class VerifyError(Xen2KvmError):
    """The boot check could not be run (not: the guest failed to boot, that is a verdict)."""
