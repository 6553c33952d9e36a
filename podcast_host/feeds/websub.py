"""WebSub: tell the configured hubs that a show's feed changed, through the job queue, with retries.

`feed_changed` fans out into one `websub_ping` job per hub, so a hub that is down retries on its own
schedule while the others are told once.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request

from podcast_host.feeds.links import Links
from podcast_host.jobs import RetryLater
from podcast_host.models import Show
from podcast_host.services import Services

log = logging.getLogger(__name__)
HUB_TIMEOUT_S = 10
# A hub that refuses the request itself (4xx) will refuse it again; only these are worth another try.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


class HubRefused(Exception):
    """The hub answered that the ping itself is wrong; retrying will not help."""


def feed_changed(services: Services, show_id: int) -> None:
    """The `feed_changed` job: queue a ping to every configured hub; without hubs there is nothing to do."""
    for hub in services.settings.websub_hubs:
        services.queue.enqueue("websub_ping", show_id, hub)


def websub_ping(services: Services, show_id: int, hub: str) -> None:
    """The `websub_ping` job: ping one hub about one show's feed; RetryLater while the hub is unreachable
    or failing."""
    with services.db.session() as session:
        show = session.get(Show, show_id)
        if show is None:
            return
        topic = Links(services.settings).feed(show)
    try:
        ping_hub(hub, topic)
    except HubRefused as exc:
        log.error("WebSub hub %s refused the ping for %s: %s", hub, topic, exc)
    except OSError as exc:
        raise RetryLater(f"WebSub hub {hub} did not take the ping: {exc}") from None


def ping_hub(hub: str, topic_url: str) -> None:
    """POST hub.mode=publish with hub.url, the form hubs accept (W3C WebSub leaves the ping to each hub).

    Returns on 2xx; raises HubRefused on a final 4xx and OSError on anything that may pass."""
    body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": topic_url}).encode()
    request = urllib.request.Request(
        hub, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT_S):
            return
    except urllib.error.HTTPError as exc:
        exc.close()
        if 400 <= exc.code < 500 and exc.code not in RETRYABLE_CLIENT_ERRORS:
            raise HubRefused(f"HTTP {exc.code}") from None
        raise OSError(f"HTTP {exc.code}") from None
