"""Producer accounts and API tokens: `user add`, `user password` and `token add`."""

from __future__ import annotations

import sys

import click

from podcast_host import accounts
from podcast_host.cli.common import LazyServices, friendly_errors, pass_services


@click.group()
def user() -> None:
    """Producer accounts."""


@user.command("add")
@click.argument("email")
@click.option("--admin", is_flag=True, help="May do everything on every show.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_services
@friendly_errors
def user_add(lazy: LazyServices, email: str, admin: bool, password_stdin: bool) -> None:
    lazy.as_operator("user add")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with lazy.get().db.session() as session:
        created = accounts.create_user(session, email, password, admin=admin)
        session.commit()
        click.echo(f"Created user {created.email}{' (admin)' if admin else ''}.")


@user.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_services
@friendly_errors
def user_password(lazy: LazyServices, email: str, password_stdin: bool) -> None:
    """Set a user's password; every dashboard session of theirs ends (their API tokens keep working)."""
    lazy.as_operator("user password")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
    with lazy.get().db.session() as session:
        # The operator is trusted: unlike the API, the command says plainly when there is no such user.
        found = accounts.get_user(session, email)
        accounts.set_password(session, found, password)
        session.commit()
        click.echo(f"New password set for {found.email}; their dashboard sessions have ended.")


@click.group()
def token() -> None:
    """API tokens."""


@token.command("add")
@click.argument("email")
@click.option("--name", default="", help="A label to recognize the token by.")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, accounts.MAX_TOKEN_DAYS),
    help="Refuse the token after this many days (default: never).",
)
@click.option("--read-only", is_flag=True, help="The token may only read (GET and HEAD requests).")
@pass_services
@friendly_errors
def token_add(
    lazy: LazyServices, email: str, name: str, expires_in_days: int | None, read_only: bool
) -> None:
    """Create an API token; it is printed once, alone on the last line. With --as, only for that user."""
    if lazy.acting_as and email.strip().lower() != lazy.acting_as.strip().lower():
        raise click.ClickException(
            f"With --as, `token add` makes tokens for {lazy.acting_as} only; "
            f"run it without --as to make one for {email}."
        )
    with lazy.get().db.session() as session:
        token, secret = accounts.create_token(
            session, accounts.get_user(session, email), name, expires_in_days, read_only
        )
        session.commit()
        scope = "read-only" if read_only else "read and write"
        until = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
    click.echo(f"Token for {email}, {scope}, {until} (store it now; it is not shown again):", err=True)
    click.echo(secret)
