"""Cover art check: what Apple Podcasts accepts, checked once at upload (SPEC §7)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# Apple Podcasts for Creators, "Artwork requirements" (https://podcasters.apple.com/support/896-artwork-requirements):
# square JPEG or PNG, 1400x1400 to 3000x3000 px, RGB colour space, no alpha channel.
MIN_SIDE_PX = 1400
MAX_SIDE_PX = 3000
# Larger sources are scaled down, up to this side: well under Pillow's decompression-bomb threshold (~89 Mpx).
MAX_SOURCE_SIDE_PX = 9000
JPEG_QUALITY = 90

_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}


class ArtworkError(ValueError):
    """Cover art we refuse; the message is one sentence a producer can act on."""


@dataclass(frozen=True)
class Artwork:
    """Cover art ready to store: the bytes to keep, their type and file extension, the side in px."""

    data: bytes
    mime_type: str
    extension: str
    width: int


def check_cover(data: bytes) -> Artwork:
    """Accept a square JPEG/PNG cover of 1400-3000 px; scale a larger one down to 3000 px; refuse the rest."""
    with _open(data) as image:
        _check_shape(image)
        mime_type, extension = _FORMATS[image.format or ""]
        if image.width <= MAX_SIDE_PX and image.mode == "RGB":
            _decode_fully(image)
            return Artwork(data, mime_type, extension, image.width)
        return _reencoded(image, mime_type, extension)


def _open(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's guard against pixel floods fires at open; the warning is an exception when filtered so.
        raise ArtworkError(_too_large_message("far larger")) from error
    except (UnidentifiedImageError, OSError) as error:
        raise ArtworkError("Cover art must be a JPEG or PNG image; this file is not an image.") from error
    if image.format not in _FORMATS:
        image.close()
        raise ArtworkError(f"Cover art must be a JPEG or PNG image; this one is {image.format}.")
    return image


def _check_shape(image: Image.Image) -> None:
    width, height = image.size
    if width != height:
        raise ArtworkError(f"Cover art must be square; this one is {width}×{height} px.")
    if width < MIN_SIDE_PX:
        raise ArtworkError(
            f"Cover art must be at least {MIN_SIDE_PX}×{MIN_SIDE_PX} px; this one is {width}×{height} px."
        )
    if width > MAX_SOURCE_SIDE_PX:
        raise ArtworkError(_too_large_message(f"{width}×{height} px"))


def _too_large_message(actual: str) -> str:
    return (
        f"Cover art must be at most {MAX_SOURCE_SIDE_PX}×{MAX_SOURCE_SIDE_PX} px (it is scaled down to "
        f"{MAX_SIDE_PX}×{MAX_SIDE_PX}); this one is {actual}."
    )


def _decode_fully(image: Image.Image) -> None:
    """Decode every pixel: a truncated or corrupt file passes the header check but not this."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise ArtworkError("Cover art could not be read: the file is truncated or corrupt.") from error


def _reencoded(image: Image.Image, mime_type: str, extension: str) -> Artwork:
    """Scale to at most 3000 px and convert to plain RGB (Apple: no CMYK, no alpha), keeping the format."""
    _decode_fully(image)
    # Re-encoding drops EXIF, so bake its orientation into the pixels first.
    rgb = _flattened_rgb(ImageOps.exif_transpose(image))
    if rgb.width > MAX_SIDE_PX:
        rgb = rgb.resize((MAX_SIDE_PX, MAX_SIDE_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if extension == "jpg":
        rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        rgb.save(out, "PNG", optimize=True)
    return Artwork(out.getvalue(), mime_type, extension, rgb.width)


def _flattened_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparent areas become white, as they would look on a light page."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
