"""Read another host's RSS feed into plain values: the channel and its items, as podcast apps read them.

Parsed with defusedxml, which refuses entity declarations (the "billion laughs" expansion) and external
entities. Nothing here fetches: URLs found in the feed are made absolute against the feed's own address and
handed to the importer, which fetches them through `fetching` (docs/migrate.md, "What an import keeps").
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

from podcast_host.errors import Invalid

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
PODCAST = "{https://podcastindex.org/namespace/1.0}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
ATOM = "{http://www.w3.org/2005/Atom}"
# Feeds in the wild still use the namespace's first address.
PODCAST_OLD = "{https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md}"

# How apps read itunes:explicit: "yes", "true" and "explicit" mark explicit; anything else ("no", "clean",
# "false", absent) does not.
EXPLICIT_WORDS = frozenset({"yes", "true", "explicit"})
# Transcript types we serve, best first; a feed's HTML or JSON transcripts are left out (reported).
TRANSCRIPT_TYPES = {
    "text/vtt": "transcript.vtt",
    "application/x-subrip": "transcript.srt",
    "application/srt": "transcript.srt",
}
_BLOCK_START = re.compile(r"^\s*<(p|div|ul|ol|h[1-6]|blockquote|pre|hr|table)\b", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[A-Za-z/][^>]*>")
_BLANK_LINES = re.compile(r"\n\s*\n")


@dataclass
class FeedItem:
    """One <item>: what the importer keeps of it, or `problem` saying why it cannot be imported."""

    position: int
    guid: str
    title: str
    notes: str = ""
    published: datetime | None = None
    season: int | None = None
    number: int | None = None
    episode_type: str = "full"
    explicit: bool = False
    enclosure_url: str | None = None
    enclosure_type: str = ""
    image_url: str | None = None
    chapters_url: str | None = None
    transcript_url: str | None = None
    transcript_name: str | None = None
    problem: str | None = None
    notices: list[str] = field(default_factory=list)


@dataclass
class FeedChannel:
    """The <channel>: the show's fields by their names in shows.EDITABLE, and what else an import needs."""

    fields: dict[str, object]
    podcast_guid: str | None
    self_url: str | None
    image_url: str | None
    locked_owner: str | None
    items: list[FeedItem]
    notices: list[str] = field(default_factory=list)


def read_feed(data: bytes, feed_url: str, max_items: int) -> FeedChannel:
    """The channel and its items; Invalid when the bytes are not an RSS feed (or declare entities), or have
    more than `max_items` items (counted before any is read: a feed of a million empty items costs no more
    than its XML tree)."""
    # Imported here: only an import needs it; an idle web process never loads it (docs/architecture.md).
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Invalid(
            "The feed declares XML entities, which are refused (they can expand without end)."
        ) from None
    except ParseError as exc:
        raise Invalid(f"The feed is not well-formed XML ({exc}).") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise Invalid("This is not an RSS feed: no <rss><channel>.")
    nodes = channel.findall("item")
    if len(nodes) > max_items:
        raise Invalid(f"The feed has {len(nodes):,} items; an import takes at most {max_items:,}.")
    base = _self_link(channel) or feed_url
    items = [_item(position, node, base) for position, node in enumerate(nodes)]
    seen: set[str] = set()
    for item in items:
        if item.guid in seen and item.problem is None:
            item.problem = "Another item of this feed has the same guid; only the first is imported."
        seen.add(item.guid)
    return FeedChannel(
        fields=_channel_fields(channel),
        podcast_guid=_text(channel, f"{PODCAST}guid") or _text(channel, f"{PODCAST_OLD}guid") or None,
        self_url=_self_link(channel),
        image_url=_absolute(base, _image(channel) or _text(channel, "image/url")),
        locked_owner=_locked_owner(channel),
        items=items,
    )


def _channel_fields(channel: Element) -> dict[str, object]:
    owner_email = _text(channel, f"{ITUNES}owner/{ITUNES}email")
    category = channel.find(f"{ITUNES}category")
    fields: dict[str, object] = {
        "title": _text(channel, "title"),
        "description": notes_from_html(
            _text(channel, f"{ITUNES}summary") or _text(channel, "description") or ""
        ),
        "language": (_text(channel, "language") or "").strip(),
        "author": _text(channel, f"{ITUNES}author") or _text(channel, "managingEditor"),
        "email": owner_email,
        "explicit": _explicit(channel),
        "copyright": _text(channel, "copyright"),
        "show_type": (_text(channel, f"{ITUNES}type") or "").lower(),
    }
    if category is not None and category.get("text"):
        sub = category.find(f"{ITUNES}category")
        fields["category"] = (category.get("text"), sub.get("text") if sub is not None else None)
    funding = channel.find(f"{PODCAST}funding")
    if funding is not None and funding.get("url"):
        fields["funding_url"] = funding.get("url")
        fields["funding_text"] = (funding.text or "").strip()
    return {key: value for key, value in fields.items() if value not in (None, "")}


