"""From one raw line to a validated touchpoint or a reject (contract 1 and 2.1).

``parse_line`` never raises: whatever the bytes, the answer is ``Parsed`` or ``Invalid`` with
one of the schema reasons, decided in the contract's precedence order::

    invalid_json   not UTF-8, not JSON (NaN and Infinity included), nested too deeply,
                   an integer beyond Python's digit limit, a lone surrogate escape,
                   or JSON that is not an object
    unknown_type   ``type`` missing, not a string, or not one of the 24 types
    invalid        everything else of section 1; the detail starts with the field path

A line longer than ``MAX_LINE_BYTES`` is ``invalid`` without being parsed; its reject keeps
only the first ``KEPT_PREFIX_BYTES`` with the whole line's length and sha256 (a reader that
never holds such a line whole hands over an ``OversizeLine`` instead). Blank lines are the
caller's business.

Most valid lines take a short way (``schemas.plain_lines``) that gives the same answer for less
work; every other line, and every reject, comes from the full way below.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal
from hashlib import sha256
from typing import Any, Final, get_args

from pydantic import BaseModel, ValidationError

from journey.schemas.plain_lines import parse_plain
from journey.schemas.touchpoint import PRESENCE_ERROR, TOUCHPOINT_TYPES, VALUE_ERROR, Touchpoint

MAX_LINE_BYTES: Final = 1024 * 1024
#: How much of an oversized line its reject keeps (with the whole line's length and sha256).
KEPT_PREFIX_BYTES: Final = 1024

#: The reasons ``parse_line`` gives, in the contract's precedence order.
SCHEMA_REASONS: Final = ("invalid_json", "unknown_type", "invalid")

_SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class Parsed:
    """A line that passed the schema checks."""

    touchpoint: Touchpoint
    #: sha256 of the canonical form of the parsed JSON object (see ``_content_hash``).
    content_hash: bytes
    #: The line exactly as received, without its terminator.
    raw: bytes


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line refused by the schema checks."""

    reason: str
    detail: str
    #: The ``touchpoint_id`` value when it is a JSON string (even an invalid one), else None.
    touchpoint_id: str | None
    raw: bytes


@dataclass(frozen=True, slots=True)
class OversizeLine:
    """A line longer than ``MAX_LINE_BYTES``, as a streaming reader saw it: its first bytes,
    its length and its sha256 (terminator excluded), never the whole line in memory."""

    prefix: bytes
    length: int
    sha256: str

    @classmethod
    def of(cls, raw: bytes) -> OversizeLine:
        return cls(raw[:KEPT_PREFIX_BYTES], len(raw), sha256(raw).hexdigest())

    def reject(self) -> Invalid:
        detail = (f"line: exceeds the limit of {MAX_LINE_BYTES} bytes ({self.length} bytes); "
                  f"raw keeps its first {len(self.prefix)} bytes, the whole line's sha256 is "
                  f"{self.sha256}")
        return Invalid("invalid", detail, None, self.prefix)


def parse_line(raw: bytes | OversizeLine) -> Parsed | Invalid:
    """Validate one line (without its terminator); never raises."""
    if type(raw) is bytes and len(raw) <= MAX_LINE_BYTES:
        plain = parse_plain(raw)
        if plain is not None:
            return Parsed(plain[0], plain[1], raw)
    elif isinstance(raw, OversizeLine):
        return raw.reject()
    try:
        return _parse(raw)
    except Exception as exc:  # the edge must answer with a reason whatever the input
        return Invalid(
            "invalid", f"line: cannot be validated ({type(exc).__name__})", None, _as_bytes(raw)
        )


def _as_bytes(raw: object) -> bytes:
    try:
        return raw if isinstance(raw, bytes) else bytes(raw)  # type: ignore[call-overload]
    except Exception:  # not bytes-like at all
        return b""


