"""More attacks on private shows (docs/private-feeds.md): every route of a private show answering a stranger
as no show, adding subscribers under a rollback and a race, migration 0010 on a database with data, the lock
taken while noting a network, the writes a token can cause, and who may read the downloads per subscriber."""

from __future__ import annotations

import csv
import io
import re
import threading
from typing import Any

import pytest
from analytics_helpers import IPHONE
from browser import add_user, dashboard_app, grant, signed_in
from flask.testing import FlaskClient
from helpers import auth, user_token
from sqlalchemy import create_engine, event, func, inspect, select, text
from sqlalchemy.engine import Engine
from test_private_feeds import private_show, subscribe

from podcast_host import accounts, db, sharing, shows, subscribers
from podcast_host.errors import Conflict
from podcast_host.models import Subscriber, SubscriberNetwork, utcnow
from podcast_host.services import Services

# --- a private show is a slug nobody has, to a stranger -----------------------------------------------------


def _rules(client: FlaskClient, prefix: str) -> list[tuple[str, str]]:
    found = []
    for rule in client.application.url_map.iter_rules():
        if rule.rule.startswith(prefix) and "<slug>" in rule.rule:
            found += [(method, rule.rule) for method in sorted((rule.methods or set()) - {"OPTIONS", "HEAD"})]
    return found


def _url(rule: str, slug: str) -> str:
    url = rule.replace("<slug>", slug)
    url = re.sub(r"<int:[a-z_]+>", "1", url)
    return re.sub(r"<[a-z_:]+>", "x", url)


def _seen(answer: Any, slug: str) -> tuple[int, str, str]:
    body = answer.get_data(as_text=True).replace(slug, "SLUG")
    body = re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1", body)
    headers = sorted((k, v) for k, v in answer.headers.items() if k not in ("Content-Length", "Set-Cookie"))
    return answer.status_code, body, str(headers).replace(slug, "SLUG")


