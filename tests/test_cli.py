"""The command line: set up a producer, a show and an episode, then print the feed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from podcast_host.cli import main

# `db upgrade` on an empty database runs the real migrations: the walk through every step runs on
# PostgreSQL too. The refusals and roles below are the command line's, whatever the database.


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> CliRunner:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", database_url)
    return CliRunner()


def _ok(runner: CliRunner, *args: str, input: str | None = None) -> str:
    result = runner.invoke(main, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.postgres
def test_a_newcomer_publishes_an_episode_from_the_cli(runner: CliRunner, sample_mp3: Path) -> None:
    _ok(runner, "db", "upgrade")
    _ok(runner, "user", "add", "me@example.com", "--admin", "--password-stdin", input="long enough pw\n")
    token = _ok(runner, "token", "add", "me@example.com", "--name", "laptop").strip().splitlines()[-1]
    assert token.startswith("ph_") and len(token) > 30
    _ok(
        runner,
        "show",
        "add",
        "cli-show",
        "--title",
        "CLI Show",
        "--category",
        "Technology",
        "--language",
        "en",
        "--author",
        "Me",
        "--email",
        "me@example.com",
    )
    assert "cli-show" in _ok(runner, "show", "list")

    out = _ok(runner, "episode", "add", "cli-show", str(sample_mp3), "--title", "From the CLI", "--wait")
    episode_id = out.strip().splitlines()[-1]
    listing = _ok(runner, "episode", "list", "cli-show")
    assert f"{episode_id}\tpublished" in listing

    feed = _ok(runner, "feed", "cli-show")
    assert "<title>From the CLI</title>" in feed
    assert 'length="' in feed


def test_user_mistakes_are_one_line_without_traceback(runner: CliRunner, tmp_path: Path) -> None:
    _ok(runner, "db", "upgrade")
    result = runner.invoke(main, ["show", "add", "Bad Slug!", "--title", "x"])
    assert result.exit_code != 0
    assert result.stderr.strip().count("\n") == 0
    assert "slug" in result.stderr
    missing = runner.invoke(main, ["episode", "list", "nope"])
    assert missing.exit_code != 0 and "There is no show 'nope'" in missing.stderr
    text = tmp_path / "fake.mp3"
    text.write_text("not audio")
    _ok(runner, "show", "add", "real", "--title", "Real")
    refused = runner.invoke(main, ["episode", "add", "real", str(text), "--title", "x", "--wait"])
    assert refused.exit_code != 0
    assert "Traceback" not in refused.output
    assert _ok(runner, "episode", "list", "real") == ""


def test_roles_hold_on_the_command_line_with_as(runner: CliRunner, sample_mp3: Path) -> None:
    """Without --as the CLI is the operator; with --as EMAIL it has that user's rights, as a token would."""
    _ok(runner, "db", "upgrade")
    for email in ("owner@example.com", "viewer@example.com", "stranger@example.com"):
        _ok(runner, "user", "add", email)
    _ok(runner, "--as", "owner@example.com", "show", "add", "mine", "--title", "Mine")
    _ok(runner, "--as", "owner@example.com", "show", "grant", "mine", "viewer@example.com", "viewer")

    assert _ok(runner, "--as", "viewer@example.com", "episode", "list", "mine") == ""
    refused = runner.invoke(
        main, ["--as", "viewer@example.com", "episode", "add", "mine", str(sample_mp3), "--title", "No"]
    )
    assert refused.exit_code != 0 and "You may not do that on the show 'mine'" in refused.stderr
    stranger = runner.invoke(main, ["--as", "stranger@example.com", "episode", "list", "mine"])
    assert stranger.exit_code != 0
    assert "mine" not in _ok(runner, "--as", "stranger@example.com", "show", "list")
    grant = runner.invoke(
        main, ["--as", "viewer@example.com", "show", "grant", "mine", "stranger@example.com", "owner"]
    )
    assert grant.exit_code != 0
    _ok(runner, "--as", "owner@example.com", "episode", "add", "mine", str(sample_mp3), "--title", "Yes")
    assert "\tpublished\t" in _ok(runner, "--as", "viewer@example.com", "episode", "list", "mine")


@pytest.mark.parametrize(
    "command",
    [
        ["user", "add", "new@example.com"],
        ["user", "password", "someone@example.com", "--password-stdin"],
        ["token", "add", "someone@example.com"],
        ["db", "upgrade"],
        ["serve", "--processes", "2"],  # refused either way, so no server starts here
        ["worker", "--burst"],
    ],
)
def test_operator_commands_refuse_as_instead_of_ignoring_it(runner: CliRunner, command: list[str]) -> None:
    _ok(runner, "db", "upgrade")
    for email in ("someone@example.com", "me@example.com"):
        _ok(runner, "user", "add", email)
    result = runner.invoke(main, ["--as", "me@example.com", *command], input="a long password\n")
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "--as" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    with_token = _ok(runner, "token", "add", "someone@example.com")  # without --as nothing changed
    assert with_token.strip()


def test_a_user_makes_their_own_token_with_as(runner: CliRunner) -> None:
    _ok(runner, "db", "upgrade")
    _ok(runner, "user", "add", "me@example.com")
    secret = _ok(runner, "--as", "Me@example.com", "token", "add", "me@example.com").strip().splitlines()[-1]
    assert secret.startswith("ph_")


def test_the_feed_reads_the_same_with_as(runner: CliRunner) -> None:
    """The feed is public: --as changes nothing about it, so it is accepted."""
    _ok(runner, "db", "upgrade")
    _ok(runner, "user", "add", "me@example.com")
    _ok(runner, "show", "add", "open", "--title", "Open")
    assert _ok(runner, "--as", "me@example.com", "feed", "open") == _ok(runner, "feed", "open")
