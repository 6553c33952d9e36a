"""Shared feed addresses noticed (docs/private-feeds.md, "Shared addresses"): the networks a subscriber's
token is used from, counted per UTC day as salted hashes; a flag past PODCAST_HOST_SHARE_ALERT that the owner
clears by re-issuing the token; and a private show's downloads per subscriber, for its owners alone."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from analytics_helpers import IPHONE, every_value
from browser import dashboard_app, grant, post_form, signed_in, user_with_token
from conftest import make_services
from flask.testing import FlaskClient
from helpers import auth, user_token
from sqlalchemy import func, select
from test_private_feeds import private_show, subscribe

from podcast_host import create_app, sharing
from podcast_host.analytics import salts
from podcast_host.models import Subscriber, SubscriberNetwork, utcnow
from podcast_host.services import Services

# Upserts, counts and cascades of the network rows, and the tallies per subscriber: on PostgreSQL too.

SUBSCRIBERS = "/api/v1/shows/daily/subscribers"


@pytest.fixture
def proxied(tmp_path: Path, database_url: str) -> Iterator[tuple[Services, FlaskClient, str]]:
    """An instance behind one trusted reverse proxy (X-Forwarded-For believed), with the private show
    `daily`; its services, a client and the owner's API token."""
    built = make_services(tmp_path, database_url=database_url, trusted_proxies=1)
    try:
        client, owner = _instance_with_daily(built)
        yield built, client, owner
    finally:
        built.close()


def _instance_with_daily(built: Services) -> tuple[FlaskClient, str]:
    """The private show `daily` made by owner@example.com (who can sign in too); a client and their token."""
    owner = user_with_token(built, "owner@example.com")
    client = create_app(services=built).test_client()
    private_show(built, client, owner, "daily")
    return client, owner


def _feed_from(client: FlaskClient, token: str, address: str) -> int:
    answer = client.get(f"/daily/feed.xml?token={token}", headers={"X-Forwarded-For": address})
    return answer.status_code


def _listed(client: FlaskClient, owner: str) -> dict[str, dict[str, Any]]:
    answer = client.get(SUBSCRIBERS, headers=auth(owner))
    assert answer.status_code == 200
    return {s["email"]: s for s in answer.get_json()["subscribers"]}


def test_network_of_groups_ipv4_by_24_and_ipv6_by_48() -> None:
    assert sharing.network_of("198.51.100.7") == sharing.network_of("198.51.100.250") == "198.51.100.0/24"
    assert sharing.network_of("198.51.101.7") == "198.51.101.0/24"
    assert sharing.network_of("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert (
        sharing.network_of("2001:db8:1:1::1") == sharing.network_of("2001:db8:1:ffff::2") == "2001:db8:1::/48"
    )
    assert sharing.network_of("2001:db8:2::1") == "2001:db8:2::/48"
    # A proxy that writes the port: read without it. No address at all: one network, which flags nobody.
    assert sharing.network_of("198.51.100.7:5678") == "198.51.100.0/24"
    assert sharing.network_of("[2001:db8:1::9]:443") == "2001:db8:1::/48"
    assert sharing.network_of("unknown") == sharing.network_of("garbage:1") == sharing.UNKNOWN


