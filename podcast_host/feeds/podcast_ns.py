"""Our feedgen extension: the Podcasting 2.0 `podcast:` tags, WebSub hub links, and the iTunes tags feedgen
gets wrong (itunes:explicit as true/false; itunes:image for any URL). Imported only by build.py, when it first
builds a feed. build.py decides what each tag says (docs/feeds.md, "Podcasting 2.0 tags"); this module only
writes it as the namespace's documents spell it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.util import formatRFC2822
from lxml.etree import SubElement, _Element

from podcast_host.notes import clean_text, has_unwanted_chars

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


@dataclass(frozen=True)
class Person:
    """One podcast:person (docs/tags/person.md): a name, a role and group of the Podcast Taxonomy, a picture
    and a page about them."""

    name: str
    role: str = ""
    group: str = ""
    img: str = ""
    href: str = ""


@dataclass(frozen=True)
class Location:
    """One podcast:location (docs/tags/location.md): a name to show, subject or creator, a geo URI, an
    OpenStreetMap id, a country code."""

    name: str
    rel: str = ""
    geo: str = ""
    osm: str = ""
    country: str = ""


@dataclass(frozen=True)
class Soundbite:
    """One podcast:soundbite: start and length in seconds, as written ("73.0"), and an optional title."""

    start: str
    duration: str
    title: str = ""


@dataclass(frozen=True)
class Trailer:
    """One podcast:trailer (docs/tags/trailer.md): an enclosure with a title, a publication date, a season."""

    title: str
    url: str
    pubdate: datetime
    length: int | None = None
    type: str = ""
    season: int | None = None


@dataclass(frozen=True)
class License:
    """podcast:license: the identifier and the URL of the licence's text."""

    identifier: str
    url: str


@dataclass(frozen=True)
class Txt:
    """One podcast:txt record and its optional purpose."""

    value: str
    purpose: str = ""


@dataclass(frozen=True)
class RemoteItem:
    """One podcast:remoteItem of the podroll: another show by its podcast:guid."""

    feed_guid: str
    feed_url: str = ""
    title: str = ""
    medium: str = ""


@dataclass(frozen=True)
class UpdateFrequency:
    """podcast:updateFrequency: the text, an iCalendar RRULE, its dtstart (ISO 8601), complete."""

    text: str
    rrule: str = ""
    dtstart: str = ""
    complete: bool = False


@dataclass(frozen=True)
class Image:
    """One podcast:image (docs/tags/image.md); width and height only when known."""

    href: str
    alt: str = ""
    aspect_ratio: str = ""
    width: int | None = None
    height: int | None = None
    type: str = ""
    purpose: str = ""


