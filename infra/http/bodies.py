"""An intake body as touchpoint lines: its media type, its bytes read up to a limit, and its
lines (JSON Lines, or the elements of a JSON array with their exact bytes).

What is wrong with a body as a whole is a ``BodyRefused`` with the HTTP status that says so
(413 too large, 415 a media type or encoding we do not take, 400 unreadable); what is wrong
with one touchpoint is not: it is that line's reject, as in a file.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator

from journey.domain.errors import JourneyError
from journey.infra.ingest import Line, LineSource
from journey.schemas.parsing import MAX_LINE_BYTES, OversizeLine

#: The media types of each body form (parameters aside); ``charset``, when given, is UTF-8.
JSON_LINES = ("application/x-ndjson", "application/jsonl")
JSON_ARRAY = "application/json"
ACCEPTED = "application/x-ndjson or application/jsonl (JSON Lines), application/json (an array)"

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's (RFC 8259)
#: Only finds where each element ends: numbers stay text (no digit limit, no NaN refusal),
#: so what is wrong inside an element is left to the contract's parser (a reject).
_BOUNDS = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)
_STRUCTURE = re.compile(r'["\[\]{}]')


class BodyRefused(JourneyError):
    """The body as a whole cannot be taken; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def body_form(content_type: str | None, content_encoding: str | None) -> str:
    """``"lines"`` or ``"array"``, the form a ``Content-Type`` announces (415 otherwise:
    none, another type, a charset but UTF-8, or a ``Content-Encoding`` but identity)."""
    if content_encoding and content_encoding.strip().lower() != "identity":
        raise BodyRefused(415, f"Content-Encoding: not supported (got {content_encoding[:40]!r});"
                          " send the body uncompressed")
    if not content_type:
        raise BodyRefused(415, f"Content-Type: missing; send {ACCEPTED}")
    media, *parameters = (part.strip().lower() for part in content_type.split(";"))
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise BodyRefused(415, f"Content-Type: the body must be UTF-8 (got {parameter!r})")
    if media in JSON_LINES:
        return "lines"
    if media == JSON_ARRAY:
        return "array"
    raise BodyRefused(415, f"Content-Type: {media[:60]!r} is not taken; send {ACCEPTED}")


async def read_body(declared: str | None, stream: AsyncIterator[bytes], limit: int) -> bytes:
    """The body, at most ``limit`` bytes: a ``Content-Length`` above it is refused before
    anything is read, and a body sent without one is counted as it arrives (413 as soon as
    it passes the limit), so memory never holds more than the limit."""
    declared = None if declared is None else declared.strip()
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, f"{int(declared):,} bytes declared")
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "more were sent")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, got: str) -> BodyRefused:
    return BodyRefused(413, f"body: over the limit of {limit:,} bytes ({got}); send fewer "
                       "touchpoints per request (JOURNEY_HTTP_MAX_BODY sets the limit)")


#: The most touchpoints one request may hold (413 beyond): a request is one transaction,
#: decided under the store's writer lock, so a body of tiny lines (16 MiB of ``1``) must not
#: hold every other writer for minutes nor its outcomes take gigabytes.
MAX_TOUCHPOINTS = 10_000


def _too_many() -> BodyRefused:
    return BodyRefused(413, f"body: more than {MAX_TOUCHPOINTS:,} touchpoints in one request; "
                       "send them in several")


def touchpoint_lines(body: bytes, form: str) -> list[Line]:
    """The body's touchpoints as lines, in body order, as the ``Ingestor`` takes them.

    JSON Lines are split as a file's are (``LineSource``: blank lines skipped, one over
    ``MAX_LINE_BYTES`` kept as an ``OversizeLine``, anything else decided, so a bad line is
    a reject and never a 400). An array's elements are its touchpoints, each the exact bytes
    it had in the body (whitespace inside it kept): a reject stores the element as sent."""
    if form == "lines":
        lines: list[Line] = []
        for line in LineSource(io.BytesIO(body)):
            if len(lines) == MAX_TOUCHPOINTS:
                raise _too_many()
            lines.append(line)
        return lines
    return array_elements(body)


def array_elements(body: bytes) -> list[Line]:
    """The elements of a JSON array body, each its exact bytes (400: not UTF-8, not an
    array, or not valid JSON between or around the elements)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(400, f"body: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    start = 1 if text.startswith("\ufeff") else 0  # a byte order mark, which RFC 8259 allows
    at = _skip(text, start)
    if at == len(text):
        raise BodyRefused(400, "body: empty; send a JSON array of touchpoints ([] for none)")
    if text[at] != "[":
        raise BodyRefused(400, f"body: not a JSON array (it starts with {text[at]!r}); send "
                          "the touchpoints inside [ ], or as JSON Lines")
    elements: list[Line] = []
    at = _skip(text, at + 1)
    if text.startswith("]", at):
        at += 1
    else:
        while True:
            end = _element_end(text, at, len(elements))
            raw = text[at:end].encode("utf-8")
            if len(elements) == MAX_TOUCHPOINTS:
                raise _too_many()
            elements.append(raw if len(raw) <= MAX_LINE_BYTES else OversizeLine.of(raw))
            at = _skip(text, end)
            if text.startswith(",", at):
                at = _skip(text, at + 1)
            elif text.startswith("]", at):
                at += 1
                break
            else:
                raise _bad(text, at, f"',' or ']' expected after element {len(elements) - 1}")
    if _skip(text, at) != len(text):
        raise _bad(text, _skip(text, at), "nothing may follow the array's ']'")
    return elements


def _skip(text: str, at: int) -> int:
    found = _WHITESPACE.match(text, at)
    return at if found is None else found.end()


def _element_end(text: str, at: int, index: int) -> int:
    """Where the element starting at ``at`` ends. One nested too deeply for the decoder is
    bounded by its brackets, so it is a reject (as such a line is), not a 400."""
    try:
        return int(_BOUNDS.raw_decode(text, at)[1])
    except json.JSONDecodeError as exc:
        raise _bad(text, exc.pos, f"element {index}: {exc.msg}") from exc
    except RecursionError:
        return _bracketed_end(text, at, index)


def _bracketed_end(text: str, at: int, index: int) -> int:
    """The end of a deeply nested element found by its brackets and strings alone."""
    depth = 0
    position = at
    while found := _STRUCTURE.search(text, position):
        position = found.end()
        mark = found.group()
        if mark == '"':
            try:
                position = json.decoder.scanstring(text, position)[1]  # type: ignore[attr-defined]
            except json.JSONDecodeError as exc:
                raise _bad(text, exc.pos, f"element {index}: {exc.msg}") from exc
            continue
        depth += 1 if mark in "[{" else -1
        if depth == 0:
            return position
    raise _bad(text, len(text), f"element {index}: not closed")


def _bad(text: str, at: int, what: str) -> BodyRefused:
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    return BodyRefused(400, f"body: not a valid JSON array: {what} (line {line}, column "
                       f"{column})")
