"""ID3 tags that would keep mutagen busy for minutes are refused in milliseconds; real tags pass.

mutagen copies the rest of the tag after each frame it reads: a 10 MB tag of empty TXXX frames took it 420 s.
The limits are documented in docs/audio-pipeline.md ("Tag limits").
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import audio_fixtures as fx
import pytest
from mutagen.id3 import APIC, CHAP, CTOC, ID3, TIT2, TPE1, CTOCFlags

from podcast_host import audio
from podcast_host.chapters import chapters_for_tags, chapters_from_list
from podcast_host.tag_limits import MAX_FRAMES, MAX_TAG_BYTES, TagTooLarge, check_id3

MB = 1024 * 1024


def syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def frame(version: int, name: bytes, body: bytes, flags: int = 0) -> bytes:
    if version == 2:
        return name[:3] + len(body).to_bytes(3, "big") + body
    size = syncsafe(len(body)) if version == 4 else struct.pack(">L", len(body))
    return name + size + struct.pack(">H", flags) + body


def tag(version: int, frames: list[bytes], padding: int = 0, flags: int = 0) -> bytes:
    body = b"".join(frames) + b"\x00" * padding
    return b"ID3" + bytes([version, 0, flags]) + syncsafe(len(body)) + body


def empty_frames(version: int, size: int) -> bytes:
    """A tag of `size` bytes made of empty user text frames: the pattern that is quadratic in mutagen."""
    one = frame(version, b"TXXX" if version > 2 else b"TXX", b"\x03\x00\x00")
    return tag(version, [one] * (size // len(one)))


@pytest.fixture(scope="module")
def mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("tags")
    return fx.make_tone(folder / "tone.mp3", seconds=2, channels=1).read_bytes()


def refused_quickly(path: Path) -> str:
    started = time.perf_counter()
    with pytest.raises(TagTooLarge) as refused:
        check_id3(path)
    assert time.perf_counter() - started < 0.5
    assert str(refused.value).endswith((".", "tags."))
    return str(refused.value)


@pytest.mark.parametrize("version", [2, 3, 4])
def test_ten_megabytes_of_empty_frames_are_refused_in_milliseconds(
    tmp_path: Path, mp3: bytes, version: int
) -> None:
    path = tmp_path / "hostile.mp3"
    path.write_bytes(empty_frames(version, 10 * MB) + mp3)
    assert "frames" in refused_quickly(path)


def test_a_small_tag_of_too_many_frames_is_refused(tmp_path: Path, mp3: bytes) -> None:
    tiny = frame(3, b"TXXX", b"\x03\x00\x00")
    path = tmp_path / "many.mp3"
    path.write_bytes(tag(3, [tiny] * (MAX_FRAMES + 1)) + mp3)
    assert f"more than {MAX_FRAMES:,} frames" in refused_quickly(path)
    path.write_bytes(tag(3, [tiny] * MAX_FRAMES) + mp3)
    check_id3(path)


def test_many_small_frames_before_a_big_cover_are_refused(tmp_path: Path, mp3: bytes) -> None:
    """Under the frame and size limits, but mutagen would copy the cover 4,000 times (15 s)."""
    tiny = frame(4, b"TXXX", b"\x03\x00\x00")
    cover = frame(4, b"APIC", b"\x00image/jpeg\x00\x03\x00" + b"\xff" * (15 * MB))
    path = tmp_path / "hostile.mp3"
    path.write_bytes(tag(4, [tiny] * 4_000 + [cover]) + mp3)
    assert "read quickly" in refused_quickly(path)


def test_a_tag_over_the_size_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "huge.mp3"
    # The header claims 200 MB; the file need not hold them for the refusal.
    path.write_bytes(b"ID3\x04\x00\x00" + syncsafe(200 * MB) + b"TIT2")
    assert "16.0 MB" in refused_quickly(path)


def test_a_compressed_frame_that_inflates_past_the_limit_is_refused(tmp_path: Path, mp3: bytes) -> None:
    """64 MB of zeros deflate to 64 KB: mutagen would inflate them in memory."""
    bomb = zlib.compress(b"\x00" * (64 * MB), 9)
    compressed = frame(4, b"TXXX", syncsafe(64 * MB) + bomb, flags=0x0008 | 0x0001)
    path = tmp_path / "bomb.mp3"
    path.write_bytes(tag(4, [compressed]) + mp3)
    assert "inflates" in refused_quickly(path)


def test_a_chapter_frame_full_of_empty_frames_is_refused(tmp_path: Path, mp3: bytes) -> None:
    """mutagen reads a chapter's sub-frames with the same loop: the limits hold inside too."""
    inner = frame(3, b"TXXX", b"\x03\x00\x00") * 200_000
    chapter = frame(3, b"CHAP", b"ch0\x00" + b"\x00" * 16 + inner)
    path = tmp_path / "chapter.mp3"
    path.write_bytes(tag(3, [chapter]) + mp3)
    assert "frames" in refused_quickly(path)


