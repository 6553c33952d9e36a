"""The audio pipeline (docs/audio-pipeline.md) and its refusals, against real ffmpeg and generated audio."""

from __future__ import annotations

import hashlib
import threading
import wave
from pathlib import Path

import audio_fixtures as fx
import psutil
import pytest
from mutagen.id3 import ID3, PictureType
from mutagen.mp3 import MP3, BitrateMode

from podcast_host import audio
from podcast_host.audio.ffmpeg import _audio_segment

SETTINGS = audio.EncodeSettings()
TAGS = audio.EpisodeTags(title="Episode 1: Radio", show="Kitchen Radio")
SIX_HOURS = 6 * 3600


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


def _process(
    src: Path, tags: audio.EpisodeTags = TAGS, **settings: float
) -> tuple[Path, audio.ProcessResult]:
    dst = src.with_name(src.name + ".out.mp3")
    probed = audio.probe(src, SIX_HOURS)
    return dst, audio.process(src, dst, probed, audio.EncodeSettings(**settings), tags)


def _assert_on_target(mp3: Path, target: float) -> dict:
    """The published MP3 measures target ±1 LU with a true peak at or below -1 dBTP.

    See docs/audio-pipeline.md, "Loudness".
    """
    measured = audio.measure_loudness(mp3)
    assert measured["lufs"] == pytest.approx(target, abs=1.0)
    assert measured["true_peak_dbtp"] <= -1.0
    return measured


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------- formats and layouts

FORMATS = [
    # suffix, channels, sample rate, level in dB from the voice's natural level
    (".mp3", 1, 44_100, 0),
    (".mp3", 2, 48_000, -12),
    (".m4a", 2, 44_100, 4),
    (".m4a", 1, 96_000, -20),
    (".aac", 2, 44_100, 0),
    (".wav", 1, 8_000, 0),
    (".wav", 2, 96_000, -25),
    (".flac", 2, 44_100, 8),
    (".flac", 1, 22_050, -6),
    (".ogg", 2, 44_100, 0),
    (".ogg", 1, 16_000, -15),
    (".opus", 2, 48_000, 0),
    (".opus", 1, 16_000, 6),
    (".aiff", 1, 44_100, -10),
    (".aiff", 2, 8_000, 0),
]


FORMAT_IDS = [f"{s[1:]}-{'mono' if c == 1 else 'stereo'}-{r // 1000}k" for s, c, r, _ in FORMATS]


@pytest.mark.parametrize(("suffix", "channels", "rate", "level_db"), FORMATS, ids=FORMAT_IDS)
def test_every_format_and_layout_lands_on_the_loudness_target(workdir, suffix, channels, rate, level_db):
    src = fx.make_speech(
        workdir / f"speech-{channels}-{rate}{suffix}",
        seconds=10,
        channels=channels,
        rate=rate,
        level_db=level_db,
    )
    probed = audio.probe(src, SIX_HOURS)
    # mutagen estimates raw ADTS length from the bitrate and misreads some mono AAC as stereo
    # (docs/audio-pipeline.md, "Settings").
    assert probed.duration_s == pytest.approx(10, abs=0.6 if suffix == ".aac" else 0.3)
    assert probed.channels == channels or suffix in (".m4a", ".aac")

    dst, result = _process(src)

    mp3 = MP3(dst)
    assert (mp3.info.sample_rate, mp3.info.channels) == (44_100, channels)
    assert mp3.info.bitrate == (64_000 if channels == 1 else 128_000)
    assert mp3.info.bitrate_mode == BitrateMode.CBR  # LAME's Info tag
    assert result.channels == channels
    assert result.duration_s == pytest.approx(10, abs=0.3)
    target = -19.0 if channels == 1 else -16.0
    measured = _assert_on_target(dst, target)
    report = result.loudness_report
    assert report["target_lufs"] == target
    assert report["output_lufs"] == pytest.approx(measured["lufs"], abs=0.3)
    assert report["on_target"] is True


