"""What takes a show and its episodes elsewhere: the episode's cover, subscribe links for the directories and
the apps, share links and the embed code (percent-encoded, built from the page's own URL and title), the
show's Apple Podcasts and Spotify pages edited through the API, the dashboard and show.toml, and the
transcript's language in the feed as podcast-partytime reads it."""

from __future__ import annotations

import html
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import add_user, dashboard_app, sign_in
from flask.testing import FlaskClient
from helpers import auth, create_show
from lxml import etree
from test_feed import make_episode, make_links, make_show, partytime

from podcast_host import create_app
from podcast_host.errors import Invalid
from podcast_host.feeds.build import build_feed
from podcast_host.models import READY, Episode, Show, utcnow
from podcast_host.services import Services
from podcast_host.shows import find_show
from podcast_host.sync import sync_directory

BASE = "http://127.0.0.1:8000"  # the tests' PODCAST_HOST_PUBLIC_URL
FEED = f"{BASE}/sawt/feed.xml"
SHOW_TITLE = "Sawt & Co"
# Every character that needs encoding in a query: &, #, %, +, =, ?, quotes, a space, and Arabic.
TITLE = 'Q&A #1: ما الجديد؟ 100% "live" a+b=c?'
PAGE = f"{BASE}/sawt/q-a-1/"
APPLE = "https://podcasts.apple.com/us/podcast/sawt/id1234567890?uo=4&at=x"
SPOTIFY = "https://open.spotify.com/show/4rOoJ6Egrf8K2IrywzwOMk"
CHAPTERS = {"chapters": [{"startTime": 0, "title": "Opening"}, {"startTime": 61.5, "title": "The guest"}]}


