"""Test audio made at test time with ffmpeg (lavfi) and espeak-ng: speech, tones, dynamic audio, broken files.

Any test may import these; each function writes one file and returns its path. The container and codec follow
the suffix: .mp3 .m4a .aac .wav .flac .ogg (Vorbis) .opus .aiff.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from podcast_host.audio import ffmpeg_binary

# Codec per suffix; the encoders named are the ones Debian's ffmpeg ships.
CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    ".m4a": ["-c:a", "aac", "-b:a", "128k"],
    ".aac": ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
    ".wav": ["-c:a", "pcm_s16le"],
    ".flac": ["-c:a", "flac"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    ".opus": ["-c:a", "libopus", "-b:a", "64k"],
    ".aiff": ["-c:a", "pcm_s16be"],
}
OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)  # the only rates libopus encodes

SCRIPT = (
    "Welcome back to the show. Today we talk about the early days of radio, the first broadcasts from "
    "a shed by the sea, and why one small microphone changed how a voice reaches a kitchen. "
    "Our guest spent twenty years recording stories on buses, in mountain huts and at night markets. "
    "So let us begin with a question: what makes a voice feel close?"
)


def make_speech(
    path: Path,
    seconds: float = 10.0,
    channels: int = 1,
    rate: int = 44_100,
    level_db: float = 0.0,
    chapters: list[dict] | None = None,
) -> Path:
    """Spoken word (espeak-ng, looped to length) over faint room tone, `level_db` from its natural level."""
    with tempfile.TemporaryDirectory() as scratch:
        voice = _voice(Path(scratch) / "voice.wav")
        inputs = [
            "-stream_loop",
            "-1",
            "-i",
            str(voice),
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=color=pink:amplitude=0.004:seed=7:r={rate}",
        ]
        graph = (
            f"[0:a]aresample={rate},{_spread(channels)}[v];[1:a]{_spread(channels)}[n];"
            f"[v][n]amix=inputs=2:normalize=0,volume={level_db}dB,atrim=0:{seconds}"
        )
        _render(path, inputs, graph, channels, rate, chapters)
    return path


def make_tone(
    path: Path,
    seconds: float = 10.0,
    channels: int = 2,
    rate: int = 44_100,
    frequency: float = 1_000.0,
    level_db: float = -23.0,
) -> Path:
    """A sine at `level_db` dBFS in every channel (EBU Tech 3341 case 1: 1 kHz at -23 dBFS reads -23 LUFS)."""
    amplitude = 8 * 10 ** (level_db / 20)  # lavfi's sine has an amplitude of 1/8
    inputs = ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate={rate}:duration={seconds}"]
    same_in_all = "aformat=channel_layouts=mono" if channels == 1 else "pan=stereo|c0=c0|c1=c0"
    graph = f"[0:a]volume={amplitude:.6f},{same_in_all}"
    _render(path, inputs, graph, channels, rate)
    return path


def make_dynamic(path: Path, seconds: float = 12.0, channels: int = 2, rate: int = 44_100) -> Path:
    """Quiet speech (about -37 LUFS) with full-scale clicks: the gain it needs would put them 20 dB over."""
    with tempfile.TemporaryDirectory() as scratch:
        voice = _voice(Path(scratch) / "voice.wav")
        # A two-sample click every 1.5 s: almost no energy (speech sets the loudness), all of the peak.
        clicks = f"0.97*(lt(mod(n,{int(rate * 1.5)}),2)-lt(mod(n-{rate // 2},{rate * 3}),2))"
        inputs = [
            "-stream_loop",
            "-1",
            "-i",
            str(voice),
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc='{clicks}':s={rate}:d={seconds}",
        ]
        graph = (
            f"[0:a]aresample={rate},volume=-18dB,{_spread(channels)}[v];[1:a]{_spread(channels)}[b];"
            f"[v][b]amix=inputs=2:normalize=0:duration=shortest,atrim=0:{seconds}"
        )
        _render(path, inputs, graph, channels, rate)
    return path


def make_surround(path: Path, seconds: float = 6.0, rate: int = 48_000) -> Path:
    """Six channels (5.1) of speech-like noise, for the downmix path."""
    inputs = ["-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.2:seed=3:r={rate}:d={seconds}"]
    graph = "[0:a]pan=5.1|FL=c0|FR=c0|FC=c0|LFE=0.1*c0|BL=0.5*c0|BR=0.5*c0"
    _render(path, inputs, graph, 6, rate)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut the file to its first `keep` share of bytes, as an interrupted upload leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupt(path: Path, start: float = 0.2, seed: int = 1) -> Path:
    """Overwrite everything after the first `start` share of bytes with random bytes; headers stay intact."""
    data = bytearray(path.read_bytes())
    cut = int(len(data) * start)
    data[cut:] = random.Random(seed).randbytes(len(data) - cut)
    path.write_bytes(bytes(data))
    return path


def write_text(path: Path) -> Path:
    """Plain text, to be saved under an audio name."""
    path.write_text("These are show notes, not audio.\n" * 40, encoding="utf-8")
    return path


def write_random_bytes(path: Path, size: int = 64_000, seed: int = 2) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def write_png(path: Path) -> Path:
    """A real 16x16 PNG (made by ffmpeg), for uploads that claim to be audio."""
    _run(
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=16x16:d=1",
            "-frames:v",
            "1",
            "-f",
            "image2",
            "-c:v",
            "png",
            str(path),
        ]
    )
    return path


def write_jpeg(path: Path, size: int = 1400) -> Path:
    """A square JPEG cover."""
    _run(
        [
            "-f",
            "lavfi",
            "-i",
            f"testsrc=s={size}x{size}:d=1",
            "-frames:v",
            "1",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
            str(path),
        ]
    )
    return path


def _voice(path: Path) -> Path:
    """espeak-ng reading SCRIPT; without espeak-ng, a syllable-rhythm noise that meters like speech."""
    espeak = shutil.which("espeak-ng")
    if espeak:
        subprocess.run([espeak, "-w", str(path), SCRIPT], check=True, capture_output=True)
    else:
        _run(
            [
                "-f",
                "lavfi",
                "-i",
                "anoisesrc=color=pink:amplitude=0.5:d=16,volume='0.2+0.8*abs(sin(2*PI*2.5*t))':eval=frame",
                "-c:a",
                "pcm_s16le",
                str(path),
            ]
        )
    return path


def _spread(channels: int) -> str:
    """Filter that turns a mono source into `channels` channels (slightly different, as real stereo is)."""
    if channels == 1:
        return "aformat=channel_layouts=mono"
    return "pan=stereo|c0=c0|c1=0.92*c0"


def _render(
    path: Path, inputs: list[str], graph: str, channels: int, rate: int, chapters: list[dict] | None = None
) -> None:
    codec = CODECS[path.suffix.lower()]
    if path.suffix.lower() == ".opus" and rate not in OPUS_RATES:
        rate = 48_000
    metadata: list[str] = []
    if chapters:
        metadata_file = path.with_name(path.name + ".ffmeta")
        metadata_file.write_text(_ffmetadata(chapters), encoding="utf-8")
        inputs = [*inputs, "-f", "ffmetadata", "-i", str(metadata_file)]
        metadata = ["-map_chapters", str(inputs.count("-i") - 1)]
    try:
        _run(
            [
                *inputs,
                "-filter_complex",
                graph,
                *metadata,
                "-ac",
                str(channels),
                "-ar",
                str(rate),
                *codec,
                str(path),
            ]
        )
    finally:
        if chapters:
            metadata_file.unlink(missing_ok=True)


def _ffmetadata(chapters: list[dict]) -> str:
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        start = int(chapter["startTime"] * 1000)
        end = int((chapter.get("endTime") or chapter["startTime"] + 1) * 1000)
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}", f"title={chapter['title']}"]
    return "\n".join(lines) + "\n"


def _run(args: list[str]) -> None:
    command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(command, check=True, capture_output=True)


def claim_flac_length(path: Path, seconds: float) -> Path:
    """Rewrite the total-samples field of a FLAC's STREAMINFO so that its header claims `seconds`."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0, "STREAMINFO must be the first metadata block"
    # Bytes 18..25: sample rate (20 bits), channels-1 (3), bits-1 (5), total samples (36).
    packed = int.from_bytes(data[18:26], "big")
    rate = packed >> 44
    packed = (packed >> 36 << 36) | int(seconds * rate)
    data[18:26] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def claim_mp3_length(path: Path, seconds: float, rate: int = 44_100) -> Path:
    """Rewrite the frame count of an MP3's Xing/Info header so that it claims `seconds` (MPEG-1 layer III)."""
    data = bytearray(path.read_bytes())
    at = max(data.find(b"Xing"), data.find(b"Info"))
    assert at != -1 and int.from_bytes(data[at + 4 : at + 8], "big") & 1, (
        "needs a Xing header with a frame count"
    )
    data[at + 8 : at + 12] = int(seconds * rate / 1152).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def make_understated_aac(path: Path, loud_seconds: float = 3.0, quiet_seconds: float = 60.0) -> Path:
    """Raw ADTS AAC whose dense opening makes mutagen's size-based estimate far shorter than the audio."""
    with tempfile.TemporaryDirectory() as scratch:
        parts = []
        for name, seconds, amplitude, kbps in (("a", loud_seconds, 0.5, 256), ("b", quiet_seconds, 0.01, 16)):
            part = Path(scratch) / f"{name}.aac"
            source = f"anoisesrc=color=pink:amplitude={amplitude}:r=44100:d={seconds}"
            _run(
                [
                    "-f",
                    "lavfi",
                    "-i",
                    source,
                    "-ac",
                    "1",
                    "-c:a",
                    "aac",
                    "-b:a",
                    f"{kbps}k",
                    "-f",
                    "adts",
                    str(part),
                ]
            )
            parts.append(part.read_bytes())
    path.write_bytes(b"".join(parts))
    return path
