"""What a show's team sees of its downloads: totals by day, episode, app, device and country, read from the
daily tallies only (docs/analytics.md, "Reports")."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from podcast_host.analytics.rules import SUBSCRIBER_TALLY
from podcast_host.errors import Invalid
from podcast_host.models import DownloadTally, Episode, Show

DEFAULT_DAYS = 30
# The longest period one report covers (about 10 years of days in its "days" list).
MAX_DAYS = 3660
# Apps listed by name in a report; the others are summed as OTHER.
TOP_APPS = 50
OTHER = "Other"
# Days after publication of the per-episode figures the dashboard shows.
EARLY_WINDOWS = (7, 30)


@dataclass(frozen=True)
class Period:
    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


def period(since: str | None, until: str | None, today: date) -> Period:
    """The period asked for: both days inclusive, by default the last DEFAULT_DAYS days up to today."""
    end = _day(until, "until") if until else today
    start = _day(since, "since") if since else end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise Invalid("'since' must not be after 'until'.", field="since")
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(f"A report covers at most {MAX_DAYS} days.", field="since")
    return Period(start, end)


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name!r} must be a date as YYYY-MM-DD, not {text[:40]!r}.", field=name) from None


def show_report(session: Session, show: Show, within: Period) -> dict[str, Any]:
    """The §12 report of one show: totals, per episode, per day (every day of the period), apps, countries,
    devices and operating systems (the last two for the dashboard; the API leaves them out)."""
    totals = _by_kind(session, show.id, within)
    per_episode = dict(totals.get("episode", []))
    titles: dict[int, str] = {
        episode_id: title
        for episode_id, title in session.execute(
            select(Episode.id, Episode.title).where(Episode.show_id == show.id)
        )
    }
    episodes = [
        {"id": int(name), "title": titles.get(int(name), "(deleted episode)"), "downloads": downloads}
        for name, downloads in sorted(per_episode.items(), key=lambda item: (-item[1], int(item[0])))
    ]
    daily = _daily(session, show.id, within)
    return {
        "show": show.slug,
        "since": within.since.isoformat(),
        "until": within.until.isoformat(),
        "downloads": sum(per_episode.values()),
        "episodes": episodes,
        "days": [
            {"date": (day := within.since + timedelta(days=n)).isoformat(), "downloads": daily.get(day, 0)}
            for n in range(within.days)
        ],
        "apps": [{"name": name, "downloads": n} for name, n in _top(totals.get("app", []))],
        "countries": [{"code": name, "downloads": n} for name, n in totals.get("country", [])],
        "devices": [{"name": name, "downloads": n} for name, n in totals.get("device", [])],
        "os": [{"name": name, "downloads": n} for name, n in totals.get("os", [])],
    }


def api_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as the API answers it (docs/api.md, "Analytics")."""
    keys = ("show", "since", "until", "downloads", "episodes", "days", "apps", "countries")
    return {key: report[key] for key in keys}


def early_downloads(session: Session, show: Show, limit: int = 50) -> list[dict[str, Any]]:
    """The newest published episodes with their downloads in their first 7 and 30 days (day 1: the day of
    publication), read in one query."""
    published = session.execute(
        select(Episode.id, Episode.title, Episode.publish_at)
        .where(Episode.show_id == show.id, Episode.publish_at.is_not(None), Episode.audio_key.is_not(None))
        .order_by(Episode.publish_at.desc())
        .limit(limit)
    ).all()
    if not published:
        return []
    first_days = {str(id_): publish_at.date() for id_, _, publish_at in published if publish_at is not None}
    longest = timedelta(days=max(EARLY_WINDOWS))
    tallies = session.execute(
        select(DownloadTally.name, DownloadTally.day, DownloadTally.downloads).where(
            DownloadTally.show_id == show.id,
            DownloadTally.kind == "episode",
            DownloadTally.name.in_(first_days),
            DownloadTally.day.between(min(first_days.values()), max(first_days.values()) + longest),
        )
    )
    sums = {(name, window): 0 for name in first_days for window in EARLY_WINDOWS}
    for name, day, downloads in tallies:
        age = (day - first_days[name]).days
        for window in EARLY_WINDOWS:
            if 0 <= age < window:
                sums[(name, window)] += downloads
    return [
        {
            "id": id_,
            "title": title,
            "published": first_days[str(id_)].isoformat(),
            **{f"first_{window}_days": sums[(str(id_), window)] for window in EARLY_WINDOWS},
        }
        for id_, title, _ in published
    ]


def first_day(session: Session, show: Show) -> date | None:
    """The first day any download of the show was counted ("all" in the dashboard starts there)."""
    return session.scalar(select(func.min(DownloadTally.day)).where(DownloadTally.show_id == show.id))


def report_csv(report: dict[str, Any]) -> str:
    """The API report as one CSV table: dimension, key, name, downloads (one row per figure)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["dimension", "key", "name", "downloads"])
    writer.writerow(["total", f"{report['since']}..{report['until']}", report["show"], report["downloads"]])
    for day in report["days"]:
        writer.writerow(["day", day["date"], "", day["downloads"]])
    for episode in report["episodes"]:
        writer.writerow(["episode", episode["id"], _cell(episode["title"]), episode["downloads"]])
    for app in report["apps"]:
        writer.writerow(["app", "", _cell(app["name"]), app["downloads"]])
    for country in report["countries"]:
        writer.writerow(["country", _cell(country["code"]), "", country["downloads"]])
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (OWASP, CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _top(ranked: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The TOP_APPS most downloaded, the rest summed as "Other": an app's name comes from its User-Agent,
    which anyone may make up, so the list must not grow with every name sent."""
    if len(ranked) <= TOP_APPS:
        return ranked
    rest = sum(n for _, n in ranked[TOP_APPS:])
    return [*ranked[:TOP_APPS], (OTHER, rest)]


def _by_kind(session: Session, show_id: int, within: Period) -> dict[str, list[tuple[str, int]]]:
    rows = session.execute(
        select(DownloadTally.kind, DownloadTally.name, func.sum(DownloadTally.downloads).label("n"))
        .where(
            DownloadTally.show_id == show_id,
            DownloadTally.day.between(within.since, within.until),
            DownloadTally.kind != SUBSCRIBER_TALLY,
        )
        .group_by(DownloadTally.kind, DownloadTally.name)
        .order_by(DownloadTally.kind, func.sum(DownloadTally.downloads).desc(), DownloadTally.name)
    )
    found: dict[str, list[tuple[str, int]]] = {}
    for kind, name, downloads in rows:
        found.setdefault(kind, []).append((name, int(downloads)))
    return found


def subscriber_downloads(session: Session, show: Show, within: Period) -> dict[int, int]:
    """A private show's downloads per subscriber id over the period, for its owners alone."""
    rows = session.execute(
        select(DownloadTally.name, func.sum(DownloadTally.downloads))
        .where(
            DownloadTally.show_id == show.id,
            DownloadTally.kind == SUBSCRIBER_TALLY,
            DownloadTally.day.between(within.since, within.until),
        )
        .group_by(DownloadTally.name)
    )
    return {int(name): int(downloads) for name, downloads in rows}


def _daily(session: Session, show_id: int, within: Period) -> dict[date, int]:
    rows = session.execute(
        select(DownloadTally.day, func.sum(DownloadTally.downloads))
        .where(
            DownloadTally.show_id == show_id,
            DownloadTally.kind == "episode",
            DownloadTally.day.between(within.since, within.until),
        )
        .group_by(DownloadTally.day)
    )
    return {day: int(downloads) for day, downloads in rows}
