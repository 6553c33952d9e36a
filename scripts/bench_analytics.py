"""Benchmark listener analytics (docs/analytics.md) and print Markdown tables.

    python scripts/bench_analytics.py            # the enclosure route, then 10 million stored requests
    python scripts/bench_analytics.py --quick    # fewer requests and 200,000 stored requests, to try it

1. The enclosure route with download counting on and off, side by side on one server (`podcast-host serve`'s
   server and options, in a child process): /media/<key> answers a 302 to MEDIA_URL, as behind a CDN, and
   /off/media/<key> is the same app with PODCAST_HOST_COUNT_DOWNLOADS=false. Every request comes from another
   listener (X-Forwarded-For, a trusted proxy) with a real app's User-Agent, so the counting thread works
   throughout. Measurements interleave; the median of each is shown, and their ratio.
2. The analytics report of one show over 90 days with 10 million recorded requests, on SQLite and PostgreSQL.
   The database is filled, by SQL in bulk, with what counting leaves behind for that many requests (two
   requests per listener-day: the listener rows, kept here for the whole period as if never purged, and the
   daily tallies aggregated from them); the report then runs as the API runs it.
Loopback only; everything lives in a temporary folder or a temporary PostgreSQL schema.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchserver import new_listeners, request_rate, script_server  # noqa: E402  (beside this script)
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from podcast_host.analytics import report  # noqa: E402  (the path above makes the checkout importable)
from podcast_host.config import load_settings  # noqa: E402
from podcast_host.models import READY, DownloadTally, Episode, ListenerDay, Show, utcnow  # noqa: E402
from podcast_host.services import Services, build_services  # noqa: E402
from podcast_host.storage import media_key  # noqa: E402

MEDIA_URL = "https://cdn.example.com/podcast"
POSTGRES = os.environ.get("PODCAST_HOST_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
EPISODES = 100
DAYS = 90
REQUESTS_PER_LISTENER_DAY = 2


def main() -> None:
    options = _arguments()
    if options.serve:
        _serve(Path(options.serve), options.port)
        return
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as scratch:
        rates = _enclosure_rates(Path(scratch), options)
        queries = [_query_time("SQLite", f"sqlite:///{Path(scratch) / 'stored.sqlite3'}", options)]
        queries.append(_query_time("PostgreSQL", None, options))
    print(_tables(rates, queries, options))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests, 200,000 stored")
    parser.add_argument("--stored", type=int, default=10_000_000, help="recorded requests in the database")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement (all threads)")
    parser.add_argument("--clients", type=int, default=4, help="load-generating threads, keep-alive each")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per route; the median is shown")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds at most per measurement")
    parser.add_argument("--report-runs", type=int, default=20, help="reports timed per database")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.quick:
        options.stored, options.requests, options.repeats, options.report_runs = 200_000, 500, 2, 5
    return options


# --- 1. the enclosure route ------------------------------------------------------------------------------


def _environment(data_dir: Path) -> dict[str, str]:
    return {
        "PODCAST_HOST_DATA_DIR": str(data_dir),
        "PODCAST_HOST_SECRET_KEY": "bench",
        "PODCAST_HOST_MEDIA_URL": MEDIA_URL,
        "PODCAST_HOST_TRUSTED_PROXIES": "1",
        "PODCAST_HOST_ANALYTICS_FLUSH_S": "1",
    }


def _enclosure_rates(data_dir: Path, options: argparse.Namespace) -> dict[str, Any]:
    env = _environment(data_dir)
    services = build_services(load_settings(environ=env))
    try:
        services.db.upgrade()
        key = _published_episode(services, size=1 << 20)
    finally:
        services.close()
    listener = new_listeners()
    rates: dict[str, list[float]] = {"on": [], "off": []}
    with script_server(__file__, data_dir, env=env) as port:
        for _ in range(options.repeats):
            rates["on"].append(request_rate(port, f"/media/{key}", listener, 302, options))
            rates["off"].append(request_rate(port, f"/off/media/{key}", listener, 302, options))
        time.sleep(2.5)  # the last batch written
    services = build_services(load_settings(environ=env))
    try:
        with services.db.session() as session:
            counted = session.scalar(
                select(func.coalesce(func.sum(DownloadTally.downloads), 0)).where(
                    DownloadTally.kind == "episode"
                )
            )
    finally:
        services.close()
    return {
        "on": statistics.median(rates["on"]),
        "off": statistics.median(rates["off"]),
        "counted": int(counted or 0),
        "sent": options.repeats * options.requests,
    }


def _serve(data_dir: Path, port: int) -> None:
    """Child process: `serve`'s server with two apps on one set of services, counting on and off."""
    from podcast_host import create_app, server

    os.environ.update(_environment(data_dir))

    def both() -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
        counting = server.build_app()
        services: Services = counting.extensions["podcast_host"]
        quiet = dataclasses.replace(services.settings, count_downloads=False)
        not_counting = create_app(services=dataclasses.replace(services, settings=quiet))

        def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/off/"):
                environ["PATH_INFO"] = path[len("/off") :]
                return not_counting(environ, start_response)
            return counting(environ, start_response)

        return dispatch

    server.run_server("127.0.0.1", port, app_factory=both)


