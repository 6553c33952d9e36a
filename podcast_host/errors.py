"""Typed domain errors; the web layer and the CLI map them to statuses and exit codes in one place each."""

from __future__ import annotations

from typing import Any


class Refusal(str):
    """A refusal's English sentence that also remembers its template and values, so that a page can show it in
    the reader's language (`web/errors.message_of`) while the API, the CLI and the logs keep the English."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, params: dict[str, Any]) -> Refusal:
        made = super().__new__(cls, template % params if params else template)
        made.template = template
        made.params = params
        return made


def refusal(template: str, **params: Any) -> Refusal:
    """Mark a refusal for translation (`make catalogs` extracts it): `refusal("At most %(n)s files.", n=5)`.
    Placeholders are named, never concatenated pieces, since word order differs between languages."""
    return Refusal(template, params)


class PodcastHostError(Exception):
    """Base of every refusal the app explains to its user; str() is one human sentence."""

    code = "error"


class NotFound(PodcastHostError):
    code = "not_found"


class Invalid(PodcastHostError):
    """A field or file is malformed; `field` names it when known."""

    code = "invalid"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(PodcastHostError):
    code = "conflict"


class NotAuthenticated(PodcastHostError):
    code = "unauthorized"


class Forbidden(PodcastHostError):
    code = "forbidden"


class TooLarge(PodcastHostError):
    code = "too_large"


class Unavailable(PodcastHostError):
    """A backing service (object store, database) does not answer; retrying later may work."""

    code = "unavailable"


class UnsupportedMedia(PodcastHostError):
    """An upload is not audio (or an image) that we can read."""

    code = "unsupported_media_type"
