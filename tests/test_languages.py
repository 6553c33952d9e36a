"""The interface's catalogs and the choice of language (docs/languages.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from helpers import create_show

from podcast_host.config import INTERFACE_LANGUAGES

CATALOGS = Path(str(resources.files("podcast_host") / "translations"))


@pytest.mark.parametrize("language", INTERFACE_LANGUAGES)
def test_each_catalog_is_complete_and_compiled(language: str) -> None:
    folder = CATALOGS / language / "LC_MESSAGES"
    with (CATALOGS / "messages.pot").open("rb") as source:
        wanted = {message.id for message in read_po(source) if message.id}
    with (folder / "messages.po").open("rb") as source:
        catalog = read_po(source)
    translated = {message.id: message for message in catalog if message.id}
    assert wanted, "nothing was extracted"
    assert wanted <= set(translated), f"not in the {language} catalog: {sorted(wanted - set(translated))[:5]}"
    missing = [mid for mid, message in translated.items() if not message.string]
    fuzzy = [mid for mid, message in translated.items() if message.fuzzy]
    assert not missing, f"untranslated in {language}: {missing[:5]}"
    assert not fuzzy, f"fuzzy in {language}: {fuzzy[:5]}"
    with (folder / "messages.mo").open("rb") as compiled_file:
        compiled = {message.id: message.string for message in read_mo(compiled_file) if message.id}
    assert compiled == {mid: message.string for mid, message in translated.items()}, "run `make catalogs`"


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
