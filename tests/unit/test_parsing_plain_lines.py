"""The short way for plain lines gives exactly the full way's answer, or none at all."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from journey.schemas import TOUCHPOINT_TYPES, Invalid, Parsed, parse_line, parsing
from journey.schemas.plain_lines import _plan_of, parse_plain
from tests.unit.test_schemas import example

MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPE_NAMES = sorted(TOUCHPOINT_TYPES)


@contextmanager
def full_way_only() -> Iterator[None]:
    with mock.patch.object(parsing, "parse_plain", lambda raw: None):
        yield


def full_way(raw: bytes) -> Parsed | Invalid:
    with full_way_only():
        return parse_line(raw)


def shape(value: Any) -> Any:
    """Everything that tells two parsed values apart: types, Decimal exponents, time zones."""
    if isinstance(value, BaseModel):
        fields = [(name, shape(getattr(value, name))) for name in type(value).model_fields]
        return type(value), sorted(value.model_fields_set), fields
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, Decimal):
        return Decimal, str(value)
    if isinstance(value, datetime):
        return datetime, value.isoformat(), value.tzinfo
    return type(value), value


def assert_same_answer(raw: bytes) -> Parsed | Invalid:
    """parse_line equals the full way on ``raw``; the short way answers only valid lines."""
    short = parse_plain(raw)
    answer, expected = parse_line(raw), full_way(raw)

    assert type(answer) is type(expected)
    if isinstance(expected, Invalid):
        assert short is None
        assert answer == expected
    else:
        assert isinstance(answer, Parsed)
        assert shape(answer.touchpoint) == shape(expected.touchpoint)
        assert answer.touchpoint == expected.touchpoint
        assert answer.content_hash == expected.content_hash
        assert answer.raw == expected.raw == raw
        if short is not None:
            assert shape(short[0]) == shape(expected.touchpoint)
            assert short[1] == expected.content_hash
    return answer


# --- Writing lines: any key order, repeated keys, money and spacing as written -------------


class Raw(str):
    """JSON text written as is (a number exactly as given)."""


Pairs = list[tuple[str, Any]]


def pairs_of(value: Any) -> Any:
    if isinstance(value, dict):
        return [(key, pairs_of(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [pairs_of(item) for item in value]
    return value


def render(value: Any, colon: str, comma: str) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, tuple) for item in value) and value:
        return "{" + comma.join(f"{json.dumps(key)}{colon}{render(item, colon, comma)}"
                                for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + comma.join(render(item, colon, comma) for item in value) + "]"
    return json.dumps(value)


MONEY_TEXTS = [
    "0", "1", "10", "25.0", "19.99", "19.990", "19.9", "0.00", "0.01", "-0.00", "-5.5", "1E+2",
    "1e2", "1.5e1", "12.345", "12.340", "99999999999999.99", "123456789012345.5",
    "1234567890123456.5", "1e25", "99999999999999999999999999", "18446744073709551616",
    '"19.99"', '"019.99"', '"5"', '"-1.00"', '"1.234"', '"1e2"', '" 1"', "true", "null", "[]",
]
PLAIN_MONEY = ["0.00", "0.0", "7.10", "7.1", "5", "-2.50", '"0.00"', '"3.5"', "1234.56"]
STRANGE_STRINGS = [
    "a\":1.5,", ":1.5,\"x\":2.5", "a b", "\u00e9", "\u0000", "\x7f", "\u0085", "\\", "\"",
    "tab\there", "\ud83d\ude00", "x\":", "", "  ", "1.5", "purchase.placed",
]
COLONS = [":", ": ", " :", "  :  "]
COMMAS = [",", ", ", " ,"]


def money_fields(obj: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    found = [(obj, name) for name in ("amount", "amount_delta", "unit_cost") if name in obj]
    found += [(item, "unit_price") for item in obj.get("lines", ()) if "unit_price" in item]
    return found


@st.composite
def written_lines(draw: st.DrawFn) -> bytes:
    """Valid examples of every type, then changed the ways a short cut could get wrong."""
    obj = example(draw(st.sampled_from(TYPE_NAMES)))
    for holder, name in money_fields(obj):
        holder[name] = Raw(draw(st.sampled_from(MONEY_TEXTS) | st.sampled_from(PLAIN_MONEY)))
    if "lines" in obj and draw(st.booleans()):
        obj["lines"] = obj["lines"] * draw(st.integers(1, 3))
    tree = pairs_of(obj)
    rng = draw(st.randoms(use_true_random=False))
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["repeat", "repeat_nested", "string", "number", "drop",
                                       "shuffle", "add"]))
        holders = [tree] + [value for _, value in tree
                            if isinstance(value, list) and value and isinstance(value[0], tuple)]
        holders += [item for _, value in tree if isinstance(value, list)
                    for item in value if isinstance(item, list) and item]
        target = rng.choice(holders if change == "repeat_nested" else [tree])
        if change in ("repeat", "repeat_nested"):
            key, value = rng.choice(target)
            again = value if draw(st.booleans()) else draw(st.sampled_from([Raw("1.5"), "x", 2]))
            target.insert(rng.randrange(len(target) + 1), (key, again))
        elif change == "string":
            index = rng.randrange(len(target))
            target[index] = (target[index][0], draw(st.sampled_from(STRANGE_STRINGS)))
        elif change == "number":
            index = rng.randrange(len(target))
            target[index] = (target[index][0], Raw(draw(st.sampled_from(MONEY_TEXTS))))
        elif change == "drop" and len(target) > 1:
            target.pop(rng.randrange(len(target)))
        elif change == "shuffle":
            rng.shuffle(target)
        elif change == "add":
            target.append((draw(st.sampled_from([*STRANGE_STRINGS, "extra", "unit_price"])),
                           Raw(draw(st.sampled_from(MONEY_TEXTS)))))
    colon, comma = draw(st.sampled_from(COLONS[:2])), draw(st.sampled_from(COMMAS[:2]))
    if draw(st.integers(0, 4)) == 0:
        colon, comma = draw(st.sampled_from(COLONS)), draw(st.sampled_from(COMMAS))
    return render(tree, colon, comma).encode()


@MANY
@given(written_lines())
def test_written_lines_get_the_full_ways_answer(raw: bytes) -> None:
    assert_same_answer(raw)


@MANY
@given(written_lines(), st.data())
def test_lines_changed_byte_by_byte_get_the_full_ways_answer(
    raw: bytes, data: st.DataObject
) -> None:
    alphabet = st.sampled_from(list(b'":,{}[] 0123456789.eE-+\\ntru\x00\x7f\xc3\xa9'))
    changed = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(changed)))
        how = data.draw(st.sampled_from(["insert", "replace", "delete"]))
        if how == "insert":
            changed.insert(at, data.draw(alphabet))
        elif at < len(changed):
            if how == "replace":
                changed[at] = data.draw(alphabet)
            else:
                del changed[at]

    assert_same_answer(bytes(changed))


# --- The short way is taken, and what it must refuse ---------------------------------------


def compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@pytest.mark.parametrize("type_", TYPE_NAMES)
@pytest.mark.parametrize("dump", [compact, lambda obj: json.dumps(obj).encode()])
def test_a_valid_line_of_every_type_takes_the_short_way(type_: str, dump: Any) -> None:
    raw = dump(example(type_))

    assert parse_plain(raw) is not None
    assert isinstance(assert_same_answer(raw), Parsed)


def test_generated_money_as_numbers_takes_the_short_way() -> None:
    lines = [{"sku": f"S{n}", "qty": n, "unit_price": Raw(price)}
             for n, price in enumerate(["9.99", "0.5", "12", "0.00", "1234.50"], 1)]
    raw = render(pairs_of(example("purchase.placed", lines=lines)), ":", ",").encode()

    assert parse_plain(raw) is not None
    result = assert_same_answer(raw)
    assert isinstance(result, Parsed)
    assert [str(item.unit_price) for item in result.touchpoint.lines] == [  # type: ignore[attr-defined]
        "9.99", "0.5", "12", "0.00", "1234.50"]


@pytest.mark.parametrize(
    "raw",
    [
        # a key given twice, with a valid last value: orjson alone would keep the last one
        b'{"touchpoint_id":"t1","type":"invoice.paid","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","invoice_id":"I1","amount":5,"amount":6}',
        b'{"touchpoint_id":"t1","type":"invoice.paid","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","invoice_id":"I1","amount":5 ,"amount" :6}',
        b'{"touchpoint_id":"t1","type":"purchase.returned","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","order_id":"O1","reason":"x","lines":[{"sku":"S","qty":1,"qty":2}]}',
        b'{"touchpoint_id":"t1","type":"complaint.opened","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","case_id":"K1","category":"billing",'
        b'"subject":{"type":"order","id":"O1","id":"O2"}}',
        # money written with more decimals, an exponent, or a giant integer as a float
        b'{"touchpoint_id":"t1","type":"invoice.paid","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","invoice_id":"I1","amount":5.100}',
        b'{"touchpoint_id":"t1","type":"invoice.paid","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","invoice_id":"I1","amount":1E+2}',
        b'{"touchpoint_id":"t1","type":"invoice.issued","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","invoice_id":"I1","amount":18446744073709551616,"currency":"EUR",'
        b'"due_date":"2024-06-01","order_id":"a:1.5,"}',
        # an escape, a NUL, a control character, a lone surrogate
        b'{"touchpoint_id":"t1","type":"purchase.cancelled","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C\\u0031","order_id":"O1","reason":"\\u0000"}',
        b'{"touchpoint_id":"t1","type":"purchase.cancelled","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","order_id":"O1","reason":"\\ud800"}',
        b'{"touchpoint_id":"t1","type":"purchase.cancelled","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1\x7f","order_id":"O1","reason":"x"}',
        b'{"touchpoint_id":"t1","type":"purchase.cancelled","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","order_id":"O1","reason":"x","reason"\t:"y"}',
        # money the checks rewrite: more zeros, a negative zero
        b'{"touchpoint_id":"t1","type":"invoice.paid","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","invoice_id":"I1","amount":5.000}',
        b'{"touchpoint_id":"t1","type":"invoice.corrected","occurred_at":"2024-05-01T10:00:00Z",'
        b'"customer_id":"C1","invoice_id":"I1","error_type":"tax","amount_delta":-0.00}',
    ],
)
def test_what_the_short_way_leaves_to_the_full_way(raw: bytes) -> None:
    assert parse_plain(raw) is None
    assert_same_answer(raw)


def test_a_repeated_key_is_refused_even_when_its_values_are_valid() -> None:
    raw = compact(example("invoice.paid"))[:-1] + b',"amount":"7.00"}'

    result = assert_same_answer(raw)

    assert isinstance(result, Invalid)
    assert result.detail == "amount: duplicate field"


@MANY
@given(st.sampled_from(TYPE_NAMES), st.randoms(use_true_random=False))
def test_shuffled_valid_lines_of_every_type_hash_as_the_full_way(
    type_: str, rng: random.Random
) -> None:
    items = list(example(type_).items())
    rng.shuffle(items)

    assert isinstance(assert_same_answer(compact(dict(items))), Parsed)


def test_the_short_ways_validators_skip_the_checks_a_plain_line_cannot_fail() -> None:
    """They are built from rewritten schemas, not the models' own validators (which
    pydantic-core would reuse): a control character gets through them, so only the plain-line
    test in front keeps such a line from them."""
    obj = example("purchase.cancelled", customer_id="C\x01")
    validator = _plan_of("purchase.cancelled").validator

    touchpoint = validator.validate_python(obj)

    assert type(touchpoint) is TOUCHPOINT_TYPES["purchase.cancelled"]
    assert parse_plain(compact(obj)) is None
    assert isinstance(assert_same_answer(compact(obj)), Invalid)