def _parse(raw: bytes) -> Parsed | Invalid:
    if type(raw) is not bytes:
        raw = _as_bytes(raw)
    if len(raw) > MAX_LINE_BYTES:
        return OversizeLine.of(raw).reject()
    loaded = _load(raw)
    if isinstance(loaded, str):
        return Invalid("invalid_json", loaded, None, raw)
    obj, duplicates = loaded

    given_id = obj.get("touchpoint_id")
    touchpoint_id = given_id if type(given_id) is str else None
    model, problem = _model_for(obj)
    if model is None:
        return Invalid("unknown_type", problem, touchpoint_id, raw)
    if duplicates:
        inner, key = duplicates[0]
        return Invalid(
            "invalid", f"{_path_of(obj, inner, key)}: duplicate field", touchpoint_id, raw
        )
    try:
        touchpoint = model.model_validate(obj)
    except ValidationError as exc:
        return Invalid("invalid", _describe(model, exc), touchpoint_id, raw)
    return Parsed(touchpoint, _content_hash(obj), raw)


# --- JSON --------------------------------------------------------------------------------------


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


class _Decoder(threading.local):
    """A JSON decoder per thread that also notes the objects holding a key twice."""

    def __init__(self) -> None:
        self.duplicates: list[tuple[dict[str, Any], str]] = []
        self.decode = json.JSONDecoder(
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=self._object,
        ).decode

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            self.duplicates.append((obj, _first_repeated(pairs)))
        return obj


_DECODER = _Decoder()
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _load(raw: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], str]]] | str:
    """The JSON object of a line and its repeated keys, or why it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8: {exc.reason} at byte {exc.start}"
    decoder = _DECODER
    duplicates: list[tuple[dict[str, Any], str]] = []
    decoder.duplicates = duplicates
    try:
        obj = decoder.decode(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return "not valid JSON: nested too deeply"
    except ValueError as exc:  # NaN, Infinity, an integer beyond Python's digit limit
        return f"not valid JSON: {_clip(str(exc))}"
    if type(obj) is not dict:
        return f"not a JSON object (got {_show(obj)})"
    # Paired escapes decode to one character; a lone surrogate cannot be stored as UTF-8.
    if _MAYBE_SURROGATE.search(text) and _has_lone_surrogate(obj):
        return "not valid JSON text: a string holds a lone surrogate escape"
    return obj, duplicates


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""


def _children(value: object) -> list[tuple[str, Any]]:
    if type(value) is dict:
        return [(f".{_name(key)}", item) for key, item in value.items()]
    if type(value) is list:
        return [(f"[{index}]", item) for index, item in enumerate(value)]
    return []


def _has_lone_surrogate(obj: dict[str, Any]) -> bool:
    stack: list[Any] = [obj]
    while stack:
        value = stack.pop()
        if type(value) is str:
            if _SURROGATE.search(value):
                return True
        elif type(value) is dict:
            stack.extend(value)
            stack.extend(value.values())
        elif type(value) is list:
            stack.extend(value)
    return False


def _path_of(root: dict[str, Any], target: dict[str, Any], key: str) -> str:
    """The path of ``key`` of the object ``target`` under ``root``, e.g. ``lines[0].sku``."""
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        path, value = stack.pop()
        if value is target:
            return _shorten(f"{path}.{_name(key)}".lstrip("."))
        stack.extend((path + step, child) for step, child in _children(value))
    return key


# --- Type and errors ---------------------------------------------------------------------------


def _model_for(obj: dict[str, Any]) -> tuple[type[Touchpoint], str] | tuple[None, str]:
    if "type" not in obj:
        return None, "type: required field is missing"
    name = obj["type"]
    if type(name) is not str:
        return None, f"type: must be a string (got {_show(name)})"
    model = TOUCHPOINT_TYPES.get(name)
    if model is None:
        return None, f"type: {_show(name)} is not a type of the contract"
    return model, ""


def _describe(model: type[Touchpoint], exc: ValidationError) -> str:
    """The first error, as ``path: what is wrong (got value)``."""
    error = exc.errors(include_url=False, include_context=False)[0]
    loc, kind = error["loc"], error["type"]
    if not loc:  # a check across fields; its message names them
        return error["msg"]
    path = _path(loc)
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind == "extra_forbidden":
        return f"{path}: is not a field of {_type_name(model)}"
    if kind == PRESENCE_ERROR:
        return f"{path}: {error['msg']}"
    if kind == VALUE_ERROR:
        what = error["msg"]
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        what = "must be a JSON object"
    else:
        rule = _rule(model, loc)
        what = f"must be {rule}" if rule else error["msg"]
    return f"{path}: {what} (got {_show(error['input'])})"


def _type_name(model: type[Touchpoint]) -> str:
    return str(get_args(model.model_fields["type"].annotation)[0])


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{_name(part)}"
    return _shorten(path.lstrip("."))


def _shorten(path: str) -> str:
    """A path that deep nesting made long keeps its two ends."""
    return path if len(path) <= 160 else f"{path[:60]}...{path[-80:]}"


def _rule(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """What the field at ``loc`` must be, from its description or its Literal values."""
    current: type[BaseModel] | None = model
    annotation: Any = None
    description: str | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None
        info = current.model_fields[part]
        annotation, description = info.annotation, info.description
        current = _nested_model(annotation)
    if description:
        return description
    values = get_args(annotation)
    if values and all(isinstance(value, str) for value in values):
        return "one of " + ", ".join(values)
    return None


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def _name(key: str) -> str:
    """A field name for a path: as is when plain, else quoted, escaped and clipped."""
    if _PLAIN_NAME.fullmatch(key):
        return key
    return json.dumps(_clip(key))


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


#: DEL and the C1 controls, shown as JSON escapes in details (json.dumps escapes C0 only): a
#: detail is printed on terminals, where U+009B starts an escape sequence.
_ESCAPED = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0))}


def _show(value: object) -> str:
    """A short JSON-like rendering of a value for a detail; never the whole of a big input."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        shown = json.dumps(value[:_SHOWN_CHARS], ensure_ascii=False).translate(_ESCAPED)
        return shown + "..." if len(value) > _SHOWN_CHARS else shown
    if isinstance(value, int):
        return _clip(str(value)) if value.bit_length() < 1024 else "a very large integer"
    if isinstance(value, Decimal):
        return _clip(str(value))
    if isinstance(value, list):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- Content hash ------------------------------------------------------------------------------


