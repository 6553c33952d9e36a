"""JSON chapters that must be refused (422 at upload, Invalid in `sync`) and the most the CHAP writer takes.

Limits are documented in docs/audio-pipeline.md: finite times of zero or more, http(s) links only, at most
`MAX_CHAPTERS` chapters with titles of at most `MAX_TITLE_CHARS` characters, no deep nesting.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import audio_fixtures as fx
import pytest
from helpers import auth, create_show, upload_episode
from mutagen.id3 import ID3, CTOCFlags

from podcast_host import audio
from podcast_host.chapters import (
    MAX_CHAPTER_TIME_S,
    MAX_CHAPTERS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    chapters_for_tags,
    chapters_from_list,
    parse_chapters,
)
from podcast_host.errors import Invalid
from podcast_host.models import Episode
from podcast_host.services import Services
from podcast_host.sync import sync_directory


def doc(*chapters: dict[str, Any]) -> bytes:
    return json.dumps({"version": "1.2.0", "chapters": list(chapters)}).encode()


REFUSED = {
    "NaN start": b'{"chapters": [{"startTime": NaN, "title": "A"}]}',
    "Infinity start": b'{"chapters": [{"startTime": Infinity, "title": "A"}]}',
    "-Infinity end": b'{"chapters": [{"startTime": 0, "endTime": -Infinity}]}',
    "1e309 start (overflows to infinity)": b'{"chapters": [{"startTime": 1e309, "title": "A"}]}',
    "1e309 end": b'{"chapters": [{"startTime": 0, "endTime": 1e309, "title": "A"}]}',
    "NaN end": b'{"chapters": [{"startTime": 0, "endTime": NaN, "title": "A"}]}',
    "a start past the longest episode": doc({"startTime": MAX_CHAPTER_TIME_S + 1}),
    "a negative start": doc({"startTime": -1}),
    "too many chapters": doc(*({"startTime": i} for i in range(MAX_CHAPTERS + 1))),
    "a title over the limit": doc({"startTime": 0, "title": "t" * (MAX_TITLE_CHARS + 1)}),
    "200 KB of nested brackets": b"[" * 100_000 + b"]" * 100_000,
    "nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "a javascript: url": doc({"startTime": 0, "url": "javascript:alert(document.cookie)"}),
    "a JavaScript: url with spaces": doc({"startTime": 0, "url": "  JavaScript:alert(1)"}),
    "a javascript: img": doc({"startTime": 0, "img": "javascript:alert(1)"}),
    "a data: img": doc({"startTime": 0, "img": "data:image/png;base64,AAAA"}),
    "a relative url": doc({"startTime": 0, "url": "/admin"}),
    "an http url without a host": doc({"startTime": 0, "url": "http:///path"}),
    "a url over the limit": doc({"startTime": 0, "url": "https://example.com/" + "a" * MAX_URL_CHARS}),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_parse_chapters_refuses(case: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_chapters(REFUSED[case])
    assert refused.value.field == "chapters"
    assert str(refused.value).endswith(".")


def test_the_documented_maximum_is_accepted() -> None:
    most = doc(
        *(
            {
                "startTime": i * 10.5,
                "title": "é" * MAX_TITLE_CHARS,
                "url": "https://example.com/" + "u" * (MAX_URL_CHARS - 20),
                "img": "http://example.com/cover.png",
            }
            for i in range(MAX_CHAPTERS)
        )
    )
    parsed = parse_chapters(most)
    assert len(parsed["chapters"]) == MAX_CHAPTERS
    assert parsed["chapters"][-1]["title"] == "é" * MAX_TITLE_CHARS
    assert parsed["chapters"][0]["img"] == "http://example.com/cover.png"


def test_chapters_embedded_in_an_upload_follow_the_same_limits() -> None:
    with pytest.raises(Invalid, match=str(MAX_CHAPTERS)):
        chapters_from_list([{"startTime": float(i), "title": "x"} for i in range(MAX_CHAPTERS + 1)])
    with pytest.raises(Invalid):
        chapters_from_list([{"startTime": float("nan"), "title": "x"}])


def test_too_many_chapters_in_an_uploaded_mp3_are_refused_as_its_tags(
    client: Any, admin_token: str, sample_mp3: Path, tmp_path: Path
) -> None:
    """The producer sent no chapters file: the refusal names the audio's chapter tags and the way around."""
    mp3 = tmp_path / "many-chapters.mp3"
    shutil.copy(sample_mp3, mp3)
    many = [{"startTime": i / 10, "title": f"Part {i}"} for i in range(MAX_CHAPTERS + 1)]
    audio.write_tags(mp3, audio.EpisodeTags(title="Many", show="Show", chapters=many))
    create_show(client, admin_token)
    response = upload_episode(client, admin_token, "daily", mp3)
    assert response.status_code == 422
    message = response.get_json()["error"]["message"]
    assert "chapter tags in the audio file" in message and f"more than {MAX_CHAPTERS} chapters" in message
    assert "chapters.json" in message and "The chapters file" not in message
    assert client.get("/api/v1/shows/daily/episodes", headers=auth(admin_token)).get_json()["episodes"] == []
    # A chapters file of its own replaces the tags.
    sidecar = (io.BytesIO(doc({"startTime": 0, "title": "Only one"})), "chapters.json")
    assert upload_episode(client, admin_token, "daily", mp3, chapters=sidecar).status_code == 202