def test_a_hostile_tag_in_a_wave_chunk_is_refused(tmp_path: Path) -> None:
    wav = fx.make_tone(tmp_path / "tone.wav", seconds=1, channels=1).read_bytes()
    hostile = empty_frames(4, 2 * MB)
    chunk = b"id3 " + struct.pack("<L", len(hostile)) + hostile
    body = wav[12:] + chunk
    path = tmp_path / "tagged.wav"
    path.write_bytes(b"RIFF" + struct.pack("<L", len(body) + 4) + b"WAVE" + body)
    assert "frames" in refused_quickly(path)


def test_real_tags_pass(tmp_path: Path) -> None:
    """A title, a 1 MB cover, 500 chapters and a table of contents, as mutagen writes them (2.3, 2.4)."""
    for version in (3, 4):
        path = fx.make_tone(tmp_path / f"real{version}.mp3", seconds=2, channels=1)
        tags = ID3()
        tags.add(TIT2(encoding=3, text="A real episode"))
        tags.add(TPE1(encoding=3, text="A real host"))
        tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=b"\xff\xd8" + b"\x01" * MB))
        ids = [f"ch{i}" for i in range(500)]
        for i, element_id in enumerate(ids):
            title = TIT2(encoding=3, text=f"Chapter {i}")
            tags.add(
                CHAP(element_id=element_id, start_time=i * 1000, end_time=i * 1000 + 999, sub_frames=[title])
            )
        # A CTOC counts its entries in one byte: two tables under a top-level one, as our writer does.
        halves = {"toc1": ids[:250], "toc2": ids[250:]}
        for element_id, children in halves.items():
            tags.add(CTOC(element_id=element_id, flags=CTOCFlags.ORDERED, child_element_ids=children))
        top = CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
        tags.add(CTOC(element_id="toc", flags=top, child_element_ids=list(halves)))
        tags.save(path, v2_version=version)
        started = time.perf_counter()
        check_id3(path)
        assert time.perf_counter() - started < 0.5
        assert len(ID3(path).getall("CHAP")) == 500


def test_our_own_tags_pass(tmp_path: Path) -> None:
    """What the pipeline writes (500 chapters, a cover) is read back without a refusal."""
    path = fx.make_tone(tmp_path / "episode.mp3", seconds=2, channels=1)
    chapters = chapters_from_list([{"startTime": float(i), "title": f"Part {i}"} for i in range(500)])
    cover = fx.write_jpeg(tmp_path / "cover.jpg", size=600).read_bytes()
    audio.write_tags(
        path, audio.EpisodeTags(title="Ours", show="Show", cover=cover, chapters=chapters_for_tags(chapters))
    )
    check_id3(path)
    written = ID3(path)
    assert len(written.getall("CHAP")) == 500 and written.getall("APIC")


def test_files_without_a_tag_and_other_formats_pass(tmp_path: Path) -> None:
    for suffix in (".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aiff"):
        check_id3(fx.make_tone(tmp_path / f"tone{suffix}", seconds=1, channels=1))
    short = tmp_path / "short.mp3"
    short.write_bytes(b"ID3")
    check_id3(short)


def test_a_tag_of_exactly_the_size_limit_passes_and_one_byte_more_does_not(
    tmp_path: Path, mp3: bytes
) -> None:
    """One embedded cover that fills the tag to the limit, then the same with a byte of padding."""
    header = b"\x00image/jpeg\x00\x03\x00"
    cover = frame(4, b"APIC", header + b"\xff" * (MAX_TAG_BYTES - 10 - len(header)))
    path = tmp_path / "big-cover.mp3"
    path.write_bytes(tag(4, [cover]) + mp3)
    check_id3(path)
    assert audio.probe(path, 3600).format == "mp3"
    path.write_bytes(tag(4, [cover], padding=1) + mp3)
    assert f"up to {MAX_TAG_BYTES / MB:.1f} MB" in refused_quickly(path)


def test_the_tag_check_stands_alone() -> None:
    """audio imports the tag check, never the other way round: it loads without the audio pipeline."""
    import subprocess
    import sys

    code = "import sys, podcast_host.tag_limits; assert 'podcast_host.audio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_probe_refuses_a_hostile_tag_as_invalid_audio(tmp_path: Path, mp3: bytes) -> None:
    path = tmp_path / "hostile.mp3"
    # Half a megabyte: mutagen alone would take seconds over it, not minutes.
    path.write_bytes(empty_frames(4, MB // 2) + mp3)
    started = time.perf_counter()
    with pytest.raises(audio.InvalidAudio, match="frames"):
        audio.probe(path, 3600)
    assert time.perf_counter() - started < 1.0
