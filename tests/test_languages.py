"""The interface's catalogs and the choice of language (docs/languages.md)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from helpers import create_show

from podcast_host.config import INTERFACE_LANGUAGES

CATALOGS = Path(str(resources.files("podcast_host") / "translations"))
ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _strings_in_the_code() -> frozenset[Any]:
    """Every message the code and templates ask for, extracted now as `make catalogs` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "refusal": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message)
    return frozenset(found)


@pytest.mark.parametrize("language", INTERFACE_LANGUAGES)
def test_each_catalog_is_complete_and_compiled(language: str) -> None:
    folder = CATALOGS / language / "LC_MESSAGES"
    wanted = set(_strings_in_the_code())
    with (folder / "messages.po").open("rb") as source:
        catalog = read_po(source)
    translated = {message.id: message for message in catalog if message.id}
    assert wanted, "nothing was extracted"
    absent = [str(mid) for mid in wanted - set(translated)]
    assert not absent, f"not in the {language} catalog (run `make catalogs`): {sorted(absent)[:5]}"
    # A plural message has one string per plural form of the language (six in Arabic): all must be there.
    missing = [mid for mid, message in translated.items() if not all(_forms(message.string))]
    fuzzy = [mid for mid, message in translated.items() if message.fuzzy]
    assert not missing, f"untranslated in {language}: {missing[:5]}"
    assert not fuzzy, f"fuzzy in {language}: {fuzzy[:5]}"
    with (folder / "messages.mo").open("rb") as compiled_file:
        compiled = {_plain(m.id): _plain(m.string) for m in read_mo(compiled_file) if m.id}
    source = {_plain(mid): _plain(message.string) for mid, message in translated.items()}
    assert compiled == source, "the compiled catalog is older than its source: run `make catalogs`"


def _plain(value: Any) -> Any:
    """A plural message's id or strings as a tuple (a compiled catalog gives lists)."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _forms(string: str | tuple[str, ...]) -> tuple[str, ...]:
    return (string,) if isinstance(string, str) else tuple(string) or ("",)


@pytest.mark.parametrize(
    ("language", "direction", "skip"),
    [("ar", "rtl", "انتقل إلى المحتوى"), ("fr", "ltr", "Aller au contenu"), ("de", "ltr", "Skip to content")],
)
def test_a_show_page_speaks_its_show_language(
    client: FlaskClient, admin_token: str, language: str, direction: str, skip: str
) -> None:
    create_show(client, admin_token, language=language)
    page = client.get("/daily/").get_data(as_text=True)
    expected_lang = language if language != "de" else "en"
    assert f'<html lang="{expected_lang}" dir="{direction}">' in page
    assert skip in page


@pytest.mark.parametrize(
    ("language", "month", "digits"),
    [("en", "November", "2026"), ("fr", "novembre", "2026"), ("ar", "نوفمبر", "2026")],
)
def test_dates_on_a_show_page_are_written_the_way_its_language_writes_them(
    client: FlaskClient, admin_token: str, services: Any, language: str, month: str, digits: str
) -> None:
    from datetime import UTC, datetime

    from analytics_helpers import published_audio

    from podcast_host.models import Episode

    create_show(client, admin_token, language=language)
    episode_id, _ = published_audio(services, "daily", "Un", 1000, 30.0)
    with services.db.session() as session:
        row = session.get(Episode, episode_id)
        assert row is not None
        row.publish_at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        session.commit()
    page = client.get("/daily/un/").get_data(as_text=True)
    written = page.split('<time datetime="2026-11-02T09:00:00+00:00">', 1)[1].split("</time>", 1)[0]
    assert month in written
    assert digits in written