@pytest.mark.postgres
def test_eleven_networks_in_a_day_flag_a_shared_address_and_a_new_token_clears_it(
    proxied: tuple[Services, FlaskClient, str],
) -> None:
    built, client, owner = proxied
    token = subscribe(built, "daily", "ann@example.com")
    other = subscribe(built, "daily", "bob@example.com")
    # Ten networks (two addresses in each, and a second poll from each): not more than the limit of 10.
    for n in range(10):
        for host in (7, 200):
            assert _feed_from(client, token, f"198.51.{n}.{host}") == 200
        assert _feed_from(client, token, f"198.51.{n}.7") == 200
    assert _listed(client, owner)["ann@example.com"]["suspected_shared"] is False
    # The eleventh network, from a media request this time: flagged.
    media = client.get(
        f"/media/{_audio_key(built)}?token={token}", headers={"X-Forwarded-For": "2001:db8:77::5"}
    )
    media.close()
    assert media.status_code == 200
    listed = _listed(client, owner)
    assert (listed["ann@example.com"]["suspected_shared"], listed["ann@example.com"]["shared_networks"]) == (
        True,
        11,
    )
    # Another subscriber's networks are their own.
    assert _feed_from(client, other, "198.51.3.9") == 200
    assert _listed(client, owner)["bob@example.com"]["suspected_shared"] is False

    # One click: a new token. The flag and the old token's networks are gone; the new one counts afresh.
    ann = listed["ann@example.com"]["id"]
    reissued = client.post(f"{SUBSCRIBERS}/{ann}/token", headers=auth(owner)).get_json()
    assert (reissued["suspected_shared"], reissued["shared_networks"]) == (False, 0)
    new_token = reissued["feed_url"].rsplit("token=", 1)[1]
    assert _feed_from(client, token, "198.51.50.1") == 404
    for n in range(3):
        assert _feed_from(client, new_token, f"203.0.{n}.1") == 200
    with built.db.session() as session:
        counted = session.scalar(
            select(func.count()).select_from(SubscriberNetwork).where(SubscriberNetwork.subscriber_id == ann)
        )
    assert counted == 3
    assert _listed(client, owner)["ann@example.com"]["suspected_shared"] is False


def test_without_a_trusted_proxy_a_forwarded_header_is_not_believed(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    private_show(services, client, admin_token, "daily")
    token = subscribe(services, "daily", "ann@example.com")
    for n in range(12):
        assert _feed_from(client, token, f"198.51.{n}.1") == 200
    with services.db.session() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert subscriber.shared_networks == 0
        # Every request came from the test client's one address.
        assert session.scalar(select(func.count()).select_from(SubscriberNetwork)) == 1


def test_the_limit_is_a_setting(tmp_path: Path, database_url: str) -> None:
    built = make_services(tmp_path, database_url=database_url, trusted_proxies=1, share_alert=2)
    try:
        client, owner = _instance_with_daily(built)
        token = subscribe(built, "daily", "ann@example.com")
        for n in range(2):
            _feed_from(client, token, f"198.51.{n}.1")
        assert _listed(client, owner)["ann@example.com"]["suspected_shared"] is False
        _feed_from(client, token, "198.51.9.1")
        assert _listed(client, owner)["ann@example.com"]["shared_networks"] == 3
    finally:
        built.close()


@pytest.mark.postgres
def test_networks_are_stored_only_as_salted_hashes_and_forgotten_with_their_day(
    proxied: tuple[Services, FlaskClient, str],
) -> None:
    built, client, _ = proxied
    token = subscribe(built, "daily", "ann@example.com")
    for address in ("198.51.100.23", "2001:db8:abcd:12::1"):
        assert _feed_from(client, token, address) == 200
    stored = every_value(built)
    for raw in ("198.51.100", "2001:db8:abcd", "2001:db8"):
        assert raw not in stored
    with built.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SubscriberNetwork)) == 2
        salts.forget_closed_days(session, utcnow().date() + timedelta(days=1))
        session.commit()
        assert session.scalar(select(func.count()).select_from(SubscriberNetwork)) == 2  # yesterday's stay
        salts.forget_closed_days(session, utcnow().date() + timedelta(days=2))
        session.commit()
        assert session.scalar(select(func.count()).select_from(SubscriberNetwork)) == 0


def test_a_revoked_or_unknown_token_notes_nothing(proxied: tuple[Services, FlaskClient, str]) -> None:
    built, client, owner = proxied
    token = subscribe(built, "daily", "ann@example.com")
    ann = _listed(client, owner)["ann@example.com"]["id"]
    assert client.delete(f"{SUBSCRIBERS}/{ann}", headers=auth(owner)).status_code == 204
    assert _feed_from(client, token, "198.51.1.1") == 410
    assert _feed_from(client, "made-up-token", "198.51.2.1") == 404
    with built.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SubscriberNetwork)) == 0