def test_every_api_and_dashboard_route_of_a_private_show_answers_a_stranger_as_no_show(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """The 404 for a user without a role (accounts.require), route by route, method by method."""
    private_show(services, client, admin_token, "daily")
    subscribe(services, "daily", "ann@example.com")
    stranger = user_token(services, "st@example.com")
    api = _rules(client, "/api/")
    assert len(api) > 15
    for method, rule in api:
        seen = []
        for slug in ("daily", "nobody"):
            with client.open(_url(rule, slug), method=method, headers=auth(stranger)) as answer:
                seen.append(_seen(answer, slug))
        assert seen[0] == seen[1], (method, rule)
        assert seen[0][0] == 404, (method, rule)
    add_user(services, "other@example.com")
    page = signed_in(dashboard_app(services), "other@example.com")
    admin = _rules(page, "/admin/")
    assert len(admin) > 15
    for method, rule in admin:
        seen = []
        for slug in ("daily", "nobody"):
            data = {"csrf_token": page.csrf} if method == "POST" else None  # type: ignore[attr-defined]
            with page.open(_url(rule, slug), method=method, data=data) as answer:
                seen.append(_seen(answer, slug))
        assert seen[0] == seen[1], (method, rule)
        assert seen[0][0] == 404, (method, rule)


def test_a_signed_in_user_without_a_role_gets_the_same_answers_from_a_private_show_as_from_none(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """A real session (not a made-up cookie): the session is read for the private show only, which must
    change neither headers (Vary, Set-Cookie) nor body."""
    made = private_show(services, client, admin_token, "daily")
    with services.db.session() as session:
        show_id = shows.find_show(session, "daily").id
    add_user(services, "st@example.com")
    page = signed_in(dashboard_app(services), "st@example.com")
    episode, audio = made["episode"], made["audio"]
    pairs = (
        (f"/daily/{episode}/chapters.json", f"/nobody/{episode}/chapters.json"),
        (f"/media/shows/{show_id}/image/cover.jpg", "/media/shows/999/image/cover.jpg"),
        (f"/media/{audio}", f"/media/{audio.replace(f'shows/{show_id}/', 'shows/999/', 1)}"),
        ("/daily/", "/nobody/"),
        (f"/daily/{episode}/", f"/nobody/{episode}/"),
        ("/daily/feed.xml?token=abc", "/nobody/feed.xml?token=abc"),
    )
    for private, nobody in pairs:
        for accept in ("application/json", "text/html"):
            seen = []
            for path, slug in ((private, "daily"), (nobody, "nobody")):
                with page.get(path, headers={"Accept": accept}) as answer:
                    status, body, headers = _seen(answer, slug)
                    seen.append((status, body.replace(str(show_id), "ID").replace("999", "ID"), headers))
                    seen[-1] += ("Set-Cookie" in answer.headers,)  # type: ignore[assignment]
            assert seen[0] == seen[1], (private, accept)


# --- adding subscribers: savepoints, the unique index -------------------------------------------------------


@pytest.mark.postgres
def test_a_subscriber_added_then_rolled_back_is_not_kept(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """The caller's rollback undoes an add: no savepoint commits it behind the caller's back (pysqlite sends
    no BEGIN before a SAVEPOINT, whose RELEASE would then commit)."""
    private_show(services, client, admin_token, "daily")
    with services.db.session() as session:
        subscribers.add_subscriber(session, shows.find_show(session, "daily"), "ann@example.com")
        session.rollback()  # the caller gives up: nothing of this transaction may stay
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


@pytest.mark.postgres
def test_an_import_racing_an_add_of_the_same_address_is_a_conflict(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """Another request commits ann@ between import_csv's read of the live addresses and its flush: a
    Conflict (409), nothing imported, and the session usable after a rollback."""
    private_show(services, client, admin_token, "daily")
    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        fired: list[bool] = []

        def meanwhile(*_: Any) -> None:
            if not fired:
                fired.append(True)
                subscribe(services, "daily", "ann@example.com")

        event.listen(session, "before_flush", meanwhile)
        with pytest.raises(Conflict):
            subscribers.import_csv(session, show, b"email,name\nbob@example.com,Bob\nann@example.com,Ann\n")
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1
    with services.db.session() as session:
        assert [s.email for s in session.scalars(select(Subscriber))] == ["ann@example.com"]


def _migrate(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _insert(engine: Engine, table: str, values: dict[str, Any]) -> None:
    """A row with the given values, every other NOT NULL column without a default filled in."""
    row = dict(values)
    for column in inspect(engine).get_columns(table):
        if column["name"] in row or column["nullable"] or column.get("default") is not None:
            continue
        kind = type(column["type"]).__name__.lower()
        if "int" in kind:
            row[column["name"]] = 1
        elif "bool" in kind:
            row[column["name"]] = False
        elif "datetime" in kind or "timestamp" in kind:
            row[column["name"]] = "2026-01-01 00:00:00+00:00"
        elif "date" in kind:
            row[column["name"]] = "2026-01-01"
        else:
            row[column["name"]] = "{}" if "json" in kind else "x"
    names = ", ".join(f'"{k}"' for k in row)
    with engine.begin() as conn:
        conn.execute(text(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join(f":{k}" for k in row)})'), row)


@pytest.mark.postgres
def test_migration_0010_upgrades_a_database_with_duplicate_live_subscribers(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        _migrate(engine, "0009")
        _insert(engine, "shows", {"id": 1, "slug": "daily", "access": "private"})
        for n, revoked in ((1, None), (2, None), (3, "2026-01-02 00:00:00+00:00"), (4, None)):
            _insert(
                engine,
                "subscribers",
                {"id": n, "show_id": 1, "email": "ann@example.com", "name": "", "token_hash": f"h{n}"}
                | {"revoked_at": revoked},
            )
        _migrate(engine, "head")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, revoked_at IS NULL, shared_networks FROM subscribers ORDER BY id")
            ).all()
        assert [tuple(row) for row in rows] == [(1, True, 0), (2, False, 0), (3, False, 0), (4, False, 0)]
    finally:
        engine.dispose()


# --- the lock on the subscriber -----------------------------------------------------------------------------


@pytest.mark.postgres_only
def test_a_reissue_while_a_network_is_noted_neither_deadlocks_nor_keeps_the_old_tokens_network(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    private_show(services, client, admin_token, "daily")
    subscribe(services, "daily", "ann@example.com")
    watch = sharing.SharingWatch(10)
    now = utcnow()
    with services.db.session() as session:
        watch._salt(session, now.date())
    noted = threading.Event()
    with services.db.session() as request_session, services.db.session() as owner:
        # The request read the subscriber (and their old token) before the owner's reissue.
        old = request_session.scalars(select(Subscriber)).one()
        request_session.commit()
        subscribers.reissue(owner, owner.scalars(select(Subscriber)).one())
        owner.flush()  # the owner's transaction holds the row

        def request() -> None:
            watch.note(request_session, old, "198.51.100.1", now)
            noted.set()

        thread = threading.Thread(target=request)
        thread.start()
        assert not noted.wait(0.5)  # waits for the row
        owner.commit()
        thread.join(10)
    assert noted.is_set()
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SubscriberNetwork)) == 0


# --- writes a token can cause -------------------------------------------------------------------------------


def test_polling_with_a_token_writes_nothing_after_the_first_request(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    made = private_show(services, client, admin_token, "daily")
    token = subscribe(services, "daily", "ann@example.com")
    paths = (
        f"/daily/feed.xml?token={token}",
        f"/media/{made['audio']}?token={token}",
        f"/daily/{made['episode']}/chapters.json?token={token}",
    )
    for path in paths:
        with client.get(path) as answer:
            assert answer.status_code == 200
    writes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "SAVEPOINT"):
            writes.append(statement)

    event.listen(services.db.engine, "before_cursor_execute", seen)
    try:
        for _ in range(20):
            for path in paths:
                with client.get(path, headers={"User-Agent": IPHONE}) as answer:
                    assert answer.status_code == 200
    finally:
        event.remove(services.db.engine, "before_cursor_execute", seen)
    assert writes == []


# --- downloads per subscriber: whose, and who reads them ----------------------------------------------------


def _download(client: FlaskClient, audio: str, token: str | None = None, **headers: str) -> None:
    path = f"/media/{audio}" + (f"?token={token}" if token else "")
    with client.get(path, headers={"User-Agent": IPHONE, **headers}) as answer:
        assert answer.status_code == 200


def test_the_team_and_other_subscribers_never_add_to_a_subscribers_downloads(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """Same address, same User-Agent: a member without a token and another subscriber count as themselves."""
    made = private_show(services, client, admin_token, "daily")
    ann = subscribe(services, "daily", "ann@example.com")
    bob = subscribe(services, "daily", "bob@example.com")
    add_user(services, "viewer@example.com")
    grant(services, "daily", "viewer@example.com", "viewer")
    member = signed_in(dashboard_app(services), "viewer@example.com")
    _download(member, made["audio"])
    _download(client, made["audio"], bob)
    _download(client, made["audio"], bob)
    assert services.recorder.flush()
    figures = client.get("/api/v1/shows/daily/analytics/subscribers", headers=auth(admin_token)).get_json()
    assert {s["email"]: s["downloads"] for s in figures["subscribers"]} == {
        "ann@example.com": 0,
        "bob@example.com": 1,
    }
    _download(client, made["audio"], ann)
    assert services.recorder.flush()
    figures = client.get("/api/v1/shows/daily/analytics/subscribers", headers=auth(admin_token)).get_json()
    assert {s["email"]: s["downloads"] for s in figures["subscribers"]} == {
        "ann@example.com": 1,
        "bob@example.com": 1,
    }


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_editors_and_viewers_read_no_downloads_per_subscriber_anywhere(
    services: Services, client: FlaskClient, admin_token: str, role: str
) -> None:
    made = private_show(services, client, admin_token, "daily")
    tokens = [subscribe(services, "daily", f"s{n}@subs.example") for n in range(3)]
    for n, token in enumerate(tokens):
        for _ in range(n + 1):  # distinct User-Agents: s0 one download, s1 two, s2 three
            _download(client, made["audio"], token, **{"User-Agent": f"{IPHONE} {_}"})
    assert services.recorder.flush()
    add_user(services, "member@example.com")
    grant(services, "daily", "member@example.com", role)
    with services.db.session() as session:
        _, api_token = accounts.create_token(session, accounts.get_user(session, "member@example.com"), "t")
        session.commit()
    assert client.get("/api/v1/shows/daily/analytics/subscribers", headers=auth(api_token)).status_code == 403
    report = client.get("/api/v1/shows/daily/analytics", headers=auth(api_token)).get_json()
    assert report["downloads"] == 6
    assert set(report) == {"show", "since", "until", "downloads", "episodes", "days", "apps", "countries"}
    exported = client.get("/api/v1/shows/daily/analytics.csv", headers=auth(api_token)).get_data(as_text=True)
    assert {row[0] for row in csv.reader(io.StringIO(exported)) if row} <= {
        "dimension",
        "total",
        "day",
        "episode",
        "app",
        "country",
    }
    page = signed_in(dashboard_app(services), "member@example.com")
    for path in ("/admin/shows/daily/analytics", "/admin/shows/daily/analytics.csv?range=all"):
        answer = page.get(path)
        assert answer.status_code == 200, path
        shown = answer.get_data(as_text=True)
        assert "subscriber" not in shown.lower().replace("subscribers", ""), path
        assert "@subs.example" not in shown, path
    listed = page.get("/admin/shows/daily/subscribers")
    assert "in 30 days" not in listed.get_data(as_text=True)
