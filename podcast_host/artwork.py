"""Cover art check: what Apple Podcasts accepts, checked once at upload (docs/api.md, "Cover art").

Limits that keep a hostile file from exhausting the server (docs/api.md, "Cover art"): the pixel budget is
read from the header before anything is decoded, decodes take turns, and no metadata of the source (EXIF with
its GPS position, XMP, comments, trailing bytes) is ever stored or served.

Pillow is imported when a cover is first opened (_pil): only uploads and imports need it, not the idle server.
"""

from __future__ import annotations

import functools
import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from podcast_host.errors import Unavailable, refusal

if TYPE_CHECKING:
    from PIL import Image

# Apple Podcasts for Creators, "Artwork requirements" (https://podcasters.apple.com/support/896-artwork-requirements):
# square JPEG or PNG, 1400x1400 to 3000x3000 px, RGB colour space, no alpha channel.
MIN_SIDE_PX = 1400
MAX_SIDE_PX = 3000
# Larger sources are scaled down, up to this side. A 4096² source decodes to 50-70 MB and peaks near 300 MB
# while it is flattened and scaled; a 9000² one, 258 kB as a PNG, would take 6 s and 1 GB.
MAX_SOURCE_SIDE_PX = 4096
MAX_SOURCE_PIXELS = MAX_SOURCE_SIDE_PX * MAX_SOURCE_SIDE_PX
JPEG_QUALITY = 90
# Decodes at once per process: each may hold a few hundred MB for a second.
DECODE_SLOTS = 1
decoding = threading.BoundedSemaphore(DECODE_SLOTS)
# How long a cover waits for a slot: a few decodes of a second each. Past it the upload is refused as busy
# rather than holding its request (and its server thread) behind a queue of decodes.
DECODE_WAIT_S = 10.0
# A progressive JPEG is a handful of scans (libjpeg writes 10 for colour). Each extra scan costs about 50
# bytes and makes the decoder walk every block again: 200 of them (10 kB) take a 4000² decode from 0.1 to 6 s.
MAX_JPEG_SCANS = 32
# PNG chunks or JPEG segments: image editors write a few dozen (IDAT data in 8-64 kB chunks); every one is a
# turn of a Python loop here and in Pillow, and 1.5 million empty ones (18 MB) took 4 s of CPU.
MAX_PARTS = 20_000

_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}


class ArtworkError(ValueError):
    """Cover art we refuse; the message is one sentence a producer can act on, marked with `refusal` so that
    the dashboard shows it in the reader's language."""


@dataclass(frozen=True)
class Artwork:
    """Cover art ready to store: the bytes to keep, their type and file extension, the side in px."""

    data: bytes
    mime_type: str
    extension: str
    width: int


def check_cover(data: bytes) -> Artwork:
    """Accept a square JPEG/PNG cover of 1400-3000 px; scale a larger one down to 3000 px; refuse the rest.

    A cover that carries anything besides its pixels is encoded again, after its EXIF orientation is applied.
    """
    layout = _layout(data)
    if layout is not None:
        _check_pixel_budget(layout.width, layout.height)
    with _open(data) as image:
        _check_shape(image)
        mime_type, extension = _FORMATS[image.format or ""]
        with _decode_slot():
            if image.width <= MAX_SIDE_PX and image.mode == "RGB" and layout and layout.only_pixels:
                _decode_fully(image)
                return Artwork(data, mime_type, extension, image.width)
            return _reencoded(image, mime_type, extension)


@functools.cache
def _pil() -> ModuleType:
    """Pillow's Image module, imported once, with its own guard tied to the budget before any use.

    Pillow warns past MAX_IMAGE_PIXELS and refuses to open twice it, so a decode that skipped the header
    checks is still bounded. Pillow is used for nothing else in the app.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS
    return Image


@contextmanager
def _decode_slot() -> Iterator[None]:
    """One of the DECODE_SLOTS, waited for at most DECODE_WAIT_S; Unavailable (503) when none comes free."""
    if not decoding.acquire(timeout=DECODE_WAIT_S):
        raise Unavailable(refusal("The server is busy reading other cover art; try again in a moment."))
    try:
        yield
    finally:
        decoding.release()


def _open(data: bytes) -> Image.Image:
    pil = _pil()
    from PIL import UnidentifiedImageError

    try:
        # _pil() hands Pillow's Image module over as a plain module: its functions are untyped through it.
        image: Image.Image = pil.open(io.BytesIO(data))
    except (pil.DecompressionBombError, pil.DecompressionBombWarning) as error:
        # Pillow's guard fires at open, before our budget check; the warning is an exception when filtered so.
        message = refusal(
            "Cover art must be at most %(most)s×%(most)s px (it is scaled down to %(side)s×%(side)s); "
            "this one is far larger.",
            most=MAX_SOURCE_SIDE_PX,
            side=MAX_SIDE_PX,
        )
        raise ArtworkError(message) from error
    except (UnidentifiedImageError, OSError) as error:
        raise ArtworkError(
            refusal("Cover art must be a JPEG or PNG image; this file is not an image.")
        ) from error
    if image.format not in _FORMATS:
        image.close()
        message = refusal(
            "Cover art must be a JPEG or PNG image; this one is %(format)s.", format=image.format
        )
        raise ArtworkError(message)
    return image


def _check_shape(image: Image.Image) -> None:
    """Size checks from the header alone: nothing here decodes a pixel."""
    width, height = image.size
    _check_pixel_budget(width, height)
    if width != height:
        message = refusal(
            "Cover art must be square; this one is %(width)s×%(height)s px.", width=width, height=height
        )
        raise ArtworkError(message)
    if width < MIN_SIDE_PX:
        message = refusal(
            "Cover art must be at least %(least)s×%(least)s px; this one is %(width)s×%(height)s px.",
            least=MIN_SIDE_PX,
            width=width,
            height=height,
        )
        raise ArtworkError(message)


def _check_pixel_budget(width: int, height: int) -> None:
    if width * height > MAX_SOURCE_PIXELS:
        message = refusal(
            "Cover art must be at most %(most)s×%(most)s px (it is scaled down to %(side)s×%(side)s); "
            "this one is %(width)s×%(height)s px.",
            most=MAX_SOURCE_SIDE_PX,
            side=MAX_SIDE_PX,
            width=width,
            height=height,
        )
        raise ArtworkError(message)


def _decode_fully(image: Image.Image) -> None:
    """Decode every pixel: a truncated or corrupt file passes the header check but not this."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise ArtworkError(
            refusal("Cover art could not be read: the file is truncated or corrupt.")
        ) from error