def _unencodable(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def _canonical_encoder() -> Callable[[Any], str]:
    """Compact, key-sorted, ASCII JSON; the C encoder built once when the runtime has it."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(
            ensure_ascii=True, allow_nan=False, sort_keys=True, separators=(",", ":")
        ).encode
    # markers=None skips the cycle check: parsed JSON has no cycles.
    encode = make(
        None, _unencodable, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, False
    )
    return lambda obj: "".join(encode(obj, 0))


_canonical_json = _canonical_encoder()
_MONEY_FIELDS = ("amount", "amount_delta", "unit_cost")
_EXACT = Context(prec=60)


def _content_hash(obj: dict[str, Any]) -> bytes:
    """sha256 of a canonical form of a *validated* line's object; consumes ``obj``.

    Two objects equal as parsed JSON hash the same: keys are sorted, whitespace goes, and
    numbers compare by value. In a valid touchpoint a number is either a JSON integer
    (``qty``, ``satisfaction``) or money with at most 2 decimals, so money numbers become
    integer cents (``10``, ``10.0`` and ``10.00`` all give ``1000``) while money strings stay
    strings; ``true``, ``1`` and ``"1"`` keep their JSON types and so stay apart.
    """
    for name in _MONEY_FIELDS:
        if name in obj:
            obj[name] = _cents(obj[name])
    for line in obj.get("lines", ()):
        if "unit_price" in line:
            line["unit_price"] = _cents(line["unit_price"])
    return sha256(_canonical_json(obj).encode("ascii")).digest()


def _cents(value: Any) -> Any:
    if type(value) is str:
        return value
    return int(Decimal(value).scaleb(2, _EXACT))
