"""The dashboard's Podcasting 2.0 section (docs/dashboard.md, "Podcasting 2.0"): every field of a show's
settings and an episode's page saved in the namespace's shapes, rows removed, bad values refused beside their
field with the form kept, the pages in Arabic and French, and viewers kept out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser import (
    PASSWORD,
    Screenshots,
    add_user,
    chromium,
    dashboard_app,
    free_port,
    grant,
    live_server,
    signed_in,
)
from conftest import make_services
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext, pgettext
from helpers import create_show
from werkzeug.test import TestResponse

from podcast_host import accounts, episodes, shows
from podcast_host.models import Episode, Show
from podcast_host.services import Services
from podcast_host.web.person_roles import role_name

SETTINGS = "/admin/shows/daily/settings"
GUID = "917393e3-1b1e-5cef-ace4-edaa54e1f810"


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def producer(app: Flask, client: FlaskClient, services: Services, admin_token: str) -> FlaskClient:
    """A signed-in owner of the show `daily` (made through the API, as the `episode` fixture makes it)."""
    create_show(client, admin_token, time_zone="Europe/Paris")
    return _member(app, services, "owner@example.com", "owner")


@pytest.fixture
def episode_editor(app: Flask, services: Services, episode: dict[str, Any]) -> FlaskClient:
    """A signed-in editor of `daily`, whose one episode (4 seconds) is processed."""
    return _member(app, services, "editor@example.com", "editor")


def _member(app: Flask, services: Services, email: str, role: str) -> FlaskClient:
    add_user(services, email)
    grant(services, "daily", email, role)
    return signed_in(app, email)


def _save_settings(client: FlaskClient, **fields: str | list[str]) -> TestResponse:
    """The settings form as the page posts it: the show's details and the Podcasting 2.0 section."""
    body = {"title": "The Daily Test", "language": "en", "time_zone": "Europe/Paris", "podcasting": "1"}
    return client.post(SETTINGS, data={**body, **fields, "csrf_token": client.csrf})


def _show(services: Services) -> Show:
    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        session.expunge(show)
        return show


