"""The short way through ``parse_line`` for plain lines: the same answer for less work.

A line is plain when it is printable ASCII without a backslash and without a quote followed by
a space. Then no string holds an escape, a control character, NUL or a surrogate, every ``"``
delimits a string, and every key is written ``"name":``. Such a line is read by orjson (several
times faster than the json module with hooks) and checked by a copy of its model's validator
without the string checks that cannot fail on it; money is read from the line's own text, never
from orjson's float.

``parse_plain`` answers only when the line is certainly valid; on anything else (a doubt, an
error, a value in an unusual form) it answers ``None`` and ``parse_line`` takes its full way,
which gives every reject with its exact reason and detail.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from hashlib import sha256
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic_core import CoreSchema, SchemaValidator

from journey.schemas import fields
from journey.schemas.touchpoint import TOUCHPOINT_TYPES, Touchpoint

# A money number right after its key: the Decimal of its text is what every money check gives.
#: The printable ASCII bytes but the backslash: nothing else is left of a plain line without them.
_PLAIN_BYTES = bytes(range(0x20, 0x7F)).replace(b"\\", b"")
_MONEY_NUMBER = re.compile(rb" *(-?[0-9]{1,15}\.[0-9]{1,2})[ ,}\]]")
_MONEY_STRING = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,2})?")
_MONEY_INT_LIMIT = 10**15

#: Checks that cannot fail on a plain line's strings (no control character, no NUL).
_PASSING = {fields._no_control, fields._no_nul}
#: The money checks: whether each takes a value below zero, and whether it needs one above.
_MONEY = {fields._to_money: (True, False), fields._non_negative_money: (False, False),
          fields._positive_money: (False, True)}


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to read a plain line of one type."""

    validator: SchemaValidator
    #: The fields holding nested objects (a list of them or one), for the count of keys.
    nested: tuple[str, ...]
    #: Where the type holds money: ``(field,)``, ``(list field, field of an item)`` or ``()``.
    money: tuple[str, ...]
    money_negative: bool
    money_positive: bool
    money_key: bytes


def _rewrite(schema: Any, path: tuple[str, ...], found: dict[str, Any]) -> Any:
    """A copy of a core schema without the passing checks, money taken as a ready Decimal."""
    if isinstance(schema, list):
        return [_rewrite(item, path, found) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind in ("function-after", "function-plain"):
        function = schema["function"].get("function")
        if kind == "function-after" and function in _PASSING:
            return _rewrite(schema["schema"], path, found)
        if kind == "function-plain" and function in _MONEY:
            found["money"].append((path, _MONEY[function]))
            return {"type": "is-instance", "cls": Decimal}
    if kind == "model":
        found["models"].append(schema["cls"])
        if path:
            found["nested"].append(path)
    if kind == "model-fields":
        return {**schema, "fields": {name: _rewrite(field, (*path, name), found)
                                     for name, field in schema["fields"].items()}}
    return {key: _rewrite(value, path, found) for key, value in schema.items()}


def _plan(model: type[Touchpoint]) -> _Plan | None:
    found: dict[str, Any] = {"money": [], "nested": [], "models": []}
    schema: CoreSchema = _rewrite(model.__pydantic_core_schema__, (), found)
    nested, money = found["nested"], found["money"]
    if len(money) > 1 or any(len(path) != 1 for path in nested):
        return None  # money in two places, or deeper nesting: the full way only
    path, (negative, positive) = money[0] if money else ((), (False, False))
    if len(path) > 1 and path[:1] not in nested:
        return None
    key = f'"{path[-1]}":'.encode() if path else b""
    return _Plan(_validator(schema, found["models"]), tuple(p[0] for p in nested), path,
                 negative, positive, key)


def _validator(schema: CoreSchema, models: list[type[BaseModel]]) -> SchemaValidator:
    """The validator of ``schema``, which makes instances of the models themselves.

    pydantic-core takes a complete model's own validator for a schema naming that model; the
    models are marked incomplete (as ``model_rebuild`` does) while this one is built.
    """
    try:
        for model in models:
            model.__pydantic_complete__ = False
        return SchemaValidator(schema)
    finally:
        for model in models:
            model.__pydantic_complete__ = True


#: Each type's plan (``None``: the full way only), made when a line of the type first comes:
#: making all 24 validators cost a tenth of a second at every start.
_PLANS: dict[str, _Plan | None] = {}


_MAKING = threading.Lock()  # one thread at a time marks the models incomplete (_validator)


def _plan_of(kind: str) -> _Plan | None:
    with _MAKING:
        if kind not in _PLANS:
            _PLANS[kind] = _plan(TOUCHPOINT_TYPES[kind])  # KeyError: not a type; the full way
        return _PLANS[kind]


class _Doubt(Exception):
    pass


def parse_plain(raw: bytes) -> tuple[Touchpoint, bytes] | None:
    """The touchpoint of a plain valid line and its content hash, else None."""
    if raw.translate(None, _PLAIN_BYTES) or (b" " in raw and b'" ' in raw):
        return None
    try:
        obj = orjson.loads(raw)
        plan = _PLANS.get(obj["type"]) or _plan_of(obj["type"])
        if plan is None:
            return None
        keys = len(obj)
        for name in plan.nested:
            value = obj.get(name)
            if type(value) is list:
                keys += sum(len(item) for item in value if type(item) is dict)
            elif type(value) is dict:
                keys += len(value)
        # Each key's closing quote is followed by a colon, and no other quote is: a key given
        # twice (which orjson would silently take once) makes more colons than keys.
        if raw.count(b'":') != keys:
            return None
        hashed = _place_money(raw, obj, plan) if plan.money else ()
        touchpoint = plan.validator.validate_python(obj)
        for holder, name, form in hashed:
            holder[name] = form
        return touchpoint, sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).digest()
    except Exception:  # not an object, a doubt, a validation error: the full way decides
        return None


