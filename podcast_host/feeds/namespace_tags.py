"""The stored Podcasting 2.0 values as the dataclasses of the feedgen extension (podcast_ns.py), which
build.py sets on the channel and its items (docs/feeds.md, "Podcasting 2.0 tags"): people, places,
licence, txt records, podroll, cover images, trailers, the update frequency, blocks, soundbites, the
low-data version and the transcript. Which entries count is namespace_values.py's to say, shared with the
pages.

podcast_ns.py, and with it feedgen and lxml, is imported inside the functions, with the first feed a process
builds: importing this module loads neither (tests/test_idle_memory.py checks an idle server).
"""

from __future__ import annotations

from collections.abc import Sequence
from posixpath import splitext
from typing import TYPE_CHECKING

from podcast_host.feeds import namespace_values
from podcast_host.feeds.schedule import derive_schedule
from podcast_host.models import Episode, Show
from podcast_host.namespace_fields import license_url
from podcast_host.notes import clean_text
from podcast_host.storage import SERVED_TYPES

if TYPE_CHECKING:
    from podcast_host.feeds.build import FeedLinks
    from podcast_host.feeds.podcast_ns import (
        AlternateEnclosure,
        Image,
        License,
        Location,
        Person,
        PodcastChannelExtension,
        RemoteItem,
        Soundbite,
        Trailer,
        Transcript,
        Txt,
        UpdateFrequency,
    )

# podcast-namespace docs/tags/transcript.md names SRT "application/x-subrip"; older tools wrote the others.
_TRANSCRIPT_TYPES_BY_SUFFIX = {".vtt": "text/vtt", ".srt": "application/x-subrip"}
_SRT_ALIASES = frozenset({"application/srt", "text/srt", "application/x-srt"})
_TIMED_TRANSCRIPT_TYPES = frozenset({"text/vtt", "application/x-subrip"})
# The low-data file's type in the feed: the namespace's own examples name Opus "audio/opus" (the file itself
# is Ogg Opus, served as audio/ogg).
LOW_DATA_TYPE = "audio/opus"

# podcast:image (docs/tags/image.md). Covers are square (artwork.py keeps them so); their pixel size is not
# stored, so width and height are left out rather than guessed (docs/feeds.md, "Podcasting 2.0 tags").
COVER_ASPECT_RATIO = "1/1"
COVER_PURPOSE = "artwork"
# The namespace's slug for Apple (serviceslugs.txt): blocking it blocks Apple's own tag too.
APPLE_SLUG = "apple"


def block(ext: PodcastChannelExtension, value: object) -> None:
    """Show.block: everywhere (podcast:block yes) and its exceptions, one podcast:block id= each; Apple's
    itunes:block says the same for Apple."""
    if not isinstance(value, dict):
        return
    everywhere = bool(value.get("everywhere"))
    platforms = [slug for slug in value.get("platforms") or [] if isinstance(slug, str) and slug]
    ext.block = everywhere
    # The exceptions go the other way: allowed when everything is blocked, blocked when nothing is.
    ext.platform_blocks = tuple((slug, not everywhere) for slug in platforms)
    ext.itunes_block = everywhere != (APPLE_SLUG in platforms)


def update_frequency(show: Show, candidates: Sequence[Episode]) -> UpdateFrequency | None:
    """The producer's stated schedule, else one derived from the full episodes already published."""
    from podcast_host.feeds.podcast_ns import UpdateFrequency

    stated = show.update_frequency
    if isinstance(stated, dict) and stated.get("text"):
        return UpdateFrequency(
            text=clean_text(str(stated["text"])),
            rrule=str(stated.get("rrule") or ""),
            dtstart=str(stated.get("dtstart") or ""),
            complete=stated.get("complete") is True,
        )
    times = [
        episode.publish_at
        for episode in candidates
        if episode.publish_at is not None and not episode.draft and (episode.episode_type or "full") == "full"
    ]
    derived = derive_schedule(times, show.time_zone or "UTC", show.language or "en")
    return UpdateFrequency(text=derived.text, rrule=derived.rrule) if derived else None


def trailers(items: Sequence[Episode], links: FeedLinks) -> tuple[Trailer, ...]:
    """The channel's trailers: the feed's own episodes of type trailer, newest first, each with the same
    enclosure URL as its item (so a private feed's carries the subscriber's token)."""
    from podcast_host.feeds.podcast_ns import Trailer

    return tuple(
        Trailer(
            title=clean_text(episode.title),
            url=links.enclosure_url(episode),
            pubdate=episode.publish_at,
            length=episode.enclosure_length,
            type=episode.enclosure_type or "audio/mpeg",
            season=episode.season,
        )
        for episode in items
        if episode.episode_type == "trailer" and episode.publish_at is not None
    )