class PageParts(HTMLParser):
    """The parts of a page these tests read: links by their data-app / data-share key, images, the text of
    each textarea and the copy buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.apps: dict[str, str] = {}
        self.shares: dict[str, str] = {}
        self.images: list[dict[str, str | None]] = []
        self.textareas: dict[str, str] = {}
        self.copy_buttons: list[dict[str, str | None]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("data-app"):
            self.apps[str(found["data-app"])] = str(found["href"])
        if tag == "a" and found.get("data-share"):
            self.shares[str(found["data-share"])] = str(found["href"])
        if tag == "img":
            self.images.append(found)
        if tag == "textarea":
            self._textarea = str(found["id"])
            self.textareas[self._textarea] = ""
        if tag == "button" and "copy" in (found.get("class") or "").split():
            self.copy_buttons.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.textareas[self._textarea] += data


def parts_of(client: FlaskClient, path: str) -> PageParts:
    response = client.get(path)
    assert response.status_code == 200, path
    parser = PageParts()
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return parser


def add_show(services: Services, **fields: Any) -> None:
    """The show `sawt` with one public episode, its chapters and cover art; no media needed for pages."""
    with services.db.session() as session:
        show = Show(
            slug="sawt",
            title=SHOW_TITLE,
            language="ar",
            podcast_guid="6d4b0c1a-2a57-5f0f-9f43-7d8a4f1e2b11",
            image_key="shows/1/cover/cover.jpg",
            **fields,
        )
        episode = Episode(
            show=show,
            slug="q-a-1",
            title=TITLE,
            number=1,
            publish_at=utcnow() - timedelta(hours=1),
            processing_state=READY,
            audio_key="shows/1/episodes/1/audio/audio.mp3",
            enclosure_length=1000,
            chapters=CHAPTERS,
            notes_html="",
        )
        session.add_all([show, episode])
        session.commit()


@pytest.fixture
def listed(sqlite_services: Services) -> FlaskClient:
    """A show listed on Apple Podcasts and Spotify."""
    add_show(sqlite_services, apple_podcasts_url=APPLE, spotify_url=SPOTIFY)
    return create_app(services=sqlite_services).test_client()


# --- subscribe ------------------------------------------------------------------------------------------


def test_show_and_episode_pages_offer_the_directories_and_the_apps(listed: FlaskClient) -> None:
    expected = {
        "apple-podcasts": APPLE,
        "spotify": SPOTIFY,
        "antennapod": (
            "https://antennapod.org/deeplink/subscribe"
            "?url=http%3A%2F%2F127.0.0.1%3A8000%2Fsawt%2Ffeed.xml&title=Sawt%20%26%20Co"
        ),
        "pocket-casts": "pktc://subscribe/127.0.0.1:8000/sawt/feed.xml",
        "overcast": "overcast://x-callback-url/add?url=http%3A%2F%2F127.0.0.1%3A8000%2Fsawt%2Ffeed.xml",
        "podcast-app": "podcast://127.0.0.1:8000/sawt/feed.xml",
    }
    for path in ("/sawt/", "/sawt/q-a-1/"):
        assert parts_of(listed, path).apps == expected, path
    # The query of the AntennaPod link decodes back to the feed and the title, & included.
    query = parse_qs(urlsplit(expected["antennapod"]).query)
    assert query == {"url": [FEED], "title": [SHOW_TITLE]}


def test_a_show_in_no_directory_offers_only_the_apps(sqlite_services: Services) -> None:
    add_show(sqlite_services)
    client = create_app(services=sqlite_services).test_client()
    assert list(parts_of(client, "/sawt/").apps) == ["antennapod", "pocket-casts", "overcast", "podcast-app"]


def test_the_feed_url_is_there_to_copy_and_copy_buttons_wait_for_the_script(listed: FlaskClient) -> None:
    page = listed.get("/sawt/").get_data(as_text=True)
    assert f'<input id="feed-url" type="url" readonly value="{FEED}" dir="ltr">' in page
    buttons = parts_of(listed, "/sawt/q-a-1/").copy_buttons
    assert sorted(str(b["data-copy"]) for b in buttons) == ["embed-code", "feed-url"]
    assert all("hidden" in b for b in buttons), "a copy button does nothing without the script"


# --- share and embed ------------------------------------------------------------------------------------


def test_share_links_carry_the_page_and_the_title_percent_encoded(listed: FlaskClient) -> None:
    shares = parts_of(listed, "/sawt/q-a-1/").shares
    page = "http%3A%2F%2F127.0.0.1%3A8000%2Fsawt%2Fq-a-1%2F"
    title = (
        "Q%26A%20%231%3A%20%D9%85%D8%A7%20%D8%A7%D9%84%D8%AC%D8%AF%D9%8A%D8%AF%D8%9F%20100%25%20"
        "%22live%22%20a%2Bb%3Dc%3F"
    )
    assert shares == {
        "email": f"mailto:?subject={title}&body={page}",
        "x": f"https://x.com/intent/tweet?text={title}&url={page}",
        "facebook": f"https://www.facebook.com/sharer/sharer.php?u={page}",
        "whatsapp": f"https://wa.me/?text={title}%20{page}",
        "telegram": f"https://t.me/share/url?url={page}&text={title}",
    }
    # What each site reads back is the page and the title, unchanged.
    assert parse_qs(urlsplit(shares["x"]).query) == {"text": [TITLE], "url": [PAGE]}
    assert parse_qs(urlsplit(shares["telegram"]).query) == {"url": [PAGE], "text": [TITLE]}
    assert parse_qs(urlsplit(shares["whatsapp"]).query) == {"text": [f"{TITLE} {PAGE}"]}


def test_the_embed_code_is_text_to_copy_not_a_frame_in_the_page(listed: FlaskClient) -> None:
    page = listed.get("/sawt/q-a-1/").get_data(as_text=True)
    assert "<iframe" not in page
    code = parts_of(listed, "/sawt/q-a-1/").textareas["embed-code"]
    assert code == (
        f'<iframe src="{PAGE}embed" width="480" height="120" '
        'title="Q&amp;A #1: ما الجديد؟ 100% &#34;live&#34; a+b=c?" loading="lazy" style="border:0"></iframe>'
    )
    # Pasted into another page, the title attribute reads back as the title.
    frame = etree.fromstring(code, etree.HTMLParser()).find(".//iframe")
    assert (frame.get("src"), frame.get("title")) == (f"{PAGE}embed", TITLE)
    assert listed.get("/sawt/q-a-1/embed").status_code == 200


# --- cover, chapters ------------------------------------------------------------------------------------


def test_the_episode_page_shows_the_shows_cover_when_the_episode_has_none(listed: FlaskClient) -> None:
    (cover,) = [img for img in parts_of(listed, "/sawt/q-a-1/").images if "cover" in (img["class"] or "")]
    assert cover["src"] == f"{BASE}/media/shows/1/cover/cover.jpg"
    # The show speaks Arabic: so does its page's interface.
    assert cover["alt"] == f"صورة غلاف {SHOW_TITLE}"


def test_an_episode_with_its_own_art_shows_it(sqlite_services: Services) -> None:
    add_show(sqlite_services)
    with sqlite_services.db.session() as session:
        (episode,) = find_show(session, "sawt").episodes
        episode.image_key = "shows/1/episodes/1/image/art.png"
        session.commit()
    client = create_app(services=sqlite_services).test_client()
    for path, css in (("/sawt/q-a-1/", "cover"), ("/sawt/q-a-1/embed", "embed-cover")):
        (cover,) = [img for img in parts_of(client, path).images if img["class"] == css]
        assert cover["src"] == f"{BASE}/media/shows/1/episodes/1/image/art.png", path
        assert cover["alt"] == f"صورة غلاف {TITLE}", path


def test_a_chapter_is_one_button_from_its_time_to_its_title(listed: FlaskClient) -> None:
    page = listed.get("/sawt/q-a-1/").get_data(as_text=True)
    assert (
        '<button type="button" class="seek" data-start="61.5"><span class="at">1:02</span> '
        '<span class="chapter-title" lang="ar" dir="auto">The guest</span></button>'
    ) in page
    embed = listed.get("/sawt/q-a-1/embed").get_data(as_text=True)
    assert '<select class="chapter-select" aria-label="الفصول">' in embed
    assert '<option value="61.5" lang="ar">1:02 · The guest</option>' in embed


# --- the show's directory pages, editable ---------------------------------------------------------------


def test_the_api_sets_and_clears_the_directory_pages(client: FlaskClient, admin_token: str) -> None:
    created = create_show(client, admin_token, apple_podcasts_url=APPLE)
    assert (created["apple_podcasts_url"], created["spotify_url"]) == (APPLE, "")
    patched = client.patch(
        "/api/v1/shows/daily",
        headers=auth(admin_token),
        json={"spotify_url": SPOTIFY, "apple_podcasts_url": ""},
    )
    assert patched.status_code == 200, patched.get_json()
    shown = client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json()
    assert (shown["apple_podcasts_url"], shown["spotify_url"]) == ("", SPOTIFY)


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "ftp://open.spotify.com/show/x",
        "open.spotify.com/show/x",
        "https://" + "a" * 1995,
    ],
    ids=["javascript", "ftp", "no-scheme", "too-long"],
)
def test_the_api_refuses_what_is_not_a_web_address(client: FlaskClient, admin_token: str, bad: str) -> None:
    create_show(client, admin_token)
    for field in ("apple_podcasts_url", "spotify_url"):
        refused = client.patch("/api/v1/shows/daily", headers=auth(admin_token), json={field: bad})
        assert refused.status_code == 422, (field, refused.get_json())
        assert refused.get_json()["error"]["field"] == field


def test_the_settings_form_edits_the_directory_pages(services: Services) -> None:
    client = dashboard_app(services).test_client()
    add_user(services, "owner@example.com")
    token = sign_in(client, "owner@example.com")
    base = {"language": "en", "category": "News/Politics", "csrf_token": token}
    created = client.post("/admin/shows", data={**base, "slug": "daily", "title": "Daily"})
    assert created.status_code == 303
    form = client.get("/admin/shows/daily/settings").get_data(as_text=True)
    assert 'name="apple_podcasts_url" type="url"' in form and 'name="spotify_url" type="url"' in form
    body = {**base, "title": "Daily", "apple_podcasts_url": APPLE, "spotify_url": SPOTIFY}
    assert client.post("/admin/shows/daily/settings", data=body).status_code == 303
    form = client.get("/admin/shows/daily/settings").get_data(as_text=True)
    assert f'value="{html.escape(APPLE, quote=False)}"' in form and f'value="{SPOTIFY}"' in form
    refused = client.post("/admin/shows/daily/settings", data={**body, "spotify_url": "javascript:alert(1)"})
    assert refused.status_code == 422
    assert 'id="error-spotify_url" >The spotify_url must be an http(s) URL.' in refused.get_data(as_text=True)
    with services.db.session() as session:
        assert find_show(session, "daily").spotify_url == SPOTIFY


def test_show_toml_sets_the_directory_pages(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "shows" / "daily"
    folder.mkdir(parents=True)
    toml = folder / "show.toml"
    toml.write_text(f'title = "Daily"\napple_podcasts_url = "{APPLE}"\nspotify_url = "{SPOTIFY}"\n', "utf-8")
    sync_directory(services, tmp_path / "shows")
    with services.db.session() as session:
        show = find_show(session, "daily")
        assert (show.apple_podcasts_url, show.spotify_url) == (APPLE, SPOTIFY)
    toml.write_text('title = "Daily"\nspotify_url = "javascript:alert(1)"\n', "utf-8")
    with pytest.raises(Invalid, match="spotify_url must be an http"):
        sync_directory(services, tmp_path / "shows")


# --- the transcript's language in the feed --------------------------------------------------------------

PODCAST_NS = "https://podcastindex.org/namespace/1.0"


def test_the_transcript_carries_the_shows_language_and_partytime_reads_it() -> None:
    show = make_show(language="ar")
    episode = make_episode(1, transcript_key="episode-1.vtt", transcript_type="text/vtt")
    feed = build_feed(show, [episode], make_links(), episode.publish_at + timedelta(days=1))
    root = etree.fromstring(feed)
    transcript = root.find(f"channel/item/{{{PODCAST_NS}}}transcript")
    assert transcript.get("language") == "ar"
    # partytime falls back on the channel's <language> when the attribute is missing: without the channel's,
    # the language it reports can only come from the attribute.
    channel = root.find("channel")
    channel.remove(channel.find("language"))
    (item,) = partytime(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))["items"]
    assert [t["language"] for t in item["podcastTranscripts"]] == ["ar"]
