"""Feed items kept per episode version (docs/feeds.md, "The cache"): a feed rendered again after an edit
writes the edited item alone, and its bytes are those of a feed written from nothing; a subscriber's feed
keeps nothing and still carries each subscriber's token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_services
from test_feed import parse_xml

from podcast_host import notes
from podcast_host.feeds import budget, build
from podcast_host.feeds.item_cache import ITEMS, ItemCache, KeptItem
from podcast_host.feeds.syndication import RenderedFeed, for_subscriber, render_feed
from podcast_host.models import PRIVATE, READY, Episode, Show, utcnow
from podcast_host.services import Services
from podcast_host.shows import find_show

SLUG = "kept"
GUEST = {"name": "Ada Guest", "role": "guest", "group": "cast", "img": "", "href": ""}


@pytest.fixture(autouse=True)
def _no_items_from_other_tests() -> Iterator[None]:
    ITEMS.clear()
    yield
    ITEMS.clear()


def add_show(services: Services, count: int = 3, **fields: Any) -> None:
    """A show `kept` with `count` published episodes (rows only: audio keys and sizes made up), each with
    notes, a guest, a soundbite, a licence and a cover; the first with a transcript."""
    start = utcnow() - timedelta(days=count + 1)
    with services.db.session() as session:
        show = Show(slug=SLUG, title="Kept Items", language="en", podcast_guid="1" * 36, **fields)
        session.add(show)
        session.flush()
        for n in range(1, count + 1):
            description = f"Notes of **episode {n}** & more."
            session.add(
                Episode(
                    show=show,
                    slug=f"episode-{n}",
                    title=f"Episode {n}",
                    description=description,
                    notes_html=notes.render_notes_html(description),
                    number=n,
                    publish_at=start + timedelta(days=n),
                    processing_state=READY,
                    audio_key=f"shows/{show.id}/episodes/{n}/audio/episode-{n}.mp3",
                    enclosure_length=1_000_000 + n,
                    duration_s=1800.0,
                    image_key=f"shows/{show.id}/episodes/{n}/image/cover-{n}.jpg",
                    transcript_key=f"shows/{show.id}/episodes/{n}/transcript/t.vtt" if n == 1 else None,
                    transcript_type="text/vtt" if n == 1 else None,
                    persons=[GUEST],
                    soundbites=[{"start": 60.0, "duration": 30.0, "title": f"Best of {n}"}],
                    license={"identifier": "CC-BY-4.0", "url": ""},
                )
            )
        session.commit()


def render(services: Services, slug: str = SLUG) -> RenderedFeed:
    with services.db.session() as session:
        return render_feed(services, session, find_show(session, slug))


def written_from_nothing(services: Services, slug: str = SLUG) -> bytes:
    """The feed rendered with no item kept and no feed cached."""
    ITEMS.clear()
    services.caches.clear()
    return render(services, slug).body


def edit(services: Services, change: Callable[[Show, Episode], None]) -> None:
    """Change the show and its second episode through the ORM, as the API and the dashboard do."""
    with services.db.session() as session:
        show = find_show(session, SLUG)
        second = next(e for e in show.episodes if e.number == 2)
        change(show, second)
        session.commit()


def count_written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of the items feedgen writes from now on (kept items are not written)."""
    titles: list[str] = []
    fill = build._fill_item

    def counted(entry: Any, episode: Episode, *rest: Any) -> None:
        titles.append(episode.title)
        fill(entry, episode, *rest)

    monkeypatch.setattr(build, "_fill_item", counted)
    return titles


