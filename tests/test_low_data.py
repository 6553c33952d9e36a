"""The low-data version of every episode (docs/audio-pipeline.md, "The low-data file"; docs/feeds.md,
"Low-data version"): an Ogg Opus file from the same encoding pass as the MP3, at the same loudness, listed
beside it in podcast:alternateEnclosure with its SHA-256, served and counted like the MP3."""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path
from typing import Any

import audio_fixtures as fx
import feedparser
import psutil
import pytest
from analytics_helpers import IPHONE
from flask.testing import FlaskClient
from helpers import auth
from lxml import etree
from mutagen.oggopus import OggOpus
from test_feed import partytime

from podcast_host import audio
from podcast_host.models import Episode
from podcast_host.services import Services

PODCAST = "{https://podcastindex.org/namespace/1.0}"
SIX_HOURS = 6 * 3600
TAGS = audio.EpisodeTags(title="One", show="Show")


def _sri(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.mark.parametrize(("channels", "level_db"), [(1, 0), (2, -12), (2, 8)])
def test_the_low_data_file_is_opus_at_the_mp3s_loudness(tmp_path: Path, channels: int, level_db: int) -> None:
    src = fx.make_speech(
        tmp_path / "speech.wav", seconds=12, channels=channels, rate=44_100, level_db=level_db
    )
    mp3, opus = tmp_path / "out.mp3", tmp_path / "out.opus"
    tags = audio.EpisodeTags(title="One", show="Show")
    result = audio.process(
        src, mp3, audio.probe(src, SIX_HOURS), audio.EncodeSettings(), tags, low_data_dst=opus
    )

    info = OggOpus(opus).info
    assert info.channels == channels
    assert info.length == pytest.approx(12, abs=0.3)
    kbps = 24 if channels == 1 else 32
    assert result.low_data is not None and result.low_data.kbps == kbps
    # Opus is variable bitrate: its average stays near what was asked.
    assert opus.stat().st_size * 8 / info.length / 1000 == pytest.approx(kbps, rel=0.25)
    assert opus.stat().st_size < mp3.stat().st_size * (0.45 if channels == 1 else 0.3)

    target = -19.0 if channels == 1 else -16.0
    measured = audio.measure_loudness(opus)
    assert measured["lufs"] == pytest.approx(target, abs=1.0)
    # Opus's own overshoot lifts true peaks above the MP3's (docs/audio-pipeline.md, "The low-data file").
    assert measured["true_peak_dbtp"] < 0.0
    # Same samples, same gain: the two files measure alike.
    assert measured["lufs"] == pytest.approx(audio.measure_loudness(mp3)["lufs"], abs=0.5)


def test_the_low_data_bitrate_follows_the_settings(tmp_path: Path) -> None:
    src = fx.make_speech(tmp_path / "speech.wav", seconds=12, channels=2, rate=44_100, level_db=0)
    opus = tmp_path / "out.opus"
    settings = audio.EncodeSettings(low_data_stereo_kbps=48)
    result = audio.process(
        src, tmp_path / "out.mp3", audio.probe(src, SIX_HOURS), settings, TAGS, low_data_dst=opus
    )
    assert result.low_data == audio.LowData(48)
    assert opus.stat().st_size * 8 / OggOpus(opus).info.length / 1000 == pytest.approx(48, rel=0.25)


def test_a_low_data_encoder_that_fails_fails_the_run_and_leaves_no_file(tmp_path: Path) -> None:
    """libopus runs in the ffmpeg that measures the MP3: when it cannot start, the run stops and says so."""
    src = fx.make_speech(tmp_path / "speech.wav", seconds=3, channels=2, rate=44_100, level_db=0)
    settings = audio.EncodeSettings(low_data_stereo_kbps=-5)  # a bitrate libopus refuses
    with pytest.raises(audio.DecodeFailed, match="encoding its low-data file failed"):
        audio.process(
            src,
            tmp_path / "out.mp3",
            audio.probe(src, SIX_HOURS),
            settings,
            TAGS,
            low_data_dst=tmp_path / "out.opus",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"]


def test_a_run_does_not_hang_where_pipes_keep_their_default_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a pipe cannot be widened (not Linux, a low pipe-max-size), decoder, encoder and meter must still
    not wait on one another: the meter opens the MP3 stream from its first packets (the slowest MP3 here)."""
    from podcast_host.audio import encode

    monkeypatch.setattr(encode, "_widen_pipe", lambda pipe: None)
    src = fx.make_speech(tmp_path / "speech.wav", seconds=12, channels=1, rate=44_100, level_db=0)
    mp3, opus = tmp_path / "out.mp3", tmp_path / "out.opus"
    settings = audio.EncodeSettings(bitrate_mono_kbps=32, low_data_mono_kbps=16)
    results: list[audio.ProcessResult] = []

    def run() -> None:
        results.append(
            audio.process(src, mp3, audio.probe(src, SIX_HOURS), settings, TAGS, low_data_dst=opus)
        )

    job = threading.Thread(target=run, daemon=True)
    job.start()
    job.join(timeout=120)
    if job.is_alive():
        for child in psutil.Process().children(recursive=True):
            child.kill()
        pytest.fail("processing hung with the pipes' default buffers")
    assert results and results[0].low_data == audio.LowData(16)
    assert results[0].loudness_report["on_target"] is True
    assert OggOpus(opus).info.length == pytest.approx(12, abs=0.3)


def test_without_a_destination_no_low_data_file_is_made(tmp_path: Path) -> None:
    src = fx.make_speech(tmp_path / "speech.wav", seconds=3, channels=1, rate=44_100, level_db=0)
    result = audio.process(
        src, tmp_path / "out.mp3", audio.probe(src, SIX_HOURS), audio.EncodeSettings(), TAGS
    )
    assert result.low_data is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp3", "speech.wav"]


# --- published, listed, served --------------------------------------------------------------------------


def _stored(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        found = session.get(Episode, episode_id)
        assert found is not None
        session.expunge(found)
        return found


def _alternates(feed: bytes) -> list[etree._Element]:
    return list(etree.fromstring(feed).iter(f"{PODCAST}alternateEnclosure"))


def test_the_feed_lists_the_mp3_and_its_low_data_version_with_their_hashes(
    client: FlaskClient, services: Services, episode: dict[str, Any]
) -> None:
    stored = _stored(services, episode["id"])
    assert stored.low_data_key and stored.low_data_key.endswith(".opus")
    feed = client.get("/daily/feed.xml").data
    mp3, low = _alternates(feed)
    enclosure = etree.fromstring(feed).find("channel/item/enclosure")
    assert enclosure is not None and enclosure.get("type") == "audio/mpeg"  # the enclosure stays the MP3

    assert mp3.get("default") == "true" and mp3.get("type") == "audio/mpeg"
    assert mp3.get("length") == enclosure.get("length")
    (mp3_source,) = mp3.iter(f"{PODCAST}source")
    assert mp3_source.get("uri") == enclosure.get("url")
    assert low.get("default") is None and low.get("type") == "audio/opus" and low.get("codecs") == "opus"
    assert low.get("bitrate") == str(stored.low_data_kbps * 1000)
    assert low.get("title") == "Low data"

    for element in (mp3, low):
        (source,) = element.iter(f"{PODCAST}source")
        (integrity,) = element.iter(f"{PODCAST}integrity")
        path = source.get("uri", "").removeprefix("http://127.0.0.1:8000")
        with client.get(path) as served:
            assert served.status_code == 200
            body = served.data
        assert int(element.get("length", "0")) == len(body)
        assert integrity.get("type") == "sri" and integrity.get("value") == _sri(body)


def test_partytime_reads_both_versions(
    client: FlaskClient, services: Services, episode: dict[str, Any]
) -> None:
    stored = _stored(services, episode["id"])
    (item,) = partytime(client.get("/daily/feed.xml").data)["items"]
    mp3, low = item["alternativeEnclosures"]
    assert (mp3["type"], mp3["default"], mp3["length"]) == ("audio/mpeg", True, stored.enclosure_length)
    assert mp3["integrity"] == {"type": "sri", "value": f"sha256-{stored.audio_sha256}"}
    assert (low["type"], low["default"], low["length"]) == ("audio/opus", False, stored.low_data_length)
    assert (low["bitrate"], low["codecs"], low["title"]) == (stored.low_data_kbps * 1000, "opus", "Low data")
    assert low["integrity"] == {"type": "sri", "value": f"sha256-{stored.low_data_sha256}"}
    assert [s["uri"] for s in low["source"]] == [f"http://127.0.0.1:8000/media/{stored.low_data_key}"]
    # Apps that know nothing of the namespace still get the MP3.
    (entry,) = feedparser.parse(client.get("/daily/feed.xml").data).entries
    assert [e.type for e in entry.enclosures] == ["audio/mpeg"]


def test_the_low_data_file_answers_get_head_and_ranges(
    client: FlaskClient, services: Services, episode: dict[str, Any]
) -> None:
    stored = _stored(services, episode["id"])
    path = f"/media/{stored.low_data_key}"
    with client.get(path) as whole:
        assert whole.status_code == 200 and whole.headers["Content-Type"] == "audio/ogg"
        data = whole.data
    assert data[:4] == b"OggS" and len(data) == stored.low_data_length
    with client.head(path) as head:
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    with client.get(path, headers={"Range": "bytes=10-99"}) as part:
        assert part.status_code == 206 and part.data == data[10:100]
        assert part.headers["Content-Range"] == f"bytes 10-99/{len(data)}"


def test_a_low_data_download_counts_as_a_download_of_the_episode(
    client: FlaskClient, services: Services, admin_token: str, episode: dict[str, Any]
) -> None:
    stored = _stored(services, episode["id"])
    answer = client.get(
        f"/media/{stored.low_data_key}",
        headers={"User-Agent": IPHONE},
        environ_base={"REMOTE_ADDR": "203.0.113.8"},
    )
    answer.close()
    # The same listener then fetches the MP3 too: still one download that day.
    answer = client.get(
        f"/media/{stored.audio_key}",
        headers={"User-Agent": IPHONE},
        environ_base={"REMOTE_ADDR": "203.0.113.8"},
    )
    answer.close()
    assert services.recorder.flush()
    figures = client.get("/api/v1/shows/daily/analytics", headers=auth(admin_token)).get_json()
    assert figures["downloads"] == 1
    assert figures["episodes"] == [{"id": episode["id"], "title": episode["title"], "downloads": 1}]


def test_an_episode_published_as_it_was_has_no_low_data_version(
    client: FlaskClient, services: Services, admin_token: str, episode: dict[str, Any]
) -> None:
    """An MP3 kept byte for byte (an import with keep_audio) is not re-encoded, so it has no Opus file and
    its item no alternateEnclosure; the MP3's hash is still kept."""
    with services.db.session() as session:
        found = session.get(Episode, episode["id"])
        assert found is not None
        found.keep_audio = True
        session.commit()
    reprocess = client.post(f"/api/v1/episodes/{episode['id']}/reprocess", headers=auth(admin_token))
    assert reprocess.status_code == 202
    stored = _stored(services, episode["id"])
    assert stored.status == "published" and stored.low_data_key is None and stored.low_data_length is None
    with (
        services.store.open(stored.audio_key or "") as published,
        services.store.open(stored.original_key or "") as original,
    ):
        kept = published.read()
        assert kept == original.read()
    assert stored.audio_sha256 == base64.b64encode(hashlib.sha256(kept).digest()).decode()
    feed = client.get("/daily/feed.xml").data
    assert _alternates(feed) == []
    assert etree.fromstring(feed).find("channel/item/enclosure") is not None


def test_the_episode_page_offers_the_low_data_file(
    client: FlaskClient, services: Services, episode: dict[str, Any]
) -> None:
    stored = _stored(services, episode["id"])
    page = client.get("/daily/episode-one/").get_data(as_text=True)
    url = f"http://127.0.0.1:8000/media/{stored.low_data_key}"
    # The button is shown by the player's script where the browser plays Ogg Opus; the link works without it.
    assert f'id="low-data" hidden aria-pressed="false" data-src="{url}"' in page
    size = f"{(stored.low_data_length or 0) / 1048576:.1f}"
    assert f'href="{url}" download>Download low data (Opus, {size} MB)</a>' in page
