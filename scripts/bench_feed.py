"""Benchmark the feed of a 1,000-episode show (docs/feeds.md, "The cache") and print a Markdown table.

    python scripts/bench_feed.py              # 1,000 episodes, a few hundred requests per measurement
    python scripts/bench_feed.py --quick      # 200 episodes and fewer requests, to try the script itself

Measures render time (cold: empty cache; cached: warm cache, version query included) in this process, then
requests per second against the server of `podcast-host serve` (uvicorn with the app's thread pool, same
settings) in a child process, beside two references on that same server answering the same status and body
size: a bare WSGI callable and an empty Flask route, in rounds whose ratios are taken side by side. Last, a
burst of concurrent GETs right after an edit: how many times the server rendered the feed (once is the goal)
and the latencies. Everything stays on loopback and in a temporary folder; every measurement is bounded by a
request count and a time limit."""

from __future__ import annotations

import argparse
import gzip
import http.client
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchserver import (  # noqa: E402  (beside this script)
    NOT_MODIFIED,
    Case,
    WsgiApp,
    bench_stats,
    rate_table,
    script_server,
    side_by_side,
    with_references,
)
from sqlalchemy import select  # noqa: E402

from podcast_host import notes  # noqa: E402  (the path above makes the checkout importable)
from podcast_host.config import load_settings  # noqa: E402  (the path above makes the checkout importable)
from podcast_host.feeds.item_cache import ITEMS  # noqa: E402
from podcast_host.feeds.syndication import feed_cache, render_feed  # noqa: E402
from podcast_host.models import READY, Episode, Show, utcnow  # noqa: E402
from podcast_host.server.run import settle_startup_heap  # noqa: E402
from podcast_host.services import Services, build_services  # noqa: E402
from podcast_host.shows import find_show  # noqa: E402

SHOW = "bench"
FEED_PATH = f"/{SHOW}/feed.xml"
# Each answer of the feed at this share of the bare WSGI app's rate, at least.
GOAL = 0.6
# A processed episode's waveform: a thousand peaks, stored with the episode for the dashboard.
WAVEFORM = [round(abs(((n * 37) % 200) - 100) / 100, 3) for n in range(1000)]
NOTES = (
    "A conversation about **local news**, the budget & the bridge. With [links](https://example.org/a?b=1)"
    " and a list:\n\n- one point\n- another point\n\nLonger notes make the feed as heavy as a real one."
)


