"""The dashboard's downloads page (docs/dashboard.md, "Downloads"): figures, charts, CSV, ranges and roles."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from analytics_helpers import IPHONE, OVERCAST, published_audio
from browser import add_user, grant, sign_in
from flask.testing import FlaskClient
from helpers import create_show

from podcast_host.analytics import charts
from podcast_host.services import Services

LONG_SIZE, LONG_DURATION = 4_800_000, 600.0
PAGE = "/admin/shows/daily/analytics"
# An app name read from a User-Agent: ua-parser names a CFNetwork client by whatever precedes its version.
HOSTILE_APP = "<script>alert('app')</script>"
HOSTILE_UA = f"{HOSTILE_APP}/1.0 CFNetwork/1410.0.3 Darwin/22.6.0"


@pytest.fixture
def show(client: FlaskClient, admin_token: str) -> str:
    create_show(client, admin_token)
    return "daily"


@pytest.fixture
def admin(client: FlaskClient, show: str) -> FlaskClient:
    """The client, signed in as the admin; its downloads count like anyone's (the audio is public)."""
    sign_in(client, "admin@example.com", "correct horse battery")
    return client


def listen(client: FlaskClient, key: str, listener: int, ua: str = IPHONE) -> None:
    """One whole download of the audio by listener 203.0.113.`listener`."""
    response = client.get(
        f"/media/{key}", headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": f"203.0.113.{listener}"}
    )
    response.close()
    assert response.status_code == 200


def open_page(client: FlaskClient, query: str = "") -> tuple[str, Any]:
    response = client.get(PAGE + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    return html, lxml.html.fromstring(html)


def bar_titles(doc: Any, label: str) -> list[str]:
    """The <title> of every bar of the chart whose aria-label starts with `label`."""
    charts_found = doc.xpath(f'//svg[@role="img"][starts-with(@aria-label, "{label}")]')
    assert len(charts_found) == 1, f"one chart labelled {label!r}"
    return [title.text_content() for title in charts_found[0].xpath('.//rect[@class="bar"]/title')]


def table_rows(doc: Any) -> list[list[str]]:
    return [
        [" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")]
        for row in doc.xpath('//table[contains(@class, "episodes")]/tbody/tr')
    ]


def test_the_page_shows_the_total_a_bar_per_day_the_episodes_and_the_apps(
    services: Services, show: str, admin: FlaskClient
) -> None:
    new_id, new_key = published_audio(services, show, "Fresh", LONG_SIZE, LONG_DURATION, age_days=2)
    _, old_key = published_audio(services, show, "Vintage", LONG_SIZE, LONG_DURATION, age_days=40)
    listen(admin, new_key, 1)
    listen(admin, new_key, 2, ua=OVERCAST)
    listen(admin, new_key, 2, ua=OVERCAST)  # the same listener the same day: one download
    listen(admin, old_key, 3)
    assert services.recorder.flush()
    today = datetime.now(UTC).date()

    _, doc = open_page(admin)
    assert doc.xpath('string(//strong[@class="total"])') == "3"
    assert doc.xpath("//time/@datetime")[:2] == [(today - timedelta(days=29)).isoformat(), today.isoformat()]
    titles = bar_titles(doc, "Downloads per day")
    assert len(titles) == 30
    assert titles[-1] == f"{today.isoformat()}: 3 downloads"
    assert titles[-2] == f"{(today - timedelta(days=1)).isoformat()}: 0 downloads"
    assert titles[0] == f"{(today - timedelta(days=29)).isoformat()}: 0 downloads"
    # Fresh was published 2 days ago: today is within its first week; Vintage's first 30 days are over.
    assert table_rows(doc) == [
        [f"Fresh published {(today - timedelta(days=2)).isoformat()}", "2", "2", "2"],
        [f"Vintage published {(today - timedelta(days=40)).isoformat()}", "1", "0", "0"],
    ]
    assert doc.xpath('//table//a[text()="Fresh"]/@href') == [f"/admin/episodes/{new_id}/"]
    assert bar_titles(doc, "Most downloaded episodes") == ["Fresh: 2 downloads", "Vintage: 1 download"]
    # OPAWG names Apple's media framework, which Apple Podcasts and other iOS players share.
    assert sorted(bar_titles(doc, "Apps")) == ["AppleCoreMedia: 2 downloads", "Overcast: 1 download"]
    assert bar_titles(doc, "Operating systems") == ["iOS: 3 downloads"]
    csv_link = doc.xpath('//a[contains(@href, "analytics.csv")]/@href')
    assert csv_link == ["/admin/shows/daily/analytics.csv?range=30"]


