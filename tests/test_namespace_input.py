"""Podcasting 2.0 values coming in (docs/api.md, "Podcasting 2.0 values"; README.md, "Podcast as code"): the
API and show.toml/episode.toml take the same fields in the same shapes, show them back, refuse bad ones with
the field named and nothing changed, and every change reaches the feed."""

from __future__ import annotations

import copy
import json
import shutil
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_services
from flask.testing import FlaskClient
from helpers import auth, create_show, upload_episode
from sqlalchemy import update

from podcast_host import shows
from podcast_host.errors import Invalid
from podcast_host.export import export_show
from podcast_host.models import Episode, Show, utcnow
from podcast_host.services import Services
from podcast_host.sync import sync_directory

FEED = "/daily/feed.xml"
GUID = "917393e3-1b1e-5cef-ace4-edaa54e1f810"

# What a producer sends, and what the API answers for it: defaults filled in, names and codes normalised.
SHOW_VALUES: dict[str, Any] = {
    "persons": [
        {"name": "Ann\u0007  Host", "role": "host"},  # a control character XML cannot carry goes
        {"name": "Bo", "role": "editor", "group": "video post-production", "href": "https://bo.example/"},
    ],
    "locations": [{"name": "Cairo", "lat": 30.0444, "lon": 31.2357, "osm": "r5466227", "country": "eg"}],
    "license": {"identifier": "CC-BY-4.0"},
    "txt": [{"purpose": "verify", "value": "S6lpp-7ZCn8-dZfGc-OoyaG"}],
    "podroll": [{"feed_guid": GUID.upper(), "title": "Another show", "medium": "podcast"}],
    "update_frequency": {
        "text": "Weekly",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "dtstart": "2026-01-05T08:00:00+01:00",
    },
    "block": {"everywhere": True, "platforms": ["spotify", "apple"]},
    "low_data_stereo_kbps": 48,
    "low_data_mono_kbps": 16,
}
SHOW_ANSWER: dict[str, Any] = {
    "persons": [
        {"name": "Ann Host", "role": "host", "group": "cast", "img": "", "href": ""},
        {
            "name": "Bo",
            "role": "editor",
            "group": "video post-production",
            "img": "",
            "href": "https://bo.example/",
        },
    ],
    "locations": [
        {
            "name": "Cairo",
            "rel": "subject",
            "lat": 30.0444,
            "lon": 31.2357,
            "osm": "R5466227",
            "country": "EG",
        }
    ],
    "license": {"identifier": "CC-BY-4.0", "url": ""},
    "txt": [{"purpose": "verify", "value": "S6lpp-7ZCn8-dZfGc-OoyaG"}],
    "podroll": [{"feed_guid": GUID, "feed_url": "", "title": "Another show", "medium": "podcast"}],
    "update_frequency": {
        "text": "Weekly",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "dtstart": "2026-01-05T07:00:00.000Z",
        "complete": False,
    },
    "block": {"everywhere": True, "platforms": ["apple", "spotify"]},
    "low_data_stereo_kbps": 48,
    "low_data_mono_kbps": 16,
}
SHOW_UNSET = {
    "persons": [],
    "locations": [],
    "license": None,
    "txt": [],
    "podroll": [],
    "update_frequency": None,
    "block": None,
    "low_data_stereo_kbps": None,
    "low_data_mono_kbps": None,
}
EPISODE_VALUES: dict[str, Any] = {
    "persons": [{"name": "Guest Star", "role": "guest"}],
    "locations": [{"name": "Studio B", "rel": "creator"}],
    "soundbites": [{"start": 2, "duration": 1.5, "title": "The line"}, {"start": 0.5, "duration": 1}],
    "license": {"identifier": "My licence", "url": "https://example.org/licence"},
}
EPISODE_ANSWER: dict[str, Any] = {
    "persons": [{"name": "Guest Star", "role": "guest", "group": "cast", "img": "", "href": ""}],
    "locations": [{"name": "Studio B", "rel": "creator", "lat": None, "lon": None, "osm": "", "country": ""}],
    "soundbites": [
        {"start": 0.5, "duration": 1.0, "title": ""},
        {"start": 2.0, "duration": 1.5, "title": "The line"},
    ],
    "license": {"identifier": "My licence", "url": "https://example.org/licence"},
}
EPISODE_UNSET = {"persons": [], "locations": [], "soundbites": [], "license": None}


