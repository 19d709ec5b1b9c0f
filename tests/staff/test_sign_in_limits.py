"""Staff sign-in limits: failures slow whoever fails, never the account's owner.

Failed attempts are counted per account and address (the low ceiling), per address whatever the
account, and per account from every address that has not signed in to it before (the high
ceiling). Successful sign-ins count for nothing; ``flask users unlock EMAIL`` clears an account.
"""

import pytest
import sqlalchemy as sa

from allies.extensions import db
from allies.staff.models import AuditEvent
from allies.staff.ratelimit import RateLimitCounter

OWNER_ADDRESS = "198.51.100.10"


@pytest.fixture
def limited(app_config):
    app_config.update(
        RATELIMIT_ENABLED=True,
        SIGN_IN_RATE_LIMIT="3 per minute",  # one account from one address
        SIGN_IN_ADDRESS_RATE_LIMIT="5 per minute",  # one address, any account
        SIGN_IN_ACCOUNT_RATE_LIMIT="10 per hour",  # one account, from new browsers anywhere
    )


def attempt(client, email, password="wrong password", address=OWNER_ADDRESS) -> int:
    response = client.post(
        "/staff/sign-in",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def fail_until_refused(client, email, address, most=20) -> int:
    """Wrong passwords from ``address`` until refused; how many were answered 401."""
    for failures in range(most):
        code = attempt(client, email, address=address)
        if code == 429:
            return failures
        assert code == 401
    raise AssertionError(f"never refused after {most} attempts")


def test_a_stranger_failing_from_other_addresses_does_not_lock_the_owner_out(limited, app, factory):
    _id, email, password = factory.staff("admin")
    stranger = app.test_client()
    for n in range(3):
        assert fail_until_refused(stranger, email, f"203.0.113.{n}") == 3
    owner = app.test_client()
    assert attempt(owner, email, password, address=OWNER_ADDRESS) == 302
    assert owner.get("/staff").status_code == 200


def test_past_the_account_ceiling_only_a_browser_that_signed_in_before_may_try(
    limited, app, factory
):
    _id, email, password = factory.staff("admin")
    owner = app.test_client()
    assert attempt(owner, email, password) == 302  # the browser is now known for this account
    owner.post("/staff/sign-out")
    stranger = app.test_client()
    failures = sum(fail_until_refused(stranger, email, f"203.0.113.{n}") for n in range(4))
    assert failures == 10  # the account's ceiling from new browsers, across addresses
    assert attempt(app.test_client(), email, password, address="192.0.2.99") == 429
    assert attempt(owner, email, password, address="192.0.2.98") == 302  # even from elsewhere


def test_a_browser_cookie_for_another_account_does_not_lift_the_ceiling(limited, app, factory):
    _id, email, _password = factory.staff("admin")
    _other_id, other_email, other_password = factory.staff("reviewer")
    stranger = app.test_client()
    assert attempt(stranger, other_email, other_password) == 302  # known for the other account
    stranger.post("/staff/sign-out")
    failures = sum(fail_until_refused(stranger, email, f"203.0.113.{n}") for n in range(4))
    assert failures == 10


def test_successful_sign_ins_do_not_count(limited, app, factory):
    _id, email, password = factory.staff("reviewer")
    client = app.test_client()
    for _ in range(8):  # more than every ceiling
        assert attempt(client, email, password) == 302
        client.post("/staff/sign-out")
    assert fail_until_refused(client, email, OWNER_ADDRESS) == 3


def test_one_address_trying_many_accounts_is_refused(limited, app, factory):
    accounts = [factory.staff("reviewer")[1] for _ in range(3)]
    client = app.test_client()
    codes = [attempt(client, email) for email in accounts * 2]
    assert codes == [401] * 5 + [429]
    assert attempt(client, "nobody@example.org") == 429
    assert attempt(client, accounts[0], address="192.0.2.7") == 401  # elsewhere: not refused


def test_unlock_clears_a_locked_account(limited, app, factory, runner):
    user_id, email, password = factory.staff("admin")
    _other_id, other_email, _ = factory.staff("reviewer")
    for n in range(4):
        fail_until_refused(app.test_client(), email, f"203.0.113.{n}")
    assert (
        fail_until_refused(app.test_client(), email, OWNER_ADDRESS) == 0
    )  # locked for new browsers
    assert fail_until_refused(app.test_client(), other_email, "203.0.113.50") == 3

    result = runner.invoke(args=["users", "unlock", email.upper()])
    assert result.exit_code == 0, result.output
    assert f"Unlocked {email}" in result.output

    assert attempt(app.test_client(), email, password) == 302
    assert attempt(app.test_client(), email, password, address="203.0.113.0") == 302
    assert attempt(app.test_client(), other_email, address="203.0.113.50") == 429  # untouched
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "staff_sign_in_unlocked")
        )
        assert event is not None and event.subject_id == user_id and event.actor == "cli"


def test_unlock_of_an_unknown_account_says_so(app, runner):
    result = runner.invoke(args=["users", "unlock", "nobody@example.org"])
    assert result.exit_code != 0
    assert "No staff account" in result.output


def test_a_huge_email_is_counted_without_error(limited, app, client):
    for email in ("x" * 5000 + "@example.org", "é" * 300, ""):
        code = attempt(client, email)
        assert code in (200, 400, 401), (email[:10], code)
    with app.app_context():
        keys = db.session.scalars(sa.select(RateLimitCounter.key)).all()
    assert keys and all(len(key) <= 255 for key in keys)


def test_unlock_with_an_address_clears_that_address_too(limited, app, factory, runner):
    _id, email, password = factory.staff("admin")
    office = "192.0.2.40"  # the admin's office, where someone tried many accounts
    client = app.test_client()
    for n in range(5):
        assert attempt(client, f"someone{n}@example.org", address=office) == 401
    assert attempt(client, email, password, address=office) == 429
    assert runner.invoke(args=["users", "unlock", email]).exit_code == 0
    assert attempt(client, email, password, address=office) == 429  # the address is still full
    result = runner.invoke(args=["users", "unlock", email, "--address", office])
    assert result.exit_code == 0, result.output
    assert attempt(client, email, password, address=office) == 302
