"""`podcast-host analytics ingest`: access logs counted by the media route's rules, and only once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from analytics_helpers import IPHONE, OVERCAST, published_audio
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from helpers import auth, create_show
from sqlalchemy import func, select

from podcast_host.cli import main
from podcast_host.models import DownloadTally, IngestedLog
from podcast_host.services import Services

# Counting's upserts and merged ranges: on PostgreSQL too (the marked tests); reading the log formats is
# the same on either database.

SIZE, DURATION = 4_800_000, 600.0  # one minute is 480,000 bytes


@pytest.fixture
def runner(services: Services, monkeypatch: pytest.MonkeyPatch, database_url: str) -> CliRunner:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", database_url)
    return CliRunner()


@pytest.fixture
def key(services: Services, client: FlaskClient, admin_token: str) -> str:
    create_show(client, admin_token)
    return published_audio(services, "daily", "Long", SIZE, DURATION)[1]


def combined(address: str, when: str, path: str, status: int, sent: int, ua: str, method: str = "GET") -> str:
    return f'{address} - - [{when} +0000] "{method} {path} HTTP/1.1" {status} {sent} "-" "{ua}"\n'


def ingest(runner: CliRunner, log: Path, fmt: str = "combined") -> Result:
    return runner.invoke(main, ["analytics", "ingest", str(log), "--format", fmt])


def downloads(services: Services) -> dict[str, int]:
    with services.db.session() as session:
        rows = session.execute(
            select(DownloadTally.day, func.sum(DownloadTally.downloads))
            .where(DownloadTally.kind == "episode")
            .group_by(DownloadTally.day)
        )
        return {day.isoformat(): int(n) for day, n in rows}


@pytest.mark.postgres
def test_a_combined_log_ingested_twice_gives_the_same_totals(
    runner: CliRunner, services: Services, key: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        combined("203.0.113.1", "01/Oct/2026:08:00:00", f"/media/{key}", 200, SIZE, IPHONE)
        + combined("203.0.113.1", "01/Oct/2026:09:00:00", f"/media/{key}", 200, SIZE, IPHONE)
        + combined("203.0.113.2", "01/Oct/2026:08:00:00", f"/media/{key}", 206, 2, OVERCAST)
        + combined("203.0.113.2", "01/Oct/2026:08:00:01", f"/media/{key}", 206, 300_000, OVERCAST)
        + combined("203.0.113.2", "01/Oct/2026:08:00:09", f"/media/{key}", 206, 300_000, OVERCAST)
        + combined("203.0.113.3", "01/Oct/2026:08:00:00", f"/media/{key}", 200, SIZE, IPHONE, "HEAD")
        + combined("203.0.113.4", "01/Oct/2026:08:00:00", f"/media/{key}", 404, 0, IPHONE)
        + combined("203.0.113.5", "01/Oct/2026:08:00:00", "/daily/feed.xml", 200, 5000, IPHONE)
        + combined("203.0.113.6", "02/Oct/2026:23:59:59", f"/media/{key}", 200, SIZE, IPHONE)
    )
    first = ingest(runner, log)
    assert first.exit_code == 0, first.output
    assert "3 new downloads" in first.output
    # The 206s of 203.0.113.2 name no offset: their bytes add up (600,000 of 480,000 needed).
    assert downloads(services) == {"2026-10-01": 2, "2026-10-02": 1}

    again = ingest(runner, log)
    assert again.exit_code == 0, again.output
    assert "counted before" in again.output
    assert downloads(services) == {"2026-10-01": 2, "2026-10-02": 1}


def test_a_log_that_grew_counts_only_its_new_lines(
    runner: CliRunner, services: Services, key: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined("203.0.113.1", "01/Oct/2026:08:00:00", f"/media/{key}", 200, SIZE, IPHONE))
    assert ingest(runner, log).exit_code == 0
    with log.open("a") as grown:
        grown.write(combined("203.0.113.9", "01/Oct/2026:10:00:00", f"/media/{key}", 200, SIZE, IPHONE))
        grown.write(combined("203.0.113.8", "01/Oct/2026:10:00:00", f"/media/{key}", 200, SIZE, IPHONE)[:-20])
    second = ingest(runner, log)
    assert second.exit_code == 0, second.output
    assert "1 new downloads" in second.output
    assert downloads(services) == {"2026-10-01": 2}
    # The line still being written is left for the next run.
    with log.open("a") as finished:
        finished.write(
            combined("203.0.113.8", "01/Oct/2026:10:00:00", f"/media/{key}", 200, SIZE, IPHONE)[-20:]
        )
    assert ingest(runner, log).exit_code == 0
    assert downloads(services) == {"2026-10-01": 3}
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestedLog)) == 3


def test_cloudfront_and_s3_logs_count_by_the_same_rules(
    runner: CliRunner, services: Services, key: str, tmp_path: Path
) -> None:
    fields = (
        "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
        "cs(User-Agent) cs-uri-query sc-range-start sc-range-end"
    )
    ua = "Overcast/3.0%20(+http://overcast.fm/;%20iOS%20podcast%20app)"
    rows = [
        ("2026-10-05", "10:00:00", "300500", "198.51.100.1", "0", "299999"),
        ("2026-10-05", "10:00:05", "200500", "198.51.100.1", "300000", "499999"),
        ("2026-10-05", "10:00:00", "600", "198.51.100.2", "0", "1"),
    ]
    lines = ["#Version: 1.0\n", f"#Fields: {fields}\n"]
    for day, time, sent, ip, start, end in rows:
        values = [
            day,
            time,
            "FRA2",
            sent,
            ip,
            "GET",
            "d1.cloudfront.net",
            f"/{key}",
            "206",
            "-",
            ua,
            "-",
            start,
            end,
        ]
        lines.append("\t".join(values) + "\n")
    cloudfront = tmp_path / "cloudfront.log"
    cloudfront.write_text("".join(lines))
    result = ingest(runner, cloudfront, "cloudfront")
    assert result.exit_code == 0, result.output
    # Ranges add up by their offsets (500,000 bytes); the two-byte probe never counts.
    assert downloads(services) == {"2026-10-05": 1}

    s3 = tmp_path / "s3.log"
    s3.write_text(
        f"79a5 media-bucket [06/Oct/2026:10:00:00 +0000] 198.51.100.3 - 3E57 REST.GET.OBJECT {key} "
        f'"GET /media-bucket/{key} HTTP/1.1" 200 - {SIZE} {SIZE} 70 10 "-" "{IPHONE}" -\n'
    )
    result = ingest(runner, s3, "s3")
    assert result.exit_code == 0, result.output
    assert downloads(services) == {"2026-10-05": 1, "2026-10-06": 1}


@pytest.mark.postgres
def test_a_log_merges_with_the_listeners_the_app_counted_the_same_day(
    runner: CliRunner, services: Services, key: str, client: FlaskClient, admin_token: str, tmp_path: Path
) -> None:
    client.get(
        f"/media/{key}",
        headers={"User-Agent": OVERCAST, "Range": "bytes=0-299999"},
        environ_base={"REMOTE_ADDR": "203.0.113.50"},
    ).close()
    assert services.recorder.flush()
    assert downloads(services) == {}
    today = datetime.now(UTC).strftime("%d/%b/%Y")
    log = tmp_path / "cdn.log"
    log.write_text(combined("203.0.113.50", f"{today}:00:00:01", f"/media/{key}", 206, 200_000, OVERCAST))
    assert ingest(runner, log).exit_code == 0
    # 300,000 bytes asked of the app and 200,000 served by the CDN: one listener, one download.
    answer = client.get("/api/v1/shows/daily/analytics", headers=auth(admin_token)).get_json()
    assert answer["downloads"] == 1


def test_a_file_that_is_not_such_a_log_is_refused_in_one_line(
    runner: CliRunner, services: Services, key: str, tmp_path: Path
) -> None:
    log = tmp_path / "notes.txt"
    log.write_text("dear diary\nnothing here is a log\n")
    result = ingest(runner, log)
    assert result.exit_code == 1
    assert "No line of notes.txt reads as a combined log." in result.output
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestedLog)) == 0
    unknown = runner.invoke(main, ["analytics", "ingest", str(log), "--format", "w3c"])
    assert unknown.exit_code == 2
    assert "'w3c' is not one of" in unknown.output


def test_a_log_read_in_the_wrong_format_is_refused_and_can_be_read_again(
    runner: CliRunner, services: Services, key: str, tmp_path: Path
) -> None:
    log = tmp_path / "cloudfront.log"
    fields = "date time c-ip cs-method cs-uri-stem sc-status sc-bytes cs(User-Agent)"
    row = ["2026-10-07", "10:00:00", "198.51.100.9", "GET", f"/{key}", "200", str(SIZE), "Overcast/3.0"]
    log.write_text(f"#Version: 1.0\n#Fields: {fields}\n" + "\t".join(row) + "\n")
    wrong = ingest(runner, log, "combined")
    assert wrong.exit_code == 1
    assert "198.51.100.9" not in wrong.output  # a refused line is not printed back: it names a listener
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestedLog)) == 0
    right = ingest(runner, log, "cloudfront")
    assert right.exit_code == 0, right.output
    assert downloads(services) == {"2026-10-07": 1}


def test_odd_files_and_lines_are_refused_in_one_line_each(
    runner: CliRunner, services: Services, key: str, tmp_path: Path
) -> None:
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    refused = ingest(runner, fifo)
    assert refused.exit_code == 1
    assert "is not a regular file" in refused.output

    log = tmp_path / "odd.log"
    log.write_text(
        combined("203.0.113.1", "01/Jan/0001:00:30:00", f"/media/{key}", 200, SIZE, IPHONE).replace(
            "+0000", "+0100"
        )
        + combined("203.0.113.2", "01/Oct/2026:08:00:00", f"/media/{key}", 200, SIZE, IPHONE).replace(
            f" 200 {SIZE} ", " 200 " + "9" * 5000 + " "
        )
        + "x" * 70_000
        + "\n"
        + combined("203.0.113.3", "01/Oct/2026:08:00:00", f"/media/{key}", 200, SIZE, IPHONE)
    )
    result = ingest(runner, log)
    assert result.exit_code == 0, result.output
    assert "line 1: " in result.output
    assert "line 2: " in result.output
    assert "line 3: longer than 64 KiB" in result.output
    assert "Traceback" not in result.output
    assert downloads(services) == {"2026-10-01": 1}
