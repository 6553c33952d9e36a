"""Each feed item's bytes, kept per episode version: a feed rendered again after an edit has feedgen write
the edited item alone and takes the others from here (docs/feeds.md, "The cache"). build.py makes the keys.
One cache per process, bounded in bytes, the least recently used items dropped first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from podcast_host.limits import MIB

# A 1,000-episode show's items take about 2.7 MB: the cap holds a dozen such shows, or thousands of small.
MAX_ITEM_BYTES = 32 * MIB
# What an entry takes besides its bytes: its key (a digest, see build.py), its record and its slot in the
# ordered dictionary, about 245 bytes as tracemalloc counts them. That is a third of a small item: counted, it
# makes the cap one on the process's memory, not only on the items' bytes.
_ENTRY_BYTES = 256
# An item in a feed as feedgen pretty-prints it (rss_str(pretty=True)): a child of the channel, two levels
# down, so indented by four spaces. A "<" in text or in an attribute is always escaped, so these bytes only
# ever start an item, and the last channel end tag is the channel's own.
_ITEM_START = b"    <item>"
_CHANNEL_END = b"  </channel>"


def split_items(feed: bytes) -> tuple[bytes, list[bytes], bytes]:
    """A pretty-printed feed cut in three: what precedes its items, each item's bytes (indentation and line
    end included, as they read in any such feed), and what follows them."""
    end = feed.rindex(_CHANNEL_END)
    start = feed.find(_ITEM_START, 0, end)
    if start < 0:
        return feed[:end], [], feed[end:]
    items = [_ITEM_START + part for part in feed[start:end].split(_ITEM_START)[1:]]
    return feed[:start], items, feed[end:]


@dataclass(frozen=True, slots=True)
class KeptItem:
    xml: bytes  # as the feed carries it, indentation and line end included
    size: int  # the feed's size budget for the item: the same whether the item is written or kept


class ItemCache:
    """Kept items by key, within a byte cap; thread-safe (shows are rendered in parallel)."""

    def __init__(self, max_bytes: int = MAX_ITEM_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[Hashable, KeptItem] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> KeptItem | None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:
                self._entries.move_to_end(key)
            return kept

    def put(self, key: Hashable, kept: KeptItem) -> None:
        cost = len(kept.xml) + _ENTRY_BYTES
        with self._lock:
            older = self._entries.pop(key, None)
            if older is not None:
                self.size_bytes -= len(older.xml) + _ENTRY_BYTES
            if cost > self.max_bytes:
                return
            self._entries[key] = kept
            self.size_bytes += cost
            while self.size_bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self.size_bytes -= len(dropped.xml) + _ENTRY_BYTES

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


# The process's items, shared by every feed it renders (keys name the feed, see build.py).
ITEMS = ItemCache()