def show_json(client: FlaskClient, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.get("/api/v1/shows/daily", headers=auth(token)).get_json()
    return answer


def episode_json(client: FlaskClient, token: str, episode_id: int) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(f"/api/v1/episodes/{episode_id}", headers=auth(token)).get_json()
    return answer


def refusal(response: Any) -> dict[str, Any]:
    """The error of a refused body: 422, the project's error shape, naming a field."""
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == "invalid", body
    assert body["error"]["message"] and body["error"]["field"], body
    error: dict[str, Any] = body["error"]
    return error


# --- the API: shows ----------------------------------------------------------------------------------------


def test_a_show_s_values_are_set_through_the_api_and_read_back(client: FlaskClient, admin_token: str) -> None:
    created = create_show(client, admin_token)
    assert {name: created[name] for name in SHOW_UNSET} == SHOW_UNSET

    patched = client.patch("/api/v1/shows/daily", headers=auth(admin_token), json=SHOW_VALUES)
    assert patched.status_code == 200, patched.get_json()
    assert {name: patched.get_json()[name] for name in SHOW_ANSWER} == SHOW_ANSWER
    assert {name: show_json(client, admin_token)[name] for name in SHOW_ANSWER} == SHOW_ANSWER

    # What a GET answered, sent back, is no change and no refusal.
    again = client.patch(
        "/api/v1/shows/daily",
        headers=auth(admin_token),
        json={name: SHOW_ANSWER[name] for name in SHOW_ANSWER},
    )
    assert again.status_code == 200, again.get_json()
    assert {name: again.get_json()[name] for name in SHOW_ANSWER} == SHOW_ANSWER


def test_a_new_show_takes_the_values_in_its_first_request(client: FlaskClient, admin_token: str) -> None:
    created = create_show(client, admin_token, "values", **SHOW_VALUES)
    assert {name: created[name] for name in SHOW_ANSWER} == SHOW_ANSWER


def test_null_or_empty_clears_a_show_s_values(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token, **SHOW_VALUES)
    cleared = client.patch(
        "/api/v1/shows/daily", headers=auth(admin_token), json=dict.fromkeys(SHOW_VALUES)
    ).get_json()
    assert {name: cleared[name] for name in SHOW_UNSET} == SHOW_UNSET

    client.patch("/api/v1/shows/daily", headers=auth(admin_token), json=SHOW_VALUES)
    emptied = client.patch(
        "/api/v1/shows/daily",
        headers=auth(admin_token),
        json={"persons": [], "txt": [], "block": {"everywhere": False, "platforms": []}},
    ).get_json()
    assert (emptied["persons"], emptied["txt"], emptied["block"]) == ([], [], None)
    assert emptied["locations"] == SHOW_ANSWER["locations"]  # a field left out is left as it was


def test_a_patch_of_one_value_leaves_the_others(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token, **SHOW_VALUES)
    answer = client.patch(
        "/api/v1/shows/daily", headers=auth(admin_token), json={"license": {"identifier": "ARR"}}
    ).get_json()
    assert answer["license"] == {"identifier": "ARR", "url": ""}
    assert {name: answer[name] for name in SHOW_ANSWER if name != "license"} == {
        name: value for name, value in SHOW_ANSWER.items() if name != "license"
    }


SHOW_REFUSALS = [
    # Shapes the API's schema refuses.
    ("persons", [{"name": "Ann", "role": "dragon tamer"}]),
    ("persons", [{"name": "  ", "role": "host"}]),
    ("persons", [{"name": "Ann", "nickname": "A"}]),
    ("persons", [{"name": "Ann", "href": "javascript:alert(1)"}]),
    ("persons", [{"name": "Ann", "img": "http://[::1"}]),
    ("persons", {"name": "Ann"}),
    ("persons", [{"name": f"P{n}"} for n in range(51)]),
    ("locations", [{"name": "Nowhere", "lat": 91, "lon": 0}]),
    ("locations", [{"name": "Nowhere", "lat": "45", "lon": "3"}]),
    ("locations", [{"name": "Cairo", "osm": "Q85"}]),
    ("locations", [{"name": "Cairo", "country": "EGY"}]),
    ("license", {"identifier": "CC-BY-4.0", "url": "not a url"}),
    ("license", {"identifier": "CC-BY-4.0", "url": "ftp://example.org/licence"}),
    ("license", "CC-BY-4.0"),
    ("txt", [{"purpose": "verify"}]),
    ("podroll", [{"feed_guid": "not-a-uuid"}]),
    ("update_frequency", {"text": "Weekly", "rrule": "every monday"}),
    ("update_frequency", {"text": "Weekly", "rrule": "FREQ=FORTNIGHTLY"}),
    ("update_frequency", {"rrule": "FREQ=WEEKLY"}),
    ("update_frequency", {"text": "Weekly", "dtstart": "next monday"}),
    ("update_frequency", {"text": "Weekly", "dtstart": "2026-02-30T08:00:00Z"}),
    ("block", {"everywhere": False, "platforms": ["myspace"]}),
    ("block", {"everywhere": "yes"}),
    ("low_data_stereo_kbps", 128),
    ("low_data_mono_kbps", "24"),
    # Rules between fields, which the domain checks (namespace_fields.py).
    ("persons", [{"name": "Ann", "role": "host", "group": "writing"}]),
    ("persons", [{"name": "Ann", "group": "visuals"}]),
    ("locations", [{"name": "Nowhere", "lat": 45}]),
    ("license", {"identifier": "My own licence"}),
    ("update_frequency", {"text": "Ten episodes", "rrule": "FREQ=WEEKLY;COUNT=10"}),
    ("podroll", [{"feed_guid": GUID}, {"feed_guid": GUID.upper(), "title": "Again"}]),
]


@pytest.mark.parametrize(
    ("field", "value"), SHOW_REFUSALS, ids=[f"{f}-{n}" for n, (f, _) in enumerate(SHOW_REFUSALS)]
)
def test_a_bad_show_value_is_refused_naming_its_field_and_nothing_changes(
    client: FlaskClient, admin_token: str, field: str, value: object
) -> None:
    create_show(client, admin_token, **SHOW_VALUES)
    before = show_json(client, admin_token)
    body = {"title": "Not saved either", field: value}
    error = refusal(client.patch("/api/v1/shows/daily", headers=auth(admin_token), json=body))
    assert error["field"] == field
    assert show_json(client, admin_token) == before

    created = client.post("/api/v1/shows", headers=auth(admin_token), json={"slug": "other", **body})
    assert refusal(created)["field"] == field
    assert client.get("/api/v1/shows/other", headers=auth(admin_token)).status_code == 404


def test_refusals_say_what_is_wrong(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    cases = [
        ({"persons": [{"name": "Ann", "role": "dragon tamer"}]}, "Must be one of"),
        (
            {"persons": [{"name": "Ann", "role": "host", "group": "writing"}]},
            "not a role of the Podcast Taxonomy",
        ),
        ({"locations": [{"name": "Nowhere", "lat": 91, "lon": 0}]}, "less than or equal to 90"),
        ({"license": {"identifier": "Mine"}}, "give its url"),
        ({"update_frequency": {"text": "x", "rrule": "FREQ=WEEKLY;COUNT=3"}}, "needs a dtstart"),
        ({"podroll": [{"feed_guid": "nope"}]}, "UUID"),
        ({"low_data_mono_kbps": 96}, "16, 24, 32, 40, 48, 64"),
    ]
    for body, words in cases:
        error = refusal(client.patch("/api/v1/shows/daily", headers=auth(admin_token), json=body))
        assert words in error["message"], (body, error)


# --- the API: episodes -------------------------------------------------------------------------------------


def test_an_episode_s_values_are_set_through_the_api_and_read_back(
    client: FlaskClient, admin_token: str, episode: dict[str, Any]
) -> None:
    assert {name: episode[name] for name in EPISODE_UNSET} == EPISODE_UNSET
    url = f"/api/v1/episodes/{episode['id']}"
    patched = client.patch(url, headers=auth(admin_token), json=EPISODE_VALUES)
    assert patched.status_code == 200, patched.get_json()
    assert {name: patched.get_json()[name] for name in EPISODE_ANSWER} == EPISODE_ANSWER
    assert {name: episode_json(client, admin_token, episode["id"])[name] for name in EPISODE_ANSWER} == (
        EPISODE_ANSWER
    )

    cleared = client.patch(url, headers=auth(admin_token), json=dict.fromkeys(EPISODE_VALUES)).get_json()
    assert {name: cleared[name] for name in EPISODE_UNSET} == EPISODE_UNSET


EPISODE_REFUSALS = [
    ("persons", [{"name": "Ann", "role": "dragon tamer"}]),
    ("locations", [{"name": "Nowhere", "lat": 12, "lon": 181}]),
    ("soundbites", [{"start": 3, "duration": 2}]),  # ends at 5 s, the episode lasts 4
    ("soundbites", [{"start": 0, "duration": 0.5}]),
    ("soundbites", [{"start": -1, "duration": 2}]),
    ("soundbites", [{"duration": 2}]),
    ("license", {"identifier": "Mine", "url": "licence.html"}),
]


@pytest.mark.parametrize(
    ("field", "value"), EPISODE_REFUSALS, ids=[f"{f}-{n}" for n, (f, _) in enumerate(EPISODE_REFUSALS)]
)
def test_a_bad_episode_value_is_refused_naming_its_field_and_nothing_changes(
    client: FlaskClient, admin_token: str, episode: dict[str, Any], field: str, value: object
) -> None:
    url = f"/api/v1/episodes/{episode['id']}"
    assert client.patch(url, headers=auth(admin_token), json=EPISODE_VALUES).status_code == 200
    before = episode_json(client, admin_token, episode["id"])
    body = {"title": "Not saved either", field: value}
    assert refusal(client.patch(url, headers=auth(admin_token), json=body))["field"] == field
    assert episode_json(client, admin_token, episode["id"]) == before


def test_a_soundbite_past_the_end_is_refused_once_the_length_is_known(
    client: FlaskClient, admin_token: str, episode: dict[str, Any], services: Services
) -> None:
    url = f"/api/v1/episodes/{episode['id']}"
    assert episode_json(client, admin_token, episode["id"])["duration_s"] == pytest.approx(4, abs=0.1)
    error = refusal(
        client.patch(url, headers=auth(admin_token), json={"soundbites": [{"start": 3.5, "duration": 1}]})
    )
    assert error["field"] == "soundbites" and "past the end of the episode" in error["message"]

    # Clips that fitted stay when the audio gets shorter: the feed leaves them out, and other edits go on.
    clips = [{"start": 2.5, "duration": 1.5, "title": "Near the end"}]
    assert client.patch(url, headers=auth(admin_token), json={"soundbites": clips}).status_code == 200
    with services.db.session() as session:
        session.execute(update(Episode).where(Episode.id == episode["id"]).values(duration_s=3.0))
        session.commit()
    kept = client.patch(url, headers=auth(admin_token), json={"title": "Shorter", "soundbites": clips})
    assert kept.status_code == 200, kept.get_json()
    assert kept.get_json()["soundbites"] == [{"start": 2.5, "duration": 1.5, "title": "Near the end"}]
    moved = [{"start": 2.0, "duration": 1.5, "title": "Near the end"}]
    assert refusal(client.patch(url, headers=auth(admin_token), json={"soundbites": moved}))["field"] == (
        "soundbites"
    )


def test_an_upload_takes_the_values_as_json_text(
    client: FlaskClient, admin_token: str, sample_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import _remembering_process

    from podcast_host import audio

    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))
    create_show(client, admin_token)
    fields = {name: json.dumps(value) for name, value in EPISODE_VALUES.items()}
    answer = upload_episode(client, admin_token, "daily", sample_mp3, **fields)
    assert answer.status_code == 202, answer.get_json()
    assert {name: answer.get_json()[name] for name in EPISODE_ANSWER} == EPISODE_ANSWER

    for field, text in [
        ("persons", "[{name: 'no quotes'}]"),
        ("soundbites", json.dumps([{"start": 1}])),
        ("license", json.dumps({"identifier": "Mine"})),
    ]:
        refused = upload_episode(client, admin_token, "daily", sample_mp3, title="Refused", **{field: text})
        assert refusal(refused)["field"] == field
    listed = client.get("/api/v1/shows/daily/episodes", headers=auth(admin_token)).get_json()["episodes"]
    assert [e["title"] for e in listed] == ["Episode one"]


# --- the feed follows --------------------------------------------------------------------------------------


def _backdate(services: Services) -> None:
    """Move every stamp an hour back, so that an edit made now is seconds apart from the feed it replaces."""
    past = utcnow() - timedelta(hours=1)
    with services.db.session() as session:
        session.execute(update(Episode).values(updated_at=past, publish_at=past))
        session.execute(update(Show).values(updated_at=past))
        session.commit()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/shows/daily", {"persons": [{"name": "Ann"}]}),
        ("/api/v1/shows/daily", {"block": {"everywhere": True}}),
        ("/api/v1/shows/daily", {"low_data_mono_kbps": 16}),
        ("/api/v1/episodes/{id}", {"soundbites": [{"start": 1, "duration": 2}]}),
        ("/api/v1/episodes/{id}", {"license": {"identifier": "CC-BY-4.0"}}),
    ],
    ids=["show persons", "show block", "show low data", "episode soundbites", "episode license"],
)
def test_an_edit_of_a_value_changes_the_feed_s_etag(
    client: FlaskClient,
    admin_token: str,
    episode: dict[str, Any],
    services: Services,
    path: str,
    body: dict[str, Any],
) -> None:
    _backdate(services)
    before = client.get(FEED)
    assert before.status_code == 200
    edited = client.patch(path.format(id=episode["id"]), headers=auth(admin_token), json=body)
    assert edited.status_code == 200, edited.get_json()
    after = client.get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.last_modified > before.last_modified


