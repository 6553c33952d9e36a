"""What the analytics tests share: episodes with audio of a chosen size, and the replayable request log."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from podcast_host.models import READY, Episode, Show
from podcast_host.services import Services
from podcast_host.storage import media_key, unguessable_name

DATA = Path(__file__).parent / "data"
IPHONE = "AppleCoreMedia/1.0.0.21G93 (iPhone; U; CPU OS 17_6_1 like Mac OS X; en_us)"
OVERCAST = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def published_audio(
    services: Services, show_slug: str, title: str, size: int, duration_s: float, **fields: Any
) -> tuple[int, str]:
    """A published episode whose stored "MP3" is `size` bytes long (the counting never reads the audio);
    its id and media key."""
    with services.db.session() as session:
        show = session.query(Show).filter_by(slug=show_slug).one()
        episode = Episode(
            show_id=show.id,
            slug=title.lower().replace(" ", "-"),
            title=title,
            processing_state=READY,
            publish_at=datetime.now(UTC) - timedelta(days=fields.pop("age_days", 40)),
            enclosure_length=size,
            duration_s=duration_s,
            **fields,
        )
        session.add(episode)
        session.flush()
        key = media_key(show.id, "audio", unguessable_name(episode.slug, "mp3"), episode.id)
        services.store.put_bytes(key, os.urandom(size), "audio/mpeg")
        episode.audio_key = key
        session.commit()
        return episode.id, key


def every_value(services: Services) -> str:
    """Every value of every table, as text: what a reader of the database would find."""
    from sqlalchemy import text

    from podcast_host.models import Base

    found = []
    with services.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                found.append(" ".join(str(value) for value in row))
    return "\n".join(found)


def request_log() -> list[dict[str, Any]]:
    lines = (DATA / "analytics_requests.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def expected_downloads() -> dict[str, Any]:
    expected: dict[str, Any] = json.loads((DATA / "analytics_expected.json").read_text(encoding="utf-8"))
    return expected
