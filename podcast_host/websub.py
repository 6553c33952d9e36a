"""WebSub: tell the configured hubs that a show's feed changed (through the job queue, with retries)."""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from podcast_host.jobs import RetryLater, job
from podcast_host.models import Show
from podcast_host.shows import feed_url

log = logging.getLogger(__name__)
HUB_TIMEOUT_S = 10


@job("feed_changed")
def feed_changed(services: Any, show_id: int) -> None:
    """Ping every hub for the show's feed; a hub that fails makes the whole job retry later."""
    hubs = services.settings.websub_hubs
    if not hubs:
        return
    with services.db.session() as session:
        show = session.get(Show, show_id)
        if show is None:
            return
        url = feed_url(services.settings.public_url, show.slug)
    failures = [hub for hub in hubs if not ping_hub(hub, url)]
    if failures:
        raise RetryLater(f"WebSub hub(s) did not accept the ping: {', '.join(failures)}")


def ping_hub(hub: str, topic_url: str) -> bool:
    """POST hub.mode=publish (WebSub §7); True when the hub answers 2xx."""
    body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": topic_url}).encode()
    request = urllib.request.Request(
        hub, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT_S) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError) as exc:
        log.warning("WebSub hub %s: %s", hub, exc)
        return False