# --- the document -------------------------------------------------------------------------------------------


def test_the_openapi_document_describes_the_shapes(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    patch = schemas["ShowPatch"]["properties"]
    assert patch["persons"]["items"] == {"$ref": "#/components/schemas/PersonFields"}
    assert patch["low_data_mono_kbps"]["enum"] == [*shows.OPUS_BITRATES, None]
    person = schemas["PersonFields"]
    assert person["required"] == ["name"] and person["additionalProperties"] is False
    by_group = {rule["properties"]["group"]["enum"][0]: rule for rule in person["anyOf"]}
    assert "editor" in by_group["writing"]["properties"]["role"]["enum"]
    assert "required" not in by_group["cast"]  # a person without a role is the host
    assert {"PersonFields", "LocationFields", "LicenseFields", "UpdateFrequencyFields"} <= {
        name for name, schema in schemas.items() if "anyOf" in schema
    }
    upload = schemas["EpisodeUpload"]["properties"]
    assert upload["soundbites"]["type"] == "string" and "JSON" in upload["soundbites"]["description"]
    answer = schemas["Show"]["properties"]
    assert answer["persons"]["items"] == {"$ref": "#/components/schemas/Person"}
    assert set(SHOW_ANSWER) <= set(schemas["Show"]["required"])
    assert set(EPISODE_ANSWER) <= set(schemas["Episode"]["required"])


# --- show.toml and episode.toml ----------------------------------------------------------------------------

SHOW_TOML = """\
title = "Values"
language = "en"
low_data_stereo_kbps = 40
license = "CC-BY-4.0"

[update_frequency]
text = "Every weekday"
rrule = "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"
dtstart = 2026-01-05T06:00:00Z

[block]
everywhere = false
platforms = ["youtube"]

[[persons]]
name = "Ann Host"
role = "host"

[[persons]]
name = "Bo"
role = "producer"
img = "https://bo.example/bo.jpg"

[[locations]]
name = "Austin, TX"
lat = 30.2672
lon = -97.7431

[[txt]]
value = "hello"

[[podroll]]
feed_guid = "917393e3-1b1e-5cef-ace4-edaa54e1f810"
feed_url = "https://other.example/feed.xml"
"""
EPISODE_TOML = """\
title = "One"

[license]
identifier = "Studio licence"
url = "https://example.org/licence"

[[persons]]
name = "Guest Star"
role = "guest"

[[soundbites]]
start = 1
duration = 2.5
title = "The line"
"""


@pytest.fixture
def _ffmpeg_work_done_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import _remembering_process

    from podcast_host import audio

    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))


