"""A show's time zone (docs/dashboard.md, docs/api.md): the dashboard reads and shows publication times on
the show's clock, stores them in UTC, and settles times a change of the clocks skips or repeats (fold=0)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser import dashboard_app, sign_in
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from helpers import auth, create_show

from podcast_host import shows
from podcast_host.errors import Invalid
from podcast_host.models import Episode, Show
from podcast_host.services import Services
from podcast_host.sync import sync_directory
from podcast_host.web.dashboard_forms import newsroom_instant
from podcast_host.web.i18n import in_show_zone

CAIRO = "Africa/Cairo"  # UTC+2 in November
PARIS = "Europe/Paris"  # clocks forward 2027-03-28 02:00 -> 03:00, back 2027-10-31 03:00 -> 02:00


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def newsroom(client: FlaskClient, admin_token: str, episode: dict[str, Any]) -> dict[str, Any]:
    """The processed episode of `daily`, a show in Cairo, and the admin signed in to the dashboard."""
    response = client.patch("/api/v1/shows/daily", json={"time_zone": CAIRO}, headers=auth(admin_token))
    assert response.status_code == 200, response.get_json()
    return {"id": episode["id"], "csrf": sign_in(client, "admin@example.com")}


def _schedule(client: FlaskClient, newsroom: dict[str, Any], local: str) -> str:
    """Schedule through the episode page's form; the page it lands on, flash message included."""
    form = {"publish_at_local": local, "csrf_token": newsroom["csrf"]}
    response = client.post(f"/admin/episodes/{newsroom['id']}/schedule", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    return _text(client.get(response.headers["Location"]).get_data(as_text=True))


def _text(page: str) -> str:
    """Babel writes "9:00\u202fAM" (a narrow no-break space) in English; these tests write a space."""
    return page.replace("\u202f", " ")


def _stored(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        session.expunge(episode)
        return episode


def _set_zone(client: FlaskClient, token: str, zone: str) -> None:
    response = client.patch("/api/v1/shows/daily", json={"time_zone": zone}, headers=auth(token))
    assert response.status_code == 200, response.get_json()


# --- scheduling in the dashboard ------------------------------------------------------------------------


def test_a_time_typed_in_cairo_is_stored_in_utc_and_shown_back_in_cairo(
    client: FlaskClient, services: Services, newsroom: dict[str, Any]
) -> None:
    page = _schedule(client, newsroom, "2026-11-02T09:00")
    assert _stored(services, newsroom["id"]).publish_at == datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    assert "The episode is scheduled for Nov 2, 2026, 9:00 AM (Africa/Cairo)." in page
    assert 'name="publish_at_local" type="datetime-local" value="2026-11-02T09:00"' in page
    assert "Publish at (time in Africa/Cairo)" in page
    # Published on the show's clock; the script must not move it to the browser's zone.
    assert '<time datetime="2026-11-02T07:00:00+00:00">Nov 2, 2026, 9:00 AM (Africa/Cairo)</time>' in page
    listing = _text(client.get("/admin/shows/daily/").get_data(as_text=True))
    assert "Nov 2, 2026, 9:00 AM (Africa/Cairo)" in listing
    assert "UTC</time>" not in listing + page


def test_a_scheduled_episode_goes_public_at_the_utc_instant_of_the_time_typed(
    client: FlaskClient, services: Services, newsroom: dict[str, Any]
) -> None:
    page = _schedule(client, newsroom, "2999-01-01T00:30")
    due = datetime(2998, 12, 31, 22, 30, tzinfo=UTC)
    episode = _stored(services, newsroom["id"])
    assert episode.publish_at == due
    assert not episode.is_public_at(due - timedelta(seconds=1))
    assert episode.is_public_at(due)
    assert episode.status_at(due - timedelta(seconds=1)) == "scheduled"
    shown = '<time datetime="2998-12-31T22:30:00+00:00">Jan 1, 2999, 12:30 AM (Africa/Cairo)</time>'
    assert f"Scheduled for {shown}; it appears in the feed at that time." in page
    assert client.get("/daily/episode-one/", headers={"Accept": "text/html"}).status_code == 404


def test_an_upload_scheduled_in_the_shows_zone(
    client: FlaskClient, services: Services, newsroom: dict[str, Any], sample_mp3: Path
) -> None:
    with sample_mp3.open("rb") as audio:
        form = {"title": "Two", "when": "schedule", "publish_at_local": "2999-06-01T12:00"}
        response = client.post(
            "/admin/shows/daily/episodes",
            data={**form, "audio": (audio, "two.mp3"), "csrf_token": newsroom["csrf"]},
            headers={"Accept": "application/json"},
            content_type="multipart/form-data",
        )
    assert response.status_code == 202, response.get_json()
    # Cairo keeps summer time (UTC+3) in June.
    assert _stored(services, response.get_json()["id"]).publish_at == datetime(2999, 6, 1, 9, 0, tzinfo=UTC)


def test_a_script_may_still_send_the_exact_instant(
    client: FlaskClient, services: Services, newsroom: dict[str, Any]
) -> None:
    form = {"publish_at": "2999-01-01T08:00:00Z", "publish_at_local": "2999-05-05T05:05"}
    response = client.post(
        f"/admin/episodes/{newsroom['id']}/schedule", data={**form, "csrf_token": newsroom["csrf"]}
    )
    assert response.status_code == 303
    assert _stored(services, newsroom["id"]).publish_at == datetime(2999, 1, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("typed", ["someday", "0001-01-01T00:30", ""])
def test_a_time_that_cannot_be_read_is_refused_next_to_the_field(
    client: FlaskClient, newsroom: dict[str, Any], typed: str
) -> None:
    form = {"publish_at_local": typed, "csrf_token": newsroom["csrf"]}
    response = client.post(f"/admin/episodes/{newsroom['id']}/schedule", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'<p class="error" id="error-publish_at"\s*>([^<]+)</p>', page), "no error next to it"


# --- the change of the clocks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2027-01-15T09:00", datetime(2027, 1, 15, 8, 0, tzinfo=UTC)),  # winter, UTC+1
        ("2027-07-15T09:00", datetime(2027, 7, 15, 7, 0, tzinfo=UTC)),  # summer, UTC+2
        ("2027-03-28T01:59", datetime(2027, 3, 28, 0, 59, tzinfo=UTC)),  # just before the gap
        ("2027-03-28T02:30", datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),  # skipped: read at +01:00 -> 03:30
        ("2027-03-28T03:00", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),  # just after the gap
        ("2027-10-31T02:30", datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),  # twice: the first, at +02:00
        ("2027-10-31T03:00", datetime(2027, 10, 31, 2, 0, tzinfo=UTC)),  # after the overlap, +01:00
    ],
)
def test_paris_times_across_the_changes_of_the_clocks(typed: str, utc: datetime) -> None:
    assert newsroom_instant(datetime.fromisoformat(typed), Show(time_zone=PARIS)) == utc


def test_the_instant_a_skipped_time_becomes_is_shown_as_the_clocks_read_it(
    client: FlaskClient, services: Services, admin_token: str, newsroom: dict[str, Any]
) -> None:
    _set_zone(client, admin_token, PARIS)
    page = _schedule(client, newsroom, "2027-03-28T02:30")
    assert "The episode is scheduled for Mar 28, 2027, 3:30 AM (Europe/Paris)." in page
    assert 'value="2027-03-28T03:30"' in page
    page = _schedule(client, newsroom, "2027-10-31T02:30")
    assert _stored(services, newsroom["id"]).publish_at == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert "The episode is scheduled for Oct 31, 2027, 2:30 AM (Europe/Paris)." in page


def test_the_same_instant_reads_in_each_zone_and_language(app: Flask) -> None:
    moment = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    with app.test_request_context():
        assert _text(in_show_zone(moment, Show(time_zone="UTC"))) == "Nov 2, 2026, 7:00 AM (UTC)"
        kolkata = _text(in_show_zone(moment, Show(time_zone="Asia/Kolkata")))
        assert kolkata == "Nov 2, 2026, 12:30 PM (Asia/Kolkata)"
        with force_locale("fr"):
            assert in_show_zone(moment, Show(time_zone=CAIRO)) == "2 nov. 2026, 09:00 (Africa/Cairo)"


# --- the show's setting ---------------------------------------------------------------------------------


def test_the_api_accepts_iana_zones_and_refuses_others(client: FlaskClient, admin_token: str) -> None:
    assert create_show(client, admin_token)["time_zone"] == "UTC"
    assert create_show(client, admin_token, slug="cairo", time_zone=CAIRO)["time_zone"] == CAIRO
    _set_zone(client, admin_token, "America/Argentina/Buenos_Aires")
    shown = client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json()
    assert shown["time_zone"] == "America/Argentina/Buenos_Aires"
    for refused in ("Mars/Olympus_Mons", "africa/cairo", "localtime", "+02:00", "", "Europe/" + "x" * 60):
        response = client.patch("/api/v1/shows/daily", json={"time_zone": refused}, headers=auth(admin_token))
        assert response.status_code == 422, refused
        assert response.get_json()["error"]["field"] == "time_zone", refused
    shown = client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json()
    assert shown["time_zone"] == "America/Argentina/Buenos_Aires"


def test_the_domain_knows_the_zones_of_the_tz_database() -> None:
    assert shows.clean_show_fields({"time_zone": " Europe/Paris "}, require_title=False) == {
        "time_zone": PARIS
    }
    assert {"UTC", CAIRO, PARIS, "Asia/Kolkata"} <= shows.time_zones()
    with pytest.raises(Invalid) as refused:
        shows.clean_show_fields({"time_zone": "Europe/Atlantis"}, require_title=False)
    assert refused.value.field == "time_zone"


def test_the_settings_form_picks_the_zone(
    client: FlaskClient, services: Services, newsroom: dict[str, Any]
) -> None:
    page = client.get("/admin/shows/daily/settings").get_data(as_text=True)
    picker = page.split('<select id="f-time_zone" name="time_zone"', 1)[1].split("</select>", 1)[0]
    zones = re.findall(r'<option value="([^"]+)"', picker)
    assert zones[0] == "UTC" and zones[1:] == sorted(zones[1:])
    assert {CAIRO, PARIS, "Pacific/Auckland"} <= set(zones) and "US/Eastern" not in zones
    assert '<option value="Africa/Cairo" selected>' in picker
    form = {"title": "The Daily Test", "language": "en", "csrf_token": newsroom["csrf"]}
    response = client.post("/admin/shows/daily/settings", data={**form, "time_zone": PARIS})
    assert response.status_code == 303
    refused = client.post("/admin/shows/daily/settings", data={**form, "time_zone": "Paris"})
    assert refused.status_code == 422
    assert 'id="error-time_zone" >The time zone must be an IANA name' in refused.get_data(as_text=True)
    with services.db.session() as session:
        assert shows.find_show(session, "daily").time_zone == PARIS


def test_show_toml_sets_the_time_zone(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "shows" / "daily"
    folder.mkdir(parents=True)
    (folder / "show.toml").write_text(f'title = "Daily"\ntime_zone = "{CAIRO}"\n', "utf-8")
    sync_directory(services, tmp_path / "shows")
    with services.db.session() as session:
        assert shows.find_show(session, "daily").time_zone == CAIRO
    (folder / "show.toml").write_text('title = "Daily"\ntime_zone = "Cairo"\n', "utf-8")
    with pytest.raises(Invalid, match="time zone"):
        sync_directory(services, tmp_path / "shows")
