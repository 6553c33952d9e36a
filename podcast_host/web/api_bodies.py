"""What the producer API reads and writes: request bodies checked against their schemas, and the JSON of
shows, episodes, tokens and members in its answers (both described in web/schemas.py, their Podcasting 2.0
values in web/namespace_schemas.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, request
from marshmallow import Schema
from werkzeug.datastructures import FileStorage

from podcast_host import episodes, shows
from podcast_host.errors import UnsupportedMedia
from podcast_host.feeds.links import Links
from podcast_host.models import ApiToken, Episode, Membership, Show
from podcast_host.web.context import services
from podcast_host.web.openapi import load

LOUDNESS_FIGURES = ("input_lufs", "input_lra", "input_true_peak_dbtp", "output_lufs", "output_true_peak_dbtp")
SHOW_NAMESPACE_FIELDS = tuple(shows.NAMESPACE_CLEANERS)
# The Podcasting 2.0 values that are lists of entries, shown as [] when there are none.
LIST_FIELDS = frozenset({"persons", "locations", "soundbites", "txt", "podroll"})


# --- bodies ---------------------------------------------------------------------------------------------


def json_body(schema: type[Schema], optional: bool = False) -> dict[str, Any]:
    """The JSON body checked against its schema: 415 when not JSON, 400 when malformed, 422 when invalid."""
    if optional and not request.get_data(cache=True):
        return {}
    try:
        payload = request.get_json()
    except RecursionError as exc:
        # Deep nesting ("[[[[…") ends json's parser with RecursionError, not the ValueError Flask answers 400.
        payload = request.on_json_loading_failed(ValueError(str(exc)))
    return load(schema, payload)


def form_body(schema: type[Schema]) -> dict[str, Any]:
    """The multipart body checked against its schema; empty fields and empty file parts count as absent."""
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMedia("Send this as multipart/form-data, the files as file parts.")
    data: dict[str, Any] = {k: v for k, v in request.form.items() if v.strip() or k == "description"}
    data.update({k: f for k, f in request.files.items() if f.filename or _stream_size(f)})
    return load(schema, data)


def _stream_size(storage: FileStorage) -> int:
    stream = storage.stream
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


# --- JSON shapes ----------------------------------------------------------------------------------------


def show_json(show: Show) -> dict[str, Any]:
    links = Links(services().settings)
    return {
        "slug": show.slug,
        "title": show.title,
        "description": show.description,
        "language": show.language,
        "time_zone": show.time_zone,
        "author": show.author,
        "email": show.email,
        "category": show.category,
        "explicit": show.explicit,
        "copyright": show.copyright,
        "show_type": show.show_type,
        "locked": show.locked,
        "access": show.access,
        "funding_url": show.funding_url,
        "funding_text": show.funding_text,
        "apple_podcasts_url": show.apple_podcasts_url,
        "spotify_url": show.spotify_url,
        "image": links.image(show.image_key),
        "feed_url": links.feed(show),
        "page_url": links.show_page(show),
        "podcast_guid": show.podcast_guid,
        "moved_to_url": show.moved_to_url,
        "target_lufs_stereo": show.target_lufs_stereo,
        "target_lufs_mono": show.target_lufs_mono,
        "bitrate_stereo_kbps": show.bitrate_stereo_kbps,
        "bitrate_mono_kbps": show.bitrate_mono_kbps,
        "low_data_stereo_kbps": show.low_data_stereo_kbps,
        "low_data_mono_kbps": show.low_data_mono_kbps,
        **namespace_json(show, SHOW_NAMESPACE_FIELDS),
        "created_at": show.created_at.isoformat(),
    }


def episode_json(episode: Episode) -> dict[str, Any]:
    links = Links(services().settings)
    report = episode.loudness_report or {}
    return {
        "id": episode.id,
        "show": episode.show.slug,
        "guid": episode.guid,
        "slug": episode.slug,
        "title": episode.title,
        "description": episode.description,
        "season": episode.season,
        "number": episode.number,
        "type": episode.episode_type,
        "explicit": episode.explicit,
        "status": episode.status,
        "error": episode.error,
        "progress": round(episode.progress or 0.0, 3),
        "draft": episode.draft,
        "publish_at": episode.publish_at.isoformat() if episode.publish_at else None,
        "duration_s": episode.duration_s,
        "enclosure": {
            "url": links.enclosure(episode) if episode.audio_key else None,
            "length": episode.enclosure_length,
            "type": episode.enclosure_type,
        },
        "loudness": {name: report.get(name) for name in LOUDNESS_FIGURES},
        "page_url": links.episode_page(episode),
        "chapters": bool(episode.chapters),
        "transcript": links.transcript(episode) if episode.transcript_key else None,
        "image": links.image(episode.image_key),
        **namespace_json(episode, episodes.NAMESPACE_FIELDS),
        "created_at": episode.created_at.isoformat(),
    }


def namespace_json(row: Show | Episode, names: Iterable[str]) -> dict[str, Any]:
    """Podcasting 2.0 values as stored: a list field without entries is [], any other unset value null."""
    out = {}
    for name in names:
        value = getattr(row, name)
        out[name] = [] if value is None and name in LIST_FIELDS else value
    return out


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "read_only": token.read_only,
    }


def member_json(membership: Membership) -> dict[str, Any]:
    return {"email": membership.user.email, "role": membership.role}


def csv_download(figures: dict[str, Any]) -> Response:
    """A show's download figures as the CSV file the API and the dashboard both offer (docs/analytics.md)."""
    from podcast_host.analytics.report import report_csv

    name = f"downloads-{figures['since']}-{figures['until']}.csv"
    return Response(
        report_csv(figures),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
