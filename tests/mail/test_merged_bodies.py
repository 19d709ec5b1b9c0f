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


def _items(kind: str, language: str | None, copies: bool = False):
    """A reminder per name, each with its reader: the primary contact, or with ``copies`` the
    signatory's own copy (which names the primary contact)."""
    for number, (person, organization) in enumerate(NAMES, start=1):
        primary = Reader(number, f"contact{number}@example.org", person, "primary", language)
        reader = primary
        if copies:
            signer = NAMES[-number][0]
            reader = Reader(100 + number, f"s{number}@example.org", signer, "signatory", language)
        due = _Due(
            agreement_id=number,
            kind=kind,
            due_on=TODAY,
            end_date=TODAY + timedelta(days=30),
            organization_name=organization,
            contact_id=number,
            contact_email=primary.email,
            contact_name=person,
            renewal_pending=False,
        )
        yield due, reader


def _bodies(app, monkeypatch, merged: bool, kind: str, language: str | None, copies=False):
    from allies.reminders import operations

    if not merged:  # every message rendered whole: no merged fields, the copy's name included
        personal_values = operations.personal_values

        def whole(*args, merge=(), **kwargs):
            return personal_values(*args, **kwargs)

        monkeypatch.setattr(operations, "personal_values", whole)
    try:
        with app.app_context():
            email = EmailTemplate("reminder", settings=all_settings())
            return [
                (values["subject"], values["body_text"], values["body_html"])
                for item, reader in _items(kind, language, copies)
                for values in [
                    _reminder_email(email, item, reader, f"t0ken-{item.agreement_id}", TODAY, 30)
                ]
            ]
    finally:
        monkeypatch.undo()


def test_merged_reminders_are_the_full_renders(app, monkeypatch):
    assert "contact_name" in MERGED_FIELDS
    for kind in ("before_30", "lapse"):
        for language in (None, "es"):
            for copies in (False, True):
                merged = _bodies(app, monkeypatch, True, kind, language, copies)
                full = _bodies(app, monkeypatch, False, kind, language, copies)
                assert merged == full, (kind, language, copies)
    # and merging did happen: four messages of one shape, the templates rendered for two (the
    # first message in full and once with stand-ins), not for four
    renders = []
    render = EmailTemplate._bodies

    def counted(self, context):
        renders.append(context.get("contact_name"))
        return render(self, context)

    monkeypatch.setattr(EmailTemplate, "_bodies", counted)
    with app.app_context():
        email = EmailTemplate("reminder", settings=all_settings())
        for item, reader in _items("before_30", None):
            _reminder_email(email, item, reader, f"t0ken-{item.agreement_id}", TODAY, 30)
    monkeypatch.undo()
    assert len(renders) == 2 and len(NAMES) == 4
    copy = _bodies(app, monkeypatch, False, "before_30", None, copies=True)[1][1]
    assert f"A copy of the reminder sent to {NAMES[1][0]} (primary contact)." in copy
    full = _bodies(app, monkeypatch, False, "before_30", None)
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


def test_renewal_links_filled_in_are_the_links_built(app):
    from allies.reminders.operations import _built_renewal_url, renewal_url

    with app.app_context():
        for token, agreement_id in [
            ("eyJjIjoxfQ.Z1x-_a.Q2w3", 1),
            ("9876543210123", 9876543210123),  # a token that looks like the id's stand-in
            ("Tokenstandin", 5),
            ("has space/slash?&", 7),  # quoted: built the long way
        ]:
            assert renewal_url(token, agreement_id) == _built_renewal_url(token, agreement_id)
        assert "/my/link/eyJjIjoxfQ.Z1x-_a.Q2w3?next=/my/renew/1" in renewal_url(
            "eyJjIjoxfQ.Z1x-_a.Q2w3", 1
        )
