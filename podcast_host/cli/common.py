"""What every command shares: the services built on first use, and errors turned into one line on stderr."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from sqlalchemy.orm import Session

from podcast_host import accounts
from podcast_host.config import ConfigError
from podcast_host.db import DatabaseUnavailable
from podcast_host.errors import PodcastHostError
from podcast_host.jobs import RetryLater
from podcast_host.models import Show, User
from podcast_host.services import Services, build_services
from podcast_host.storage import StorageError

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the app's typed errors into one clear line and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (PodcastHostError, ConfigError, DatabaseUnavailable, StorageError) as exc:
            raise click.ClickException(str(exc)) from None
        except RetryLater as exc:
            raise click.ClickException(
                f"The media store did not answer ({exc}); the episode waits: run "
                "`podcast-host episode reprocess ID` (or `sync` again) once the store is back."
            ) from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None

    return wrapper


class LazyServices:
    """Services built on first use, so `--help` works without a database."""

    def __init__(self) -> None:
        self._services: Services | None = None
        # Email given with --as: commands then check that user's role, like the API does for a token.
        self.acting_as: str | None = None

    def get(self) -> Services:
        if self._services is None:
            self._services = build_services()
            if self._services.db.url.startswith("sqlite"):
                self._services.settings.data_dir.mkdir(parents=True, exist_ok=True)
                self._services.db.upgrade()
            else:
                self._services.db.check()
        return self._services

    def user(self, session: Session) -> User | None:
        """The user the command acts for, or None for the operator (full rights, like an admin)."""
        return accounts.get_user(session, self.acting_as) if self.acting_as else None

    def require(self, session: Session, show: Show, permission: str) -> None:
        if self.acting_as:
            accounts.require(session, self.user(session), show, permission)

    def as_operator(self, command: str) -> None:
        """Refuse --as on a command only the operator runs: ignoring it would act with full rights instead."""
        if self.acting_as:
            raise click.ClickException(f"`{command}` acts as the operator: run it without --as.")

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None


pass_services = click.make_pass_decorator(LazyServices, ensure=True)
