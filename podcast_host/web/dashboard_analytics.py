"""The dashboard's downloads page of a show and its CSV: the last 30 or 90 days, or all time.

Its routes live on the dashboard's blueprint, which signs the visitor in and checks the role as for every
other page of the show (docs/dashboard.md, "Downloads").
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Response, render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from podcast_host.analytics import charts, report
from podcast_host.models import Show, utcnow
from podcast_host.web.api_bodies import csv_download
from podcast_host.web.context import db
from podcast_host.web.dashboard import bp
from podcast_host.web.dashboard_access import show_for

# The periods the page offers, by the value of ?range=; anything else is the first.
RANGES = {"30": _l("Last 30 days"), "90": _l("Last 90 days"), "all": _l("All time")}
BREAKDOWNS = (
    ("apps", "name", _l("Apps")),
    ("devices", "name", _l("Devices")),
    ("os", "name", _l("Operating systems")),
    ("countries", "code", _l("Countries")),
)
CAPTIONS = {
    "day": _l("One bar per day (UTC)."),
    "week": _l("One bar per week, Monday to Sunday (UTC): the period is too long for a bar per day."),
    "month": _l("One bar per month (UTC): the period is too long for a bar per day or week."),
}
# The over-time chart's name, by the width of its bars.
CHART_TITLES = {
    "day": _l("Downloads per day, %(since)s to %(until)s"),
    "week": _l("Downloads per week, %(since)s to %(until)s"),
    "month": _l("Downloads per month, %(since)s to %(until)s"),
}


@bp.get("/shows/<slug>/analytics")
def analytics(slug: str) -> str:
    show = show_for(slug, "read")
    chosen = _chosen_range()
    figures = report.show_report(db(), show, _period(show, chosen))
    daily = [(date.fromisoformat(day["date"]), day["downloads"]) for day in figures["days"]]
    unit, points = charts.over_time(daily)
    since, until = date.fromisoformat(figures["since"]), date.fromisoformat(figures["until"])
    title = str(CHART_TITLES[unit]) % {"since": format_date(since), "until": format_date(until)}
    top_episodes = charts.top((e["title"], e["downloads"]) for e in figures["episodes"])
    return render_template(
        "admin/analytics.html",
        show=show,
        ranges=RANGES,
        chosen=chosen,
        figures=figures,
        since=since,
        until=until,
        over_time=charts.bar_chart(points, title=title),
        caption=CAPTIONS[unit],
        episode_chart=charts.horizontal_bars(top_episodes, title=_("Most downloaded episodes")),
        episodes=_episode_rows(show, figures),
        breakdowns=_breakdowns(figures),
    )


@bp.get("/shows/<slug>/analytics.csv")
def analytics_csv(slug: str) -> Response:
    """The page's figures as the API's CSV (docs/analytics.md, "Reports"), for a signed-in browser."""
    show = show_for(slug, "read")
    return csv_download(report.show_report(db(), show, _period(show, _chosen_range())))


def _breakdowns(figures: dict[str, Any]) -> list[tuple[str, Markup]]:
    """A chart of the largest apps, devices, systems and countries, each under its name; none when empty."""
    drawn = []
    for name, key, label in BREAKDOWNS:
        if items := figures[name]:
            ranked = charts.top((item[key], item["downloads"]) for item in items)
            drawn.append((str(label), charts.horizontal_bars(ranked, title=str(label))))
    return drawn


def _chosen_range() -> str:
    chosen = request.args.get("range", "")
    return chosen if chosen in RANGES else next(iter(RANGES))


def _period(show: Show, chosen: str) -> report.Period:
    """The days of a range up to today (UTC); "all" starts on the show's first counted day."""
    today = utcnow().date()
    if chosen != "all":
        return report.Period(today - timedelta(days=int(chosen) - 1), today)
    first = report.first_day(db(), show) or today
    return report.Period(max(min(first, today), today - timedelta(days=report.MAX_DAYS - 1)), today)


def _episode_rows(show: Show, figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The newest published episodes with their downloads in the period and after publication, then any other
    episode downloaded in the period (older, unpublished since, or deleted)."""
    in_period = {e["id"]: e["downloads"] for e in figures["episodes"]}
    rows = [{**e, "downloads": in_period.pop(e["id"], 0)} for e in report.early_downloads(db(), show)]
    unlisted = {"published": None, "first_7_days": None, "first_30_days": None}
    return rows + [{**e, **unlisted} for e in figures["episodes"] if e["id"] in in_period]
