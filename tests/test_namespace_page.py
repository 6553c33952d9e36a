"""The Podcasting 2.0 values on the listeners' pages (docs/feeds.md, "Podcasting 2.0 tags"): the people an
episode credits, with their roles in the page's language (the episode's people replace the show's, as in the
feed), its places linked to OpenStreetMap, and its soundbites as buttons that play the clip, links to the
audio at the clip without the script. Values are set on the models directly."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from analytics_helpers import published_audio
from flask import Flask
from flask.testing import FlaskClient
from helpers import create_show

from podcast_host import namespace_fields
from podcast_host.models import Episode
from podcast_host.services import Services
from podcast_host.web.person_roles import known_roles, role_name

SHOW_PERSONS = [
    {"name": "Dana Reporter", "role": "host", "group": "cast", "img": "", "href": ""},
    {
        "name": "Lee Producer",
        "role": "executive producer",
        "group": "creative direction",
        "img": "",
        "href": "",
    },
]
EPISODE_PERSONS = [
    {"name": "Dana Reporter", "role": "host", "group": "cast", "img": "", "href": ""},
    {"name": "Sam Guest", "role": "guest", "group": "cast", "img": "", "href": "https://sam.example/about"},
]
AUSTIN = {
    "name": "Austin",
    "rel": "creator",
    "lat": 30.2711286,
    "lon": -97.7436995,
    "osm": "R113314",
    "country": "US",
}
HOGWARTS = {"name": "Hogwarts", "rel": "subject", "lat": None, "lon": None, "osm": "", "country": ""}
DURATION_S = 120.0
SOUNDBITES = [
    {"start": 10.5, "duration": 20.0, "title": "Why the bridge matters"},
    {"start": 60.0, "duration": 30.0, "title": ""},
    # Ends at 140 s, past the end of a 120-second episode: left out, as in the feed.
    {"start": 110.0, "duration": 30.0, "title": "Past the end"},
]


def a_show(client: FlaskClient, token: str, services: Services, language: str = "en", **values: Any) -> int:
    """The show `daily` in `language` with one published episode `un` of DURATION_S; values set on the
    episode (persons, locations, soundbites) and on the show (show_persons, show_locations); its id."""
    create_show(client, token, language=language)
    episode_id, _ = published_audio(services, "daily", "Un", 1000, DURATION_S)
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        show = episode.show
        show.persons = values.pop("show_persons", None)
        show.locations = values.pop("show_locations", None)
        for name, value in values.items():
            setattr(episode, name, value)
        session.commit()
    return episode_id


def section(page: str, heading_id: str) -> str:
    """The HTML of the page's section labelled by the heading `heading_id`."""
    match = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', page, re.S)
    assert match, f"the page has no section {heading_id}"
    return match.group(0)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_the_episode_page_credits_its_people_with_their_roles(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(client, admin_token, services, show_persons=SHOW_PERSONS, persons=EPISODE_PERSONS)
    credits = section(client.get("/daily/un/").get_data(as_text=True), "credits-h")
    people = re.findall(r"<li>(.*?)</li>", credits, re.S)
    assert [text_of(person) for person in people] == ["Dana Reporter Host", "Sam Guest Guest"]
    # A person with a page is linked to it; one without is plain text.
    assert '<a href="https://sam.example/about" rel="nofollow noopener">Sam Guest</a>' in credits
    assert "<a" not in people[0]


def test_an_episodes_people_replace_the_shows(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(client, admin_token, services, show_persons=SHOW_PERSONS, persons=EPISODE_PERSONS)
    page = client.get("/daily/un/").get_data(as_text=True)
    assert "Lee Producer" not in page
    # The show's page credits the show's people.
    show_credits = section(client.get("/daily/").get_data(as_text=True), "credits-h")
    assert text_of(show_credits) == "Credits Dana Reporter Host Lee Producer Executive Producer"


def test_an_episode_without_people_credits_the_shows(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(client, admin_token, services, show_persons=SHOW_PERSONS)
    credits = section(client.get("/daily/un/").get_data(as_text=True), "credits-h")
    assert "Lee Producer" in credits and "Executive Producer" in credits


def test_places_are_named_and_linked_to_openstreetmap_when_they_have_an_id(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(client, admin_token, services, locations=[AUSTIN, HOGWARTS])
    places = section(client.get("/daily/un/").get_data(as_text=True), "places-h")
    assert (
        '<a href="https://www.openstreetmap.org/relation/113314" rel="nofollow noopener">Austin</a>' in places
    )
    assert "Where it was made" in places
    # A place without an OpenStreetMap id (a fictional one) is named, not linked.
    hogwarts = re.search(r"<li>(?:(?!</li>).)*Hogwarts.*?</li>", places, re.S)
    assert hogwarts and "<a" not in hogwarts.group(0)
    assert "What it is about" in hogwarts.group(0)


def test_the_show_page_names_the_shows_places(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(client, admin_token, services, show_locations=[AUSTIN])
    assert "openstreetmap.org/relation/113314" in section(
        client.get("/daily/").get_data(as_text=True), "places-h"
    )
    # The episode has none of its own: its page names the show's.
    assert "Austin" in section(client.get("/daily/un/").get_data(as_text=True), "places-h")


def test_soundbites_are_buttons_for_the_script_and_links_to_the_clip_without_it(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(client, admin_token, services, soundbites=SOUNDBITES)
    clips = section(client.get("/daily/un/").get_data(as_text=True), "clips-h")
    buttons = re.findall(
        r'<button type="button" class="soundbite" data-start="([^"]+)" data-end="([^"]+)"', clips
    )
    assert buttons == [("10.5", "30.5"), ("60.0", "90.0")], "the clip past the end is left out"
    links = re.findall(r'<a class="soundbite-link" href="([^"]+)">(.*?)</a>', clips, re.S)
    assert [href.rsplit("#", 1)[1] for href, _ in links] == ["t=10.5,30.5", "t=60.0,90.0"]
    assert all("/media/shows/" in href for href, _ in links), "the links open the episode's audio"
    assert [text_of(label) for _, label in links] == ["0:10–0:30 Why the bridge matters", "1:00–1:30 Clip 2"]
    assert "Past the end" not in clips


def test_nothing_is_shown_when_nothing_is_set(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(client, admin_token, services)
    for page in (
        client.get("/daily/un/").get_data(as_text=True),
        client.get("/daily/").get_data(as_text=True),
    ):
        for heading in ("credits-h", "places-h", "clips-h"):
            assert f'aria-labelledby="{heading}"' not in page


@pytest.mark.parametrize(
    ("language", "direction", "words"),
    [
        ("fr", "ltr", ["Générique", "Présentat·eur·rice", "Invité·e", "Extraits", "Lieu de réalisation"]),
        ("ar", "rtl", ["المشاركون", "مقدّم", "ضيف", "مقتطفات", "مكان الإنتاج", "المقتطف 2"]),
    ],
)
def test_roles_and_headings_speak_the_shows_language(
    client: FlaskClient, admin_token: str, services: Services, language: str, direction: str, words: list[str]
) -> None:
    a_show(
        client,
        admin_token,
        services,
        language,
        persons=EPISODE_PERSONS,
        locations=[AUSTIN],
        soundbites=SOUNDBITES,
    )
    page = client.get("/daily/un/").get_data(as_text=True)
    assert f'<html lang="{language}" dir="{direction}">' in page
    for word in words:
        assert word in page, word
    sections = section(page, "credits-h") + section(page, "places-h") + section(page, "clips-h")
    interface = re.findall(
        r'<h2[^>]*>(.*?)</h2>|<span class="(?:role|rel|clip-title)">(.*?)</span>', sections
    )
    shown = " ".join(heading or label for heading, label in interface)
    # Three headings, two roles, why the place is named, the untitled clip (its button and its link).
    assert len(interface) == 8, interface
    for english in ("Credits", "Host", "Guest", "Places", "Highlights", "Where it was made", "Clip"):
        assert english not in shown, english
    # Names and titles keep the show's language and their own direction, inside the page's.
    assert '<bdi class="person" lang="' + language + '" dir="auto">' in page


def test_every_role_of_the_taxonomy_has_a_name_in_every_language(app: Flask) -> None:
    roles = {role for roles in namespace_fields.taxonomy().values() for role in roles}
    assert known_roles() == roles
    for language in ("fr", "ar"):
        with app.test_request_context(headers={"Accept-Language": language}):
            untranslated = [role for role in roles if role_name(role).lower() == role]
            assert not untranslated, f"{language}: {untranslated}"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert role_name("co-host") == "Co-Host"
        assert role_name("cover art designer") == "Cover Art Designer"
        # A role the list does not know (stored before it changed) is shown as it was stored.
        assert role_name("sidekick") == "sidekick"


def test_the_role_is_translated_apart_from_the_same_english_word(app: Flask) -> None:
    """ "Author" the role and "Author" the show's field are two messages ("podcast role" context)."""
    from flask_babel import gettext

    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert role_name("author") == "Aut·eur·rice"
        assert gettext("Author") == "Auteur"


def test_a_show_row_with_values_stored_before_a_check_still_renders(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    """Entries without their required value, or of the wrong shape, are left out rather than failing."""
    a_show(
        client,
        admin_token,
        services,
        persons=[{"role": "guest"}, "not a person", {"name": "Kept Person"}],
        locations=[{"osm": "R1"}, {"name": "Kept Place", "osm": "X12"}],
        soundbites=[{"start": "ten", "duration": 5}, {"title": "no times"}],
    )
    response = client.get("/daily/un/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert text_of(section(page, "credits-h")) == "Credits Kept Person Host"
    assert text_of(section(page, "places-h")) == "Places Kept Place What it is about"
    assert 'aria-labelledby="clips-h"' not in page


def test_names_titles_and_addresses_are_escaped(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    a_show(
        client,
        admin_token,
        services,
        persons=[{"name": "<script>alert(1)</script>", "role": "guest", "href": "javascript:alert(2)"}],
        locations=[{"name": "<b>Here</b> & there", "rel": "subject", "osm": "R1"}],
        soundbites=[{"start": 1.0, "duration": 5.0, "title": '"><img src=x onerror=alert(3)>'}],
    )
    page = client.get("/daily/un/").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in page, "only http(s) addresses are linked"
    assert "&lt;b&gt;Here&lt;/b&gt; &amp; there" in page
    assert "<img src=x" not in page and "&#34;&gt;&lt;img src=x onerror=alert(3)&gt;" in page