def test_a_quiet_voice_with_loud_clicks_goes_through_the_limiter(workdir):
    src = fx.make_dynamic(workdir / "dynamic.flac", seconds=12, channels=2)
    before = audio.measure_loudness(src)
    assert before["true_peak_dbtp"] - before["lufs"] > 25  # gain alone would push the clicks far over

    dst, result = _process(src)

    _assert_on_target(dst, -16.0)
    assert result.loudness_report["limiter_applied"] is True
    assert result.loudness_report["gain_db"] > 15


def test_a_loud_source_with_overs_comes_down_without_clipping(workdir):
    src = fx.make_speech(workdir / "hot.wav", seconds=8, channels=2, level_db=14)  # clipped at the source
    dst, result = _process(src)
    _assert_on_target(dst, -16.0)
    assert result.loudness_report["gain_db"] < 0


def test_a_steady_tone_needs_no_limiter(workdir):
    src = fx.make_tone(workdir / "tone.flac", seconds=6, channels=2, level_db=-30)
    dst, result = _process(src)
    _assert_on_target(dst, -16.0)
    assert result.loudness_report["limiter_applied"] is False


def test_stereo_is_measured_as_stereo_not_as_its_mono_fold_down(workdir):
    """Channels in opposite phase cancel in a mono fold-down: the gain must follow the stereo loudness."""
    voice = fx.make_speech(workdir / "one-voice.wav", seconds=10, channels=1, level_db=-12)
    src = workdir / "opposite-phase.flac"
    fx._run(["-i", str(voice), "-af", "pan=stereo|c0=c0|c1=-1*c0", "-c:a", "flac", str(src)])
    dst, result = _process(src)
    _assert_on_target(dst, -16.0)
    source = audio.measure_loudness(src)
    assert result.loudness_report["input_lufs"] == pytest.approx(source["lufs"], abs=0.1)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d: fx.make_dynamic(d / "clicks.flac", seconds=12, channels=2), id="clicks"),
        pytest.param(lambda d: fx.make_speech(d / "overs.wav", 8, 2, level_db=14), id="overs"),
        pytest.param(lambda d: fx.make_speech(d / "quiet.mp3", 8, 1, 48_000, level_db=-12), id="mono 48k"),
        pytest.param(lambda d: fx.make_speech(d / "narrow.wav", 8, 2, 8_000), id="stereo 8k"),
    ],
)
def test_the_report_gives_the_inputs_loudness_and_true_peak(workdir, make):
    """Pass 1 reads the sample peak; the first encode measures the true peak the report gives."""
    src = make(workdir)
    _, result = _process(src)
    source = audio.measure_loudness(src)
    report = result.loudness_report
    assert report["input_lufs"] == pytest.approx(source["lufs"], abs=0.1)
    assert report["input_true_peak_dbtp"] == pytest.approx(source["true_peak_dbtp"], abs=0.2)


def test_surround_is_folded_down_to_stereo(workdir):
    src = fx.make_surround(workdir / "surround.wav", seconds=6)
    assert audio.probe(src, SIX_HOURS).channels == 6
    dst, result = _process(src)
    assert MP3(dst).info.channels == 2 and result.channels == 2
    _assert_on_target(dst, -16.0)


def test_show_settings_change_target_and_bitrate(workdir):
    src = fx.make_speech(workdir / "settings.wav", seconds=8, channels=2)
    dst, result = _process(src, target_lufs_stereo=-18.0, bitrate_stereo_kbps=96)
    assert MP3(dst).info.bitrate == 96_000
    _assert_on_target(dst, -18.0)
    assert result.loudness_report["target_lufs"] == -18.0


