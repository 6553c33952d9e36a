"""A private show's subscribers (docs/private-feeds.md) through the API, the command line, `sync` and the
dashboard: who may manage them, tokens kept only hashed and bound to one show, CSV imports that keep the good
rows, re-issued and revoked feed addresses."""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import add_user, dashboard_app, grant, post_form, signed_in
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from helpers import auth, create_show, user_token
from sqlalchemy import select

from podcast_host import shows, subscribers
from podcast_host.cli import main
from podcast_host.models import Show, Subscriber
from podcast_host.services import Services
from podcast_host.sync import sync_directory

# The CSV's one flush of many rows, checked against the rows before it, runs on PostgreSQL too; the
# others are about routes, roles, pages, the CLI and refusals checked before anything is written.

BASE = "/api/v1/shows/daily/subscribers"


def _token_of(feed_url: str) -> str:
    parts = urlsplit(feed_url)
    assert parts.path == "/daily/feed.xml", feed_url
    (token,) = parse_qs(parts.query)["token"]
    return token


def _lookup(services: Services, slug: str, token: str) -> Subscriber | None:
    with services.db.session() as session:
        show = shows.find_show(session, slug)
        found = subscribers.subscriber_for_token(session, show.id, token)
        if found is not None:
            session.expunge(found)
        return found


@pytest.fixture
def owner_token(services: Services, client: FlaskClient) -> str:
    """owner@example.com's API token; they own the private show `daily`."""
    secret = user_token(services, "owner@example.com")
    shown = create_show(client, secret, access="private")
    assert shown["access"] == "private"
    return secret


def _member(services: Services, email: str, role: str) -> str:
    secret = user_token(services, email)
    grant(services, "daily", email, role)
    return secret


# --- the API ----------------------------------------------------------------------------------------------


def test_editors_and_owners_manage_subscribers_viewers_and_strangers_may_not(
    services: Services, client: FlaskClient, owner_token: str
) -> None:
    editor = _member(services, "ed@example.com", "editor")
    viewer = _member(services, "vi@example.com", "viewer")
    stranger = user_token(services, "st@example.com")

    made = client.post(BASE, json={"email": "Ann@Example.com", "name": "Ann"}, headers=auth(editor))
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert {k: body[k] for k in ("email", "name", "revoked", "suspected_shared", "shared_networks")} == {
        "email": "ann@example.com",
        "name": "Ann",
        "revoked": False,
        "suspected_shared": False,
        "shared_networks": 0,
    }
    assert body["feed_url"].startswith("http://127.0.0.1:8000/daily/feed.xml?token=")
    assert len(_token_of(body["feed_url"])) == 32  # 192 random bits

    for secret in (owner_token, editor):
        listed = client.get(BASE, headers=auth(secret))
        assert listed.status_code == 200
        assert [(s["email"], s["feed_url"]) for s in listed.get_json()["subscribers"]] == [
            ("ann@example.com", None)
        ]
    # A viewer is refused; to a stranger the private show does not exist.
    for secret, refused in ((viewer, 403), (stranger, 404)):
        assert client.get(BASE, headers=auth(secret)).status_code == refused
        assert client.post(BASE, json={"email": "x@example.com"}, headers=auth(secret)).status_code == refused
        assert client.delete(f"{BASE}/{body['id']}", headers=auth(secret)).status_code == refused
        assert client.post(f"{BASE}/{body['id']}/token", headers=auth(secret)).status_code == refused
    assert client.get("/api/v1/shows/nowhere/subscribers", headers=auth(owner_token)).status_code == 404
    assert client.get(BASE).status_code == 401


def test_a_subscriber_twice_or_with_a_bad_address_is_refused(client: FlaskClient, owner_token: str) -> None:
    assert client.post(BASE, json={"email": "ann@example.com"}, headers=auth(owner_token)).status_code == 201
    again = client.post(BASE, json={"email": " ANN@example.com"}, headers=auth(owner_token))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    bad = client.post(BASE, json={"email": "not an address"}, headers=auth(owner_token))
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "email"
    long_name = client.post(
        BASE, json={"email": "b@example.com", "name": "n" * 201}, headers=auth(owner_token)
    )
    assert long_name.status_code == 422 and long_name.get_json()["error"]["field"] == "name"