def podcast_folder(
    root: Path, sample_mp3: Path, show_toml: str = SHOW_TOML, episode_toml: str = EPISODE_TOML
) -> Path:
    (root / "values" / "one").mkdir(parents=True)
    (root / "values" / "show.toml").write_text(show_toml, encoding="utf-8")
    (root / "values" / "one" / "episode.toml").write_text(episode_toml, encoding="utf-8")
    shutil.copyfile(sample_mp3, root / "values" / "one" / "audio.mp3")
    return root


def stored_values(services: Services, slug: str = "values") -> tuple[dict[str, Any], dict[str, Any]]:
    with services.db.session() as session:
        show = shows.find_show(session, slug)
        episode = show.episodes[0]
        return (
            {name: getattr(show, name) for name in SHOW_UNSET},
            {name: getattr(episode, name) for name in EPISODE_UNSET},
        )


@pytest.mark.usefixtures("_ffmpeg_work_done_once")
def test_sync_reads_the_values_from_tables_and_arrays_of_tables(
    services: Services, tmp_path: Path, sample_mp3: Path
) -> None:
    root = podcast_folder(tmp_path / "folder", sample_mp3)
    assert sync_directory(services, root).created == ["values", "values/one"]
    show, episode = stored_values(services)
    assert show["persons"] == [
        {"name": "Ann Host", "role": "host", "group": "cast", "img": "", "href": ""},
        {
            "name": "Bo",
            "role": "producer",
            "group": "creative direction",
            "img": "https://bo.example/bo.jpg",
            "href": "",
        },
    ]
    assert show["license"] == {"identifier": "CC-BY-4.0", "url": ""}
    assert show["update_frequency"] == {
        "text": "Every weekday",
        "rrule": "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
        "dtstart": "2026-01-05T06:00:00.000Z",
        "complete": False,
    }
    assert show["block"] == {"everywhere": False, "platforms": ["youtube"]}
    assert show["locations"][0]["lat"] == 30.2672 and show["txt"] == [{"purpose": "", "value": "hello"}]
    assert show["podroll"][0]["feed_url"] == "https://other.example/feed.xml"
    assert (show["low_data_stereo_kbps"], show["low_data_mono_kbps"]) == (40, None)
    assert episode == {
        "persons": [{"name": "Guest Star", "role": "guest", "group": "cast", "img": "", "href": ""}],
        "locations": None,
        "soundbites": [{"start": 1.0, "duration": 2.5, "title": "The line"}],
        "license": {"identifier": "Studio licence", "url": "https://example.org/licence"},
    }

    again = sync_directory(services, root)
    assert again.unchanged == ["values", "values/one"] and again.updated == []

    # A key left out keeps its value; an empty table or list clears it.
    (root / "values" / "show.toml").write_text(
        'title = "Values"\nlanguage = "en"\ntxt = []\nblock = {}\n\n[[persons]]\nname = "Cy"\n',
        encoding="utf-8",
    )
    assert sync_directory(services, root).updated == ["values"]
    changed, _ = stored_values(services)
    assert changed["persons"] == [{"name": "Cy", "role": "host", "group": "cast", "img": "", "href": ""}]
    assert (changed["txt"], changed["block"]) == (None, None)
    assert changed["license"] == show["license"] and changed["podroll"] == show["podroll"]


