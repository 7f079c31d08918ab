"""The edge validation of contract v1: sections 1 (input) and 2.1 (schema reject reasons)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from journey.schemas import MAX_LINE_BYTES, TOUCHPOINT_TYPES, Invalid, Parsed, kind_of, parse_line
from journey.schemas import touchpoint as tps
from journey.schemas.parsing import _content_hash

ENVELOPE = {"touchpoint_id": "tp-1", "occurred_at": "2024-05-01T10:15:00+02:00"}

#: One valid example per type: the envelope plus every field of the type (optional ones too).
VALID: dict[str, dict[str, Any]] = {
    "purchase.placed": {
        "customer_id": "C1",
        "order_id": "O1",
        "lines": [
            {"sku": "S1", "qty": 2, "unit_price": "19.99"},
            {"sku": "S2", "qty": 1, "unit_price": 5},
        ],
        "currency": "EUR",
    },
    "purchase.delivered": {"customer_id": "C1", "order_id": "O1"},
    "purchase.delivery_failed": {"customer_id": "C1", "order_id": "O1", "reason": "nobody home"},
    "purchase.returned": {
        "customer_id": "C1",
        "order_id": "O1",
        "lines": [{"sku": "S1", "qty": 1}],
        "reason": "broken",
    },
    "purchase.cancelled": {"customer_id": "C1", "order_id": "O1", "reason": "changed mind"},
    "invoice.issued": {
        "customer_id": "C1",
        "invoice_id": "I1",
        "amount": 25.0,
        "currency": "EUR",
        "due_date": "2024-05-31",
        "order_id": "O1",
    },
    "invoice.paid": {"customer_id": "C1", "invoice_id": "I1", "amount": "25.00"},
    "invoice.reminder_sent": {"customer_id": "C1", "invoice_id": "I1"},
    "invoice.corrected": {
        "customer_id": "C1",
        "invoice_id": "I1",
        "error_type": "wrong_amount",
        "amount_delta": -5.5,
    },
    "complaint.opened": {
        "customer_id": "C1",
        "case_id": "K1",
        "category": "billing",
        "subject": {"type": "invoice", "id": "I1"},
        "demand": "failure",
        "text": "charged twice",
    },
    "complaint.contact_logged": {"customer_id": "C1", "case_id": "K1", "direction": "inbound"},
    "complaint.resolved": {
        "customer_id": "C1",
        "case_id": "K1",
        "resolution": "refunded",
        "satisfaction": 4,
    },
    "complaint.reopened": {"customer_id": "C1", "case_id": "K1", "reason": "not refunded"},
    "complaint.closed": {"customer_id": "C1", "case_id": "K1"},
    "repair.requested": {
        "customer_id": "C1",
        "repair_id": "R1",
        "serial": "SN-1",
        "fault": "no power",
        "warranty": True,
        "case_id": "K1",
    },
    "repair.completed": {"customer_id": "C1", "repair_id": "R1", "outcome": "not_fixed"},
    "repair.returned": {"customer_id": "C1", "repair_id": "R1"},
    "part.received": {"part_id": "P1", "location": "L1", "qty": 10, "unit_cost": "3.20"},
    "part.reserved": {"part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.released": {"part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.issued": {"part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.returned": {"part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.adjusted": {"part_id": "P1", "location": "L1", "qty": -2, "reason": "count"},
    "part.transferred": {"part_id": "P1", "location": "L1", "to_location": "L2", "qty": 3},
}


def example(type_: str, **changes: Any) -> dict[str, Any]:
    """The valid example of ``type_``; a change to ``...`` removes the field."""
    obj = {**ENVELOPE, "type": type_, **json.loads(json.dumps(VALID[type_]))}
    for name, value in changes.items():
        if value is ...:
            obj.pop(name, None)
        else:
            obj[name] = value
    return obj


def line(obj: object) -> bytes:
    return json.dumps(obj).encode()


def line_with_raw(type_: str, field: str, text: str) -> bytes:
    """The valid example of ``type_`` with ``field`` written as the raw JSON ``text``."""
    return line(example(type_, **{field: "__RAW__"})).replace(b'"__RAW__"', text.encode())


def parsed(raw: bytes) -> Parsed:
    result = parse_line(raw)
    assert isinstance(result, Parsed), result
    return result


def rejected(raw: bytes) -> Invalid:
    result = parse_line(raw)
    assert isinstance(result, Invalid), result
    return result


# --- Accepted ----------------------------------------------------------------------------------


def test_the_contract_has_24_types_each_with_its_own_model() -> None:
    assert sorted(TOUCHPOINT_TYPES) == sorted(VALID)
    assert len(set(TOUCHPOINT_TYPES.values())) == 24


@pytest.mark.parametrize("type_", sorted(VALID))
def test_a_valid_touchpoint_of_each_type_is_parsed_into_its_model(type_: str) -> None:
    raw = line(example(type_))

    result = parsed(raw)

    assert type(result.touchpoint) is TOUCHPOINT_TYPES[type_]
    assert result.touchpoint.type == type_
    assert result.touchpoint.touchpoint_id == "tp-1"
    assert result.touchpoint.kind == type_.split(".")[0]
    assert result.raw == raw
    assert len(result.content_hash) == 32


@pytest.mark.parametrize("type_", sorted(VALID))
def test_occurred_at_is_normalised_to_utc(type_: str) -> None:
    result = parsed(line(example(type_)))

    assert datetime(2024, 5, 1, 8, 15, tzinfo=UTC) == result.touchpoint.occurred_at
    assert result.touchpoint.occurred_at.utcoffset() is not None
    assert result.touchpoint.occurred_at.tzinfo is UTC


def test_purchase_placed_fields_are_typed_with_exact_decimals() -> None:
    tp = parsed(line(example("purchase.placed"))).touchpoint

    assert isinstance(tp, tps.PurchasePlaced)
    assert [("S1", 2, Decimal("19.99")), ("S2", 1, Decimal("5"))] == [
        (item.sku, item.qty, item.unit_price) for item in tp.lines
    ]
    assert all(type(item.unit_price) is Decimal for item in tp.lines)
    assert tp.customer_id == "C1"
    assert tp.currency == "EUR"


def test_money_written_as_a_json_number_is_kept_as_the_exact_decimal_written() -> None:
    tp = parsed(line_with_raw("invoice.paid", "amount", "0.1")).touchpoint

    assert isinstance(tp, tps.InvoicePaid)
    assert Decimal("0.1") == tp.amount
    assert type(tp.amount) is Decimal


def test_a_money_amount_beyond_float_precision_stays_exact() -> None:
    tp = parsed(line_with_raw("invoice.paid", "amount", "12345678901234567890.12")).touchpoint

    assert isinstance(tp, tps.InvoicePaid)
    assert Decimal("12345678901234567890.12") == tp.amount


def test_invoice_issued_has_a_real_due_date_and_optional_order() -> None:
    tp = parsed(line(example("invoice.issued"))).touchpoint

    assert isinstance(tp, tps.InvoiceIssued)
    assert date(2024, 5, 31) == tp.due_date
    assert Decimal("25.0") == tp.amount
    assert tp.order_id == "O1"


def test_invoice_corrected_accepts_a_negative_delta() -> None:
    tp = parsed(line(example("invoice.corrected"))).touchpoint

    assert isinstance(tp, tps.InvoiceCorrected)
    assert Decimal("-5.5") == tp.amount_delta
    assert tp.error_type == "wrong_amount"


def test_complaint_opened_carries_its_subject_as_a_model() -> None:
    tp = parsed(line(example("complaint.opened"))).touchpoint

    assert isinstance(tp, tps.ComplaintOpened)
    assert tp.subject is not None
    assert (tp.subject.type, tp.subject.id) == ("invoice", "I1")
    assert tp.demand == "failure"


def test_complaint_demand_defaults_to_unknown_and_optionals_to_none() -> None:
    obj = example("complaint.opened", subject=..., demand=..., text=...)

    tp = parsed(line(obj)).touchpoint

    assert isinstance(tp, tps.ComplaintOpened)
    assert tp.demand == "unknown"
    assert tp.subject is None
    assert tp.text is None


@pytest.mark.parametrize(
    ("type_", "optional"),
    [
        ("invoice.issued", "order_id"),
        ("complaint.resolved", "satisfaction"),
        ("repair.requested", "case_id"),
        ("part.received", "unit_cost"),
        ("part.returned", "repair_id"),
    ],
)
def test_an_optional_field_may_be_left_out(type_: str, optional: str) -> None:
    tp = parsed(line(example(type_, **{optional: ...}))).touchpoint

    assert getattr(tp, optional) is None


def test_envelope_optionals_are_none_when_left_out_and_kept_when_given() -> None:
    bare = parsed(line(example("purchase.delivered"))).touchpoint
    full = parsed(
        line(example("purchase.delivered", channel="web", source="shop", error="late_delivery"))
    ).touchpoint

    assert (bare.channel, bare.source, bare.error) == (None, None, None)
    assert (full.channel, full.source, full.error) == ("web", "shop", "late_delivery")


def test_a_part_movement_has_no_customer() -> None:
    tp = parsed(line(example("part.received"))).touchpoint

    assert isinstance(tp, tps.PartTouchpoint)
    assert tp.customer_id is None
    assert tp.kind == "part"


def test_repair_requested_keeps_warranty_as_a_boolean() -> None:
    tp = parsed(line(example("repair.requested"))).touchpoint

    assert isinstance(tp, tps.RepairRequested)
    assert tp.warranty is True


def test_part_adjusted_accepts_a_negative_quantity() -> None:
    tp = parsed(line(example("part.adjusted"))).touchpoint

    assert isinstance(tp, tps.PartAdjusted)
    assert tp.qty == -2


def test_models_are_frozen() -> None:
    tp = parsed(line(example("purchase.delivered"))).touchpoint

    with pytest.raises(ValueError, match="frozen"):
        tp.order_id = "O2"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("type_", "kind"), [("purchase.placed", "purchase"), ("part.transferred", "part"), ("x", "x")]
)
def test_kind_is_the_part_of_the_type_before_the_dot(type_: str, kind: str) -> None:
    assert kind == kind_of(type_)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2024-05-01T10:15:00Z", datetime(2024, 5, 1, 10, 15, tzinfo=UTC)),
        ("2024-05-01t10:15:00z", datetime(2024, 5, 1, 10, 15, tzinfo=UTC)),
        ("2024-05-01T10:15:00-00:00", datetime(2024, 5, 1, 10, 15, tzinfo=UTC)),
        ("2024-05-01T01:00:00+05:30", datetime(2024, 4, 30, 19, 30, tzinfo=UTC)),
        ("2024-12-31T23:30:00-01:00", datetime(2025, 1, 1, 0, 30, tzinfo=UTC)),
        ("2024-05-01T10:15:00.5Z", datetime(2024, 5, 1, 10, 15, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T10:15:00.123456789Z", datetime(2024, 5, 1, 10, 15, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
        ("9000-12-31T23:59:59Z", datetime(9000, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=UTC)),
        ("1900-01-01T00:30:00-01:00", datetime(1900, 1, 1, 1, 30, tzinfo=UTC)),
    ],
)
def test_occurred_at_accepts_rfc_3339_with_an_offset(written: str, expected: datetime) -> None:
    tp = parsed(line(example("purchase.delivered", occurred_at=written))).touchpoint

    assert expected == tp.occurred_at
    assert tp.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("0", Decimal("0")),
        ("12", Decimal("12")),
        ("12.5", Decimal("12.5")),
        ("12.50", Decimal("12.50")),
        ("12.500", Decimal("12.50")),
        ("1e2", Decimal("100")),
        ("1.5E1", Decimal("15")),
        ("125e-2", Decimal("1.25")),
        ("-0.0", Decimal("0")),
        ('"0"', Decimal("0")),
        ('"12.50"', Decimal("12.50")),
        ('"007.10"', Decimal("7.10")),
        ('"12.500"', Decimal("12.50")),
    ],
)
def test_money_is_a_json_number_or_a_decimal_string(written: str, expected: Decimal) -> None:
    tp = parsed(line_with_raw("part.received", "unit_cost", written)).touchpoint

    assert isinstance(tp, tps.PartReceived)
    assert expected == tp.unit_cost
    assert type(tp.unit_cost) is Decimal


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", ""),
        ("source", "s" * 64),
        ("error", "e" * 64),
        ("error", "billing_2"),
        ("touchpoint_id", "A-z.0_9:x" + "a" * 119),
        ("customer_id", "c" * 128),
        ("customer_id", " "),
        ("customer_id", "Kundé ✓"),
    ],
)
def test_envelope_strings_at_their_limits_are_accepted(field: str, value: str) -> None:
    tp = parsed(line(example("purchase.delivered", **{field: value}))).touchpoint

    assert value == getattr(tp, field)


@pytest.mark.parametrize(
    ("type_", "field", "value"),
    [
        ("purchase.delivery_failed", "reason", "r" * 200),
        ("complaint.resolved", "resolution", "r" * 200),
        ("repair.requested", "fault", "f" * 200),
        ("complaint.opened", "text", "t" * 2000),
        ("complaint.opened", "text", ""),
        ("purchase.cancelled", "reason", "r" * 5000),
        # The contract gives free text a maximum and no minimum: "" is a string.
        ("purchase.cancelled", "reason", ""),
        ("purchase.delivery_failed", "reason", ""),
        ("complaint.resolved", "resolution", ""),
        ("repair.requested", "fault", ""),
        ("complaint.resolved", "satisfaction", 1),
        ("complaint.resolved", "satisfaction", 5),
        ("purchase.delivered", "order_id", "o" * 128),
        ("invoice.paid", "amount", "0.01"),
        ("invoice.issued", "amount", 0),
        ("invoice.issued", "due_date", "2024-02-29"),
        ("part.received", "qty", 10**8),
        ("part.adjusted", "qty", -(10**8)),
        ("part.received", "unit_cost", "0.00"),
    ],
)
def test_type_fields_at_their_limits_are_accepted(type_: str, field: str, value: object) -> None:
    tp = parsed(line(example(type_, **{field: value}))).touchpoint

    assert getattr(tp, field) is not None


def test_a_purchase_may_have_500_lines() -> None:
    lines = [{"sku": f"S{i}", "qty": 1, "unit_price": 1} for i in range(500)]

    tp = parsed(line(example("purchase.placed", lines=lines))).touchpoint

    assert isinstance(tp, tps.PurchasePlaced)
    assert len(tp.lines) == 500


def test_a_line_of_exactly_the_size_limit_is_parsed() -> None:
    raw = line(example("purchase.delivered"))
    raw = raw[:-1] + b" " * (MAX_LINE_BYTES - len(raw)) + b"}"

    assert isinstance(parse_line(raw), Parsed)


# --- invalid_json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="whitespace"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"touchpoint_id": "tp-1", "type": "purchase.placed"', id="unclosed"),
        pytest.param(b'{"a": 1} {"b": 2}', id="two objects"),
        pytest.param(b"{'a': 1}", id="single quotes"),
        pytest.param(b'{"a": 1,}', id="trailing comma"),
        pytest.param(b'{"a": NaN}', id="NaN"),
        pytest.param(b'{"a": Infinity}', id="Infinity"),
        pytest.param(b'{"a": -Infinity}', id="minus Infinity"),
        pytest.param(b'{"a": 01}', id="leading zero"),
        pytest.param(b'{"a": "tab\there"}', id="raw control character in a string"),
        pytest.param(b"\xff\xfe{}", id="not UTF-8"),
        pytest.param(b'{"a": "\xc3"}', id="truncated UTF-8 sequence"),
        pytest.param(b'\xef\xbb\xbf{"a": 1}', id="byte order mark"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="boolean"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested too deeply"),
        pytest.param(b'{"a":' * 5000 + b"1" + b"}" * 5000, id="objects nested too deeply"),
        pytest.param(b'{"qty": 1' + b"0" * 5000 + b"}", id="integer beyond the digit limit"),
        pytest.param(b'{"touchpoint_id": "a\\ud800", "type": "x"}', id="lone surrogate"),
    ],
)
def test_a_line_that_is_not_a_json_object_is_invalid_json(raw: bytes) -> None:
    result = rejected(raw)

    assert ("invalid_json", None, raw) == (result.reason, result.touchpoint_id, result.raw)
    assert result.detail


def test_invalid_json_beats_every_other_problem() -> None:
    raw = b'{"touchpoint_id": 5, "type": "nope", "qty": NaN}'

    assert rejected(raw).reason == "invalid_json"


def test_a_surrogate_pair_escape_is_a_valid_character() -> None:
    raw = line(example("complaint.opened", text="x")).replace(b'"x"', b'"\\ud83d\\ude00"')

    tp = parsed(raw).touchpoint

    assert isinstance(tp, tps.ComplaintOpened)
    assert tp.text == "\U0001f600"


# --- unknown_type ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "detail"),
    [
        pytest.param(..., "type: required field is missing", id="missing"),
        pytest.param(None, "type: must be a string (got null)", id="null"),
        pytest.param(5, "type: must be a string (got 5)", id="number"),
        pytest.param(["purchase.placed"], "type: must be a string", id="array"),
        pytest.param("purchase.shipped", 'type: "purchase.shipped" is not', id="unknown"),
        pytest.param("Purchase.Placed", "type:", id="wrong case"),
        pytest.param("purchase.placed ", "type:", id="trailing space"),
        pytest.param("purchase", "type:", id="kind only"),
        pytest.param("", "type:", id="empty"),
    ],
)
def test_a_missing_or_unknown_type_is_unknown_type(type_: object, detail: str) -> None:
    obj = example("purchase.placed", type=type_)

    result = rejected(line(obj))

    assert result.reason == "unknown_type"
    assert result.detail.startswith(detail)


def test_unknown_type_beats_invalid_fields() -> None:
    obj = {"touchpoint_id": "bad id!", "type": "nope", "occurred_at": "yesterday", "x": 1}

    assert rejected(line(obj)).reason == "unknown_type"


def test_unknown_type_beats_duplicate_fields() -> None:
    raw = b'{"touchpoint_id": "tp-1", "touchpoint_id": "tp-2", "type": "nope"}'

    assert rejected(raw).reason == "unknown_type"


def test_a_repeated_type_is_judged_on_its_last_value() -> None:
    raw = b'{"type": "purchase.placed", "type": "nope"}'

    assert rejected(raw).reason == "unknown_type"


# --- invalid -----------------------------------------------------------------------------------

ALL_TEXT = "x" * 201


def bad(name: str, type_: str, path: str | None = None, **changes: Any) -> Any:
    """A violation: ``changes`` applied to the valid example; ``path`` defaults to the field."""
    return pytest.param(type_, changes, path or next(iter(changes)), id=name)


#: One violation of contract section 1 each: (type, changes, path the detail starts with).
INVALID_CASES = [
    # envelope
    bad("touchpoint_id missing", "purchase.delivered", touchpoint_id=...),
    bad("touchpoint_id empty", "purchase.delivered", touchpoint_id=""),
    bad("touchpoint_id space", "purchase.delivered", touchpoint_id="tp 1"),
    bad("touchpoint_id slash", "purchase.delivered", touchpoint_id="tp/1"),
    bad("touchpoint_id newline", "purchase.delivered", touchpoint_id="tp1\n"),
    bad("touchpoint_id non-ASCII", "purchase.delivered", touchpoint_id="tpé"),
    bad("touchpoint_id 129", "purchase.delivered", touchpoint_id="t" * 129),
    bad("touchpoint_id number", "purchase.delivered", touchpoint_id=1),
    bad("occurred_at missing", "purchase.delivered", occurred_at=...),
    bad("no offset", "purchase.delivered", occurred_at="2024-05-01T10:15:00"),
    bad("date only", "purchase.delivered", occurred_at="2024-05-01"),
    bad("space", "purchase.delivered", occurred_at="2024-05-01 10:15:00Z"),
    bad("no seconds", "purchase.delivered", occurred_at="2024-05-01T10:15Z"),
    bad("offset +0200", "purchase.delivered", occurred_at="2024-05-01T10:15:00+0200"),
    bad("offset +02", "purchase.delivered", occurred_at="2024-05-01T10:15:00+02"),
    bad("offset +24:00", "purchase.delivered", occurred_at="2024-05-01T10:15:00+24:00"),
    bad("offset +05:60", "purchase.delivered", occurred_at="2024-05-01T10:15:00+05:60"),
    bad("Feb 30", "purchase.delivered", occurred_at="2024-02-30T10:15:00Z"),
    bad("Feb 29 2023", "purchase.delivered", occurred_at="2023-02-29T10:15:00Z"),
    bad("month 13", "purchase.delivered", occurred_at="2024-13-01T10:15:00Z"),
    bad("hour 24", "purchase.delivered", occurred_at="2024-05-01T24:00:00Z"),
    bad("leap second", "purchase.delivered", occurred_at="2016-12-31T23:59:60Z"),
    bad("year 0", "purchase.delivered", occurred_at="0000-01-01T00:00:00Z"),
    bad("year 1", "purchase.delivered", occurred_at="0001-01-01T00:00:00Z"),
    bad("below year 1", "purchase.delivered", occurred_at="0001-01-01T00:30:00+01:00"),
    bad("below 1900 in UTC", "purchase.delivered", occurred_at="1900-01-01T00:30:00+01:00"),
    bad("above 9000 in UTC", "purchase.delivered", occurred_at="9000-12-31T23:30:00-01:00"),
    bad("year 9999", "purchase.delivered", occurred_at="9999-12-31T23:59:59Z"),
    bad("unicode digits", "purchase.delivered", occurred_at="\uff12024-05-01T10:15:00Z"),
    bad("empty fraction", "purchase.delivered", occurred_at="2024-05-01T10:15:00.Z"),
    bad("epoch number", "purchase.delivered", occurred_at=1714557300),
    bad("customer_id missing", "purchase.delivered", customer_id=...),
    bad("customer_id null", "invoice.paid", customer_id=None),
    bad("customer_id empty", "complaint.closed", customer_id=""),
    bad("customer_id 129", "repair.returned", customer_id="c" * 129),
    bad("customer_id number", "repair.returned", customer_id=7),
    bad("customer on part", "part.received", customer_id="C1"),
    bad("null customer on part", "part.issued", customer_id=None),
    bad("channel unknown", "purchase.delivered", channel="fax"),
    bad("channel upper case", "purchase.delivered", channel="WEB"),
    bad("channel null", "purchase.delivered", channel=None),
    bad("source 65", "purchase.delivered", source="s" * 65),
    bad("source number", "purchase.delivered", source=1),
    bad("error upper case", "purchase.delivered", error="Late"),
    bad("error hyphen", "purchase.delivered", error="late-delivery"),
    bad("error empty", "purchase.delivered", error=""),
    bad("error 65", "purchase.delivered", error="e" * 65),
    bad("error null", "purchase.delivered", error=None),
    bad("unknown field", "purchase.delivered", note="hi"),
    bad("field of another type", "purchase.delivered", reason="x"),
    # purchase.*
    bad("order_id missing", "purchase.placed", order_id=...),
    bad("order_id empty", "purchase.cancelled", order_id=""),
    bad("order_id number", "purchase.delivered", order_id=1),
    bad("lines missing", "purchase.placed", lines=...),
    bad("lines empty", "purchase.placed", lines=[]),
    bad("lines 501", "purchase.placed", lines=[{"sku": "S", "qty": 1, "unit_price": 1}] * 501),
    bad("lines object", "purchase.placed", lines={"sku": "S"}),
    bad("line not object", "purchase.placed", "lines[0]", lines=["S1"]),
    bad("line sku missing", "purchase.placed", "lines[0].sku", lines=[{"qty": 1, "unit_price": 1}]),
    bad("line sku empty", "purchase.returned", "lines[0].sku", lines=[{"sku": "", "qty": 1}]),
    bad(
        "line extra",
        "purchase.returned",
        "lines[0].unit_price",
        lines=[{"sku": "S", "qty": 1, "unit_price": 1}],
    ),
    bad(
        "qty 0", "purchase.placed", "lines[0].qty", lines=[{"sku": "S", "qty": 0, "unit_price": 1}]
    ),
    bad(
        "qty float",
        "purchase.placed",
        "lines[0].qty",
        lines=[{"sku": "S", "qty": 1.0, "unit_price": 1}],
    ),
    bad("qty string", "purchase.returned", "lines[0].qty", lines=[{"sku": "S", "qty": "1"}]),
    bad("qty boolean", "purchase.returned", "lines[0].qty", lines=[{"sku": "S", "qty": True}]),
    bad("qty null", "purchase.returned", "lines[0].qty", lines=[{"sku": "S", "qty": None}]),
    bad(
        "unit_price negative",
        "purchase.placed",
        "lines[0].unit_price",
        lines=[{"sku": "S", "qty": 1, "unit_price": -1}],
    ),
    bad(
        "unit_price missing",
        "purchase.placed",
        "lines[0].unit_price",
        lines=[{"sku": "S", "qty": 1}],
    ),
    bad(
        "second line bad",
        "purchase.placed",
        "lines[1].unit_price",
        lines=[
            {"sku": "S", "qty": 1, "unit_price": 1},
            {"sku": "S", "qty": 1, "unit_price": "1.001"},
        ],
    ),
    bad("currency lower", "purchase.placed", currency="eur"),
    bad("currency 4", "purchase.placed", currency="EURO"),
    bad("currency missing", "invoice.issued", currency=...),
    bad("currency non-ASCII", "invoice.issued", currency="ÉUR"),
    bad("reason 201", "purchase.delivery_failed", reason=ALL_TEXT),
    bad("reason missing", "purchase.delivery_failed", reason=...),
    bad("reason number", "purchase.returned", reason=1),
    # invoice.*
    bad("invoice_id missing", "invoice.reminder_sent", invoice_id=...),
    bad("amount negative", "invoice.issued", amount=-1),
    bad("amount zero paid", "invoice.paid", amount=0),
    bad("amount -0 paid", "invoice.paid", amount="-0.00"),
    bad("amount negative paid", "invoice.paid", amount="-5"),
    bad("amount 3 decimals", "invoice.paid", amount=1.001),
    bad("amount 3 decimals string", "invoice.paid", amount="1.001"),
    bad("amount exponent string", "invoice.paid", amount="1e2"),
    bad("amount plus string", "invoice.paid", amount="+1"),
    bad("amount dot string", "invoice.paid", amount="1."),
    bad("amount leading dot string", "invoice.paid", amount=".5"),
    bad("amount comma string", "invoice.paid", amount="1,50"),
    bad("amount spaced string", "invoice.paid", amount=" 1"),
    bad("amount NaN string", "invoice.paid", amount="NaN"),
    bad("amount Infinity string", "invoice.paid", amount="Infinity"),
    bad("amount unicode digits", "invoice.paid", amount="١٢"),
    bad("amount boolean", "invoice.paid", amount=True),
    bad("amount null", "invoice.paid", amount=None),
    bad("amount object", "invoice.paid", amount={"value": 1}),
    bad("amount huge", "invoice.paid", amount=10**26),
    bad("due_date missing", "invoice.issued", due_date=...),
    bad("due_date impossible", "invoice.issued", due_date="2024-06-31"),
    bad("due_date timestamp", "invoice.issued", due_date="2024-06-30T00:00:00Z"),
    bad("due_date compact", "invoice.issued", due_date="20240630"),
    bad("due_date number", "invoice.issued", due_date=20240630),
    bad("order_id null on invoice", "invoice.issued", order_id=None),
    bad("error_type unknown", "invoice.corrected", error_type="typo"),
    bad("amount_delta missing", "invoice.corrected", amount_delta=...),
    bad("amount_delta decimals", "invoice.corrected", amount_delta="-0.005"),
    bad("amount_delta boolean", "invoice.corrected", amount_delta=False),
    # complaint.*
    bad("case_id missing", "complaint.closed", case_id=...),
    bad("category unknown", "complaint.opened", category="weather"),
    bad("subject null", "complaint.opened", subject=None),
    bad("subject string", "complaint.opened", subject="order:O1"),
    bad("subject type", "complaint.opened", "subject.type", subject={"type": "case", "id": "K0"}),
    bad("subject id missing", "complaint.opened", "subject.id", subject={"type": "order"}),
    bad("subject id empty", "complaint.opened", "subject.id", subject={"type": "order", "id": ""}),
    bad(
        "subject extra",
        "complaint.opened",
        "subject.x",
        subject={"type": "order", "id": "O", "x": 1},
    ),
    bad("demand unknown", "complaint.opened", demand="maybe"),
    bad("demand null", "complaint.opened", demand=None),
    bad("text 2001", "complaint.opened", text="t" * 2001),
    bad("direction unknown", "complaint.contact_logged", direction="sideways"),
    bad("resolution 201", "complaint.resolved", resolution=ALL_TEXT),
    bad("resolution missing", "complaint.resolved", resolution=...),
    bad("satisfaction 0", "complaint.resolved", satisfaction=0),
    bad("satisfaction 6", "complaint.resolved", satisfaction=6),
    bad("satisfaction float", "complaint.resolved", satisfaction=4.0),
    bad("satisfaction string", "complaint.resolved", satisfaction="4"),
    bad("satisfaction null", "complaint.resolved", satisfaction=None),
    bad("reopened reason missing", "complaint.reopened", reason=...),
    # repair.*
    bad("repair_id missing", "repair.completed", repair_id=...),
    bad("serial empty", "repair.requested", serial=""),
    bad("fault 201", "repair.requested", fault=ALL_TEXT),
    bad("warranty string", "repair.requested", warranty="true"),
    bad("warranty number", "repair.requested", warranty=1),
    bad("warranty missing", "repair.requested", warranty=...),
    bad("outcome unknown", "repair.completed", outcome="maybe"),
    # part.*
    bad("part_id missing", "part.received", part_id=...),
    bad("location empty", "part.reserved", location=""),
    bad("location 129", "part.issued", location="l" * 129),
    bad("qty 0 received", "part.received", qty=0),
    bad("qty negative reserved", "part.reserved", qty=-1),
    bad("qty float issued", "part.issued", qty=2.0),
    bad("qty missing released", "part.released", qty=...),
    bad("qty 0 adjusted", "part.adjusted", qty=0),
    bad("qty boolean adjusted", "part.adjusted", qty=True),
    bad("adjusted reason missing", "part.adjusted", reason=...),
    bad("unit_cost negative", "part.received", unit_cost="-0.01"),
    bad("unit_cost null", "part.received", unit_cost=None),
    bad("repair_id missing reserved", "part.reserved", repair_id=...),
    bad("repair_id null returned", "part.returned", repair_id=None),
    bad("repair_id on received", "part.received", repair_id="R1"),
    bad("to_location same", "part.transferred", to_location="L1"),
    bad("to_location missing", "part.transferred", to_location=...),
    bad("to_location empty", "part.transferred", to_location=""),
]


@pytest.mark.parametrize(("type_", "changes", "path"), INVALID_CASES)
def test_a_schema_violation_is_invalid_and_its_detail_names_the_field(
    type_: str, changes: dict[str, Any], path: str
) -> None:
    raw = line(example(type_, **changes))

    result = rejected(raw)

    assert ("invalid", raw) == (result.reason, result.raw)
    assert result.detail.startswith(path), result.detail


@pytest.mark.parametrize(
    ("type_", "changes", "detail"),
    [
        ("part.received", {"customer_id": "C1"}, "customer_id: must be absent for part.* types"),
        ("part.transferred", {"to_location": "L1"}, "to_location: must differ from location"),
        ("purchase.delivered", {"note": 1}, "note: is not a field of purchase.delivered"),
        ("purchase.delivered", {"order_id": ...}, "order_id: required field is missing"),
        (
            "purchase.placed",
            {"lines": [{"sku": "S", "qty": 0, "unit_price": 1}]},
            "lines[0].qty: must be an integer from 1 to 100000000 (got 0)",
        ),
        (
            "invoice.paid",
            {"amount": "1.234"},
            'amount: must have at most 2 decimals (got "1.234")',
        ),
        ("invoice.paid", {"amount": True}, "amount: must be a JSON number or a decimal string"),
        ("part.adjusted", {"qty": 0}, "qty: must be an integer other than 0 (got 0)"),
        ("complaint.opened", {"demand": None}, "demand: must be one of value, failure, unknown"),
    ],
)
def test_details_say_what_the_field_must_be(
    type_: str, changes: dict[str, Any], detail: str
) -> None:
    result = rejected(line(example(type_, **changes)))

    assert result.detail.startswith(detail), result.detail


def test_a_detail_shows_only_the_start_of_a_long_value() -> None:
    result = rejected(line(example("purchase.delivered", order_id="o" * 100_000)))

    assert result.detail.startswith("order_id:")
    assert len(result.detail) < 300


@pytest.mark.parametrize(("type_", "changes", "path"), INVALID_CASES)
def test_a_detail_never_leaks_pydantic_wording_or_links(
    type_: str, changes: dict[str, Any], path: str
) -> None:
    detail = rejected(line(example(type_, **changes))).detail

    assert "pydantic" not in detail
    assert "Input should" not in detail
    assert "Value error" not in detail


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (
            b'{"touchpoint_id": "tp-1", "touchpoint_id": "tp-1", "type": "purchase.delivered"}',
            "touchpoint_id",
        ),
        (
            b'{"touchpoint_id": "tp-1", "type": "complaint.opened", '
            b'"subject": {"type": "order", "id": "O1", "id": "O2"}}',
            "subject.id",
        ),
        (
            b'{"touchpoint_id": "tp-1", "type": "purchase.placed", '
            b'"lines": [{"sku": "S", "qty": 1, "unit_price": 1}, {"sku": "S", "sku": "T"}]}',
            "lines[1].sku",
        ),
    ],
)
def test_a_field_given_twice_is_invalid(raw: bytes, path: str) -> None:
    result = rejected(raw)

    assert result.reason == "invalid"
    assert f"{path}: duplicate field" == result.detail


def test_a_line_over_the_size_limit_is_invalid_without_being_parsed() -> None:
    raw = b"{" + b" " * MAX_LINE_BYTES + b"]"

    result = rejected(raw)

    assert (result.reason, result.touchpoint_id) == ("invalid", None)
    assert "exceeds" in result.detail


@pytest.mark.parametrize(
    ("obj", "touchpoint_id"),
    [
        ({"touchpoint_id": "tp-9", "type": "nope"}, "tp-9"),
        ({"touchpoint_id": "not valid!", "type": "purchase.delivered"}, "not valid!"),
        ({"touchpoint_id": "", "type": "purchase.delivered"}, ""),
        ({"touchpoint_id": 9, "type": "purchase.delivered"}, None),
        ({"touchpoint_id": None, "type": "nope"}, None),
        ({"touchpoint_id": ["tp-9"], "type": "nope"}, None),
        ({"type": "purchase.delivered"}, None),
    ],
)
def test_a_reject_reports_touchpoint_id_when_it_is_a_json_string(
    obj: dict[str, Any], touchpoint_id: str | None
) -> None:
    assert touchpoint_id == rejected(line(obj)).touchpoint_id


def test_an_invalid_touchpoint_reports_its_id() -> None:
    result = rejected(line(example("invoice.paid", amount=-1)))

    assert result.touchpoint_id == "tp-1"


def test_parse_line_answers_for_input_that_is_not_bytes() -> None:
    result = parse_line(bytearray(line(example("purchase.delivered"))))  # type: ignore[arg-type]

    assert isinstance(result, Parsed)


# --- content hash ------------------------------------------------------------------------------

PLACED = example("purchase.placed")
LINE_A = {"sku": "A", "qty": 1, "unit_price": 1}
LINE_B = {"sku": "B", "qty": 1, "unit_price": 1}


def placed_with(**changes: Any) -> bytes:
    return line(example("purchase.placed", **changes))


def hash_of(raw: bytes) -> bytes:
    return parsed(raw).content_hash


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(line(PLACED), line(dict(reversed(PLACED.items()))), id="key order"),
        pytest.param(
            line(PLACED), json.dumps(PLACED, indent=2).replace("\n", "").encode(), id="whitespace"
        ),
        pytest.param(
            line(PLACED), json.dumps(PLACED, separators=(",", ":")).encode(), id="separators"
        ),
        pytest.param(
            placed_with(lines=[{"sku": "S", "qty": 1, "unit_price": 1}]),
            placed_with(lines=[{"unit_price": 1, "qty": 1, "sku": "S"}]),
            id="nested key order",
        ),
        pytest.param(
            line_with_raw("invoice.paid", "amount", "1.5"),
            line_with_raw("invoice.paid", "amount", "1.50"),
            id="1.5 and 1.50",
        ),
        pytest.param(
            line_with_raw("invoice.paid", "amount", "10"),
            line_with_raw("invoice.paid", "amount", "10.0"),
            id="10 and 10.0",
        ),
        pytest.param(
            line_with_raw("invoice.paid", "amount", "100"),
            line_with_raw("invoice.paid", "amount", "1e2"),
            id="100 and 1e2",
        ),
        pytest.param(
            line_with_raw("invoice.corrected", "amount_delta", "0"),
            line_with_raw("invoice.corrected", "amount_delta", "-0.0"),
            id="0 and -0.0",
        ),
        pytest.param(
            line_with_raw("part.received", "unit_cost", "3.2"),
            line_with_raw("part.received", "unit_cost", "3.200"),
            id="3.2 and 3.200",
        ),
        pytest.param(
            line(example("complaint.opened", text="é")),
            line(example("complaint.opened", text="é")).replace(b"\\u00e9", "é".encode()),
            id="escaped and raw character",
        ),
    ],
)
def test_objects_equal_as_parsed_json_have_the_same_content_hash(left: bytes, right: bytes) -> None:
    assert left != right
    assert hash_of(left) == hash_of(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(
            line(example("invoice.paid", amount=1)),
            line(example("invoice.paid", amount="1")),
            id='1 and "1"',
        ),
        pytest.param(
            line(example("invoice.paid", amount="1.5")),
            line(example("invoice.paid", amount="1.50")),
            id='"1.5" and "1.50"',
        ),
        pytest.param(
            line(example("invoice.paid", amount=1.5)),
            line(example("invoice.paid", amount=150)),
            id="1.5 and 150",
        ),
        pytest.param(
            line(example("repair.requested", warranty=True)),
            line(example("repair.requested", warranty=False)),
            id="true and false",
        ),
        pytest.param(
            line(example("complaint.opened", demand=...)),
            line(example("complaint.opened", demand="unknown")),
            id="default left out and given",
        ),
        pytest.param(
            line(example("purchase.delivered", occurred_at="2024-05-01T08:15:00Z")),
            line(example("purchase.delivered", occurred_at="2024-05-01T10:15:00+02:00")),
            id="same instant written differently",
        ),
        pytest.param(
            placed_with(lines=[LINE_A, LINE_B]),
            placed_with(lines=[LINE_B, LINE_A]),
            id="array order",
        ),
        pytest.param(
            line(example("purchase.delivered")),
            line(example("purchase.delivered", channel="web")),
            id="extra optional field",
        ),
    ],
)
def test_objects_that_differ_as_parsed_json_have_different_content_hashes(
    left: bytes, right: bytes
) -> None:
    assert hash_of(left) != hash_of(right)


def test_the_canonical_form_keeps_json_types_apart() -> None:
    # A valid line never holds true where 1 could be, so compare the canonical forms directly.
    forms = [{"x": True}, {"x": 1}, {"x": "1"}, {"x": None}, {"x": [1]}, {"x": {"y": 1}}]

    hashes = {_content_hash(form) for form in forms}

    assert len(forms) == len(hashes)
