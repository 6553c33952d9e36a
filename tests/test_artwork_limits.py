"""Cover art cannot exhaust the server: sources over the pixel budget are refused from their header, before a
single pixel is decoded, and decodes run one slot at a time."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask.testing import FlaskClient
from PIL import Image

from podcast_host.artwork import (
    DECODE_SLOTS,
    MAX_JPEG_SCANS,
    MAX_PARTS,
    MAX_SOURCE_PIXELS,
    MAX_SOURCE_SIDE_PX,
    MIN_SIDE_PX,
    ArtworkError,
    check_cover,
    decoding,
)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def flat_png(side: int, channels: int) -> bytes:
    """A real side×side PNG of one flat grey: a few hundred kB that decode to hundreds of MB."""
    colour_type = {3: 2, 4: 6}[channels]
    row = b"\0" + b"\x80" * (side * channels)  # filter byte, then the pixels
    # Every row compresses to the same bytes after a full flush, so the stream is one row's repeated.
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    one_row = deflate.compress(row) + deflate.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(side):
        checksum = zlib.adler32(row, checksum)
    stream = b"\x78\xda" + one_row * side + deflate.flush() + struct.pack(">I", checksum)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, colour_type, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def png_header(side: int) -> bytes:
    """Only the header of a side×side PNG: what Pillow reads at open."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"") + _chunk(b"IEND", b"")


@contextmanager
def peak_rss_growth() -> Iterator[Callable[[], float]]:
    """Sample this process's RSS every few ms; yields a function giving the peak growth in MB."""
    process = psutil.Process()
    start = process.memory_info().rss
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: (peak[0] - start) / 1e6
    finally:
        done.set()
        sampler.join()


@pytest.mark.parametrize(("side", "channels"), [(9000, 3), (8999, 4), (5000, 3)])
def test_a_small_file_of_huge_dimensions_is_refused_fast_without_decoding(side: int, channels: int) -> None:
    data = flat_png(side, channels)
    assert len(data) < 1_000_000  # small on the wire
    with peak_rss_growth() as growth:
        started = time.perf_counter()
        with pytest.raises(ArtworkError, match=rf"at most {MAX_SOURCE_SIDE_PX}×{MAX_SOURCE_SIDE_PX} px"):
            check_cover(data)
        elapsed = time.perf_counter() - started
    # Decoding would take seconds and hundreds of MB.
    assert elapsed < 0.5
    assert growth() < 30


def test_the_pixel_budget_fits_the_largest_accepted_square() -> None:
    assert MAX_SOURCE_SIDE_PX**2 == MAX_SOURCE_PIXELS <= 16 * 1024 * 1024
    art = check_cover(flat_png(MAX_SOURCE_SIDE_PX, 3))
    assert art.width == 3000


def test_pillow_refuses_to_decode_far_past_the_budget_even_outside_check_cover() -> None:
    # Once the app has opened any cover, Pillow's own guard is tied to our budget, not left at its default;
    # this cover is opened (it passes the header checks) and refused only when its empty pixels are read.
    with pytest.raises(ArtworkError, match="truncated or corrupt"):
        check_cover(png_header(MIN_SIDE_PX))
    assert Image.MAX_IMAGE_PIXELS == MAX_SOURCE_PIXELS
    with pytest.raises((Image.DecompressionBombError, Image.DecompressionBombWarning)):
        Image.open(io.BytesIO(png_header(MAX_SOURCE_SIDE_PX * 3)))


def _in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(target())
        except Exception as exc:  # noqa: BLE001 - handed to the test to assert on
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_decode_waits_for_a_free_slot() -> None:
    cover = flat_png(1400, 3)
    for _ in range(DECODE_SLOTS):
        assert decoding.acquire(timeout=5)
    try:
        thread, outcome = _in_thread(lambda: check_cover(cover))
        thread.join(0.5)
        assert thread.is_alive() and not outcome  # every slot is taken: it waits
    finally:
        for _ in range(DECODE_SLOTS):
            decoding.release()
    thread.join(10)
    assert outcome and outcome[0].width == 1400