def main() -> None:
    options = _arguments()
    if options.serve:
        _serve(Path(options.serve), options.port, options.server_threads)
        return
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as scratch:
        data_dir = Path(scratch)
        services = _services(data_dir)
        try:
            _build_show(services, options.episodes)
            renders = _render_times(services, options.cold_runs, options.cached_runs)
        finally:
            services.close()
        rates, burst = _request_rates(data_dir, options)
    print(_table(options.episodes, renders, rates, burst))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 episodes and fewer requests")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--cold-runs", type=int, default=5, help="renders with an empty cache")
    parser.add_argument("--cached-runs", type=int, default=200, help="renders with a warm cache")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement (all threads)")
    parser.add_argument("--clients", type=int, default=4, help="load-generating threads, keep-alive each")
    parser.add_argument("--rounds", type=int, default=7, help="side-by-side rounds per path; medians shown")
    parser.add_argument("--burst", type=int, default=200, help="GETs sent at once after an edit")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds at most per measurement")
    parser.add_argument("--server-threads", type=int, default=8, help="server threads (as `serve`)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.quick:
        options.episodes, options.cold_runs, options.cached_runs = 200, 3, 50
        options.requests, options.rounds, options.burst = 200, 3, 50
    return options


# --- the show ---------------------------------------------------------------------------------------------


def _services(data_dir: Path) -> Services:
    settings = load_settings(environ={}, overrides={"data_dir": str(data_dir), "secret_key": "bench"})
    services = build_services(settings)
    services.db.upgrade()
    return services


def _build_show(services: Services, count: int) -> None:
    """A show with `count` published episodes inserted as rows: fake audio keys and sizes, no processing.
    Every Podcasting 2.0 value is set (docs/feeds.md, "Podcasting 2.0 tags"), on the show and on each
    episode, one in fifty of which is a trailer; the daily schedule is derived from the dates."""
    start = utcnow() - timedelta(days=count + 1)
    site = "https://example.org"
    host = {
        "name": "Bench Producer",
        "role": "host",
        "group": "cast",
        "img": f"{site}/people/host.jpg",
        "href": f"{site}/people/host",
    }
    place = {
        "name": "Austin",
        "rel": "creator",
        "lat": 30.27,
        "lon": -97.74,
        "osm": "R113314",
        "country": "US",
    }
    podroll = [
        {"feed_guid": guid, "feed_url": f"{site}/{guid}.xml", "title": f"Show {n}", "medium": ""}
        for n, guid in enumerate(
            ("917393e3-1b1e-5cef-ace4-edaa54e1f810", "29cdca4a-32d8-56ba-b48b-09a011c5daa9")
        )
    ]
    with services.db.session() as session:
        show = Show(
            slug=SHOW,
            title="The Benchmark Hour",
            description="Local news & politics.",
            description_html=notes.render_notes_html("Local news & politics."),
            language="en",
            author="Bench Producer",
            email="bench@example.com",
            category="News/Politics",
            podcast_guid="2b9e0d76-0d5f-5b1c-9d8e-3a4d6f2a1c00",
            image_key="shows/1/image/cover-0a1b2c3d4e5f.jpg",
            persons=[host, {**host, "name": "Bench Editor", "role": "editor", "group": "writing"}],
            locations=[place],
            license={"identifier": "CC-BY-4.0", "url": ""},
            txt=[{"purpose": "verify", "value": "S6lpp-7ZCn8-dZfGc-OoyaG"}],
            podroll=podroll,
            block={"everywhere": False, "platforms": ["google"]},
        )
        session.add(show)
        session.flush()
        for number in range(1, count + 1):
            episode = _episode(show, number, start + timedelta(days=number))
            guest = {
                "name": f"Guest {number}",
                "role": "guest",
                "group": "cast",
                "img": "",
                "href": f"{site}/g/{number}",
            }
            episode.persons = [host, guest]
            episode.locations = [{**place, "name": f"Studio {number}", "rel": "subject"}]
            episode.soundbites = [
                {"start": 60.0, "duration": 45.0, "title": f"The best of episode {number}"},
                {"start": 600.5, "duration": 30.25, "title": ""},
            ]
            episode.license = {"identifier": "CC-BY-NC-4.0", "url": ""}
            episode.image_key = f"shows/{show.id}/episodes/{number}/image/cover-{number:016x}.jpg"
            if number % 50 == 1:
                episode.episode_type = "trailer"
            session.add(episode)
        session.commit()


def _episode(show: Show, number: int, published: Any) -> Episode:
    key = f"shows/{show.id}/episodes/{number}/audio/episode-{number}.mp3"
    # Two episodes in three have chapters, as a real archive might.
    chapters = {"version": "1.2.0", "chapters": [{"startTime": 0.0, "title": "Intro"}]}
    chapters = chapters if number % 3 else None
    description = f"{NOTES}\n\nEpisode {number} of the archive."  # every episode has its own notes
    return Episode(
        show=show,
        slug=f"episode-{number}",
        title=f"Episode {number}: the news & more",
        description=description,
        notes_html=notes.render_notes_html(description),  # as saving an episode stores it
        season=1 + number // 100,
        number=number,
        publish_at=published,
        processing_state=READY,
        audio_key=key,
        enclosure_length=30_000_000 + number,
        duration_s=1800.0 + number,
        chapters=chapters,
        waveform=WAVEFORM,  # every processed episode keeps one, which the feed never reads
    )


# --- render times -----------------------------------------------------------------------------------------


def _render_times(services: Services, cold_runs: int, cached_runs: int) -> dict[str, float]:
    """Medians of three renders: the first in a process (no feed, no item kept), one after an edit (the feed
    out of date, its items kept: only the edited one is written again) and one from the feed cache."""
    # As `podcast-host serve` does once its app is built: start-up's objects out of the collector's sight.
    settle_startup_heap()
    first = [_timed_render(services, fresh_cache=True, fresh_items=True) for _ in range(cold_runs)]
    edited = [_timed_render(services, fresh_cache=True) for _ in range(cold_runs)]
    _timed_render(services, fresh_cache=False)
    cached = [_timed_render(services, fresh_cache=False) for _ in range(cached_runs)]
    return {
        "first_ms": statistics.median(first) * 1000,
        "cold_ms": statistics.median(edited) * 1000,
        "cached_ms": statistics.median(cached) * 1000,
    }


def _timed_render(services: Services, fresh_cache: bool, fresh_items: bool = False) -> float:
    """One render_feed call in a fresh session, as one request makes it; seconds."""
    if fresh_cache:
        services.caches.clear()
    if fresh_items:
        ITEMS.clear()
    with services.db.session() as session:
        show = find_show(session, SHOW)
        started = time.perf_counter()
        render_feed(services, session, show)
        return time.perf_counter() - started


# --- the server -------------------------------------------------------------------------------------------


def _serve(data_dir: Path, port: int, threads: int) -> None:
    """Child process: the server and options of `podcast-host serve`, with the references beside the app and
    the number of feeds rendered at /bench-stats."""
    from podcast_host import server

    os.environ.update({"PODCAST_HOST_DATA_DIR": str(data_dir), "PODCAST_HOST_SECRET_KEY": "bench"})

    def app() -> WsgiApp:
        built = server.build_app()
        services: Services = built.extensions["podcast_host"]
        return with_references(built, lambda: {"renders": feed_cache(services).renders})

    # run_server builds the server with the production options; only the app it serves is wrapped.
    server.run_server("127.0.0.1", port, threads=threads, app_factory=app)


def _request_rates(
    data_dir: Path, options: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    # The server's access log (one line per request, as in production) goes nowhere.
    with script_server(__file__, data_dir, "--server-threads", str(options.server_threads)) as port:
        rows = _measure_paths(port, options)
        burst = _burst_after_an_edit(data_dir, port, options.burst)
        return rows, burst


def _measure_paths(port: int, options: argparse.Namespace) -> list[dict[str, Any]]:
    plain_headers, plain = _fetch_once(port, {})
    zipped_headers, zipped = _fetch_once(port, {"Accept-Encoding": "gzip"})
    assert gzip.decompress(zipped) == plain
    cases = [
        Case("200, identity", FEED_PATH, {}, 200, str(len(plain))),
        Case("200, gzip", FEED_PATH, {"Accept-Encoding": "gzip"}, 200, str(len(zipped))),
        Case("304, If-None-Match", FEED_PATH, {"If-None-Match": plain_headers["ETag"]}, 304, NOT_MODIFIED),
        Case(
            "304, If-None-Match, gzip",
            FEED_PATH,
            {"Accept-Encoding": "gzip", "If-None-Match": zipped_headers["ETag"]},
            304,
            NOT_MODIFIED,
        ),
        Case(
            "304, If-Modified-Since",
            FEED_PATH,
            {"If-Modified-Since": plain_headers["Last-Modified"]},
            304,
            NOT_MODIFIED,
        ),
    ]
    return [side_by_side(port, case, options) for case in cases]


def _burst_after_an_edit(data_dir: Path, port: int, requests: int) -> dict[str, Any]:
    """Edit an episode (as the API would: its show's stamp moves), then send `requests` GETs of the feed at
    once, each on its own connection and taking gzip as apps do; how many renders the server made, and the
    latencies."""
    services = _services(data_dir)
    try:
        with services.db.session() as session:
            episode = session.scalars(select(Episode).order_by(Episode.id.desc()).limit(1)).one()
            episode.title = f"{episode.title} (edited)"
            session.commit()
    finally:
        services.close()
    renders_before = bench_stats(port)["renders"]
    start = threading.Barrier(requests)
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def fetch() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.connect()
            start.wait()
            began = time.perf_counter()
            connection.request("GET", FEED_PATH, headers={"Accept-Encoding": "gzip"})
            response = connection.getresponse()
            response.read()
            took = time.perf_counter() - began
        finally:
            connection.close()
        with lock:
            latencies.append(took)
            statuses.append(response.status)

    threads = [threading.Thread(target=fetch) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if statuses != [200] * requests:
        raise SystemExit(f"the burst got {sorted(set(statuses))}, not only 200")
    latencies.sort()
    return {
        "requests": requests,
        "renders": bench_stats(port)["renders"] - renders_before,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[math.ceil(0.99 * len(latencies)) - 1] * 1000,  # nearest rank
    }


def _fetch_once(port: int, headers: dict[str, str]) -> tuple[http.client.HTTPMessage, bytes]:
    """The feed's headers (looked up case-insensitively) and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", FEED_PATH, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise SystemExit(f"GET {FEED_PATH} answered {response.status}")
    return response.msg, body


# --- the table --------------------------------------------------------------------------------------------


def _table(
    episodes: int, renders: dict[str, float], rows: list[dict[str, Any]], burst: dict[str, Any]
) -> str:
    lines = [
        f"Feed of a {episodes:,}-episode show: render time in this process",
        "",
        "| render | median |",
        "|---|---|",
        f"| first in a process (load, build every item, gzip) | {renders['first_ms']:.1f} ms |",
        f"| after an edit (load, build the edited item, the others kept) | {renders['cold_ms']:.1f} ms |",
        f"| cached (the show row, then a cache hit) | {renders['cached_ms']:.2f} ms |",
        "",
        "Requests per second on the server of `serve` (uvicorn); the references answer the same "
        "status and body size. Medians of the rounds; the ratios are each round's, side by side.",
        "",
        *rate_table(rows, "feed", GOAL),
        "",
        f"{burst['requests']} GETs at once (gzip), each on its own connection, right after an episode was "
        "edited:",
        "",
        "| renders (goal: 1) | p50 | p99 |",
        "|---|---|---|",
        f"| {burst['renders']} | {burst['p50_ms']:.0f} ms | {burst['p99_ms']:.0f} ms |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
