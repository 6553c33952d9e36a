"""Why a fetch was refused or failed: errors the API and the dashboard show as they are (see __init__.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from podcast_host.errors import Invalid

if TYPE_CHECKING:
    pass


class FetchRefused(Invalid):
    """The URL names something the server will not fetch (a private address, another scheme, credentials);
    asking again gets the same answer."""


class FetchFailed(Invalid):
    """The fetch went wrong: no connection, a time-out, a broken answer, or a status other than 2xx (`status`,
    None when no answer came)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FetchTooLarge(FetchFailed):
    """The answer is larger than the caller's limit; reading stopped there."""
