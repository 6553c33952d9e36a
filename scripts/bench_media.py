"""Benchmark the enclosure route behind a CDN (docs/feeds.md, "The fast path") and print a Markdown table.

    python scripts/bench_media.py             # a few thousand requests per measurement
    python scripts/bench_media.py --quick     # fewer, to try the script itself

/media/<key> answers a 302 to PODCAST_HOST_MEDIA_URL with download counting on, on the server of `podcast-host
serve` (uvicorn with the app's thread pool, same settings) in a child process, beside two references on that
same server answering a 302 with the same body size: a bare WSGI callable and an empty Flask route, measured
in rounds whose ratios are taken side by side. Every request comes from another listener (X-Forwarded-For, one
trusted proxy) with a real app's User-Agent, so the counting thread works throughout; the table ends with what
it counted. Everything stays on loopback and in a temporary folder."""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchserver import (  # noqa: E402  (beside this script)
    LISTENER_AGENTS,
    REDIRECT,
    Case,
    WsgiApp,
    bench_stats,
    new_listeners,
    rate_table,
    script_server,
    side_by_side,
    with_references,
)
from sqlalchemy import func, select  # noqa: E402

from podcast_host.config import load_settings  # noqa: E402  (the path above makes the checkout importable)
from podcast_host.models import READY, DownloadTally, Episode, Show, utcnow  # noqa: E402
from podcast_host.services import Services, build_services  # noqa: E402
from podcast_host.storage import media_key  # noqa: E402

MEDIA_URL = "https://cdn.example.com/podcast"
USER_AGENTS = LISTENER_AGENTS[:4]  # podcast apps only
# Each answer of the route at this share of the bare WSGI app's rate, at least.
GOAL = 0.6
# A file of this size lasting this long: a whole-file GET is a download (one minute of audio or more).
AUDIO_BYTES, AUDIO_SECONDS = 1 << 20, 65.0