def _published_episode(services: Services, size: int) -> str:
    with services.db.session() as session:
        show = Show(slug="bench", title="Bench", podcast_guid=str(secrets.token_hex(16)))
        session.add(show)
        session.flush()
        episode = Episode(
            show_id=show.id,
            slug="one",
            title="One",
            processing_state=READY,
            publish_at=utcnow() - timedelta(days=1),
            enclosure_length=size,
            duration_s=size / 16_000,
        )
        session.add(episode)
        session.flush()
        key = media_key(show.id, "audio", "one.mp3", episode.id)
        services.store.put_bytes(key, os.urandom(size), "audio/mpeg")
        episode.audio_key = key
        session.commit()
        return key


# --- 2. the report over stored requests ------------------------------------------------------------------


def _query_time(label: str, url: str | None, options: argparse.Namespace) -> dict[str, Any]:
    schema = None
    if url is None:
        schema = f"bench_{secrets.token_hex(4)}"
        with create_engine(POSTGRES).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    with tempfile.TemporaryDirectory(prefix="bench-analytics-db-") as data_dir:
        settings = load_settings(
            environ={}, overrides={"data_dir": data_dir, "database_url": url, "secret_key": "b"}
        )
        services = build_services(settings)
        try:
            services.db.upgrade()
            started = time.perf_counter()
            show_id, rows = _fill(services, options.stored)
            fill_s = time.perf_counter() - started
            times = []
            with services.db.session() as session:
                show = session.get(Show, show_id)
                assert show is not None
                within = report.Period(date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=DAYS - 1))
                figures = report.show_report(session, show, within)
                for _ in range(options.report_runs):
                    started = time.perf_counter()
                    report.show_report(session, show, within)
                    times.append(time.perf_counter() - started)
                tallies = session.scalar(select(func.count()).select_from(DownloadTally))
        finally:
            services.close()
            if schema:
                with create_engine(POSTGRES).begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    return {
        "database": label,
        "listener_rows": rows,
        "tallies": tallies,
        "downloads": figures["downloads"],
        "fill_s": fill_s,
        "report_ms": statistics.median(times) * 1000,
        "report_max_ms": max(times) * 1000,
    }


def _fill(services: Services, requests: int) -> tuple[int, int]:
    """A show of EPISODES episodes and the state `requests` recorded requests leave: (show id, rows)."""
    rows = requests // REQUESTS_PER_LISTENER_DAY
    with services.db.session() as session:
        show = Show(slug="stored", title="Stored", podcast_guid=secrets.token_hex(16))
        session.add(show)
        session.flush()
        for n in range(EPISODES):
            session.add(Episode(show_id=show.id, slug=f"e{n}", title=f"Episode {n}", processing_state=READY))
        session.flush()
        first_episode = session.scalar(select(func.min(Episode.id)).where(Episode.show_id == show.id))
        session.commit()
        show_id = show.id
    postgres = services.db.engine.dialect.name == "postgresql"
    numbers = (
        "generate_series(0, :rows - 1) AS n(i)"
        if postgres
        else "(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < :rows - 1) "
        "SELECT i FROM s)"
    )
    day = "(DATE '2026-01-01' + (i % 90))" if postgres else "date('2026-01-01', '+' || (i % 90) || ' days')"
    listener = "lpad(to_hex(i), 64, '0')" if postgres else "printf('%064x', i)"
    counted = "(i % 5 <> 0)"  # four listener-days in five reach a download
    with services.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO listener_days (day, listener, episode_id, show_id, app, device, os, country,"
                " ranges, loose_bytes, counted) "
                f"SELECT {day}, {listener}, :first + (i % {EPISODES}), :show, 'App ' || (i % 20), "
                "'device ' || (i % 5), 'os ' || (i % 6), 'C' || (i % 30), '[]', 0, "
                f"{counted} FROM {numbers}"
            ),
            {"rows": rows, "first": first_episode, "show": show_id},
        )
        for kind, column in (
            ("episode", "CAST(episode_id AS TEXT)"),
            ("app", "app"),
            ("device", "device"),
            ("os", "os"),
            ("country", "country"),
        ):
            conn.execute(
                text(
                    "INSERT INTO download_tallies (show_id, day, kind, name, downloads) "
                    f"SELECT show_id, day, '{kind}', {column}, count(*) FROM listener_days "
                    f"WHERE counted AND show_id = :show GROUP BY show_id, day, {column}"
                ),
                {"show": show_id},
            )
    with services.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(ListenerDay))
    return show_id, int(stored or 0)


# --- the tables ------------------------------------------------------------------------------------------


def _tables(rates: dict[str, Any], queries: list[dict[str, Any]], options: argparse.Namespace) -> str:
    lines = [
        "Enclosure route (/media/<key>, 302 to MEDIA_URL), one listener per request, "
        f"{options.clients} clients, median of {options.repeats}",
        "",
        "| counting on (req/s) | counting off (req/s) | on / off (goal ≥ 0.8) "
        "| downloads counted / requests sent |",
        "|---|---|---|---|",
        f"| {rates['on']:.0f} | {rates['off']:.0f} | {rates['on'] / rates['off']:.2f} "
        f"| {rates['counted']:,} / {rates['sent']:,} |",
        "",
        f"Report of one show over {DAYS} days with {options.stored:,} recorded requests "
        f"({REQUESTS_PER_LISTENER_DAY} per listener-day), median of {options.report_runs}",
        "",
        "| database | listener rows | tally rows | downloads in the report | filled in "
        "| report (goal < 200 ms) | slowest |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in queries:
        lines.append(
            f"| {row['database']} | {row['listener_rows']:,} | {row['tallies']:,} | {row['downloads']:,} "
            f"| {row['fill_s']:.0f} s | {row['report_ms']:.1f} ms | {row['report_max_ms']:.1f} ms |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
