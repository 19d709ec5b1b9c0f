"""Hypothesis fuzzes the application and renewal forms: no input gives a server error."""

from datetime import date

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allies.agreements.models import Agreement
from allies.applications.models import Application
from allies.extensions import db
from allies.organizations.access import make_link_token
from tests.fixtures import application_form

FIELDS = [
    "name",
    "website",
    "type_id",
    "city",
    "region",
    "country",
    "description",
    "contact_name",
    "contact_title",
    "contact_email",
    "contact_phone",
    "support_statement",
    "endorse_mission",
    "endorse_vision",
    "endorse_values",
    "mission_version_id",
    "vision_version_id",
    "values_version_id",
    "signer_name",
    "signer_title",
    "accepted_logo",
]
nasty_text = st.one_of(
    st.text(max_size=600),
    st.sampled_from(
        [
            "",
            " ",
            "javascript:alert(1)",
            "https://",
            "http://x",
            "9" * 40,
            "-1",
            "\x00",
            "<script>",
            "=cmd|' /C calc'!A0",
            "a" * 5000,
            "ünïcødé.example",
            "%00",
        ]
    ),
)
overrides = st.dictionaries(st.sampled_from(FIELDS), nasty_text, max_size=8)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(changes=overrides)
def test_apply_never_errors(app, client, changes):
    response = client.post("/apply", data=application_form(app, **changes))
    assert response.status_code in (200, 302), response.status_code


@FUZZ
@given(changes=overrides)
def test_renewal_never_errors(app, client, factory, changes):
    if not hasattr(test_renewal_never_errors, "agreement_ids"):
        test_renewal_never_errors.agreement_ids = {}
    key = app.config["SQLALCHEMY_DATABASE_URI"] + app.instance_path
    if key not in test_renewal_never_errors.agreement_ids:
        _org, agreement_id = factory.ally(
            start=date.today().replace(day=1).replace(year=date.today().year - 2)
        )
        test_renewal_never_errors.agreement_ids[key] = agreement_id
        with app.test_request_context():
            agreement = db.session.get(Agreement, agreement_id)
            token = make_link_token(agreement.organization.contacts[0], "sign-in")
            db.session.commit()
        client.post(f"/my/link/{token}")
    agreement_id = test_renewal_never_errors.agreement_ids[key]
    with app.app_context():  # a renewal accepted by an earlier example would block the next
        db.session.execute(
            sa.update(Application)
            .where(Application.renews_agreement_id == agreement_id)
            .values(state="withdrawn")
        )
        db.session.commit()
    data = application_form(app, **changes)
    response = client.post(f"/my/renew/{agreement_id}", data=data)
    assert response.status_code in (200, 302, 400), response.status_code
