"""Upload to feed, end to end: API upload, processing, feed, page and enclosure, on both media stores."""

from __future__ import annotations

from pathlib import Path
from urllib.request import Request, urlopen
from xml.etree import ElementTree

import feedparser
import pytest
from flask.testing import FlaskClient
from helpers import auth, create_show, upload_episode

from podcast_host import create_app
from podcast_host.services import Services


def _publish_one(client: FlaskClient, token: str, sample_mp3: Path) -> dict:
    create_show(client, token)
    response = upload_episode(client, token, "daily", sample_mp3, description="Notes with **bold** text.")
    assert response.status_code == 202, response.get_json()
    episode = response.get_json()
    # The embedded queue runs the job before the request returns in tests; the API shows the outcome.
    current = client.get(f"/api/v1/episodes/{episode['id']}", headers=auth(token)).get_json()
    assert current["status"] == "published", current
    return current


@pytest.mark.postgres
def test_upload_is_processed_and_listed_in_the_feed(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    episode = _publish_one(client, admin_token, sample_mp3)
    assert episode["error"] is None
    assert episode["duration_s"] == pytest.approx(4.0, abs=0.2)
    assert episode["enclosure"]["type"] == "audio/mpeg"

    feed = client.get("/daily/feed.xml")
    assert feed.status_code == 200
    assert feed.content_type == "application/rss+xml; charset=utf-8"
    parsed = feedparser.parse(feed.data)
    assert parsed.bozo == 0
    (item,) = parsed.entries
    assert item.title == "Episode one"
    enclosure = item.enclosures[0]
    assert enclosure.href == episode["enclosure"]["url"]
    assert int(enclosure.length) == episode["enclosure"]["length"]

    media_path = enclosure.href.removeprefix("http://127.0.0.1:8000")
    with client.get(media_path) as served:
        assert served.status_code == 200
        assert len(served.data) == int(enclosure.length)
        assert served.data[:3] == b"ID3"


def test_enclosure_answers_head_and_byte_ranges(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    episode = _publish_one(client, admin_token, sample_mp3)
    path = episode["enclosure"]["url"].removeprefix("http://127.0.0.1:8000")
    length = episode["enclosure"]["length"]

    with client.head(path) as head:
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == length
        assert head.headers["Accept-Ranges"] == "bytes"
    with client.get(path) as whole:
        everything = whole.data
    with client.get(path, headers={"Range": "bytes=100-199"}) as ranged:
        assert ranged.status_code == 206
        assert ranged.headers["Content-Range"] == f"bytes 100-199/{length}"
        assert ranged.data == everything[100:200]
    with client.get(path, headers={"Range": "bytes=-10"}) as tail:
        assert tail.status_code == 206
        assert tail.headers["Content-Range"] == f"bytes {length - 10}-{length - 1}/{length}"
        assert tail.data == everything[-10:]


def test_pages_show_the_published_episode(client: FlaskClient, admin_token: str, sample_mp3: Path) -> None:
    episode = _publish_one(client, admin_token, sample_mp3)
    home = client.get("/", headers={"Accept": "text/html"})
    assert "The Daily Test" in home.get_data(as_text=True)
    show_page = client.get("/daily/").get_data(as_text=True)
    assert "Episode one" in show_page
    page = client.get(f"/daily/{episode['slug']}/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'preload="none"' in html
    assert episode["enclosure"]["url"] in html
    assert "<strong>bold</strong>" in html
    assert page.headers["X-Frame-Options"] == "DENY"
    embed = client.get(f"/daily/{episode['slug']}/embed")
    assert embed.status_code == 200 and "X-Frame-Options" not in embed.headers


@pytest.mark.slow
@pytest.mark.s3
def test_end_to_end_on_seaweedfs(s3_services: Services, sample_mp3: Path) -> None:
    """The same path with media on a real S3 server: the enclosure redirects to a presigned URL."""
    from podcast_host import accounts

    with s3_services.db.session() as session:
        user = accounts.create_user(session, "s3@example.com", None, admin=True)
        _, token = accounts.create_token(session, user)
        session.commit()
    client = create_app(services=s3_services).test_client()
    episode = _publish_one(client, token, sample_mp3)
    length = episode["enclosure"]["length"]

    path = episode["enclosure"]["url"].removeprefix("http://127.0.0.1:8000")
    redirect = client.get(path)
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(s3_services.settings.storage_url.split("endpoint_url=")[1].split("&")[0])

    # HEAD works through the redirect hop too: the app signs the presigned URL for HEAD.
    head_redirect = client.head(path)
    assert head_redirect.status_code == 302
    with urlopen(Request(head_redirect.headers["Location"], method="HEAD"), timeout=10) as head:
        assert int(head.headers["Content-Length"]) == length
    with urlopen(Request(location, headers={"Range": "bytes=0-99"}), timeout=10) as ranged:
        assert ranged.status == 206
        assert ranged.headers["Content-Range"] == f"bytes 0-99/{length}"
        assert len(ranged.read()) == 100
    with urlopen(location, timeout=10) as whole:
        assert len(whole.read()) == length

    feed = ElementTree.fromstring(client.get("/daily/feed.xml").data)
    enclosure = feed.find("channel/item/enclosure")
    assert enclosure is not None and int(enclosure.get("length", "0")) == length


@pytest.mark.postgres
def test_healthz_reports_database_and_store(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_store_is_gone(tmp_path: Path) -> None:
    from conftest import make_services

    # Port 9 on loopback refuses connections at once: an object store that does not answer.
    services = make_services(
        tmp_path, storage_url="s3://gone?endpoint_url=http://127.0.0.1:9&region=us-east-1"
    )
    response = create_app(services=services).test_client().get("/healthz")
    assert response.status_code == 503
    assert "media store" in response.get_json()["problems"][0]
    services.close()


def test_json_ld_cannot_be_broken_out_of(client: FlaskClient, admin_token: str, sample_mp3: Path) -> None:
    create_show(client, admin_token)
    hostile = 'Q&A <!--<script>alert(1)</script> "quotes"'
    response = upload_episode(client, admin_token, "daily", sample_mp3, title=hostile)
    episode = response.get_json()
    html = client.get(f"/daily/{episode['slug']}/").get_data(as_text=True)
    block = html.split('<script type="application/ld+json">')[1].split("</script>")[0]
    assert "<" not in block
    import json

    assert json.loads(block)["name"] == hostile
    assert "<!--<script>" not in html
