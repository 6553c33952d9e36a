"""The Podcasting 2.0 values under attack: hostile text in every value must leave the feed valid for the three
parsers and the pages inert; web addresses, OpenStreetMap ids and recurrence rules are what they claim to be
on every way in; a dashboard form cannot make the server work or answer without bound; refusals change
nothing; the roles and a private show's subscribers keep what is theirs; export and sync carry hostile text
unchanged. Checks that already held are kept here too, so that they keep holding."""

from __future__ import annotations

import html
import io
import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import podcastparser
import pytest
from analytics_helpers import published_audio
from browser import add_user, dashboard_app, grant, signed_in, user_with_token
from conftest import make_services
from flask import Flask
from flask.testing import FlaskClient
from helpers import auth, create_show
from test_feed import NOW, make_episode, make_links, make_show, parse_xml, partytime

from podcast_host import namespace_fields, shows
from podcast_host.errors import Invalid
from podcast_host.export import export_show
from podcast_host.feeds import budget, namespace_values
from podcast_host.feeds.build import build_feed
from podcast_host.models import Episode, Show
from podcast_host.services import Services
from podcast_host.sync import TOML_LIMIT, sync_directory
from podcast_host.web import namespace_schemas

NS = {"podcast": "https://podcastindex.org/namespace/1.0"}
SETTINGS = "/admin/shows/daily/settings"
GUID = "917393e3-1b1e-5cef-ace4-edaa54e1f810"

# Text that breaks naive XML and HTML: a bell (XML 1.0 cannot carry it), a lone surrogate, a CDATA end, an
# entity written out, markup, both quotes, a right-to-left override and an isolate left open, an emoji.
EVIL = 'Ann \x07]]>&amp;<b>"x"</b>\'\u202eevil\u2066 \ud800\U0001f399'
# What is kept of it: the characters XML cannot carry go, everything else stays as typed.
EVIL_KEPT = 'Ann ]]>&amp;<b>"x"</b>\'\u202eevil\u2066 \U0001f399'
# A web address with the characters XML escapes in an attribute.
EVIL_URL = "https://pod.example/who?a=1&b=%22'"


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


def member(app: Flask, services: Services, email: str, role: str) -> FlaskClient:
    add_user(services, email)
    grant(services, "daily", email, role)
    return signed_in(app, email)


def stored_show(services: Services) -> Show:
    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        session.expunge(show)
        return show


