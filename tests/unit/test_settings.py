"""``Settings``: each value takes the forms it took as a pydantic model (lax mode), no other,
and a refused one names its variable; read-only, secrets never in its repr."""

from __future__ import annotations

from decimal import Decimal

import pytest

from journey.infra.settings import Settings, SettingsError


@pytest.mark.parametrize(("field", "given", "kept"), [
    ("batch_size", "7", 7), ("batch_size", " +7 ", 7), ("batch_size", "007", 7),
    ("batch_size", 7, 7), ("batch_size", 7.0, 7), ("batch_size", Decimal("7"), 7),
    ("batch_size", Decimal("1E+30"), 10**30), ("batch_size", b"7", 7),
    ("cache_size", "0", 0), ("rebuild_worker_min", "0", 0),
    ("max_outage", "1.5", 1.5), ("max_outage", " 1e3 ", 1000.0), ("max_outage", "1_000", 1000.0),
    ("max_outage", "\u00a05", 5.0), ("max_outage", 0, 0.0), ("max_outage", Decimal("2.5"), 2.5),
    ("log_level", "DEBUG", "debug"), ("log_format", "Console", "console"),
    ("db", b"sqlite:///x.db", "sqlite:///x.db"), ("kafka_bootstrap", "h:1,[::1]:9092",
                                                  "h:1,[::1]:9092"),
    ("kafka_prefix", "a.b-c_d", "a.b-c_d"), ("audit_secret", None, None),
    ("extra", {"a": "b"}, {"a": "b"}),
])
def test_a_value_in_a_form_the_setting_takes_is_kept_as_its_type(
    field: str, given: object, kept: object,
) -> None:
    value = getattr(Settings(**{field: given}), field)

    assert (value, type(value)) == (kept, type(kept))


@pytest.mark.parametrize(("field", "given"), [
    ("batch_size", "0"), ("batch_size", "1.0"), ("batch_size", "1e3"), ("batch_size", "1_000"),
    ("batch_size", "\u0663"), ("batch_size", True), ("batch_size", 2.5), ("batch_size", 1e20),
    ("batch_size", "1234567890123456789"), ("cache_size", "-1"), ("batch_size", None),
    ("max_outage", "inf"), ("max_outage", "nan"), ("max_outage", "-1"), ("max_outage", True),
    ("max_outage", "\u0663"), ("max_outage", "0x10"), ("log_level", "loud"),
    ("db", "mysql://x"), ("db", 5), ("db", "postgresql://h:99999/d"), ("kafka_bootstrap", "h:0"),
    ("kafka_prefix", "a b"), ("audit_secret", "a\nb"), ("tokens", "x"), ("contact_cost", 1.5),
])
def test_a_value_in_another_form_is_refused_naming_its_variable(field: str,
                                                                given: object) -> None:
    with pytest.raises(SettingsError, match=r"^JOURNEY_[A-Z_]+: expected "):
        Settings(**{field: given})


def test_a_name_that_is_no_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^nope: Extra inputs are not permitted$"):
        Settings(nope=1)


def test_the_first_bad_setting_in_declaration_order_is_the_one_named() -> None:
    with pytest.raises(SettingsError, match=r"^JOURNEY_DB: "):
        Settings(batch_size="x", db=5, nope=1)


def test_a_bad_token_entry_is_named_by_number_and_never_shown() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings(tokens="secret-token-pasted-by-mistake")

    assert "entry 1 of 1 is not of that form; the value is not shown" in str(refused.value)
    assert "secret-token" not in str(refused.value)


def test_settings_are_read_only_and_with_makes_a_checked_copy() -> None:
    settings = Settings(batch_size="5")

    with pytest.raises(AttributeError):
        settings.batch_size = 6  # type: ignore[misc]
    assert settings.with_(batch_size="6", db=None).batch_size == 6
    assert settings.with_(db=None) is settings
    assert settings.with_(batch_size="5") == settings
    with pytest.raises(SettingsError, match=r"^JOURNEY_BATCH_SIZE: "):
        settings.with_(batch_size="x")


def test_the_secrets_are_not_in_the_repr() -> None:
    shown = repr(Settings(audit_secret="s3cr3t", tokens="n:writer:" + "a" * 64))

    assert shown.startswith("Settings(db='sqlite:///journey.db', batch_size=2000,")
    assert "s3cr3t" not in shown and "a" * 64 not in shown


def test_from_env_reads_each_variable_and_ignores_empty_ones() -> None:
    settings = Settings.from_env({"JOURNEY_BATCH_SIZE": "10", "JOURNEY_DB": "",
                                  "JOURNEY_MAX_OUTAGE": "0"})

    assert (settings.batch_size, settings.db, settings.give_up_after) == (
        10, "sqlite:///journey.db", None)
