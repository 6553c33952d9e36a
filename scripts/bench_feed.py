"""Benchmark the feed of a 1,000-episode show (docs/feeds.md, "The cache") and print a Markdown table.

    python scripts/bench_feed.py              # 1,000 episodes, a few hundred requests per measurement
    python scripts/bench_feed.py --quick      # 200 episodes and fewer requests, to try the script itself

Measures render time (cold: empty cache; cached: warm cache, version query included) in this process, then
requests per second against the server of `podcast-host serve` (uvicorn with the app's thread pool, same
settings) in a child process, beside two references on that same server answering the same status and body
size: a bare WSGI callable and an empty Flask route. Everything stays on loopback and in a temporary folder;
every measurement is bounded by a request count and a time limit."""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchserver import free_port, request_rate, wait_for_port  # noqa: E402  (beside this script)

from podcast_host import notes  # noqa: E402  (the path above makes the checkout importable)
from podcast_host.config import load_settings  # noqa: E402  (the path above makes the checkout importable)
from podcast_host.feeds.syndication import render_feed  # noqa: E402
from podcast_host.models import READY, Episode, Show, utcnow  # noqa: E402
from podcast_host.services import Services, build_services  # noqa: E402
from podcast_host.shows import find_show  # noqa: E402

SHOW = "bench"
FEED_PATH = f"/{SHOW}/feed.xml"
NOT_MODIFIED = "not-modified"
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
        rates = _request_rates(data_dir, options)
    print(_table(options.episodes, renders, rates))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 episodes and fewer requests")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--cold-runs", type=int, default=5, help="renders with an empty cache")
    parser.add_argument("--cached-runs", type=int, default=200, help="renders with a warm cache")
    parser.add_argument("--requests", type=int, default=600, help="requests per measurement (all threads)")
    parser.add_argument("--clients", type=int, default=4, help="load-generating threads, keep-alive each")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per path; the median is shown")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds at most per measurement")
    parser.add_argument("--server-threads", type=int, default=8, help="server threads (as `serve`)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.quick:
        options.episodes, options.cold_runs, options.cached_runs = 200, 3, 50
        options.requests, options.repeats = 200, 1
    return options


# --- the show ---------------------------------------------------------------------------------------------


def _services(data_dir: Path) -> Services:
    settings = load_settings(environ={}, overrides={"data_dir": str(data_dir), "secret_key": "bench"})
    services = build_services(settings)
    services.db.upgrade()
    return services


def _build_show(services: Services, count: int) -> None:
    """A show with `count` published episodes inserted as rows: fake audio keys and sizes, no processing."""
    start = utcnow() - timedelta(days=count + 1)
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
        )
        session.add(show)
        session.flush()
        for number in range(1, count + 1):
            session.add(_episode(show, number, start + timedelta(days=number)))
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
    )


# --- render times -----------------------------------------------------------------------------------------


def _render_times(services: Services, cold_runs: int, cached_runs: int) -> dict[str, float]:
    # Notes HTML is stored when an episode is saved, so a cold build and a build after an edit cost the same.
    cold = [_timed_render(services, fresh_cache=True) for _ in range(cold_runs)]
    _timed_render(services, fresh_cache=False)
    cached = [_timed_render(services, fresh_cache=False) for _ in range(cached_runs)]
    return {
        "cold_ms": statistics.median(cold) * 1000,
        "cached_ms": statistics.median(cached) * 1000,
    }


def _timed_render(services: Services, fresh_cache: bool) -> float:
    """One render_feed call in a fresh session, as one request makes it; seconds."""
    if fresh_cache:
        services.caches.clear()
    with services.db.session() as session:
        show = find_show(session, SHOW)
        started = time.perf_counter()
        render_feed(services, session, show)
        return time.perf_counter() - started


# --- the server -------------------------------------------------------------------------------------------


def _serve(data_dir: Path, port: int, threads: int) -> None:
    """Child process: the server and options of `podcast-host serve`, with the references beside the app."""
    from podcast_host import server

    os.environ.update({"PODCAST_HOST_DATA_DIR": str(data_dir), "PODCAST_HOST_SECRET_KEY": "bench"})
    # run_server builds the server with the production options; only the app it serves is wrapped.
    server.run_server(
        "127.0.0.1", port, threads=threads, app_factory=lambda: _with_constant_route(server.build_app())
    )