def stored_episode(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        session.expunge(episode)
        return episode


def patch(client: FlaskClient, token: str, path: str, body: dict[str, Any]) -> Any:
    # json.dumps writes a lone surrogate as \ud800, which a JSON body may carry.
    return client.patch(path, data=json.dumps(body), content_type="application/json", headers=auth(token))


def hostile_values() -> tuple[dict[str, Any], dict[str, Any]]:
    """A show's and an episode's values with EVIL in every text and EVIL_URL in every address."""
    person = {"name": EVIL, "role": "guest", "img": EVIL_URL, "href": EVIL_URL}
    place = {"name": EVIL, "rel": "creator", "lat": 30.0444, "lon": 31.2357, "osm": "R5466227"}
    show = {
        "persons": [person],
        "locations": [place],
        "license": {"identifier": EVIL, "url": EVIL_URL},
        "txt": [{"purpose": EVIL, "value": f"{EVIL}\n{EVIL}"}],
        "podroll": [{"feed_guid": GUID, "feed_url": EVIL_URL, "title": EVIL, "medium": "podcast"}],
        "update_frequency": {"text": EVIL, "rrule": "FREQ=WEEKLY;BYDAY=MO"},
    }
    episode = {
        "persons": [person],
        "locations": [place],
        "soundbites": [{"start": 10, "duration": 20, "title": EVIL}],
        "license": {"identifier": EVIL, "url": EVIL_URL},
    }
    return show, episode


def a_hostile_show(client: FlaskClient, token: str, services: Services) -> int:
    """The public show `daily` with one published two-minute episode `un`, both with hostile values set
    through the API; the episode's id."""
    create_show(client, token)
    episode_id, _ = published_audio(services, "daily", "Un", 1000, 120.0)
    show_values, episode_values = hostile_values()
    assert patch(client, token, "/api/v1/shows/daily", show_values).status_code == 200
    assert patch(client, token, f"/api/v1/episodes/{episode_id}", episode_values).status_code == 200
    return episode_id


# --- the feed -----------------------------------------------------------------------------------------------


def test_hostile_text_in_every_value_leaves_a_feed_the_three_parsers_read(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_hostile_show(client, admin_token, services)
    response = client.get("/daily/feed.xml")
    assert response.status_code == 200
    feed = response.data
    channel = parse_xml(feed).find("channel")
    assert channel is not None
    assert channel.findtext("podcast:person", namespaces=NS) == EVIL_KEPT
    assert channel.find("podcast:person", NS).get("href") == EVIL_URL
    assert channel.findtext("podcast:txt", namespaces=NS) == f"{EVIL_KEPT}\n{EVIL_KEPT}"
    assert channel.find("podcast:podroll/podcast:remoteItem", NS).get("title") == EVIL_KEPT
    item = channel.find("item")
    assert item is not None and item.findtext("podcast:soundbite", namespaces=NS) == EVIL_KEPT

    parsed = feedparser.parse(feed)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.entries) == 1
    assert len(podcastparser.parse("https://pod.example/daily/feed.xml", io.BytesIO(feed))["episodes"]) == 1
    read = partytime(feed)
    # partytime decodes entities once more than XML does: the "&amp;" typed reads back as "&".
    typed = html.unescape(EVIL_KEPT)
    assert [person["name"] for person in read["podcastPeople"]] == [typed]
    assert read["podcastLocation"]["name"] == typed
    assert read["items"][0]["podcastSoundbites"][0]["title"] == typed


def test_a_stored_value_xml_cannot_carry_leaves_an_entry_not_the_feed_down() -> None:
    """A value written past the checks (plain SQL, an old row) with a character XML 1.0 forbids, in an
    attribute as much as in a text, is written without it: the feed stays up for every listener."""
    show = make_show(
        persons=[
            {"name": "Ann", "role": "host\x0b", "group": "cast", "img": "https://a.example/\x00p.jpg"},
        ],
        podroll=[{"feed_guid": f"{GUID}\ufffe", "feed_url": "https://b.example/\ufffffeed"}],
        update_frequency={"text": "Weekly", "rrule": "FREQ=WEEKLY\x1b", "dtstart": None},
        locations=[{"name": "Here", "osm": "R1\x01", "country": "F\x02R"}],
    )
    episode = make_episode(1, license={"identifier": "Mine", "url": "https://c.example/\x08licence"})
    root = parse_xml(build_feed(show, [episode], make_links(), NOW))
    person = root.find("channel/podcast:person", NS)
    assert (person.get("role"), person.get("img")) == ("host", "https://a.example/p.jpg")
    remote = root.find("channel/podcast:podroll/podcast:remoteItem", NS)
    assert (remote.get("feedGuid"), remote.get("feedUrl")) == (GUID, "https://b.example/feed")
    assert root.find("channel/podcast:updateFrequency", NS).get("rrule") == "FREQ=WEEKLY"
    assert root.find("channel/podcast:location", NS).get("country") == "FR"
    assert root.find("channel/item/podcast:license", NS).get("url") == "https://c.example/licence"


def test_every_value_at_its_limit_on_a_thousand_episodes_stays_within_the_feed_s_budget() -> None:
    """The most escaping text (each & is five bytes in XML) in every value at its longest, as many entries as
    allowed, on a thousand episodes: the feed keeps to MAX_FEED_BYTES and stays well-formed."""
    text = '&<>"' * (namespace_fields.MAX_NAME // 4)
    url = ("https://pod.example/?" + "&a=b" * namespace_fields.MAX_URL)[: namespace_fields.MAX_URL]
    person = {"name": text, "role": "guest", "group": "cast", "img": url, "href": url}
    place = {"name": text, "rel": "creator", "lat": -89.1234567, "lon": -179.1234567, "osm": "R1#2"}
    licence = {"identifier": text, "url": url}
    show = make_show(
        persons=[person] * namespace_fields.MAX_PERSONS,
        locations=[place] * namespace_fields.MAX_LOCATIONS,
        license=licence,
        txt=[{"purpose": text, "value": "&" * namespace_fields.MAX_TXT}] * namespace_fields.MAX_TXT_RECORDS,
        podroll=[{"feed_guid": GUID, "feed_url": url, "title": text, "medium": "music"}]
        * namespace_fields.MAX_PODROLL,
        update_frequency={"text": text, "rrule": "FREQ=WEEKLY", "dtstart": None, "complete": True},
    )
    bites = [
        {"start": n * 300.0, "duration": 300.0, "title": text} for n in range(namespace_fields.MAX_SOUNDBITES)
    ]
    episodes = [
        make_episode(
            n,
            title=text,
            persons=[person] * namespace_fields.MAX_PERSONS,
            locations=[place] * namespace_fields.MAX_LOCATIONS,
            soundbites=bites,
            license=licence,
            episode_type="trailer" if n % 2 else "full",
            image_key=f"shows/1/episodes/{n}/cover.jpg",
            duration_s=7000.0,
            publish_at=NOW - timedelta(hours=n),
        )
        for n in range(1, 1001)
    ]
    feed = build_feed(show, episodes, make_links(), NOW)
    assert len(feed) <= budget.MAX_FEED_BYTES
    items = parse_xml(feed).findall("channel/item")
    # Each of these items takes most of a megabyte: the newest that fit are carried, not all thousand.
    assert 0 < len(items) < 100
    assert items[0].findtext("guid") == episodes[0].guid


def test_a_scheduled_episode_does_not_show_in_the_derived_update_frequency() -> None:
    """Three public Mondays are too few to state a schedule; a fourth episode, scheduled and not yet public,
    must not make the public feed state one (nor make it vanish), or the feed tells of an episode it does not
    list."""
    monday = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    public = [make_episode(n, publish_at=monday + timedelta(weeks=n)) for n in range(3)]
    now = monday + timedelta(weeks=2, days=1)
    alone = parse_xml(build_feed(make_show(), public, make_links(), now))
    assert alone.find("channel/podcast:updateFrequency", NS) is None
    scheduled = make_episode(9, publish_at=monday + timedelta(weeks=3))
    with_scheduled = build_feed(make_show(), [*public, scheduled], make_links(), now)
    assert parse_xml(with_scheduled).find("channel/podcast:updateFrequency", NS) is None


# --- what each value may be, on every way in ----------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "https://pod.example/\u202egpj.exe",  # RFC 3987 4.1: no bidirectional formatting characters
        "https://pod.example/\u2066who",
        "https://pod.example/\u200bwho",
        'https://"><svg onload=alert(1)>/',  # no host name at all
        "https://pod.example/\"onmouseover='alert(1)'",
        "https://pod.example/<script>",
        "https://good.example\\@evil.example/",  # browsers read the backslash as a slash
        "https://pod.example:99999/",
        "https://pod.example:port/",
        "https://pod_example.com/",
    ],
)
def test_a_web_address_that_is_not_one_is_refused(address: str) -> None:
    with pytest.raises(Invalid, match="web address"):
        namespace_fields.clean_persons([{"name": "Ann", "href": address}])
    with pytest.raises(Invalid, match="web address"):
        namespace_fields.clean_podroll([{"feed_guid": GUID, "feed_url": address}])