def _sub(parent: _Element, ns: str, tag: str, text: str | None = None, **attrib: str) -> _Element:
    """A tag of `parent`, its text and attributes without what XML 1.0 cannot carry: build.py cleans the texts
    it writes, but a value stored past the checks (an address, a role, a feedGuid) must leave its tag, not the
    whole feed, to the lxml error it would raise."""
    if attrib and has_unwanted_chars("".join(attrib.values())):  # one look at all of them, the usual case
        attrib = {k: clean_text(v) for k, v in attrib.items()}
    element: _Element = SubElement(parent, f"{{{ns}}}{tag}", attrib)
    if text is not None:
        element.text = clean_text(text)
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
        # Keep the feed out of directories: podcast:block "yes" without an id; out of Apple's, itunes:block.
        self.block = False
        self.itunes_block = False
        # podcast:block with an id: (platform slug, blocked), the exceptions to `block`.
        self.platform_blocks: tuple[tuple[str, bool], ...] = ()
        self.persons: tuple[Person, ...] = ()
        self.locations: tuple[Location, ...] = ()
        self.license: License | None = None
        self.trailers: tuple[Trailer, ...] = ()
        self.txt: tuple[Txt, ...] = ()
        self.podroll: tuple[RemoteItem, ...] = ()
        self.update_frequency: UpdateFrequency | None = None
        self.images: tuple[Image, ...] = ()

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
        if self.itunes_block:
            _sub(channel, ITUNES_NS, "block", "Yes")

    def _podcast(self, channel: _Element) -> None:
        if self.guid:
            _sub(channel, PODCAST_NS, "guid", self.guid)
        if self.block:
            _sub(channel, PODCAST_NS, "block", "yes")
        for platform, blocked in self.platform_blocks:
            _sub(channel, PODCAST_NS, "block", _yes_no(blocked), id=platform)
        if self.locked is not None:
            owner = {"owner": self.locked_owner} if self.locked_owner else {}
            _sub(channel, PODCAST_NS, "locked", _yes_no(self.locked), **owner)
        if self.funding:
            _sub(channel, PODCAST_NS, "funding", self.funding.text, url=self.funding.url)
        if self.medium:
            _sub(channel, PODCAST_NS, "medium", self.medium)
        _people_and_places(channel, self.persons, self.locations, self.license, self.images)
        for trailer in self.trailers:
            _trailer(channel, trailer)
        for record in self.txt:
            _sub(channel, PODCAST_NS, "txt", record.value, **_given(purpose=record.purpose))
        if self.podroll:
            podroll = _sub(channel, PODCAST_NS, "podroll")
            for show in self.podroll:
                _remote_item(podroll, show)
        if self.update_frequency:
            _update_frequency(channel, self.update_frequency)


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
        self.persons: tuple[Person, ...] = ()
        self.locations: tuple[Location, ...] = ()
        self.soundbites: tuple[Soundbite, ...] = ()
        self.license: License | None = None
        self.images: tuple[Image, ...] = ()

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
        for bite in self.soundbites:
            title = bite.title or None  # untitled: an empty tag, apps choose what to show
            _sub(item, PODCAST_NS, "soundbite", title, startTime=bite.start, duration=bite.duration)
        _people_and_places(item, self.persons, self.locations, self.license, self.images)
        return item


def _given(**attributes: str | int | None) -> dict[str, str]:
    """The attributes that have a value, as text: the namespace's optional ones are left out when unset."""
    return {name: str(value) for name, value in attributes.items() if value not in (None, "")}


def _people_and_places(
    parent: _Element,
    persons: tuple[Person, ...],
    locations: tuple[Location, ...],
    license: License | None,
    images: tuple[Image, ...],
) -> None:
    """The tags a channel and an item share."""
    for person in persons:
        attributes = _given(role=person.role, group=person.group, img=person.img, href=person.href)
        _sub(parent, PODCAST_NS, "person", person.name, **attributes)
    for place in locations:
        attributes = _given(rel=place.rel, geo=place.geo, osm=place.osm, country=place.country)
        _sub(parent, PODCAST_NS, "location", place.name, **attributes)
    if license:
        _sub(parent, PODCAST_NS, "license", license.identifier, **_given(url=license.url))
    for image in images:
        attributes = _given(
            href=image.href,
            alt=image.alt,
            width=image.width,
            height=image.height,
            type=image.type,
            purpose=image.purpose,
        )
        if image.aspect_ratio:
            attributes["aspect-ratio"] = image.aspect_ratio  # not a Python name
        _sub(parent, PODCAST_NS, "image", **attributes)


def _trailer(channel: _Element, trailer: Trailer) -> None:
    # The namespace asks for RFC 2822, as an item's pubDate (feedgen's own formatter writes both).
    attributes = {"pubdate": formatRFC2822(trailer.pubdate), "url": trailer.url}
    attributes.update(_given(length=trailer.length, type=trailer.type, season=trailer.season))
    _sub(channel, PODCAST_NS, "trailer", trailer.title, **attributes)


def _remote_item(podroll: _Element, show: RemoteItem) -> None:
    attributes = {"feedGuid": show.feed_guid}
    attributes.update(_given(feedUrl=show.feed_url, title=show.title, medium=show.medium))
    _sub(podroll, PODCAST_NS, "remoteItem", **attributes)


def _update_frequency(channel: _Element, frequency: UpdateFrequency) -> None:
    attributes = _given(rrule=frequency.rrule, dtstart=frequency.dtstart)
    if frequency.complete:
        attributes["complete"] = "true"  # the namespace's default is false: written only when it is true
    _sub(channel, PODCAST_NS, "updateFrequency", frequency.text, **attributes)


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
