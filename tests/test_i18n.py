"""Spanish beside English (allies/i18n.py): the language choice, the switch and its cookie,
the public cache keyed on the language, dates, and a catalogue with nothing left untranslated."""

import os
import re
import subprocess
import sys
from datetime import date

from babel.messages.pofile import read_po

from allies.i18n import LANGUAGES, choose_language, long_date
from tests.fixtures import application_form

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.path.join(PROJECT, "allies", "translations", "es", "LC_MESSAGES", "messages.po")
SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-MX,es;q=0.9,en;q=0.5"}


def _html_lang(html: str) -> str:
    return re.search(r'<html lang="([a-z]+)"', html).group(1)


def test_the_choice_is_the_cookie_else_accept_language_else_english():
    assert choose_language({}) == ("en", False)
    assert choose_language({"HTTP_ACCEPT_LANGUAGE": "es-MX,es;q=0.9"}) == ("es", True)
    assert choose_language({"HTTP_ACCEPT_LANGUAGE": "fr, es;q=0.8, en;q=0.5"}) == ("es", True)
    assert choose_language({"HTTP_ACCEPT_LANGUAGE": "fr, de"}) == ("en", True)
    cookie = {"HTTP_COOKIE": "session=x; lang=es", "HTTP_ACCEPT_LANGUAGE": "en"}
    assert choose_language(cookie) == ("es", False)
    assert choose_language({"HTTP_COOKIE": "lang=xx", "HTTP_ACCEPT_LANGUAGE": "es"})[0] == "es"
    # staff pages stay English until they are translated
    staff = {"PATH_INFO": "/staff/texts", "HTTP_COOKIE": "lang=es"}
    assert choose_language(staff) == ("en", False)


def test_a_public_page_follows_accept_language_and_says_so(client):
    english = client.get("/become-an-ally")
    spanish = client.get("/become-an-ally", environ_base=SPANISH)
    assert _html_lang(english.get_data(as_text=True)) == "en"
    html = spanish.get_data(as_text=True)
    assert _html_lang(html) == "es"
    assert "<h1>Sea Aliado</h1>" in html and "Qué significa ser Aliado" in html
    assert "Accept-Language" in spanish.headers["Vary"]
    # the switch shows each language in its own name, the current one not linked
    assert '<span aria-current="true" lang="es">Español</span>' in html
    assert 'hreflang="en">English</a>' in html


def test_the_switch_sets_a_cookie_for_a_year_and_returns_to_a_page_here(client):
    response = client.get("/language/es?next=/allies%3Fq%3Dclinic")
    assert response.status_code == 303
    assert response.headers["Location"] == "/allies?q=clinic"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=es;")
    assert "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie
    page = client.get("/allies", environ_base={"HTTP_ACCEPT_LANGUAGE": "en"})
    assert _html_lang(page.get_data(as_text=True)) == "es"  # the cookie wins
    # back to English the same way
    client.get("/language/en?next=/allies")
    assert _html_lang(client.get("/allies", environ_base=SPANISH).get_data(as_text=True)) == "en"


def test_the_switch_never_leaves_the_site_nor_sets_an_unknown_language(client):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", ""):
        response = client.get("/language/es", query_string={"next": target})
        assert response.status_code == 303 and response.headers["Location"] == "/"
    response = client.get("/language/fr?next=/allies")
    assert response.status_code == 303 and "Set-Cookie" not in response.headers


def test_the_switch_links_back_to_the_page_with_only_the_parameters_it_reads(client):
    html = client.get("/allies?q=clinic&utm_source=x").get_data(as_text=True)
    assert 'href="/language/es?next=%2Fallies%3Fq%3Dclinic"' in html
    assert "utm_source" not in html


