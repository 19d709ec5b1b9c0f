"""The mission, vision and values in Spanish: versions of their own, shown in the page's
language (English, with a note, while none exists), endorsed and recorded by id, and
"changed since" comparing like with like. A contact's language is recorded when they apply."""

import re

from allies.applications.models import Application, StatementVersion
from allies.applications.statements import (
    changes_since,
    current_statements,
    save_statement,
)
from allies.extensions import db
from allies.organizations.models import Contact
from allies.staff.models import StaffUser
from tests.fixtures import application_form, csrf_token_from

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es"}
MISION = "Formar profesionales de la salud comprometidos con sus comunidades."


def _admin(app, factory):
    factory.staff("admin")
    with app.app_context():
        return db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))


def _spanish_mission(app, factory, text=MISION) -> int:
    admin = _admin(app, factory)
    with app.app_context():
        return save_statement("mission", text, staff=db.session.merge(admin), language="es").id


def test_a_spanish_version_is_its_own_version_in_the_kinds_sequence(app, factory):
    mission_es = _spanish_mission(app, factory)
    with app.app_context():
        spanish = db.session.get(StatementVersion, mission_es)
        english = current_statements("en")["mission"]
        assert spanish.language == "es" and english.language == "en"
        assert spanish.version == english.version + 1
        # English pages keep the English text; Spanish ones get the Spanish mission and, with
        # no Spanish vision or values yet, the English ones
        assert current_statements("en")["mission"].id == english.id
        shown = current_statements("es")
        assert shown["mission"].id == mission_es
        assert shown["vision"].language == "en" and shown["values"].language == "en"


def test_become_an_ally_shows_the_texts_of_the_pages_language(app, client, factory):
    html = client.get("/become-an-ally", environ_base=SPANISH).get_data(as_text=True)
    assert "todavía no están disponibles en su idioma" in html  # nothing in Spanish yet
    _spanish_mission(app, factory)
    html = client.get("/become-an-ally", environ_base=SPANISH).get_data(as_text=True)
    assert MISION in html
    assert "todavía no están disponibles en su idioma" in html  # vision and values still English
    assert '<div class="statement" lang="en">' in html  # marked for screen readers
    english = client.get("/become-an-ally").get_data(as_text=True)
    assert MISION not in english and "not yet available" not in english


def test_applying_in_spanish_endorses_and_records_the_spanish_version(app, client, factory):
    mission_es = _spanish_mission(app, factory)
    page = client.get("/apply", environ_base=SPANISH).get_data(as_text=True)
    assert MISION in page
    shown = re.search(r'name="mission_version_id"[^>]*value="(\d+)"', page) or re.search(
        r'value="(\d+)"[^>]*name="mission_version_id"', page
    )
    assert int(shown.group(1)) == mission_es
    data = application_form(app, mission_version_id=str(mission_es))
    response = client.post("/apply", data=data, environ_base=SPANISH)
    assert response.status_code == 302
    with app.app_context():
        application = db.session.scalar(db.select(Application))
        assert application.endorsement.mission_version_id == mission_es
        assert application.endorsement.mission_version.language == "es"
        assert application.endorsement.vision_version.language == "en"
        assert application.contact.language == "es"


def test_an_english_applicant_is_recorded_as_english(app, client):
    assert client.post("/apply", data=application_form(app)).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Contact.language)) == "en"


def test_an_outdated_spanish_version_is_refused_like_an_english_one(app, client, factory):
    old = _spanish_mission(app, factory)
    _spanish_mission(app, factory, MISION + " Con equidad.")
    data = application_form(app, mission_version_id=str(old))
    html = client.post("/apply", data=data, environ_base=SPANISH).get_data(as_text=True)
    assert "El texto de la misión se actualizó mientras usted lo leía." in html
    with app.app_context():
        assert db.session.scalar(db.select(Application)) is None


def test_changes_since_compare_like_with_like(app, factory):
    """An endorsement in English is not "changed" by a Spanish translation of the same text,
    and one in Spanish is changed by a newer Spanish version."""
    _org, agreement_id = factory.ally()
    with app.app_context():
        endorsement = db.session.scalar(db.select(Application)).endorsement
        assert changes_since(endorsement, "es") == {}
    mission_es = _spanish_mission(app, factory)
    with app.app_context():
        endorsement = db.session.scalar(db.select(Application)).endorsement
        assert changes_since(endorsement, "es") == {}  # a translation is no change
        assert changes_since(endorsement, "en") == {}
        # the Ally renews in Spanish, endorsing the Spanish mission
        endorsement.mission_version_id = mission_es
        db.session.commit()
    newer = _spanish_mission(app, factory, MISION + " Con equidad.")
    with app.app_context():
        endorsement = db.session.scalar(db.select(Application)).endorsement
        changed = changes_since(endorsement, "es")
        assert set(changed) == {"mission"}
        assert changed["mission"][0].id == mission_es and changed["mission"][1].id == newer


def test_admins_edit_each_language_on_the_texts_page(app, client, auth):
    auth.login("admin")
    page = client.get("/staff/texts").get_data(as_text=True)
    assert 'name="mission-es-text"' in page and "not written yet" in page
    response = client.post(
        "/staff/texts",
        data={
            "csrf_token": csrf_token_from(page),
            "kind": "vision",
            "language": "es",
            "vision-es-text": "Una visión en español.",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert current_statements("es")["vision"].text == "Una visión en español."
        assert current_statements("en")["vision"].language == "en"
    assert client.post("/staff/texts", data={"kind": "vision", "language": "fr"}).status_code == 400
