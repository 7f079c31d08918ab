"""The service reports as a user runs them (contract v1.1: 4.6 kpis, 4.7 the cost of failure
demand, 4.8 invoices, their command lines in 5.1), on SQLite and PostgreSQL.

One small hand-written journey; every expected figure is worked out by hand from the contract
in the comments beside it.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES, _drop_schema, _postgres_url
from tests.support import Journey, line, tp


def jsonl(*objs: dict[str, Any]) -> bytes:
    return b"".join(line(obj) + b"\n" for obj in objs)


def _tp(type_: str, tp_id: str, at: str, **fields: Any) -> dict[str, Any]:
    return tp(type_, f"2026-{at}Z", touchpoint_id=tp_id, **fields)


def _part(type_: str, tp_id: str, at: str, qty: int, **fields: Any) -> dict[str, Any]:
    return _tp(f"part.{type_}", tp_id, at, part_id="P1", location="WH1", qty=qty, **fields)


# Arrival order; C1 unless said otherwise. Times are 2026, UTC.
SCENARIO = [
    # C1 meets a service error (a failed delivery), then complains about it and rates twice.
    _tp("purchase.placed", "o1", "01-02T09:00:00", order_id="O1", currency="EUR",
        lines=[{"sku": "S1", "qty": 1, "unit_price": "100.00"}]),
    _tp("purchase.delivery_failed", "o1-failed", "01-03T09:00:00", order_id="O1",
        reason="nobody home"),
    _tp("complaint.opened", "k1", "01-04T08:00:00", case_id="K1", category="delivery",
        subject={"type": "order", "id": "O1"}),  # unknown demand, about O1 after its error
    _tp("complaint.resolved", "k1-resolved", "01-04T20:00:00", case_id="K1",
        resolution="redelivered", satisfaction=2),  # 12 h
    _tp("complaint.reopened", "k1-reopened", "01-10T08:00:00", case_id="K1", reason="again"),
    _tp("complaint.resolved", "k1-resolved-2", "01-11T08:00:00", case_id="K1",
        resolution="refund", satisfaction=3),  # the earliest resolution stays the first
    # C2: a case resolved in 30.5 h, rated 5 with no error before; one never resolved.
    _tp("complaint.opened", "k2", "01-20T10:00:00", customer_id="C2", case_id="K2",
        category="product"),
    _tp("complaint.resolved", "k2-resolved", "01-21T16:30:00", customer_id="C2",
        case_id="K2", resolution="explained", satisfaction=5),
    _tp("complaint.opened", "k3", "02-01T00:00:00", customer_id="C2", case_id="K3",
        category="billing", demand="failure"),
    # C3: repairs and their parts; a case resolved in 1 h without a rating.
    _tp("complaint.opened", "k4", "02-03T00:00:00", customer_id="C3", case_id="K4",
        category="repair", demand="failure"),
    _tp("complaint.resolved", "k4-resolved", "02-03T01:00:00", customer_id="C3",
        case_id="K4", resolution="booked"),
    _part("received", "p1-received", "01-09T00:00:00", 2),
    _tp("repair.requested", "r1", "01-10T00:00:00", customer_id="C3", repair_id="R1",
        serial="SN1", fault="no power", warranty=True),
    _part("reserved", "p1-reserved-1", "01-10T01:00:00", 1, repair_id="R1"),  # filled
    _part("reserved", "p1-reserved-5", "01-10T02:00:00", 5, repair_id="R1"),  # stock-out
    _tp("repair.completed", "r1-not-fixed", "01-11T00:00:00", customer_id="C3",
        repair_id="R1", outcome="not_fixed"),
    _tp("repair.completed", "r1-fixed", "01-12T06:00:00", customer_id="C3", repair_id="R1",
        outcome="fixed"),  # 54 h after the request; not the first completion
    _tp("repair.requested", "r2", "01-15T00:00:00", customer_id="C3", repair_id="R2",
        serial="SN2", fault="noise", warranty=False),
    _tp("repair.completed", "r2-fixed", "01-15T08:15:00", customer_id="C3", repair_id="R2",
        outcome="fixed"),  # 8.25 h, fixed the first time
    _tp("repair.requested", "r3", "02-01T00:00:00", customer_id="C3", repair_id="R3",
        serial="SN1", fault="no power again", warranty=True),  # never completed
    _part("reserved", "p1-reserved-r2", "02-02T00:00:00", 1, repair_id="R2"),  # filled
    # Invoices: paid after a correction; partly paid and reminded; overpaid; unpaid.
    _tp("invoice.issued", "i1", "01-05T00:00:00", invoice_id="I1", amount="100.00",
        currency="EUR", due_date="2026-02-04"),
    _tp("invoice.corrected", "i1-corrected", "01-06T00:00:00", invoice_id="I1",
        error_type="wrong_amount", amount_delta="-10.00"),
    _tp("invoice.paid", "i1-paid", "01-20T00:00:00", invoice_id="I1", amount="90"),
    _tp("invoice.issued", "i2", "01-25T00:00:00", customer_id="C2", invoice_id="I2",
        amount="50.00", currency="EUR", due_date="2026-02-24"),
    _tp("invoice.paid", "i2-paid", "01-30T00:00:00", customer_id="C2", invoice_id="I2",
        amount="20.00"),
    _tp("invoice.issued", "i3", "02-01T00:00:00", customer_id="C2", invoice_id="I3",
        amount="40.00", currency="USD", due_date="2026-03-03"),
    _tp("invoice.paid", "i3-paid", "02-02T00:00:00", customer_id="C2", invoice_id="I3",
        amount="50.00"),
    _tp("invoice.issued", "i4", "02-02T00:00:00", invoice_id="I4", amount="75.5",
        currency="USD", due_date="2026-03-10"),
    # The latest touchpoint of all: the default reference day is 2026-02-26.
    _tp("invoice.reminder_sent", "i2-reminder", "02-26T09:00:00", customer_id="C2",
        invoice_id="I2"),
]

SCORES = ("1", "2", "3", "4", "5")


def _group(ratings: int, mean: float | None, **scores: int) -> dict[str, Any]:
    return {"ratings": ratings, "mean": mean,
            "by_score": {s: scores.get(f"s{s}", 0) for s in SCORES}}


JANUARY_CASES = {"month": "2026-01", "opened": 2, "resolved": 2,
                 # K1 12 h, K2 30.5 h: p50 is the ceil(1)st = 12.0, p90 the ceil(1.8)nd
                 "hours_to_resolve_p50": 12.0, "hours_to_resolve_p90": 30.5,
                 "reopened": 1, "reopen_rate": 0.5}
FEBRUARY_CASES = {"month": "2026-02", "opened": 2, "resolved": 1,  # K3 open, K4 1 h
                  "hours_to_resolve_p50": 1.0, "hours_to_resolve_p90": 1.0,
                  "reopened": 0, "reopen_rate": 0.0}
JANUARY_REPAIRS = {"month": "2026-01", "requested": 2, "completed": 2, "first_time_fixed": 1,
                   "first_time_fix_rate": 0.5,  # R1 was not fixed first; R2 was
                   "hours_to_fix_p50": 8.25, "hours_to_fix_p90": 54.0}
FEBRUARY_REPAIRS = {"month": "2026-02", "requested": 1, "completed": 0, "first_time_fixed": 0,
                    "first_time_fix_rate": None, "hours_to_fix_p50": None,
                    "hours_to_fix_p90": None}  # R3: nothing completed, every figure null
EXPECTED_KPIS: dict[str, Any] = {
    "cases": [JANUARY_CASES, FEBRUARY_CASES],
    "repairs": [JANUARY_REPAIRS, FEBRUARY_REPAIRS],
    "parts": [{"month": "2026-01", "reservations": 2, "filled": 1, "fill_rate": 0.5},
              {"month": "2026-02", "reservations": 1, "filled": 1, "fill_rate": 1.0}],
    "satisfaction": {
        "after_error": _group(2, 2.5, s2=1, s3=1),  # C1's, after the failed delivery
        "no_error": _group(1, 5.0, s5=1),  # C2's
        "all": _group(3, 3.33, s2=1, s3=1, s5=1),  # 10 / 3
    },
}
EMPTY_SATISFACTION = {group: _group(0, None) for group in ("after_error", "no_error", "all")}


def _invoice(invoice_id: str, customer: str, currency: str, amount: str, paid: str,
             balance: str, due: str, reminders: int, status: str) -> dict[str, Any]:
    return {"invoice_id": invoice_id, "customer_id": customer, "currency": currency,
            "amount": amount, "paid": paid, "balance": balance, "due_date": due,
            "reminders": reminders, "status": status}


EXPECTED_INVOICES: dict[str, Any] = {
    "as_of_day": "2026-02-26",
    "by_month": [
        {"month": "2026-01", "currency": "EUR", "issued": 2, "amount": "140.00",
         "paid": "110.00", "outstanding": "30.00", "overdue": 1, "overdue_amount": "30.00"},
        # I3 overpaid (-10.00) counts in no outstanding sum
        {"month": "2026-02", "currency": "USD", "issued": 2, "amount": "115.50",
         "paid": "50.00", "outstanding": "75.50", "overdue": 0, "overdue_amount": "0.00"},
    ],
    "invoices": [
        _invoice("I1", "C1", "EUR", "90.00", "90.00", "0.00", "2026-02-04", 0, "paid"),
        _invoice("I2", "C2", "EUR", "50.00", "20.00", "30.00", "2026-02-24", 1, "overdue"),
        _invoice("I3", "C2", "USD", "40.00", "50.00", "-10.00", "2026-03-03", 0, "paid"),
        _invoice("I4", "C1", "USD", "75.50", "0.00", "75.50", "2026-03-10", 0, "open"),
    ],
}
#: Failure demand: K1 (about O1 after its failed delivery) of K1, K2 in January; K3 and K4
#: (failure demand by their own word) in February.
DEMAND = [{"month": "2026-01", "contacts": 2, "failure": 1, "ratio": 0.5},
          {"month": "2026-02", "contacts": 2, "failure": 2, "ratio": 1.0}]
NO_COST = {"JOURNEY_CONTACT_COST": ""}  # empty: the default (no cost)


class Service(Journey):
    """The CLI; ``document`` gives the contract's document, its ``freshness`` checked and
    taken off."""

    def document(self, *args: str, env: dict[str, str] | None = None) -> Any:
        answer = json.loads(self.run(*args, "--json", env=env).stdout)
        freshness = answer.pop("freshness")
        assert freshness["source"] == "views"
        assert freshness["view_position"] == freshness["log_head"] > 0
        return answer


def _service(url: str, where: Path) -> Service:
    journey = Service(url, where)
    summary = journey.json("ingest", "-", stdin=jsonl(*SCENARIO))
    assert (summary["accepted"], summary["rejected"]) == (len(SCENARIO), 0), summary
    return journey


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The scenario ingested once per backend; the tests only read it."""
    where = tmp_path_factory.mktemp("service")
    if request.param == "sqlite":
        yield _service(f"sqlite:///{where / 'journey.db'}", where)
        return
    if not POSTGRES:
        pytest.skip("JOURNEY_TEST_POSTGRES is not set (CI sets it; no PostgreSQL here)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield _service(_postgres_url(schema), where)
    finally:
        _drop_schema(schema)


# --- kpis (4.6) ----------------------------------------------------------------------------


def test_kpis_json_is_exactly_the_contract_document(service: Service) -> None:
    kpis = service.document("kpis")

    assert kpis == EXPECTED_KPIS
    assert list(kpis) == ["cases", "repairs", "parts", "satisfaction"]


def test_kpis_between_months_keep_those_rows_and_the_ratings_given_then(
    service: Service,
) -> None:
    february = service.document("kpis", "--from", "2026-02", "--to", "2026-02-14")
    january = service.document("kpis", "--to", "2026-01")

    assert february == {"cases": [FEBRUARY_CASES], "repairs": [FEBRUARY_REPAIRS],
                        "parts": [EXPECTED_KPIS["parts"][1]],
                        "satisfaction": EMPTY_SATISFACTION}  # no rating in February
    assert january["satisfaction"] == EXPECTED_KPIS["satisfaction"]  # all three in January
    assert january["cases"] == [JANUARY_CASES]


def test_kpis_as_csv_are_exact_sections_with_a_row_per_satisfaction_group(
    service: Service,
) -> None:
    text = service.run("kpis", "--format", "csv").stdout.decode()

    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    titles = [row[0] for row in rows if row[0].startswith("# ")]
    assert titles == ["# cases by month opened", "# repairs by month requested",
                      "# part reservations by month", "# satisfaction by group"]
    assert ["2026-01", "2", "2", "12.0", "30.5", "1", "0.5"] in rows
    assert ["2026-02", "1", "0", "0", "", "", ""] in rows  # nulls are empty cells
    header = rows.index(["group", "ratings", "mean", "score_1", "score_2", "score_3",
                         "score_4", "score_5"])
    assert rows[header + 1:] == [["after_error", "2", "2.5", "0", "1", "1", "0", "0"],
                                 ["no_error", "1", "5.0", "0", "0", "0", "0", "1"],
                                 ["all", "3", "3.33", "0", "1", "1", "0", "1"]]


def test_kpis_as_tables_show_rates_as_percentages(service: Service) -> None:
    text = service.run("kpis").stdout.decode()

    for title in ("cases by month opened", "repairs by month requested",
                  "part reservations by month", "satisfaction: ratings after a service "
                  "error and without one"):
        assert title in text
    assert "50.00 %" in text and "100.00 %" in text
    assert "after a service error" in text and "no error before" in text


# --- errors --contact-cost (4.7) -----------------------------------------------------------


def test_without_a_cost_failure_demand_is_as_in_contract_5(service: Service) -> None:
    errors = service.document("errors", env=NO_COST)

    assert errors["failure_demand"] == DEMAND


@pytest.mark.parametrize(("cost", "costs"), [
    ("12.50", ["12.50", "25.00"]), ("12.5", ["12.50", "25.00"]), ("0", ["0.00", "0.00"]),
    ("0.10", ["0.10", "0.20"]), ("99999999999999999999999999.99",
                                  ["99999999999999999999999999.99",
                                   "199999999999999999999999999.98"]),
])
def test_a_contact_cost_prices_each_month_of_failure_demand(
    service: Service, cost: str, costs: list[str],
) -> None:
    errors = service.document("errors", "--contact-cost", cost, env=NO_COST)

    assert errors["failure_demand"] == [
        {**row, "cost": priced} for row, priced in zip(DEMAND, costs, strict=True)]
    assert errors["by_kind_month"] == service.document("errors", env=NO_COST)["by_kind_month"]


def test_the_cost_setting_applies_and_the_option_wins(service: Service) -> None:
    from_setting = service.document("errors", env={"JOURNEY_CONTACT_COST": "3"})
    option_wins = service.document("errors", "--contact-cost", "1.25",
                                   env={"JOURNEY_CONTACT_COST": "3"})

    assert [row["cost"] for row in from_setting["failure_demand"]] == ["3.00", "6.00"]
    assert [row["cost"] for row in option_wins["failure_demand"]] == ["1.25", "2.50"]


def test_the_errors_table_shows_the_cost(service: Service) -> None:
    text = service.run("errors", "--contact-cost", "12.50", env=NO_COST).stdout.decode()

    assert "failure demand by month at 12.50 per contact" in " ".join(text.split())
    assert "25.00" in text


# --- invoices (4.8) ------------------------------------------------------------------------


def test_invoices_json_is_exactly_the_contract_document(service: Service) -> None:
    invoices = service.document("invoices")

    assert invoices == EXPECTED_INVOICES
    assert list(invoices) == ["as_of_day", "by_month", "invoices"]


@pytest.mark.parametrize("status", ["paid", "open", "overdue"])
def test_a_status_filters_the_invoices_only(service: Service, status: str) -> None:
    invoices = service.document("invoices", "--status", status)

    assert invoices == {**EXPECTED_INVOICES, "invoices": [
        row for row in EXPECTED_INVOICES["invoices"] if row["status"] == status]}


def test_the_reference_day_decides_what_is_overdue(service: Service) -> None:
    early = service.document("invoices", "--as-of-day", "2026-02-24")  # I2 due that day
    late = service.document("invoices", "--as-of-day", "2026-03-11")  # I4 due the day before

    assert early["as_of_day"] == "2026-02-24"
    assert [row["status"] for row in early["invoices"]] == ["paid", "open", "paid", "open"]
    assert early["by_month"][0]["overdue"] == 0
    assert early["by_month"][0]["overdue_amount"] == "0.00"
    assert [row["status"] for row in late["invoices"]] == ["paid", "overdue", "paid",
                                                           "overdue"]
    assert late["by_month"][1] == {**EXPECTED_INVOICES["by_month"][1], "overdue": 1,
                                   "overdue_amount": "75.50"}


def test_invoices_as_csv_are_exact_sections(service: Service) -> None:
    text = service.run("invoices", "--format", "csv").stdout.decode()

    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    assert rows[0] == ["# invoices by month of issue and currency as of 2026-02-26"]
    assert rows[1] == ["month", "currency", "issued", "amount", "paid", "outstanding",
                       "overdue", "overdue_amount"]
    assert rows[2] == ["2026-01", "EUR", "2", "140.00", "110.00", "30.00", "1", "30.00"]
    at = rows.index(["# invoices as of 2026-02-26 by invoice_id"])
    assert rows[at + 1] == list(EXPECTED_INVOICES["invoices"][0])
    assert rows[at + 2:] == [[str(value) for value in row.values()]
                             for row in EXPECTED_INVOICES["invoices"]]


def test_the_invoice_table_right_aligns_money_and_says_when_it_is_cut(
    service: Service,
) -> None:
    text = service.run("invoices", "--limit", "2").stdout.decode()

    assert "the first 2 of 4 invoices as of 2026-02-26" in " ".join(text.split())
    assert "I2" in text and "I3" not in text
    header = next(row for row in text.splitlines() if "invoice" in row and "balance" in row)
    first = next(row for row in text.splitlines() if "I1" in row)
    cells = dict(zip([c.strip() for c in header.split("┃")], first.split("│"), strict=True))
    # "amount" is wider than "90.00": right-aligned, the value ends at the cell's padding
    assert cells["amount"] == "  90.00 " and cells["balance"].endswith(" 0.00 ")
    assert cells["invoice"].startswith(" I1 ")  # ids stay left-aligned


def test_limit_is_refused_outside_the_table(service: Service) -> None:
    result = service.run("invoices", "--limit", "2", "--json", check=False)

    _usage_error(result, "--limit")


# --- answers replayed from the log, answers of lagging views -------------------------------


def test_kpis_and_invoices_as_of_a_business_time_are_replayed_from_the_log(
    service: Service,
) -> None:
    kpis = service.json("kpis", "--as-of", "2026-01-31")
    invoices = service.json("invoices", "--as-of", "2026-01-31")

    assert kpis.pop("freshness")["source"] == invoices.pop("freshness")["source"] == "log"
    assert kpis == {"cases": [JANUARY_CASES], "repairs": [JANUARY_REPAIRS],
                    "parts": [EXPECTED_KPIS["parts"][0]],
                    "satisfaction": EXPECTED_KPIS["satisfaction"]}
    # The latest touchpoint by then is I2's payment: the reference day is 2026-01-30.
    assert invoices == {
        "as_of_day": "2026-01-30",
        "by_month": [{**EXPECTED_INVOICES["by_month"][0], "overdue": 0,
                      "overdue_amount": "0.00"}],
        "invoices": [EXPECTED_INVOICES["invoices"][0],
                     {**EXPECTED_INVOICES["invoices"][1], "reminders": 0, "status": "open"}]}


def test_kpis_say_when_the_views_lag_the_log(tmp_path: Path) -> None:
    journey = Service(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)
    journey.run("ingest", "-", "--no-views", stdin=jsonl(*SCENARIO))

    lagging = json.loads(journey.run("kpis", "--json").stdout)
    table = journey.run("invoices")
    journey.run("project")

    assert lagging["freshness"]["view_position"] == 0 < lagging["freshness"]["log_head"]
    assert lagging["cases"] == []
    assert "journey: warning: the views reflect the log up to position 0" in (
        table.stderr.decode())
    assert journey.document("kpis") == EXPECTED_KPIS


# --- usage errors --------------------------------------------------------------------------


def _usage_error(result: Any, option: str) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr and "internal error" not in stderr
    errors = [text for text in stderr.splitlines() if text.startswith("journey: error:")]
    assert len(errors) == 1 and option in errors[0], stderr
    return errors[0]


@pytest.mark.parametrize("cost", ["-1", "1.234", "abc", "nan", "1e3", "1" + "0" * 26])
def test_a_bad_contact_cost_is_a_usage_error(tmp_path: Path, cost: str) -> None:
    journey = Journey(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)

    option = _usage_error(journey.run("errors", f"--contact-cost={cost}", check=False),
                          "--contact-cost")
    setting = _usage_error(journey.run("errors", check=False,
                                       env={"JOURNEY_CONTACT_COST": cost or " "}),
                           "JOURNEY_CONTACT_COST")

    assert "a decimal >= 0 with at most 2 decimals" in option
    assert option.endswith(f"(got {json.dumps(cost)})")
    assert "a decimal >= 0 with at most 2 decimals" in setting
    assert not (tmp_path / "journey.db").exists()


@pytest.mark.parametrize(("args", "option"), [
    (("invoices", "--as-of-day", "2026-02-30"), "--as-of-day"),
    (("invoices", "--as-of-day", "2026-02"), "--as-of-day"),
    (("invoices", "--status", "late"), "--status"),
    (("invoices", "--limit", "0"), "--limit"),
    (("kpis", "--from", "2026-13"), "--from"),
    (("kpis", "--from", "2026-03", "--to", "2026-02"), "--from"),
    (("rebuild", "nothing"), "VIEW"),
])
def test_bad_values_of_the_new_options_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], option: str,
) -> None:
    journey = Journey(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)

    _usage_error(journey.run(*args, check=False), option)

    assert not (tmp_path / "journey.db").exists()


