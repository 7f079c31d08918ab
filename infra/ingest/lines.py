"""Reading an input as lines: streamed, counted and hashed, so a file ingest can resume.

Memory stays bounded whatever the input: a line longer than ``MAX_LINE_BYTES`` is never held
whole; it is read on in chunks, hashed and measured, and handed on as an ``OversizeLine``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO

from journey.domain.errors import JourneyError
from journey.schemas.parsing import KEPT_PREFIX_BYTES, MAX_LINE_BYTES, OversizeLine

#: JSON's whitespace (RFC 8259): a line holding only these is blank. Vertical tab and form
#: feed are not among them: a line of them is not JSON (``invalid_json``).
JSON_WHITESPACE = b" \t\r\n"

_CHUNK = 1 << 20
#: One read takes at most this much: a line at the limit, and its ``\r\n``.
_READ_LIMIT = MAX_LINE_BYTES + 2

#: What a ``LineSource`` yields: a line without its terminator, or an oversized line's summary.
Line = bytes | OversizeLine


class IngestError(JourneyError):
    """The input cannot be read."""


class LineSource:
    """Non-blank lines of a byte stream, without terminators, streamed (memory: one line of
    at most ``MAX_LINE_BYTES``; longer ones come as ``OversizeLine``).

    It counts the bytes consumed and hashes them, so a file ingest can checkpoint
    ``(offset, sha256 of everything before it)`` and a re-run can check that it is
    resuming the very same bytes.

    It also counts physical lines (blank ones too), so each line it yields has a
    **provenance**, ``LABEL:LINE`` (``touchpoints.jsonl:12``; ``-:12`` for standard input),
    stored with the line's reject or accepted touchpoint. ``label`` defaults to ``name``,
    else ``-``.
    """

    def __init__(self, stream: IO[bytes], name: str | None = None, *,
                 label: str | None = None) -> None:
        self.stream = stream
        self.name = name  # set for files: enables resuming an interrupted run
        self.label = label if label is not None else name if name is not None else "-"
        self.offset = 0
        #: Physical lines consumed so far (a last line without terminator counts).
        self.lines = 0
        #: The physical line number of the line yielded last (an oversize line: its first).
        self.line_number = 0
        self._sha = hashlib.sha256()
        self._at_line_start = True

    @property
    def provenance(self) -> str:
        """Where the line yielded last came from: ``LABEL:LINE``."""
        return f"{self.label}:{self.line_number}"

    @property
    def prefix_sha256(self) -> str:
        return self._sha.copy().hexdigest()

    def __iter__(self) -> Iterator[Line]:
        readline = self.stream.readline
        try:
            while raw := readline(_READ_LIMIT):
                self.line_number = self.lines + 1
                self._consumed(raw)
                if len(raw) == _READ_LIMIT and not raw.endswith(b"\n"):
                    oversize = self._oversize(raw)
                    if oversize is not None:
                        yield oversize
                    continue
                line = raw
                if line.endswith(b"\n"):
                    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
                if line.strip(JSON_WHITESPACE):
                    yield line
        except OSError as exc:
            raise IngestError(f"cannot read input: {exc}") from exc

    def _consumed(self, raw: bytes) -> None:
        self.offset += len(raw)
        self._sha.update(raw)
        self._count_lines(raw)

    def _count_lines(self, data: bytes) -> None:
        """Count the lines ``data`` (the next bytes of the input) starts or ends."""
        if not data:
            return
        if self._at_line_start:
            self.lines += 1  # a line begins here (ended by \n, or by the end of the input)
        self.lines += data.count(b"\n", 0, len(data) - 1)  # each inner \n starts another
        self._at_line_start = data.endswith(b"\n")

    def _oversize(self, first: bytes) -> OversizeLine | None:
        """Read the rest of a line that is over the limit, keeping only what its reject needs
        (``None``: it was blank, however long)."""
        sha, length, held, blank = hashlib.sha256(), 0, b"", True
        chunk = first
        while True:
            data, held = held + chunk, b""
            if data.endswith(b"\n"):  # the line ends here: its terminator is not the line's
                data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
            elif data.endswith(b"\r"):  # maybe the first half of a \r\n split across reads
                data, held = data[:-1], b"\r"
            sha.update(data)
            length += len(data)
            blank = blank and not data.strip(JSON_WHITESPACE)
            if chunk.endswith(b"\n"):
                break
            chunk = self.stream.readline(_CHUNK)
            if not chunk:  # end of input without a terminator: a held \r is the line's
                sha.update(held)
                length += len(held)
                break
            self._consumed(chunk)
        if blank:
            return None
        return OversizeLine(first[:KEPT_PREFIX_BYTES], length, sha.hexdigest())

    def skip_prefix(self, size: int, sha256: str) -> bool:
        """Consume the first ``size`` bytes if they hash to ``sha256``; else rewind, False."""
        sha = hashlib.sha256()
        left = size
        while left > 0:
            chunk = self.stream.read(min(left, _CHUNK))
            if not chunk:
                break
            sha.update(chunk)
            self._count_lines(chunk)
            left -= len(chunk)
        if left == 0 and sha.hexdigest() == sha256:
            self.offset, self._sha = size, sha
            return True
        self.stream.seek(0)
        self.lines, self._at_line_start = 0, True
        return False


def kafka_provenance(topic: str, partition: int, offset: int) -> str:
    """The provenance of a Kafka message: ``kafka:TOPIC/PARTITION@OFFSET``. (Reserved for
    a later HTTP door: ``http:REQUEST_ID``.)"""
    return f"kafka:{topic}/{partition}@{offset}"


def read_lines(stream: IO[bytes]) -> Iterator[Line]:
    """Non-blank lines of a stream without their terminator."""
    return iter(LineSource(stream))
