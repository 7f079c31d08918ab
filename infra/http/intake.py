"""``POST /v1/touchpoints``: touchpoints over HTTP, decided as ``journey ingest`` decides them.

A body of JSON Lines (``application/x-ndjson``, ``application/jsonl``) or a JSON array
(``application/json``, see ``bodies``) goes to the file ingest's ``Ingestor``: its
touchpoints are decided in body order, in **one transaction** (the whole body is stored, or
nothing is), holding this process's writer lock and the store's, so the intake is one more
writer beside ``journey ingest`` and the Kafka consumer. The answer is contract 5's ingest
summary, one outcome per touchpoint and how fresh the views are; they reflect everything the
request accepted by the time it answers (as after ``journey ingest``).

- **Outcomes.** ``index`` is the touchpoint's 0-based position in the body (the array's
  index; in JSON Lines blank lines are skipped); ``reason`` and ``detail`` are null unless
  it was rejected. Each stored row's provenance is ``http:REQUEST:INDEX``, ``REQUEST`` the
  request's id (``request_id`` in the answer, ``X-Request-ID`` header), so a reject listed
  by ``journey rejects`` leads back to the request and the outcome.
- **Idempotent.** A retried body finds its accepted touchpoints as duplicates; sent with an
  ``Idempotency-Key`` it changes nothing at all, not even its rejects: the key, the body's
  SHA-256 and the answer are stored in the transaction that stores the decisions (the
  ingest runs table, source ``http:KEY``), and a request with a key already stored gets
  that first answer (its ``request_id`` too; ``Idempotent-Replayed: true``) with nothing
  decided again; the same key with another body is a 422. Keys are kept as long as the
  store. Without a key a retry re-decides its rejected lines (new reject rows that
  supersede the first ones, so the open rejects stay the same).
- **Statuses.** 413 a body over ``JOURNEY_HTTP_MAX_BODY``, 415 a media type, charset or
  encoding not taken, 400 an unreadable array or a bad key, 422 a key reused with another
  body, 503 (``Retry-After``) when the store cannot be written now; bad touchpoints are
  rejects, never an error status. An empty JSON Lines body (or ``[]``) decides nothing: 200.
- **Waiting.** Requests wait for their turn in the event loop, not in a thread: at most
  ``ADMITTED`` read or hold a body (the others wait unread, so memory holds a few bodies
  whatever the load), one decides at a time, and one brings the views up to date at a time;
  a request whose touchpoints an earlier catch-up already took answers without one (a burst
  of requests shares catch-ups), and the next request decides while one catches up. A
  catch-up that fails (the views cannot take an event, the database went away) does not
  undo the stored decisions: the answer says where the views are (``freshness``).
- **Size.** One body is one transaction, so ``JOURNEY_HTTP_MAX_BODY`` (16 MiB) also bounds
  what a request parses and decides at once (``journey ingest`` cuts batches at 8 MiB).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from journey.domain.errors import JourneyError
from journey.infra.http.access import Role, require
from journey.infra.http.bodies import BodyRefused, body_form, read_body, touchpoint_lines
from journey.infra.http.server import RETRY_AFTER, Engine, engine
from journey.infra.ingest import Ingestor, IngestSummary, Line, LineOutcome
from journey.infra.store import RejectRow, RunCheckpoint, StoreError
from journey.infra.store.errors import OPERATIONAL_KINDS, operational_failure
from journey.infra.views.projector import Projector, ViewFailed

log = structlog.get_logger("journey.http")

#: An ``Idempotency-Key``: 1 to 255 visible ASCII characters (a UUID is a good one).
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
#: Intake requests that may read or hold their body at once (one of them deciding); more
#: wait without being read, so memory holds at most this many bodies of the size limit.
ADMITTED = 4


class Outcome(BaseModel):
    """How one touchpoint of the body was decided."""

    index: int
    touchpoint_id: str | None
    outcome: Literal["accepted", "duplicate", "rejected"]
    reason: str | None
    detail: str | None


class IntakeAnswer(BaseModel):
    """Contract 5's ingest summary, one outcome per touchpoint, the request's id, and the
    views' freshness: ``view_position`` (the log position they reflect), ``log_head``, and
    ``stored_at`` (the log position once this request's decisions were stored: the views
    hold all it accepted when ``view_position >= stored_at``)."""

    request_id: str
    read: int
    accepted: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    outcomes: list[Outcome]
    freshness: dict[str, int]


class KeyReused(JourneyError):
    """An ``Idempotency-Key`` already answered a request with another body."""


@dataclass(frozen=True)
class _Body:
    """One request's touchpoints and what makes it idempotent."""

    request_id: str
    lines: list[Line]
    key: str | None
    sha256: str
    size: int
    #: Whose key it is (the token's name; ``-`` on an open server): one client's key never
    #: finds another's answer.
    holder: str = "-"


