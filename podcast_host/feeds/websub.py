"""WebSub: tell the configured hubs that a show's feed changed, through the job queue, with retries.

`feed_changed` fans out into one `websub_ping` job per hub, so a hub that is down retries on its own
schedule while the others are told once.
"""

from __future__ import annotations

import logging

from podcast_host import fetching
from podcast_host.config import Settings
from podcast_host.feeds.links import Links
from podcast_host.jobs import RetryLater
from podcast_host.models import Show
from podcast_host.services import Services

log = logging.getLogger(__name__)
# A ping is small: a hub that takes longer than this is failing, and the ping is retried later.
HUB_TIMEOUTS = fetching.Timeouts(connect_s=10, read_s=10, total_s=30)
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
        # A private show's feed is for its subscribers: a hub could not fetch it, and is not told it exists.
        if show is None or show.is_private:
            return
        topic = Links(services.settings).feed(show)
    try:
        ping_hub(hub, topic, services.settings)
    except HubRefused as exc:
        log.error("WebSub ping to %s for %s given up: %s", hub, topic, exc)
    except OSError as exc:
        raise RetryLater(f"WebSub hub {hub} did not take the ping: {exc}") from None


def ping_hub(hub: str, topic_url: str, settings: Settings) -> None:
    """POST hub.mode=publish with hub.url, the form hubs accept (W3C WebSub leaves the ping to each hub),
    through the one client for other servers (a hub on a private address needs `allow_private_urls`).

    Returns on 2xx; raises HubRefused on a final 4xx or a hub the server may not reach, and OSError on
    anything that may pass."""
    form = {"hub.mode": "publish", "hub.url": topic_url}
    try:
        fetching.post_form(hub, form, settings=settings, timeouts=HUB_TIMEOUTS)
    except fetching.FetchRefused as exc:
        raise HubRefused(str(exc)) from None
    except fetching.FetchFailed as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in RETRYABLE_CLIENT_ERRORS:
            raise HubRefused(f"HTTP {exc.status}") from None
        raise OSError(str(exc)) from None