BAD_TOML = [
    ("show.toml", '[[persons]]\nname = "Ann"\nrole = "dragon tamer"\n', "dragon tamer"),
    ("show.toml", '[[persons]]\nname = "Ann"\nnickname = "A"\n', "unknown key 'nickname'"),
    ("show.toml", '[[locations]]\nname = "North"\nlat = 95\nlon = 0\n', "between -90 and 90"),
    ("show.toml", '[license]\nidentifier = "CC-BY-4.0"\nurl = "not a url"\n', "http(s) web address"),
    ("show.toml", '[update_frequency]\ntext = "x"\nrrule = "FREQ=SOMETIMES"\n', "not an iCalendar"),
    ("show.toml", '[block]\nplatforms = ["myspace"]\n', "'myspace' is not a platform"),
    ("show.toml", '[[podroll]]\nfeed_guid = "nope"\n', "not 'nope'"),
    ("show.toml", "low_data_mono_kbps = 20\n", "16, 24, 32, 40, 48, 64"),
    ("show.toml", "[[soundbites]]\nstart = 1\nduration = 2\n", "unknown key 'soundbites'"),
    (
        "show.toml",
        '[description]\ntext = "a table where a text goes"\n',
        "description must be a single value",
    ),
    ("episode.toml", "[[soundbites]]\nstart = 1\nduration = 0.2\n", "1 to 300 seconds"),
    ("episode.toml", '[[txt]]\nvalue = "shows only"\n', "unknown key 'txt'"),
]