def main() -> None:
    options = _arguments()
    if options.serve:
        _serve(Path(options.serve), options.port, options.server_threads)
        return
    with tempfile.TemporaryDirectory(prefix="bench-media-") as scratch:
        data_dir = Path(scratch)
        services = build_services(load_settings(environ=_environment(data_dir)))
        try:
            services.db.upgrade()
            keys = _published_episodes(services, options.episodes)
        finally:
            services.close()
        rows, noted = _request_rates(data_dir, keys, options)
        counted = _downloads(data_dir)
    print(_table(rows, noted, counted, options))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    parser.add_argument("--episodes", type=int, default=20, help="published episodes, requested in turn")
    parser.add_argument("--requests", type=int, default=600, help="requests per measurement (all threads)")
    parser.add_argument("--clients", type=int, default=4, help="load-generating threads, keep-alive each")
    parser.add_argument("--rounds", type=int, default=7, help="side-by-side rounds per path; medians shown")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds at most per measurement")
    parser.add_argument("--server-threads", type=int, default=8, help="server threads (as `serve`)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.quick:
        options.requests, options.rounds = 200, 3
    return options


def _environment(data_dir: Path) -> dict[str, str]:
    return {
        "PODCAST_HOST_DATA_DIR": str(data_dir),
        "PODCAST_HOST_SECRET_KEY": "bench",
        "PODCAST_HOST_MEDIA_URL": MEDIA_URL,
        "PODCAST_HOST_TRUSTED_PROXIES": "1",
        # Counts written every second, so that the counting thread's work falls inside the measurements.
        "PODCAST_HOST_ANALYTICS_FLUSH_S": "1",
        "PODCAST_HOST_COUNT_DOWNLOADS": "true",
    }


def _published_episodes(services: Services, count: int) -> list[str]:
    """`count` published episodes of the show `bench`, each with an audio file in the media folder."""
    keys = []
    with services.db.session() as session:
        show = Show(slug="bench", title="Bench", podcast_guid=secrets.token_hex(16))
        session.add(show)
        session.flush()
        for number in range(1, count + 1):
            episode = Episode(
                show_id=show.id,
                slug=f"episode-{number}",
                title=f"Episode {number}",
                processing_state=READY,
                publish_at=utcnow() - timedelta(days=number),
                enclosure_length=AUDIO_BYTES,
                duration_s=AUDIO_SECONDS,
            )
            session.add(episode)
            session.flush()
            key = media_key(show.id, "audio", f"episode-{number}.mp3", episode.id)
            services.store.put_bytes(key, os.urandom(AUDIO_BYTES), "audio/mpeg")
            episode.audio_key = key
            keys.append(key)
        session.commit()
    return keys


# --- the server -------------------------------------------------------------------------------------------


def _serve(data_dir: Path, port: int, threads: int) -> None:
    """Child process: the server and options of `serve`, the references beside the app, and at /bench-stats
    how many requests the app handed to the download counter."""
    from podcast_host import server

    os.environ.update(_environment(data_dir))

    def app() -> WsgiApp:
        built = server.build_app()
        recorder = built.extensions["podcast_host"].recorder
        noted = [0]
        note = recorder.note

        def counted_note(heard: Any) -> None:
            noted[0] += 1
            note(heard)

        recorder.note = counted_note
        return with_references(built, lambda: {"noted": noted[0]})

    server.run_server("127.0.0.1", port, threads=threads, app_factory=app)


def _request_rates(
    data_dir: Path, keys: list[str], options: argparse.Namespace
) -> tuple[list[dict[str, Any]], int]:
    with script_server(__file__, data_dir, "--server-threads", str(options.server_threads)) as port:
        body_bytes = max(_redirect_length(port, key) for key in keys)  # each file's first request checks it
        rows = [side_by_side(port, case, options) for case in _cases(keys, body_bytes)]
        time.sleep(2.5)  # the last batch written
        noted = int(bench_stats(port)["noted"])
    return rows, noted


def _cases(keys: list[str], body_bytes: int) -> list[Case]:
    listener = new_listeners(USER_AGENTS)

    def ranged(number: int) -> dict[str, str]:
        return {**listener(number), "Range": "bytes=0-1"}

    def path(number: int) -> str:
        return f"/media/{keys[number % len(keys)]}"

    reference = f"{REDIRECT}{body_bytes}"
    return [
        Case("302 to MEDIA_URL, counted", path, listener, 302, reference),
        Case("302 to MEDIA_URL, Range: bytes=0-1", path, ranged, 302, reference),
    ]


def _redirect_length(port: int, key: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", f"/media/{key}", headers={"User-Agent": USER_AGENTS[0]})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 302 or not (response.headers["Location"] or "").startswith(MEDIA_URL):
        raise SystemExit(f"GET /media/{key} answered {response.status}, not a redirect to MEDIA_URL")
    return len(body)


def _downloads(data_dir: Path) -> int:
    services = build_services(load_settings(environ=_environment(data_dir)))
    try:
        with services.db.session() as session:
            counted = session.scalar(
                select(func.coalesce(func.sum(DownloadTally.downloads), 0)).where(
                    DownloadTally.kind == "episode"
                )
            )
    finally:
        services.close()
    return int(counted or 0)


# --- the table --------------------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]], noted: int, counted: int, options: argparse.Namespace) -> str:
    sent = len(rows) * options.rounds * options.requests
    lines = [
        f"The enclosure route with download counting on, {options.episodes} episodes requested in turn, each "
        "request another listener. Requests per second on the server of `serve` (uvicorn); the references "
        "answer a 302 of the same size. Medians of the rounds; the ratios are each round's, side by side.",
        "",
        *rate_table(rows, "/media", GOAL),
        "",
        f"Counting: {noted:,} requests handed to the counter (of about {sent:,} sent), {counted:,} downloads "
        "counted (a whole-file GET counts; two bytes do not).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
