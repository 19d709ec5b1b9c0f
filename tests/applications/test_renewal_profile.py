"""Profile changes sent with a renewal wait for staff: shown before and after, published on
approval, discarded on a decline."""

from datetime import timedelta

import pytest

from allies.agreements.operations import start_agreement
from allies.applications.models import Application
from allies.applications.operations import (
    approve_application,
    update_application,
)
from allies.errors import OperationError
from allies.extensions import db
from allies.organizations.models import Organization
from allies.staff.models import StaffUser
from allies.timeutil import alliance_today


def _renew_with_changes(app, factory, **changes):
    """An Ally in its renewal window sends a renewal that changes its profile."""
    with app.app_context():
        today = alliance_today()
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700), name="Changing Org")
    renewal_id = factory.renewal(
        agreement_id, submitted_on=today, profile={"name": "Changing Org", **changes}
    )
    with app.app_context():
        slug = db.session.get(Organization, org_id).slug
    return org_id, renewal_id, slug, today


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


def test_a_refused_approval_leaves_the_renewal_waiting(app, factory):
    """The approval is refused after its state change was staged: all of it is rolled back."""
    org_id, renewal_id, _slug, today = _renew_with_changes(app, factory, city="Quito")
    with app.app_context():
        # A newer term (a fresh application approved for the same organization) takes over.
        organization = db.session.get(Organization, org_id)
        staff = db.session.scalar(db.select(StaffUser))
        start_agreement(organization, today + timedelta(days=3), staff=staff)
        db.session.commit()
        with pytest.raises(OperationError, match="latest agreement"):
            approve_application(
                db.session.get(Application, renewal_id), staff=staff, start=None, today=today
            )
        db.session.commit()  # nothing half-done is left in the session to commit
        assert db.session.get(Application, renewal_id).state == "submitted"
        assert db.session.get(Organization, org_id).city == "Boston"


def test_updating_a_renewal_keeps_the_logo_it_proposed(app, factory):
    _org, renewal_id, _slug, _today = _renew_with_changes(
        app, factory, logo_filename="0123456789abcdef0123456789abcdef.png"
    )
    with app.app_context():
        application = db.session.get(Application, renewal_id)
        update_application(
            application,
            {"description": "A corrected description."},
            "Still with you.",
            contact=application.contact,
        )
        proposed = db.session.get(Application, renewal_id).proposed_profile
    assert proposed["logo_filename"] == "0123456789abcdef0123456789abcdef.png"
    assert proposed["description"] == "A corrected description."
