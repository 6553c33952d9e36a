"""Producer text: strip what XML cannot carry, and turn Markdown show notes into safe HTML.

Shared by the feed (description, content:encoded), the public pages and the domain's input checks. Notes are
rendered when they are saved and the HTML is stored beside them (docs/feeds.md, "Show notes"), so pages and
feeds only read it: markdown-it and nh3 are imported when notes are first rendered, not by every process.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from podcast_host.errors import Invalid, refusal
from podcast_host.limits import KIB, MIB
from podcast_host.models import Episode, Show

if TYPE_CHECKING:
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

# The longest episode notes accepted (docs/feeds.md, "Show notes"): 64 KiB of Markdown is a long essay, and
# the worst text of that size renders in under two seconds, once, when it is saved.
MAX_NOTES_CHARS = 64 * 1024
# The most HTML notes may render to (docs/feeds.md, "Show notes"). Escaping makes HTML grow: 64 KiB of "&"
# render to 320 KB, which a feed carries twice per episode, escaped again. Prose with many links at the text
# limit takes about 100 KB.
MAX_NOTES_HTML_BYTES = 128 * KIB
# Raw HTML nested deeper than this is shown as text. The HTML tree builder behind nh3 walks the open elements
# for each new one, so 16,000 nested <div>s took a second where the same bytes as siblings take milliseconds.
MAX_HTML_DEPTH = 100

# A start or end tag in the rendered HTML; [^<>] keeps each match from scanning past the next tag.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*>")
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
# Elements whose start tag ends an open one of the same kind (WHATWG HTML, "optional tags").
_SIBLING_TAGS = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option"})
# Rows read, rendered and committed at a time when the missing HTML is filled in.
BACKFILL_BATCH = 100


def has_unwanted_chars(s: str) -> bool:
    """Whether clean_text would change `s` (a carriage return counts: it becomes a newline)."""
    return _UNWANTED_CHARS.search(s) is not None


def clean_text(s: str) -> str:
    """Strip control characters other than tab and newline; a carriage return becomes a newline.

    See docs/feeds.md, "Producer text".
    """
    if not has_unwanted_chars(s):  # the usual text: nothing to strip
        return s
    return _UNWANTED_CHARS.sub("", s.replace("\r\n", "\n").replace("\r", "\n"))


def render_notes_html(markdown_text: str) -> str:
    """Markdown show notes -> sanitized HTML: no script, no event attributes, no javascript: URLs.

    Costs time linear in the text; callers save the result (Episode.notes_html, Show.description_html).
    Refused (Invalid, field description) past MAX_NOTES_HTML_BYTES of HTML.
    """
    html = _render(markdown_text)
    size = len(html.encode("utf-8"))
    if size > MAX_NOTES_HTML_BYTES:
        raise Invalid(_too_much_html(size), field="description")
    return html


def _too_much_html(size: int) -> str:
    """The refusal of notes rendering past MAX_NOTES_HTML_BYTES, sizes in whole KB or MB as
    limits.format_size writes them, the unit in the sentence so that each language writes its own."""
    most = MAX_NOTES_HTML_BYTES // KIB
    if size >= MIB:
        return refusal(
            "The notes render to %(size)s MB of HTML (each &, < and > becomes an entity); "
            "the limit is %(most)s KB: shorten them.",
            size=size // MIB,
            most=most,
        )
    return refusal(
        "The notes render to %(size)s KB of HTML (each &, < and > becomes an entity); "
        "the limit is %(most)s KB: shorten them.",
        size=size // KIB,
        most=most,
    )


def _render(markdown_text: str) -> str:
    """The sanitized HTML, whatever its size: rows saved before the cap are still served."""
    import nh3

    text = clean_text(markdown_text)
    html = _markdown(raw_html=True).render(text)
    if _nests_too_deep(html):
        html = _markdown(raw_html=False).render(text)
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener nofollow",
    ).strip()


@functools.cache
def _markdown(raw_html: bool) -> MarkdownIt:
    """CommonMark, built once; with raw HTML on, producers paste <b> or <a> and nh3 decides what survives."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": raw_html}).enable("strikethrough")


def _nests_too_deep(html: str) -> bool:
    """Whether tags nest past MAX_HTML_DEPTH, following the parser's main rules.

    An end tag closes up to the latest element of its name and is ignored when there is none (a stray
    </i> leaves <b> open); <p>, <li> and their like close one of their own kind just before them. Errs
    towards deep: the cost of an error is HTML shown as text.
    """
    open_tags: list[str] = []
    for tag in _TAG.finditer(html):
        name = tag.group(2).lower()
        if tag.group(1):
            if name in open_tags:  # at most MAX_HTML_DEPTH names to look through
                del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name) :]
        elif name not in _VOID_TAGS and not tag.group(0).endswith("/>"):
            if name in _SIBLING_TAGS and open_tags and open_tags[-1] == name:
                continue
            open_tags.append(name)
            if len(open_tags) > MAX_HTML_DEPTH:
                return True
    return False


def stored_notes_html(row: Show | Episode) -> str:
    """The stored HTML of a show's description or an episode's notes.

    A row saved before the HTML was stored has none: it is rendered here until backfill_missing_html runs.
    """
    html = getattr(row, _html_column(row))
    return html if html is not None else _render(row.description or "")


def store_missing_html(session: Session, rows: list[Show | Episode]) -> int:
    """Render and store the HTML of rows saved before it was stored, for the caller to commit; how many.

    Not an edit: updated_at stays, so no feed changes its bytes or its Last-Modified.
    """
    stored = 0
    for row in rows:
        column = _html_column(row)
        if getattr(row, column) is not None:
            continue
        html = _render(row.description or "")
        model = type(row)
        statement = (
            update(model)
            .where(model.id == row.id, getattr(model, column).is_(None))
            .values({column: html, model.updated_at: model.updated_at})
            .execution_options(synchronize_session=False)
        )
        session.execute(statement)
        # Known to match the row now; a plain assignment would make the ORM see an edit.
        set_committed_value(row, column, html)
        stored += 1
    return stored


def backfill_missing_html(session: Session) -> int:
    """Store the HTML of every show and episode saved before it was stored, committing as it goes; how many.

    Meant for start-up, off the request path: until it has run, pages and feeds render such rows themselves.
    """
    stored = 0
    for model, column in ((Show, Show.description_html), (Episode, Episode.notes_html)):
        after = 0
        while True:
            query = select(model).where(column.is_(None), model.id > after).order_by(model.id)
            rows: list[Show | Episode] = list(session.scalars(query.limit(BACKFILL_BATCH)))
            if not rows:
                break
            stored += store_missing_html(session, rows)
            session.commit()
            after = rows[-1].id
    return stored


def _html_column(row: Show | Episode) -> str:
    return "notes_html" if isinstance(row, Episode) else "description_html"
