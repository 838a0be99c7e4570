"""Service commands: ``token create/list/revoke``, ``user create`` and ``serve``.

Registered in ``cli.py``; ``token create`` prints the new token alone on standard output (design 8) so a
script can capture it; messages go to standard error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from code2asin.config import load_settings
from code2asin.errors import Code2AsinError

if TYPE_CHECKING:  # imported when a command runs: `code2asin check` must not pay for alembic
    from code2asin.db import Database

token_app = typer.Typer(no_args_is_help=True, help="API tokens (Authorization: Bearer).")
user_app = typer.Typer(no_args_is_help=True, help="Users (web sign-in).")

FIRST_ADMIN_HINT = (
    "No user or token exists yet: create the first admin with "
    "`code2asin user create admin --permissions ADMIN_CODE2ASIN` (web sign-in) or "
    "`code2asin token create --permissions ADMIN_CODE2ASIN --name admin` (API token)."
)

PermissionsOption = Annotated[
    str,
    typer.Option(
        "--permissions",
        help="Comma-separated: READ_CODE2ASIN, WRITE_CODE2ASIN, DELETE_CODE2ASIN, ADMIN_CODE2ASIN.",
    ),
]
SupplierOption = Annotated[
    list[str] | None,
    typer.Option("--supplier", help="Restrict to this supplier code (repeatable; default: every supplier)."),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def _database() -> Iterator[Database]:
    from code2asin.db import Database

    db = Database.from_settings(load_settings())
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()


@token_app.command("create")
def token_create(
    permissions: PermissionsOption,
    supplier: SupplierOption = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", help="Expire after N days.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label shown in `token list`.")] = None,
) -> None:
    """Create a token and print it alone on standard output (it is shown only once)."""
    from code2asin.accounts.service import create_token

    try:
        with _database() as db, db.unit_of_work() as session:
            token, plaintext = create_token(
                session, [permissions], supplier or [], expires_in_days=expires_in_days, name=name
            )
            token_id = token.id
    except Code2AsinError as exc:
        _fail(str(exc))
    typer.echo(plaintext)
    typer.echo(f"Token {token_id} created; store it now, it cannot be shown again.", err=True)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never their secret): id, prefix, name, permissions, suppliers, state, dates."""
    from code2asin.accounts.service import list_tokens, token_state

    with _database() as db, db.unit_of_work() as session:
        tokens = list_tokens(session)
        typer.echo("id\tprefix\tname\tpermissions\tsuppliers\tstate\tcreated_at\texpires_at\tlast_used_at")
        for t in tokens:
            fields = [
                t.id,
                t.prefix,
                t.name or "",
                ",".join(t.permissions or []),
                ",".join(t.suppliers or []) or "*",
                token_state(t),
                t.created_at.isoformat(timespec="seconds"),
                t.expires_at.isoformat(timespec="seconds") if t.expires_at else "",
                t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "",
            ]
            typer.echo("\t".join(fields))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id (see `token list`).")],
) -> None:
    """Revoke a token: it stops working at once."""
    from code2asin.accounts.service import revoke_token

    try:
        with _database() as db, db.unit_of_work() as session:
            revoked = revoke_token(session, token_id)
            revoked_id = revoked.id
    except Code2AsinError as exc:
        _fail(str(exc))
    typer.echo(f"Token {revoked_id} revoked.", err=True)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    permissions: PermissionsOption,
    supplier: SupplierOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; the password is prompted for (twice) or read from standard input."""
    from code2asin.accounts.service import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    try:
        with _database() as db, db.unit_of_work() as session:
            user = create_user(session, username, password, [permissions], supplier or [])
            user_id = user.id
    except Code2AsinError as exc:
        _fail(str(exc))
    typer.echo(f"User {username} created ({user_id}).", err=True)


def _exit_after_drain(signum: int, frame: object) -> None:
    """SIGTERM once uvicorn has drained: leave through the ``finally`` blocks, exit code 0."""
    raise SystemExit(0)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    graceful_timeout: Annotated[
        int,
        typer.Option(min=0, help="On SIGTERM, seconds to let requests in flight finish before closing."),
    ] = 20,
) -> None:
    """Serve the REST API; jobs run in this process unless a broker is configured (Celery workers).

    SIGTERM (or Ctrl-C) stops accepting connections, lets the requests in flight finish (at most
    ``--graceful-timeout`` seconds), hands the in-process jobs' chunks back, then exits 0.
    """
    import signal

    import uvicorn

    from code2asin.accounts.service import has_any_principal
    from code2asin.api import create_app
    from code2asin.api.deps import make_dispatcher
    from code2asin.observability import configure_logging

    settings = load_settings()
    from code2asin.db import Database

    db = Database.from_settings(settings)
    try:
        db.upgrade()
        with db.unit_of_work() as session:
            first_start = not has_any_principal(session)
        if first_start:
            typer.echo(FIRST_ADMIN_HINT)
        dispatcher = make_dispatcher(settings, db)
        try:
            configure_logging(settings)
            # uvicorn drains, then raises the signal it caught again: this handler turns it into exit 0
            signal.signal(signal.SIGTERM, _exit_after_drain)
            uvicorn.run(
                create_app(settings, db=db, dispatcher=dispatcher),
                host=host,
                port=port,
                log_config=None,
                timeout_graceful_shutdown=graceful_timeout or None,
            )
        finally:
            dispatcher.close()
    finally:
        db.dispose()
