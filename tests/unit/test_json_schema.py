"""The JSON Schema of a touchpoint line (``schemas/touchpoint.schema.json``) agrees with the engine.

Agreement means: every line ``parse_line`` accepts is valid under the schema, and every line it
rejects as ``invalid`` or ``unknown_type`` is not, unless the reason is one the module docstring
of ``journey.schemas.jsonschema`` lists as beyond JSON Schema (``beyond_schema`` below names
them, independently of the engine's code). Patterns are evaluated as ECMA-262 reads them, where
``$`` ends the string; Python's ``re``, which python-jsonschema uses, also lets ``$`` match
before a final line feed.
"""

from __future__ import annotations

import calendar
import json
import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from journey.infra.workload import WorkloadOptions, generate_with_labels
from journey.schemas import TOUCHPOINT_TYPES, Invalid, Parsed, parse_line
from journey.schemas.jsonschema import touchpoint_json_schema, touchpoint_json_schema_text

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "touchpoint.schema.json"
REGENERATE = "python -m journey.schemas.jsonschema > schemas/touchpoint.schema.json"
SCHEMA = touchpoint_json_schema()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ecma(pattern: str) -> str:
    if "^" not in pattern and "$" not in pattern:
        return pattern  # unanchored (``not: {pattern: ...}``): a search, no "$" to mind
    assert pattern.startswith("^") and pattern.endswith("$") and "$" not in pattern[:-1], pattern
    return pattern[:-1] + r"\Z"


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not re.search(_ecma(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


VALIDATOR = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})(SCHEMA)


def schema_errors(instance: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(instance)]


def load(line: str) -> Any:
    """A line as the engine reads it: JSON numbers as exact decimals."""
    return json.loads(line, parse_float=Decimal)


def dump(value: Any) -> str:
    """JSON text of a value that may hold Decimals (written as JSON numbers)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(item) for item in value) + "]"
    return json.dumps(value)


# --- What JSON Schema cannot say (see journey.schemas.jsonschema) ------------------------------

MONEY = ("amount", "amount_delta", "unit_cost", "unit_price")
INTEGERS = ("qty", "satisfaction")
_STAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt]([0-9]{2}):([0-9]{2}):[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2})))?"
)


def _not_on_the_calendar(text: object) -> bool:
    """A date of a form the pattern takes that no calendar has, or outside years 1900-9000 in
    UTC (the engine's bounds) once its offset is applied."""
    match = _STAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return False
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    if not (1900 <= year <= 9000 and 1 <= month <= 12 and 1 <= day <= 31):
        return False  # the pattern says that much
    if day > calendar.monthrange(year, month)[1]:
        return True
    if match[6] is None:
        return False
    minutes = int(match[4]) * 60 + int(match[5])
    offset = (int(match[7]) * 60 + int(match[8])) * (1 if match[6] == "+" else -1)
    first, last = (year, month, day) == (1900, 1, 1), (year, month, day) == (9000, 12, 31)
    return (first and minutes - offset < 0) or (last and minutes - offset >= 24 * 60)


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def beyond_schema(instance: Any) -> str | None:
    """Why the engine may refuse a line that the schema lets through, if it is one of those."""
    for obj in _objects(instance):
        transfer = obj.get("type") == "part.transferred" and "location" in obj
        if transfer and obj["location"] == obj.get("to_location"):
            return "to_location equals location"
        for name in MONEY:
            value = obj.get(name)
            if isinstance(value, Decimal) and (Fraction(value) * 100).denominator != 1:
                return "a JSON number with more than 2 decimals"
        for name in INTEGERS:
            if isinstance(obj.get(name), Decimal | float):
                return "an integer written with a fraction"
        for name in ("occurred_at", "due_date"):
            if _not_on_the_calendar(obj.get(name)):
                return "not on the calendar"
    return None


def assert_agrees(line: str) -> tuple[Parsed | Invalid, str]:
    """The engine's answer to a line, checked against the schema's, and how they compare."""
    result = parse_line(line.encode())
    if isinstance(result, Parsed):
        assert not schema_errors(load(line)), f"the engine accepts what the schema refuses: {line}"
        return result, "accepted by both"
    if result.reason == "invalid_json":
        return result, "not JSON"
    assert result.reason in ("invalid", "unknown_type"), result
    gap = beyond_schema(load(line))
    if gap is None:
        assert schema_errors(load(line)), f"schema lets through {result.detail!r}: {line}"
    return result, f"rejected: {gap or 'by both'}"


# --- (a) the committed file, (b) a valid 2020-12 schema ----------------------------------------


def test_the_committed_schema_file_is_the_generated_one() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""

    assert committed == touchpoint_json_schema_text(), (
        f"{SCHEMA_FILE.name} differs from the models' schema: regenerate it with `{REGENERATE}`"
    )


def test_the_schema_is_a_valid_draft_2020_12_schema_with_its_identity() -> None:
    Draft202012Validator.check_schema(SCHEMA)

    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].startswith("urn:") and SCHEMA["title"] and SCHEMA["description"]
    assert SCHEMA["discriminator"]["propertyName"] == "type"
    assert sorted(SCHEMA["discriminator"]["mapping"]) == sorted(TOUCHPOINT_TYPES)
    assert len(SCHEMA["oneOf"]) == 24