def _with_constant_route(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Put the two references beside the app on the same server: /constant/<size> (a bare WSGI callable) and
    /flask/<size> (an empty Flask app) answer <size> bytes from memory, or a bare 304 for `not-modified`."""
    from flask import Flask, Response

    bodies: dict[str, bytes] = {}
    bare_flask = Flask("constant")

    def body_for(name: str) -> bytes:
        return bodies.setdefault(name, b"x" * int(name))

    @bare_flask.route("/flask/<name>")
    def flask_constant(name: str) -> Response:
        if name == NOT_MODIFIED:
            return Response(status=304, headers={"ETag": '"constant"'})
        return Response(body_for(name), content_type="application/rss+xml; charset=utf-8")

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        prefix, _, name = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        if prefix == "flask":
            return bare_flask(environ, start_response)
        if prefix != "constant":
            return app(environ, start_response)
        if name == NOT_MODIFIED:
            start_response("304 Not Modified", [("ETag", '"constant"')])
            return []
        body = body_for(name)
        start_response(
            "200 OK",
            [("Content-Type", "application/rss+xml; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return dispatch


def _request_rates(data_dir: Path, options: argparse.Namespace) -> list[dict[str, Any]]:
    port = free_port()
    # The server's access log (one line per request, as in production) goes nowhere.
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            str(data_dir),
            "--port",
            str(port),
            "--server-threads",
            str(options.server_threads),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        return _measure_paths(port, options)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _measure_paths(port: int, options: argparse.Namespace) -> list[dict[str, Any]]:
    plain_headers, plain = _fetch_once(port, {})
    zipped_headers, zipped = _fetch_once(port, {"Accept-Encoding": "gzip"})
    assert gzip.decompress(zipped) == plain
    # (label, request headers, the status they must get, the reference answer: a size or NOT_MODIFIED)
    cases = [
        ("200, identity", {}, 200, str(len(plain))),
        ("200, gzip", {"Accept-Encoding": "gzip"}, 200, str(len(zipped))),
        ("304, If-None-Match", {"If-None-Match": plain_headers["ETag"]}, 304, NOT_MODIFIED),
        (
            "304, If-None-Match, gzip",
            {"Accept-Encoding": "gzip", "If-None-Match": zipped_headers["ETag"]},
            304,
            NOT_MODIFIED,
        ),
        ("304, If-Modified-Since", {"If-Modified-Since": plain_headers["Last-Modified"]}, 304, NOT_MODIFIED),
    ]
    rows = []
    for label, headers, status, reference in cases:
        rates: dict[str, list[float]] = {"feed": [], "flask": [], "constant": []}
        for _ in range(options.repeats):
            # Interleaved, so that a slower moment of the machine weighs on all three alike.
            rates["feed"].append(request_rate(port, FEED_PATH, headers, status, options))
            rates["flask"].append(request_rate(port, f"/flask/{reference}", {}, status, options))
            rates["constant"].append(request_rate(port, f"/constant/{reference}", {}, status, options))
        size = 0 if reference == NOT_MODIFIED else int(reference)
        medians = {f"{name}_rps": statistics.median(values) for name, values in rates.items()}
        rows.append({"path": label, "bytes": size, **medians})
    return rows


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


def _table(episodes: int, renders: dict[str, float], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Feed of a {episodes:,}-episode show: render time in this process",
        "",
        "| render | median |",
        "|---|---|",
        f"| cold (empty cache: load, build, gzip) | {renders['cold_ms']:.1f} ms |",
        f"| cached (the show row, then a cache hit) | {renders['cached_ms']:.2f} ms |",
        "",
        "Requests per second on the server of `serve` (uvicorn); the references answer the same "
        "status and body size.",
        "",
        "| GET | feed | bare Flask route | bare WSGI (constant) | feed / constant (goal ≥ 0.5) "
        "| feed / Flask |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['path']} ({row['bytes']:,} bytes) | {row['feed_rps']:.0f} | {row['flask_rps']:.0f} "
            f"| {row['constant_rps']:.0f} | {row['feed_rps'] / row['constant_rps']:.2f} "
            f"| {row['feed_rps'] / row['flask_rps']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
