"""cli/options.py: the CLI fills Settings, the one reader of RECENT_CALLS_* variables."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from recent_calls.cli.main import main
from recent_calls.cli.options import known_variables, unknown_variables


def test_a_misspelled_variable_is_reported_with_the_name_it_may_mean() -> None:
    lines = unknown_variables({"RECENT_CALLS_DATABSE": "x.duckdb", "RECENT_CALLS_NOW": "0"})
    assert lines == [
        "warning: RECENT_CALLS_DATABSE is not a recent-calls setting and is ignored "
        "(did you mean RECENT_CALLS_DATABASE?)"
    ]


def test_every_setting_of_the_server_and_the_client_is_known() -> None:
    known = known_variables()
    assert {"RECENT_CALLS_DATABASE", "RECENT_CALLS_REDIS_URL", "RECENT_CALLS_API_KEY"} <= known
    others = {"PATH": "/bin", "RECENT_CALLS_TEST_POSTGRES": "postgresql://"}
    assert unknown_variables({name: "" for name in known} | others) == []


def test_the_command_line_warns_at_start_and_still_runs(tmp_path: Path) -> None:
    database = tmp_path / "calls.duckdb"
    result = CliRunner().invoke(
        main,
        ["audit", "--database", str(database)],
        env={"RECENT_CALLS_WROKERS": "2"},
    )
    assert result.exit_code == 0, result.output
    assert "RECENT_CALLS_WROKERS is not a recent-calls setting" in result.stderr
    assert "did you mean RECENT_CALLS_WORKERS?" in result.stderr


def test_the_database_comes_from_the_variable_unless_the_option_overrides_it(
    tmp_path: Path,
) -> None:
    from_env, from_option = tmp_path / "env.duckdb", tmp_path / "option.duckdb"
    runner = CliRunner()
    env = {"RECENT_CALLS_DATABASE": str(from_env)}
    created = runner.invoke(main, ["tenant", "create", "envco01", "--region", "us"], env=env)
    assert created.exit_code == 0, created.output
    assert from_env.exists() and not from_option.exists()
    other = ["tenant", "create", "optco01", "--region", "us", "--database", str(from_option)]
    assert runner.invoke(main, other, env=env).exit_code == 0
    assert from_option.exists()
    listed = runner.invoke(main, ["credentials", "list", "optco01"], env=env)
    assert listed.exit_code != 0  # optco01 is in the option's database, not the variable's
