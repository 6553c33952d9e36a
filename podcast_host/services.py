"""The app's resources, built once from the settings and handed to the domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podcast_host.analytics.geo import CountryLookup, GeoDatabaseError
from podcast_host.analytics.recorder import Recorder
from podcast_host.config import ConfigError, Settings, ensure_secret_key, load_settings
from podcast_host.db import Database
from podcast_host.jobs import JobQueue, make_queue
from podcast_host.sharing import SharingWatch
from podcast_host.storage import MediaStore, store_from_url


@dataclass
class Services:
    settings: Settings
    db: Database
    store: MediaStore
    queue: JobQueue
    # Download counting of the media route (analytics/recorder.py); its thread starts with the first request.
    recorder: Recorder
    # Which networks subscribers' tokens are used from (sharing.py): flags shared feed addresses.
    sharing: SharingWatch
    # In-memory caches, each bounded by its owner: "feeds" is feeds.syndication.FeedCache.
    caches: dict[str, object] = field(default_factory=dict)

    def close(self) -> None:
        self.queue.stop()
        self.recorder.close()
        self.recorder.geo.close()
        self.db.dispose()


def build_services(settings: Settings | None = None) -> Services:
    """Create db, store and queue from validated settings; ConfigError on a bad value."""
    settings = ensure_secret_key(settings or load_settings())
    try:
        store = store_from_url(settings.storage_url, settings.media_url)
    except ValueError as exc:
        raise ConfigError(f"PODCAST_HOST_STORAGE_URL: {exc}") from None

    def run_job(name: str, args: tuple[Any, ...]) -> None:
        # Imported when a job runs: the jobs are the domain's, which a process that only builds its
        # services (a migration, a feed read) need not load.
        from podcast_host import tasks

        tasks.run(services, name, args)

    try:
        geo = CountryLookup(settings.geoip_db)
    except GeoDatabaseError as exc:
        raise ConfigError(f"PODCAST_HOST_GEOIP_DB: {exc}") from None
    db = Database(settings.database_url)
    services = Services(
        settings=settings,
        db=db,
        store=store,
        queue=make_queue(settings, run_job),
        recorder=Recorder(db, geo, settings.analytics_flush_s),
        sharing=SharingWatch(settings.share_alert),
    )
    return services