# --- an empty store, rebuild ---------------------------------------------------------------


def test_a_store_without_touchpoints_answers_empty_lists_and_nulls(store_url: str,
                                                                  tmp_path: Path) -> None:
    journey = Service(store_url, tmp_path)
    journey.run("ingest", "-", stdin=b'{"touchpoint_id": "x", "type": "nope"}\n')

    before = datetime.now(UTC).date().isoformat()
    kpis = json.loads(journey.run("kpis", "--json").stdout)
    invoices = json.loads(journey.run("invoices", "--json").stdout)
    after = datetime.now(UTC).date().isoformat()
    errors = json.loads(journey.run("errors", "--json", "--contact-cost", "5").stdout)

    assert {key: kpis[key] for key in ("cases", "repairs", "parts", "satisfaction")} == {
        "cases": [], "repairs": [], "parts": [], "satisfaction": EMPTY_SATISFACTION}
    assert invoices["as_of_day"] in (before, after)  # no touchpoint: today (UTC)
    assert (invoices["by_month"], invoices["invoices"]) == ([], [])
    assert errors["failure_demand"] == []
    assert all(text in journey.run(*command).stdout.decode()
               for command, text in ((("kpis",), "(none)"), (("invoices",), "(none)")))


def test_rebuilding_kpis_or_invoices_gives_the_same_documents(tmp_path: Path) -> None:
    journey = _service(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)

    kpis = journey.json("rebuild", "kpis")
    invoices = journey.json("rebuild", "invoices")

    assert kpis["rebuilt"] == invoices["rebuilt"] == ["service"]
    assert journey.document("kpis") == EXPECTED_KPIS
    assert journey.document("invoices") == EXPECTED_INVOICES
    assert journey.json("rebuild")["rebuilt"] == ["service", "stock", "touchpoints"]
    assert journey.document("kpis") == EXPECTED_KPIS


def test_new_commands_have_help_with_an_example(tmp_path: Path) -> None:
    journey = Journey(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)

    for command in ("kpis", "invoices", "errors"):
        shown = " ".join(journey.run(command, "--help", env={"COLUMNS": "200"})
                         .stdout.decode().split())
        assert "Example: journey " + command in shown
    assert "JOURNEY_CONTACT_COST" in journey.run("--help", env={"COLUMNS": "300"}).stdout.decode()