def test_titles_and_app_names_are_escaped_in_the_charts(
    services: Services, show: str, admin: FlaskClient
) -> None:
    title = '<script>alert("title")</script> & "more"'
    _, key = published_audio(services, show, title, LONG_SIZE, LONG_DURATION)
    listen(admin, key, 1, ua=HOSTILE_UA)
    assert services.recorder.flush()

    html, doc = open_page(admin)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;app&#39;)&lt;/script&gt;" in html
    assert bar_titles(doc, "Apps") == [f"{HOSTILE_APP}: 1 download"]
    # The label drawn beside the bar is cut short, the bar's <title> keeps the whole name.
    assert bar_titles(doc, "Most downloaded episodes") == [f"{title}: 1 download"]
    assert table_rows(doc)[0][0].startswith(title)


def test_ninety_days_have_ninety_bars_and_any_other_range_is_thirty(
    services: Services, show: str, admin: FlaskClient
) -> None:
    _, key = published_audio(services, show, "Fresh", LONG_SIZE, LONG_DURATION)
    listen(admin, key, 1)
    assert services.recorder.flush()
    _, doc = open_page(admin, "?range=90")
    assert len(bar_titles(doc, "Downloads per day")) == 90
    assert doc.xpath('//a[@aria-current="page"]/text()') == ["Last 90 days"]
    _, doc = open_page(admin, "?range=7")
    assert len(bar_titles(doc, "Downloads per day")) == 30
    assert doc.xpath('//a[@aria-current="page"]/text()') == ["Last 30 days"]


def test_all_time_without_any_download_says_so(admin: FlaskClient) -> None:
    html, doc = open_page(admin, "?range=all")
    today = datetime.now(UTC).date().isoformat()
    assert doc.xpath('string(//strong[@class="total"])') == "0"
    assert doc.xpath("//time/@datetime") == [today, today]
    assert "No downloads were counted in this period yet" in html
    assert "No published episodes yet." in html
    assert doc.xpath("//svg") == []


def test_all_time_over_half_a_year_draws_a_bar_per_week(
    services: Services, show: str, admin: FlaskClient
) -> None:
    _, key = published_audio(services, show, "Evergreen", LONG_SIZE, LONG_DURATION, age_days=400)
    now = datetime.now(UTC)
    services.recorder.clock = lambda: now - timedelta(days=250)
    listen(admin, key, 1)
    assert services.recorder.flush()
    services.recorder.clock = lambda: now
    listen(admin, key, 1)
    assert services.recorder.flush()

    html, doc = open_page(admin, "?range=all")
    first = (now - timedelta(days=250)).date()
    titles = bar_titles(doc, "Downloads per week")
    assert titles[0] == f"Week of {first.isoformat()}: 1 download"
    assert titles[-1].endswith(": 1 download")
    assert all(t.endswith(": 0 downloads") for t in titles[1:-1])
    today = now.date()
    mondays = (today - timedelta(days=today.weekday())) - (first - timedelta(days=first.weekday()))
    assert len(titles) == mondays.days // 7 + 1
    assert "One bar per week" in html
    assert doc.xpath('string(//strong[@class="total"])') == "2"


