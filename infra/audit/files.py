"""The files an export is written to and read from: regular files only, created ``0600``.

An export holds customer data, so it is written only to a regular file (or to a stream
the caller hands over, e.g. standard output) and created with mode ``0600`` (a stricter
umask makes it stricter still). It is written to a temporary file beside the target
(created exclusively, never through a link), flushed to disk, then moved into place:
a file under the target name is always a whole export. What is already at the target
decides what happens:

* nothing: the export is linked into place, never over a file created meanwhile;
* a regular file: replaced only with ``force`` (``journey export --force``);
* a symbolic link, a directory, a FIFO, a device or a socket: refused, untouched (a link
  is not followed either: renaming over it would replace the link, and following it
  would write where the name does not say).

Reading (``journey verify-export``) takes a regular file, following links, or standard
input (``-``), which is spooled to an unnamed temporary file when it cannot seek.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from journey.domain.errors import JourneyError


class ExportError(JourneyError):
    """An export cannot be made or read (bad arguments, unreadable store event, I/O)."""


def kind_of(mode: int) -> str:
    """What a file of ``mode`` (``st_mode``) is, for messages: "a directory", "a FIFO"..."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


#: Who writes, and what else the user may do, in the messages of a refused target.
EXPORT = ("export", "-o - writes to standard output")


def check_target(target: Path, *, force: bool, writer: tuple[str, str] = EXPORT) -> None:
    """Refuse a target an export (or ``writer``) must not be written over (see the module's
    rules); ``writer`` is who writes and what else the user may do, for the messages."""
    who, instead = writer
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(mode):
        raise ExportError(f"{target} is a symbolic link: {who} writes only regular files "
                          "and does not follow links (give the path it points to)")
    if not stat.S_ISREG(mode):
        raise ExportError(f"{target} is {kind_of(mode)}: {who} writes only regular files "
                          f"({instead})")
    if not force:
        raise ExportError(f"{target} exists: use --force to replace it")


@contextmanager
def atomic_output(target: Path, *, force: bool, writer: tuple[str, str] = EXPORT
                  ) -> Iterator[BinaryIO]:
    """A new ``0600`` file beside ``target``; moved into place when the block completes,
    removed when it fails. ``ExportError`` for a refused target or an I/O error.
    ``journey report`` writes its page through it too (``writer``: see ``check_target``)."""
    if not target.name:
        raise ExportError(f"{str(target)!r} names no file: give a file name "
                          f"({writer[1]})")
    check_target(target, force=force, writer=writer)
    try:
        # O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600 (minus the umask): a fresh file of ours.
        fd, partial = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".partial",
                                       dir=target.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        _place(Path(partial), target, force=force, writer=writer)
        _sync_directory(target.parent)
    except OSError as exc:
        Path(partial).unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _place(partial: Path, target: Path, *, force: bool, writer: tuple[str, str]) -> None:
    if force:
        check_target(target, force=True, writer=writer)  # still a regular file (or nothing)
        partial.replace(target)
        return
    try:
        os.link(partial, target)  # fails if anything appeared at the target meanwhile
    except FileExistsError:
        raise ExportError(f"{target} exists: use --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        check_target(target, force=False)  # a file system without hard links
        partial.replace(target)
        return
    partial.unlink()


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: not every file system syncs a directory)."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_regular(path: str) -> BinaryIO:
    """``path`` opened for reading, if it is (or links to) a regular file.

    Opened without blocking first, so a FIFO with no writer is refused, not waited on.
    """
    if not path:
        raise ExportError("'' names no file: give an export file (or - for standard input)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ExportError(f"{path} is {kind_of(mode)}: verify-export reads a regular file "
                          "(or - for standard input)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def seekable_stdin() -> BinaryIO:
    """Standard input as a seekable binary stream: itself when it is a regular file, else
    its bytes spooled into an unnamed ``0600`` temporary file (a pipe cannot seek)."""
    stdin = sys.stdin.buffer
    if os.isatty(stdin.fileno()):
        raise ExportError("standard input is a terminal: pipe or redirect an export into "
                          "verify-export -")
    if stat.S_ISREG(os.fstat(stdin.fileno()).st_mode):
        return os.fdopen(os.dup(stdin.fileno()), "rb")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned open, closed by the caller)
    try:
        shutil.copyfileobj(stdin, spool, 1 << 20)
        spool.seek(0)
    except OSError as exc:
        spool.close()
        raise ExportError(f"cannot read standard input: {exc.strerror or exc}") from exc
    return spool
