"""URL slugs: made from titles in the title's own script, and checked when a producer chooses one.

A slug keeps every script as written, lower-cased where the script has case, its words joined by hyphens:
"الميزانية والقطار الجديد" gives "الميزانية-والقطار-الجديد". Latin letters keep their accents too
("Café crème" gives "café-crème", "Straße" "straße"), as in Wikipedia's addresses: no transliteration to
ASCII, for any script. URLs carry slugs percent-encoded (feeds/links.py). Apostrophes are dropped, not made
hyphens ("Tomorrow's" gives "tomorrows"); so are Arabic and Hebrew vowel marks and the tatweel, so that a word
gives one slug with or without them, and invisible characters (zero-width, bidi controls), which no one types.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

MAX_SLUG_LENGTH = 80

SEPARATOR = "-"
# Typewriter, typographic and modifier-letter apostrophes: part of a word, never a break in it.
APOSTROPHES = frozenset("'\u2019\u02bc")
TATWEEL = "\u0640"
# Default-ignorable characters that are not of category Cf (which are all dropped): the combining grapheme
# joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors.
_IGNORABLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
# Scripts whose vowel marks are optional in everyday writing: the same word is written with and without them.
_OPTIONAL_MARK_SCRIPTS = ("ARABIC ", "HEBREW ")


# Not python-slugify: with allow_unicode its default algorithm splits words at combining marks (Devanagari
# vowel signs), its modern one keeps vowel marks and zero-width joiners inside words, and dropping a character
# inside a word takes a replacement rule for each one.
def slugify(text: str) -> str:
    """The slug of `text`: its words lower-cased and joined by hyphens, at most MAX_SLUG_LENGTH characters;
    empty when no letter or digit is left."""
    # NFKC first: compatibility forms (full-width, ligatures, presentation forms) become plain letters.
    text = unicodedata.normalize("NFKC", text)
    # Python lower-cases "İ" to "i" plus a combining dot; Turkish and Azerbaijani write it "i".
    text = text.replace("\u0130", "i").lower()
    kept = "".join(char for char in text if not _dropped(char))
    # Again, as dropping a character may bring a letter and its accent together.
    kept = unicodedata.normalize("NFKC", kept)
    return _shorten(SEPARATOR.join(_words(kept)), MAX_SLUG_LENGTH)


def slug_from_title(title: str, fallback: str) -> str:
    """The slug of a title; `fallback` when nothing is left (a title of emoji or punctuation only)."""
    return slugify(title) or fallback


def unique_slug(base: str, taken: Callable[[str], bool]) -> str:
    """`base`, or `base-2`, `base-3`… whichever is free."""
    candidate, n = base, 1
    while taken(candidate):
        n += 1
        suffix = f"{SEPARATOR}{n}"
        candidate = f"{_shorten(base, MAX_SLUG_LENGTH - len(suffix))}{suffix}"
    return candidate


def check_slug(slug: str) -> str:
    """A producer-chosen slug must already be in slug form: the slug of itself."""
    from podcast_host.errors import Invalid

    if not slug or slugify(slug) != slug:
        raise Invalid(
            f"The slug {slug!r} is not valid: use letters (lowercase where the script has case), digits "
            f"and single hyphens, at most {MAX_SLUG_LENGTH} characters.",
            field="slug",
        )
    return slug


def _dropped(char: str) -> bool:
    if char in APOSTROPHES or char == TATWEEL or char in _IGNORABLE:
        return True
    category = unicodedata.category(char)
    if category == "Cf":  # zero-width spaces and joiners, bidi marks and isolates, soft hyphens
        return True
    return category == "Mn" and unicodedata.name(char, "").startswith(_OPTIONAL_MARK_SCRIPTS)


def _words(text: str) -> list[str]:
    """Runs of letters and digits, with the combining marks that belong to them (Devanagari vowel signs, a
    Latin letter's accent without a precomposed form); everything else separates words."""
    words: list[str] = []
    word: list[str] = []
    for char in text:
        if char.isalnum() or (word and unicodedata.category(char) in ("Mn", "Mc")):
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return [_final_sigma(word) for word in words]


def _final_sigma(word: str) -> str:
    # Python lower-cases a capital sigma to "σ" everywhere; Greek writes "ς" at the end of a word.
    return f"{word[:-1]}ς" if word.endswith("σ") and word[-2:-1].isalpha() else word


def _shorten(slug: str, limit: int) -> str:
    """At most `limit` characters of whole words; a cut inside the first word only when it alone is longer."""
    if len(slug) <= limit:
        return slug
    whole_words = slug[: limit + 1].rpartition(SEPARATOR)[0]
    if whole_words:
        return whole_words
    cut = limit
    # Not between a letter and its marks.
    while cut > 1 and unicodedata.category(slug[cut]).startswith("M"):
        cut -= 1
    return _final_sigma(slug[:cut])
