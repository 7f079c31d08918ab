"""Reading an input as lines: streamed, counted and hashed, so a file ingest can resume."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO

from journey.domain.errors import JourneyError


class IngestError(JourneyError):
    """The input cannot be read."""


class LineSource:
    """Non-blank lines of a byte stream, without terminators, streamed (memory: one line).

    It counts the bytes consumed and hashes them, so a file ingest can checkpoint
    ``(offset, sha256 of everything before it)`` and a re-run can check that it is
    resuming the very same bytes.
    """

    def __init__(self, stream: IO[bytes], name: str | None = None) -> None:
        self.stream = stream
        self.name = name  # set for files: enables resuming an interrupted run
        self.offset = 0
        self._sha = hashlib.sha256()

    @property
    def prefix_sha256(self) -> str:
        return self._sha.copy().hexdigest()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for raw in self.stream:
                self.offset += len(raw)
                self._sha.update(raw)
                line = raw
                if line.endswith(b"\n"):
                    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
                if line.strip():
                    yield line
        except OSError as exc:
            raise IngestError(f"cannot read input: {exc}") from exc

    def skip_prefix(self, size: int, sha256: str) -> bool:
        """Consume the first ``size`` bytes if they hash to ``sha256``; else rewind, False."""
        sha = hashlib.sha256()
        left = size
        while left > 0:
            chunk = self.stream.read(min(left, 1 << 20))
            if not chunk:
                break
            sha.update(chunk)
            left -= len(chunk)
        if left == 0 and sha.hexdigest() == sha256:
            self.offset, self._sha = size, sha
            return True
        self.stream.seek(0)
        return False


def read_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Non-blank lines of a stream without their terminator."""
    return iter(LineSource(stream))
