"""Who may do what through the API: tokens, owners, editors, viewers, admins.

See docs/api.md, "Members and roles".
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import accept_invitation, auth, create_show, user_token

from podcast_host import episodes, shows
from podcast_host.services import Services

# Roles are read through queries over memberships and tokens: these run on PostgreSQL too.


@dataclass(frozen=True)
class World:
    """Two shows: alice owns "alpha" (ed edits it, vi views it), bob owns "beta"; one draft episode each."""

    admin: str
    alice: str
    bob: str
    ed: str
    vi: str
    alpha_episode: int
    beta_episode: int


@pytest.fixture
def world(client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path) -> World:
    alice, bob, ed, vi = (user_token(services, f"{who}@example.com") for who in ("alice", "bob", "ed", "vi"))
    create_show(client, alice, "alpha")
    create_show(client, bob, "beta")
    for email, role in (("ed@example.com", "editor"), ("vi@example.com", "viewer")):
        invited = client.post(
            "/api/v1/shows/alpha/members", headers=auth(alice), json={"email": email, "role": role}
        )
        assert invited.status_code == 202
        accept_invitation(services, invited.get_json()["accept_url"], email)
    episodes = (draft(services, "alpha", sample_mp3), draft(services, "beta", sample_mp3))
    return World(admin_token, alice, bob, ed, vi, *episodes)


def draft(services: Services, slug: str, audio: Path) -> int:
    """A draft episode stored but not processed: access rules do not depend on the audio, and this is fast."""
    with services.db.session() as session:
        show = shows.find_show(session, slug)
        upload = episodes.Upload(path=audio, filename=audio.name)
        fields = {"title": "Draft", "draft": "true"}
        episode = episodes.create_episode(services, session, show, upload, fields, enqueue=False)
        return episode.id


def multipart(**files: tuple[bytes, str]) -> dict[str, Any]:
    """Request options for a multipart body; `call` opens the files afresh for every request."""
    return {"files": files}


def request_options(options: dict[str, Any]) -> dict[str, Any]:
    if "files" not in options:
        return options
    data = {name: (io.BytesIO(content), filename) for name, (content, filename) in options["files"].items()}
    return {"data": data, "content_type": "multipart/form-data"}


# Every route that acts on one show, and a request body that would pass the checks after the access check.
SHOW_WRITES = [
    ("PATCH", "/api/v1/shows/{show}", {"json": {"title": "Changed"}}),
    ("PUT", "/api/v1/shows/{show}/image", multipart(image=(b"not an image", "c.png"))),
    ("POST", "/api/v1/shows/{show}/episodes", multipart(audio=(b"not audio", "a.mp3"))),
    ("PATCH", "/api/v1/episodes/{episode}", {"json": {"title": "Changed"}}),
    ("POST", "/api/v1/episodes/{episode}/publish", {}),
    ("POST", "/api/v1/episodes/{episode}/reprocess", {}),
    ("POST", "/api/v1/shows/{show}/members", {"json": {"email": "bob@example.com", "role": "viewer"}}),
    ("DELETE", "/api/v1/shows/{show}/members/bob@example.com", {}),
    ("DELETE", "/api/v1/episodes/{episode}", {}),
    ("DELETE", "/api/v1/shows/{show}", {}),
]
SHOW_READS = [
    ("GET", "/api/v1/shows/{show}", {}),
    ("GET", "/api/v1/shows/{show}/episodes", {}),
    ("GET", "/api/v1/episodes/{episode}", {}),
    ("GET", "/api/v1/shows/{show}/members", {}),
]
OWN_ROUTES = [
    ("GET", "/api/v1/shows", {}),
    ("POST", "/api/v1/shows", {"json": {"slug": "gamma", "title": "Gamma"}}),
    ("GET", "/api/v1/tokens", {}),
    ("POST", "/api/v1/tokens", {"json": {"name": "x"}}),
    ("DELETE", "/api/v1/tokens/1", {}),
]


def call(
    client: FlaskClient,
    method: str,
    path: str,
    world: World,
    show: str,
    token: str | None,
    options: dict[str, Any],
) -> Any:
    episode = world.alpha_episode if show == "alpha" else world.beta_episode
    headers = auth(token) if token else {}
    return client.open(
        path.format(show=show, episode=episode), method=method, headers=headers, **request_options(options)
    )


def status(response: Any) -> int:
    if response.status_code >= 400:
        assert set(response.get_json()) == {"error"}, response.data
    return response.status_code


@pytest.mark.postgres
def test_every_route_refuses_without_a_valid_token(client: FlaskClient, world: World) -> None:
    for method, path, options in SHOW_WRITES + SHOW_READS + OWN_ROUTES:
        for token in (None, "ph_mistyped", "   "):
            response = call(client, method, path, world, "alpha", token, options)
            assert status(response) == 401, (method, path, token)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        basic = client.open(
            path.format(show="alpha", episode=world.alpha_episode),
            method=method,
            headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"},
            **request_options(options),
        )
        assert status(basic) == 401, (method, path)


@pytest.mark.postgres
def test_an_owner_of_one_show_gets_403_on_another_and_404_on_its_episodes(
    client: FlaskClient, world: World
) -> None:
    """A show's address is public (its feed), so 403 says nothing new; an episode id of a show you have no
    role on answers like an id that was never used, naming no show."""
    for method, path, options in SHOW_WRITES + SHOW_READS:
        expected = 404 if path.startswith("/api/v1/episodes/") else 403
        for show, token in (("beta", world.alice), ("alpha", world.bob)):
            response = call(client, method, path, world, show, token, options)
            assert status(response) == expected, (method, path)
            if expected == 404:
                assert show not in response.get_json()["error"]["message"]


def test_an_editor_edits_episodes_and_show_fields_but_not_members_or_the_show_itself(
    client: FlaskClient, world: World
) -> None:
    episode = f"/api/v1/episodes/{world.alpha_episode}"
    ed = auth(world.ed)
    assert client.patch(episode, headers=ed, json={"title": "Edited by ed"}).status_code == 200
    assert client.post(f"{episode}/publish", headers=ed).status_code == 200
    assert client.patch("/api/v1/shows/alpha", headers=ed, json={"description": "By ed"}).status_code == 200
    # Past the access check, the upload itself is refused for what it is.
    upload = client.post(
        "/api/v1/shows/alpha/episodes", headers=ed, **request_options(multipart(audio=(b"text", "a.mp3")))
    )
    assert upload.status_code in (415, 422)

    assert status(client.patch("/api/v1/shows/alpha", headers=ed, json={"slug": "alpha-2"})) == 403
    assert status(client.delete("/api/v1/shows/alpha", headers=ed)) == 403
    assert (
        status(
            client.post(
                "/api/v1/shows/alpha/members", headers=ed, json={"email": "bob@example.com", "role": "owner"}
            )
        )
        == 403
    )
    assert status(client.delete("/api/v1/shows/alpha/members/vi@example.com", headers=ed)) == 403
    assert client.delete(episode, headers=ed).status_code == 204


def test_only_an_owner_changes_what_proves_the_shows_ownership(client: FlaskClient, world: World) -> None:
    """itunes:email and podcast:locked owner= are what podcast platforms check when a feed moves hosts."""
    ed, alice = auth(world.ed), auth(world.alice)
    for change in (
        {"email": "ed@evil.example"},
        {"locked": True},
        {"description": "x", "email": "e@x.example"},
    ):
        refused = client.patch("/api/v1/shows/alpha", headers=ed, json=change)
        assert status(refused) == 403, change
        assert "owner" in refused.get_json()["error"]["message"]
    show = client.get("/api/v1/shows/alpha", headers=ed).get_json()
    assert (show["email"], show["locked"], show["description"]) == ("t@example.com", False, "")
    # Sending them back unchanged, as a GET returned them, is not a change: the rest is saved.
    same = {"email": show["email"], "locked": show["locked"], "slug": "alpha", "description": "By ed"}
    assert client.patch("/api/v1/shows/alpha", headers=ed, json=same).status_code == 200
    owned = client.patch(
        "/api/v1/shows/alpha", headers=alice, json={"email": "a@example.com", "locked": True}
    )
    assert owned.status_code == 200
    assert (owned.get_json()["email"], owned.get_json()["locked"]) == ("a@example.com", True)
    assert status(client.patch("/api/v1/shows/alpha", headers=ed, json={"locked": False})) == 403
    assert client.get("/api/v1/shows/alpha", headers=ed).get_json()["locked"] is True
    # Refused for the role before any value is looked at: nothing about other shows' slugs is told.
    for change in ({"slug": "beta"}, {"slug": "admin"}, {"moved_to_url": "https://elsewhere.example/feed"}):
        refused = client.patch("/api/v1/shows/alpha", headers=ed, json=change)
        assert status(refused) == 403, change


def test_a_viewer_reads_drafts_but_writes_nothing(client: FlaskClient, world: World) -> None:
    vi = auth(world.vi)
    draft = client.get(f"/api/v1/episodes/{world.alpha_episode}", headers=vi)
    assert draft.status_code == 200 and draft.get_json()["draft"] is True
    assert "loudness" in draft.get_json()
    listing = client.get("/api/v1/shows/alpha/episodes", headers=vi).get_json()["episodes"]
    assert [e["id"] for e in listing] == [world.alpha_episode]
    assert client.get("/api/v1/shows/alpha/members", headers=vi).status_code == 200
    for method, path, options in SHOW_WRITES:
        assert status(call(client, method, path, world, "alpha", world.vi, options)) == 403, (method, path)


def test_the_owner_does_everything_on_the_show(client: FlaskClient, services: Services, world: World) -> None:
    alice = auth(world.alice)
    invited = client.post(
        "/api/v1/shows/alpha/members", headers=alice, json={"email": "bob@example.com", "role": "owner"}
    )
    assert invited.status_code == 202
    accept_invitation(services, invited.get_json()["accept_url"], "bob@example.com")
    assert client.patch("/api/v1/shows/alpha", headers=alice, json={"slug": "alpha-2"}).status_code == 200
    assert client.delete("/api/v1/shows/alpha-2/members/bob@example.com", headers=alice).status_code == 204
    assert client.delete("/api/v1/shows/alpha-2", headers=alice).status_code == 204


@pytest.mark.postgres
def test_each_user_lists_only_their_shows(client: FlaskClient, world: World) -> None:
    def slugs(token: str) -> list[str]:
        return [s["slug"] for s in client.get("/api/v1/shows", headers=auth(token)).get_json()["shows"]]

    assert slugs(world.alice) == ["alpha"]
    assert slugs(world.vi) == ["alpha"]
    assert slugs(world.bob) == ["beta"]
    assert slugs(world.admin) == ["alpha", "beta"]


def test_any_user_creates_a_show_and_owns_it(client: FlaskClient, world: World) -> None:
    create_show(client, world.vi, "gamma")
    members = client.get("/api/v1/shows/gamma/members", headers=auth(world.vi)).get_json()["members"]
    assert members == [{"email": "vi@example.com", "role": "owner"}]


def test_a_revoked_token_stops_working(client: FlaskClient, world: World) -> None:
    created = client.post("/api/v1/tokens", headers=auth(world.alice), json={"name": "ci"}).get_json()
    assert client.get("/api/v1/shows/alpha", headers=auth(created["token"])).status_code == 200
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=auth(world.alice)).status_code == 204
    assert status(client.get("/api/v1/shows/alpha", headers=auth(created["token"]))) == 401
    assert client.get("/api/v1/shows/alpha", headers=auth(world.alice)).status_code == 200


def test_nobody_sees_or_revokes_anyone_elses_tokens(client: FlaskClient, world: World) -> None:
    bobs = client.get("/api/v1/tokens", headers=auth(world.bob)).get_json()["tokens"]
    assert status(client.delete(f"/api/v1/tokens/{bobs[0]['id']}", headers=auth(world.alice))) == 404
    assert status(client.delete(f"/api/v1/tokens/{bobs[0]['id']}", headers=auth(world.admin))) == 404
    assert client.get("/api/v1/shows/beta", headers=auth(world.bob)).status_code == 200
    alices = client.get("/api/v1/tokens", headers=auth(world.alice)).get_json()["tokens"]
    assert {t["id"] for t in alices}.isdisjoint({t["id"] for t in bobs})


@pytest.mark.postgres
def test_an_admin_may_do_everything(client: FlaskClient, world: World) -> None:
    for method, path, options in SHOW_READS + SHOW_WRITES:  # deleting the show comes last
        response = call(client, method, path, world, "beta", world.admin, options)
        # Allowed: the route's success, or a refusal on the merits (bad upload, episode busy, the last owner).
        assert status(response) in (200, 201, 202, 204, 409, 415, 422), (method, path, response.get_json())
    assert client.get("/api/v1/shows/beta", headers=auth(world.admin)).status_code == 404