@pytest.mark.slow
def test_the_chap_writer_takes_the_documented_maximum(tmp_path: Path) -> None:
    """Every chapter of the largest accepted file is written and read back by mutagen, in order."""
    mp3 = fx.make_tone(tmp_path / "episode.mp3", seconds=2, channels=1)
    # Later chapters start past the audio's end: the tag must still hold them all.
    items = [
        {"startTime": i * 3.0, "title": f"{i:03d} " + "ü" * (MAX_TITLE_CHARS - 4)}
        for i in range(MAX_CHAPTERS)
    ]
    chapters = chapters_for_tags(parse_chapters(doc(*reversed(items))))
    audio.write_tags(mp3, audio.EpisodeTags(title="Long", show="Show", chapters=chapters))

    tag = ID3(mp3)
    frames = sorted(tag.getall("CHAP"), key=lambda frame: frame.start_time)
    assert len(frames) == MAX_CHAPTERS
    assert [frame.start_time for frame in frames] == [i * 3000 for i in range(MAX_CHAPTERS)]
    assert [str(frame.sub_frames["TIT2"]) for frame in frames] == [item["title"] for item in items]
    # The tables of contents reach every chapter, in time order, from one top-level entry.
    tocs = {frame.element_id: frame for frame in tag.getall("CTOC")}
    top = [toc for toc in tocs.values() if toc.flags & CTOCFlags.TOP_LEVEL]
    assert len(top) == 1
    order: list[str] = []

    def walk(element_id: str) -> None:
        if element_id in tocs:
            for child in tocs[element_id].child_element_ids:
                walk(child)
        else:
            order.append(element_id)

    walk(top[0].element_id)
    assert order == [frame.element_id for frame in frames]
    assert audio.probe(mp3, 3600).chapters[-1]["title"] == items[-1]["title"]


# --- through the API and sync ---------------------------------------------------------------------------

API_CASES = ["NaN start", "1e309 end", "too many chapters", "200 KB of nested brackets", "a javascript: url"]


@pytest.mark.parametrize("case", API_CASES)
def test_api_answers_422_for_refused_chapters(
    client: Any, admin_token: str, sample_mp3: Path, case: str
) -> None:
    create_show(client, admin_token)
    sidecar = (io.BytesIO(REFUSED[case]), "chapters.json")
    response = upload_episode(client, admin_token, "daily", sample_mp3, chapters=sidecar)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    assert client.get("/api/v1/shows/daily/episodes", headers=auth(admin_token)).get_json()["episodes"] == []


@pytest.mark.parametrize("case", ["Infinity start", "200 KB of nested brackets", "a javascript: img"])
def test_sync_refuses_chapters_and_creates_no_episode(
    services: Services, sample_mp3: Path, tmp_path: Path, case: str
) -> None:
    episode = tmp_path / "shows" / "daily" / "first"
    episode.mkdir(parents=True)
    (episode.parent / "show.toml").write_text('title = "The Daily Test"\n', encoding="utf-8")
    (episode / "episode.toml").write_text('title = "First"\n', encoding="utf-8")
    shutil.copy(sample_mp3, episode / "audio.mp3")
    (episode / "chapters.json").write_bytes(REFUSED[case])
    with pytest.raises(Invalid):
        sync_directory(services, tmp_path / "shows")
    with services.db.session() as session:
        assert session.query(Episode).count() == 0


# --- text that XML, UTF-16 and the pages cannot carry ---------------------------------------------------

UNWANTED = {
    "a lone surrogate": "a\\ud800b",
    "a NUL": "a\\u0000b",
    "control characters": "a\\u0001\\u001b\\u007f\\u0085b",
    "U+FFFF": "a\\uffffb",
}


@pytest.mark.parametrize("case", sorted(UNWANTED))
def test_titles_and_links_lose_what_no_page_or_tag_can_carry(case: str) -> None:
    escaped = UNWANTED[case]  # JSON escapes: a file may hold any of these
    chapter = {
        "startTime": 0,
        "title": "@",
        "url": "https://example.com/@",
        "img": "https://example.com/@.png",
    }
    text = json.dumps({"chapters": [chapter, {"startTime": 1, "title": "#"}]})
    data = text.replace("@", escaped).replace("#", "\\u0000").encode()
    first, second = parse_chapters(data)["chapters"]
    assert first["title"] == "ab"
    assert first["url"] == "https://example.com/ab"
    assert first["img"] == "https://example.com/ab.png"
    assert "title" not in second  # nothing left of it
    json.dumps(first, ensure_ascii=False).encode("utf-8")
    assert chapters_from_list([{"startTime": 0.0, "title": "x\ud800\x00y"}])["chapters"][0]["title"] == "xy"


def test_a_synced_chapter_title_with_a_lone_surrogate_breaks_nothing(
    services: Services, client: Any, sample_mp3: Path, tmp_path: Path
) -> None:
    episode = tmp_path / "shows" / "daily" / "first"
    episode.mkdir(parents=True)
    (episode.parent / "show.toml").write_text('title = "The Daily Test"\n', encoding="utf-8")
    (episode / "episode.toml").write_text('title = "First"\n', encoding="utf-8")
    shutil.copy(sample_mp3, episode / "audio.mp3")
    (episode / "chapters.json").write_bytes(
        b'{"chapters": [{"startTime": 0, "title": "Intro \\ud800\\u0000 part"}]}'
    )
    sync_directory(services, tmp_path / "shows")
    with services.db.session() as session:
        (row,) = session.query(Episode).all()
        assert row.status == "published", row.error
        assert row.chapters["chapters"][0]["title"] == "Intro  part"
    page = client.get("/daily/first/")
    assert page.status_code == 200 and "Intro  part" in page.get_data(as_text=True)
    served = client.get("/daily/first/chapters.json")
    assert served.status_code == 200 and json.loads(served.data)["chapters"][0]["title"] == "Intro  part"