def _item(position: int, node: Element, base: str) -> FeedItem:
    enclosure = node.find("enclosure")
    enclosure_url = _absolute(base, enclosure.get("url") if enclosure is not None else None)
    # An item without a guid is known to apps by its enclosure's address, as the RSS spec's readers do.
    guid = (_text(node, "guid") or enclosure_url or "").strip()
    item = FeedItem(
        position=position,
        guid=guid,
        title=(_text(node, "title") or _text(node, f"{ITUNES}title") or "").strip(),
        enclosure_url=enclosure_url,
        enclosure_type=(enclosure.get("type") or "") if enclosure is not None else "",
        image_url=_absolute(base, _image(node)),
    )
    item.notes = notes_from_html(
        _text(node, f"{CONTENT}encoded")
        or _text(node, "description")
        or _text(node, f"{ITUNES}summary")
        or ""
    )
    item.published = _date(_text(node, "pubDate"), item)
    item.season = _whole(_text(node, f"{ITUNES}season"), "season", item)
    item.number = _whole(_text(node, f"{ITUNES}episode"), "episode number", item)
    kind = (_text(node, f"{ITUNES}episodeType") or "full").strip().lower()
    item.episode_type = kind if kind in ("full", "trailer", "bonus") else "full"
    item.explicit = _explicit(node)
    chapters = node.find(f"{PODCAST}chapters")
    if chapters is not None:
        item.chapters_url = _absolute(base, chapters.get("url"))
    item.transcript_url, item.transcript_name = _transcript(node, base, item)
    if not guid:
        item.problem = "The item has neither a guid nor an enclosure."
    elif not enclosure_url:
        item.problem = "The item has no enclosure (no audio to import)."
    elif not item.title:
        item.problem = "The item has no title."
    return item


def _transcript(node: Element, base: str, item: FeedItem) -> tuple[str | None, str | None]:
    offered = {
        (t.get("type") or "").split(";")[0].strip().lower(): t.get("url")
        for t in [*node.findall(f"{PODCAST}transcript"), *node.findall(f"{PODCAST_OLD}transcript")]
    }
    for kind, name in TRANSCRIPT_TYPES.items():
        if offered.get(kind):
            return _absolute(base, offered[kind]), name
    if offered:
        item.notices.append(f"transcript left out: only {', '.join(sorted(offered))} offered")
    return None, None


def notes_from_html(text: str) -> str:
    """Feed notes (HTML, or plain text with line breaks) as notes our Markdown renderer passes through
    unchanged: one HTML block, since a blank line would end it and let Markdown read what follows. The
    renderer sanitizes it when it is saved, as it does any notes."""
    text = text.strip()
    if not text:
        return ""
    if not _ANY_TAG.search(text):
        paragraphs = [p.strip() for p in _BLANK_LINES.split(html.escape(text, quote=False))]
        return "\n".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p)
    text = _BLANK_LINES.sub("\n", text.replace("\r\n", "\n"))
    return text if _BLOCK_START.match(text) else f"<p>{text}</p>"


def _date(value: str | None, item: FeedItem) -> datetime | None:
    if not value:
        item.notices.append("no pubDate: dated when imported")
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        item.notices.append(f"pubDate {value.strip()[:40]!r} unreadable: dated when imported")
        return None
    # RFC 822 dates without a zone are UTC by the RSS spec's reading (and by email.utils, "-0000").
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _whole(value: str | None, name: str, item: FeedItem) -> int | None:
    if not value:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        item.notices.append(f"{name} {value.strip()[:20]!r} is not a number: left out")
        return None
    return number if number >= 0 else None


def _explicit(node: Element) -> bool:
    return (_text(node, f"{ITUNES}explicit") or "").strip().lower() in EXPLICIT_WORDS


def _image(node: Element) -> str | None:
    image = node.find(f"{ITUNES}image")
    return image.get("href") if image is not None else None


def _self_link(channel: Element) -> str | None:
    for link in channel.findall(f"{ATOM}link"):
        if link.get("rel") == "self" and link.get("href"):
            return link.get("href")
    return _text(channel, f"{ITUNES}new-feed-url")


def _locked_owner(channel: Element) -> str | None:
    """The owner e-mail of a feed marked podcast:locked yes, which asks hosts to import it for no one else."""
    for tag in (f"{PODCAST}locked", f"{PODCAST_OLD}locked"):
        locked = channel.find(tag)
        if locked is not None and (locked.text or "").strip().lower() == "yes":
            return locked.get("owner") or _text(channel, f"{ITUNES}owner/{ITUNES}email") or ""
    return None


def _text(node: Element, path: str) -> str | None:
    found = node.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _absolute(base: str, url: str | None) -> str | None:
    """A URL from the feed made absolute against the feed's address (relative images exist in the wild)."""
    if not url or not url.strip():
        return None
    return urljoin(base, url.strip())
