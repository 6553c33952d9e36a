"""Script injection through producer text: every page and the feed escape or strip it.

See docs/feeds.md, "Show notes" and "Producer text".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from conftest import make_services
from flask.testing import FlaskClient
from helpers import auth, create_show, upload_episode
from markupsafe import escape

from podcast_host import accounts, create_app

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[link](javascript:alert(1))",
    '"><svg onload=alert(1)>',
]
BASE = "http://127.0.0.1:8000"
NS = {
    "content": "http://purl.org/rss/1.0/modules/content/",
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
}


class ScriptAudit(HTMLParser):
    """Collects what could run in a browser: script elements, on* attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.json_ld: list[str] = []
        self._in_json_ld = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if value and "".join(value.split()).lower().startswith(("javascript:", "vbscript:", "data:text")):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            self._in_json_ld = values.get("type") == "application/ld+json"
            if not (self._in_json_ld or (values.get("src") or "").startswith("/static/")):
                self.problems.append(f"<script {values}>")
        if tag in ("iframe", "object", "embed", "base", "form"):
            self.problems.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json_ld = False

    def handle_data(self, data: str) -> None:
        if self._in_json_ld:
            self.json_ld.append(data)


def audit(html: str) -> ScriptAudit:
    parser = ScriptAudit()
    parser.feed(html)
    parser.close()
    for block in parser.json_ld:
        json.loads(block)  # still one whole JSON document: nothing closed the script early
    return parser


@pytest.fixture(
    scope="module", params=PAYLOADS, ids=["script", "img-onerror", "markdown-javascript", "svg-onload"]
)
def hostile(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sample_mp3: Path
) -> Iterator[dict[str, Any]]:
    """A show and a published episode with the payload in every text a producer types; the tests only read
    them, so each payload's site is made once for the module."""
    payload = request.param
    services = make_services(tmp_path_factory.mktemp("xss"))
    xss_client = create_app(services=services).test_client()
    with services.db.session() as session:
        user = accounts.create_user(session, "admin@example.com", None, admin=True)
        _, token = accounts.create_token(session, user)
        session.commit()
    create_show(
        xss_client,
        token,
        "xss",
        title=f"Show {payload}",
        description=f"About {payload} here.",
        author=f"Author {payload}",
    )
    response = upload_episode(
        xss_client,
        token,
        "xss",
        sample_mp3,
        title=f"Episode {payload}",
        description=f"Notes {payload}\n\n* item {payload}",
    )
    assert response.status_code == 202, response.get_json()
    episode = xss_client.get(f"/api/v1/episodes/{response.get_json()['id']}", headers=auth(token)).get_json()
    assert episode["status"] == "published", episode
    yield {"payload": payload, "episode_path": episode["page_url"].removeprefix(BASE), "client": xss_client}
    services.close()


@pytest.fixture
def xss_client(hostile: dict[str, Any]) -> FlaskClient:
    return hostile["client"]


def test_pages_escape_or_strip_producer_text(xss_client: FlaskClient, hostile: dict[str, Any]) -> None:
    episode_path = hostile["episode_path"]
    for path in ("/", "/xss/", episode_path, f"{episode_path}embed"):
        response = xss_client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert audit(html).problems == [], path


def test_titles_show_the_payload_as_text(xss_client: FlaskClient, hostile: dict[str, Any]) -> None:
    escaped = str(escape(hostile["payload"]))  # what Jinja's autoescape writes
    assert f"Show {escaped}" in xss_client.get("/").get_data(as_text=True)
    assert f"Episode {escaped}" in xss_client.get(hostile["episode_path"]).get_data(as_text=True)


def feed_html_fields(feed: bytes, channel: bool) -> list[tuple[str, str]]:
    root = ElementTree.fromstring(feed)
    scope = root.find("channel") if channel else root
    assert scope is not None
    paths = (
        ["description", "itunes:summary"]
        if channel
        else ["channel/item/description", "channel/item/content:encoded", "channel/item/itunes:summary"]
    )
    return [(path, element.text or "") for path in paths for element in scope.findall(path, NS)]


def test_the_feed_carries_no_script_in_episode_notes(
    xss_client: FlaskClient, hostile: dict[str, Any]
) -> None:
    feed = xss_client.get("/xss/feed.xml").data
    fields = feed_html_fields(feed, channel=False)
    assert {path for path, _ in fields} >= {"channel/item/description", "channel/item/content:encoded"}
    for path, html in fields:
        assert audit(html).problems == [], (path, html)


def test_the_feed_carries_no_script_in_the_show_description(
    xss_client: FlaskClient, hostile: dict[str, Any]
) -> None:
    for path, html in feed_html_fields(xss_client.get("/xss/feed.xml").data, channel=True):
        assert audit(html).problems == [], (path, html)