@pytest.mark.usefixtures("_ffmpeg_work_done_once")
@pytest.mark.parametrize(("name", "tail", "words"), BAD_TOML, ids=[words for _, _, words in BAD_TOML])
def test_sync_refuses_a_bad_value_in_one_line_and_creates_nothing(
    services: Services, tmp_path: Path, sample_mp3: Path, name: str, tail: str, words: str
) -> None:
    show_toml = 'title = "Values"\n' + (tail if name == "show.toml" else "")
    episode_toml = 'title = "One"\n' + (tail if name == "episode.toml" else "")
    root = podcast_folder(tmp_path / "folder", sample_mp3, show_toml, episode_toml)
    with pytest.raises(Invalid) as refused:
        sync_directory(services, root)
    assert words in str(refused.value) and "\n" not in str(refused.value)
    with services.db.session() as session:
        if name == "show.toml":
            assert session.query(Show).count() == 0
        assert session.query(Episode).count() == 0


@pytest.mark.usefixtures("_ffmpeg_work_done_once")
def test_sync_refuses_a_soundbite_past_the_end_of_a_processed_episode(
    services: Services, tmp_path: Path, sample_mp3: Path
) -> None:
    root = podcast_folder(tmp_path / "folder", sample_mp3)
    sync_directory(services, root)
    _, before = stored_values(services)
    late = EPISODE_TOML.replace("start = 1\n", "start = 3\n")
    (root / "values" / "one" / "episode.toml").write_text(late, encoding="utf-8")
    with pytest.raises(Invalid, match="past the end of the episode"):
        sync_directory(services, root)
    assert stored_values(services)[1] == before


