from __future__ import annotations

from typer.testing import CliRunner

from loadbay import __version__
from loadbay.cli import app


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "schemas", "version"):
        assert command in result.output


def test_serve_refuses_fewer_than_one_worker() -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code == 2
    refusal = "Invalid value for '--workers': Input should be greater than or equal to 1"
    assert refusal in result.output