@pytest.mark.parametrize(
    "address",
    [
        "https://pod.example/a?b=1&c='2'#top",
        "http://127.0.0.1:8080/feed.xml",
        "https://[2001:db8::1]/feed.xml",
        "https://xn--bcher-kva.example/",
        "https://bücher.example/ناس",
        "https://fa.example/\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # with a joiner
        "https://user@pod.example/",
        "https://pod.example./x",
    ],
)
def test_a_web_address_is_still_taken_as_written(address: str) -> None:
    (person,) = namespace_fields.clean_persons([{"name": "Ann", "href": address}])
    assert person["href"] == address


def test_an_openstreetmap_id_is_ascii_digits() -> None:
    """Arabic-Indic digits (typed in the Arabic dashboard) are not an OpenStreetMap id: refused, as the API
    refuses them, rather than published as osm="R١٢٣" and linked to /relation/١٢٣."""
    for osm in ("R١٢٣", "N１２", "W¹²"):
        with pytest.raises(Invalid, match="osm must be N, W or R"):
            namespace_fields.clean_locations([{"name": "Cairo", "osm": osm}])
        assert namespace_values.osm_url(osm) == ""
    (place,) = namespace_fields.clean_locations([{"name": "Cairo", "osm": "r5466227#12"}])
    assert place["osm"] == "R5466227#12"
    assert namespace_values.osm_url(place["osm"]) == "https://www.openstreetmap.org/relation/5466227"


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY\nEXDATE:20250101T000000Z",  # a second iCalendar line, which dateutil reads as a set
        "FREQ=DAILY\nDTSTART:20250101T000000Z",
        "FREQ=WEEKLY;BYDAY=MO\tX",
        'FREQ=WEEKLY;BYDAY=MO"',
    ],
)
def test_an_rrule_is_one_line_of_rule_text(rule: str) -> None:
    with pytest.raises(Invalid, match="not an iCalendar recurrence rule"):
        namespace_fields.clean_update_frequency({"text": "Often", "rrule": rule})