@dataclass
class _Decided:
    answer: dict[str, Any]
    summary: IngestSummary
    replayed: bool
    head: int  # the log's head once the decisions were stored


def answer_of(request_id: str, outcomes: list[LineOutcome]) -> dict[str, Any]:
    """The answer (without freshness) to a body whose touchpoints were decided so."""
    summary = IngestSummary(read=len(outcomes))
    for outcome in outcomes:
        if outcome.outcome == "accepted":
            summary.accepted += 1
        elif outcome.outcome == "duplicate":
            summary.duplicates += 1
        else:
            summary.rejected += 1
            summary.rejected_by_reason[outcome.reason or ""] += 1
    return {"request_id": request_id, **summary.as_json(), "outcomes": [
        {"index": index, "touchpoint_id": o.touchpoint_id, "outcome": o.outcome,
         "reason": o.reason, "detail": o.detail} for index, o in enumerate(outcomes)]}


class Intake:
    """One server's intake: one ``Ingestor`` (its aggregate cache serves every request),
    one ``Projector``, and the turns requests wait for in the event loop."""

    def __init__(self, served: Engine) -> None:
        self.engine = served
        settings = served.settings
        self.ingestor = Ingestor(served.application, settings.batch_size, settings.cache_size)
        self.projector: Projector | None = None
        #: Requests reading or holding a body: more wait, unread, so memory stays bounded.
        self.admitted = asyncio.Semaphore(ADMITTED)
        self.deciding = asyncio.Lock()
        self.settling = asyncio.Lock()
        #: The log position the views are known to have reached (they never go back).
        self.views_at = 0

    async def take(self, request: Request, form: str, request_id: str, key: str | None
                   ) -> _Decided:
        """Read the body and cut it into lines (in a worker thread), then decide it in turn."""
        try:
            data = await read_body(request.headers.get("content-length"), request.stream(),
                                   self.engine.settings.http_max_body)
        except ClientDisconnect as exc:  # nobody to answer; not the server's failure either
            raise BodyRefused(400, "body: the client went away before sending all of it") from exc
        body = _Body(request_id, await run_in_threadpool(touchpoint_lines, data, form), key,
                     hashlib.sha256(data).hexdigest(), len(data),
                     getattr(request.state, "token_name", None) or "-")
        del data  # the lines hold what is needed
        async with self.deciding:
            return await run_in_threadpool(self.decide, body)

    def decide(self, body: _Body) -> _Decided:
        """Decide and store the body's touchpoints in one transaction (in a worker thread,
        holding the writer locks); with a key already stored, the first answer instead."""
        recorder = self.engine.application.journey_recorder
        outcomes: list[LineOutcome] = []
        sources = [f"http:{body.request_id}:{index}" for index in range(len(body.lines))]
        first: list[RunCheckpoint] = []
        run = None if body.key is None else RunCheckpoint(
            body.request_id, f"http:{body.holder}:{body.key}", body.size, body.sha256, {},
            completed=True)

        def unanswered() -> list[bool]:  # under the store's writer lock: no race with a twin
            assert run is not None
            earlier = recorder.last_run(run.source)
            first[:] = [] if earlier is None else [earlier]
            return [earlier is None] * len(body.lines)

        def keep_answer(_rejects: list[tuple[int, RejectRow]]) -> None:
            assert run is not None  # stored with the decisions, in their transaction
            run.counts = answer_of(body.request_id, outcomes)

        with self.engine.writer:
            summary = self.ingestor.ingest_batch(
                body.lines, checkpoint=run, sources=sources, line_outcomes=outcomes,
                choose=None if run is None else unanswered,
                before_save=None if run is None else keep_answer)
            head = recorder.position()
        if first:
            if first[0].prefix_sha256 != body.sha256:
                raise KeyReused("Idempotency-Key: already used for a request with another body "
                                f"(request {first[0].run_id}); use a new key for a new body")
            return _Decided(first[0].counts, IngestSummary(), True, head)
        return _Decided(answer_of(body.request_id, outcomes), summary, False, head)

    def settle(self, head: int) -> dict[str, int]:
        """Bring the views up to at least ``head`` (unless a catch-up already did) and say
        where they are, and the log (other writers may have moved it on since ``head``); a
        failure is logged and leaves them behind (the decisions stay)."""
        recorder = self.engine.application.journey_recorder
        if self.views_at < head:
            start = recorder.position()
            folded = [start]

            def reached(_events: int, position: int) -> None:
                folded.append(position)

            try:
                if self.projector is None:
                    settings = self.engine.settings
                    self.projector = Projector(self.engine.application,
                                               settings.view_batch_size,
                                               settings.rebuild_worker_min)
                self.projector.catch_up(reached)
                self.views_at = max(self.views_at, *folded)  # it read the log to its end
            except ViewFailed as exc:
                log.error("views.failed", position=exc.position, error=str(exc.cause))
            except Exception as exc:
                failure = operational_failure(exc)
                if failure is None:
                    raise
                log.warning("intake.views_behind", failure=failure[0], error=failure[1])
        return {"view_position": self.views_at, "stored_at": head,
                "log_head": max(recorder.position(), self.views_at)}


