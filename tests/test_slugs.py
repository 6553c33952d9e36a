"""Slugs in the title's own script (podcast_host/slugs.py): what titles give, what producers may choose,
the OpenAPI pattern against the domain, an Arabic show and episode through API, pages, feed and rename, and
look-alike slugs refused (mixed scripts in a word, a skeleton already taken)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import feedparser
import pytest
from browser import add_user, dashboard_app, sign_in
from flask.testing import FlaskClient
from helpers import auth, create_show, stored_episode
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from podcast_host import episodes, processing, shows
from podcast_host.errors import Invalid
from podcast_host.models import READY, Episode
from podcast_host.services import Services
from podcast_host.slugs import (
    MAX_SLUG_LENGTH,
    check_slug,
    look_alike,
    skeleton,
    slug_from_title,
    slugify,
    unique_slug,
)
from podcast_host.web.schema_fields import SLUG_PATTERN

BUDGET = "الميزانية-والقطار-الجديد"

# --- titles in many scripts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("الميزانية والقطار الجديد", BUDGET),  # Arabic
        ("گزارش هفتگی: اقتصاد ایران", "گزارش-هفتگی-اقتصاد-ایران"),  # Persian
        ("חדשות הבוקר", "חדשות-הבוקר"),  # Hebrew
        ("今日のニュース 2024", "今日のニュース-2024"),  # Japanese
        ("北京新闻，第3集", "北京新闻-第3集"),  # Chinese, full-width comma
        ("Новости. Утренний выпуск", "новости-утренний-выпуск"),  # Cyrillic
        ("ΟΙ ΕΙΔΗΣΕΙΣ της ημέρας", "οι-ειδησεις-της-ημέρας"),  # Greek: a final capital sigma is "ς"
        ("Café crème, façon Œuvre", "café-crème-façon-œuvre"),  # French
        ("Die Straße nach STRASSBURG", "die-straße-nach-strassburg"),  # German
        ("İstanbul'da ılık bir gün", "istanbulda-ılık-bir-gün"),  # Turkish: İ is i, ı stays ı
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),  # Devanagari: vowel signs and virama stay in their word
        ("Tomorrow's briefing", "tomorrows-briefing"),
    ],
)
def test_a_title_gives_a_slug_in_its_own_script(title: str, slug: str) -> None:
    assert slugify(title) == slug
    assert check_slug(slug) == slug


def test_a_greek_final_sigma_is_written_as_greek_writes_it() -> None:
    assert slugify("ΣΟΦΟΣ ΛΟΓΟΣ") == "σοφο\u03c2-λογο\u03c2"
    assert slugify("1Σ") == "1\u03c3"  # after a digit it is a symbol, not the end of a word


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u02bc"])
def test_apostrophes_are_dropped_not_made_hyphens(apostrophe: str) -> None:
    assert slugify(f"Tomorrow{apostrophe}s briefing") == "tomorrows-briefing"
    assert slugify(f"{apostrophe}Round midnight{apostrophe}") == "round-midnight"


def test_arabic_vowel_marks_and_tatweel_do_not_change_the_slug() -> None:
    assert slugify("مُحَمَّدٌ وَالْقِطَارُ") == slugify("محمد والقطار") == "محمد-والقطار"
    assert slugify("الميـــــزانية") == "الميزانية"  # tatweel stretches a word; it is not a letter
    assert slugify("قُرْآن") == "قرآن"  # the madda is part of the letter آ, kept
    assert slugify("שָׁלוֹם") == slugify("שלום") == "שלום"  # Hebrew points too


def test_nfkc_makes_one_slug_of_the_ways_to_write_a_word() -> None:
    assert slugify("Cafe\u0301") == slugify("Caf\u00e9") == "caf\u00e9"
    assert slugify("ｆｕｌｌ ｗｉｄｔｈ") == "full-width"
    assert slugify("ﻣﺮﺣﺒﺎ") == "مرحبا"  # Arabic presentation forms
    assert unicodedata.is_normalized("NFC", slugify("e\u200b\u0301te\u0301"))


@pytest.mark.parametrize(
    "invisible",
    # zero-width space, non-joiner, joiner; LRM, RLM, RLE, RLI, PDI; BOM, soft hyphen, Arabic letter mark
    ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202b", "\u2067", "\u2069"]
    + ["\ufeff", "\u00ad", "\u061c"],
)
def test_invisible_and_bidi_characters_are_removed_without_splitting_a_word(invisible: str) -> None:
    assert slugify(f"{invisible}مر{invisible}حبا بال{invisible}عالم{invisible}") == "مرحبا-بالعالم"
    assert slugify(f"pod{invisible}cast") == "podcast"


def test_emoji_and_symbols_are_removed() -> None:
    assert slugify("🎙️ News & Views — #1!") == "news-views-1"
    assert slugify("👩🏽‍💻 Code 🇫🇷 ★ €5 ⟶ (live)") == "code-5-live"


def test_a_title_with_nothing_left_gives_the_fallback() -> None:
    assert slug_from_title("🎉🎉 !!! ‎", "episode-3") == "episode-3"
    assert slug_from_title("ـــ َ", "episode") == "episode"  # only tatweel and a vowel mark
    assert slug_from_title("Episode 3", "episode-3") == "episode-3"


# --- length ------------------------------------------------------------------------------------------------


def test_the_length_cap_counts_characters_and_keeps_whole_words() -> None:
    title = " ".join(["الميزانية", "والقطار", "الجديد"] * 6)
    slug = slugify(title)
    assert MAX_SLUG_LENGTH - len("والقطار") <= len(slug) <= MAX_SLUG_LENGTH
    assert len(slug.encode()) > MAX_SLUG_LENGTH  # characters, not UTF-8 bytes
    assert all(word in title.split() for word in slug.split("-"))


def test_one_word_longer_than_the_cap_is_cut_between_letters() -> None:
    assert slugify("a" * 100) == "a" * MAX_SLUG_LENGTH
    devanagari = "कि" * 50  # a letter and its vowel sign, 100 characters
    cut = slugify(devanagari)
    assert cut == "कि" * 40 and len(cut) == MAX_SLUG_LENGTH
    assert slugify("क" * 80 + "ि") == "क" * 79  # not between the 80th क and its sign


def test_unique_slug_numbers_the_taken_ones_and_stays_within_the_cap() -> None:
    taken = {BUDGET, f"{BUDGET}-2"}
    assert unique_slug(BUDGET, taken.__contains__) == f"{BUDGET}-3"
    long = slugify(" ".join(["word"] * 30))
    numbered = unique_slug(long, {long}.__contains__)
    assert numbered.endswith("-2") and len(numbered) <= MAX_SLUG_LENGTH
    assert check_slug(numbered) == numbered


# --- producer-chosen slugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slug",
    ["my-show", "daily", "episode-12", "2024", BUDGET, "café-crème", "東京", "ас-салям", "σοφός", "a" * 80],
)
def test_check_slug_accepts_old_ascii_slugs_and_unicode_ones(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "My-Show",
        "Café",
        "my show",
        "my/show",
        "my.show",
        "my%20show",
        quote(BUDGET),  # the percent-encoded form is the URL's, not the slug
        "-my",
        "my-",
        "my--show",
        "my_show",
        "tomorrow's",
        "مُحَمَّد",  # vowel marks
        "مر\u200cحبا",  # an invisible character
        "caf\u0065\u0301",  # not NFC
        "σοφοσ",
        "a" * 81,
        "🎙",
    ],
)
def test_check_slug_refuses_what_is_not_in_slug_form(slug: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_slug(slug)
    assert refused.value.field == "slug"


def test_every_title_gives_a_slug_check_slug_accepts() -> None:
    for title in ["İİ ıI", "ǅemal", "ﬁne ﬂow", "Ⅻ ①", "x\u0301\u0323", "ΑΣ.ΣΑ", "ẞ", "a\ufe0f", "1,000 ways"]:
        slug = slugify(title)
        assert check_slug(slug) == slug, title


# --- the OpenAPI pattern against the domain ----------------------------------------------------------------


def _second_halves() -> set[str]:
    """Characters that canonical composition joins onto the one before them."""
    halves = set()
    for code in range(0x110000):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            halves.add(chr(int(parts[1], 16)))
    return halves | {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}


def test_every_letter_the_pattern_names_is_a_slug_that_combines_with_nothing() -> None:
    pattern = re.compile(SLUG_PATTERN)
    letters = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF and pattern.match(chr(c))]
    assert {"a", "0", "é", "ğ", "ș", "ж", "ґ", "ש", "ع", "گ", "۴", "क", "東", "の", "한"} <= set(letters)
    halves = _second_halves()
    for letter in letters:
        word = f"{letter}a{letter}{letter}"  # nothing composes with it, not even a Latin letter
        assert slugify(word) == word and check_slug(letter * 3) and letter not in halves, hex(ord(letter))
    marks = [
        mark
        for mark in (chr(c) for c in range(0x0300, 0x1000))
        if unicodedata.category(mark).startswith("M") and pattern.match(f"क{mark}")
    ]
    assert marks, "the pattern names the Devanagari vowel signs"
    for mark in marks:
        assert check_slug(f"क{mark}{mark}क") and mark not in halves, hex(ord(mark))


@settings(max_examples=50, derandomize=True, database=None, deadline=None)
@given(st.from_regex(SLUG_PATTERN, fullmatch=True))
def test_what_the_pattern_promises_the_domain_accepts(slug: str) -> None:
    assume(len(slug) <= MAX_SLUG_LENGTH)
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    ("slug", "one_script_a_word"),
    [
        ("n\u0435ws", False),  # a Cyrillic е
        ("\u0430dmin", False),
        ("\u03c1izza", False),  # a Greek ρ
        ("news\u0663", False),  # an Arabic-Indic digit
        ("東京москва", False),
        ("aक", False),
        ("news-\u0441\u043e\u0440\u0443", True),  # a Latin word, then a Cyrillic one
        ("東京のニュース", True),
        ("tシャツ", True),
        ("大韓民國뉴스", True),
        ("حلقة3", True),
        ("حلقة٣", True),
        ("नमस्ते-2024", True),
    ],
)
def test_the_pattern_keeps_each_word_in_one_script_as_the_domain_does(
    slug: str, one_script_a_word: bool
) -> None:
    assert bool(re.match(SLUG_PATTERN, slug)) == one_script_a_word
    try:
        check_slug(slug)
    except Invalid:
        assert not one_script_a_word
    else:
        assert one_script_a_word


def test_the_pattern_needs_no_flags_and_no_unicode_classes() -> None:
    """JSON Schema patterns are ECMA-262 without flags: no \\p{…}, no inline flags, no Python-only escapes."""
    assert not re.search(r"\\[pPAZzG]|\(\?[aiLmsux]|\(\?P|\(\?<", SLUG_PATTERN)
    assert SLUG_PATTERN.startswith("^") and SLUG_PATTERN.endswith("$")


# --- an Arabic show and episode, end to end ----------------------------------------------------------------


@pytest.mark.postgres  # Arabic text in the slug columns, their unique keys and aliases
def test_an_arabic_show_and_episode_round_trip(
    client: Any, admin_token: str, services: Services, sample_mp3: Path
) -> None:
    base = services.settings.public_url
    show_slug = "نشرة-الصباح"
    created = create_show(client, admin_token, slug=show_slug, title="نشرة الصباح", language="ar")
    show_path = f"/{quote(show_slug)}/"
    assert created["page_url"] == f"{base}{show_path}"
    with services.db.session() as session:
        show_id = shows.find_show(session, show_slug).id
    episode_id = stored_episode(services, show_id, sample_mp3, title="الْمِيزَانِيَّة والقطار الجديد")
    assert processing.process_episode(services, episode_id) == READY
    episode = client.get(f"/api/v1/episodes/{episode_id}", headers=auth(admin_token)).get_json()
    assert episode["slug"] == BUDGET
    episode_path = f"{show_path}{quote(BUDGET)}/"
    assert episode_path.isascii()

    assert client.get(show_path).status_code == 200
    page = client.get(episode_path)
    assert page.status_code == 200 and "الْمِيزَانِيَّة والقطار الجديد" in page.get_data(as_text=True)

    feed = client.get(f"{show_path}feed.xml")
    assert feed.status_code == 200
    xml = feed.get_data(as_text=True)
    assert f"<link>{base}{show_path}</link>" in xml and f"<link>{base}{episode_path}</link>" in xml
    parsed = feedparser.parse(feed.data)
    assert parsed.feed.link == f"{base}{show_path}"
    (entry,) = parsed.entries
    assert entry.link == f"{base}{episode_path}"
    assert client.get(urlsplit(entry.link).path).status_code == 200

    renamed = client.patch(
        f"/api/v1/episodes/{episode_id}", json={"slug": "الميزانية"}, headers=auth(admin_token)
    )
    assert renamed.status_code == 200 and renamed.get_json()["slug"] == "الميزانية"
    new_path = f"{show_path}{quote('الميزانية')}/"
    old = client.get(episode_path)
    assert old.status_code == 301
    assert old.headers["Location"] == new_path  # the same percent-encoding as the feed's links
    assert client.get(new_path).status_code == 200


def test_sync_reads_folder_names_in_decomposed_form_as_their_composed_slug(
    services: Any, tmp_path: Path, sample_mp3: Path
) -> None:
    import shutil

    from podcast_host.models import Show
    from podcast_host.sync import sync_directory

    show_name, episode_name = "café-crème", "أخبار"
    root = tmp_path / "shows"
    # As a Mac may hand them out: "é" as e + combining accent, "أ" as alef + hamza above.
    episode = root / unicodedata.normalize("NFD", show_name) / unicodedata.normalize("NFD", episode_name)
    episode.mkdir(parents=True)
    (episode.parent / "show.toml").write_text('title = "Café"\n', encoding="utf-8")
    (episode / "episode.toml").write_text('title = "Les nouvelles"\n', encoding="utf-8")
    shutil.copy(sample_mp3, episode / "audio.mp3")
    sync_directory(services, root)
    with services.db.session() as session:
        assert [show.slug for show in session.query(Show)] == [show_name]
        assert [e.slug for e in session.query(Episode)] == [episode_name]


# --- look-alikes: words mixing scripts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "word"),
    [
        ("nеws", "nеws"),  # Cyrillic е among Latin letters
        ("аdmin", "аdmin"),  # Cyrillic а
        ("ρizza-tonight", "ρizza"),  # Greek ρ
        ("daily-nеws", "nеws"),  # the second word
        ("news٣", "news٣"),  # an Arabic-Indic digit in a Latin word
        ("東京москва", "東京москва"),  # Han and Cyrillic
        ("שלוםsalam", "שלוםsalam"),  # Hebrew and Latin
    ],
)
def test_a_chosen_slug_mixing_scripts_in_a_word_is_refused_naming_the_word(slug: str, word: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_slug(slug)
    assert refused.value.field == "slug"
    assert f"the word {word!r}" in str(refused.value)


@pytest.mark.parametrize(
    "slug",
    [
        "東京のニュース",  # Japanese: Han, hiragana, katakana
        "らーめん",  # the prolonged sound mark, in both kanas
        "人々",  # the ideographic iteration mark
        "tシャツ",  # Latin with katakana
        "大韓民國뉴스",  # Korean: Han and hangul
        "حلقة3",  # Arabic with European digits
        "الحلقة-3",
        "حلقة٣",  # and with its own
        "قسمت۳",  # Persian digits
        "नमस्ते-2024",
        "oʻzbekiston",  # a modifier letter belongs to every script
        "сло\u0301во",  # a combining stress mark on a Cyrillic letter
        "ελληνικά",
        "сору",  # Cyrillic only: not mixed, even if it looks Latin (see below)
    ],
)
def test_words_in_one_script_or_in_scripts_a_language_mixes_are_accepted(slug: str) -> None:
    assert check_slug(slug) == slug


def test_a_title_with_a_mixed_word_still_gives_its_slug(services: Services, sample_mp3: Path) -> None:
    assert slug_from_title("Nеws of the day", "episode") == "nеws-of-the-day"
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "daily", "title": "Daily"})
        session.commit()
        show_id = show.id
    episode_id = stored_episode(services, show_id, sample_mp3, title="Nеws of the day")
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None and episode.slug == "nеws-of-the-day"
        # The edit form sends the slug back unchanged: that is no new choice, and the edit goes through.
        episodes.update_episode(services, session, episode, {"slug": episode.slug, "title": "Edited"})
        assert episode.title == "Edited" and episode.slug == "nеws-of-the-day"


def test_the_dashboard_names_the_mixed_word(services: Services) -> None:
    client = dashboard_app(services).test_client()
    add_user(services, "owner@example.com")
    token = sign_in(client, "owner@example.com")
    body = {"slug": "daily-nеws", "title": "Daily", "language": "en", "csrf_token": token}
    response = client.post("/admin/shows", data=body)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "mixes the Cyrillic and Latin scripts in the word &#39;nеws&#39;" in html


# --- look-alikes: skeletons --------------------------------------------------------------------------------


def test_look_alikes_in_latin_cyrillic_greek_and_armenian_share_a_skeleton() -> None:
    assert skeleton("сору") == skeleton("copy") == "copy"  # Cyrillic с о р у
    assert skeleton("νιρ") == "vip"  # Greek ν ι ρ
    assert skeleton("ѕтатіс") == "static"  # т: TR39's small capital ᴛ, read as t
    assert skeleton("κιτ") == "kit"
    assert skeleton("հօ") == "ho"  # Armenian
    assert skeleton("lınux") == "linux"  # a dotless ı
    assert skeleton("ёж") == skeleton("ëж")  # decomposed first: Cyrillic е and a diaeresis is ë
    assert skeleton("news-2") == "news-2"


def test_different_words_keep_different_skeletons() -> None:
    for first, second in [("café", "cafe"), ("straße", "strasse"), ("москва", "moskva"), ("東京", "京東")]:
        assert skeleton(first) != skeleton(second)


def test_look_alike_names_the_exact_slug_first_then_the_first_look_alike() -> None:
    assert look_alike("copy", ["сору", "copy"]) == "copy"
    assert look_alike("сору", ["daily", "copy", "cорy"]) == "copy"
    assert look_alike("сору", ["daily"]) is None


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    error: dict[str, Any] = response.get_json()["error"]
    return error


@pytest.mark.postgres  # Cyrillic and Greek slugs in the slug columns and their aliases
def test_a_show_slug_looking_like_a_taken_or_reserved_one_is_a_conflict(
    client: FlaskClient, admin_token: str
) -> None:
    create_show(client, admin_token, slug="copy")
    create_show(client, admin_token, slug="vip")

    def new_show(slug: str) -> Any:
        body = {"slug": slug, "title": "Look-alike", "language": "en"}
        return client.post("/api/v1/shows", json=body, headers=auth(admin_token))

    refused = _error(new_show("сору"), 409)  # Cyrillic
    assert refused["code"] == "conflict" and "looks like 'copy'" in refused["message"]
    assert "looks like 'vip'" in _error(new_show("νιρ"), 409)["message"]  # Greek
    assert "reserved by the app" in _error(new_show("арі"), 409)["message"]  # Cyrillic "api"
    assert "reserved by the app" in _error(new_show("ѕтатіс"), 409)["message"]
    # A look-alike of "admin" needs Latin letters: it mixes scripts, refused before it is compared.
    assert _error(new_show("аdmin"), 422)["field"] == "slug"
    assert _error(new_show("nеws"), 422)["field"] == "slug"

    renamed = client.patch("/api/v1/shows/copy", json={"slug": "copy-new"}, headers=auth(admin_token))
    assert renamed.status_code == 200
    assert "looks like 'copy'" in _error(new_show("сору"), 409)["message"]  # the old slug still answers
    # The renamed show itself may take back a look-alike of its own old slug.
    back = client.patch("/api/v1/shows/copy-new", json={"slug": "сору"}, headers=auth(admin_token))
    assert back.status_code == 200 and back.get_json()["slug"] == "сору"


@pytest.mark.postgres
def test_an_episode_slug_looking_like_another_of_the_show_is_a_conflict(
    client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path
) -> None:
    create_show(client, admin_token, slug="daily")
    create_show(client, admin_token, slug="weekly")
    with services.db.session() as session:
        daily, weekly = shows.find_show(session, "daily").id, shows.find_show(session, "weekly").id
    stored_episode(services, daily, sample_mp3, slug="copy")
    other = stored_episode(services, daily, sample_mp3, slug="other")
    elsewhere = stored_episode(services, weekly, sample_mp3, slug="other")

    def rename(episode_id: int, slug: str) -> Any:
        return client.patch(f"/api/v1/episodes/{episode_id}", json={"slug": slug}, headers=auth(admin_token))

    refused = _error(rename(other, "сору"), 409)
    assert (
        refused["code"] == "conflict"
        and "looks like 'copy', which is already taken in this show" in (refused["message"])
    )
    assert rename(elsewhere, "сору").status_code == 200  # another show's episodes are not compared

    # A slug made from a title steps aside from a look-alike, as from a taken one.
    generated = stored_episode(services, daily, sample_mp3, title="Сору")
    assert client.get(f"/api/v1/episodes/{generated}", headers=auth(admin_token)).get_json()["slug"] == (
        "сору-2"
    )
