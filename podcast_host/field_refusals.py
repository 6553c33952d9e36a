"""The refusals of a show's or an episode's field value, one whole sentence for each field, so that every
language names the field in its own words (docs/languages.md); a field without its sentence is named as the
API names it."""

from __future__ import annotations

from collections.abc import Sequence

from podcast_host.errors import refusal


def too_long(name: str, limit: int) -> str:
    """The refusal of a show's or an episode's text longer than its `limit`."""
    sentences = {
        "title": refusal("The title is longer than %(limit)s characters.", limit=limit),
        "description": refusal("The description is longer than %(limit)s characters.", limit=limit),
        "author": refusal("The author is longer than %(limit)s characters.", limit=limit),
        "copyright": refusal("The copyright is longer than %(limit)s characters.", limit=limit),
        "email": refusal("The email is longer than %(limit)s characters.", limit=limit),
        "category": refusal("The category is longer than %(limit)s characters.", limit=limit),
        "time_zone": refusal("The time_zone is longer than %(limit)s characters.", limit=limit),
        "funding_url": refusal("The funding_url is longer than %(limit)s characters.", limit=limit),
        "funding_text": refusal("The funding_text is longer than %(limit)s characters.", limit=limit),
        "apple_podcasts_url": refusal(
            "The apple_podcasts_url is longer than %(limit)s characters.", limit=limit
        ),
        "spotify_url": refusal("The spotify_url is longer than %(limit)s characters.", limit=limit),
        "moved_to_url": refusal("The moved_to_url is longer than %(limit)s characters.", limit=limit),
    }
    return sentences.get(name) or f"The {name} is longer than {limit} characters."


def not_a_link(name: str) -> str:
    sentences = {
        "funding_url": refusal("The funding_url must be an http(s) URL."),
        "apple_podcasts_url": refusal("The apple_podcasts_url must be an http(s) URL."),
        "spotify_url": refusal("The spotify_url must be an http(s) URL."),
        "moved_to_url": refusal("The moved_to_url must be an http(s) URL."),
    }
    return sentences.get(name) or f"The {name} must be an http(s) URL."


def not_a_number(name: str, value: object) -> str:
    sentences = {
        "target_lufs_stereo": refusal("The target_lufs_stereo must be a number, not %(value)r.", value=value),
        "target_lufs_mono": refusal("The target_lufs_mono must be a number, not %(value)r.", value=value),
        "bitrate_stereo_kbps": refusal(
            "The bitrate_stereo_kbps must be a number, not %(value)r.", value=value
        ),
        "bitrate_mono_kbps": refusal("The bitrate_mono_kbps must be a number, not %(value)r.", value=value),
        "low_data_stereo_kbps": refusal(
            "The low_data_stereo_kbps must be a number, not %(value)r.", value=value
        ),
        "low_data_mono_kbps": refusal("The low_data_mono_kbps must be a number, not %(value)r.", value=value),
    }
    return sentences.get(name) or f"The {name} must be a number, not {value!r}."


def loudness_out_of_range(name: str, low: float, high: float) -> str:
    sentences = {
        "target_lufs_stereo": refusal(
            "The target_lufs_stereo must be between %(low)g and %(high)g LUFS.", low=low, high=high
        ),
        "target_lufs_mono": refusal(
            "The target_lufs_mono must be between %(low)g and %(high)g LUFS.", low=low, high=high
        ),
    }
    return sentences.get(name) or f"The {name} must be between {low:g} and {high:g} LUFS."


def not_a_bitrate(name: str, allowed: Sequence[int]) -> str:
    rates = ", ".join(map(str, allowed))
    sentences = {
        "bitrate_stereo_kbps": refusal("The bitrate_stereo_kbps must be one of %(rates)s kbps.", rates=rates),
        "bitrate_mono_kbps": refusal("The bitrate_mono_kbps must be one of %(rates)s kbps.", rates=rates),
        "low_data_stereo_kbps": refusal(
            "The low_data_stereo_kbps must be one of %(rates)s kbps.", rates=rates
        ),
        "low_data_mono_kbps": refusal("The low_data_mono_kbps must be one of %(rates)s kbps.", rates=rates),
    }
    return sentences.get(name) or f"The {name} must be one of {rates} kbps."


def not_a_flag(name: str, value: object) -> str:
    sentences = {
        "explicit": refusal("The explicit must be true or false, not %(value)r.", value=value),
        "locked": refusal("The locked must be true or false, not %(value)r.", value=value),
        "draft": refusal("The draft must be true or false, not %(value)r.", value=value),
    }
    return sentences.get(name) or f"The {name} must be true or false, not {value!r}."
