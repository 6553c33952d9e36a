"""Our feedgen extension: the Podcasting 2.0 `podcast:` tags, WebSub hub links, and the iTunes tags feedgen
gets wrong (itunes:explicit as true/false; itunes:image for any URL). Imported only by build.py, when it first
builds a feed.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.util import xml_elem
from lxml.etree import _Element

# https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md
# Apps such as podcast-partytime look for the prefix `podcast` itself, not just the URI.
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
# Apple's namespace URI keeps its historical "dtds" spelling.
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM_NS = "http://www.w3.org/2005/Atom"
# podcast-namespace docs/tags/chapters.md.
CHAPTERS_TYPE = "application/json+chapters"


@dataclass(frozen=True)
class Transcript:
    """One podcast:transcript: its URL, MIME type, language (a BCP 47 code, "" when unknown), and
    rel="captions" when the file carries timecodes."""

    url: str
    type: str
    language: str = ""
    captions: bool = False


@dataclass(frozen=True)
class AlternateEnclosure:
    """One podcast:alternateEnclosure (docs/tags/alternate-enclosure.md of the namespace): a version of the
    episode's audio, with one podcast:source and, when known, its SHA-256 as podcast:integrity (SRI)."""

    type: str
    length: int
    url: str
    bitrate: int | None = None  # bits per second
    sha256: str | None = None  # base64, as Subresource Integrity writes it
    default: bool = False  # the same file as the enclosure
    title: str = ""
    codecs: str = ""


@dataclass(frozen=True)
class Funding:
    """One podcast:funding link and the text an app shows next to it."""

    url: str
    text: str


def _sub(parent: _Element, ns: str, tag: str, text: str | None = None, **attrib: str) -> _Element:
    element: _Element = xml_elem(f"{{{ns}}}{tag}", parent, **attrib)
    if text is not None:
        element.text = text
    return element


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _true_false(value: bool) -> str:
    # Apple's podcast RSS guide asks for "true"/"false"; feedgen only knows yes/no/clean.
    return "true" if value else "false"


class PodcastChannelExtension(BaseExtension):
    """Channel tags; build.py sets the attributes, feedgen calls extend_rss while it builds the XML."""

    def __init__(self) -> None:
        self.itunes_image: str | None = None
        self.itunes_explicit: bool | None = None
        self.hubs: tuple[str, ...] = ()
        self.guid: str | None = None
        self.locked: bool | None = None
        self.locked_owner: str = ""
        self.funding: Funding | None = None
        self.medium: str | None = None
        # Keep the feed out of directories: itunes:block (Apple's "Yes") and podcast:block ("yes").
        self.block = False

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS, "itunes": ITUNES_NS}

    def extend_rss(self, rss_feed: _Element) -> _Element:
        channel = rss_feed[0]
        self._itunes(channel)
        for hub in self.hubs:
            # WebSub (W3C REC, section 4): subscribers find the hub through this link.
            _sub(channel, ATOM_NS, "link", href=hub, rel="hub")
        self._podcast(channel)
        return rss_feed

    def _itunes(self, channel: _Element) -> None:
        if self.itunes_image:
            _sub(channel, ITUNES_NS, "image", href=self.itunes_image)
        if self.itunes_explicit is not None:
            _sub(channel, ITUNES_NS, "explicit", _true_false(self.itunes_explicit))
        if self.block:
            _sub(channel, ITUNES_NS, "block", "Yes")

    def _podcast(self, channel: _Element) -> None:
        if self.guid:
            _sub(channel, PODCAST_NS, "guid", self.guid)
        if self.block:
            _sub(channel, PODCAST_NS, "block", "yes")
        if self.locked is not None:
            owner = {"owner": self.locked_owner} if self.locked_owner else {}
            _sub(channel, PODCAST_NS, "locked", _yes_no(self.locked), **owner)
        if self.funding:
            _sub(channel, PODCAST_NS, "funding", self.funding.text, url=self.funding.url)
        if self.medium:
            _sub(channel, PODCAST_NS, "medium", self.medium)


class PodcastItemExtension(BaseEntryExtension):
    """Item tags; the episode counterpart of PodcastChannelExtension."""

    def __init__(self) -> None:
        self.itunes_image: str | None = None
        self.itunes_explicit: bool | None = None
        self.season: int | None = None
        self.episode: int | float | None = None
        self.transcripts: tuple[Transcript, ...] = ()
        self.chapters_url: str | None = None
        self.alternates: tuple[AlternateEnclosure, ...] = ()

    def extend_rss(self, item: _Element) -> _Element:
        if self.itunes_image:
            _sub(item, ITUNES_NS, "image", href=self.itunes_image)
        if self.itunes_explicit is not None:
            _sub(item, ITUNES_NS, "explicit", _true_false(self.itunes_explicit))
        if self.season is not None:
            _sub(item, PODCAST_NS, "season", str(self.season))
        if self.episode is not None:
            _sub(item, PODCAST_NS, "episode", str(self.episode))
        for transcript in self.transcripts:
            # Optional in the namespace; an app without it assumes the channel's language.
            language = {"language": transcript.language} if transcript.language else {}
            rel = {"rel": "captions"} if transcript.captions else {}
            _sub(item, PODCAST_NS, "transcript", url=transcript.url, type=transcript.type, **language, **rel)
        if self.chapters_url:
            _sub(item, PODCAST_NS, "chapters", url=self.chapters_url, type=CHAPTERS_TYPE)
        for alternate in self.alternates:
            _alternate(item, alternate)
        return item


def _alternate(item: _Element, alternate: AlternateEnclosure) -> None:
    attributes = {"type": alternate.type, "length": str(alternate.length)}
    if alternate.bitrate:
        attributes["bitrate"] = str(alternate.bitrate)
    if alternate.default:
        attributes["default"] = "true"
    if alternate.title:
        attributes["title"] = alternate.title
    if alternate.codecs:
        attributes["codecs"] = alternate.codecs
    element = _sub(item, PODCAST_NS, "alternateEnclosure", **attributes)
    _sub(element, PODCAST_NS, "source", uri=alternate.url)
    if alternate.sha256:
        _sub(element, PODCAST_NS, "integrity", type="sri", value=f"sha256-{alternate.sha256}")
