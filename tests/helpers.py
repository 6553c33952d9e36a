"""Small helpers shared by test modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_show(client: Any, token: str, slug: str = "daily", **fields: Any) -> dict[str, Any]:
    body = {
        "slug": slug,
        "title": "The Daily Test",
        "language": "en",
        "author": "Tester",
        "email": "t@example.com",
        "category": "News/Politics",
        **fields,
    }
    response = client.post("/api/v1/shows", json=body, headers=auth(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def upload_episode(
    client: Any, token: str, show: str, audio: Path, filename: str | None = None, **fields: Any
) -> Any:
    data: dict[str, Any] = {"title": "Episode one", **fields}
    with audio.open("rb") as fh:
        data["audio"] = (fh, filename or audio.name)
        return client.post(
            f"/api/v1/shows/{show}/episodes",
            data=data,
            headers=auth(token),
            content_type="multipart/form-data",
        )


def user_token(services: Any, email: str) -> str:
    """A new user (not an admin) and an API token for them."""
    from podcast_host import accounts

    with services.db.session() as session:
        user = accounts.create_user(session, email, None)
        _, secret = accounts.create_token(session, user, "tests")
        session.commit()
    return secret


def stored_episode(services: Any, show_id: int, audio_file: Path, **fields: Any) -> int:
    """An episode created through the domain and committed, its processing not queued; its id."""
    from podcast_host import episodes
    from podcast_host.models import Show

    with services.db.session() as session:
        created = episodes.create_episode(
            services,
            session,
            session.get(Show, show_id),
            episodes.Upload(audio_file, "a.mp3"),
            {"title": "T", **fields},
            enqueue=False,
        )
        return int(created.id)