def test_the_dashboard_shows_a_badge_and_a_new_address_in_one_click(
    proxied: tuple[Services, FlaskClient, str],
) -> None:
    built, client, _ = proxied
    token = subscribe(built, "daily", "ann@example.com")
    for n in range(11):
        _feed_from(client, token, f"198.51.{n}.1")
    page = signed_in(dashboard_app(built), "owner@example.com")
    listed = page.get("/admin/shows/daily/subscribers").get_data(as_text=True)
    assert "shared?" in listed
    assert "used from 11 networks in one day" in html.unescape(listed)
    ann = _subscriber_id(built, "ann@example.com")
    reissued = post_form(page, f"/admin/shows/daily/subscribers/{ann}/token").get_data(as_text=True)
    assert "shared?" not in reissued
    assert "/daily/feed.xml?token=" in reissued


# --- downloads per subscriber ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_private_downloads_count_per_subscriber_for_owners_alone(
    proxied: tuple[Services, FlaskClient, str],
) -> None:
    built, client, owner = proxied
    ann = subscribe(built, "daily", "ann@example.com")
    bob = subscribe(built, "daily", "bob@example.com")
    subscribe(built, "daily", "cy@example.com")
    key = _audio_key(built)
    # Ann downloads twice (one download a day), Bob once; both from the same office address.
    for token in (ann, ann, bob):
        answer = client.get(
            f"/media/{key}?token={token}", headers={"User-Agent": IPHONE, "X-Forwarded-For": "198.51.100.4"}
        )
        answer.close()
        assert answer.status_code == 200
    assert built.recorder.flush()

    figures = client.get("/api/v1/shows/daily/analytics/subscribers", headers=auth(owner))
    assert figures.status_code == 200
    body = figures.get_json()
    assert [(s["email"], s["downloads"]) for s in body["subscribers"]] == [
        ("ann@example.com", 1),
        ("bob@example.com", 1),
        ("cy@example.com", 0),
    ]
    # Two subscribers behind one address are two listeners: the show's report counts two downloads, and
    # lists no subscriber.
    report = client.get("/api/v1/shows/daily/analytics", headers=auth(owner)).get_json()
    assert report["downloads"] == 2
    assert "subscriber" not in str(report)

    editor = user_with_token(built, "ed@example.com")
    grant(built, "daily", "ed@example.com", "editor")
    assert client.get("/api/v1/shows/daily/analytics/subscribers", headers=auth(editor)).status_code == 403
    stranger = user_token(built, "st@example.com")
    assert client.get("/api/v1/shows/daily/analytics/subscribers", headers=auth(stranger)).status_code == 404

    app = dashboard_app(built)
    owners_page = signed_in(app, "owner@example.com").get("/admin/shows/daily/subscribers")
    assert owners_page.get_data(as_text=True).count("1 download in 30 days") == 2
    editors_page = signed_in(app, "ed@example.com").get("/admin/shows/daily/subscribers")
    assert editors_page.status_code == 200
    assert "in 30 days" not in editors_page.get_data(as_text=True)


def test_a_private_show_is_unknown_to_api_users_without_a_role(
    proxied: tuple[Services, FlaskClient, str],
) -> None:
    built, client, owner = proxied
    stranger = user_token(built, "st@example.com")
    for path in ("/api/v1/shows/daily", SUBSCRIBERS, "/api/v1/shows/daily/analytics"):
        answer = client.get(path, headers=auth(stranger))
        assert answer.status_code == 404, path
        assert answer.get_json()["error"]["message"] == "There is no show 'daily'."
    assert client.get("/api/v1/shows/daily", headers=auth(owner)).status_code == 200


# --- helpers -------------------------------------------------------------------------------------------


def _audio_key(built: Services) -> str:
    from podcast_host.models import Episode

    with built.db.session() as session:
        key = session.scalars(select(Episode.audio_key).where(Episode.audio_key.is_not(None))).first()
    assert key
    return key


def _subscriber_id(built: Services, email: str) -> int:
    with built.db.session() as session:
        found = session.scalars(select(Subscriber.id).where(Subscriber.email == email)).one()
    return found