def _episode(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        found = episodes.get_episode(session, episode_id)
        session.expunge(found)
        return found


def _page(client: FlaskClient, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _error_next_to(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="error-{field}"\s*>([^<]*)</p>', html)
    assert match, f"no visible error next to {field}"
    return match.group(1)


def _translated(app: Flask, locale: str, text: str) -> str:
    with app.test_request_context(), force_locale(locale):
        return str(gettext(text))


def _translated_in_context(app: Flask, locale: str, context: str, text: str) -> str:
    with app.test_request_context(), force_locale(locale):
        translated = str(pgettext(context, text))
    assert translated != text, f"{text!r} has no {locale} translation"
    return translated


def _role_name_in(app: Flask, locale: str, role: str) -> str:
    with app.test_request_context(), force_locale(locale):
        return role_name(role)


# --- the show's settings --------------------------------------------------------------------------------


def test_every_show_field_is_saved_in_the_namespace_shapes(producer: FlaskClient, services: Services) -> None:
    response = _save_settings(
        producer,
        **{
            "persons-0-name": "Rana Haddad",
            "persons-0-role": "cast/host",
            "persons-0-img": "https://example.com/rana.jpg",
            "persons-0-href": "https://example.com/rana",
            "persons-1-name": "Marc Dupont",
            "persons-1-role": "video post-production/editor",
            "persons-1-img": "",
            "persons-1-href": "",
            "persons-2-name": "",
            "persons-2-role": "cast/host",
            "locations-0-name": "Beirut",
            "locations-0-rel": "creator",
            "locations-0-lat": "33.8938",
            "locations-0-lon": "35.5018",
            "locations-0-osm": "r2188616",
            "locations-0-country": "lb",
            "license_identifier": "CC-BY-4.0",
            "license_url": "",
            "txt-0-purpose": "verify",
            "txt-0-value": "S6lpp-7ZCn8-dZfGc-OoyaG",
            "podroll-0-feed_guid": GUID.upper(),
            "podroll-0-feed_url": "https://example.org/feed.xml",
            "podroll-0-title": "A friend's show",
            "podroll-0-medium": "podcast",
            "update_frequency_text": "Every Monday",
            "update_frequency_rrule": "FREQ=WEEKLY;BYDAY=MO",
            "update_frequency_dtstart": "2026-01-05T09:00",
            "block_platforms": ["google", "amazon"],
            "low_data_stereo_kbps": "48",
            "low_data_mono_kbps": "",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    show = _show(services)
    assert show.persons == [
        {
            "name": "Rana Haddad",
            "role": "host",
            "group": "cast",
            "img": "https://example.com/rana.jpg",
            "href": "https://example.com/rana",
        },
        {"name": "Marc Dupont", "role": "editor", "group": "video post-production", "img": "", "href": ""},
    ]
    assert show.locations == [
        {
            "name": "Beirut",
            "rel": "creator",
            "lat": 33.8938,
            "lon": 35.5018,
            "osm": "R2188616",
            "country": "LB",
        }
    ]
    assert show.license == {"identifier": "CC-BY-4.0", "url": ""}
    assert show.txt == [{"purpose": "verify", "value": "S6lpp-7ZCn8-dZfGc-OoyaG"}]
    assert show.podroll == [
        {
            "feed_guid": GUID,
            "feed_url": "https://example.org/feed.xml",
            "title": "A friend's show",
            "medium": "podcast",
        }
    ]
    # 09:00 on the show's clock (Paris, UTC+1 in January) is kept as 08:00 UTC.
    assert show.update_frequency == {
        "text": "Every Monday",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "dtstart": "2026-01-05T08:00:00.000Z",
        "complete": False,
    }
    assert show.block == {"everywhere": False, "platforms": ["amazon", "google"]}
    assert (show.low_data_stereo_kbps, show.low_data_mono_kbps) == (48, None)

    # The page shows each value again, the time back on the show's clock.
    html = _page(producer, SETTINGS)
    for shown in (
        'value="Rana Haddad"',
        '<option value="video post-production/editor" selected>',
        'value="33.8938"',
        'value="R2188616"',
        'value="CC-BY-4.0"',
        'value="S6lpp-7ZCn8-dZfGc-OoyaG"',
        f'value="{GUID}"',
        'value="2026-01-05T09:00:00"',
        'value="google" checked',
        '<option value="48" selected>',
    ):
        assert shown in html, shown


def test_a_row_marked_for_removal_and_emptied_fields_are_removed(
    producer: FlaskClient, services: Services
) -> None:
    filled = {
        "persons-0-name": "First",
        "persons-0-role": "cast/host",
        "persons-1-name": "Second",
        "persons-1-role": "cast/guest",
        "license_identifier": "ARR",
        "update_frequency_text": "Daily",
        "update_frequency_complete": "true",
        "block_everywhere": "true",
        "low_data_mono_kbps": "16",
    }
    assert _save_settings(producer, **filled).status_code == 303
    assert [person["name"] for person in _show(services).persons or []] == ["First", "Second"]
    assert 'name="persons-0-remove"' in _page(producer, SETTINGS)

    emptied = {
        "persons-0-name": "First",
        "persons-0-role": "cast/host",
        "persons-0-remove": "true",
        "persons-1-name": "Second",
        "persons-1-role": "cast/guest",
        "license_identifier": "",
        "license_url": "",
        "update_frequency_text": "",
        "low_data_mono_kbps": "",
    }
    assert _save_settings(producer, **emptied).status_code == 303
    show = _show(services)
    assert [person["name"] for person in show.persons or []] == ["Second"]
    assert show.license is None
    assert show.update_frequency is None  # the feed derives one from the publication dates
    assert show.block is None
    assert show.low_data_mono_kbps is None

    assert (
        _save_settings(producer, **{"persons-0-name": "", "persons-0-role": "cast/host"}).status_code == 303
    )
    assert not _show(services).persons


def test_a_post_without_the_section_leaves_its_fields_alone(
    producer: FlaskClient, services: Services
) -> None:
    assert (
        _save_settings(producer, **{"persons-0-name": "Kept", "license_identifier": "ARR"}).status_code == 303
    )
    body = {"title": "Renamed", "language": "en", "csrf_token": producer.csrf}
    assert producer.post(SETTINGS, data=body).status_code == 303
    show = _show(services)
    assert show.title == "Renamed"
    assert [person["name"] for person in show.persons or []] == ["Kept"]
    assert show.license == {"identifier": "ARR", "url": ""}


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        (
            {"locations-0-name": "Nowhere", "locations-0-lat": "91", "locations-0-lon": "10"},
            "locations",
            "between -90 and 90",
        ),
        ({"locations-0-name": "Half", "locations-0-lat": "10"}, "locations", "both lat and lon"),
        ({"license_identifier": "My licence", "license_url": "not a url"}, "license", "http(s) web address"),
        ({"license_identifier": "My licence"}, "license", "give its url"),
        ({"persons-0-name": "Ann", "persons-0-href": "ftp://example.com"}, "persons", "entry 1"),
        ({"podroll-0-feed_guid": "not-a-guid"}, "podroll", "must be a podcast GUID"),
        ({"update_frequency_rrule": "FREQ=WEEKLY"}, "update_frequency", "text cannot be empty"),
        ({"txt-0-purpose": "only a purpose"}, "txt", "value cannot be empty"),
    ],
)
def test_a_bad_value_is_refused_next_to_its_field_with_the_form_kept(
    producer: FlaskClient, services: Services, fields: dict[str, str], field: str, says: str
) -> None:
    response = _save_settings(producer, title="Not saved either", **fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert says in _error_next_to(html, field)
    assert '<details class="podcasting" id="podcasting" open>' in html  # the refusal is not folded away
    assert 'value="Not saved either"' in html
    for name, typed in fields.items():
        assert f'name="{name}" type' in html and f'value="{typed}"' in html, name
    show = _show(services)
    assert show.title == "The Daily Test"
    assert (show.persons, show.locations, show.license, show.podroll, show.txt) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_the_role_select_offers_every_role_of_the_taxonomy_by_group(
    app: Flask, producer: FlaskClient
) -> None:
    from podcast_host.namespace_fields import taxonomy

    html = _page(producer, SETTINGS)
    for group, roles in taxonomy().items():
        assert f'<optgroup label="{group.title()}">' in html
        for role in roles:
            assert f'<option value="{group}/{role}"' in html
    # A blank row starts on the namespace's default role.
    assert '<option value="cast/host" selected>Host</option>' in html
    # In the dashboard's language, the groups and roles are named in it; the values stay the namespace's.
    arabic = _page(producer, SETTINGS, **{"Accept-Language": "ar"})
    assert f'<optgroup label="{_translated_in_context(app, "ar", "podcast role group", "Cast")}">' in arabic
    assert f'<option value="cast/host" selected>{_role_name_in(app, "ar", "host")}</option>' in arabic


# --- an episode -----------------------------------------------------------------------------------------


def test_an_episodes_people_places_soundbites_and_licence_are_saved(
    episode_editor: FlaskClient, services: Services, episode: dict[str, Any]
) -> None:
    path = f"/admin/episodes/{episode['id']}/"
    html = _page(episode_editor, path)
    assert "replace the show" in html
    body = {
        "title": "Episode one",
        "podcasting": "1",
        "persons-0-name": "Guest Star",
        "persons-0-role": "cast/guest",
        "locations-0-name": "Cairo",
        "locations-0-rel": "subject",
        "soundbites-0-start": "0:01.5",
        "soundbites-0-duration": "2",
        "soundbites-0-title": "The best bit",
        "soundbites-1-start": "0",
        "soundbites-1-duration": "1",
        "soundbites-1-title": "",
        "license_identifier": "cc-by-nc-4.0",
        "csrf_token": episode_editor.csrf,
    }
    assert episode_editor.post(path, data=body).status_code == 303
    saved = _episode(services, episode["id"])
    assert saved.persons == [{"name": "Guest Star", "role": "guest", "group": "cast", "img": "", "href": ""}]
    assert saved.locations == [
        {"name": "Cairo", "rel": "subject", "lat": None, "lon": None, "osm": "", "country": ""}
    ]
    assert saved.soundbites == [
        {"start": 0.0, "duration": 1.0, "title": ""},
        {"start": 1.5, "duration": 2.0, "title": "The best bit"},
    ]
    assert saved.license == {"identifier": "CC-BY-NC-4.0", "url": ""}
    html = _page(episode_editor, path)
    assert 'value="0:01.5"' in html and 'value="The best bit"' in html

    # Removing the soundbites and the licence clears them.
    cleared = {
        **{key: value for key, value in body.items() if not key.startswith("soundbites-")},
        "license_identifier": "",
    }
    assert episode_editor.post(path, data=cleared).status_code == 303
    saved = _episode(services, episode["id"])
    assert not saved.soundbites
    assert saved.license is None
    assert saved.persons and saved.persons[0]["name"] == "Guest Star"


def test_a_soundbite_past_the_end_of_the_episode_is_refused(
    episode_editor: FlaskClient, services: Services, episode: dict[str, Any]
) -> None:
    path = f"/admin/episodes/{episode['id']}/"
    body = {
        "title": "Episode one",
        "podcasting": "1",
        "soundbites-0-start": "0:03",
        "soundbites-0-duration": "5",
        "soundbites-0-title": "Too long",
        "csrf_token": episode_editor.csrf,
    }
    response = episode_editor.post(path, data=body)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "past the end of the episode" in _error_next_to(html, "soundbites")
    assert 'value="0:03"' in html and 'value="Too long"' in html
    assert not _episode(services, episode["id"]).soundbites


# --- languages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "direction"), [("ar", "rtl"), ("fr", "ltr")])
def test_the_section_speaks_the_dashboards_language(
    app: Flask, producer: FlaskClient, locale: str, direction: str
) -> None:
    html = _page(producer, SETTINGS, **{"Accept-Language": locale})
    assert f'<html lang="{locale}" dir="{direction}">' in html
    for label in ("Credits", "Places", "Release schedule", "Block everywhere", "Low-data version"):
        translated = _translated(app, locale, label)
        assert translated != label, f"{label!r} has no {locale} translation"
        assert translated in html, label
    response = producer.post(
        SETTINGS,
        data={
            "title": "The Daily Test",
            "language": "en",
            "podcasting": "1",
            "locations-0-name": "Nowhere",
            "locations-0-lat": "91",
            "locations-0-lon": "0",
            "csrf_token": producer.csrf,
        },
        headers={"Accept-Language": locale},
    )
    assert response.status_code == 422
    refusal = _error_next_to(response.get_data(as_text=True), "locations")
    expected = {"ar": "يجب أن يكون lat بين", "fr": "lat doit être entre -90 et 90"}
    assert expected[locale] in refusal


# --- roles ----------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_viewer_reads_the_section_but_cannot_save_it(
    app: Flask, services: Services, episode: dict[str, Any]
) -> None:
    owner = _member(app, services, "owner@example.com", "owner")
    assert (
        _save_settings(owner, **{"persons-0-name": "Rana", "persons-0-role": "cast/host"}).status_code == 303
    )
    viewer = _member(app, services, "viewer@example.com", "viewer")
    html = _page(viewer, SETTINGS)
    assert 'value="Rana"' in html
    assert "<fieldset disabled>" in html
    response = _save_settings(viewer, **{"persons-0-name": "Intruder", "persons-0-role": "cast/host"})
    assert response.status_code == 403
    path = f"/admin/episodes/{episode['id']}/"
    body = {
        "title": "Episode one",
        "podcasting": "1",
        "persons-0-name": "Intruder",
        "csrf_token": viewer.csrf,
    }
    assert viewer.post(path, data=body).status_code == 403
    assert [person["name"] for person in _show(services).persons or []] == ["Rana"]
    assert not _episode(services, episode["id"]).persons


# --- in a browser ---------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_a_producer_opens_the_section_and_credits_a_person_in_a_browser(
    tmp_path: Path, screenshots: Screenshots
) -> None:
    port = free_port()
    services = make_services(tmp_path, public_url=f"http://127.0.0.1:{port}")
    add_user(services, "producer@example.com")
    with services.db.session() as session:
        producer = accounts.get_user(session, "producer@example.com")
        shows.create_show(
            session, services.settings.public_url, {"slug": "daily", "title": "Daily"}, producer
        )
        session.commit()
    try:
        with live_server(services, port) as site, chromium() as browser:
            page = browser.new_page(viewport={"width": 375, "height": 740}, base_url=site)
            page.set_default_timeout(30_000)
            page.goto("/login?next=/admin/shows/daily/settings")
            page.get_by_label("Email").fill("producer@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/admin/shows/daily/settings")

            name = page.locator("#f-persons-0-name")
            assert not name.is_visible(), "the section starts folded"
            page.locator("details.podcasting > summary").click()
            name.fill("رنا حداد")
            page.locator("#f-persons-0-role").select_option("cast/guest")
            page.locator("#f-persons-0-href").fill("https://example.com/rana")
            widths = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], f"the open section scrolls sideways: {widths}"
            screenshots.take(page, "settings-podcasting-phone")
            with page.expect_navigation():
                page.get_by_role("button", name="Save the settings").click()
            assert "The show's settings are saved." in page.locator(".flash").inner_text()
            page.locator("details.podcasting > summary").click()
            assert page.locator("#f-persons-0-name").input_value() == "رنا حداد"
        with services.db.session() as session:
            credited = shows.find_show(session, "daily").persons
        assert credited == [
            {
                "name": "رنا حداد",
                "role": "guest",
                "group": "cast",
                "img": "",
                "href": "https://example.com/rana",
            }
        ]
    finally:
        services.close()