def test_tokens_are_stored_only_as_their_hash(
    services: Services, client: FlaskClient, owner_token: str
) -> None:
    made = client.post(BASE, json={"email": "ann@example.com", "name": "Ann"}, headers=auth(owner_token))
    token = _token_of(made.get_json()["feed_url"])
    with services.db.session() as session:
        row = session.scalars(select(Subscriber)).one()
        values = [str(getattr(row, column.key)) for column in Subscriber.__table__.columns]
        assert not any(token in value for value in values), values
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_a_token_of_one_show_opens_nothing_of_another(
    services: Services, client: FlaskClient, owner_token: str
) -> None:
    create_show(client, owner_token, slug="other", access="private")
    made = client.post(BASE, json={"email": "ann@example.com"}, headers=auth(owner_token))
    token = _token_of(made.get_json()["feed_url"])
    found = _lookup(services, "daily", token)
    assert found is not None and found.email == "ann@example.com"
    assert _lookup(services, "other", token) is None
    assert _lookup(services, "daily", token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert _lookup(services, "daily", "") is None


def test_a_new_token_replaces_the_old_one_at_once(
    services: Services, client: FlaskClient, owner_token: str
) -> None:
    made = client.post(BASE, json={"email": "ann@example.com"}, headers=auth(owner_token)).get_json()
    old = _token_of(made["feed_url"])
    again = client.post(f"{BASE}/{made['id']}/token", headers=auth(owner_token))
    assert again.status_code == 200
    new = _token_of(again.get_json()["feed_url"])
    assert new != old
    assert _lookup(services, "daily", old) is None
    found = _lookup(services, "daily", new)
    assert found is not None and found.id == made["id"] and found.revoked_at is None


# Adding the address again rests on a partial unique index, which each database defines its own way.
@pytest.mark.postgres
def test_a_revoked_subscriber_stays_listed_and_gets_no_new_token(
    services: Services, client: FlaskClient, owner_token: str
) -> None:
    made = client.post(BASE, json={"email": "ann@example.com"}, headers=auth(owner_token)).get_json()
    token = _token_of(made["feed_url"])
    assert client.delete(f"{BASE}/{made['id']}", headers=auth(owner_token)).status_code == 204
    # Revoking twice is no error; the token still names the subscriber, who is marked revoked.
    assert client.delete(f"{BASE}/{made['id']}", headers=auth(owner_token)).status_code == 204
    found = _lookup(services, "daily", token)
    assert found is not None and found.revoked_at is not None
    listed = client.get(BASE, headers=auth(owner_token)).get_json()["subscribers"]
    assert [(s["email"], s["revoked"]) for s in listed] == [("ann@example.com", True)]
    assert client.post(f"{BASE}/{made['id']}/token", headers=auth(owner_token)).status_code == 409
    # The address may subscribe again, with a new feed.
    assert client.post(BASE, json={"email": "ann@example.com"}, headers=auth(owner_token)).status_code == 201
    assert client.delete(f"{BASE}/999999", headers=auth(owner_token)).status_code == 404


def test_a_subscriber_of_another_show_is_not_found_here(client: FlaskClient, owner_token: str) -> None:
    create_show(client, owner_token, slug="other", access="private")
    other = client.post(
        "/api/v1/shows/other/subscribers", json={"email": "ann@example.com"}, headers=auth(owner_token)
    ).get_json()
    assert client.delete(f"{BASE}/{other['id']}", headers=auth(owner_token)).status_code == 404
    assert client.post(f"{BASE}/{other['id']}/token", headers=auth(owner_token)).status_code == 404


CSV = (
    "email,name\n"  # 1: header
    "ann@example.com,Ann\n"  # 2
    "\n"  # 3: empty
    "not-an-address,Bob\n"  # 4
    "ann@example.com,Ann again\n"  # 5: already added on line 2
    f"cy@example.com,{'c' * 201}\n"  # 6: name too long
    "  \n"  # 7: blank
    "dee@example.com\n"  # 8: no name
    "existing@example.com,Eve\n"  # 9: subscribed before the import
)


def _check_csv_answer(answer: dict[str, Any]) -> None:
    assert [s["email"] for s in answer["added"]] == ["ann@example.com", "dee@example.com"]
    assert all(s["feed_url"] and "?token=" in s["feed_url"] for s in answer["added"])
    assert [r["line"] for r in answer["refused"]] == [4, 5, 6, 9]
    messages = [r["message"] for r in answer["refused"]]
    assert "not an email address" in messages[0]
    assert "already subscribes" in messages[1] and "already subscribes" in messages[3]
    assert "200 characters" in messages[2]


@pytest.mark.parametrize("sent_as", ["text/csv", "multipart"])
def test_a_csv_import_keeps_the_good_rows_and_names_the_bad_lines(
    services: Services, client: FlaskClient, owner_token: str, sent_as: str
) -> None:
    client.post(BASE, json={"email": "existing@example.com"}, headers=auth(owner_token))
    if sent_as == "text/csv":
        answer = client.post(
            f"{BASE}.csv", data=CSV.encode(), content_type="text/csv", headers=auth(owner_token)
        )
    else:
        import io

        answer = client.post(
            f"{BASE}.csv",
            data={"file": (io.BytesIO(CSV.encode()), "list.csv")},
            content_type="multipart/form-data",
            headers=auth(owner_token),
        )
    assert answer.status_code == 200, answer.get_json()
    _check_csv_answer(answer.get_json())
    with services.db.session() as session:
        emails = session.scalars(select(Subscriber.email).order_by(Subscriber.id)).all()
    assert emails == ["existing@example.com", "ann@example.com", "dee@example.com"]


def test_a_csv_import_refuses_what_is_not_csv_text(client: FlaskClient, owner_token: str) -> None:
    not_utf8 = client.post(
        f"{BASE}.csv", data=b"\xff\xfe\x00a", content_type="text/csv", headers=auth(owner_token)
    )
    assert not_utf8.status_code == 422
    as_json = client.post(f"{BASE}.csv", json={"email": "a@example.com"}, headers=auth(owner_token))
    assert as_json.status_code == 415


def test_the_show_access_is_an_owners_choice(services: Services, client: FlaskClient) -> None:
    owner = user_token(services, "owner@example.com")
    assert create_show(client, owner)["access"] == "public"
    editor = _member(services, "ed@example.com", "editor")
    refused = client.patch("/api/v1/shows/daily", json={"access": "private"}, headers=auth(editor))
    assert refused.status_code == 403
    bad = client.patch("/api/v1/shows/daily", json={"access": "secret"}, headers=auth(owner))
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "access"
    made = client.patch("/api/v1/shows/daily", json={"access": "private"}, headers=auth(owner))
    assert made.status_code == 200 and made.get_json()["access"] == "private"
    assert client.get("/api/v1/shows/daily", headers=auth(editor)).get_json()["access"] == "private"


def test_the_openapi_document_lists_the_subscriber_routes(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/api/v1/shows/{slug}/subscribers"]) >= {"get", "post"}
    assert "post" in paths["/api/v1/shows/{slug}/subscribers.csv"]
    assert "post" in paths["/api/v1/shows/{slug}/subscribers/{subscriber_id}/token"]
    assert "delete" in paths["/api/v1/shows/{slug}/subscribers/{subscriber_id}"]
    # The show's own schema names its access too.
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["components"]["schemas"]["Show"]["properties"]["access"]["enum"] == ["public", "private"]


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> CliRunner:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", database_url)
    monkeypatch.setenv("PODCAST_HOST_PUBLIC_URL", "https://pods.example")
    return CliRunner()


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_subscribers_from_the_command_line(runner: CliRunner, tmp_path: Path) -> None:
    _ok(runner, "db", "upgrade")
    _ok(runner, "show", "add", "club", "--title", "Members' Club", "--private")
    feed = _ok(runner, "subscriber", "add", "club", "Ann@example.com", "--name", "Ann").splitlines()[-1]
    assert re.fullmatch(r"https://pods\.example/club/feed\.xml\?token=[\w-]{32}", feed), feed

    listing = _ok(runner, "subscriber", "list", "club").splitlines()
    assert len(listing) == 1
    subscriber_id, email, name, state, created = listing[0].split("\t")
    assert (email, name, state) == ("ann@example.com", "Ann", "active") and created[:2] == "20"

    new_feed = _ok(runner, "subscriber", "reissue", "club", subscriber_id).splitlines()[-1]
    assert new_feed.startswith("https://pods.example/club/feed.xml?token=") and new_feed != feed
    assert "is revoked" in _ok(runner, "subscriber", "revoke", "club", subscriber_id)
    assert "\trevoked\t" in _ok(runner, "subscriber", "list", "club")

    refused = runner.invoke(main, ["subscriber", "reissue", "club", subscriber_id])
    assert refused.exit_code == 1 and "revoked" in refused.stderr
    missing = runner.invoke(main, ["subscriber", "revoke", "club", "4242"])
    assert missing.exit_code == 1 and "no subscriber 4242" in missing.stderr

    csv_file = tmp_path / "list.csv"
    csv_file.write_text("email,name\nbo@example.com,Bo\nnope,No\n\ncy@example.com\n", encoding="utf-8")
    result = runner.invoke(main, ["subscriber", "import", "club", str(csv_file)])
    assert result.exit_code == 1
    added = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in added] == ["bo@example.com", "cy@example.com"]
    assert all("/club/feed.xml?token=" in line for line in added)
    assert "list.csv:3: " in result.stderr and "not an email address" in result.stderr

    good = tmp_path / "good.csv"
    good.write_text("di@example.com,Di\n", encoding="utf-8")
    assert "di@example.com\thttps://pods.example/club/feed.xml?token=" in _ok(
        runner, "subscriber", "import", "club", str(good)
    )


def test_the_command_line_acting_as_a_viewer_may_not_see_subscribers(
    runner: CliRunner, services: Services
) -> None:
    add_user(services, "owner@example.com")
    add_user(services, "vi@example.com")
    with services.db.session() as session:
        from podcast_host import accounts

        owner = accounts.get_user(session, "owner@example.com")
        shows.create_show(session, "http://x", {"slug": "club", "title": "Club", "access": "private"}, owner)
        session.commit()
    grant(services, "club", "vi@example.com", "viewer")
    refused = runner.invoke(main, ["--as", "vi@example.com", "subscriber", "list", "club"])
    assert refused.exit_code == 1 and "may not" in refused.stderr
    assert _ok(runner, "--as", "owner@example.com", "subscriber", "list", "club") == ""


def test_sync_sets_the_access_of_a_show(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "shows" / "club"
    folder.mkdir(parents=True)
    toml = folder / "show.toml"
    toml.write_text('title = "Club"\nlanguage = "en"\naccess = "private"\n', encoding="utf-8")
    sync_directory(services, tmp_path / "shows")
    with services.db.session() as session:
        assert shows.find_show(session, "club").access == "private"
    toml.write_text('title = "Club"\nlanguage = "en"\naccess = "public"\n', encoding="utf-8")
    assert sync_directory(services, tmp_path / "shows").updated == ["club"]
    with services.db.session() as session:
        assert shows.find_show(session, "club").access == "public"


# --- the dashboard ----------------------------------------------------------------------------------------

PAGE = "/admin/shows/club/subscribers"


@pytest.fixture
def dashboard(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def owner(dashboard: Flask, services: Services) -> FlaskClient:
    """owner@example.com, signed in, who made the private show `club` in the dashboard."""
    add_user(services, "owner@example.com")
    client = signed_in(dashboard, "owner@example.com")
    made = post_form(client, "/admin/shows", slug="club", title="Club", language="en", access="private")
    assert made.status_code == 303, made.get_data(as_text=True)
    return client


def _feed_urls(page: str) -> list[str]:
    return [
        html.unescape(u) for u in re.findall(r'class="feed-url" type="text" readonly value="([^"]+)"', page)
    ]


def test_the_dashboard_adds_reissues_and_revokes_subscribers(owner: FlaskClient, services: Services) -> None:
    show_page = owner.get("/admin/shows/club/").get_data(as_text=True)
    assert f'href="{PAGE}"' in show_page
    assert "No subscribers yet." in owner.get(PAGE).get_data(as_text=True)

    added = post_form(owner, PAGE, email="ann@example.com", name="Ann")
    assert added.status_code == 200
    (feed,) = _feed_urls(added.get_data(as_text=True))
    token = parse_qs(urlsplit(feed).query)["token"][0]
    assert _lookup(services, "club", token) is not None
    # Shown once: the list does not carry it again.
    assert token not in owner.get(PAGE).get_data(as_text=True)

    twice = post_form(owner, PAGE, email="ann@example.com")
    assert twice.status_code == 409 and "already subscribes" in twice.get_data(as_text=True)

    with services.db.session() as session:
        subscriber_id = session.scalars(select(Subscriber.id)).one()
    reissued = post_form(owner, f"{PAGE}/{subscriber_id}/token")
    assert reissued.status_code == 200
    (new_feed,) = _feed_urls(reissued.get_data(as_text=True))
    assert new_feed != feed and _lookup(services, "club", token) is None

    revoked = post_form(owner, f"{PAGE}/{subscriber_id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["Location"] == PAGE
    page = owner.get(PAGE).get_data(as_text=True)
    assert "ann@example.com is revoked" in page and ">revoked</span>" in page
    found = _lookup(services, "club", parse_qs(urlsplit(new_feed).query)["token"][0])
    assert found is not None and found.revoked_at is not None


def test_the_dashboard_imports_a_csv_file(owner: FlaskClient, services: Services) -> None:
    import io

    data = {"file": (io.BytesIO(b"email,name\nann@example.com,Ann\nnope,Bob\n"), "list.csv")}
    answer = owner.post(
        f"{PAGE}/import", data={**data, "csrf_token": owner.csrf}, content_type="multipart/form-data"
    )
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert len(_feed_urls(page)) == 1 and "Line 3:" in page
    no_file = owner.post(
        f"{PAGE}/import", data={"csrf_token": owner.csrf}, content_type="multipart/form-data"
    )
    assert no_file.status_code == 422 and "Choose a CSV file." in no_file.get_data(as_text=True)


def test_the_dashboard_refuses_posts_without_the_csrf_token(owner: FlaskClient, services: Services) -> None:
    refused = owner.post(PAGE, data={"email": "ann@example.com"})
    assert refused.status_code == 400
    with services.db.session() as session:
        assert session.scalars(select(Subscriber)).all() == []


def test_viewers_do_not_see_the_subscribers_page(
    dashboard: Flask, owner: FlaskClient, services: Services
) -> None:
    add_user(services, "vi@example.com")
    grant(services, "club", "vi@example.com", "viewer")
    viewer = signed_in(dashboard, "vi@example.com")
    assert viewer.get(PAGE).status_code == 403
    assert post_form(viewer, PAGE, email="x@example.com").status_code == 403
    assert PAGE not in viewer.get("/admin/shows/club/").get_data(as_text=True)
    add_user(services, "ed@example.com")
    grant(services, "club", "ed@example.com", "editor")
    editor = signed_in(dashboard, "ed@example.com")
    assert editor.get(PAGE).status_code == 200
    # Editors see the access but only owners change it.
    settings = editor.get("/admin/shows/club/settings").get_data(as_text=True)
    assert 'name="access"' not in settings and "Private: only its subscribers have its feed." in settings
    assert 'name="access"' in owner.get("/admin/shows/club/settings").get_data(as_text=True)


def test_an_owner_makes_a_show_private_in_its_settings(dashboard: Flask, services: Services) -> None:
    add_user(services, "owner@example.com")
    client = signed_in(dashboard, "owner@example.com")
    post_form(client, "/admin/shows", slug="open", title="Open", language="en")
    assert "/admin/shows/open/subscribers" not in client.get("/admin/shows/open/").get_data(as_text=True)
    saved = post_form(client, "/admin/shows/open/settings", title="Open", language="en", access="private")
    assert saved.status_code == 303
    with services.db.session() as session:
        assert session.scalars(select(Show.access).where(Show.slug == "open")).one() == "private"
    assert "/admin/shows/open/subscribers" in client.get("/admin/shows/open/").get_data(as_text=True)


def test_the_subscribers_page_speaks_the_readers_language(owner: FlaskClient) -> None:
    post_form(owner, PAGE, email="ann@example.com")
    arabic = owner.get(PAGE, headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert "<h1>المشتركون</h1>" in arabic and "إبطال" in arabic
    french = owner.get(PAGE, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "<h1>Abonnés</h1>" in french and "Nouvelle adresse de flux" in french


@pytest.mark.postgres
def test_a_name_is_one_line_and_a_csv_checks_each_row_against_the_rows_before_it(services: Services) -> None:
    from podcast_host.errors import Invalid

    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "club", "title": "Club"})
        with pytest.raises(Invalid, match="one line"):
            subscribers.add_subscriber(session, show, "a@example.com", "a\tactive\nforged\tline")
        first = "".join(f"s{n}@example.com,S {n}\n" for n in range(300)).encode()
        assert len(subscribers.import_csv(session, show, first).added) == 300
        second = b"n1@example.com,N\ns1@example.com,again\nn1@example.com,twice in this file\n"
        report = subscribers.import_csv(session, show, second)
        session.commit()
        assert [s.email for s, _ in report.added] == ["n1@example.com"]
        assert [line for line, _ in report.refused] == [2, 3]
        assert len(subscribers.list_subscribers(session, show)) == 301


def test_a_csv_field_over_the_reader_s_limit_is_refused_in_one_sentence(services: Services) -> None:
    from podcast_host.errors import Invalid

    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "club", "title": "Club"})
        with pytest.raises(Invalid, match=r"^The CSV file cannot be read \(field larger than field limit"):
            subscribers.import_csv(session, show, b"a@example.com," + b"x" * 200_000 + b"\n")
        assert subscribers.list_subscribers(session, show) == []
