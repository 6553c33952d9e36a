"""Every absolute URL the feed and pages publish, built from PUBLIC_URL and MEDIA_URL in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from podcast_host.config import Settings
from podcast_host.models import Episode, Show
from podcast_host.storage import key_prefix, media_url_for


def show_url(public_url: str, slug: str) -> str:
    """A show's page; its feed and its episodes' pages live under it."""
    return f"{public_url}/{quote(slug)}/"


def feed_url(public_url: str, slug: str) -> str:
    """A show's feed URL; also what its podcast:guid is derived from."""
    return f"{show_url(public_url, slug)}feed.xml"


@dataclass(frozen=True)
class Links:
    settings: Settings

    @property
    def base(self) -> str:
        return self.settings.public_url

    def home(self) -> str:
        return f"{self.base}/"

    def show_page(self, show: Show) -> str:
        return show_url(self.base, show.slug)

    def feed(self, show: Show) -> str:
        return feed_url(self.base, show.slug)

    def subscriber_feed(self, show: Show, token: str) -> str:
        """A private show's feed as one subscriber's app reads it (docs/private-feeds.md)."""
        return f"{self.feed(show)}?token={quote(token, safe='')}"

    def episode_page(self, episode: Episode) -> str:
        return _episode_url(self.show_page(episode.show), episode.slug)

    def episode_pages_of(self, show: Show) -> Callable[[Episode], str]:
        """episode_page for the episodes of one show, its page's URL built once: a feed asks for a thousand
        episodes' pages, and reaching each one's show through the ORM cost more than writing the URL."""
        show_page = self.show_page(show)

        def episode_page(episode: Episode) -> str:
            return _episode_url(show_page, episode.slug)

        return episode_page

    def embed(self, episode: Episode) -> str:
        return f"{self.episode_page(episode)}embed"

    def chapters(self, episode: Episode) -> str:
        return self.chapters_of(episode.show)(episode)

    def chapters_of(self, show: Show) -> Callable[[Episode], str]:
        """chapters for the episodes of one show (see episode_pages_of)."""
        episode_page = self.episode_pages_of(show)
        return lambda episode: f"{episode_page(episode)}chapters.json"

    def media(self, key: str) -> str:
        """Public URL of a stored object: through MEDIA_URL (CDN) when set, else served by the app."""
        if self.settings.media_url:
            # Built like the store's own redirects, key prefix included, so both name the stored object.
            return media_url_for(self.settings.media_url, key_prefix(self.settings.storage_url), key)
        return self.app_media(key)

    def app_media(self, key: str) -> str:
        """A stored object served by the app, never through MEDIA_URL: the app checks who may fetch it."""
        return f"{self.base}/media/{quote(key)}"

    def enclosure(self, episode: Episode) -> str:
        """Always the app's own /media route, which counts the download and then redirects to MEDIA_URL or
        the object store, the way a measurement prefix does (docs/analytics.md)."""
        return self.app_media(episode.audio_key or "")

    def low_data(self, episode: Episode) -> str:
        """The low-data Opus file, through the app's /media route like the enclosure (counted)."""
        return self.app_media(episode.low_data_key or "")

    def transcript(self, episode: Episode) -> str:
        return self.media(episode.transcript_key or "")

    def image(self, key: str | None) -> str | None:
        return self.media(key) if key else None


def _episode_url(show_page: str, slug: str) -> str:
    return f"{show_page}{quote(slug)}/"
