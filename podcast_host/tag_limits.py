"""Bounds on an upload's ID3v2 tag, checked before mutagen reads it (docs/audio-pipeline.md, "Tag limits").

mutagen's ID3 reader copies the rest of the tag after every frame it reads, so its time grows with the
number of frames times the bytes after them: a 10 MB tag of empty frames kept a request busy for minutes.
This module walks the frame headers by offset, in time linear in the tag, and refuses a tag before mutagen
would spend more than a fraction of a second on it. Pure Python; it reads at most the tag itself.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from podcast_host.errors import refusal
from podcast_host.limits import MIB

# The largest tag accepted, frames decompressed: room for one big cover (the cover limit is 20 MB of file,
# but an embedded one over 16 MB is not something a podcast app downloads with every episode).
MAX_TAG_BYTES = 16 * MIB
# Frames in the whole tag, sub-frames of chapters and tables of contents included: our own 500 chapters
# make about 1,000, a music tagger a few dozen.
MAX_FRAMES = 5_000
# What mutagen's reader would copy in all, about a quarter of a second: 500 frames before a 4 MB cover.
MAX_COPY_BYTES = 2 * 1024 * 1024 * 1024
# Chapters inside a table of contents inside a chapter frame: real tags go two levels deep.
MAX_NESTING = 4
# Chunks walked to find the tag of a WAVE or AIFF file.
MAX_CHUNKS = 10_000

_NESTED_FRAMES = (b"CHAP", b"CTOC")
# Frame flags (ID3v2.3 and ID3v2.4 keep them in different bits).
_V23_COMPRESSED, _V23_ENCRYPTED = 0x0080, 0x0040
_V24_COMPRESSED, _V24_ENCRYPTED, _V24_UNSYNCHRONISED, _V24_DATA_LENGTH = 0x0008, 0x0004, 0x0002, 0x0001


class TagTooLarge(ValueError):
    """An ID3 tag too large or too fragmented to read in reasonable time; audio.probe refuses the file for it
    (422, as other refused audio). Its message is marked with `refusal`, to be shown translated."""


def check_id3(path: Path) -> None:
    """Refuse (TagTooLarge) an ID3v2 tag at the start of the file or in a WAVE/AIFF chunk past our limits."""
    with open(path, "rb") as fh:
        start = fh.read(12)
        if start[:3] == b"ID3":
            _check_tag_at(fh, 0)
        elif start[:4] == b"RIFF" and start[8:12] == b"WAVE":
            _check_chunks(fh, "<L")
        elif start[:4] == b"FORM" and start[8:12] in (b"AIFF", b"AIFC"):
            _check_chunks(fh, ">L")


def _check_chunks(fh: BinaryIO, size_format: str) -> None:
    """Walk the top-level chunks of a WAVE (little-endian sizes) or AIFF file and check each ID3 chunk."""
    offset = 12
    for _ in range(MAX_CHUNKS):
        fh.seek(offset)
        header = fh.read(8)
        if len(header) < 8:
            return
        (size,) = struct.unpack(size_format, header[4:])
        if header[:4].lower() in (b"id3 ", b"id3\x00"):
            _check_tag_at(fh, offset + 8)
        offset += 8 + size + (size & 1)  # chunks are padded to an even length


def _check_tag_at(fh: BinaryIO, offset: int) -> None:
    fh.seek(offset)
    header = fh.read(10)
    if len(header) < 10 or header[:3] != b"ID3" or header[3] not in (2, 3, 4):
        return  # mutagen refuses what it cannot read without reading frames
    version, flags = header[3], header[5]
    size = _syncsafe(header[6:10])
    if size > MAX_TAG_BYTES:
        message = refusal(
            "The file's ID3 tag takes %(size).1f MB; we accept tags up to %(most).1f MB.",
            size=size / MIB,
            most=MAX_TAG_BYTES / MIB,
        )
        raise TagTooLarge(message)
    # The size excludes the header and an ID3v2.4 footer, so the frames are exactly these bytes.
    data = fh.read(size)
    if version < 4 and flags & 0x80:
        # Unsynchronisation of the whole tag (ID3v2.2/2.3): mutagen undoes it before reading frames.
        data = data.replace(b"\xff\x00", b"\xff")
    if version >= 3 and flags & 0x40:
        data = data[_extended_header_size(data, version) :]
    _Tag(version, tag_unsynchronised=bool(flags & 0x80)).frames_in(data, 0, _Count())


def _extended_header_size(data: bytes, version: int) -> int:
    """Bytes to skip for the extended header; 0 when the flag is set but frames follow (as mutagen allows)."""
    if len(data) < 4 or data[:4].isalnum():
        return 0
    if version == 4:
        return _syncsafe(data[:4])  # counts its own four bytes
    size: int = struct.unpack(">L", data[:4])[0]
    return 4 + size


@dataclass(frozen=True)
class _Count:
    """What reading frames costs mutagen: frames made, bytes copied, bytes inflated."""

    frames: int = 0
    copied: int = 0
    inflated: int = 0

    def __add__(self, other: _Count) -> _Count:
        return _Count(self.frames + other.frames, self.copied + other.copied, self.inflated + other.inflated)

    def most(self, other: _Count) -> _Count:
        return _Count(
            max(self.frames, other.frames), max(self.copied, other.copied), max(self.inflated, other.inflated)
        )


@dataclass(frozen=True)
class _Tag:
    """One tag's frames, read by header offsets; refuses as soon as what mutagen would do passes a limit."""

    version: int
    tag_unsynchronised: bool

    def frames_in(self, data: bytes, depth: int, spent: _Count) -> _Count:
        """The cost of one level of frames and of those nested in it; `spent` is what came before."""
        if self.version != 4:
            return self._level(data, depth, spent, syncsafe=False)
        # mutagen guesses per level whether frame sizes are syncsafe (iTunes wrote plain ones): count both.
        return self._level(data, depth, spent, syncsafe=True).most(
            self._level(data, depth, spent, syncsafe=False)
        )

    def _level(self, data: bytes, depth: int, spent: _Count, syncsafe: bool) -> _Count:
        header_size, id_size = (6, 3) if self.version == 2 else (10, 4)
        position, end = 0, len(data)
        count = _Count()
        while end - position >= header_size:
            name = data[position : position + id_size]
            if not name.strip(b"\x00"):
                break  # padding
            if self.version == 2:
                size = int.from_bytes(data[position + 3 : position + 6], "big")
                frame_flags = 0
            else:
                raw = data[position + 4 : position + 8]
                size = _syncsafe(raw) if syncsafe else int.from_bytes(raw, "big")
                frame_flags = int.from_bytes(data[position + 8 : position + 10], "big")
            # mutagen slices the frame out, then copies everything after it.
            count += _Count(frames=1, copied=end - position)
            _check(spent + count)
            body = data[position + header_size : position + header_size + size]
            position += header_size + size
            if name in _NESTED_FRAMES or self._compressed(frame_flags):
                count += self._body(name, body, frame_flags, depth, spent + count)
        return count

    def _compressed(self, frame_flags: int) -> bool:
        flag = {4: _V24_COMPRESSED, 3: _V23_COMPRESSED}.get(self.version, 0)
        return bool(frame_flags & flag)

    def _body(self, name: bytes, body: bytes, frame_flags: int, depth: int, spent: _Count) -> _Count:
        """The frame's data as mutagen decodes it; chapters and tables of contents are walked inside."""
        prefix = b""
        if self.version == 4:
            if frame_flags & (_V24_COMPRESSED | _V24_DATA_LENGTH):
                prefix, body = body[:4], body[4:]
            if frame_flags & _V24_UNSYNCHRONISED or self.tag_unsynchronised:
                body = body.replace(b"\xff\x00", b"\xff")
            if frame_flags & _V24_ENCRYPTED:
                return _Count()  # mutagen skips encrypted frames
        elif self.version == 3:
            if frame_flags & _V23_COMPRESSED:
                body = body[4:]
            if frame_flags & _V23_ENCRYPTED:
                return _Count()
        cost = _Count()
        if self._compressed(frame_flags):
            inflated = _inflate(body, prefix, MAX_TAG_BYTES - spent.inflated)
            if inflated is None:
                return cost  # mutagen drops a frame it cannot decompress
            body = inflated
            cost = _Count(inflated=len(body))
        if name not in _NESTED_FRAMES:
            return cost
        if depth >= MAX_NESTING:
            message = refusal(
                "The file's ID3 tag nests chapter frames more than %(most)s levels deep.", most=MAX_NESTING
            )
            raise TagTooLarge(message)
        return cost + self.frames_in(_sub_frames(name, body), depth + 1, spent + cost)


