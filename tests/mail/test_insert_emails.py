"""A burst's emails written at once (mail.outbox.insert_emails: COPY on PostgreSQL, one
executemany on SQLite): ids in the order given, every column and default as a staged message
would have, and nothing left behind when the transaction rolls back."""

from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.outbox import EmailTemplate, insert_emails


def _values(count: int) -> list[dict]:
    email = EmailTemplate("test_message")
    return [
        email.values(
            f"reader{n}@example.org", f"Subject {n} «ñ» \\ \t tab", name=f"Reader {n}", number=n
        )
        for n in range(count)
    ]


def test_ids_come_back_in_the_order_of_the_rows_with_defaults_applied(app):
    with app.app_context():
        values = _values(7)
        ids = insert_emails(values)
        db.session.commit()
        assert len(set(ids)) == 7
        for id_, wanted in zip(ids, values, strict=True):
            message = db.session.get(OutboxMessage, id_)
            assert (message.to_addr, message.subject, message.body_text) == (
                wanted["to_addr"],
                wanted["subject"],
                wanted["body_text"],
            )
            assert message.status == "pending" and message.attempts == 0
            assert message.created_at is not None and message.next_attempt_at is not None
        # and the ordinary way of staging a message still gets an id of its own afterwards
        later = OutboxMessage(**_values(1)[0])
        db.session.add(later)
        db.session.commit()
        assert later.id not in ids


def test_a_rolled_back_burst_leaves_no_message(app):
    with app.app_context():
        before = db.session.scalar(db.select(db.func.count(OutboxMessage.id)))
        insert_emails(_values(3))
        db.session.rollback()
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == before