def _count_pydub_gain(monkeypatch, apply: bool = True) -> list[float]:
    """Record the length (s) of every AudioSegment that gets a gain; with apply=False the gain is dropped."""
    segment = _audio_segment()
    real_apply_gain = segment.apply_gain
    seconds: list[float] = []

    def apply_gain(self, volume_change):
        seconds.append(self.duration_seconds)
        return real_apply_gain(self, volume_change) if apply else self

    monkeypatch.setattr(segment, "apply_gain", apply_gain)
    return seconds


def test_pydub_applies_the_episode_gain_one_bounded_chunk_at_a_time(workdir, monkeypatch):
    src = fx.make_speech(workdir / "pydub-gain.flac", seconds=8, channels=2, level_db=-12)
    seconds = _count_pydub_gain(monkeypatch)

    dst, result = _process(src)

    _assert_on_target(dst, -16.0)
    assert result.loudness_report["gain_db"] > 5
    assert sum(seconds) >= result.duration_s - 0.05  # every second of the episode went through pydub
    assert max(seconds) <= 1.0  # in chunks of at most one second, never the whole episode


def test_without_pydubs_gain_the_episode_misses_its_target(workdir, monkeypatch):
    """Nothing else applies the gain: with pydub's apply_gain made a no-op, the MP3 stays far too quiet."""
    src = fx.make_speech(workdir / "no-pydub-gain.flac", seconds=8, channels=2, level_db=-12)
    seconds = _count_pydub_gain(monkeypatch, apply=False)

    _, result = _process(src)

    assert seconds
    assert result.loudness_report["on_target"] is False
    assert result.loudness_report["output_lufs"] < -16.0 - 5


def test_an_encoder_that_quits_fails_the_episode_instead_of_hanging(workdir):
    """A bitrate ffmpeg refuses stands in for an encoder that dies mid-job (killed, disk full)."""
    src = fx.make_tone(workdir / "encoder-quits.flac", seconds=30, channels=2)  # more than the pipes hold
    probed = audio.probe(src, SIX_HOURS)
    failures: list[Exception] = []

    def run() -> None:
        settings = audio.EncodeSettings(bitrate_stereo_kbps=-5)
        try:
            audio.process(src, workdir / "encoder-quits.mp3", probed, settings, TAGS)
        except audio.AudioError as exc:
            failures.append(exc)

    job = threading.Thread(target=run, daemon=True)
    job.start()
    job.join(timeout=60)
    if job.is_alive():
        for child in psutil.Process().children(recursive=True):
            child.kill()
        pytest.fail("processing hung after the encoder quit")
    assert len(failures) == 1 and isinstance(failures[0], audio.DecodeFailed)
    assert str(failures[0]).startswith("Encoding the MP3 failed")
    assert not list(workdir.glob(".encoding-*"))