def _intake(request: Request) -> Intake:
    """This app's intake, made with its first request (the engine exists from start-up)."""
    state = request.app.state
    found: Intake | None = getattr(state, "intake", None)
    if found is None:
        found = state.intake = Intake(engine(request))
    return found


def _refusal(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers=headers or None)


_BODY_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/x-ndjson": {"schema": {"type": "string"}, "example":
                             '{"touchpoint_id": "tp-1", "type": "part.received", '
                             '"occurred_at": "2026-03-01T10:00:00Z", "part_id": "P1", '
                             '"location": "WH1", "qty": 5}\n'},
    "application/jsonl": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
}}}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "an unreadable array body, or a bad Idempotency-Key"},
    413: {"description": "a body over JOURNEY_HTTP_MAX_BODY bytes"},
    415: {"description": "a Content-Type (or charset, Content-Encoding) not taken"},
    422: {"description": "an Idempotency-Key already used with another body"},
    503: {"description": "the store cannot be written now; retry after Retry-After seconds"},
}


def install(app: FastAPI) -> None:
    """Add ``POST /v1/touchpoints`` (role ``writer``)."""

    @app.post("/v1/touchpoints", tags=["intake (writer)"], openapi_extra=_BODY_DOC,
              summary="Decide touchpoints",
              dependencies=[Depends(require(Role.writer))],
              responses={200: {"model": IntakeAnswer}, **_REFUSALS})
    async def post_touchpoints(
        request: Request,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", description="makes a retry change nothing: a request "
            "with a key already answered gets the first answer (1-255 visible ASCII "
            "characters; a new key for each new body)")] = None,
    ) -> Response:
        """Decide touchpoints (JSON Lines, or a JSON array) as `journey ingest` does: in
        body order, one transaction; the answer is the ingest summary and one outcome per
        touchpoint, with the views current."""
        request_id = uuid.uuid4().hex[:16]
        ids = {"X-Request-ID": request_id}
        intake = _intake(request)
        try:
            if idempotency_key is not None and not _KEY.fullmatch(idempotency_key):
                raise BodyRefused(400, "Idempotency-Key: 1 to 255 visible ASCII characters")
            form = body_form(request.headers.get("content-type"),
                             request.headers.get("content-encoding"))
            async with intake.admitted:
                decided = await intake.take(request, form, request_id, idempotency_key)
        except BodyRefused as refused:
            return _refusal(refused.status, refused.detail, **ids)
        except KeyReused as exc:
            return _refusal(422, str(exc), **ids)
        except Exception as exc:
            return _unavailable(exc, request_id)
        intake.engine.metrics.decided(decided.summary)
        async with intake.settling:
            freshness = await run_in_threadpool(intake.settle, decided.head)
        log.info("intake.decided", request_id=request_id, replayed=decided.replayed,
                 **decided.summary.as_json())
        content = json.dumps({**decided.answer, "freshness": freshness}, separators=(",", ":"))
        headers = {**ids, **({"Idempotent-Replayed": "true"} if decided.replayed else {})}
        return Response(content, media_type="application/json", headers=headers)


def _unavailable(exc: Exception, request_id: str) -> Response:
    """503 with ``Retry-After`` when the store could not take the request (nothing of it
    was stored: the decisions commit together or not at all); anything else goes on up."""
    failure = operational_failure(exc)
    if failure is None and not isinstance(exc, StoreError):
        raise exc
    detail = str(exc) if failure is None else f"{OPERATIONAL_KINDS[failure[0]]}: {failure[1]}"
    log.warning("intake.refused", request_id=request_id, error=detail)
    return _refusal(503, detail + "; nothing of this request was stored",
                    **{"X-Request-ID": request_id, "Retry-After": str(RETRY_AFTER)})
