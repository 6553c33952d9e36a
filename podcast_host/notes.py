"""Producer text: strip what XML cannot carry, and turn Markdown show notes into safe HTML.

Shared by the feed (description, content:encoded), the public pages and the domain's input checks.
"""

from __future__ import annotations

import functools
import re

import nh3
from markdown_it import MarkdownIt

# C0 controls except tab and newline, DEL and C1 (Unicode category Cc), plus what XML 1.0 forbids besides:
# lone surrogates and U+FFFE/U+FFFF (https://www.w3.org/TR/xml/#charsets). lxml refuses all of them.
_UNWANTED_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# What a podcast app or a page may render from show notes; everything else is stripped, its text kept.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})

# CommonMark with raw HTML on: producers paste <b> or <a>; nh3 decides what survives.
_markdown = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")


def clean_text(s: str) -> str:
    """Strip control characters other than tab and newline (SPEC §7); a carriage return becomes a newline."""
    return _UNWANTED_CHARS.sub("", s.replace("\r\n", "\n").replace("\r", "\n"))


# Rendering is most of a feed's build time; notes rarely change, so recent results are kept. Only notes up
# to 16 kB are cached, which bounds the cache to a few tens of MB however long the notes are.
_CACHED_NOTES_MAX = 16 * 1024


def render_notes_html(markdown_text: str) -> str:
    """Markdown show notes -> sanitized HTML: no script, no event attributes, no javascript: URLs."""
    if len(markdown_text) <= _CACHED_NOTES_MAX:
        return _render_cached(markdown_text)
    return _render(markdown_text)


@functools.lru_cache(maxsize=2048)
def _render_cached(markdown_text: str) -> str:
    return _render(markdown_text)


def _render(markdown_text: str) -> str:
    html = _markdown.render(clean_text(markdown_text))
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener nofollow",
    ).strip()
