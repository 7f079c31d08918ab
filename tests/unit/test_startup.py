"""What is written out so that a command starts fast agrees with what it stands for, and the
command line builds only the command it runs (start-up time, issue 15)."""

from __future__ import annotations

import pytest
import typer

from journey.infra.cli.app import app
from journey.infra.cli.main import TOP_FLAGS, TOP_OPTIONS_WITH_VALUE, app_for
from journey.infra.parameters import KINDS
from journey.projections.tables import ADDED_COLUMNS
from journey.projections.views import UPGRADES
from journey.schemas.touchpoint import TOUCHPOINT_TYPES


def test_the_kinds_are_those_of_the_touchpoint_types_in_their_order() -> None:
    expected = tuple(dict.fromkeys(name.partition(".")[0] for name in TOUCHPOINT_TYPES))

    assert expected == KINDS


def test_the_added_columns_are_those_the_upgrades_add() -> None:
    upgraded = {upgrade.table: upgrade.columns
                for upgrades in UPGRADES.values() for upgrade in upgrades}

    assert upgraded == ADDED_COLUMNS


def test_the_top_level_options_are_those_of_the_command_line() -> None:
    group = typer.main.get_command(app)
    options = [param for param in group.params if param.name != "help"]

    flags = {name for param in options if getattr(param, "is_flag", False)
             for name in param.opts}
    valued = {name for param in options if not getattr(param, "is_flag", False)
              for name in param.opts}
    assert (flags, valued) == (set(TOP_FLAGS), set(TOP_OPTIONS_WITH_VALUE))


def _commands(narrow: typer.Typer) -> list[str]:
    return [info.callback.__name__ for info in narrow.registered_commands if info.callback]


@pytest.mark.parametrize(("args", "command"), [
    (["timeline", "C1"], "timeline"),
    (["--db", "sqlite:///x.db", "--json", "timeline", "C1"], "timeline"),
    (["--db=sqlite:///x.db", "--log-level", "debug", "stock"], "stock"),
    (["verify-export", "-"], "verify_export_command"),
    (["--log-level", "timeline", "stock"], "stock"),  # the option's value is no command
])
def test_a_command_named_plainly_is_built_alone(args: list[str], command: str) -> None:
    narrow = app_for(args)

    assert _commands(narrow) == [command]
    assert narrow.registered_groups == []
    assert len(app.registered_commands) > 1  # the app itself keeps them all


@pytest.mark.parametrize("args", [
    [], ["--help"], ["--db", "x"], ["consume", "views"], ["audit", "verify"], ["timline"],
    ["--bogus", "timeline"], ["--db"], ["--", "timeline"],
])
def test_anything_else_gets_the_whole_command_line(args: list[str]) -> None:
    assert app_for(args) is app