def test_every_object_of_the_schema_is_closed_and_null_is_never_a_default() -> None:
    for name, definition in SCHEMA["$defs"].items():
        assert definition["additionalProperties"] is False, name
        for field, rule in definition["properties"].items():
            assert rule.get("default", "") is not None, f"{name}.{field}"


# --- (c) agreement with the engine -------------------------------------------------------------


def test_every_workload_line_agrees_with_the_engine() -> None:
    options = WorkloadOptions(customers=300, seed=11, bad_rate=0.05, late_rate=0.05)
    outcomes: Counter[str] = Counter()
    for line, _label in generate_with_labels(options):
        result, _ = assert_agrees(line)
        outcomes[result.touchpoint.type if isinstance(result, Parsed) else result.reason] += 1

    assert set(TOUCHPOINT_TYPES) <= set(outcomes), outcomes  # every type accepted at least once
    assert outcomes["invalid"] > 20 and outcomes["unknown_type"] > 5, outcomes


E = {"touchpoint_id": "tp-1", "occurred_at": "2024-05-01T10:15:00+02:00"}
C = {**E, "customer_id": "C1"}
LINE = {"sku": "S1", "qty": 2, "unit_price": "19.99"}
#: One valid touchpoint per type, with every optional field.
VALID: dict[str, dict[str, Any]] = {
    "purchase.placed": {**C, "order_id": "O1", "lines": [LINE], "currency": "EUR",
                        "channel": "web", "source": "shop", "error": "slow_page"},
    "purchase.delivered": {**C, "order_id": "O1"},
    "purchase.delivery_failed": {**C, "order_id": "O1", "reason": "nobody home"},
    "purchase.returned": {**C, "order_id": "O1", "lines": [{"sku": "S1", "qty": 1}],
                          "reason": "broken"},
    "purchase.cancelled": {**C, "order_id": "O1", "reason": ""},
    "invoice.issued": {**C, "invoice_id": "I1", "amount": Decimal("25.0"), "currency": "EUR",
                       "due_date": "2024-05-31", "order_id": "O1"},
    "invoice.paid": {**C, "invoice_id": "I1", "amount": "25.00"},
    "invoice.reminder_sent": {**C, "invoice_id": "I1"},
    "invoice.corrected": {**C, "invoice_id": "I1", "error_type": "tax",
                          "amount_delta": Decimal("-5.5")},
    "complaint.opened": {**C, "case_id": "K1", "category": "billing", "demand": "unknown",
                         "subject": {"type": "invoice", "id": "I1"}, "text": "charged twice"},
    "complaint.contact_logged": {**C, "case_id": "K1", "direction": "inbound"},
    "complaint.resolved": {**C, "case_id": "K1", "resolution": "refunded", "satisfaction": 4},
    "complaint.reopened": {**C, "case_id": "K1", "reason": "not refunded"},
    "complaint.closed": {**C, "case_id": "K1"},
    "repair.requested": {**C, "repair_id": "R1", "serial": "SN-1", "fault": "no power",
                         "warranty": True, "case_id": "K1"},
    "repair.completed": {**C, "repair_id": "R1", "outcome": "not_fixed"},
    "repair.returned": {**C, "repair_id": "R1"},
    "part.received": {**E, "part_id": "P1", "location": "L1", "qty": 10, "unit_cost": 3},
    "part.reserved": {**E, "part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.released": {**E, "part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.issued": {**E, "part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.returned": {**E, "part_id": "P1", "location": "L1", "qty": 1, "repair_id": "R1"},
    "part.adjusted": {**E, "part_id": "P1", "location": "L1", "qty": -2, "reason": "count"},
    "part.transferred": {**E, "part_id": "P1", "location": "L1", "to_location": "L2", "qty": 3},
}


def touchpoint(type_: str, **changes: Any) -> dict[str, Any]:
    """The valid example of ``type_``; a change to ``...`` removes the field."""
    obj = {"type": type_, **json.loads(dump(VALID[type_]), parse_float=Decimal)}
    for name, value in changes.items():
        obj[name] = value
        if value is ...:
            del obj[name]
    return obj


DELIVERED, OPENED = "purchase.delivered", "complaint.opened"


def priced(unit_price: Any) -> dict[str, Any]:
    return touchpoint("purchase.placed", lines=[{**LINE, "unit_price": unit_price}])


#: Rejected by the engine and by the schema: (engine's reason, line).
EXPRESSED = {
    "not an object": ("invalid_json", [touchpoint(DELIVERED)]),
    "type missing": ("unknown_type", touchpoint(DELIVERED, type=...)),
    "type unknown": ("unknown_type", touchpoint(DELIVERED, type="purchase.shipped")),
    "type not a string": ("unknown_type", touchpoint(DELIVERED, type=None)),
    "touchpoint_id alphabet": ("invalid", touchpoint(DELIVERED, touchpoint_id="t 1")),
    "touchpoint_id length": ("invalid", touchpoint(DELIVERED, touchpoint_id="t" * 129)),
    "touchpoint_id final LF": ("invalid", touchpoint(DELIVERED, touchpoint_id="t\n")),
    "no offset": ("invalid", touchpoint(DELIVERED, occurred_at="2024-05-01T10:00:00")),
    "space for T": ("invalid", touchpoint(DELIVERED, occurred_at="2024-05-01 10:00Z")),
    "leap second": ("invalid", touchpoint(DELIVERED, occurred_at="2024-06-30T23:59:60Z")),
    "year 0": ("invalid", touchpoint(DELIVERED, occurred_at="0000-05-01T10:00:00Z")),
    "offset +24:00": ("invalid", touchpoint(DELIVERED, occurred_at="2024-05-01T10:00:00+24:00")),
    "customer_id missing": ("invalid", touchpoint(DELIVERED, customer_id=...)),
    "customer_id null": ("invalid", touchpoint(DELIVERED, customer_id=None)),
    "customer_id on part": ("invalid", touchpoint("part.received", customer_id="C1")),
    "customer_id null on part": ("invalid", touchpoint("part.received", customer_id=None)),
    "channel case": ("invalid", touchpoint(DELIVERED, channel="Web")),
    "source too long": ("invalid", touchpoint(DELIVERED, source="s" * 65)),
    "error empty": ("invalid", touchpoint(DELIVERED, error="")),
    "error alphabet": ("invalid", touchpoint(DELIVERED, error="Late")),
    "extra field": ("invalid", touchpoint(DELIVERED, note="x")),
    "optional null": ("invalid", touchpoint("invoice.issued", order_id=None)),
    "no lines": ("invalid", touchpoint("purchase.placed", lines=[])),
    "501 lines": ("invalid", touchpoint("purchase.placed", lines=[LINE] * 501)),
    "line extra": ("invalid", touchpoint("purchase.placed", lines=[{**LINE, "tax": 1}])),
    "qty 0": ("invalid", touchpoint("purchase.placed", lines=[{**LINE, "qty": 0}])),
    "qty string": ("invalid", touchpoint("part.issued", qty="1")),
    "qty boolean": ("invalid", touchpoint("part.issued", qty=True)),
    "price negative": ("invalid", priced(-1)),
    "price 3 decimals": ("invalid", priced("1.005")),
    "price exponent": ("invalid", priced("1e2")),
    "price boolean": ("invalid", priced(True)),
    "currency case": ("invalid", touchpoint("purchase.placed", currency="eur")),
    "reason too long": ("invalid", touchpoint("purchase.delivery_failed", reason="r" * 201)),
    "paid 0": ("invalid", touchpoint("invoice.paid", amount=0)),
    "paid -0.00": ("invalid", touchpoint("invoice.paid", amount="-0.00")),
    "issued negative": ("invalid", touchpoint("invoice.issued", amount="-0.01")),
    "money 10^26": ("invalid", touchpoint("invoice.corrected", amount_delta=10**26)),
    "-10^26 string": ("invalid", touchpoint("invoice.corrected", amount_delta=str(-(10**26)))),
    "due_date form": ("invalid", touchpoint("invoice.issued", due_date="2024-5-31")),
    "due_date month 13": ("invalid", touchpoint("invoice.issued", due_date="2024-13-01")),
    "error_type": ("invalid", touchpoint("invoice.corrected", error_type="typo")),
    "subject type": ("invalid", touchpoint(OPENED, subject={"type": "case", "id": "K"})),
    "subject id missing": ("invalid", touchpoint(OPENED, subject={"type": "order"})),
    "demand": ("invalid", touchpoint(OPENED, demand="maybe")),
    "text too long": ("invalid", touchpoint(OPENED, text="t" * 2001)),
    "satisfaction 6": ("invalid", touchpoint("complaint.resolved", satisfaction=6)),
    "warranty string": ("invalid", touchpoint("repair.requested", warranty="yes")),
    "outcome": ("invalid", touchpoint("repair.completed", outcome="broken")),
    "adjusted by 0": ("invalid", touchpoint("part.adjusted", qty=0)),
    "unit_cost negative": ("invalid", touchpoint("part.received", unit_cost="-1")),
    "to_location missing": ("invalid", touchpoint("part.transferred", to_location=...)),
    # engine bounds (deviations, docs/contract.md 1.3): they fit every store and view column
    "qty above 10^8": ("invalid", touchpoint("part.received", qty=10**8 + 1)),
    "qty 2^63": ("invalid", touchpoint("part.received", qty=2**63)),
    "line qty above 10^8": ("invalid", touchpoint("purchase.placed",
                                                  lines=[{**LINE, "qty": 10**8 + 1}])),
    "adjusted below -10^8": ("invalid", touchpoint("part.adjusted", qty=-(10**8) - 1)),
    "NUL in part_id": ("invalid", touchpoint("part.received", part_id="P1\u0000x")),
    "NUL in customer_id": ("invalid", touchpoint(DELIVERED, customer_id="C\u0000")),
    "LF in sku": ("invalid", touchpoint("purchase.placed", lines=[{**LINE, "sku": "S\n"}])),
    "DEL in subject id": ("invalid", touchpoint(OPENED, subject={"type": "order",
                                                                 "id": "O\u007f"})),
    "C1 in location": ("invalid", touchpoint("part.received", location="L\u0085")),
    "tab in source": ("invalid", touchpoint(DELIVERED, source="a\tb")),
    "NUL in reason": ("invalid", touchpoint("purchase.cancelled", reason="r\u0000")),
    "NUL in text": ("invalid", touchpoint(OPENED, text="\u0000")),
    "year 0001": ("invalid", touchpoint(DELIVERED, occurred_at="0001-01-01T00:00:00Z")),
    "year 1899": ("invalid", touchpoint(DELIVERED, occurred_at="1899-12-31T23:59:59Z")),
    "year 9001": ("invalid", touchpoint(DELIVERED, occurred_at="9001-01-01T00:00:00Z")),
    "due_date year 9999": ("invalid", touchpoint("invoice.issued", due_date="9999-12-31")),
}


@pytest.mark.parametrize("case", sorted(EXPRESSED))
def test_a_line_the_engine_rejects_for_an_expressible_reason_fails_the_schema(case: str) -> None:
    reason, obj = EXPRESSED[case]

    result = parse_line(dump(obj).encode())

    assert isinstance(result, Invalid) and result.reason == reason, result
    assert beyond_schema(obj) is None
    assert schema_errors(obj)


#: Accepted by both, at the edges of the rules.
EDGES = {
    "money 2 decimals then zeros": touchpoint("invoice.paid", amount="1.100"),
    "money -0.00 is not negative": touchpoint("invoice.issued", amount="-0.00"),
    "money below 10^26": touchpoint("invoice.corrected", amount_delta="-" + "9" * 26 + ".99"),
    "money number 1E+2": touchpoint("invoice.paid", amount=Decimal("1E+2")),
    "lower-case t and z": touchpoint("purchase.delivered", occurred_at="2024-05-01t10:00:00z"),
    "nanoseconds, offset -00:00": touchpoint("purchase.delivered",
                                             occurred_at="2024-05-01T10:00:00.123456789-00:00"),
    "leap day": touchpoint("invoice.issued", due_date="2024-02-29"),
    "demand left out": touchpoint("complaint.opened", demand=...),
    "500 lines": touchpoint("purchase.placed", lines=[LINE] * 500),
    "text of 2000": touchpoint("complaint.opened", text="t" * 2000),
    "qty at the engine's limit": touchpoint("part.received", qty=10**8),
    "line qty at the engine's limit": touchpoint("purchase.placed",
                                                 lines=[{**LINE, "qty": 10**8}]),
    "adjusted by -10^8": touchpoint("part.adjusted", qty=-(10**8)),
    "first and last years": touchpoint("invoice.issued", occurred_at="1900-01-01T00:00:00Z",
                                       due_date="9000-12-31"),
    "line breaks and a tab in free text": touchpoint(OPENED, text="a\r\n\tb\u2028c"),
    "a line separator in an id": touchpoint(DELIVERED, order_id="O\u2028"),
}


@pytest.mark.parametrize("case", sorted(EDGES))
def test_a_line_at_the_edge_of_the_rules_passes_both(case: str) -> None:
    assert isinstance(parse_line(dump(EDGES[case]).encode()), Parsed)
    assert not schema_errors(EDGES[case])


#: Rejected by the engine, let through by the schema: the gaps the docs list.
GAPS = {
    "to_location equals location": touchpoint("part.transferred", to_location="L1"),
    "a JSON number with 3 decimals": touchpoint("invoice.paid", amount=Decimal("12.345")),
    "February 30th": touchpoint("invoice.issued", due_date="2024-02-30"),
    "beyond 9000 in UTC": touchpoint("purchase.delivered",
                                     occurred_at="9000-12-31T23:30:00-01:00"),
    "before 1900 in UTC": touchpoint("purchase.delivered",
                                     occurred_at="1900-01-01T00:30:00+01:00"),
}


@pytest.mark.parametrize("case", sorted(GAPS))
def test_what_the_schema_cannot_express_is_only_caught_by_the_engine(case: str) -> None:
    result = parse_line(dump(GAPS[case]).encode())

    assert isinstance(result, Invalid) and result.reason == "invalid", result
    assert beyond_schema(GAPS[case]) is not None
    assert not schema_errors(GAPS[case])


def test_text_level_rules_are_beyond_the_schema_and_formats_catch_the_calendar() -> None:
    repeated = dump(touchpoint("purchase.delivered")).replace('"O1"', '"O1","order_id":"O1"')
    assert isinstance(parse_line(repeated.encode()), Invalid)
    assert not schema_errors(json.loads(repeated))  # a parsed object has each key once
    assert not schema_errors({**touchpoint("part.issued"), "qty": 1.0})  # an integer to 2020-12

    asserting = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
    assert not asserting.is_valid(GAPS["February 30th"])


# --- Properties ---------------------------------------------------------------------------------

TYPE_NAMES = sorted(VALID)
FIELD_NAMES = sorted({name for model in TOUCHPOINT_TYPES.values() for name in model.model_fields})
#: Each field's values in the examples above: a mutation may move a value to another type.
SEEN: dict[str, list[Any]] = {}
for _example in [*VALID.values(), *EDGES.values(), *GAPS.values()]:
    for _name, _value in _example.items():
        SEEN.setdefault(_name, []).append(_value)
WORDS = ["", "Web", "eur", "order", "case", "fixed", "value", "failure", "12.505", "-0", "1e5",
         "t\n", "2024-02-30", "2024-05-01T10:00:00", "L1", "L2", *TYPE_NAMES]
values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.sampled_from(WORDS) | st.text(max_size=6) | st.text(min_size=60, max_size=210),
    lambda inner: st.lists(inner, max_size=2)
    | st.fixed_dictionaries({"sku": inner, "qty": inner}, optional={"unit_price": inner})
    | st.fixed_dictionaries({"type": inner}, optional={"id": inner}),
    max_leaves=6,
)


@FAST
@given(st.sampled_from(TYPE_NAMES), st.data())
def test_mutated_touchpoints_get_the_same_answer_from_both(type_: str, data: Any) -> None:
    obj = touchpoint(type_)
    for _ in range(data.draw(st.integers(0, 3))):
        name = data.draw(st.sampled_from(sorted(obj)) | st.sampled_from(FIELD_NAMES))
        obj[name] = data.draw(st.sampled_from(SEEN.get(name, [...])) | values | st.just(...))
        if obj[name] is ...:
            del obj[name]

    event(assert_agrees(dump(obj))[1])


MONEY_FIELDS = [("invoice.corrected", "amount_delta"), ("invoice.issued", "amount"),
                ("invoice.paid", "amount")]


@FAST
@given(
    st.sampled_from(MONEY_FIELDS),
    st.from_regex(r"-?[0-9]{1,28}(\.[0-9]{0,4})?", fullmatch=True)
    | st.text(alphabet="0123456789.-+eE ", max_size=8)
    | st.integers(-(10**27), 10**27)
    | st.decimals(-(10**27), 10**27, allow_nan=False, allow_infinity=False, places=2),
)
@example(("invoice.corrected", "amount_delta"), Decimal("100000000000000000000000000.00"))
def test_money_strings_and_numbers_of_2_decimals_get_the_same_answer(
    field: tuple[str, str], amount: str | int | Decimal
) -> None:
    type_, name = field

    event(assert_agrees(dump(touchpoint(type_, **{name: amount})))[1])


def two(low: int, high: int) -> st.SearchStrategy[str]:
    """Two digits from low to high, the edges (high is one beyond the rule) drawn often."""
    return (st.sampled_from([low, low + 1, high - 1, high]) | st.integers(low, high)).map(
        "{:02d}".format
    )


dates = st.tuples(
    st.sampled_from([0, 1, 1899, 1900, 2023, 2024, 9000, 9001, 9999]) | st.integers(0, 9999),
    two(0, 13), two(0, 32),
).map(lambda ymd: f"{ymd[0]:04d}-{ymd[1]}-{ymd[2]}")
offsets = st.sampled_from(["Z", "z", ""]) | st.tuples(
    st.sampled_from("+-"), two(0, 24), two(0, 60)).map(lambda o: f"{o[0]}{o[1]}:{o[2]}")
timestamps = st.tuples(
    dates, st.sampled_from("Tt "), two(0, 24), two(0, 60), two(0, 60),
    st.sampled_from(["", ".5", ".123456789"]), offsets,
).map(lambda p: f"{p[0]}{p[1]}{p[2]}:{p[3]}:{p[4]}{p[5]}{p[6]}")


@FAST
@given(
    st.tuples(st.just("occurred_at"), timestamps)
    | st.tuples(st.just("due_date"), dates)
    | st.tuples(st.sampled_from(["occurred_at", "due_date"]), dates | timestamps)
)
def test_timestamps_and_dates_get_the_same_answer(field: tuple[str, str]) -> None:
    name, text = field

    event(assert_agrees(dump(touchpoint("invoice.issued", **{name: text})))[1])
