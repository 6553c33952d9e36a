"""Typed domain errors; the web layer and the CLI map them to statuses and exit codes in one place each."""


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