def test_measure_loudness_reads_the_ebu_reference_tone(workdir):
    # EBU Tech 3341, test 1: a stereo 1 kHz sine at -23 dBFS measures -23.0 LUFS.
    tone = fx.make_tone(workdir / "reference.wav", seconds=20, channels=2, level_db=-23)
    measured = audio.measure_loudness(tone)
    assert measured["lufs"] == pytest.approx(-23.0, abs=0.1)
    assert measured["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.2)


# ------------------------------------------------------------------------------ the rest of the result


def test_report_waveform_and_progress(workdir):
    src = fx.make_speech(workdir / "report.flac", seconds=12, channels=2)
    dst = workdir / "report.mp3"
    seen: list[float] = []
    result = audio.process(src, dst, audio.probe(src, SIX_HOURS), SETTINGS, TAGS, progress=seen.append)

    assert set(result.loudness_report) >= {
        "input_lufs",
        "input_lra",
        "input_true_peak_dbtp",
        "output_lufs",
        "output_true_peak_dbtp",
        "target_lufs",
        "limiter_applied",
        "gain_db",
    }
    assert 900 <= len(result.waveform) <= 1000
    assert min(result.waveform) >= 0 and max(result.waveform) == 1.0
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 5
    assert not list(workdir.glob(".encoding-*"))


def test_the_original_is_never_modified(workdir):
    src = fx.make_speech(workdir / "keep.mp3", seconds=6, channels=2)
    before = _sha256(src)
    _process(src, audio.EpisodeTags(title="New", show="Show", chapters=[{"startTime": 0, "title": "A"}]))
    assert _sha256(src) == before


# ----------------------------------------------------------------------------------- tags and chapters

CHAPTERS = [
    {"startTime": 4.0, "endTime": None, "title": "مرحبا — the guest"},
    {"startTime": 0.0, "endTime": 4.0, "title": "Cold open"},
]


def test_tags_cover_and_chapters_read_back_with_mutagen(workdir):
    src = fx.make_speech(workdir / "tagged.wav", seconds=8, channels=1)
    cover = fx.write_jpeg(workdir / "cover.jpg", size=64).read_bytes()
    tags = audio.EpisodeTags(
        title='Ep. 12 — <Radio> & "Friends"',
        show="Kitchen Radio",
        author="Ana Ruiz",
        date="2026-11-27",
        season=2,
        number=12,
        cover=cover,
        chapters=CHAPTERS,
    )
    dst, _ = _process(src, tags)

    id3 = ID3(dst)
    assert id3.version[:2] == (2, 3)
    assert str(id3["TIT2"]) == tags.title and str(id3["TALB"]) == "Kitchen Radio"
    assert str(id3["TPE1"]) == "Ana Ruiz" and str(id3["TDRC"]) == "2026-11-27"
    assert (str(id3["TPOS"]), str(id3["TRCK"])) == ("2", "12")
    (picture,) = id3.getall("APIC")
    assert picture.type == PictureType.COVER_FRONT and picture.data == cover and picture.mime == "image/jpeg"
    (toc,) = id3.getall("CTOC")
    assert toc.child_element_ids == ["chp0", "chp1"]
    chapters = audio.probe(dst, SIX_HOURS).chapters
    assert [c["title"] for c in chapters] == ["Cold open", "مرحبا — the guest"]
    assert [c["startTime"] for c in chapters] == [0.0, 4.0]
    assert chapters[1]["endTime"] == pytest.approx(8.0, abs=0.2)  # the last chapter runs to the end


def test_write_tags_rewrites_metadata_in_place(workdir):
    src = fx.make_speech(workdir / "retag.wav", seconds=5, channels=1)
    dst, _ = _process(
        src,
        audio.EpisodeTags(title="Old", show="Show", number=1, chapters=[{"startTime": 0, "title": "Only"}]),
    )
    audio_before = MP3(dst).info.length
    audio.write_tags(dst, audio.EpisodeTags(title="New title", show="Show"))
    id3 = ID3(dst)
    assert str(id3["TIT2"]) == "New title"
    assert "TRCK" not in id3 and not id3.getall("CHAP")
    assert MP3(dst).info.length == audio_before


def test_probe_reads_chapters_of_an_uploaded_mp3_in_time_order(workdir):
    src = fx.make_speech(
        workdir / "chaptered.mp3",
        seconds=9,
        channels=2,
        chapters=[
            {"startTime": 0, "endTime": 3, "title": "One"},
            {"startTime": 3, "endTime": 6, "title": "Two"},
            {"startTime": 6, "endTime": 9, "title": "Three"},
        ],
    )
    # mutagen returns CHAP frames in stored order (docs/audio-pipeline.md, "ID3 tags"): shuffled, to
    # prove the sort.
    tags = ID3(src)
    frames = tags.getall("CHAP")
    tags.delall("CHAP")
    for frame in reversed(frames):
        tags.add(frame)
    tags.save(src)

    chapters = audio.probe(src, SIX_HOURS).chapters
    assert [c["title"] for c in chapters] == ["One", "Two", "Three"]
    assert chapters[1] == {"startTime": 3.0, "endTime": 6.0, "title": "Two"}


def test_probe_of_plain_audio_has_no_chapters(workdir):
    src = fx.make_tone(workdir / "plain.flac", seconds=2)
    probed = audio.probe(src, SIX_HOURS)
    assert (probed.format, probed.mime_type, probed.chapters) == ("flac", "audio/flac", [])


# ------------------------------------------------------------------------------------- bad input (§10)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("notes.mp3", fx.write_text),
        ("noise.wav", fx.write_random_bytes),
        ("cover.m4a", fx.write_png),
        ("noise.bin", fx.write_random_bytes),
        ("notes.flac", fx.write_text),
    ],
)
def test_files_that_are_not_audio_are_unsupported(workdir, name, make):
    path = make(workdir / name)
    with pytest.raises(audio.UnsupportedAudio, match=r"not audio we can read \(tried MP3, M4A"):
        audio.probe(path, SIX_HOURS)


