"""Files whose headers lie about their length, the waveform's size, and what processing keeps in memory.

A header that claims less audio than the file holds must neither run the decoder past the length limit nor
size anything (the waveform) from the claim; docs/audio-pipeline.md describes the rules.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import audio_fixtures as fx
import psutil
import pytest

from podcast_host import audio

SETTINGS = audio.EncodeSettings()
TAGS = audio.EpisodeTags(title="Lying header", show="Kitchen Radio")
SIX_HOURS = 6 * 3600


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("limits")


def test_a_flac_whose_streaminfo_claims_one_second_of_two_minutes_fails(workdir: Path) -> None:
    src = fx.make_tone(workdir / "lying.flac", seconds=120, channels=1, rate=8_000)
    fx.claim_flac_length(src, 1.0)
    probed = audio.probe(src, SIX_HOURS)
    assert probed.duration_s == pytest.approx(1.0)
    dst = workdir / "lying-flac.mp3"
    with pytest.raises(audio.DecodeFailed, match="runs past 2 s although the file says it lasts 1 s"):
        audio.process(src, dst, probed, SETTINGS, TAGS)
    assert not dst.exists() and not list(workdir.glob(".encoding-*"))


def test_an_mp3_whose_xing_header_claims_one_second_of_two_minutes_fails(workdir: Path) -> None:
    src = fx.make_tone(workdir / "lying.mp3", seconds=120, channels=1)
    fx.claim_mp3_length(src, 1.0)
    probed = audio.probe(src, SIX_HOURS)
    assert probed.duration_s == pytest.approx(1.0, abs=0.05)
    with pytest.raises(audio.DecodeFailed, match="header is wrong"):
        audio.process(src, workdir / "lying-mp3.mp3", probed, SETTINGS, TAGS)


def test_a_run_parses_the_source_with_mutagen_once(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its tags may take 16 MB: the run reads them once, also when the decode comes out short."""
    import mutagen

    src = fx.make_speech(workdir / "cut-once.mp3", seconds=10, channels=1)
    fx.truncate(src, keep=0.5)
    probed = audio.probe(src, SIX_HOURS)
    parsed: list[Path] = []
    parse = mutagen.File

    def counted(path: Path, *args: object, **kwargs: object) -> object:
        parsed.append(Path(path))
        return parse(path, *args, **kwargs)

    monkeypatch.setattr(mutagen, "File", counted)
    with pytest.raises(audio.DecodeFailed, match="looks truncated"):
        audio.process(src, workdir / "cut-once.out.mp3", probed, SETTINGS, TAGS)
    assert parsed == [src]


def test_decoding_stops_at_the_length_limit_when_the_length_is_an_estimate(workdir: Path) -> None:
    """Raw AAC has no length field: a dense opening makes mutagen's estimate short, the limit still holds."""
    src = fx.make_understated_aac(workdir / "understated.aac", loud_seconds=3, quiet_seconds=60)
    probed = audio.probe(src, 20)
    assert probed.duration_s < 15  # what mutagen believes; ffmpeg decodes 63 s
    seen: list[float] = []
    with pytest.raises(audio.DecodeFailed, match="longer than the limit of 20 s"):
        audio.process(
            src, workdir / "understated.mp3", probed, SETTINGS, TAGS, seen.append, max_duration_s=20
        )
    assert seen and max(seen) <= 0.25  # failed in the measuring pass, before any encoding


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d: fx.make_tone(d / "short.wav", seconds=0.3, channels=1), id="0.3 s"),
        pytest.param(lambda d: fx.make_speech(d / "half-minute.flac", seconds=30, channels=2), id="30 s"),
        pytest.param(lambda d: fx.make_understated_aac(d / "estimate.aac", 2, 40), id="estimate 7x short"),
    ],
)
def test_the_waveform_has_the_same_number_of_points_whatever_the_length(workdir: Path, make) -> None:
    src = make(workdir)
    result = audio.process(src, workdir / (src.name + ".mp3"), audio.probe(src, SIX_HOURS), SETTINGS, TAGS)
    assert len(result.waveform) == audio.WAVEFORM_POINTS
    assert max(result.waveform) == 1.0 and min(result.waveform) >= 0


@pytest.mark.slow
@pytest.mark.parametrize("low_data", [False, True], ids=["mp3", "mp3 and low data"])
def test_processing_never_runs_more_than_three_ffmpeg_processes(workdir: Path, low_data: bool) -> None:
    """Decoder, encoder and meter while the MP3 is made, the Opus file included (docs/audio-pipeline.md)."""
    src = fx.make_dynamic(workdir / "dynamic.wav", seconds=40, channels=2)  # needs the limiter
    me = psutil.Process()
    most, done = 0, threading.Event()

    def count() -> None:
        nonlocal most
        while not done.is_set():
            children = [c for c in me.children(recursive=True) if _is_ffmpeg(c)]
            most = max(most, len(children))
            time.sleep(0.005)

    counter = threading.Thread(target=count)
    counter.start()
    low_data_dst = workdir / "dynamic.opus" if low_data else None
    dst, probed = workdir / "dynamic.mp3", audio.probe(src, SIX_HOURS)
    try:
        result = audio.process(src, dst, probed, SETTINGS, TAGS, low_data_dst=low_data_dst)
    finally:
        done.set()
        counter.join()
    assert result.loudness_report["limiter_applied"]
    assert (result.low_data is not None) == low_data
    assert most == 3


def _is_ffmpeg(process: psutil.Process) -> bool:
    try:
        return process.name().startswith("ffmpeg")
    except psutil.Error:
        return False


def test_importing_the_pipeline_loads_neither_pydub_nor_mutagen() -> None:
    """The web process imports the audio package for every request; the libraries load on first use."""
    code = (
        "import sys, podcast_host.audio, podcast_host.chapters\n"
        "print(sorted(m for m in ('pydub', 'mutagen', 'numpy') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_run_past_its_deadline_stops_its_ffmpeg_and_says_so(workdir: Path) -> None:
    src = fx.make_tone(workdir / "long-enough.wav", seconds=60, channels=2)
    probed = audio.probe(src, SIX_HOURS)
    me = psutil.Process()
    started = time.monotonic()
    with pytest.raises(audio.TimedOut, match="longer than its time limit"):
        audio.process(
            src,
            workdir / "late.mp3",
            probed,
            SETTINGS,
            TAGS,
            deadline=started + 0.5,
            low_data_dst=workdir / "late.opus",
        )
    assert time.monotonic() - started < 5  # stopped at the deadline, not after the minute of audio
    assert not [c for c in me.children(recursive=True) if _is_ffmpeg(c)]
    assert not (workdir / "late.mp3").exists() and not (workdir / "late.opus").exists()
    assert not list(workdir.glob(".encoding-*"))
