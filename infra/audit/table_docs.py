"""What every SQL table and column of a store means: the one place these words live.

``docs/tables.md`` is generated from them and from the real schema of fresh stores
(``python -m journey.infra.audit.reference``); a test fails when a table or column exists
without a description here, when a description names nothing that exists, or when the file
is stale. A new column is one more line in its table's ``columns``; a new table one more
entry (its key: the table's name on SQLite; ``postgres_name`` when PostgreSQL's differs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableDoc:
    """A table's description (``about``) and one per column, in the order worth reading."""

    about: str
    columns: dict[str, str]
    postgres_name: str | None = None


_TIME = "when the row was written (record time), RFC 3339 in UTC"
_SOURCE = ("where the line came from: `FILE:LINE` (`-:LINE` for standard input), "
           "`kafka:TOPIC/PARTITION@OFFSET`; NULL when the caller did not say (and in rows "
           "written before provenance was kept)")

#: Every table of a store, grouped by who owns it (the key's prefix: ``journey_``, ``view_``,
#: else the eventsourcing library), each group in reading order.
TABLES: dict[str, TableDoc] = {
    # --- the event log: eventsourcing's tables ------------------------------------------------
    "stored_events": TableDoc(
        "The event log: one row per domain event, appended in the transaction that decided its "
        "touchpoint and never changed. The log position (notification id) orders it.",
        {
            "originator_id": "the aggregate (an order, invoice, case, repair, or a part at a "
                             "location) the event belongs to: a UUID (SQLite: 32 hex digits)",
            "originator_version": "the event's number within its aggregate, from 1",
            "topic": "the event's class, e.g. `journey.domain.orders:Order.Placed`",
            "state": "the event's attributes as UTF-8 JSON (the library's transcoding): "
                     "`touchpoint_id`, `occurred_at`, `customer_id`, the type's fields",
            "notification_id": "the log position, from 1, gap-free on SQLite; PostgreSQL may "
                               "skip numbers (a rolled-back insert uses them). SQLite keeps it "
                               "as the row's `rowid` (`SELECT rowid, * FROM stored_events`)",
        },
        postgres_name="journey_events",
    ),
    "tracking": TableDoc(
        "Where each view has got to in the log, written in the view's own transaction "
        "(exactly once). Rows `view:touchpoints`, `view:stock` and `view:service`; a rebuild "
        "or an `audit replay` tracks its scratch tables under the same names with a suffix; "
        "the library's `__migration__` row records its table format.",
        {
            "application_name": "the projection (`view:touchpoints`, `view:stock`, "
                                "`view:service`)",
            "notification_id": "the last log position folded into it (the views reflect the "
                               "log up to here)",
        },
        postgres_name="notification_tracking",
    ),
    # --- the engine's bookkeeping, written with the events of each batch ----------------------
    "journey_touchpoints": TableDoc(
        "One row per accepted touchpoint: the idempotency keys (contract 2). A line whose "
        "`touchpoint_id` is here is a duplicate when its content hash matches, else a "
        "`conflicting_duplicate`.",
        {
            "touchpoint_id": "the touchpoint's `touchpoint_id`",
            "content_hash": "SHA-256 (32 bytes) of the parsed JSON object in canonical form "
                            "(keys sorted, money compared by value)",
            "type": "the touchpoint's `type`, e.g. `purchase.placed`",
            "recorded_at": _TIME,
            "source": _SOURCE + " (a duplicate keeps the first one's)",
        },
    ),
    "journey_rejects": TableDoc(
        "One row per decision that rejected a line (contract 2.1), in decision order; kept, "
        "never deleted. `journey rejects` reads it (the open ones; `--all`: every row), "
        "`journey rejects retry` decides the open ones again.",
        {
            "seq": "decision order (1, 2, ...)",
            "touchpoint_id": "the line's `touchpoint_id` when it is a string (even an invalid "
                             "one), else NULL",
            "reason": "the contract's rejection reason, e.g. `invalid`, `unknown_entity`",
            "detail": "what is wrong, naming the field",
            "raw": "the line's bytes exactly as received (a line over 1 MiB: its first 1,024 "
                   "bytes; `detail` gives the whole line's length and SHA-256)",
            "recorded_at": _TIME,
            "source": _SOURCE,
            "accepted_before": "1 when the `touchpoint_id` had been accepted before this "
                               "reject (a `conflicting_duplicate`, or an invalid line reusing "
                               "an accepted id: no acceptance can close it), else 0; NULL in "
                               "rows older than the column (read as 1 for "
                               "`conflicting_duplicate`). A reject is open (contract 4.9) "
                               "while no later reject of its `touchpoint_id` exists and that "
                               "id was not accepted after it",
        },
    ),
    "journey_ingest_runs": TableDoc(
        "One row per ingest of a named file: its checkpoint, committed with each batch, so an "
        "interrupted run resumes where it stopped. Also one row per HTTP intake request sent "
        "with an `Idempotency-Key`, written with its decisions, so a retry of it gets the first "
        "answer and decides nothing again.",
        {
            "run_id": "the run's id (32 hex digits); an intake request's id (16 hex digits)",
            "source": "the file's absolute path; `http:KEY` for an intake request's key",
            "bytes_done": "bytes of the file decided and committed so far; the request body's "
                          "length",
            "prefix_sha256": "SHA-256 (hex) of those bytes: a resume checks the file still "
                             "starts with them (a request's key with another body is refused)",
            "counts": "the run's counts so far as JSON, the shape of `journey --json ingest`; "
                      "for a request, its whole answer (with one outcome per touchpoint)",
            "completed": "1 when the run finished (a later ingest of the file starts afresh), "
                         "else 0",
            "updated_at": "when the checkpoint was last written, RFC 3339 in UTC",
        },
    ),
    "journey_chain": TableDoc(
        "The audit hash chain: one row per event, written in the transaction that appends it "
        "(the encoding is in `infra/store/chain.py`; `journey audit verify` recomputes it).",
        {
            "position": "the event's log position",
            "hash": "SHA-256 (32 bytes) of the previous row's hash and this event's row",
        },
    ),
    "journey_seals": TableDoc(
        "HMAC seals of the chain: each batch's last position and the first position at or past "
        "every 1,000th, keyed by the store's audit secret.",
        {
            "position": "the sealed log position",
            "mac": "HMAC-SHA256 (32 bytes) of the position and its chain hash",
            "sealed_at": "when the seal was written, RFC 3339 in UTC (NULL in old stores)",
        },
    ),
    "journey_audit_key": TableDoc(
        "One row: the fingerprint of the key the store's seals are made with, recorded with "
        "the first write; a writer with another key refuses to write.",
        {
            "id": "always 1",
            "fingerprint": "the first 16 hex digits of HMAC-SHA256(key, "
                           "\"journey-audit-key-fingerprint\"): names the key, never gives it",
            "recorded_at": _TIME,
        },
    ),
    "journey_offsets": TableDoc(
        "Per Kafka consumer, topic and partition: how far it has read, committed in the "
        "transaction that stores what it read (a restart neither loses nor repeats a message).",
        {
            "consumer": "`touchpoints:GROUP` (`consume touchpoints`) or `views:GROUP` "
                        "(`consume views`)",
            "topic": "the topic's name",
            "partition": "the partition's number",
            "next_offset": "the offset of the next message to read (a view worker skips, "
                           "uncounted, a message below it that another worker of its group "
                           "stored first)",
            "high_water": "the highest log position applied from the partition (`consume "
                          "views` skips a message the relay sent twice); 0 for touchpoints",
        },
    ),
    "journey_relay": TableDoc(
        "Per relay (`journey publish`): its position in the log.",
        {
            "name": "the relay's name (`relay`)",
            "position": "the last log position the broker acknowledged (0: none; the next "
                        "publish starts after it)",
            "updated_at": "when the position was last written, RFC 3339 in UTC",
        },
    ),
    "journey_relay_acks": TableDoc(
        "Per relay, topic and partition: the end of what the broker acknowledged; a broker "
        "that later holds less has lost data (exit 65).",
        {
            "name": "the relay's name (`relay`)",
            "topic": "the topic's name",
            "partition": "the partition's number",
            "acked_end": "the offset after the last message acknowledged",
        },
    ),
    # --- the views: derived from the log, rebuilt at will (`journey rebuild`) -----------------
    "view_touchpoints": TableDoc(
        "One row per accepted touchpoint: the timeline entries, with their error codes "
        "(contract 3 and 4).",
        {
            "touchpoint_id": "the touchpoint's `touchpoint_id`",
            "seq": "the log position of its first event: orders a timeline's ties by arrival",
            "customer_id": "whose timeline it is on: the touchpoint's `customer_id`; for a "
                           "part movement its repair's customer, NULL without a repair",
            "kind": "the part of `type` before the dot: `purchase`, `invoice`, `complaint`, "
                    "`repair`, `part`",
            "type": "the touchpoint's `type`",
            "occurred_at": "business time, RFC 3339 in UTC with a `Z`",
            "occurred_us": "`occurred_at` as microseconds since 1970-01-01 UTC (sorts and "
                           "subtracts as a number)",
            "month": "the UTC month of `occurred_at`, `YYYY-MM`",
            "entity": "the entity it names: `order:O1`, `invoice:I1`, `case:K1`, `repair:R1`, "
                      "`part:P1@WH1`",
            "subject": "the entity whose error history it belongs to: its `entity`, for a "
                       "part movement `repair:R1` (NULL without a repair)",
            "upstream_error": "the `error` the upstream system sent, else NULL",
            "code": "its service error code (contract 3), NULL when none; a late arrival may "
                    "set it later (`repeat_repair`)",
            "serial": "`repair.requested`: the serial (candidate for `repeat_repair`), else "
                      "NULL",
            "repair_id": "`repair.requested` and part movements naming a repair: the repair, "
                         "else NULL",
            "demand": "`complaint.opened`: `value`, `failure` or `unknown`, else NULL",
            "contact_subject": "`complaint.opened`: its `subject` as `order:O1`, "
                               "`invoice:I1` or `repair:R1`, else NULL",
            "failure": "`complaint.opened`: 1 when the contact is failure demand (contract 4), "
                       "else 0; NULL for other types",
        },
    ),
    "view_error_rates": TableDoc(
        "Per kind and month: the error-rate counters (`error_rate = errors / touchpoints`).",
        {
            "kind": "as in `view_touchpoints`",
            "month": "`YYYY-MM` (UTC, of `occurred_at`)",
            "touchpoints": "accepted touchpoints (duplicates not counted)",
            "errors": "those with an error code",
        },
    ),
    "view_error_codes": TableDoc(
        "Per error code: how many accepted touchpoints have it.",
        {
            "code": "the error code (contract 3, or an upstream `error`)",
            "count": "touchpoints with that code",
        },
    ),
    "view_failure_demand": TableDoc(
        "Per month of `complaint.opened`: contacts and failure-demand contacts "
        "(`ratio = failure / contacts`).",
        {
            "month": "`YYYY-MM` (UTC, of `occurred_at`)",
            "contacts": "accepted `complaint.opened`",
            "failure": "those that are failure demand",
        },
    ),
    "view_repairs": TableDoc(
        "Bookkeeping of the touchpoint fold: one row per requested repair.",
        {
            "repair_id": "the repair",
            "customer_id": "its customer (part movements naming it join their timeline)",
            "serial": "the serial of the repaired item",
        },
    ),
    "view_fixed": TableDoc(
        "Bookkeeping of the touchpoint fold: one row per `repair.completed` with outcome "
        "`fixed` (the start of a `repeat_repair` window).",
        {
            "serial": "the serial of the repaired item",
            "repair_id": "the completed repair",
            "occurred_us": "when it was completed, microseconds since 1970-01-01 UTC",
        },
    ),
    "view_stock": TableDoc(
        "Per part and location that an accepted movement touched (rows at zero included): the "
        "stock state of contract 2.3 (`available = on_hand - reserved`) and the planning "
        "window's sums.",
        {
            "part_id": "the part",
            "location": "the location",
            "on_hand": "units on hand",
            "reserved": "units reserved for repairs (the sum of `reservations`)",
            "backordered": "open backorders (the sum of `backorders`)",
            "reservations": "per repair, units reserved here: JSON `{\"R1\": 2}`",
            "backorders": "per repair, open backorder here: JSON `{\"R1\": 1}`",
            "window_qty": "Σ of the daily issued quantities over the 90 days up to `as_of_day` "
                          "(`view_stock_meta`)",
            "window_squares": "Σ of their squares (the planning's demand variance)",
        },
    ),
    "view_stock_issues": TableDoc(
        "Per part, location and day: units issued, for the planning window.",
        {
            "part_id": "the part",
            "location": "the location",
            "day": "the UTC day of the `part.issued`, `YYYY-MM-DD`",
            "qty": "units issued that day",
        },
    ),
    "view_stock_meta": TableDoc(
        "Bookkeeping of the stock fold: one row per key.",
        {
            "key": "`as_of_day`",
            "value": "`as_of_day`: the UTC day of the latest movement, `YYYY-MM-DD` (the "
                     "planning window ends there)",
        },
    ),
    # --- the service view (`journey kpis`, `journey invoices`; contract 4.6-4.8) ------------
    "view_service_cases": TableDoc(
        "One row per complaint case: what its KPIs need (contract 4.6). Times are business "
        "time (`occurred_at`) as microseconds since 1970-01-01 UTC; hours to resolve = "
        "|`resolved_us` - `opened_us`| / 3,600,000,000 (the later minus the earlier: a "
        "resolution dated before its opening counts by its distance).",
        {
            "case_id": "the case",
            "customer_id": "its customer",
            "month": "the UTC month of its `complaint.opened`, `YYYY-MM`",
            "opened_us": "when it was opened",
            "resolved_us": "its earliest `complaint.resolved` (a late arrival dated earlier "
                           "takes its place); NULL while never resolved",
            "reopened": "1 when it has at least one `complaint.reopened`, else 0",
        },
    ),
    "view_service_repairs": TableDoc(
        "One row per repair: what its KPIs and its customer's errors need (contract 4.6).",
        {
            "repair_id": "the repair",
            "customer_id": "its customer; NULL only while its request has not arrived (the "
                           "Kafka view worker may see a part movement naming it first)",
            "serial": "the serial of the repaired item (NULL as `customer_id`)",
            "month": "the UTC month of its `repair.requested`, `YYYY-MM` (NULL as "
                     "`customer_id`)",
            "requested_us": "when it was requested, microseconds since 1970-01-01 UTC",
            "request_error": "1 when its request has an error code (its own, or "
                             "`repeat_repair`, which a late `fixed` completion may set), "
                             "else 0",
            "done_us": "its earliest `repair.completed` (ties: the first to arrive); NULL "
                       "while never completed",
            "done_seq": "the log position of that completion",
            "done_outcome": "that completion's outcome: `fixed` means fixed the first time",
            "fixed_us": "its completion with outcome `fixed` (a repair has at most one); hours "
                        "to fix = (`fixed_us` - `requested_us`) / 3,600,000,000",
            "part_error_us": "the earliest part movement naming it that has an error code "
                             "(`stock_out`, or an upstream `error`), else NULL",
        },
    ),
    "view_service_case_months": TableDoc(
        "Per month of `complaint.opened`: the case KPIs, computed from `view_service_cases` "
        "whenever a case of the month changes (`reopen_rate = reopened / resolved`).",
        {
            "month": "`YYYY-MM`",
            "opened": "cases opened",
            "resolved": "of those, cases with at least one `complaint.resolved`",
            "reopened": "of those, cases with at least one `complaint.reopened`",
            "resolve_p50_us": "the median time from opening to the earliest resolution over "
                              "the resolved cases, microseconds (nearest rank: the "
                              "ceil(n/2)-th smallest); NULL when none is resolved",
            "resolve_p90_us": "the 90th percentile of the same (the ceil(0.9 n)-th smallest)",
        },
    ),
    "view_service_repair_months": TableDoc(
        "Per month of `repair.requested`: the repair KPIs, computed from "
        "`view_service_repairs` whenever a repair of the month changes "
        "(`first_time_fix_rate = first_time_fixed / completed`).",
        {
            "month": "`YYYY-MM`",
            "requested": "repairs requested",
            "completed": "of those, repairs with at least one `repair.completed`",
            "first_time_fixed": "of those, repairs whose earliest completion is `fixed`",
            "fixed": "repairs with a `fixed` completion (the set the hours to fix are over)",
            "fix_p50_us": "the median time from request to the `fixed` completion, "
                          "microseconds (nearest rank); NULL when none is fixed",
            "fix_p90_us": "the 90th percentile of the same",
        },
    ),
    "view_service_part_months": TableDoc(
        "Per month of `part.reserved`: how many reservations were met from stock "
        "(`fill_rate = filled / reservations`).",
        {
            "month": "`YYYY-MM`",
            "reservations": "accepted `part.reserved`",
            "filled": "those not accepted as a stock-out",
        },
    ),
    "view_service_ratings": TableDoc(
        "One row per rating: an accepted `complaint.resolved` with `satisfaction`.",
        {
            "touchpoint_id": "the `complaint.resolved`",
            "customer_id": "the customer who rated",
            "case_id": "the case resolved",
            "month": "the UTC month of the `complaint.resolved`, `YYYY-MM`",
            "occurred_us": "when, microseconds since 1970-01-01 UTC",
            "score": "the satisfaction, 1 to 5",
            "after_error": "1 when the customer's timeline has a touchpoint with an error code "
                           "at or before it (`view_service_customers`), else 0; a late error "
                           "turns it to 1",
        },
    ),
    "view_service_satisfaction": TableDoc(
        "Per month, group and score: how many ratings (`view_service_ratings` counted; a "
        "row at 0 is removed).",
        {
            "month": "`YYYY-MM` (of the rating)",
            "after_error": "1: ratings after an error, 0: with no error before them",
            "score": "1 to 5",
            "ratings": "how many",
        },
    ),
    "view_service_customers": TableDoc(
        "Per customer who met a service error: the earliest one on their timeline (their "
        "touchpoints with an error code, `repeat_repair` included, and the part movements "
        "naming their repairs).",
        {
            "customer_id": "the customer",
            "first_error_us": "`occurred_at` of the earliest, microseconds since 1970-01-01 "
                              "UTC",
        },
    ),
    "view_service_invoices": TableDoc(
        "One row per invoice (contract 4.8). Money is exact: decimal text with exactly 2 "
        "decimals (`-3.25`, `0.00`); cast it to a decimal type (`CAST(amount AS NUMERIC)`), "
        "never to a float, to compute with it.",
        {
            "invoice_id": "the invoice",
            "customer_id": "its customer",
            "currency": "its currency (`EUR`, ...)",
            "month": "the UTC month of its `invoice.issued`, `YYYY-MM`",
            "due_date": "its due date as issued, `YYYY-MM-DD`",
            "issued_amount": "the `amount` it was issued with",
            "corrections": "the sum of its corrections' `amount_delta`",
            "amount": "`issued_amount` + `corrections`",
            "paid": "the sum of its payments",
            "balance": "`amount` - `paid` (negative when overpaid)",
            "unpaid": "1 when `balance` > 0, else 0 (status `paid`); an unpaid invoice is "
                      "`overdue` on a day after its `due_date`, else `open`",
            "reminders": "accepted `invoice.reminder_sent`",
        },
    ),
    "view_service_invoice_months": TableDoc(
        "Per month of `invoice.issued` and currency: the sums of `view_service_invoices`, "
        "kept with each change (what is overdue depends on the day asked: `journey "
        "invoices` counts it from the unpaid invoices).",
        {
            "month": "`YYYY-MM`",
            "currency": "the currency",
            "issued": "invoices issued",
            "amount": "the sum of their `amount`, decimal text with 2 decimals",
            "paid": "the sum of their `paid`",
            "outstanding": "the sum of their positive balances",
        },
    ),
    "view_service_meta": TableDoc(
        "Bookkeeping of the service fold: one row per key.",
        {
            "key": "`latest_occurred_us`",
            "value": "`latest_occurred_us`: the latest `occurred_at` of any accepted "
                     "touchpoint, microseconds since 1970-01-01 UTC (its UTC date is "
                     "`journey invoices`' default reference day)",
        },
    ),
}