def test_an_empty_file_is_invalid(workdir):
    path = workdir / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(audio.InvalidAudio, match="empty"):
        audio.probe(path, SIX_HOURS)


def test_audio_over_the_length_limit_is_invalid(workdir):
    src = fx.make_tone(workdir / "long.flac", seconds=90, channels=1)
    with pytest.raises(audio.InvalidAudio, match=r"The audio is 1m 30s long; the limit is 1m 0s"):
        audio.probe(src, max_duration_s=60)


def test_a_sample_rate_outside_8_to_96_khz_is_invalid(workdir):
    src = fx.make_tone(workdir / "low-rate.wav", seconds=2, channels=1, rate=4_000)
    with pytest.raises(audio.InvalidAudio, match="4000 Hz; we accept 8 kHz to 96 kHz"):
        audio.probe(src, SIX_HOURS)


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".wav", ".m4a"])
def test_a_truncated_upload_fails_to_process(workdir, suffix):
    src = fx.make_speech(workdir / f"cut{suffix}", seconds=10, channels=2)
    if suffix == ".m4a":  # mutagen reads the length from the moov atom, which ffmpeg writes first here
        _faststart(src)
    fx.truncate(src, keep=0.5)
    probed = audio.probe(src, SIX_HOURS)  # mutagen does not notice the cut
    assert probed.duration_s == pytest.approx(10, abs=0.3)
    dst = workdir / f"cut{suffix}.out.mp3"
    with pytest.raises(audio.DecodeFailed, match="stops after .* although the file says it lasts 10 s"):
        audio.process(src, dst, probed, SETTINGS, TAGS)
    assert not dst.exists() and not list(workdir.glob(".encoding-*"))


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".m4a"])
def test_corrupted_audio_fails_to_process(workdir, suffix):
    src = fx.make_speech(workdir / f"corrupt{suffix}", seconds=10, channels=2)
    if suffix == ".m4a":
        _faststart(src)  # keep the index readable: only the audio data is damaged
    fx.corrupt(src, start=0.3)
    probed = audio.probe(src, SIX_HOURS)
    with pytest.raises(audio.DecodeFailed, match="could not be decoded|looks truncated or damaged"):
        audio.process(src, workdir / f"corrupt{suffix}.out.mp3", probed, SETTINGS, TAGS)


def test_ffmpeg_binary_is_runnable():
    assert Path(audio.ffmpeg_binary()).name.startswith("ffmpeg")


def _faststart(path: Path) -> None:
    """Rewrite an M4A with its index first, as most podcast tools deliver it."""
    moved = path.with_name("faststart-" + path.name)
    fx._run(["-i", str(path), "-c", "copy", "-movflags", "+faststart", str(moved)])
    moved.replace(path)


def test_a_wav_without_samples_is_invalid(workdir):
    path = workdir / "no-samples.wav"
    with wave.open(str(path), "wb") as header_only:
        header_only.setnchannels(1)
        header_only.setsampwidth(2)
        header_only.setframerate(44_100)
    with pytest.raises(audio.InvalidAudio, match="no length"):
        audio.probe(path, SIX_HOURS)
