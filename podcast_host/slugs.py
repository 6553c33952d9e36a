"""URL slugs from titles in any script: a stable ASCII transliteration, or a fallback."""

from __future__ import annotations

from collections.abc import Callable

from slugify import slugify

MAX_SLUG_LENGTH = 80


def slug_from_title(title: str, fallback: str) -> str:
    """ASCII slug of a title (Arabic and other scripts transliterated); `fallback` when nothing is left."""
    slug = slugify(title, max_length=MAX_SLUG_LENGTH, word_boundary=True)
    return slug or fallback


def unique_slug(base: str, taken: Callable[[str], bool]) -> str:
    """`base`, or `base-2`, `base-3`… whichever is free."""
    candidate, n = base, 1
    while taken(candidate):
        n += 1
        candidate = f"{base[: MAX_SLUG_LENGTH - len(str(n)) - 1]}-{n}"
    return candidate


def check_slug(slug: str) -> str:
    """A producer-chosen slug must already be in slug form."""
    from podcast_host.errors import Invalid

    if not slug or slugify(slug, max_length=MAX_SLUG_LENGTH) != slug:
        raise Invalid(
            f"The slug {slug!r} is not valid: use lowercase letters, digits and hyphens.", field="slug"
        )
    return slug
