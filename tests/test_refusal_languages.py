"""The domain's refusals in the reader's language (docs/languages.md, "Refusals"): the dashboard shows them
in the language its user chose, the API and str() keep the English its clients and the logs know."""

from __future__ import annotations

import html
import re

import pytest
from browser import add_user, dashboard_app, post_form, signed_in
from flask import Flask
from flask.testing import FlaskClient
from helpers import auth

from podcast_host import accounts, slugs
from podcast_host.errors import Conflict, Invalid
from podcast_host.services import Services
from podcast_host.web.errors import message_of

OWNER = "owner@example.com"
SETTINGS = "/admin/shows/daily/settings"
MEMBERS = "/admin/shows/daily/members"

# Each refusal in English, as the API and the logs keep it, and as the dashboard shows it in Arabic
# or French.
TITLE_TOO_LONG = {
    "en": "The title is longer than 500 characters.",
    "ar": "يتجاوز عدد أحرف العنوان الحد الأقصى البالغ 500.",
    "fr": "Le titre dépasse 500 caractères.",
}
BAD_SLUG = {
    "en": "The slug 'Bad Slug' is not valid: use letters (lowercase where the script has case), digits and "
    "single hyphens, at most 80 characters.",
    "ar": "العنوان 'Bad Slug' غير صالح: استخدم أحرفًا (صغيرة في أنظمة الكتابة التي تميّز بين الكبيرة والصغيرة) "
    "وأرقامًا وشرطات مفردة، على ألا يتجاوز عدد الأحرف 80.",
    "fr": "L'adresse 'Bad Slug' n'est pas valide : utilisez des lettres (en minuscules si l'alphabet en a), "
    "des chiffres et des traits d'union simples, 80 caractères au plus.",
}
ALREADY_A_MEMBER = {
    "en": f"{OWNER} already has a role on this show: change it in the list of members.",
    "ar": f"لدى {OWNER} دور في هذا البرنامج بالفعل: غيّره من قائمة الأعضاء.",
    "fr": f"{OWNER} a déjà un rôle dans cette émission : modifiez-le dans la liste des membres.",
}
NO_SUCH_SHOW = {
    "en": "There is no show 'nope'.",
    "ar": "لا يوجد برنامج 'nope'.",
    "fr": "L'émission 'nope' n'existe pas.",
}


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def owner(app: Flask, services: Services) -> FlaskClient:
    """A client signed in as the owner of the show `daily`, made through the dashboard in English."""
    add_user(services, OWNER)
    client = signed_in(app, OWNER)
    show = {"slug": "daily", "title": "The Daily Test", "language": "en", "email": "t@example.com"}
    assert post_form(client, "/admin/shows", **show).status_code == 303
    return client


def _speaks(services: Services, email: str, code: str) -> None:
    """The user's chosen language for the dashboard, as the account page saves it."""
    with services.db.session() as session:
        user = accounts.get_user(session, email)
        user.locale = code
        session.commit()


def _token(services: Services, email: str) -> str:
    with services.db.session() as session:
        user = accounts.get_user(session, email)
        _, secret = accounts.create_token(session, user, "tests")
        session.commit()
    return secret


def _error_of(page: str, field: str) -> str:
    """The refusal a form shows next to `field`, as the reader sees it."""
    match = re.search(rf'<p class="error" id="error-{field}"[^>]*>(.*?)</p>', page, re.DOTALL)
    assert match, f"the page shows no error for {field}"
    return html.unescape(match.group(1)).strip()


@pytest.mark.parametrize("code", ["ar", "fr"])
def test_a_refusal_of_the_show_settings_is_shown_in_the_users_language(
    owner: FlaskClient, services: Services, code: str
) -> None:
    _speaks(services, OWNER, code)
    # The browser asks for English: the language the user chose wins.
    response = owner.post(
        SETTINGS, data={"title": "x" * 501, "csrf_token": owner.csrf}, headers={"Accept-Language": "en"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<html lang="{code}"' in page
    assert _error_of(page, "title") == TITLE_TOO_LONG[code]
    assert TITLE_TOO_LONG["en"] not in page


@pytest.mark.parametrize("code", ["ar", "fr"])
def test_a_bad_slug_for_a_new_show_is_refused_in_the_users_language(
    owner: FlaskClient, services: Services, code: str
) -> None:
    _speaks(services, OWNER, code)
    response = post_form(owner, "/admin/shows", slug="Bad Slug", title="Another show", language="en")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _error_of(page, "slug") == BAD_SLUG[code]


@pytest.mark.parametrize("code", ["ar", "fr"])
def test_an_invitation_refusal_is_shown_in_the_users_language(
    owner: FlaskClient, services: Services, code: str
) -> None:
    _speaks(services, OWNER, code)
    response = post_form(owner, MEMBERS, email=OWNER, role="editor")
    assert response.status_code == 409
    assert _error_of(response.get_data(as_text=True), "email") == ALREADY_A_MEMBER[code]


@pytest.mark.parametrize("code", ["ar", "fr"])
def test_a_refusal_on_an_error_page_is_shown_in_the_users_language(
    owner: FlaskClient, services: Services, code: str
) -> None:
    _speaks(services, OWNER, code)
    response = owner.get("/admin/shows/nope/", headers={"Accept": "text/html"})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 404
    assert NO_SUCH_SHOW[code] in page
    assert NO_SUCH_SHOW["en"] not in page


def test_the_api_keeps_the_english_and_the_shape_of_its_errors(
    owner: FlaskClient, services: Services
) -> None:
    _speaks(services, OWNER, "ar")
    headers = {**auth(_token(services, OWNER)), "Accept-Language": "ar"}

    invited = owner.post(
        "/api/v1/shows/daily/members", json={"email": OWNER, "role": "editor"}, headers=headers
    )
    assert invited.status_code == 409
    assert invited.get_json() == {"error": {"code": "conflict", "message": ALREADY_A_MEMBER["en"]}}

    missing = owner.get("/api/v1/shows/nope", headers=headers)
    assert missing.status_code == 404
    assert missing.get_json() == {"error": {"code": "not_found", "message": NO_SUCH_SHOW["en"]}}


def test_a_refusal_stays_english_for_the_cli_and_the_logs(app: Flask) -> None:
    """str() of a refusal is its English, even when raised while a page in Arabic is answered; only the
    page's rendering of it is translated."""
    with app.test_request_context("/admin/shows", headers={"Accept-Language": "ar"}):
        with pytest.raises(Invalid) as bad_slug:
            slugs.check_slug("Bad Slug")
        with pytest.raises(Conflict) as taken:
            slugs.refuse_look_alike("daily", ["daily"], "already taken")
        assert str(bad_slug.value) == BAD_SLUG["en"]
        assert message_of(bad_slug.value) == BAD_SLUG["ar"]
        assert str(taken.value) == "The slug 'daily' is already taken; choose another."
        assert message_of(taken.value) == "العنوان 'daily' مستخدم بالفعل؛ اختر عنوانًا آخر."
    with app.test_request_context("/api/v1/shows", headers={"Accept-Language": "ar"}):
        assert message_of(bad_slug.value) == BAD_SLUG["en"]