def _inflate(body: bytes, prefix: bytes, room: int) -> bytes | None:
    """zlib data, inflated only as far as the tag has room: a small frame can inflate a thousandfold."""
    # mutagen retries with the data length bytes put back (an old writer left them out).
    for candidate in (body, prefix + body) if prefix else (body,):
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(candidate, max(room, 0) + 1)
        except zlib.error:
            continue
        if len(out) > room:
            message = refusal(
                "The file's ID3 tag inflates past %(most).1f MB, the most we accept.",
                most=MAX_TAG_BYTES / MIB,
            )
            raise TagTooLarge(message)
        return out
    return None


def _check(count: _Count) -> None:
    if count.frames > MAX_FRAMES:
        # The thousands apart, so that each language groups the digits its own way ("5,000", "5 000").
        thousands, units = divmod(MAX_FRAMES, 1000)
        message = refusal(
            "The file's ID3 tag has more than %(thousands)s,%(units)03d frames; remove the extra tags.",
            thousands=thousands,
            units=units,
        )
        raise TagTooLarge(message)
    if count.copied > MAX_COPY_BYTES:
        raise TagTooLarge(
            refusal(
                "The file's ID3 tag has too many frames for its size to be read quickly; "
                "remove the extra tags or put the cover image first in the tag."
            )
        )


def _sub_frames(name: bytes, body: bytes) -> bytes:
    """What follows the fixed fields of a CHAP (id, four times) or CTOC (id, flags, child ids) frame."""
    position = _after_latin1(body, 0)
    if name == b"CHAP":
        return body[position + 16 :]
    count = body[position + 1] if position + 1 < len(body) else 0
    position += 2
    for _ in range(count):
        position = _after_latin1(body, position)
    return body[position:]


def _after_latin1(body: bytes, position: int) -> int:
    end = body.find(b"\x00", position)
    return len(body) if end == -1 else end + 1


def _syncsafe(raw: bytes) -> int:
    """A 28-bit integer stored seven bits per byte (ID3v2 sizes)."""
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
    return value