def test_the_csv_has_the_figures_of_the_chosen_range(
    services: Services, show: str, admin: FlaskClient
) -> None:
    episode_id, key = published_audio(services, show, "=SUM(1)", LONG_SIZE, LONG_DURATION)
    listen(admin, key, 1, ua=OVERCAST)
    listen(admin, key, 2)
    assert services.recorder.flush()
    today = datetime.now(UTC).date()
    since = (today - timedelta(days=89)).isoformat()

    answer = admin.get("/admin/shows/daily/analytics.csv?range=90")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="downloads-{since}-{today}.csv"'
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0] == ["dimension", "key", "name", "downloads"]
    assert rows[1] == ["total", f"{since}..{today}", "daily", "2"]
    assert len([row for row in rows if row[0] == "day"]) == 90
    assert ["day", today.isoformat(), "", "2"] in rows
    assert ["episode", str(episode_id), "'=SUM(1)", "2"] in rows
    assert ["app", "", "Overcast", "1"] in rows


def test_viewers_may_read_the_page_a_stranger_is_refused_as_on_the_show_page(
    services: Services, show: str, client: FlaskClient
) -> None:
    add_user(services, "viewer@example.com")
    add_user(services, "stranger@example.com")
    grant(services, show, "viewer@example.com", "viewer")
    viewer = client.application.test_client()
    sign_in(viewer, "viewer@example.com")
    assert viewer.get(PAGE).status_code == 200
    assert viewer.get(PAGE + ".csv").status_code == 200
    assert 'href="/admin/shows/daily/analytics"' in viewer.get("/admin/shows/daily/").get_data(as_text=True)

    stranger = client.application.test_client()
    sign_in(stranger, "stranger@example.com")
    refused = stranger.get("/admin/shows/daily/").status_code
    assert refused == 403
    assert stranger.get(PAGE).status_code == refused
    assert stranger.get(PAGE + ".csv").status_code == refused


def test_signed_out_visitors_are_sent_to_sign_in(show: str, client: FlaskClient) -> None:
    for path in (PAGE + "?range=90", PAGE + ".csv"):
        answer = client.get(path)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/login?next=")
        assert "analytics" in answer.headers["Location"]


# --- the charts alone -----------------------------------------------------------------------------------


def test_the_ten_largest_are_kept_and_the_rest_summed_as_other() -> None:
    items = [(f"app {n}", n) for n in range(1, 13)]
    ranked = charts.top(items)
    assert ranked[:2] == [("app 12", 12), ("app 11", 11)]
    assert ranked[-1] == ("Other", 1 + 2)
    assert len(ranked) == 11
    assert charts.top(items[:10]) == sorted(items[:10], key=lambda item: -item[1])


def test_long_periods_are_drawn_per_week_then_per_month() -> None:
    start = date(2024, 1, 3)  # a Wednesday
    days = [(start + timedelta(days=n), 1) for n in range(800)]
    assert charts.over_time(days[:180])[0] == "day"
    unit, weeks = charts.over_time(days[:181])
    assert unit == "week"
    assert weeks[:2] == [("Week of 2024-01-03", 5), ("Week of 2024-01-08", 7)]
    assert sum(n for _, n in weeks) == 181
    unit, months = charts.over_time(days)
    assert unit == "month"
    assert months[:2] == [("2024-01", 29), ("2024-02", 29)]
    assert sum(n for _, n in months) == 800


def test_a_right_to_left_label_starts_at_the_left_edge_like_the_others() -> None:
    svg = str(charts.horizontal_bars([("حلقة الأسبوع", 3), ("Weekly", 1)], title="Episodes"))
    # Its end is its left side: anchored there at x=0, it reads from the same edge as the bars.
    assert svg.count('x="0" y="15" direction="rtl" text-anchor="end"') == 1
    assert svg.count(">Weekly</text>") == 1
    assert 'role="img" aria-label="Episodes"' in svg