# --- export -> sync ----------------------------------------------------------------------------------------


@pytest.fixture
def second(tmp_path: Path) -> Iterator[Services]:
    """Another instance with its own database and media, empty."""
    built = make_services(tmp_path / "second")
    yield built
    built.close()


def test_export_writes_the_values_that_sync_reads_back_unchanged(
    client: FlaskClient,
    admin_token: str,
    episode: dict[str, Any],
    services: Services,
    second: Services,
    tmp_path: Path,
) -> None:
    values = copy.deepcopy(SHOW_VALUES)
    values["locations"].append({"name": "Giza", "rel": "creator"})  # a place without coordinates
    values["update_frequency"]["complete"] = True
    assert client.patch("/api/v1/shows/daily", headers=auth(admin_token), json=values).status_code == 200
    url = f"/api/v1/episodes/{episode['id']}"
    assert client.patch(url, headers=auth(admin_token), json=EPISODE_VALUES).status_code == 200

    export_show(services, "daily", tmp_path / "out")
    folder = tmp_path / "out" / "daily"
    show_text = (folder / "show.toml").read_text(encoding="utf-8")
    assert (
        show_text.count("[[persons]]") == 2 and "[update_frequency]" in show_text and "[block]" in show_text
    )
    show_toml = tomllib.loads(show_text)
    assert show_toml["locations"][1] == {"name": "Giza", "rel": "creator"}  # no empty values written
    assert show_toml["low_data_mono_kbps"] == 16
    episode_text = (folder / episode["slug"] / "episode.toml").read_text(encoding="utf-8")
    assert episode_text.count("[[soundbites]]") == 2 and "[license]" in episode_text

    assert sorted(sync_directory(second, tmp_path / "out").created) == ["daily", f"daily/{episode['slug']}"]
    with services.db.session() as session, second.db.session() as other:
        mine, theirs = shows.find_show(session, "daily"), shows.find_show(other, "daily")
        for name in SHOW_UNSET:
            assert getattr(theirs, name) == getattr(mine, name), name
        for name in EPISODE_UNSET:
            assert getattr(theirs.episodes[0], name) == getattr(mine.episodes[0], name), name
    again = sync_directory(second, tmp_path / "out")
    assert again.updated == [] and len(again.unchanged) == 2

    # The second instance writes the same files again.
    export_show(second, "daily", tmp_path / "again")
    assert (tmp_path / "again" / "daily" / "show.toml").read_text(encoding="utf-8") == show_text
    assert (tmp_path / "again" / "daily" / episode["slug"] / "episode.toml").read_text(encoding="utf-8") == (
        episode_text
    )