def _reencoded(image: Image.Image, mime_type: str, extension: str) -> Artwork:
    """Upright, at most 3000 px, plain RGB (Apple: no CMYK, no alpha), same format, no metadata at all."""
    pil = _pil()
    from PIL import ImageOps

    _decode_fully(image)
    # Re-encoding drops EXIF, so bake its orientation into the pixels first.
    rgb = _flattened_rgb(ImageOps.exif_transpose(image))
    if rgb.width > MAX_SIDE_PX:
        rgb = rgb.resize((MAX_SIDE_PX, MAX_SIDE_PX), pil.Resampling.LANCZOS)
    # Pillow writes some of the source's info back by default (a JPEG comment, for one).
    rgb.info.clear()
    out = io.BytesIO()
    if extension == "jpg":
        rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        rgb.save(out, "PNG", optimize=True)
    return Artwork(out.getvalue(), mime_type, extension, rgb.width)


def _flattened_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparent areas become white, as they would look on a light page."""
    pil = _pil()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background: Image.Image = pil.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


# --- the file's layout, read before Pillow opens it -------------------------------------------------------

# PNG chunks that describe only how to draw the pixels (PNG spec §4.3); tEXt, eXIf, private chunks and the
# rest may hold anything, so a file with one is encoded again.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PIXEL_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs"}
)
# JPEG application segments that hold no personal data: JFIF (APP0), an ICC profile (APP2), Adobe's colour
# transform (APP14). APP1 is EXIF or XMP, APP13 IPTC, COM a comment; APP2 may also be MPF, a second picture.
_JPEG_PIXEL_SEGMENTS = {0xE0: b"JFIF\0", 0xE2: b"ICC_PROFILE\0", 0xEE: b"Adobe"}
# Start-of-frame markers (ITU T.81 table B.1): C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class _Layout:
    """What the file's structure says: the declared size, and whether it holds nothing but the picture."""

    width: int
    height: int
    only_pixels: bool


def _layout(data: bytes) -> _Layout | None:
    """The layout of a PNG or JPEG; None for anything else or a file too broken to tell (Pillow says why)."""
    if data.startswith(_PNG_SIGNATURE):
        return _png_layout(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_layout(data)
    return None


def _png_layout(data: bytes) -> _Layout | None:
    if data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    at, only_pixels = len(_PNG_SIGNATURE), True
    for _ in _parts():
        if at + 8 > len(data):
            break
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        only_pixels = only_pixels and kind in _PNG_PIXEL_CHUNKS
        at += 12 + length
        if kind == b"IEND":
            return _Layout(width, height, only_pixels and at == len(data))
    return _Layout(width, height, False)


def _jpeg_layout(data: bytes) -> _Layout | None:
    """Walk the segments to the end of the image; refuse a JPEG of too many scans (see MAX_JPEG_SCANS)."""
    size: tuple[int, int] | None = None
    at, scans, only_pixels = 2, 0, True  # after SOI
    for _ in _parts():
        if at + 1 >= len(data) or data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0xD9:  # EOI: nothing may follow it
            only_pixels = only_pixels and at + 2 == len(data)
            return _Layout(*size, only_pixels) if size else None
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        body = data[at + 4 : at + 2 + length]
        if marker in _JPEG_FRAMES and size is None and len(body) >= 5:
            size = (int.from_bytes(body[3:5], "big"), int.from_bytes(body[1:3], "big"))
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            signature = _JPEG_PIXEL_SEGMENTS.get(marker)
            only_pixels = only_pixels and signature is not None and body.startswith(signature)
        at += 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next marker that is not FF00 or RSTn
            scans += 1
            if scans > MAX_JPEG_SCANS:
                message = refusal(
                    "Cover art must be a JPEG of at most %(most)s progressive scans; this one has more.",
                    most=MAX_JPEG_SCANS,
                )
                raise ArtworkError(message)
            at = _next_jpeg_marker(data, at)
    return _Layout(*size, False) if size else None


def _parts() -> Iterator[int]:
    """The turns of a walk over a file's chunks or segments: past MAX_PARTS the file is refused."""
    yield from range(MAX_PARTS)
    raise ArtworkError(
        refusal(
            "Cover art must be made of at most %(most)s chunks (PNG) or segments (JPEG); this one has more. "
            "Saving it again from an image editor fixes that.",
            most=MAX_PARTS,
        )
    )


# In coded data, FF is followed by 00 (a stuffed FF byte), a restart marker D0-D7 or FF (fill): none ends it.
_MARKER_AFTER_CODED_DATA = re.compile(b"\xff[^\x00\xd0-\xd7\xff]")


def _next_jpeg_marker(data: bytes, at: int) -> int:
    found = _MARKER_AFTER_CODED_DATA.search(data, at)
    return found.start() if found else len(data)