def test_an_rrule_keeps_every_part_rfc_5545_allows() -> None:
    rule = "RRULE:freq=monthly;byday=+1MO,-1FR;until=20300101T000000Z;wkst=SU"
    cleaned = namespace_fields.clean_update_frequency({"text": "Monthly", "rrule": rule})
    assert (
        cleaned is not None
        and cleaned["rrule"] == "FREQ=MONTHLY;BYDAY=+1MO,-1FR;UNTIL=20300101T000000Z;WKST=SU"
    )


def test_a_list_longer_than_its_limit_is_refused_before_its_entries_are_read(
    client: FlaskClient, admin_token: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 MiB body of 255,000 empty people took nine seconds of a worker to refuse, for a limit of fifty."""
    create_show(client, admin_token)
    read: list[object] = []
    load = namespace_schemas.PersonFieldsSchema.load

    def counted(self: Any, data: Any, **kwargs: Any) -> Any:
        read.append(data)
        return load(self, data, **kwargs)

    monkeypatch.setattr(namespace_schemas.PersonFieldsSchema, "load", counted)
    body = {"persons": [{}] * 255_000}
    response = patch(client, admin_token, "/api/v1/shows/daily", body)
    assert response.status_code == 422
    assert len(read) <= namespace_fields.MAX_PERSONS


def test_deeply_nested_json_in_a_value_is_a_bad_request(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    body = '{"persons": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.patch(
        "/api/v1/shows/daily", data=body, content_type="application/json", headers=auth(admin_token)
    )
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"}


def test_a_toml_array_of_thousands_of_tables_is_refused_in_one_line(
    services: Services, tmp_path: Path
) -> None:
    entry = '[[persons]]\nname = "A"\n'
    count = (TOML_LIMIT - 100) // len(entry)
    folder = tmp_path / "folder" / "values"
    folder.mkdir(parents=True)
    (folder / "show.toml").write_text('title = "Values"\n' + entry * count, encoding="utf-8")
    with pytest.raises(Invalid, match=f"At most {namespace_fields.MAX_PERSONS} persons") as refused:
        sync_directory(services, tmp_path / "folder")
    assert "\n" not in str(refused.value)
    with services.db.session() as session:
        assert session.query(Show).count() == 0


# --- refusals change nothing --------------------------------------------------------------------------------


def test_one_bad_value_among_many_good_ones_in_a_patch_changes_nothing(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    create_show(client, admin_token)
    before = client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json()
    show_values, _ = hostile_values()
    body = {
        "title": "Not saved",
        **show_values,
        "low_data_mono_kbps": 16,
        "block": {"everywhere": True, "platforms": ["apple", "myspace"]},
    }
    response = patch(client, admin_token, "/api/v1/shows/daily", body)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "block"
    assert client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json() == before


def test_one_bad_value_in_an_episode_form_changes_nothing(
    app: Flask, client: FlaskClient, admin_token: str, services: Services
) -> None:
    create_show(client, admin_token)
    episode_id, _ = published_audio(services, "daily", "Un", 1000, 120.0)
    editor = member(app, services, "editor@example.com", "editor")
    form = {
        "title": "Not saved",
        "podcasting": "1",
        "persons-0-name": "Rana",
        "persons-0-role": "cast/guest",
        "soundbites-0-start": "0:10",
        "soundbites-0-duration": "20",
        "license_identifier": "CC-BY-4.0",
        "locations-0-name": "North",
        "locations-0-lat": "95",
        "locations-0-lon": "0",
        "csrf_token": editor.csrf,
    }
    response = editor.post(f"/admin/episodes/{episode_id}/", data=form)
    assert response.status_code == 422
    episode = stored_episode(services, episode_id)
    assert episode.title == "Un"
    assert (episode.persons, episode.locations, episode.soundbites, episode.license) == (None,) * 4


def test_one_bad_value_in_show_toml_changes_nothing_in_a_synced_show(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "folder" / "values"
    folder.mkdir(parents=True)
    first = 'title = "Values"\n\n[[persons]]\nname = "Ann"\n'
    (folder / "show.toml").write_text(first, encoding="utf-8")
    assert sync_directory(services, tmp_path / "folder").created == ["values"]
    changed = (
        'title = "Changed"\n\n[license]\nidentifier = "CC-BY-4.0"\n\n[[persons]]\nname = "Bo"\n\n'
        '[update_frequency]\ntext = "Daily"\nrrule = "FREQ=DAILY\\nEXDATE:20250101T000000Z"\n'
    )
    (folder / "show.toml").write_text(changed, encoding="utf-8")
    with pytest.raises(Invalid, match="not an iCalendar recurrence rule"):
        sync_directory(services, tmp_path / "folder")
    with services.db.session() as session:
        show = shows.find_show(session, "values")
        assert (show.title, show.license, show.update_frequency) == ("Values", None, None)
        assert [person["name"] for person in show.persons] == ["Ann"]


# --- the dashboard's forms ----------------------------------------------------------------------------------


def settings_form(client: FlaskClient, **fields: str) -> dict[str, str]:
    body = {"title": "The Daily Test", "language": "en", "time_zone": "UTC", "podcasting": "1"}
    return {**body, **fields, "csrf_token": client.csrf}


def test_a_form_with_more_rows_than_the_limit_is_refused_and_shown_back_within_it(
    app: Flask, client: FlaskClient, admin_token: str, services: Services
) -> None:
    """Three thousand people posted (60 KB) made a refusal page of 18 MB, and a megabyte of rows took seconds
    to read: a post with more rows than the page offers is refused as too many entries, its rows past the
    limit are not read, and the refusal shows no more rows than the field may have."""
    create_show(client, admin_token)
    owner = member(app, services, "owner@example.com", "owner")
    rows = {f"persons-{n}-name": f"P{n}" for n in range(3000)}
    rows |= {f"podroll-{n}-feed_guid": GUID for n in range(3000)}
    response = owner.post(SETTINGS, data=settings_form(owner, **rows))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f"At most {namespace_fields.MAX_PERSONS} persons" in html
    shown = set(re.findall(r'name="persons-(\d+)-name"', html))
    assert len(shown) == namespace_fields.MAX_PERSONS
    assert len(set(re.findall(r'name="podroll-(\d+)-feed_guid"', html))) == namespace_fields.MAX_PODROLL
    assert len(response.data) < 2_000_000
    assert stored_show(services).persons is None


def test_a_row_number_too_long_to_read_is_no_row(
    app: Flask, client: FlaskClient, admin_token: str, services: Services
) -> None:
    """Python reads no integer of more than 4,300 digits: such a row number was a 500."""
    create_show(client, admin_token)
    owner = member(app, services, "owner@example.com", "owner")
    fields = {"persons-" + "9" * 5000 + "-name": "Ghost", "persons-0-name": "Rana"}
    response = owner.post(SETTINGS, data=settings_form(owner, **fields))
    assert response.status_code == 303
    assert [person["name"] for person in stored_show(services).persons] == ["Rana"]


def test_the_section_is_not_saved_without_the_form_s_csrf_token_nor_through_the_api(
    app: Flask, client: FlaskClient, admin_token: str, services: Services
) -> None:
    create_show(client, admin_token)
    owner = member(app, services, "owner@example.com", "owner")
    fields = settings_form(owner, **{"txt-0-value": "mine now", "block_everywhere": "on"})
    for token in ("", "forged"):
        response = owner.post(SETTINGS, data={**fields, "csrf_token": token})
        assert response.status_code == 400
    # The API takes no session cookie, so a page elsewhere cannot use one to write through it either.
    response = owner.patch("/api/v1/shows/daily", json={"txt": [{"value": "mine now"}]})
    assert response.status_code == 401
    show = stored_show(services)
    assert (show.txt, show.block) == (None, None)


def test_hostile_values_are_shown_escaped_in_the_dashboard(
    app: Flask, client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_hostile_show(client, admin_token, services)
    owner = member(app, services, "owner@example.com", "owner")
    html = owner.get(SETTINGS).get_data(as_text=True)
    assert "<b>" not in html
    assert 'value="Ann ]]&gt;&amp;amp;&lt;b&gt;&#34;x&#34;&lt;/b&gt;&#39;' in html


# --- who may change what ------------------------------------------------------------------------------------


def test_a_viewer_cannot_change_the_txt_records_or_the_block(
    app: Flask, client: FlaskClient, admin_token: str, services: Services
) -> None:
    create_show(client, admin_token)
    token = user_with_token(services, "viewer@example.com")
    grant(services, "daily", "viewer@example.com", "viewer")
    for body in ({"txt": [{"purpose": "verify", "value": "mine"}]}, {"block": {"everywhere": True}}):
        assert patch(client, token, "/api/v1/shows/daily", body).status_code == 403
    viewer = signed_in(app, "viewer@example.com")
    response = viewer.post(SETTINGS, data=settings_form(viewer, **{"txt-0-value": "mine"}))
    assert response.status_code == 403
    show = stored_show(services)
    assert (show.txt, show.block) == (None, None)


def test_only_an_owner_changes_the_txt_records_and_the_block(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    """A txt record of purpose "verify" is how platforms check who owns a feed, as podcast:locked's owner is,
    and a block takes the show out of Apple Podcasts and every directory, as making it private does: they
    belong with the owner-only fields, not with an editor's."""
    create_show(client, admin_token)
    token = user_with_token(services, "editor@example.com")
    grant(services, "daily", "editor@example.com", "editor")
    for body in ({"txt": [{"purpose": "verify", "value": "mine"}]}, {"block": {"everywhere": True}}):
        assert patch(client, token, "/api/v1/shows/daily", body).status_code == 403
    show = stored_show(services)
    assert (show.txt, show.block) == (None, None)


# --- the listeners' pages -----------------------------------------------------------------------------------


def test_hostile_values_on_the_public_pages_are_escaped_and_kept_apart(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    episode_id = a_hostile_show(client, admin_token, services)
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        # A role stored past the checks is shown as stored: as text.
        episode.persons = [
            {"name": "</script><script>alert(1)</script>", "role": "<img src=x onerror=alert(2)>"}
        ]
        session.commit()
    for path in ("/daily/un/", "/daily/"):
        page = client.get(path).get_data(as_text=True)
        assert "<b>" not in page and "<script>alert" not in page and "<img src=x" not in page
        # Every name sits in an isolate, so that an override it leaves open cannot reorder the role after it.
        names = re.findall(r'<bdi class="(?:person|place)" lang="en" dir="auto">', page)
        assert len(names) == 2, path
        assert "\u202eevil" in page
    page = client.get("/daily/un/").get_data(as_text=True)
    (json_ld,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert json.loads(json_ld)["@type"] == "PodcastEpisode"
    clip = re.search(r'<button type="button" class="soundbite" data-start="([^"]*)" data-end="([^"]*)"', page)
    assert clip and (clip.group(1), clip.group(2)) == ("10.0", "30.0")


def test_a_private_show_s_values_reach_its_subscribers_alone(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    from test_private_feeds import private_show, subscribe

    private_show(services, client, admin_token, "daily")
    show_values, _ = hostile_values()
    show_values["txt"] = [{"purpose": "verify", "value": "members-only-record"}]
    assert patch(client, admin_token, "/api/v1/shows/daily", show_values).status_code == 200
    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        show.image_key = show.episodes[0].image_key
        show.episodes[0].episode_type = "trailer"
        session.commit()
    stranger = client.get("/daily/feed.xml")
    assert stranger.status_code == 404 and b"members-only-record" not in stranger.data
    assert client.get("/daily/").status_code == 404
    token = subscribe(services, "daily", "ann@example.com")
    channel = parse_xml(client.get(f"/daily/feed.xml?token={token}").data).find("channel")
    assert channel.findtext("podcast:txt", namespaces=NS) == "members-only-record"
    urls = [channel.find("podcast:trailer", NS).get("url")]
    urls += [image.get("href") for image in channel.iterfind(".//podcast:image", NS)]
    assert len(urls) == 3 and all(url.endswith(f"?token={token}") for url in urls), urls


# --- export and sync ----------------------------------------------------------------------------------------


def test_hostile_values_survive_export_and_sync_unchanged(
    client: FlaskClient,
    admin_token: str,
    episode: dict[str, Any],
    services: Services,
    tmp_path: Path,
) -> None:
    show_values, episode_values = hostile_values()
    # Text that looks like TOML, and every quote and escape TOML has.
    tricky = 'x"""\n[[persons]]\nname = "y"\n\'\'\'\\n\\u0041 # not a comment'
    show_values["txt"].append({"purpose": "toml", "value": tricky})
    episode_values["soundbites"] = [{"start": 0.5, "duration": 1, "title": EVIL}]
    assert patch(client, admin_token, "/api/v1/shows/daily", show_values).status_code == 200
    assert patch(client, admin_token, f"/api/v1/episodes/{episode['id']}", episode_values).status_code == 200

    export_show(services, "daily", tmp_path / "out")
    text = (tmp_path / "out" / "daily" / "show.toml").read_text(encoding="utf-8")
    assert tomllib.loads(text)["txt"][1]["value"] == tricky
    second = make_services(tmp_path / "second")
    try:
        assert sorted(sync_directory(second, tmp_path / "out").created) == [
            "daily",
            f"daily/{episode['slug']}",
        ]
        with services.db.session() as session, second.db.session() as other:
            mine, theirs = shows.find_show(session, "daily"), shows.find_show(other, "daily")
            for name in shows.NAMESPACE_CLEANERS:
                assert getattr(theirs, name) == getattr(mine, name), name
            assert theirs.persons[0]["name"] == EVIL_KEPT
            for name in ("persons", "locations", "soundbites", "license"):
                assert getattr(theirs.episodes[0], name) == getattr(mine.episodes[0], name), name
        assert sync_directory(second, tmp_path / "out").updated == []
    finally:
        second.close()
