"""Profile changes sent with a renewal wait for staff: shown before and after, published on
approval, discarded on a decline."""

from datetime import timedelta

from allies.agreements.models import Agreement
from allies.applications.models import Application
from allies.applications.operations import EndorsementInput, submit_renewal
from allies.applications.statements import current_statements
from allies.extensions import db
from allies.organizations.models import Organization
from allies.timeutil import alliance_today


def _renew_with_changes(app, factory, **changes):
    """An Ally in its renewal window sends a renewal that changes its profile."""
    with app.app_context():
        today = alliance_today()
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700), name="Changing Org")
    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        contact = agreement.organization.contact_for("primary")
        texts = current_statements()
        renewal = submit_renewal(
            agreement,
            {"name": "Changing Org", **changes},
            "Still with you.",
            EndorsementInput(
                version_ids={k: v.id for k, v in texts.items()},
                endorsed={k: True for k in texts},
                signer_name="Sam Signer",
                signer_title="CEO",
                signer_email=contact.email,
                ip="127.0.0.1",
            ),
            contact=contact,
            today=today,
        )
        slug = agreement.organization.slug
        return org_id, renewal.id, slug, today


def _description(app, org_id):
    with app.app_context():
        return db.session.get(Organization, org_id).description


def test_renewal_profile_changes_wait_for_approval(app, client, auth, factory):
    org_id, renewal_id, slug, today = _renew_with_changes(
        app, factory, description="A brand new description.", city="Quito"
    )
    old = _description(app, org_id)
    assert old != "A brand new description."
    public = client.get(f"/allies/{slug}").get_data(as_text=True)
    assert old in public and "A brand new description." not in public

    auth.login("reviewer")
    review = client.get(f"/staff/applications/{renewal_id}").get_data(as_text=True)
    changes = review[review.index("Profile changes sent with this renewal") :]
    changes = changes[: changes.index("</section>")]
    assert "Description" in changes and old in changes and "A brand new description." in changes
    assert "City" in changes and "Boston" in changes and "Quito" in changes
    assert "Name" not in changes  # unchanged fields are not listed

    client.post(f"/staff/applications/{renewal_id}/approve", data={"start_date": str(today)})
    assert _description(app, org_id) == "A brand new description."
    assert "A brand new description." in client.get(f"/allies/{slug}").get_data(as_text=True)


def test_a_declined_renewal_discards_its_profile_changes(app, client, auth, factory):
    org_id, renewal_id, slug, _today = _renew_with_changes(
        app, factory, description="Words staff did not accept."
    )
    old = _description(app, org_id)
    auth.login("reviewer")
    client.post(f"/staff/applications/{renewal_id}/decline", data={"reason": "Not this time."})
    with app.app_context():
        assert db.session.get(Application, renewal_id).state == "declined"
    assert _description(app, org_id) == old
    assert "Words staff did not accept." not in client.get(f"/allies/{slug}").get_data(as_text=True)
