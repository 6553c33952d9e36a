"""An import's feed and show: the feed fetched, the show it goes into found or created from the channel, with
its cover (docs/migrate.md)."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from podcast_host import accounts, fetching, shows
from podcast_host.errors import Conflict, Forbidden, Invalid, NotFound, PodcastHostError, refusal
from podcast_host.feeds.build import podcast_guid
from podcast_host.feeds.categories import format_category, validate_category
from podcast_host.imports.reader import FeedChannel
from podcast_host.limits import MIB, SIDE_FILE_LIMITS
from podcast_host.models import FeedImport, Show, User
from podcast_host.services import Services
from podcast_host.slugs import check_slug, slug_from_title, unique_slug

# The largest feed read: a feed of a few thousand episodes with long notes is a few MB.
MAX_FEED_BYTES = 20 * MIB

# What a show takes from the channel when it is created; the rest of its settings keep their defaults.
CHANNEL_FIELDS = (
    "title", "description", "language", "author", "email", "explicit", "copyright", "show_type",
    "category", "funding_url", "funding_text",
)  # fmt: skip


def check_url(source: str) -> None:
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(refusal("The feed's address must be an http or https URL."), field="url")


def fetch_feed(services: Services, url: str) -> bytes:
    fetched = fetching.fetch_bytes(url, settings=services.settings, max_bytes=MAX_FEED_BYTES)
    return fetched.body


def target_show(services: Services, session: Session, run: FeedImport, channel: FeedChannel) -> Show:
    """The show the feed goes into: the one named (made when it does not exist), else the one an earlier run
    of the same feed made (the feed's identity), else a new one."""
    user = session.get(User, run.created_by) if run.created_by else None
    _check_locked(channel, user, run)
    identity = _identity(channel, run)
    show = session.get(Show, run.show_id) if run.show_id else None
    if show is None and run.target_slug:
        show = existing_show(session, run.target_slug)
        if show is None:
            # A show named by its slug is a new show: the feed's identity may belong to a show elsewhere here.
            return _create_show(services, session, run, channel, _unused(session, identity, channel), user)
    if show is None and identity is not None:
        show = session.scalar(select(Show).where(Show.podcast_guid == identity))
        if (
            show is not None
            and user is not None
            and not accounts.allows(session, user, show, "edit_episodes")
        ):
            # Not a word about that show: the producer only learns to name one of theirs.
            raise Forbidden(
                refusal(
                    "Another show on this site already has this feed's identity (its podcast:guid); choose "
                    "one of your shows to import into."
                )
            )
    if show is None and identity is None:
        raise Invalid(
            refusal(
                "This feed names neither its own address nor a podcast:guid: choose the show to import into, "
                "so that running the import again finds it."
            )
        )
    if show is not None:
        if user is not None:
            accounts.require(session, user, show, "edit_episodes")
        return show
    return _create_show(services, session, run, channel, identity, user)


def _identity(channel: FeedChannel, run: FeedImport) -> str | None:
    """The podcast:guid the show keeps: the feed's own, else the UUIDv5 of its old address; None for a file
    that names neither."""
    if channel.podcast_guid:
        try:
            return shows.check_podcast_guid(channel.podcast_guid)
        except Invalid:
            channel.notices.append("podcast:guid is not a UUID: derived from the feed's address instead")
    old_url = channel.self_url or run.source
    return podcast_guid(old_url) if old_url.startswith(("http://", "https://")) else None


def _unused(session: Session, identity: str | None, channel: FeedChannel) -> str | None:
    """The identity for a new show, unless another show here has it already (then the new show's own)."""
    if identity is not None and session.scalar(select(Show.id).where(Show.podcast_guid == identity)):
        channel.notices.append("podcast:guid already used by another show here: the new show has its own")
        return None
    return identity


def _check_locked(channel: FeedChannel, user: User | None, run: FeedImport) -> None:
    """podcast:locked yes asks other hosts to import the feed only for its owner: a producer importing through
    the API or the dashboard must be signed in with the owner e-mail; the operator's command line may."""
    if channel.locked_owner is None or run.created_by is None:
        return
    owner = channel.locked_owner.strip().lower()
    if user is None or not owner or user.email.lower() != owner:
        raise Forbidden(
            refusal(
                "The feed is locked (podcast:locked): only its owner may import it, signed in with the "
                "e-mail address the feed names; unlock it at the old host, or ask the operator to import it."
            )
        )


def _create_show(
    services: Services,
    session: Session,
    run: FeedImport,
    channel: FeedChannel,
    guid: str | None,
    user: User | None,
) -> Show:
    fields = _show_fields(channel)
    slug = run.target_slug or _free_slug(session, str(fields.get("title") or ""))
    return shows.create_show(session, services.settings.public_url, {"slug": slug, **fields}, user, guid=guid)


def _free_slug(session: Session, title: str) -> str:
    """A slug for a new show from its title: one that is valid, not reserved and free (a title like "Admin"
    is not a slug a show may take)."""
    base = slug_from_title(title, "show")
    try:
        check_slug(base)
    except Invalid:
        base = "show"

    def taken(slug: str) -> bool:
        try:
            check_slug(slug)
            shows.ensure_slug_free(session, slug)
        except (Invalid, Conflict):
            return True
        return False

    return unique_slug(base, taken)


def fetch_cover(services: Services, channel: FeedChannel) -> bytes | None:
    """The channel's cover, fetched before any transaction begins (a slow host must not hold a lock)."""
    if not channel.image_url:
        return None
    try:
        return fetching.fetch_bytes(
            channel.image_url, settings=services.settings, max_bytes=SIDE_FILE_LIMITS["image"]
        ).body
    except PodcastHostError as exc:
        channel.notices.append(f"cover left out: {exc}")
        return None


def _show_fields(channel: FeedChannel) -> dict[str, object]:
    """The channel's fields the show accepts; one it refuses is left at its default, with a notice."""
    out: dict[str, object] = {}
    for name in CHANNEL_FIELDS:
        value = channel.fields.get(name)
        if value is None:
            continue
        if name == "category":
            value = _category(value, channel)
            if value is None:
                continue
        try:
            out.update(shows.clean_show_fields({name: value}, require_title=False))
        except Invalid as exc:
            channel.notices.append(f"{name} left out: {exc}")
    if "language" not in out and isinstance(channel.fields.get("language"), str):
        # "en-us" and the like: the language alone.
        primary = str(channel.fields["language"]).split("-")[0].lower()
        with contextlib.suppress(Invalid):
            out.update(shows.clean_show_fields({"language": primary}, require_title=False))
    if not out.get("title"):
        raise Invalid(refusal("The feed's channel has no title."))
    return out


def _category(value: object, channel: FeedChannel) -> str | None:
    """Apple's category as the feed names it; its top level alone when the subcategory is not Apple's."""
    top, sub = value if isinstance(value, tuple) else (str(value), None)
    for candidate in ([format_category(top, sub)] if sub else []) + [top]:
        try:
            validate_category(candidate)
            return candidate
        except Invalid:
            continue
    channel.notices.append(f"category {top!r} is not one of Apple's: left out")
    return None


def existing_show(session: Session, slug: str) -> Show | None:
    try:
        return shows.find_show(session, slug)
    except NotFound:
        return None
