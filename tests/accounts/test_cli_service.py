"""``token create/list/revoke`` and ``user create``: the token alone on stdout, secrets never listed."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from code2asin.accounts.service import verify_token
from code2asin.cli_service import token_app, user_app
from code2asin.config import Settings
from code2asin.db import Database

app = typer.Typer()
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")


def test_token_create_prints_only_the_token_and_list_and_revoke_manage_it() -> None:
    runner = CliRunner()
    created = runner.invoke(
        app, ["token", "create", "--permissions", "READ_CODE2ASIN,WRITE_CODE2ASIN", "--supplier", "SUP1",
              "--expires-in-days", "7", "--name", "ci"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("c2a_") and "\n" not in token
    db = Database.from_settings(Settings())
    try:
        with db.unit_of_work() as session:
            principal = verify_token(session, token)
            assert principal is not None and principal.suppliers == {"SUP1"}
            token_id = principal.id
    finally:
        db.dispose()
    listing = runner.invoke(app, ["token", "list"])
    assert token_id in listing.stdout and token not in listing.stdout and "active" in listing.stdout
    assert runner.invoke(app, ["token", "revoke", token_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["token", "list"]).stdout


def test_token_create_with_an_unknown_permission_fails_with_one_sentence() -> None:
    result = CliRunner().invoke(app, ["token", "create", "--permissions", "FLY"])
    assert result.exit_code == 1 and result.stdout == "" and "Unknown permission" in result.stderr


def test_user_create_reads_the_password_from_stdin() -> None:
    result = CliRunner().invoke(
        app, ["user", "create", "alice", "--permissions", "ADMIN_CODE2ASIN", "--password-stdin"],
        input="a long password\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "User alice created" in result.stderr
