"""Decisions that race: the second of two simultaneous decisions is refused, never applied twice."""

from datetime import date

import pytest
import sqlalchemy as sa

from allies.agreements.models import Agreement
from allies.applications.models import Application
from allies.applications.operations import approve_application, decline_application
from allies.errors import OperationError
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.staff.models import StaffUser


def _stale_application(app, application_id, changed_state):
    """Load the application, then let 'another reviewer' change it behind our back."""
    application = db.session.get(Application, application_id)
    assert application.state == "submitted"
    other = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.begin() as conn:
        conn.execute(
            sa.text("UPDATE application SET state = :s WHERE id = :id"),
            {"s": changed_state, "id": application_id},
        )
    other.dispose()
    return application


@pytest.mark.parametrize("first_decision", ["approved", "declined"])
def test_a_second_simultaneous_approval_is_refused(app, factory, first_decision):
    factory.staff("reviewer")
    application_id = factory.application()
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser))
        mails_before = db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)))
        application = _stale_application(app, application_id, first_decision)
        with pytest.raises(OperationError, match="Someone else has just changed"):
            approve_application(
                application, staff=staff, start=date(2026, 5, 1), today=date(2026, 5, 1)
            )
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(Agreement.id))) == 0
        assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == mails_before


def test_a_second_simultaneous_decline_is_refused(app, factory):
    factory.staff("reviewer")
    application_id = factory.application()
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser))
        application = _stale_application(app, application_id, "approved")
        with pytest.raises(OperationError):
            decline_application(application, "Too late", staff=staff)
        db.session.rollback()
        assert db.session.get(Application, application_id).state == "approved"


def test_two_open_renewals_of_one_agreement_cannot_exist(app, factory):
    org_id, agreement_id = factory.ally()
    with app.app_context():
        for _ in range(2):
            db.session.add(
                Application(
                    kind="renewal", organization_id=org_id, renews_agreement_id=agreement_id
                )
            )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_one_agreement_per_approval(app, factory):
    org_id, agreement_id = factory.ally()
    with app.app_context():
        application_id = db.session.get(Agreement, agreement_id).application_id
        db.session.add(
            Agreement(
                organization_id=org_id,
                application_id=application_id,
                start_date=date(2030, 1, 1),
                end_date=date(2031, 12, 31),
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()
