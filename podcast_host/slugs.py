"""URL slugs: made from titles in the title's own script, and checked when a producer chooses one.

A slug keeps every script as written, lower-cased where the script has case, its words joined by hyphens:
"الميزانية والقطار الجديد" gives "الميزانية-والقطار-الجديد". Latin letters keep their accents too
("Café crème" gives "café-crème", "Straße" "straße"), as in Wikipedia's addresses: no transliteration to
ASCII, for any script. URLs carry slugs percent-encoded (feeds/links.py). Apostrophes are dropped, not made
hyphens ("Tomorrow's" gives "tomorrows"); so are Arabic and Hebrew vowel marks and the tatweel, so that a word
gives one slug with or without them, and invisible characters (zero-width, bidi controls), which no one types.

Slugs that could pass for another are refused, after Unicode TR39 ("Unicode Security Mechanisms"): a chosen
slug may not write a word in scripts no language mixes ("nеws" with a Cyrillic е), and no slug may look like
one already taken or reserved ("рор" in Cyrillic beside "pop"), compared by their skeletons.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable

from podcast_host.errors import Conflict, Invalid, refusal

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
    """A producer-chosen slug must already be in slug form (the slug of itself), each word in one script
    or in scripts a language writes together. Slugs made from titles are not checked: the title is the
    producer's own text, kept as typed."""
    if not slug or slugify(slug) != slug:
        raise Invalid(
            refusal(
                "The slug %(slug)r is not valid: use letters (lowercase where the script has case), digits "
                "and single hyphens, at most %(most)s characters.",
                slug=slug,
                most=MAX_SLUG_LENGTH,
            ),
            field="slug",
        )
    for word in slug.split(SEPARATOR):
        scripts = _scripts(word)
        if not _written_together(scripts):
            # The scripts go by their Unicode names, which are English: the translations leave them out, the
            # word itself shows where the mix is.
            raise Invalid(
                refusal(
                    "The slug %(slug)r mixes the %(scripts)s scripts in the word %(word)r, which no language "
                    "writes together: write each word in one script.",
                    slug=slug,
                    scripts=" and ".join(sorted(scripts)),
                    word=word,
                ),
                field="slug",
            )
    return slug


def refuse_look_alike(slug: str, taken: Iterable[str], taken_as: str) -> None:
    """Refuse (Conflict) a slug that is one of `taken`, or looks like one: the same skeleton.
    `taken_as` says what they are: "already taken", "already taken in this show", "reserved by the app"."""
    alike = look_alike(slug, taken)
    if alike is not None:
        raise Conflict(_taken(slug, alike, taken_as))


def _taken(slug: str, alike: str, taken_as: str) -> str:
    """The refusal as one whole sentence for each way a slug can be taken, so that every language words all
    of it; another `taken_as` is written into the English sentence as it is."""
    if alike == slug:
        sentences = {
            "already taken": refusal("The slug %(slug)r is already taken; choose another.", slug=slug),
            "already taken in this show": refusal(
                "The slug %(slug)r is already taken in this show; choose another.", slug=slug
            ),
            "reserved by the app": refusal(
                "The slug %(slug)r is reserved by the app; choose another.", slug=slug
            ),
        }
        return sentences.get(taken_as) or f"The slug {slug!r} is {taken_as}; choose another."
    sentences = {
        "already taken": refusal(
            "The slug %(slug)r looks like %(alike)r, which is already taken; choose another.",
            slug=slug,
            alike=alike,
        ),
        "already taken in this show": refusal(
            "The slug %(slug)r looks like %(alike)r, which is already taken in this show; choose another.",
            slug=slug,
            alike=alike,
        ),
        "reserved by the app": refusal(
            "The slug %(slug)r looks like %(alike)r, which is reserved by the app; choose another.",
            slug=slug,
            alike=alike,
        ),
    }
    return (
        sentences.get(taken_as)
        or f"The slug {slug!r} looks like {alike!r}, which is {taken_as}; choose another."
    )