def test_covers_decode_one_at_a_time() -> None:
    """At most DECODE_SLOTS decodes at once, however many uploads arrive together."""
    import podcast_host.artwork as artwork

    running, most = [0], [0]
    lock = threading.Lock()
    decode = artwork._decode_fully

    def counted(image: Image.Image) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.05)
            decode(image)
        finally:
            with lock:
                running[0] -= 1

    cover = flat_png(1400, 3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(artwork, "_decode_fully", counted)
        threads = [_in_thread(lambda: check_cover(cover)) for _ in range(4)]
        for thread, _ in threads:
            thread.join(20)
    assert all(outcome and outcome[0].width == 1400 for _, outcome in threads)
    assert most[0] == DECODE_SLOTS


def test_a_cover_that_waits_too_long_for_a_slot_is_refused_as_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    import podcast_host.artwork as artwork
    from podcast_host.errors import Unavailable

    monkeypatch.setattr(artwork, "DECODE_WAIT_S", 0.2)
    for _ in range(DECODE_SLOTS):
        assert decoding.acquire(timeout=5)
    try:
        started = time.perf_counter()
        with pytest.raises(Unavailable, match="busy.*try again"):
            check_cover(flat_png(1400, 3))
        assert 0.2 <= time.perf_counter() - started < 2
    finally:
        for _ in range(DECODE_SLOTS):
            decoding.release()
    # The slot it gave up on is not held: the next cover goes through.
    assert check_cover(flat_png(1400, 3)).width == 1400


def test_a_busy_cover_upload_is_503_from_the_api(
    client: FlaskClient, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import auth, create_show

    import podcast_host.artwork as artwork

    monkeypatch.setattr(artwork, "DECODE_WAIT_S", 0.1)
    create_show(client, admin_token)
    for _ in range(DECODE_SLOTS):
        assert decoding.acquire(timeout=5)
    try:
        response = client.put(
            "/api/v1/shows/daily/image",
            headers=auth(admin_token),
            data={"image": (io.BytesIO(flat_png(1400, 3)), "cover.png")},
            content_type="multipart/form-data",
        )
    finally:
        for _ in range(DECODE_SLOTS):
            decoding.release()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert "try again" in response.get_json()["error"]["message"]


def test_a_refusal_from_the_header_does_not_wait_for_a_slot() -> None:
    bomb = png_header(9000)
    for _ in range(DECODE_SLOTS):
        assert decoding.acquire(timeout=5)
    try:
        thread, outcome = _in_thread(lambda: check_cover(bomb))
        thread.join(5)
        assert not thread.is_alive()
    finally:
        for _ in range(DECODE_SLOTS):
            decoding.release()
    assert isinstance(outcome[0], ArtworkError)


def progressive_jpeg(side: int, extra_scans: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 60)).save(out, "JPEG", progressive=True)
    data = out.getvalue()
    # The last scan repeated: FFDA appears only as a marker, the coded data escapes every FF byte.
    last_scan = data[data.rfind(b"\xff\xda") : -2]
    return data[:-2] + last_scan * extra_scans + data[-2:]


def test_a_progressive_jpeg_is_accepted() -> None:
    data = progressive_jpeg(1400, 0)
    assert check_cover(data).data == data


def test_a_jpeg_of_too_many_scans_is_refused_before_decoding() -> None:
    data = progressive_jpeg(4000, 200)
    assert len(data) < 200_000
    started = time.perf_counter()
    with pytest.raises(ArtworkError, match=rf"at most {MAX_JPEG_SCANS} progressive scans"):
        check_cover(data)
    assert time.perf_counter() - started < 0.5  # decoding it takes seconds


@pytest.mark.parametrize(
    "data",
    [
        png_header(1400)[:-12] + _chunk(b"IDAT", b"") * 1_000_000 + _chunk(b"IEND", b""),
        b"\xff\xd8" + b"\xff\xfe\x00\x02" * 3_000_000 + b"\xff\xd9",
    ],
    ids=["png-of-a-million-chunks", "jpeg-of-three-million-comments"],
)
def test_a_file_of_countless_tiny_parts_is_refused_fast(data: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(ArtworkError, match=rf"at most {MAX_PARTS} chunks \(PNG\) or segments \(JPEG\)"):
        check_cover(data)
    assert time.perf_counter() - started < 0.5  # walking them all took seconds


def test_a_cover_upload_past_the_size_limit_is_refused_without_being_read(tmp_path: Path) -> None:
    import tracemalloc

    from podcast_host import limits
    from podcast_host.episodes import Upload
    from podcast_host.errors import Invalid

    limit = limits.SIDE_FILE_LIMITS["image"]
    spooled = tmp_path / "cover.part"
    with spooled.open("wb") as fh:
        fh.truncate(limit * 2)  # sparse: as large as an attacker's upload, without writing it
    tracemalloc.start()
    try:
        with pytest.raises(Invalid) as refused:
            Upload(spooled, "cover.jpg").read("image")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.field == "image"
    assert peak < 1024 * 1024, "refused from its size, before a byte of it was read"


def test_a_cover_over_the_size_limit_is_422_from_the_api(
    client: FlaskClient, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import auth, create_show

    from podcast_host import limits

    monkeypatch.setitem(limits.SIDE_FILE_LIMITS, "image", 1000)
    create_show(client, admin_token)
    response = client.put(
        "/api/v1/shows/daily/image",
        headers=auth(admin_token),
        data={"image": (io.BytesIO(b"\x89PNG" + b"\0" * 5000), "cover.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid"
