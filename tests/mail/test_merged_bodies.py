"""A burst's messages rendered once per shape and merged (EmailTemplate.values with ``merge``)
are the messages a full render gives, byte for byte, whatever the values hold."""

from datetime import date, timedelta

from jinja2 import ChoiceLoader, DictLoader

from allies.mail.outbox import EmailTemplate, Reader
from allies.reminders.operations import MERGED_FIELDS, _Due, _reminder_email
from allies.staff.settings import all_settings

TODAY = date(2027, 6, 1)
NAMES = [
    ("Dana Rivera", "Health Equity Collective"),
    ('O\'Brien & <Sons> "Care"', "Salud & Comunidad <Norte>"),
    ("José Núñez", "Clínica Ética Médica"),
    ("%(name)s {{ x }}", "\\1 $& %s"),  # formatting and replacement syntax, printed as is
]


def _items(kind: str, language: str | None):
    for number, (person, organization) in enumerate(NAMES, start=1):
        reader = Reader(number, f"contact{number}@example.org", person, "primary", language)
        yield (
            _Due(
                agreement_id=number,
                kind=kind,
                due_on=TODAY,
                end_date=TODAY + timedelta(days=30),
                organization_name=organization,
                contact_id=number,
                contact_email=reader.email,
                contact_name=person,
                renewal_pending=False,
            ),
            reader,
        )


def _bodies(app, monkeypatch, merged: bool, kind: str, language: str | None) -> list:
    from allies.reminders import operations

    monkeypatch.setattr(operations, "MERGED_FIELDS", MERGED_FIELDS if merged else ())
    with app.app_context():
        settings = all_settings()
        email = EmailTemplate("reminder", settings=settings)
        return [
            (values["subject"], values["body_text"], values["body_html"])
            for item, reader in _items(kind, language)
            for values in [
                _reminder_email(email, item, reader, "t0ken-" + str(item.agreement_id), TODAY, 30)
            ]
        ]


def test_merged_reminders_are_the_full_renders(app, monkeypatch):
    for kind in ("before_30", "lapse"):
        for language in (None, "es"):
            merged = _bodies(app, monkeypatch, True, kind, language)
            full = _bodies(app, monkeypatch, False, kind, language)
            assert merged == full, (kind, language)
    text, html = full[1][1], full[1][2]
    assert 'O\'Brien & <Sons> "Care"' in text  # the text as typed
    assert "O&#39;Brien &amp; &lt;Sons&gt; &#34;Care&#34;" in html  # the HTML escaped
    assert "\x00" not in text + html


def test_a_shape_whose_template_transforms_a_value_is_rendered_in_full(app):
    """A template that upper-cases the name would print the stand-in, not the name: its first
    message shows the difference, and every message of that shape is rendered whole."""
    templates = DictLoader(
        {
            "email/shouting.txt": "HELLO {{ contact_name|upper }} OF {{ organization_name }}",
            "email/shouting.html": "<p>{{ contact_name|upper }} · {{ organization_name }}</p>",
        }
    )
    original = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([templates, original])
    try:
        with app.app_context():
            email = EmailTemplate("shouting", settings=all_settings())
            bodies = [
                email.values(
                    f"{n}@example.org",
                    "Hi",
                    merge=("contact_name", "organization_name"),
                    contact_name=name,
                    organization_name=organization,
                )
                for n, (name, organization) in enumerate(NAMES)
            ]
    finally:
        app.jinja_env.loader = original
    assert bodies[0]["body_text"] == "HELLO DANA RIVERA OF Health Equity Collective"
    assert bodies[2]["body_text"] == "HELLO JOSÉ NÚÑEZ OF Clínica Ética Médica"
    assert bodies[1]["body_html"] == (
        "<p>O&#39;BRIEN &amp; &lt;SONS&gt; &#34;CARE&#34; · Salud &amp; Comunidad &lt;Norte&gt;</p>"
    )