@pytest.mark.postgres
def test_an_edited_episode_is_written_again_and_the_others_are_kept(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_show(services)
    first = render(services).body
    assert len(ITEMS) == 3
    written = count_written(monkeypatch)
    edit(services, lambda _show, episode: setattr(episode, "title", "Episode 2, corrected"))
    second = render(services).body
    assert written == ["Episode 2, corrected"]
    titles = [item.findtext("title") for item in parse_xml(second).findall("channel/item")]
    assert titles == ["Episode 3", "Episode 2, corrected", "Episode 1"]
    assert second != first
    assert second == written_from_nothing(services)


def test_a_new_episode_moves_the_kept_items_down_unchanged(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_show(services)
    render(services)
    written = count_written(monkeypatch)
    with services.db.session() as session:
        show = find_show(session, SLUG)
        newest = next(e for e in show.episodes if e.number == 3)
        assert newest.publish_at is not None
        session.add(
            Episode(
                show_id=show.id,  # the show's feed stamp moves at the flush, as for any episode with audio
                slug="episode-4",
                title="Episode 4",
                number=4,
                publish_at=newest.publish_at + timedelta(hours=1),
                processing_state=READY,
                audio_key="shows/1/episodes/4/audio/episode-4.mp3",
                enclosure_length=1_000_004,
            )
        )
        session.commit()
    after = render(services).body
    assert written == ["Episode 4"]
    titles = [item.findtext("title") for item in parse_xml(after).findall("channel/item")]
    assert titles == ["Episode 4", "Episode 3", "Episode 2", "Episode 1"]
    assert after == written_from_nothing(services)


def _retitle(show: Show, episode: Episode) -> None:
    episode.title = "A <new> title & more"


def _new_notes(show: Show, episode: Episode) -> None:
    episode.description = "Fresh *notes*."
    episode.notes_html = notes.render_notes_html(episode.description)


def _new_people(show: Show, episode: Episode) -> None:
    episode.persons = [{**GUEST, "name": "Bo Other"}]


def _new_soundbite(show: Show, episode: Episode) -> None:
    episode.soundbites = [{"start": 5.0, "duration": 10.0, "title": "Another clip"}]


def _new_licence(show: Show, episode: Episode) -> None:
    episode.license = {"identifier": "CC0-1.0", "url": ""}


def _new_cover(show: Show, episode: Episode) -> None:
    episode.image_key = f"shows/{show.id}/episodes/{episode.id}/image/cover-new.png"


def _new_audio(show: Show, episode: Episode) -> None:
    episode.audio_key = f"shows/{show.id}/episodes/{episode.id}/audio/replaced.mp3"
    episode.enclosure_length = 2_000_000
    episode.duration_s = 2400.0


def _new_language(show: Show, episode: Episode) -> None:
    show.language = "fr"  # the transcript of episode 1 says it


@pytest.mark.parametrize(
    "change",
    [_retitle, _new_notes, _new_people, _new_soundbite, _new_licence, _new_cover, _new_audio, _new_language],
)
def test_every_change_an_item_shows_is_in_the_next_render(
    services: Services, change: Callable[[Show, Episode], None]
) -> None:
    add_show(services)
    before = render(services).body
    edit(services, change)
    after = render(services).body
    assert after != before
    assert after == written_from_nothing(services)


def test_a_renamed_show_writes_its_items_with_the_new_urls(services: Services) -> None:
    add_show(services)
    render(services)
    edit(services, lambda show, _episode: setattr(show, "slug", "renamed"))
    after = render(services, "renamed").body
    links = [item.findtext("link") for item in parse_xml(after).findall("channel/item")]
    assert links and all("/renamed/" in link for link in links)
    assert after == written_from_nothing(services, "renamed")


def test_items_kept_for_one_media_url_are_not_used_for_another(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    add_show(services)
    served_by_the_app = render(services).body
    cdn = make_services(tmp_path, database_url=database_url, media_url="https://cdn.example/")
    try:
        through_the_cdn = render(cdn).body
        assert b"https://cdn.example/shows/" in through_the_cdn
        assert b"https://cdn.example/" not in served_by_the_app
        assert through_the_cdn == written_from_nothing(cdn)
    finally:
        cdn.close()


def test_the_size_budget_leaves_out_the_same_items_whether_they_are_kept_or_not(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_show(services, count=6)
    full = written_from_nothing(services)
    # Room for the channel and about half of the items.
    monkeypatch.setattr(budget, "MAX_FEED_BYTES", len(full) // 2 + 10 * 1024)
    fresh = written_from_nothing(services)
    services.caches.clear()
    kept = render(services).body
    count = len(parse_xml(fresh).findall("channel/item"))
    assert 0 < count < 6
    assert kept == fresh


def test_text_that_reads_like_an_item_or_the_channels_end_stays_text(services: Services) -> None:
    add_show(services)
    tricky = "    <item>\n  </channel> ]]>"

    def change(_show: Show, episode: Episode) -> None:
        episode.title = tricky
        episode.description = f"`{tricky}`"
        episode.notes_html = notes.render_notes_html(episode.description)

    edit(services, change)
    render(services)  # writes and keeps the items
    services.caches.clear()
    kept = render(services).body
    items = parse_xml(kept).findall("channel/item")
    assert [item.findtext("title") for item in items] == ["Episode 3", tricky, "Episode 1"]
    assert kept == written_from_nothing(services)


def test_a_private_feed_keeps_no_item_and_every_subscriber_gets_their_own_token(services: Services) -> None:
    add_show(services, count=2, access=PRIVATE)
    first = render(services)
    assert len(ITEMS) == 0
    edit(services, lambda _show, episode: setattr(episode, "title", "Episode 2, for members"))
    second = render(services)
    assert len(ITEMS) == 0
    assert second.token_placeholder and second.token_placeholder != first.token_placeholder
    for token in ("alice-token", "bob-token"):
        channel = parse_xml(for_subscriber(second, token)).find("channel")
        assert channel is not None
        urls = [e.get("url") for e in channel.iter("enclosure")]
        urls += [e.get("href") for e in channel.iter("{https://podcastindex.org/namespace/1.0}image")]
        assert len(urls) == 4 and all(str(url).endswith(f"?token={token}") for url in urls)
        assert [item.findtext("title") for item in channel.findall("item")] == [
            "Episode 2, for members",
            "Episode 1",
        ]
    assert second.token_placeholder.encode() not in for_subscriber(second, "alice-token")


def test_the_cache_drops_the_least_recently_used_items_past_its_cap() -> None:
    cache = ItemCache(max_bytes=3 * (1000 + 256))
    for key in ("a", "b", "c"):
        cache.put(key, KeptItem(b"x" * 1000, 1000))
    assert cache.get("a") is not None  # now the most recently used
    cache.put("d", KeptItem(b"y" * 1000, 1000))
    assert cache.get("b") is None
    assert [key for key in ("a", "c", "d") if cache.get(key)] == ["a", "c", "d"]
    cache.put("huge", KeptItem(b"z" * 10_000, 10_000))
    assert cache.get("huge") is None and len(cache) == 3
    assert cache.size_bytes == 3 * (1000 + 256)
