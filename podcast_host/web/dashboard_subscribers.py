"""A private show's subscribers in the dashboard (docs/dashboard.md, "Subscribers"; docs/private-feeds.md):
the list, adding one or a CSV of them, a new feed URL for one, revocation. Editors and owners only: the
addresses are personal data.

A feed URL carries its token, which is stored nowhere: it is shown on the answer that made it and never again
(not even through the session's flash messages)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from podcast_host import subscribers
from podcast_host.analytics import report
from podcast_host.errors import Conflict, Invalid, PodcastHostError, Refusal
from podcast_host.models import Show, utcnow
from podcast_host.web.api_subscribers import feed_url_for
from podcast_host.web.context import db
from podcast_host.web.dashboard import bp
from podcast_host.web.dashboard_access import can, show_for
from podcast_host.web.dashboard_forms import form_errors
from podcast_host.web.errors import message_of, status_of

Page = tuple[str, int]
PERMISSION = subscribers.PERMISSION


@bp.get("/shows/<slug>/subscribers")
def subscribers_page(slug: str) -> str:
    return _page(show_for(slug, PERMISSION))[0]


@bp.post("/shows/<slug>/subscribers")
def add_subscriber(slug: str) -> Page:
    show = show_for(slug, PERMISSION)
    try:
        added, token = subscribers.add_subscriber(
            db(), show, request.form.get("email", ""), request.form.get("name", "")
        )
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        return _page(show, form_errors(exc, "email"), status_of(exc), values=request.form.to_dict())
    return _page(show, new_feeds=[(added.email, feed_url_for(show, token))])


@bp.post("/shows/<slug>/subscribers/import")
def import_subscribers(slug: str) -> Page:
    show = show_for(slug, PERMISSION)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise Invalid(_("Choose a CSV file."), field="file")
        report = subscribers.import_csv(db(), show, file.read())
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        return _page(show, form_errors(exc, "file"), status_of(exc))
    new_feeds = [(added.email, feed_url_for(show, token)) for added, token in report.added]
    refused = [(line, _shown(message)) for line, message in report.refused]
    return _page(show, new_feeds=new_feeds, refused=refused)


@bp.post("/shows/<slug>/subscribers/<int:subscriber_id>/token")
def reissue_token(slug: str, subscriber_id: int) -> Page:
    show = show_for(slug, PERMISSION)
    subscriber = subscribers.get_subscriber(db(), show, subscriber_id)
    try:
        token = subscribers.reissue(db(), subscriber)
        db().commit()
    except Conflict as exc:
        db().rollback()
        return _page(show, {"subscribers": message_of(exc)}, status_of(exc))
    return _page(show, new_feeds=[(subscriber.email, feed_url_for(show, token))], reissued=True)


@bp.post("/shows/<slug>/subscribers/<int:subscriber_id>/revoke")
def revoke_subscriber(slug: str, subscriber_id: int) -> BaseResponse:
    show = show_for(slug, PERMISSION)
    subscriber = subscribers.get_subscriber(db(), show, subscriber_id)
    email = subscriber.email
    subscribers.revoke(db(), subscriber)
    db().commit()
    flash(_("%(email)s is revoked: their feed stopped working.", email=email))
    return redirect(url_for(".subscribers_page", slug=show.slug), code=303)


def _shown(message: str) -> str:
    """A CSV row's refusal in the interface's language when the domain kept it as a refusal."""
    if isinstance(message, Refusal):
        return message_of(PodcastHostError(message))
    return message


def _page(
    show: Show,
    errors: dict[str, str] | None = None,
    status: int = 200,
    values: dict[str, Any] | None = None,
    new_feeds: list[tuple[str, str]] | None = None,
    refused: list[tuple[int, str]] | None = None,
    reissued: bool = False,
) -> Page:
    downloads = None
    if can(show, "subscriber_downloads"):
        # Owners see each subscriber's downloads of the last 30 days.
        within = report.period(None, None, utcnow().date())
        downloads = report.subscriber_downloads(db(), show, within)
    page = render_template(
        "admin/subscribers.html",
        show=show,
        subscribers=subscribers.list_subscribers(db(), show),
        downloads=downloads,
        errors=errors or {},
        values=values or {},
        new_feeds=new_feeds or [],
        refused=refused or [],
        reissued=reissued,
    )
    return page, status
