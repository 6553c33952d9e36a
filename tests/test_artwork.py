"""Cover art: square JPEG/PNG of 1400-3000 px, larger ones scaled down, everything else refused."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from podcast_host.artwork import ArtworkError, check_cover


def make_image(width: int, height: int, fmt: str, mode: str = "RGB") -> bytes:
    colour = (200, 30, 60, 128)[: len(mode)] if mode in ("RGB", "RGBA") else 128
    out = io.BytesIO()
    Image.new(mode, (width, height), colour).save(out, fmt)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_1400_px_jpeg_is_accepted_unchanged() -> None:
    data = make_image(1400, 1400, "JPEG")
    art = check_cover(data)
    assert (art.mime_type, art.extension, art.width) == ("image/jpeg", "jpg", 1400)
    assert art.data == data


def test_3000_px_png_is_accepted_unchanged() -> None:
    data = make_image(3000, 3000, "PNG")
    art = check_cover(data)
    assert (art.mime_type, art.extension, art.width) == ("image/png", "png", 3000)
    assert art.data == data


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_4000_px_is_scaled_down_to_3000_in_the_same_format(fmt: str, mime: str) -> None:
    art = check_cover(make_image(4000, 4000, fmt))
    assert (art.mime_type, art.width) == (mime, 3000)
    image = decoded(art.data)
    assert (image.format, image.size, image.mode) == (fmt, (3000, 3000), "RGB")


def test_png_with_alpha_is_flattened_to_rgb() -> None:
    # Apple: "Should not contain an Alpha channel."
    art = check_cover(make_image(1500, 1500, "PNG", mode="RGBA"))
    image = decoded(art.data)
    assert (image.mode, art.width) == ("RGB", 1500)


def test_1000_px_is_refused() -> None:
    with pytest.raises(ArtworkError, match=r"at least 1400×1400 px; this one is 1000×1000 px\."):
        check_cover(make_image(1000, 1000, "JPEG"))


def test_non_square_is_refused() -> None:
    with pytest.raises(ArtworkError, match=r"^Cover art must be square; this one is 1600×900 px\.$"):
        check_cover(make_image(1600, 900, "JPEG"))


def test_almost_square_is_refused() -> None:
    with pytest.raises(ArtworkError, match="square"):
        check_cover(make_image(1400, 1401, "PNG"))


def test_gif_is_refused() -> None:
    with pytest.raises(ArtworkError, match=r"JPEG or PNG image; this one is GIF\."):
        check_cover(make_image(1400, 1400, "GIF", mode="L"))


def test_text_bytes_are_refused() -> None:
    with pytest.raises(ArtworkError, match="not an image"):
        check_cover(b"this is not a picture, just words\n" * 100)


def test_empty_file_is_refused() -> None:
    with pytest.raises(ArtworkError, match="not an image"):
        check_cover(b"")


def test_truncated_jpeg_is_refused() -> None:
    data = make_image(1400, 1400, "JPEG")
    with pytest.raises(ArtworkError, match="truncated or corrupt"):
        check_cover(data[: len(data) // 2])


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(side: int) -> bytes:
    """A PNG claiming side×side px with no pixel data: enough for Pillow to read its size, cheap to build."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [9001, 9600, 20000])
def test_huge_image_is_refused_before_decoding(side: int) -> None:
    # 9600 px trips Pillow's decompression-bomb warning, 20000 px its error: both become our refusal.
    with pytest.raises(ArtworkError, match="at most 9000×9000 px"):
        check_cover(png_header(side))


def test_artwork_error_is_a_value_error() -> None:
    assert issubclass(ArtworkError, ValueError)
