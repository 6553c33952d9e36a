"""The idle server stays small: libraries only some requests need are imported on first use, and every
in-memory cache has a bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import create_show

from podcast_host.db import Database, newest_revision
from podcast_host.feeds.syndication import CachedFeed, FeedCache, FeedCheck, RenderedFeed
from podcast_host.services import Services

# What the idle web process must not hold: each costs from 0.5 to 11 MB of RSS once imported.
ON_FIRST_USE = (
    "alembic",
    "boto3",
    "botocore",
    "s3transfer",
    "feedgen",
    "lxml",
    "PIL",
    "nh3",
    "markdown_it",
    "webvtt",
    "srt",
    "apispec",
    "pydub",
    "mutagen",
    "crawlerdetect",
    "ua_parser",
    "yaml",
    "httpx",
    "defusedxml",
)
ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, data_dir: Path, timeout: float = 60) -> Any:
    """Run code in a fresh interpreter on the embedded set-up in data_dir; what it prints, read as JSON."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PODCAST_HOST_")}
    env.update(
        PODCAST_HOST_DATA_DIR=str(data_dir),
        PODCAST_HOST_PUBLIC_URL="http://127.0.0.1:8000",
        PODCAST_HOST_SECRET_KEY="test-secret",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


LOADED = f"json.dumps(sorted(name for name in {ON_FIRST_USE!r} if name in sys.modules))"

# What `podcast-host serve` does in the embedded set-up: check the schema, then build the app (job threads
# included) in the same process; then the two requests a load balancer and a first visitor make.
SERVE_IDLE = f"""
import json, sys
from podcast_host.cli import LazyServices
from podcast_host.server import build_app

lazy = LazyServices()
lazy.get()
lazy.close()
app = build_app()
client = app.test_client()
assert client.get("/").status_code == 200
assert client.get("/healthz").status_code == 200
app.extensions["podcast_host"].close()
print({LOADED})
"""


@pytest.mark.slow
def test_an_idle_server_has_not_imported_what_only_some_requests_need(tmp_path: Path) -> None:
    data_dir = tmp_path / "instance"
    # The first start creates the schema (Alembic is needed then); every later start finds it current.
    run_python(SERVE_IDLE, data_dir)
    assert run_python(SERVE_IDLE, data_dir) == []


def test_reading_or_building_a_media_key_does_not_import_boto3(tmp_path: Path) -> None:
    code = f"""
import json, sys
from podcast_host.storage import key_prefix, media_key, parse_media_key, served_type, store_from_url

key = media_key(1, "audio", "episode.mp3", episode_id=2)
assert parse_media_key(key).kind == "audio" and served_type(key) == "audio/mpeg"
assert key_prefix("s3://bucket/podcasts?region=eu-west-1") == "podcasts"
store_from_url("file://{tmp_path}/media")
before = {LOADED}
store_from_url("s3://bucket/podcasts?endpoint_url=http://127.0.0.1:9&region=us-east-1")
print(json.dumps([json.loads(before), "boto3" in sys.modules]))
"""
    before_s3, after_s3 = run_python(code, tmp_path / "instance")
    assert before_s3 == []
    assert after_s3, "an S3 store imports boto3 when it is built"


def test_notes_transcripts_and_covers_import_their_libraries_on_first_use(tmp_path: Path) -> None:
    code = f"""
import json, sys
from podcast_host import artwork, notes, transcripts

before = {LOADED}
assert notes.render_notes_html("**bold**") == "<p><strong>bold</strong></p>"
assert transcripts.parse_transcript(b"WEBVTT\\n\\n00:00:01.000 --> 00:00:02.000\\nHi\\n").cues
try:
    artwork.check_cover(b"not an image")
except artwork.ArtworkError:
    pass
print(json.dumps([json.loads(before), json.loads({LOADED})]))
"""
    before, after = run_python(code, tmp_path / "instance")
    assert before == []
    assert {"markdown_it", "nh3", "webvtt", "PIL"} <= set(after)


def test_the_start_up_schema_check_knows_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    from podcast_host.db import alembic_config

    assert newest_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.postgres
def test_a_current_schema_is_recognized_and_an_empty_database_is_not(
    services: Services, tmp_path: Path
) -> None:
    assert services.db.schema_is_current()
    empty = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        assert not empty.schema_is_current()
        empty.upgrade()
        assert empty.schema_is_current()
    finally:
        empty.dispose()


# --- the rendered-feed cache -----------------------------------------------------------------------------


def cached(size: int) -> CachedFeed:
    """A cache entry whose feed takes `size` bytes, gzipped copy included."""
    feed = RenderedFeed(b"x" * (size - 10), b"y" * 10, "etag", datetime(2024, 1, 1, tzinfo=UTC))
    return CachedFeed(FeedCheck((), None), 0.0, feed)


def test_the_feed_cache_drops_the_least_recently_used_show_past_its_entry_cap() -> None:
    cache = FeedCache(max_entries=2, max_bytes=10_000)
    cache.put(1, cached(100))
    cache.put(2, cached(100))
    assert cache.get(1) is not None  # show 1 is now the most recently used
    cache.put(3, cached(100))
    assert cache.get(2) is None
    assert cache.get(1) is not None and cache.get(3) is not None
    assert len(cache) == 2 and cache.size_bytes == 200


def test_the_feed_cache_keeps_its_bytes_under_the_cap() -> None:
    cache = FeedCache(max_entries=100, max_bytes=1_000)
    for show_id in range(1, 11):
        cache.put(show_id, cached(300))
        assert cache.size_bytes <= 1_000
    assert sorted(cache.show_ids()) == [8, 9, 10]
    # A feed larger than the whole cap is served but never kept, and evicts nothing.
    cache.put(99, cached(2_000))
    assert cache.get(99) is None and len(cache) == 3
    # Replacing a show's entry counts its new size, not both.
    cache.put(10, cached(100))
    assert cache.size_bytes == 700


def test_feeds_of_more_shows_than_the_cache_holds_are_still_served(
    services: Services, client: Any, admin_token: str
) -> None:
    services.caches["feeds"] = FeedCache(max_entries=2, max_bytes=10_000_000)
    for slug in ("first", "second", "third"):
        create_show(client, admin_token, slug=slug, title=f"The {slug} show")
    bodies = {}
    for slug in ("first", "second", "third", "first"):
        response = client.get(f"/{slug}/feed.xml")
        assert response.status_code == 200
        bodies.setdefault(slug, response.data)
        assert response.data == bodies[slug]
        assert f"The {slug} show".encode() in response.data
    assert len(services.caches["feeds"]) == 2