def test_the_cache_keeps_one_page_per_language(app, client):
    """The cached-page layer answers each language its own page: a Spanish page never reaches
    an English visitor, whichever came first, and their ETags differ."""
    spanish = client.get("/become-an-ally", environ_base=SPANISH)
    english = client.get("/become-an-ally")
    again_spanish = client.get("/become-an-ally", environ_base=SPANISH)
    assert _html_lang(english.get_data(as_text=True)) == "en"
    assert "Become an Ally" in english.get_data(as_text=True)
    assert again_spanish.get_data() == spanish.get_data()
    assert english.headers["ETag"] != spanish.headers["ETag"]
    # the Spanish ETag does not make an English request a 304
    conditional = client.get("/become-an-ally", headers={"If-None-Match": spanish.headers["ETag"]})
    assert conditional.status_code == 200
    assert _html_lang(conditional.get_data(as_text=True)) == "en"
    same = client.get(
        "/become-an-ally",
        headers={"If-None-Match": spanish.headers["ETag"]},
        environ_base=SPANISH,
    )
    assert same.status_code == 304
    # the cookie names the same page as the header did
    client.get("/language/es?next=/")
    by_cookie = client.get("/become-an-ally")
    assert by_cookie.get_data() == spanish.get_data()
    assert by_cookie.headers["ETag"] == spanish.headers["ETag"]


def test_dates_and_counts_are_written_for_the_language(app, client, factory):
    with app.test_request_context(environ_base=SPANISH):
        assert long_date(date(2027, 2, 28)) == "28 de febrero de 2027"
    with app.test_request_context():
        assert long_date(date(2027, 2, 28)) == "28 February 2027"
    factory.ally(name="Clínica del Sur")
    html = client.get("/allies", environ_base=SPANISH).get_data(as_text=True)
    assert "1 Aliado" in html and "Aliado desde" in html
    assert "Visite el sitio de Clínica del Sur" in html


def test_form_messages_come_in_spanish(app, client):
    data = application_form(app, name="", contact_email="not-an-email", endorse_values="")
    html = client.post("/apply", data=data, environ_base=SPANISH).get_data(as_text=True)
    assert "Por favor, corrija los campos marcados abajo" in html
    assert "Escriba un correo electrónico válido, como nombre@example.org." in html
    assert "Por favor, respalde los valores." in html
    assert "Este campo es obligatorio." in html  # WTForms' own message, in Spanish
    assert "Nombre de la organización" in html


def test_error_pages_come_in_spanish(client):
    response = client.get("/no-such-page", environ_base=SPANISH)
    assert response.status_code == 404
    assert "Página no encontrada" in response.get_data(as_text=True)


def test_every_marked_string_has_a_spanish_translation(tmp_path):
    """Extract every marked string (templates, forms, emails, code) afresh, as
    `make translations-extract` does, and require a Spanish translation of each: not empty,
    not fuzzy."""
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "pybabel"),
            "extract",
            "--no-location",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(template),
            ".",
        ],
        cwd=PROJECT,
        check=True,
        capture_output=True,
    )
    with open(template, "rb") as source:
        wanted = [message for message in read_po(source) if message.id]
    with open(CATALOGUE, "rb") as source:
        catalogue = read_po(source, locale="es")
    assert len(wanted) > 300  # the extraction found the templates and the code
    untranslated = []
    for message in wanted:
        found = catalogue.get(message.id)
        strings = [] if found is None else found.string
        strings = [strings] if isinstance(strings, str) else list(strings)
        if found is None or found.fuzzy or not strings or not all(strings):
            untranslated.append(message.id)
    assert untranslated == [], (
        "translate these in allies/translations/es (make translations-extract)"
    )


def test_each_language_names_itself():
    assert LANGUAGES == {"en": "English", "es": "Español"}


def test_staff_pages_are_translatable_yet_shown_in_english(auth, client, monkeypatch):
    """The staff side is marked and translated, but stays English while ``/staff`` is listed
    among the English-only prefixes; without it the same dashboard comes in Spanish."""
    auth.login("admin")
    html = client.get("/staff", environ_base=SPANISH).get_data(as_text=True)
    assert _html_lang(html) == "en"
    assert "<h1>Dashboard</h1>" in html and "Waiting for review" in html
    monkeypatch.setattr("allies.i18n.ENGLISH_ONLY_PREFIXES", ())
    html = client.get("/staff", environ_base=SPANISH).get_data(as_text=True)
    assert _html_lang(html) == "es"
    assert "<h1>Panel</h1>" in html and "En espera de revisión" in html
    assert "Waiting for review" not in html
