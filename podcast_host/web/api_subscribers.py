"""A private show's subscribers through the API (docs/api.md, "Subscribers"; docs/private-feeds.md).

Subscribers' addresses are personal data: editors and owners of the show may read and change them, viewers
may not. A feed URL carries its token and appears only in the answer that made or re-issued it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from podcast_host import subscribers
from podcast_host.analytics import report
from podcast_host.errors import UnsupportedMedia
from podcast_host.feeds.links import Links
from podcast_host.models import Show, Subscriber, utcnow
from podcast_host.web.analytics_schemas import AnalyticsQuerySchema
from podcast_host.web.api import _show_for, bp
from podcast_host.web.api_bodies import form_body, json_body
from podcast_host.web.context import db, services
from podcast_host.web.openapi import documented
from podcast_host.web.subscriber_schemas import (
    SubscriberAnalyticsSchema,
    SubscriberCreateSchema,
    SubscriberCsvSchema,
    SubscriberImportSchema,
    SubscriberListSchema,
    SubscriberSchema,
)

PERMISSION = subscribers.PERMISSION


@bp.get("/shows/<slug>/subscribers")
@documented("subscribers", response=SubscriberListSchema, errors=(403, 404))
def list_subscribers(slug: str) -> Response:
    """The show's subscribers, revoked ones included (editors and owners); no feed URLs."""
    show = _show_for(slug, PERMISSION)
    found = subscribers.list_subscribers(db(), show)
    return jsonify({"subscribers": [subscriber_json(s) for s in found]})


@bp.post("/shows/<slug>/subscribers")
@documented(
    "subscribers", status=201, body=SubscriberCreateSchema, response=SubscriberSchema, errors=(403, 404, 409)
)
def add_subscriber(slug: str) -> tuple[Response, int]:
    """Add a subscriber; the answer's `feed_url` is their own feed, shown this once.

    409 when the address already subscribes (and is not revoked)."""
    show = _show_for(slug, PERMISSION)
    body = json_body(SubscriberCreateSchema)
    subscriber, token = subscribers.add_subscriber(db(), show, body["email"], body.get("name", ""))
    db().commit()
    return jsonify(subscriber_json(subscriber, feed_url_for(show, token))), 201


@bp.post("/shows/<slug>/subscribers.csv")
@documented("subscribers", form=SubscriberCsvSchema, response=SubscriberImportSchema, errors=(403, 404))
def import_subscribers(slug: str) -> Response:
    """Add subscribers from a CSV of `email,name` rows: a text/csv body, or the multipart file `file`.

    Good rows are kept and bad ones reported by line number (a bad address, one that subscribes already, a
    name too long); each added subscriber's `feed_url` is in this answer only."""
    show = _show_for(slug, PERMISSION)
    report = subscribers.import_csv(db(), show, _csv_bytes())
    db().commit()
    return jsonify(
        {
            "added": [subscriber_json(s, feed_url_for(show, token)) for s, token in report.added],
            "refused": [{"line": line, "message": message} for line, message in report.refused],
        }
    )


@bp.post("/shows/<slug>/subscribers/<int:subscriber_id>/token")
@documented("subscribers", response=SubscriberSchema, errors=(403, 404, 409))
def reissue_token(slug: str, subscriber_id: int) -> Response:
    """Give the subscriber a new feed URL (the old one was shared or lost); the old one stops working at once.

    409 for a revoked subscriber: add them again instead."""
    show = _show_for(slug, PERMISSION)
    subscriber = subscribers.get_subscriber(db(), show, subscriber_id)
    token = subscribers.reissue(db(), subscriber)
    db().commit()
    return jsonify(subscriber_json(subscriber, feed_url_for(show, token)))


@bp.delete("/shows/<slug>/subscribers/<int:subscriber_id>")
@documented("subscribers", status=204, errors=(403, 404))
def revoke_subscriber(slug: str, subscriber_id: int) -> tuple[str, int]:
    """Revoke a subscriber: their feed answers 410 and their media 403 from the next request on."""
    show = _show_for(slug, PERMISSION)
    subscribers.revoke(db(), subscribers.get_subscriber(db(), show, subscriber_id))
    db().commit()
    return "", 204


@bp.get("/shows/<slug>/analytics/subscribers")
@documented("subscribers", response=SubscriberAnalyticsSchema, query=AnalyticsQuerySchema, errors=(403, 404))
def subscriber_analytics(slug: str) -> Response:
    """A private show's downloads per subscriber (owners only), counted as the show's downloads are; every
    subscriber is listed, revoked ones and those with no download included, most downloads first."""
    show = _show_for(slug, "subscriber_downloads")
    within = report.period(request.args.get("since"), request.args.get("until"), utcnow().date())
    return jsonify(subscriber_downloads(show, within))


def subscriber_downloads(show: Show, within: report.Period) -> dict[str, Any]:
    """The owners' view of downloads per subscriber, as the API answers it."""
    counts = report.subscriber_downloads(db(), show, within)
    listed = sorted(subscribers.list_subscribers(db(), show), key=lambda s: (-counts.get(s.id, 0), s.id))
    rows = [{"id": s.id, "email": s.email, "name": s.name, "downloads": counts.get(s.id, 0)} for s in listed]
    return {
        "show": show.slug,
        "since": within.since.isoformat(),
        "until": within.until.isoformat(),
        "subscribers": rows,
    }


def _csv_bytes() -> bytes:
    """The CSV, sent as the body itself (text/csv) or as a multipart file."""
    if request.mimetype == "text/csv":
        return request.get_data()
    if request.mimetype == "multipart/form-data":
        file = form_body(SubscriberCsvSchema)["file"]
        data: bytes = file.read()
        return data
    raise UnsupportedMedia("Send the CSV as a text/csv body, or as the multipart file `file`.")


def feed_url_for(show: Show, token: str) -> str:
    """The subscriber's own feed: the show's feed with their token."""
    return Links(services().settings).subscriber_feed(show, token)


def subscriber_json(subscriber: Subscriber, feed_url: str | None = None) -> dict[str, Any]:
    """A subscriber as the API and the dashboard show them; `feed_url` only where the token was just made."""
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "feed_url": feed_url,
        "created_at": subscriber.created_at.isoformat(),
        "revoked": subscriber.revoked_at is not None,
        "suspected_shared": subscriber.shared_networks > 0,
        "shared_networks": subscriber.shared_networks,
    }
