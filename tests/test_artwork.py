"""Cover art: square JPEG/PNG of 1400-3000 px, larger ones scaled down, everything else refused."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image, PngImagePlugin

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


@pytest.mark.parametrize("side", [4097, 9600, 20000])
def test_huge_image_is_refused_before_decoding(side: int) -> None:
    # Read from the header before Pillow opens the file: its own guard (warning, then error) never fires.
    with pytest.raises(ArtworkError, match=rf"at most 4096×4096 px .*; this one is {side}×{side} px\.$"):
        check_cover(png_header(side))


def test_artwork_error_is_a_value_error() -> None:
    assert issubclass(ArtworkError, ValueError)


# Metadata: phones write the place a photo was taken (EXIF GPS); none of it may reach listeners ----------


def photo_with_metadata(side: int, fmt: str) -> bytes:
    """A cover whose top-left quadrant is red, carrying EXIF (rotate 90° clockwise, GPS) and a comment."""
    image = Image.new("RGB", (side, side), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, side // 2, side // 2))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", exif=exif, comment=b"shot at home")
    else:
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "shot at home")
        image.save(out, "PNG", exif=exif, pnginfo=text)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("side", [1400, 3100])
def test_exif_orientation_is_applied_and_every_piece_of_metadata_dropped(fmt: str, side: int) -> None:
    art = check_cover(photo_with_metadata(side, fmt))
    image = decoded(art.data)
    assert image.format == fmt
    assert len(image.getexif()) == 0
    assert not {"exif", "comment", "Comment", "xmp", "XML:com.adobe.xmp"} & set(image.info)
    assert b"shot at home" not in art.data and b"PhoneCo" not in art.data
    # Orientation 6 shows the stored top-left corner at the top right.
    last = image.width - 1
    red, blue = (255, 0, 0), (0, 0, 255)
    assert _near(image.getpixel((last - 10, 10)), red) and _near(image.getpixel((10, 10)), blue)


def _near(pixel: object, colour: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= 16 for a, b in zip(pixel, colour, strict=True))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_checked_cover_passes_the_check_again_unchanged(fmt: str) -> None:
    # Sync compares covers by the hash of the checked bytes: checking twice must not change them again.
    once = check_cover(photo_with_metadata(1400, fmt)).data
    assert check_cover(once).data == once


def test_bytes_after_the_end_of_a_jpeg_are_not_kept() -> None:
    trailing = make_image(1400, 1400, "JPEG") + b"GPS 48.85N 2.35E"
    assert b"GPS" not in check_cover(trailing).data
