"""Fill the English catalog: every message is its own translation (the interface is written in English).

python scripts/fill_english_catalog.py     # after `make catalogs` extracted new messages; then compile again
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOG = (
    Path(__file__).resolve().parents[1]
    / "podcast_host"
    / "translations"
    / "en"
    / "LC_MESSAGES"
    / "messages.po"
)


def main() -> None:
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="en")
    for message in catalog:
        if not message.id:
            continue
        message.string = message.id if isinstance(message.id, str) else tuple(message.id)
        message.flags.discard("fuzzy")
    with CATALOG.open("wb") as out:
        write_po(out, catalog, width=110)


if __name__ == "__main__":
    main()
