"""Properties of the edge: whatever the input, a reject is a reason, never a crash."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.schemas import SCHEMA_REASONS, TOUCHPOINT_TYPES, Invalid, Parsed, parse_line
from tests.unit.test_schemas import VALID, example

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIELD_NAMES = sorted(
    {name for model in TOUCHPOINT_TYPES.values() for name in model.model_fields}
    | {"sku", "qty", "unit_price", "id"}
)
TYPE_NAMES = sorted(TOUCHPOINT_TYPES)
MONEY_FIELDS = {"amount", "amount_delta", "unit_cost"}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(TYPE_NAMES)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def check_answer(raw: bytes) -> Parsed | Invalid:
    result = parse_line(raw)

    assert isinstance(result, Parsed | Invalid)
    assert result.raw == raw
    if isinstance(result, Invalid):
        assert result.reason in SCHEMA_REASONS
        assert isinstance(result.detail, str)
        assert result.detail
        assert result.touchpoint_id is None or isinstance(result.touchpoint_id, str)
    return result


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes_get_an_answer(raw: bytes) -> None:
    check_answer(raw)


@FAST
@given(st.binary(max_size=40), st.sampled_from([b"{", b"[", b'{"type": ', b'"', b"\\u"]))
def test_arbitrary_bytes_after_a_json_start_get_an_answer(tail: bytes, start: bytes) -> None:
    check_answer(start + tail)


@FAST
@given(json_values)
def test_arbitrary_json_values_get_an_answer(value: Any) -> None:
    result = check_answer(json.dumps(value).encode())

    if not isinstance(value, dict):
        assert isinstance(result, Invalid)
        assert result.reason == "invalid_json"


@FAST
@given(
    st.sampled_from(TYPE_NAMES),
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8),
)
def test_envelopes_with_random_fields_get_an_answer(type_: str, fields: dict[str, Any]) -> None:
    obj = {**example(type_), **fields}

    result = check_answer(json.dumps(obj).encode())

    given_id = obj.get("touchpoint_id")
    if isinstance(result, Invalid) and result.reason != "invalid_json":
        assert result.touchpoint_id == (given_id if isinstance(given_id, str) else None)


@FAST
@given(st.sampled_from(TYPE_NAMES), st.randoms(use_true_random=False))
def test_a_valid_touchpoint_with_its_keys_shuffled_has_the_same_content_hash(
    type_: str, rng: random.Random
) -> None:
    obj = example(type_)
    items = list(obj.items())
    rng.shuffle(items)

    original = parse_line(json.dumps(obj).encode())
    shuffled = parse_line(json.dumps(dict(items), indent=rng.choice([None, 1])).encode())

    assert isinstance(original, Parsed)
    assert isinstance(shuffled, Parsed)
    assert original.content_hash == shuffled.content_hash


def required_fields(type_: str) -> list[str]:
    fields = TOUCHPOINT_TYPES[type_].model_fields
    return [name for name, info in fields.items() if info.is_required() and name != "type"]


@FAST
@given(st.data())
def test_a_valid_touchpoint_without_a_required_field_is_invalid(data: st.DataObject) -> None:
    type_ = data.draw(st.sampled_from(TYPE_NAMES))
    field = data.draw(st.sampled_from(required_fields(type_)))

    result = parse_line(json.dumps(example(type_, **{field: ...})).encode())

    assert isinstance(result, Invalid)
    assert result.reason == "invalid"
    assert result.detail.startswith(f"{field}:")


@FAST
@given(
    st.sampled_from(TYPE_NAMES), st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True), json_values
)
def test_a_valid_touchpoint_with_a_field_added_is_invalid(
    type_: str, field: str, value: Any
) -> None:
    if field in TOUCHPOINT_TYPES[type_].model_fields:
        field += "_extra"

    result = parse_line(json.dumps({**example(type_), field: value}).encode())

    assert isinstance(result, Invalid)
    assert result.reason == "invalid"
    assert result.detail.startswith(f"{field}:")


@FAST
@given(st.sampled_from(TYPE_NAMES), st.text(min_size=1, max_size=300))
def test_any_added_field_name_is_shown_escaped_and_short(type_: str, field: str) -> None:
    if field in TOUCHPOINT_TYPES[type_].model_fields:
        field += "!"

    result = parse_line(json.dumps({**example(type_), field: 1}).encode())

    assert isinstance(result, Invalid)
    assert result.reason == "invalid"
    assert result.detail.isprintable()
    assert len(result.detail) < 80 * len("\\ud83d\\ude00") + 100  # 80 characters, escaped


def other_json_types(field: str, value: Any) -> list[Any]:
    """Values of another JSON type than ``value`` that ``field`` can never accept."""
    candidates: list[Any] = [None, True, [], {}]
    if isinstance(value, str) and field not in MONEY_FIELDS:
        candidates += [1, 1.5]
    if isinstance(value, int) and not isinstance(value, bool):
        candidates += ["1", 1.5]
    return [c for c in candidates if type(c) is not type(value)]


@FAST
@given(st.data())
def test_a_valid_touchpoint_with_a_field_of_another_type_is_invalid(data: st.DataObject) -> None:
    type_ = data.draw(st.sampled_from(TYPE_NAMES))
    obj = example(type_)
    field = data.draw(st.sampled_from(sorted(set(obj) - {"type"})))
    value = data.draw(st.sampled_from(other_json_types(field, obj[field])))

    result = parse_line(json.dumps({**obj, field: value}).encode())

    assert isinstance(result, Invalid)
    assert result.reason == "invalid"
    assert result.detail.startswith(f"{field}:")


@FAST
@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9000, 12, 30)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
def test_occurred_at_is_the_same_instant_in_utc(moment: datetime, offset_minutes: int) -> None:
    offset = timedelta(minutes=offset_minutes)
    written = moment.isoformat(timespec="microseconds") + (
        f"{'+' if offset_minutes >= 0 else '-'}"
        f"{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    )

    result = parse_line(json.dumps(example("purchase.delivered", occurred_at=written)).encode())

    assert isinstance(result, Parsed)
    assert (moment - offset).replace(tzinfo=UTC) == result.touchpoint.occurred_at


@FAST
@given(
    st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False),
    st.booleans(),
)
def test_money_with_two_decimals_is_kept_exactly(amount: Decimal, as_string: bool) -> None:
    text = f'"{amount:f}"' if as_string else f"{amount:f}"
    raw = json.dumps(example("invoice.corrected", amount_delta="__RAW__")).encode()

    result = parse_line(raw.replace(b'"__RAW__"', text.encode()))

    assert isinstance(result, Parsed)
    assert amount == result.touchpoint.amount_delta  # type: ignore[attr-defined]


def test_every_type_has_a_valid_example() -> None:
    assert set(VALID) == set(TYPE_NAMES)