def _place_money(
    raw: bytes, obj: dict[str, Any], plan: _Plan
) -> list[tuple[dict[str, Any], str, object]]:
    """Puts the line's money as the Decimals the money checks give; returns the forms the
    content hash takes of them (integer cents of a number, a string as written)."""
    if len(plan.money) == 1:
        holders = [obj]
    else:
        items = obj.get(plan.money[0])
        holders = [item for item in items if type(item) is dict] if type(items) is list else []
    name, key = plan.money[-1], plan.money_key
    position = 0
    hashed = []
    for holder in holders:
        if name not in holder:
            continue
        # Once the line is valid, its n-th such key is the n-th holder's: it has no other.
        position = raw.index(key, position) + len(key)
        amount, form = _money(holder[name], raw, position)
        if amount.is_signed() and not (plan.money_negative and amount):
            raise _Doubt  # below zero where it may not be, or -0 (which the checks make 0)
        if plan.money_positive and not amount:
            raise _Doubt
        holder[name] = amount
        hashed.append((holder, name, form))
    return hashed


#: Money already read, by its text: prices repeat.
_NUMBERS: dict[bytes, tuple[Decimal, int]] = {}
_STRINGS: dict[str, Decimal] = {}
_REMEMBERED = 4096


def _money(value: object, raw: bytes, position: int) -> tuple[Decimal, object]:
    if type(value) is float:  # orjson made it a float: the number is read again from its text
        written = _MONEY_NUMBER.match(raw, position)
        if written is None:
            raise _Doubt
        text = written[1]
        known = _NUMBERS.get(text)
        if known is None:
            cents = int(text.replace(b".", b""))
            known = Decimal(text.decode()), cents * 10 if text[-2] == 0x2E else cents
            _remember(_NUMBERS, text, known)
        return known
    if type(value) is int and -_MONEY_INT_LIMIT < value < _MONEY_INT_LIMIT:
        return Decimal(value), value * 100
    if type(value) is str:
        amount = _STRINGS.get(value)
        if amount is None:
            if _MONEY_STRING.fullmatch(value) is None:
                raise _Doubt
            amount = Decimal(value)
            _remember(_STRINGS, value, amount)
        return amount, value
    raise _Doubt


def _remember(known: dict[Any, Any], key: object, value: object) -> None:
    if len(known) >= _REMEMBERED:
        known.clear()
    known[key] = value
