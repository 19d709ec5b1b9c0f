"""Emails in the recipient's language: a contact who applied in Spanish gets their emails,
and the scheduler's reminders, in Spanish; staff and English contacts get English."""

from datetime import date, timedelta

from allies.agreements.terms import term_end
from allies.applications.models import Application
from allies.applications.operations import approve_application
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.organizations.models import Contact
from allies.reminders.operations import run_sweep
from allies.staff.models import StaffUser
from tests.fixtures import application_form

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-419,es;q=0.9"}
START = date(2025, 3, 10)
END = term_end(START)  # 2027-03-09


def _messages(app, kind):
    with app.app_context():
        rows = db.session.scalars(
            db.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def _apply(app, client, *, name, email, environ=None) -> int:
    data = application_form(
        app, name=name, website=f"https://{name.lower()}.example.org", contact_email=email
    )
    assert client.post("/apply", data=data, environ_base=environ or {}).status_code == 302
    with app.app_context():
        return db.session.scalar(
            db.select(Application.id).join(Application.contact).where(Contact.email == email)
        )


def test_the_application_emails_come_in_the_language_it_was_sent_in(app, client, factory):
    factory.staff("admin")
    _apply(app, client, name="Salud", email="ana@salud.example.org", environ=SPANISH)
    _apply(app, client, name="Health", email="pat@health.example.org")
    spanish, english = _messages(app, "application_received")
    assert spanish.to_addr == "ana@salud.example.org"
    assert spanish.subject == "Recibimos la solicitud de Salud"
    assert "Gracias por solicitar que Salud sea Aliado de" in spanish.body_text
    assert "Estimado/a Dana Rivera:" in spanish.body_text
    assert '<html lang="es">' in spanish.body_html
    assert english.subject == "We received Health's application"
    assert "Thank you for applying for Health" in english.body_text
    # staff are written to in English, even about a Spanish application
    for message in _messages(app, "staff_new_application"):
        assert message.subject.startswith("New Ally application:")


def test_a_decision_made_on_an_english_staff_page_reaches_the_applicant_in_spanish(
    app, client, factory
):
    application_id = _apply(
        app, client, name="Salud", email="ana@salud.example.org", environ=SPANISH
    )
    factory.staff("admin")
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        approve_application(
            db.session.get(Application, application_id), staff=staff, start=START, today=START
        )
    (approved,) = _messages(app, "application_approved")
    assert approved.subject.startswith("Salud es Aliado de ")
    assert "Su acuerdo va del 10 de marzo de 2025 al 9 de marzo de 2027." in approved.body_text


def test_the_sweep_reminds_each_contact_in_their_language(app, client, factory):
    """The scheduler has no request: each reminder is written in its contact's language."""
    factory.staff("admin")
    ids = [
        _apply(app, client, name="Salud", email="ana@salud.example.org", environ=SPANISH),
        _apply(app, client, name="Health", email="pat@health.example.org"),
    ]
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        for application_id in ids:
            approve_application(
                db.session.get(Application, application_id), staff=staff, start=START, today=START
            )
        result = run_sweep(END - timedelta(days=30))
        assert not result.errors
    by_address = {message.to_addr: message for message in _messages(app, "reminder")}
    spanish = by_address["ana@salud.example.org"]
    assert spanish.subject == "Salud: su acuerdo de Aliado termina en 30 días (9 de marzo de 2027)"
    assert "Hola, Dana Rivera:" in spanish.body_text
    assert "La renovación está abierta." in spanish.body_text
    assert "Renovar el acuerdo de Aliado de Salud" in spanish.body_html
    english = by_address["pat@health.example.org"]
    assert english.subject == "Health: your Ally agreement ends in 30 days (9 March 2027)"
    assert "Renewal is open." in english.body_text
