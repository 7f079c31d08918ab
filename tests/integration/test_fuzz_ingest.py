"""Fuzz: 100,000 mutated touchpoint lines through the real `journey ingest`.

Lines of a generated workload are mutated, byte by byte and field by field, towards every
edge the contract and the stores have (huge and negative numbers, NUL and other control
characters, far dates, wrong types, deep nesting, duplicate keys, cut and spliced lines).
Whatever comes in: no traceback, every line gets exactly one outcome
(``read = accepted + duplicates + rejected``), and the store keeps working afterwards.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from journey.infra.workload import WorkloadOptions, write_workload
from tests.support import Journey, line, order

pytestmark = pytest.mark.slow

EXTREMES: tuple[Any, ...] = (
    0, -1, 1, 2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30, 10**400,
    1.5, -0.0, 1e308, "1e5", "-0", "0.001", "99999999999999999999999999.99", "1" * 100,
    "", " ", "\u0000", "P1\u0000x", "\u0001\u001f\u007f\u0085", "\u2028", "\ud7ff",
    "\U0001f600" * 130,
    "x" * 129, "x" * 2001, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z", "2024-02-30T10:00:00Z", "2024-01-01T00:00:00+24:00",
    "0000-01-01", "9999-12-31", "2024-13-01", None, True, False, [], {}, [[[[[]]]]],
    {"type": "order", "id": "O1"}, "purchase.placed", "part.adjusted",
)
BYTES = (b"\x00", b"\x0b", b"\x0c", b"\xff", b"\xc3", b"\\", b'"', b"{", b"}", b"\r", b"\t",
         b"\xef\xbb\xbf", b"\\u0000", b"\\ud800", b"NaN", b"1e999")


def mutate(rng: random.Random, raw: bytes, corpus: list[bytes]) -> bytes:
    """One mutation of a line: structural (on the parsed object) or on the bytes."""
    if rng.random() < 0.6:
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and obj:
            return _mutate_object(rng, obj)
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:      # flip a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 1:             # insert an awkward byte sequence
            data[at:at] = rng.choice(BYTES)
        elif op == 2:             # cut the line short
            del data[at:]
        elif op == 3:             # delete a span
            del data[at:at + rng.randint(1, 20)]
        elif op == 4:             # splice with another line
            other = rng.choice(corpus)
            data[at:] = other[rng.randrange(len(other) + 1):]
        else:                     # repeat a span
            data[at:at] = data[at:at + rng.randint(1, 40)]
    return bytes(data).replace(b"\n", b" ")


def _mutate_object(rng: random.Random, obj: dict[str, Any]) -> bytes:
    for _ in range(rng.randint(1, 3)):
        target, key = _random_slot(rng, obj)
        op = rng.randrange(5)
        if op == 0:
            target[key] = rng.choice(EXTREMES)
        elif op == 1 and isinstance(target, dict):
            target.pop(key, None)
        elif op == 2 and isinstance(target, dict):
            target[rng.choice(["extra", "qty", "customer_id", "lines", "error"])] = (
                rng.choice(EXTREMES))
        elif op == 3:  # nested arrays, deeper than the parser's recursion limit at times
            target[key] = f"__deep_{rng.choice([2, 50, 1500])}__"
        else:
            obj["type"] = rng.choice(["purchase.placed", "part.received", "part.adjusted",
                                      "invoice.corrected", "complaint.resolved", "Purchase",
                                      "part.teleported"])
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    for depth in (2, 50, 1500):
        text = text.replace(f'"__deep_{depth}__"', "[" * depth + "0" + "]" * depth)
    if rng.random() < 0.05:  # a key given twice
        text = text[:-1] + ', "type": "purchase.placed"}'
    return text.encode("utf-8", "surrogatepass")


def _random_slot(rng: random.Random, obj: dict[str, Any]) -> tuple[Any, Any]:
    """A random (container, key) in the object, nested lines and subjects included."""
    target: Any = obj
    key: Any = rng.choice(list(obj))
    while isinstance(target[key], dict | list) and target[key] and rng.random() < 0.6:
        target = target[key]
        key = rng.choice(list(target)) if isinstance(target, dict) else rng.randrange(
            len(target))
    return target, key


def fuzzed_file(path: Path, lines: int, seed: int) -> int:
    """Write ``lines`` mutated lines (and a few untouched ones); returns how many are not
    blank by the JSON whitespace rule, which is what ``read`` must count."""
    base = path.with_suffix(".base")
    with base.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=400, seed=seed), out)
    corpus = base.read_bytes().splitlines()
    rng = random.Random(seed)
    counted = 0
    with path.open("wb") as out:
        for _ in range(lines):
            raw = rng.choice(corpus)
            if rng.random() < 0.9:
                raw = mutate(rng, raw, corpus)
            out.write(raw + rng.choice([b"\n", b"\r\n"]))
            counted += bool(raw.strip(b" \t\r\n"))
    return counted


def test_fuzzed_lines_never_break_the_engine(store_url: str, tmp_path: Path) -> None:
    """100,000 lines on SQLite; 25,000 on PostgreSQL, where each costs more."""
    sqlite = store_url.startswith("sqlite")
    _fuzz(Journey(store_url, tmp_path), tmp_path, 100_000 if sqlite else 25_000,
          seed=1 if sqlite else 2)


def _fuzz(journey: Journey, tmp_path: Path, lines: int, seed: int) -> None:
    source = tmp_path / "fuzz.jsonl"
    expected_read = fuzzed_file(source, lines, seed)

    result = journey.run("--json", "ingest", str(source), check=False)
    assert b"Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    summary = json.loads(result.stdout)
    assert summary["read"] == expected_read
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["rejected"]
    assert sum(summary["rejected_by_reason"].values()) == summary["rejected"]
    assert summary["accepted"] > 0 and summary["rejected"] > lines // 4

    rejects = journey.json("rejects", "--all")["rejects"]  # every decision, open or not
    assert len(rejects) == summary["rejected"]
    for command in (("project",), ("audit", "replay"), ("stock",), ("errors",),
                    ("customers", "--top", "5"), ("history", "customer:C1")):
        done = journey.run(*command, check=False)
        assert done.returncode == 0 and b"Traceback" not in done.stderr, (
            command, done.stderr.decode()[-2000:])

    after = tmp_path / "after.jsonl"  # the store still takes new touchpoints
    after.write_bytes(line(order("O-AFTER-FUZZ", customer_id="C-AFTER")) + b"\n")
    assert journey.json("ingest", str(after))["accepted"] == 1
    assert journey.json("timeline", "C-AFTER")["entries"][0]["touchpoint_id"]