def look_alike(slug: str, taken: Iterable[str]) -> str | None:
    """The slug of `taken` that `slug` is, else the first that looks like it; None when none does."""
    mine, alike = skeleton(slug), None
    for other in taken:
        if other == slug:
            return other
        if alike is None and skeleton(other) == mine:
            alike = other
    return alike


def skeleton(slug: str) -> str:
    """What a slug looks like: two slugs with the same skeleton pass for each other. As TR39's skeleton,
    decomposed first, so that "ё" (Cyrillic е and a diaeresis) meets "ë"."""
    decomposed = unicodedata.normalize("NFD", slug).translate(_LOOK_ALIKES)
    return unicodedata.normalize("NFC", decomposed)


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


# --- look-alikes -------------------------------------------------------------------------------------------

# Lower-case Latin, Cyrillic, Greek and Armenian letters that Unicode's confusables.txt (TR39) maps to a
# Latin letter, with the letter they pass for. TR39 maps some (в, н, к κ, т τ) to a Latin small capital
# (ʙ ʜ ĸ ᴛ): in a lower-case slug a small capital reads as its letter, so it is folded on to it too.
_PASS_FOR = {
    "a": "ɑаα",
    "b": "вʙ",
    "c": "сᴄ",
    "d": "ԁ",
    "e": "еҽ",
    "f": "ք",
    "g": "ɡցԍɢ",
    "h": "һհнʜ",
    "i": "ıɩɪіӏꙇι",
    "j": "јϳ",
    "k": "кκĸᴋ",
    "n": "ոռ",
    "o": "ᴏᴑоοσօ",
    "p": "рρᴘ",
    "q": "ԛգզ",
    "r": "гᴦ",
    "s": "ѕꜱ",
    "t": "тτᴛ",
    "u": "ʋᴜυս",
    "v": "ᴠνѵ",
    "w": "ɯᴡѡԝա",
    "x": "х",
    "y": "ɣʏуүγ",
}
_LOOK_ALIKES = {ord(alike): letter for letter, alikes in _PASS_FOR.items() for alike in alikes}

# Scripts a word may mix, TR39's "highly restrictive" level: Japanese (Han, hiragana, katakana), Chinese
# with bopomofo, Korean (Han and hangul), each with Latin too ("tシャツ", "cd盤").
_WRITTEN_TOGETHER = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)
# Python's unicodedata has no Script property (the regex package has, but is no dependency of ours): a
# letter's script is the first word of its Unicode name ("CYRILLIC SMALL LETTER IE"), except for these names.
# Digits are their script's ("DEVANAGARI DIGIT ONE"), European ones everyone's; other numbers (①, Ⅻ after
# NFKC) belong to no script either.
_SCRIPT_OF_NAME = {
    "CJK": "Han",
    "IDEOGRAPHIC": "Han",  # 々 〆
    "VIETNAMESE": "Han",  # the alternate reading marks of Chữ Nôm
    "HENTAIGANA": "Hiragana",
    "TURNED": "Latin",  # ⅎ
    "ARABIC-INDIC": "Arabic",
    "EXTENDED": "Arabic",  # EXTENDED ARABIC-INDIC DIGIT, the Persian and Urdu ones
}
_ANY_SCRIPT = frozenset(
    {
        "DIGIT",
        "COMBINING",  # accents: Inherited, they take their letter's script
        "MODIFIER",  # ʻ in oʻzbek, ʹ
        "CARON",
        "KATAKANA-HIRAGANA",  # ー, in both kanas
        "VERTICAL",  # 〱, the kana repeat marks
        "MASU",
        "VEDIC",
        "MUSICAL",
    }
)


def _scripts(word: str) -> set[str]:
    """The scripts of a word's letters and digits, those every script uses left out."""
    scripts = set()
    for char in word:
        if unicodedata.category(char) in ("No", "Nl"):
            continue
        first = unicodedata.name(char, "UNNAMED").split(" ")[0]  # Python 3.11 names no Tangut ideograph
        if first not in _ANY_SCRIPT:
            scripts.add(_SCRIPT_OF_NAME.get(first, first.title()))
    return scripts


def _written_together(scripts: set[str]) -> bool:
    return len(scripts) <= 1 or any(scripts <= together for together in _WRITTEN_TOGETHER)
