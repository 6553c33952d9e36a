"""Private shows delivered to their subscribers alone (docs/private-feeds.md, "Delivery"): nothing public, a
feed per subscriber whose every URL carries their token, media that answer only to that token or to the
show's team, and revocation that reaches every process on the next request."""

from __future__ import annotations

import gzip
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import podcastparser
import pytest
from analytics_helpers import IPHONE, published_audio
from browser import PASSWORD, add_user, sign_in, user_with_token
from conftest import make_services, prepare_database
from flask.testing import FlaskClient
from helpers import auth, create_show
from lxml import etree
from test_feed import partytime
from test_serve import Server

from podcast_host import accounts, create_app, shows, subscribers
from podcast_host.models import Episode
from podcast_host.services import Services
from podcast_host.storage import media_key, unguessable_name

BASE = "http://127.0.0.1:8000"
NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
}
CHAPTERS = {"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}]}
VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n"
AUDIO_BYTES, AUDIO_SECONDS = 240_000, 30.0


# --- setting up -------------------------------------------------------------------------------------------


def private_show(services: Services, client: FlaskClient, token: str, slug: str) -> dict[str, str]:
    """A private show `slug` with one published episode that has audio, an image, chapters and a transcript;
    the episode's slug and media keys."""
    create_show(client, token, slug=slug, title=f"Members of {slug}", locked=True)
    episode_id, audio = published_audio(services, slug, f"{slug} one", AUDIO_BYTES, AUDIO_SECONDS)
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        image = media_key(episode.show_id, "image", unguessable_name("cover", "jpg"), episode.id)
        transcript = media_key(
            episode.show_id, "transcript", unguessable_name("transcript", "vtt"), episode.id
        )
        services.store.put_bytes(image, b"\xff\xd8 not really a jpeg", "image/jpeg")
        services.store.put_bytes(transcript, VTT, "text/vtt")
        episode.image_key, episode.transcript_key, episode.transcript_type = image, transcript, "text/vtt"
        episode.chapters = CHAPTERS
        episode.show.access = "private"
        session.commit()
        return {"episode": episode.slug, "audio": audio, "image": image, "transcript": transcript}


def subscribe(services: Services, slug: str, email: str) -> str:
    """A new subscriber of the show; their token."""
    with services.db.session() as session:
        _, token = subscribers.add_subscriber(session, shows.find_show(session, slug), email)
        session.commit()
    return token


def revoke(services: Services, slug: str, email: str) -> None:
    with services.db.session() as session:
        show = shows.find_show(session, slug)
        for subscriber in subscribers.list_subscribers(session, show):
            if subscriber.email == email:
                subscribers.revoke(session, subscriber)
        session.commit()


def tokened_urls(feed: bytes) -> list[str]:
    """Every URL of the feed an app fetches: enclosures, chapters, transcripts, images."""
    root = etree.fromstring(feed)
    found = [e.get("url") for e in root.iter("enclosure")]
    found += [e.get("url") for e in root.iterfind(".//podcast:chapters", NS)]
    found += [e.get("url") for e in root.iterfind(".//podcast:transcript", NS)]
    found += [e.get("href") for e in root.iterfind(".//itunes:image", NS)]
    return [url for url in found if url]


def status(client: FlaskClient, path: str) -> int:
    """The status of a GET, its answer closed (a served file holds an open handle until then)."""
    with client.get(path) as answer:
        return answer.status_code


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
def daily(services: Services, client: FlaskClient, admin_token: str) -> dict[str, str]:
    """The private show `daily` and a subscriber's token (as "token")."""
    made = private_show(services, client, admin_token, "daily")
    return {**made, "token": subscribe(services, "daily", "ann@example.com")}


# --- nothing public -----------------------------------------------------------------------------------------


def test_a_private_show_is_invisible_everywhere_public(
    services: Services, client: FlaskClient, admin_token: str, daily: dict[str, str]
) -> None:
    create_show(client, admin_token, slug="open", title="An Open Show")
    home = client.get("/").get_data(as_text=True)
    assert "An Open Show" in home
    assert "Members of daily" not in home and "/daily/" not in home
    episode = daily["episode"]
    for path in (
        "/daily/",
        f"/daily/{episode}/",
        f"/daily/{episode}/embed",
        f"/daily/{episode}/chapters.json",
        "/daily/feed.xml",
        "/daily/feed.xml?token=made-up",
        *(f"/media/{daily[kind]}" for kind in ("audio", "image", "transcript")),
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert b"Members of daily" not in answer.data, path
    # The same 404 as a show nobody has: nothing tells a private show from no show.
    assert client.get("/daily/").get_json()["error"]["message"] == "There is no show 'daily'."
    assert client.get("/nobody/").get_json()["error"]["message"] == "There is no show 'nobody'."
    assert client.get("/open/").status_code == 200


def test_the_public_feed_of_a_public_show_has_no_block_and_no_token(
    client: FlaskClient, admin_token: str
) -> None:
    create_show(client, admin_token, slug="open", locked=True)
    answer = client.get("/open/feed.xml")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"].startswith("public, max-age=")
    assert b"block" not in answer.data and b"token=" not in answer.data
    assert etree.fromstring(answer.data).find("channel/podcast:locked", NS) is not None


# --- the subscriber's feed ----------------------------------------------------------------------------------


def test_a_subscribers_feed_carries_their_token_in_every_url_and_the_block_tags(
    client: FlaskClient, daily: dict[str, str]
) -> None:
    token = daily["token"]
    answer = client.get(f"/daily/feed.xml?token={token}")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "private, no-cache"
    feed = answer.data
    channel = etree.fromstring(feed).find("channel")
    assert channel.findtext("itunes:block", namespaces=NS) == "Yes"
    assert channel.findtext("podcast:block", namespaces=NS) == "yes"
    # podcast:locked's owner= (and itunes:owner) would give the owner's address to every subscriber.
    assert channel.find("podcast:locked", NS) is None and b"t@example.com" not in feed
    assert channel.find("{http://www.w3.org/2005/Atom}link[@rel='hub']") is None
    urls = tokened_urls(feed)
    assert len(urls) == 4  # the enclosure, chapters, transcript and the episode's image
    for url in urls:
        assert url.startswith(f"{BASE}/") and parse_qs(urlsplit(url).query) == {"token": [token]}, url
    # No other token anywhere: every place the feed was made to carry one has this subscriber's.
    assert set(re.findall(rb"token=([A-Za-z0-9_-]+)", feed)) == {token.encode()}

    with client.get(local(urls[0])) as enclosure:
        assert enclosure.status_code == 200 and len(enclosure.data) == AUDIO_BYTES
        assert enclosure.headers["Cache-Control"] == "private, no-store"
        assert "Access-Control-Allow-Origin" not in enclosure.headers
    chapters = client.get(local(urls[1]))
    assert chapters.status_code == 200 and json.loads(chapters.data) == CHAPTERS
    assert chapters.headers["Cache-Control"] == "private, no-store"
    with client.get(local(urls[2])) as transcript:
        assert transcript.status_code == 200 and transcript.data == VTT
    with client.get(local(urls[3])) as image:
        assert image.status_code == 200 and image.mimetype == "image/jpeg"


def test_each_subscriber_gets_their_own_bytes_and_etag(
    services: Services, client: FlaskClient, daily: dict[str, str]
) -> None:
    other = subscribe(services, "daily", "bo@example.com")
    first = client.get(f"/daily/feed.xml?token={daily['token']}")
    second = client.get(f"/daily/feed.xml?token={other}")
    assert first.data.replace(daily["token"].encode(), other.encode()) == second.data
    assert first.headers["ETag"] != second.headers["ETag"]
    again = client.get(
        f"/daily/feed.xml?token={daily['token']}", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    # A render of the same feed (another process, or after the cache let it go) keeps each ETag.
    services.caches.clear()
    rendered_again = client.get(
        f"/daily/feed.xml?token={daily['token']}", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert rendered_again.status_code == 304
    assert (
        client.get(f"/daily/feed.xml?token={other}", headers={"If-None-Match": first.headers["ETag"]}).data
        == second.data
    )
    zipped = client.get(f"/daily/feed.xml?token={other}", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == second.data


def test_three_feed_readers_read_the_subscribers_feed(client: FlaskClient, daily: dict[str, str]) -> None:
    token = daily["token"]
    feed = client.get(f"/daily/feed.xml?token={token}").data

    parsed = feedparser.parse(feed)
    assert not parsed.bozo and parsed.feed.title == "Members of daily"
    (entry,) = parsed.entries
    (enclosure,) = entry.enclosures
    assert enclosure.href.endswith(f"?token={token}") and int(enclosure.length) == AUDIO_BYTES

    by_gpodder = podcastparser.parse(f"{BASE}/daily/feed.xml?token={token}", io.BytesIO(feed))
    (episode,) = by_gpodder["episodes"]
    assert [e["url"] for e in episode["enclosures"]] == [enclosure.href]
    assert by_gpodder["title"] == "Members of daily"

    by_partytime = partytime(feed)
    (item,) = by_partytime["items"]
    assert item["enclosure"]["url"] == enclosure.href
    assert item["podcastChapters"]["url"].endswith(f"?token={token}")
    transcripts = [t["url"] for t in item["podcastTranscripts"]]
    assert len(transcripts) == 1 and transcripts[0].endswith(f"?token={token}")
    assert "locked" not in by_partytime

    with client.get(local(enclosure.href)) as served:
        assert served.status_code == 200 and len(served.data) == AUDIO_BYTES


def test_a_revoked_subscriber_gets_410_and_their_media_403(
    services: Services, client: FlaskClient, daily: dict[str, str]
) -> None:
    token = daily["token"]
    feed = client.get(f"/daily/feed.xml?token={token}").data
    urls = [local(url) for url in tokened_urls(feed)]
    assert len(urls) == 4 and all(status(client, url) == 200 for url in urls)

    revoke(services, "daily", "ann@example.com")

    assert client.get(f"/daily/feed.xml?token={token}").status_code == 410
    for url in urls:
        assert client.get(url).status_code == 403, url


def test_a_reissued_token_replaces_the_old_one(
    services: Services, client: FlaskClient, daily: dict[str, str]
) -> None:
    with services.db.session() as session:
        (subscriber,) = subscribers.list_subscribers(session, shows.find_show(session, "daily"))
        new = subscribers.reissue(session, subscriber)
        session.commit()
    # The old token is no one's any more: as unknown as a made-up one, for the feed and the media.
    assert client.get(f"/daily/feed.xml?token={daily['token']}").status_code == 404
    assert client.get(f"/media/{daily['audio']}?token={daily['token']}").status_code == 404
    assert client.get(f"/daily/feed.xml?token={new}").status_code == 200
    assert status(client, f"/media/{daily['audio']}?token={new}") == 200


def test_a_token_of_one_show_opens_nothing_of_another(
    services: Services, client: FlaskClient, admin_token: str, daily: dict[str, str]
) -> None:
    other = private_show(services, client, admin_token, "other")
    assert client.get(f"/other/feed.xml?token={daily['token']}").status_code == 404
    # Another show's token is as good as none: 404, so that a made-up token tells nothing about the show.
    for kind in ("audio", "image", "transcript"):
        assert client.get(f"/media/{other[kind]}?token={daily['token']}").status_code == 404, kind
    chapters = client.get(f"/other/{other['episode']}/chapters.json?token={daily['token']}")
    assert chapters.status_code == 404
    nobody = client.get(f"/nobody/{other['episode']}/chapters.json")
    assert chapters.get_json()["error"]["message"] == "There is no show 'other'."
    assert nobody.get_json()["error"]["message"] == "There is no show 'nobody'."


def test_a_renamed_private_show_redirects_only_its_subscribers(
    services: Services, client: FlaskClient, daily: dict[str, str]
) -> None:
    with services.db.session() as session:
        shows.rename_show(session, shows.find_show(session, "daily"), "members")
        session.commit()
    assert client.get("/daily/feed.xml").status_code == 404
    assert client.get("/daily/feed.xml?token=made-up").status_code == 404
    moved = client.get(f"/daily/feed.xml?token={daily['token']}")
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"{BASE}/members/feed.xml?token={daily['token']}"
    feed = client.get(local(moved.headers["Location"])).data
    # itunes:new-feed-url keeps the subscriber's token too, or their app would move to a 404.
    new_url = etree.fromstring(feed).findtext("channel/itunes:new-feed-url", namespaces=NS)
    assert new_url == f"{BASE}/members/feed.xml?token={daily['token']}"


# --- the team ---------------------------------------------------------------------------------------------


def test_a_member_fetches_private_media_without_a_token_and_a_stranger_does_not(
    services: Services, client: FlaskClient, daily: dict[str, str]
) -> None:
    add_user(services, "stranger@example.com")
    sign_in(client, "stranger@example.com", PASSWORD)
    assert client.get(f"/media/{daily['audio']}").status_code == 404

    # A viewer, the least role there is, is a member of the show.
    add_user(services, "viewer@example.com")
    with services.db.session() as session:
        accounts.grant(
            session,
            shows.find_show(session, "daily"),
            accounts.get_user(session, "viewer@example.com"),
            "viewer",
        )
        session.commit()
    viewer = create_app(services=services).test_client()
    sign_in(viewer, "viewer@example.com", PASSWORD)
    for kind in ("audio", "image", "transcript"):
        with viewer.get(f"/media/{daily[kind]}") as served:
            assert served.status_code == 200, kind
            assert served.headers["Cache-Control"] == "private, no-store"
    assert viewer.get(f"/daily/{daily['episode']}/chapters.json").status_code == 200
    # The team gets no public pages either: a private show has none.
    assert viewer.get("/daily/").status_code == 404


# --- analytics, MEDIA_URL and S3 ----------------------------------------------------------------------------


def test_subscribers_downloads_are_counted(
    services: Services, client: FlaskClient, admin_token: str, daily: dict[str, str]
) -> None:
    answer = client.get(
        f"/media/{daily['audio']}?token={daily['token']}",
        headers={"User-Agent": IPHONE},
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    answer.close()
    assert answer.status_code == 200
    assert services.recorder.flush()
    figures = client.get("/api/v1/shows/daily/analytics", headers=auth(admin_token)).get_json()
    assert figures["downloads"] == 1


@pytest.fixture
def cdn_instance(tmp_path: Path, database_url: str) -> Iterator[tuple[Services, FlaskClient, str]]:
    """An instance whose media folder is fronted by MEDIA_URL; its services, a client and an admin token."""
    built = make_services(
        tmp_path / "cdn", database_url=database_url, media_url="https://cdn.example.com/pod"
    )
    try:
        token = user_with_token(built, "admin@example.com", admin=True)
        yield built, create_app(services=built).test_client(), token
    finally:
        built.close()


def test_with_media_url_private_media_are_served_by_the_app_never_the_cdn(
    cdn_instance: tuple[Services, FlaskClient, str],
) -> None:
    built, client, admin = cdn_instance
    made = private_show(built, client, admin, "daily")
    token = subscribe(built, "daily", "ann@example.com")
    feed = client.get(f"/daily/feed.xml?token={token}").data
    assert b"cdn.example.com" not in feed
    assert len(tokened_urls(feed)) == 4
    for url in tokened_urls(feed):
        with client.get(local(url)) as served:
            assert served.status_code == 200, url
    assert client.get(f"/media/{made['audio']}").status_code == 404
    # A public show's files still go to the CDN.
    create_show(client, admin, slug="open")
    _, public_audio = published_audio(built, "open", "Open one", 1000, 1.0)
    answer = client.get(f"/media/{public_audio}")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("https://cdn.example.com/pod/")


@pytest.mark.s3
@pytest.mark.parametrize("cdn", [None, "https://cdn.example.com"])
def test_on_s3_private_media_redirect_to_a_url_signed_for_a_minute(
    tmp_path: Path, seaweedfs: Any, s3_bucket: str, cdn: str | None
) -> None:
    url = f"s3://{s3_bucket}/media?endpoint_url={seaweedfs.endpoint_url}&region=us-east-1"
    built = make_services(tmp_path, storage_url=url, **({"media_url": cdn} if cdn else {}))
    try:
        admin = user_with_token(built, "admin@example.com", admin=True)
        client = create_app(services=built).test_client()
        made = private_show(built, client, admin, "daily")
        token = subscribe(built, "daily", "ann@example.com")
        answer = client.get(f"/media/{made['audio']}?token={token}")
        assert answer.status_code == 302
        assert answer.headers["Cache-Control"] == "private, no-store"
        target = answer.headers["Location"]
        assert target.startswith(seaweedfs.endpoint_url)
        expires = int(parse_qs(urlsplit(target).query)["X-Amz-Expires"][0])
        assert 0 < expires <= 60
        with urllib.request.urlopen(target) as stored:
            assert len(stored.read()) == AUDIO_BYTES
        assert client.get(f"/media/{made['audio']}").status_code == 404
    finally:
        built.close()


# --- revocation across processes ----------------------------------------------------------------------------


def test_revocation_reaches_two_serve_processes_at_once(tmp_path: Path) -> None:
    """Two `podcast-host serve` processes on one database: a subscriber revoked through a third process
    gets 410 and 403 from both on their very next requests."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    prepare_database(url)
    built = make_services(tmp_path, database_url=url)
    try:
        admin = user_with_token(built, "admin@example.com", admin=True)
        made = private_show(built, create_app(services=built).test_client(), admin, "daily")
        token = subscribe(built, "daily", "ann@example.com")
        servers = [Server(tmp_path / "instance", url) for _ in range(2)]
        for server in servers:
            server.start()
        try:
            feed_path = f"/daily/feed.xml?token={token}"
            media_path = f"/media/{made['audio']}?token={token}"
            for server in servers:
                status, headers, body = server.request("GET", feed_path)
                assert status == 200 and headers["Cache-Control"] == "private, no-cache"
                enclosure = etree.fromstring(body).find("channel/item/enclosure").get("url")
                assert enclosure == f"http://127.0.0.1:{server.port}{media_path}"
                assert server.request("GET", media_path)[0] == 200
            revoke(built, "daily", "ann@example.com")
            for server in servers:
                assert server.request("GET", feed_path)[0] == 410
                assert server.request("GET", media_path)[0] == 403
                assert server.request("HEAD", media_path)[0] == 403
        finally:
            for server in servers:
                server.stop()
    finally:
        built.close()