def persons(values: object) -> tuple[Person, ...]:
    from podcast_host.feeds.podcast_ns import Person

    return tuple(
        Person(
            name=clean_text(str(person["name"])),
            role=str(person.get("role") or ""),
            group=str(person.get("group") or ""),
            img=str(person.get("img") or ""),
            href=str(person.get("href") or ""),
        )
        for person in namespace_values.persons(values)
    )


def locations(values: object) -> tuple[Location, ...]:
    from podcast_host.feeds.podcast_ns import Location

    return tuple(
        Location(
            name=clean_text(str(place["name"])),
            rel=str(place.get("rel") or ""),
            geo=namespace_values.geo_uri(place),
            osm=str(place.get("osm") or ""),
            country=str(place.get("country") or ""),
        )
        for place in namespace_values.locations(values)
    )


def license(value: object) -> License | None:
    """The licence and the URL of its text (the well-known licence's own when none was given)."""
    from podcast_host.feeds.podcast_ns import License

    if not isinstance(value, dict) or not value.get("identifier"):
        return None
    return License(clean_text(str(value["identifier"])), license_url(value))


def txt(values: object) -> tuple[Txt, ...]:
    from podcast_host.feeds.podcast_ns import Txt

    records = values if isinstance(values, list) else []
    return tuple(
        Txt(value=clean_text(str(record["value"])), purpose=clean_text(str(record.get("purpose") or "")))
        for record in records
        if isinstance(record, dict) and record.get("value")
    )


def podroll(values: object) -> tuple[RemoteItem, ...]:
    from podcast_host.feeds.podcast_ns import RemoteItem

    shows = values if isinstance(values, list) else []
    return tuple(
        RemoteItem(
            feed_guid=str(show["feed_guid"]),
            feed_url=str(show.get("feed_url") or ""),
            title=clean_text(str(show.get("title") or "")),
            medium=str(show.get("medium") or ""),
        )
        for show in shows
        if isinstance(show, dict) and show.get("feed_guid")
    )


def cover(url: str, title: str) -> Image:
    """podcast:image for a cover: the itunes:image URL, the title as its alt text, square artwork."""
    from podcast_host.feeds.podcast_ns import Image

    extension = url.partition("?")[0].rpartition(".")[2].lower()
    return Image(
        href=url,
        alt=clean_text(title),
        aspect_ratio=COVER_ASPECT_RATIO,
        type=SERVED_TYPES["image"].get(extension, ""),
        purpose=COVER_PURPOSE,
    )


def soundbites(episode: Episode) -> tuple[Soundbite, ...]:
    """The episode's clips that end within its audio (docs/feeds.md, "Podcasting 2.0 tags")."""
    from podcast_host.feeds.podcast_ns import Soundbite

    return tuple(
        Soundbite(
            start=namespace_values.seconds(bite["start"]),
            duration=namespace_values.seconds(bite["duration"]),
            title=clean_text(str(bite.get("title") or "")),
        )
        for bite in namespace_values.fitting_soundbites(episode)
    )


def alternates(episode: Episode, links: FeedLinks) -> tuple[AlternateEnclosure, ...]:
    """The MP3 (the enclosure itself, `default`) and its low-data Opus version, each with its SHA-256
    (docs/feeds.md, "Low-data version")."""
    from podcast_host.feeds.podcast_ns import AlternateEnclosure

    mp3_bps = round((episode.enclosure_length or 0) * 8 / episode.duration_s) if episode.duration_s else None
    mp3 = AlternateEnclosure(
        type=episode.enclosure_type or "audio/mpeg",
        length=episode.enclosure_length or 0,
        url=links.enclosure_url(episode),
        bitrate=mp3_bps,
        sha256=episode.audio_sha256,
        default=True,
        title="MP3",
    )
    low_data = AlternateEnclosure(
        type=LOW_DATA_TYPE,
        length=episode.low_data_length or 0,
        url=links.low_data_url(episode),
        bitrate=(episode.low_data_kbps or 0) * 1000 or None,
        sha256=episode.low_data_sha256,
        title="Low data",
        codecs="opus",
    )
    return mp3, low_data


def transcript(episode: Episode, links: FeedLinks, language: str) -> Transcript:
    """The episode's transcript, in its show's language: the one an episode's words are spoken in."""
    from podcast_host.feeds.podcast_ns import Transcript

    mime = (episode.transcript_type or "").strip().lower()
    if not mime:
        mime = _TRANSCRIPT_TYPES_BY_SUFFIX.get(
            splitext(episode.transcript_key or "")[1].lower(), "text/plain"
        )
    if mime in _SRT_ALIASES:
        mime = "application/x-subrip"
    return Transcript(links.transcript_url(episode), mime, language, captions=mime in _TIMED_TRANSCRIPT_TYPES)
