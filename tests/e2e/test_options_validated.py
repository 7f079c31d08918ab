"""Every option and every ``JOURNEY_*`` setting is checked: a bad value is one clear line,
exit 2, nothing created (issue 12). The real ``journey`` command, as a subprocess.

The plain tests each reproduce one hole the issue found (a silent wrong answer, an internal
error, a traceback); the property tests feed random bad values to every command's options and
every variable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import JOURNEY

ERROR_LINE = re.compile(r"journey: error: (?P<message>.+)\n")


def run(*args: str, db: Path, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    return subprocess.run([JOURNEY, "--db", f"sqlite:///{db}", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd or db.parent,
                          env={**clean, "JOURNEY_LOG_FORMAT": "json", **(env or {})})


def refused(result: subprocess.CompletedProcess[str], *named: str, code: int = 2) -> str:
    """The one error line of a refused command (its message), after checking the shape."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("journey: error:")]
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith(lines[0] + "\n")  # the last word, on one line
    assert result.stdout == ""
    for name in named:
        assert name in lines[0], lines[0]
    return lines[0].removeprefix("journey: error: ")


@pytest.fixture(scope="module")
def loaded() -> Iterator[Path]:
    """A store with a small generated workload (every kind present)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "journey.db"
        workload = Path(tmp) / "in.jsonl"
        assert run("generate", "--customers", "60", "-o", str(workload), db=db).returncode == 0
        assert run("ingest", str(workload), db=db).returncode == 0
        yield db


# --- the holes of the issue, one by one ----------------------------------------------------


def test_a_negative_lead_time_is_refused_not_an_internal_error(loaded: Path) -> None:
    message = refused(run("stock", "--lead-time", "-3", db=loaded), "--lead-time")
    assert message.endswith('(got "-3")')
    refused(run("stock", "--service-level", "1", db=loaded), "--service-level", '(got "1")')


def test_a_bad_batch_size_setting_names_the_variable(tmp_path: Path) -> None:
    db = tmp_path / "journey.db"
    message = refused(run("errors", db=db, env={"JOURNEY_BATCH_SIZE": "abc"}))
    assert message == 'JOURNEY_BATCH_SIZE: expected a positive integer (got "abc")'
    assert not db.exists()


@pytest.mark.parametrize(("args", "env", "named"), [
    (("errors",), {"JOURNEY_LOG_FORMAT": "xml"}, "JOURNEY_LOG_FORMAT"),
    (("errors",), {"JOURNEY_LOG_LEVEL": "verbose"}, "JOURNEY_LOG_LEVEL"),
    (("--log-level", "verbose", "errors"), {}, "--log-level"),
    (("ingest", "in.jsonl", "--batch-size", "-5"), {}, "--batch-size"),
    (("ingest", "in.jsonl"), {"JOURNEY_BATCH_SIZE": "-5"}, "JOURNEY_BATCH_SIZE"),
])
def test_values_once_accepted_silently_are_refused(
        tmp_path: Path, args: tuple[str, ...], env: dict[str, str], named: str) -> None:
    (tmp_path / "in.jsonl").write_text("")
    db = tmp_path / "journey.db"
    refused(run(*args, db=db, env=env), named)
    assert not db.exists()  # ingest, a writer, was refused before it opened the store


def test_a_negative_top_is_refused_not_every_customer(loaded: Path) -> None:
    refused(run("customers", "--top", "-1", db=loaded), "--top", '(got "-1")')
    refused(run("customers", "--top", "0", db=loaded), "--top")
    top = json.loads(run("customers", "--top", "1", "--json", db=loaded).stdout)
    assert len(top["customers"]) == 1


def test_kinds_are_known_and_read_in_any_case(loaded: Path) -> None:
    refused(run("errors", "--kind", "nonsense", db=loaded), "--kind", '(got "nonsense")')
    upper = json.loads(run("errors", "--kind", "Repair", "--json", db=loaded).stdout)
    lower = json.loads(run("errors", "--kind", "repair", "--json", db=loaded).stdout)
    assert upper["by_kind_month"] == lower["by_kind_month"] != []
    assert {row["kind"] for row in upper["by_kind_month"]} == {"repair"}


@pytest.mark.parametrize("bound", ["2026-13", "March", "2026/03", "2026-03-01T10:00:00"])
def test_bad_time_bounds_are_refused_with_the_format(loaded: Path, bound: str) -> None:
    message = refused(run("errors", "--from", bound, db=loaded), "--from")
    assert message.endswith(f"(got {json.dumps(bound)})")
    assert "YYYY-MM" in message or "needs an offset, Z or +HH:MM" in message
    refused(run("export", "-o", "x.avro", "--to", bound, db=loaded), "--to")
    refused(run("stock", "--as-of", bound, db=loaded), "--as-of")
    assert not (loaded.parent / "x.avro").exists()


def test_a_reversed_range_is_refused(loaded: Path) -> None:
    refused(run("errors", "--from", "2026-05", "--to", "2026-03", db=loaded),
            "--from", "--to", "reversed")
    refused(run("export", "-o", "x.avro", "--from", "2026-03-02", "--to", "2026-03-01",
                db=loaded), "reversed")
    one_month = json.loads(run("errors", "--from", "2026-03-15", "--to", "2026-03", "--json",
                               db=loaded).stdout)  # a day and its own month: not reversed
    assert {row["month"] for row in one_month["by_kind_month"]} == {"2026-03"}


def test_zero_partitions_is_refused_before_the_broker_starts(loaded: Path) -> None:
    refused(run("publish", db=loaded, env={"JOURNEY_KAFKA_PARTITIONS": "0"}),
            "JOURNEY_KAFKA_PARTITIONS", '(got "0")')


def test_click_usage_errors_are_one_line_too(tmp_path: Path) -> None:
    db = tmp_path / "journey.db"
    refused(run("errors", "--bogus", db=db), "--bogus", "journey errors --help")
    assert "customer_id" in refused(run("timeline", db=db), "Missing argument").lower()
    refused(run("nonsense", db=db), "nonsense")
    refused(run("errors", "--format", "xml", db=db), "--format")
    assert not db.exists()


def test_version_and_help_name_the_variables_and_give_an_example(tmp_path: Path) -> None:
    db = tmp_path / "journey.db"
    version = run("--version", db=db)
    assert re.fullmatch(r"journey \d+\.\d+\.\d+\S*\n", version.stdout)
    top = run("--help", db=db, env={"COLUMNS": "300"}).stdout
    for variable in ("JOURNEY_DB", "JOURNEY_BATCH_SIZE", "JOURNEY_MAX_OUTAGE",
                     "JOURNEY_AUDIT_SECRET_FILE", "JOURNEY_KAFKA_PARTITIONS"):
        assert variable in top
    assert "JOURNEY_BATCH_SIZE" in run("ingest", "--help", db=db, env={"COLUMNS": "300"}).stdout
    for command in COMMANDS:
        assert "Example:" in " ".join(
            run(*command, "--help", db=db, env={"COLUMNS": "300"}).stdout.split()), command
    assert not db.exists()


COMMANDS = [("ingest",), ("rejects",), ("timeline",), ("customers",), ("errors",), ("kpis",),
            ("invoices",), ("stock",),
            ("project",), ("rebuild",), ("history",), ("export",), ("verify-export",),
            ("audit", "verify"), ("audit", "replay"), ("generate",), ("schema", "touchpoint"),
            ("rejects", "retry"),
            ("broker",), ("publish",), ("consume", "touchpoints"), ("consume", "views"),
            ("tail",), ("report",), ("serve",), ("token", "create")]


# --- random bad values for every option and every variable ---------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)


def _not_a_count(text: str) -> bool:
    return not re.fullmatch(r"\s*\+?0*[1-9]\d{0,17}\s*", text)


COUNT = st.one_of(st.integers(max_value=0).map(str), _TEXT.filter(_not_a_count),
                  st.sampled_from(["1.5", "1e3", "0x10", "", "nan", "1_000_000_000_000_000_000"]))
#: Not a count where 0 is allowed (no cache; a rebuild always in a worker).
CARDINAL = COUNT.filter(lambda text: bool(text) and not re.fullmatch(r"\s*\+?0+\s*", text))


def _numbers_outside(low: float, high: float, *, low_ok: bool = False) -> st.SearchStrategy[str]:
    below = st.floats(max_value=low, allow_nan=False).filter(lambda v: v < low or not low_ok)
    above = st.floats(min_value=high, exclude_min=True, allow_nan=False)
    return st.one_of(below.map(repr), above.map(repr),
                     st.sampled_from(["nan", "inf", "-inf", "", "seven", "1,5"]))


SECONDS = _numbers_outside(0, 86_400)
SHARE = st.one_of(_numbers_outside(0, 0.5, low_ok=True), st.just("0.5"))
LEVEL = _numbers_outside(0, 1) | st.just("1")
DAYS = _numbers_outside(0, 3650)
_MONTHS = st.builds("{:04d}-{:02d}".format, st.integers(1, 9999), st.integers(13, 99))
BOUND = st.one_of(_MONTHS, st.sampled_from(["March", "2026/03", "2026-02-30", "", "2026-3",
                                             "2026-03-01T10:00:00", "yesterday", "26-03"]),
                  st.text("abcxyz /:-", min_size=1, max_size=10))
#: Not a cost per contact: negative, over 2 decimals, not a plain decimal.
MONEY = st.sampled_from(["-1", "1.234", "abc", "nan", "inf", "1e3", "", "1,50", "--2"])
KIND = _TEXT.filter(lambda v: v.strip().lower() not in
                    ("purchase", "invoice", "complaint", "repair", "part"))
ID = st.one_of(st.just(""), st.text(min_size=129, max_size=140, alphabet="ab"),
               st.builds("{}\n{}".format, st.just("a"), st.just("b")))
BOOTSTRAP = st.sampled_from(["h:0", "h:99999", "h:", ":9092", "a b:1", "h:1,,h:2", "h:x"])

#: (command and its required arguments, option, strategy of bad values) for every option.
OPTIONS: list[tuple[tuple[str, ...], str, st.SearchStrategy[str]]] = [
    ((), "--db", st.sampled_from(["mysql://x", "sqlite://", "sqlite:///", "x.db", ""])),
    ((), "--log-level", _TEXT.filter(lambda v: v.strip().lower() not in
                                     ("debug", "info", "warning", "error"))),
    ((), "--log-format", st.sampled_from(["xml", "", "JSONL", "text"])),
    (("ingest", "in.jsonl"), "--batch-size", COUNT),
    (("rejects",), "--limit", COUNT),
    (("rejects",), "--reason", st.sampled_from(["nope", "", "Invalid-JSON"])),
    (("rejects", "retry"), "--reason", st.sampled_from(["nope", "", "unknown entity"])),
    (("rejects", "retry"), "--batch-size", COUNT),
    (("timeline", "C1"), "--format", st.sampled_from(["xml", "", "tables"])),
    (("timeline", "C1"), "--as-of", BOUND), (("timeline", "C1"), "--known-at", BOUND),
    (("customers",), "--top", COUNT),
    (("errors",), "--kind", KIND), (("errors",), "--from", BOUND), (("errors",), "--to", BOUND),
    (("errors",), "--as-of", BOUND), (("errors",), "--known-at", BOUND),
    (("errors",), "--contact-cost", MONEY),
    (("kpis",), "--from", BOUND), (("kpis",), "--to", BOUND), (("kpis",), "--as-of", BOUND),
    (("kpis",), "--format", st.sampled_from(["xml", "", "tables"])),
    (("invoices",), "--as-of-day", BOUND),
    (("invoices",), "--status", st.sampled_from(["due", "", "PAID!", "late"])),
    (("invoices",), "--limit", COUNT), (("invoices",), "--known-at", BOUND),
    (("stock",), "--lead-time", DAYS), (("stock",), "--service-level", LEVEL),
    (("stock",), "--part", ID), (("stock",), "--location", ID), (("stock",), "--as-of", BOUND),
    (("project",), "--interval", SECONDS),
    (("history", "order:O1"), "--as-of", BOUND), (("history", "order:O1"), "--known-at", BOUND),
    (("export", "-o", "x.avro"), "--from", BOUND), (("export", "-o", "x.avro"), "--to", BOUND),
    (("export", "-o", "x.avro"), "--customer", ID),
    (("generate",), "--customers", st.integers(max_value=-1).map(str) | st.just("many")),
    (("generate",), "--seed", st.sampled_from(["x", "1.5", "9" * 19])),
    (("generate",), "--error-rate", SHARE), (("generate",), "--bad-rate", SHARE),
    (("generate",), "--late-rate", SHARE),
    (("publish",), "--batch-size", COUNT), (("publish",), "--bootstrap", BOOTSTRAP),
    (("consume", "touchpoints"), "--idle", SECONDS),
    (("consume", "touchpoints"), "--retry-every", SECONDS),
    (("consume", "touchpoints"), "--group", ID | st.just("a group")),
    (("consume", "views"), "--idle", SECONDS), (("consume", "views"), "--bootstrap", BOOTSTRAP),
    (("tail", "repair"), "--max-messages", COUNT), (("tail", "repair"), "--idle", SECONDS),
    (("tail", "repair"), "--bootstrap", BOOTSTRAP),
    (("broker",), "--port", st.one_of(st.integers(max_value=0), st.integers(65_536)).map(str)),
    (("report",), "--contact-cost", MONEY), (("report",), "--from", BOUND),
    (("report",), "--to", BOUND),
    (("serve",), "--port", st.one_of(st.integers(max_value=-1), st.integers(65_536)).map(str)
     | st.sampled_from(["http", "80.5", ""])),
    (("serve",), "--host", st.sampled_from(["", "a b", "x" * 254, "host/name", "é"])),
    (("token", "create", "crm"), "--role", st.sampled_from(["boss", "", "root", "writer,x"])),
]
#: Bad arguments: (command before the value, name in the message, strategy).
ARGUMENTS: list[tuple[tuple[str, ...], str, st.SearchStrategy[str]]] = [
    (("timeline",), "CUSTOMER_ID", ID.filter(lambda v: not v.startswith("-"))),
    (("rebuild",), "VIEW", st.sampled_from(["views", "all", "error", "x"])),
    (("history",), "ENTITY", st.sampled_from(["O1", "order:", "part:P1", "thing:X", ""])),
    (("tail",), "TOPIC", st.sampled_from(["", "a b", "..", "x" * 250, "é"])),
    (("token", "create", "--role", "writer"), "NAME",
     st.sampled_from(["", "a b", "x" * 65, "a/b", "é"])),
]
#: Every variable of the configuration with bad values of it.
VARIABLES: list[tuple[str, st.SearchStrategy[str]]] = [
    ("JOURNEY_DB", st.sampled_from(["mysql://x", "sqlite://", "journey.db"])),
    ("JOURNEY_BATCH_SIZE", COUNT.filter(bool)), ("JOURNEY_CACHE_SIZE", CARDINAL),
    ("JOURNEY_VIEW_BATCH_SIZE", COUNT.filter(bool)),
    ("JOURNEY_REBUILD_WORKER_MIN", CARDINAL),
    ("JOURNEY_LOG_LEVEL", st.sampled_from(["verbose", "trace", "5"])),
    ("JOURNEY_LOG_FORMAT", st.sampled_from(["xml", "text", "jsonl"])),
    ("JOURNEY_KAFKA_BOOTSTRAP", BOOTSTRAP),
    ("JOURNEY_KAFKA_PREFIX", st.sampled_from(["a b", "x/y", "é", "p" * 201])),
    ("JOURNEY_KAFKA_PARTITIONS", COUNT.filter(bool)),
    ("JOURNEY_CONTACT_COST", MONEY),
    ("JOURNEY_HTTP_MAX_BODY", COUNT.filter(bool)),
    ("JOURNEY_TOKENS", st.sampled_from(["crm", "crm:writer:abc", "crm:boss:" + "a" * 64,
                                        "crm:writer:" + "a" * 64 + ",", ":writer:" + "a" * 64])),
    ("JOURNEY_MAX_OUTAGE", st.sampled_from(["-1", "nan", "inf", "soon", "15m"])),
    ("JOURNEY_AUDIT_SECRET", st.just("two\nlines")),
    ("JOURNEY_AUDIT_SECRET_FILE", st.sampled_from(["missing-file", "empty-file", "."])),
]

_PROPERTY = settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="journey-options-") as tmp:
        work = Path(tmp)
        (work / "in.jsonl").write_text('{"touchpoint_id": "t1"}\n')
        (work / "empty-file").write_text("\n")
        yield work


@_PROPERTY
@given(st.data())
def test_any_bad_option_or_argument_is_one_clear_line(data: st.DataObject) -> None:
    if data.draw(st.booleans(), "argument?"):
        command, name, values = data.draw(st.sampled_from(ARGUMENTS), "argument")
        value = data.draw(values, "value")
        args = (*command, "--", value)  # a value like "-x" stays a value
    else:
        command, name, values = data.draw(st.sampled_from(OPTIONS), "option")
        value = data.draw(values, "value")
        args = (f"{name}={value}", "errors") if not command else (*command, f"{name}={value}")
    with _workdir() as work:
        db = work / "journey.db"
        message = refused(run(*args, db=db, cwd=work), code=2)
        assert message.startswith(f"{name}: ") or name in message, message
        assert not db.exists() and not (work / "x.avro").exists()


@_PROPERTY
@given(st.data())
def test_any_bad_setting_names_its_variable(data: st.DataObject) -> None:
    variable, values = data.draw(st.sampled_from(VARIABLES), "variable")
    value = data.draw(values, "value")
    command = data.draw(st.sampled_from([("ingest", "in.jsonl"), ("errors",), ("publish",),
                                         ("project",), ("generate", "--customers", "1")]))
    with _workdir() as work:
        db = work / "journey.db"
        message = refused(run(*command, db=db, cwd=work, env={variable: value}), code=2)
        assert message.startswith(f"{variable}: expected "), message
        assert not db.exists()
