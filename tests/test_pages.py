"""Listeners' pages: the show page lists public episodes newest first, a page at a time, from the database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_services
from sqlalchemy import event

from podcast_host import create_app
from podcast_host.models import READY, Episode, Show, utcnow
from podcast_host.services import Services

# Paging, ordering and publish times are queries: on PostgreSQL too.
pytestmark = pytest.mark.postgres

PER_PAGE = 3


@pytest.fixture
def paged_services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    built = make_services(tmp_path, database_url=database_url, episodes_per_page=PER_PAGE)
    yield built
    built.close()


@pytest.fixture
def client(paged_services: Services) -> Any:
    """A show of 8 public episodes (number 8 the newest), one draft and one scheduled for tomorrow."""
    now = utcnow()
    with paged_services.db.session() as session:
        show = Show(slug="daily", title="Daily", podcast_guid="0f0e6e38-8f5c-5ad0-9f3a-0c7f2b1d6a11")
        session.add(show)
        for number in range(1, 9):
            session.add(_episode(show, number, now - timedelta(days=10 - number)))
        session.add(_episode(show, 90, now - timedelta(hours=1), draft=True))
        session.add(_episode(show, 91, now + timedelta(days=1)))
        session.commit()
    return create_app(services=paged_services).test_client()


def _episode(show: Show, number: int, publish_at: Any, draft: bool = False) -> Episode:
    return Episode(
        show=show,
        slug=f"episode-{number}",
        title=f"Episode {number}",
        number=number,
        publish_at=publish_at,
        draft=draft,
        processing_state=READY,
        audio_key=f"shows/1/episodes/{number}/audio/audio.mp3",
        enclosure_length=1000 + number,
        notes_html="",
    )


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="[^"]*/daily/episode-\d+/">(Episode \d+)</a>', html)


@pytest.mark.parametrize(
    ("page", "titles"),
    [
        (1, ["Episode 8", "Episode 7", "Episode 6"]),
        (2, ["Episode 5", "Episode 4", "Episode 3"]),
        (3, ["Episode 2", "Episode 1"]),
    ],
)
def test_each_page_lists_its_episodes_newest_first(client: Any, page: int, titles: list[str]) -> None:
    response = client.get(f"/daily/?page={page}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert listed(html) == titles
    assert f"Page {page} of 3" in html


def test_a_page_past_the_last_is_404_and_nonsense_is_the_first(client: Any) -> None:
    assert client.get("/daily/?page=4").status_code == 404
    assert client.get(f"/daily/?page={10**30}").status_code == 404
    for page in ("0", "-3", "two"):
        assert listed(client.get(f"/daily/?page={page}").get_data(as_text=True))[0] == "Episode 8"


def test_a_page_loads_only_its_own_episodes(client: Any, paged_services: Services) -> None:
    loaded: list[str] = []
    statements: list[str] = []

    def on_load(episode: Episode, _context: Any) -> None:
        loaded.append(episode.slug)

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(Episode, "load", on_load)
    event.listen(paged_services.db.engine, "before_cursor_execute", on_execute)
    try:
        html = client.get("/daily/?page=2").get_data(as_text=True)
    finally:
        event.remove(Episode, "load", on_load)
        event.remove(paged_services.db.engine, "before_cursor_execute", on_execute)
    assert listed(html) == ["Episode 5", "Episode 4", "Episode 3"]
    assert sorted(loaded) == ["episode-3", "episode-4", "episode-5"]
    episode_queries = [s for s in statements if "FROM episodes" in s]
    assert any("count(" in s.lower() for s in episode_queries)
    assert all("count(" in s.lower() or "LIMIT" in s for s in episode_queries)
