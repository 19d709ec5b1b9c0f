"""Deliver the outbox: claim due messages, send each over SMTP (or to .eml files), mark the result.

A delivery run has three kinds of short transactions and no long one:

1. *claim*: due messages (pending and due, or ``sending`` whose lease ran out because a sender
   crashed mid-send) are switched to ``sending`` with a fresh ``claim_token`` and lease, and
   ``attempts`` is counted. On PostgreSQL the claiming select uses ``FOR UPDATE SKIP LOCKED`` so
   concurrent senders take different rows; on SQLite the single conditional ``UPDATE`` is enough,
   because SQLite serialises writers and the ``WHERE`` re-checks that each row is still claimable.
2. *deliver*: nothing is held open while the SMTP server is talked to.
3. *mark*: each message is marked sent, back to pending (temporary failure) or failed (permanent
   failure) in its own transaction, guarded by its ``claim_token``: a sender whose lease was taken
   over can no longer change the row, and a row is marked sent only when the server accepted it
   (or, with no MAIL_SERVER, the .eml file is written). Marking it sent also redacts the tokens
   of its sign-in and renewal links in the stored copy: the recipient has them, the database and
   its backups keep none. A message not yet delivered keeps its links for the next try.

A message keeps the Message-ID and Date it was created with, so a re-send after a crash is the same
message to the receiving side (and the same .eml file in the folder).
"""

import hashlib
import logging
import os
import random
import smtplib
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

from flask import current_app
from sqlalchemy import and_, func, or_, update

from allies.errors import OperationError, operation
from allies.extensions import db
from allies.mail.models import OUTBOX_STATES, OutboxMessage
from allies.mail.outbox import LINK_MARKS, redact_link_tokens
from allies.staff.audit import record_event
from allies.timeutil import utcnow

log = logging.getLogger(__name__)

# Defaults for settings that config.py does not define (override them in instance/config.py or
# with ALLIES_MAIL_* environment variables).
# A temporary failure is retried until the message is MAIL_GIVE_UP_HOURS old (an outage of a
# day or two loses nothing), or after MAIL_MAX_ATTEMPTS tries, whichever comes first.
DEFAULT_MAX_ATTEMPTS = 40
DEFAULT_GIVE_UP_HOURS = 72
DEFAULT_RETRY_BASE_SECONDS = 60
DEFAULT_RETRY_CAP_SECONDS = 3 * 3600


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    # Claimed but handed back untried, because the run was about to outlive its lease.
    released: int = 0

    @property
    def claimed(self) -> int:
        """How many messages the run claimed."""
        return self.sent + self.retried + self.failed + self.released

    def add(self, other: "DeliveryReport") -> None:
        """Add the counts of ``other`` to this report."""
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.released += other.released

    def __str__(self) -> str:
        return f"sent {self.sent}, retried {self.retried}, failed {self.failed}"


class TemporaryFailure(Exception):
    """Delivery did not happen this time; try again later."""


class PermanentFailure(Exception):
    """Delivery can never succeed as the message stands; staff must look at it."""


class ServerUnreachable(TemporaryFailure):
    """The mail server could not be reached at all; the rest of the batch waits too."""


def _setting(name: str, default):
    return current_app.config.get(name, default)


def retry_delay(attempts: int) -> timedelta:
    """Back-off before the next try after ``attempts`` tries: exponential, capped, jittered."""
    base = float(_setting("MAIL_RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE_SECONDS))
    cap = float(_setting("MAIL_RETRY_CAP_SECONDS", DEFAULT_RETRY_CAP_SECONDS))
    seconds = min(cap, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds * random.uniform(0.5, 1.0))


# --- claiming ---------------------------------------------------------------------------------


def _claimable(now: datetime):
    return or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now),
    )


def _skip_locked(query):
    """On PostgreSQL, lock the selected rows and skip those another sender holds."""
    if db.engine.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def _fail_abandoned(now: datetime, max_attempts: int) -> None:
    """Fail messages whose every attempt was interrupted by a crash, instead of looping forever."""
    abandoned = (
        OutboxMessage.status == "sending",
        OutboxMessage.claimed_until < now,
        OutboxMessage.attempts >= max_attempts,
    )
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(_skip_locked(db.select(OutboxMessage.id).where(*abandoned))))
        .where(*abandoned)
        .values(
            status="failed",
            claim_token=None,
            claimed_until=None,
            last_error=f"Delivery was interrupted {max_attempts} times (the sender stopped "
            "mid-send); the message may or may not have been delivered.",
        )
        .execution_options(synchronize_session=False)
    )


def _claim(now: datetime, batch_size: int, lease_seconds: int) -> list[OutboxMessage]:
    """Claim up to ``batch_size`` due messages in one short transaction and return them."""
    token = uuid.uuid4().hex
    candidates = _skip_locked(
        db.select(OutboxMessage.id)
        .where(_claimable(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch_size)
    )
    try:
        _fail_abandoned(now, int(_setting("MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)))
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), _claimable(now))
            .values(
                status="sending",
                claim_token=token,
                claimed_until=now + timedelta(seconds=lease_seconds),
                attempts=OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    claimed = list(
        db.session.scalars(
            db.select(OutboxMessage)
            .where(OutboxMessage.claim_token == token, OutboxMessage.status == "sending")
            .order_by(OutboxMessage.id)
        )
    )
    # Detached, the rows are plain values: reading them later cannot open a transaction that
    # would stay open while the SMTP server is talked to.
    for message in claimed:
        db.session.expunge(message)
    db.session.commit()
    return claimed


def _mark(message: OutboxMessage, **values) -> bool:
    """Write the outcome for ``message`` if this run still holds its claim; False if it does not."""
    try:
        result = db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message.id,
                OutboxMessage.status == "sending",
                OutboxMessage.claim_token == message.claim_token,
            )
            .values(claim_token=None, claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result.rowcount == 1


# --- building and delivering ------------------------------------------------------------------


def build_email(message: OutboxMessage) -> EmailMessage:
    """The RFC 5322 message for ``message``: text with an HTML alternative, stored Message-ID."""
    email = EmailMessage()
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(message.created_at.replace(tzinfo=UTC))
    email["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    email["To"] = message.to_addr
    if message.cc_addrs:
        email["Cc"] = message.cc_addrs
    email["Subject"] = message.subject
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
        # A boundary derived from the Message-ID keeps a re-sent message byte for byte the same.
        digest = hashlib.sha256(message.message_id.encode()).hexdigest()[:32]
        email.set_boundary(f"==allies-{digest}==")
    return email


def eml_filename(message: OutboxMessage) -> str:
    """The file a message is written to: its creation time and id, stable across re-sends."""
    return f"{message.created_at:%Y%m%d-%H%M%S}-{message.id:06d}.eml"


def _write_file(email: EmailMessage, message: OutboxMessage) -> None:
    """Write the message into MAIL_FOLDER atomically (temporary file, fsync, rename)."""
    folder = current_app.config["MAIL_FOLDER"]
    try:
        os.makedirs(folder, exist_ok=True)
        data = email.as_bytes(policy=SMTP_POLICY)
        fd, temp_path = tempfile.mkstemp(dir=folder, prefix=".outbox-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_path, os.path.join(folder, eml_filename(message)))
        except BaseException:
            if os.path.exists(temp_path):
                os.unlink(temp_path)
            raise
    except OSError as exc:
        raise TemporaryFailure(f"Could not write to the mail folder: {exc}") from exc


def _describe_reply(code: int, text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


class SmtpConnection:
    """One SMTP session, opened on first use and reused for the rest of a batch."""

    def __init__(self, config):
        self.config = config
        self.smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        cfg = self.config
        host, port = cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"])
        timeout = float(cfg.get("MAIL_TIMEOUT") or 10)
        try:
            if cfg.get("MAIL_USE_SSL"):
                smtp = smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
        except smtplib.SMTPConnectError as exc:
            reply = _describe_reply(exc.smtp_code, exc.smtp_error)
            raise ServerUnreachable(f"{host}:{port} refused the session: {reply}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnreachable(f"Could not connect to {host}:{port}: {exc!r}") from exc
        try:
            if cfg.get("MAIL_USE_TLS") and not cfg.get("MAIL_USE_SSL"):
                smtp.starttls(context=ssl.create_default_context())
            if cfg.get("MAIL_USERNAME"):
                smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
        except (OSError, smtplib.SMTPException) as exc:
            # TLS or sign-in trouble is a configuration problem, not the messages' fault: they
            # wait (with back-off) for the settings to be fixed instead of failing one by one.
            self.close(smtp)
            raise ServerUnreachable(
                f"Could not start a session with {host}:{port}: {exc!r}"
            ) from exc
        return smtp

    def send(self, email: EmailMessage, message: OutboxMessage) -> None:
        """Send ``email``; raise TemporaryFailure or PermanentFailure unless it was accepted."""
        if self.smtp is not None and not self._alive():
            self.close(self.smtp)
            self.smtp = None
        if self.smtp is None:
            self.smtp = self._open()
        try:
            refused = self.smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            self.reset()
            replies = [
                f"{addr}: {_describe_reply(code, text)}"
                for addr, (code, text) in exc.recipients.items()
            ]
            if any(code >= 500 for code, _text in exc.recipients.values()):
                raise PermanentFailure("Recipient refused: " + "; ".join(replies)) from exc
            raise TemporaryFailure("Recipient deferred: " + "; ".join(replies)) from exc
        except smtplib.SMTPResponseException as exc:
            self.reset()
            reply = _describe_reply(exc.smtp_code, exc.smtp_error)
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"Server refused the message: {reply}") from exc
            raise TemporaryFailure(f"Server deferred the message: {reply}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Disconnected, reset or timed out mid-conversation: the session is unusable.
            self.close(self.smtp)
            self.smtp = None
            raise TemporaryFailure(f"Connection lost while sending: {exc!r}") from exc
        if refused:
            # Only an address in copy can be refused while the message is accepted: sending
            # again would repeat it to everyone else, so it counts as sent and is logged.
            log.warning("message %s: recipients in copy refused: %r", message.id, refused)

    def _alive(self) -> bool:
        """Whether a reused session still answers (servers drop idle sessions)."""
        try:
            return self.smtp.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def reset(self) -> None:
        """After a refused transaction: RSET, or drop the session if even that fails."""
        if self.smtp is None:
            return
        try:
            self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close(self.smtp)
            self.smtp = None

    @staticmethod
    def close(smtp) -> None:
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close(self.smtp)
        self.smtp = None


class FileDelivery:
    """Delivery into MAIL_FOLDER, used when no MAIL_SERVER is configured."""

    def send(self, email: EmailMessage, message: OutboxMessage) -> None:
        _write_file(email, message)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        pass


# --- the run ----------------------------------------------------------------------------------


def deliver_pending(
    now: datetime | None = None, batch_size: int = 50, lease_seconds: int = 300
) -> DeliveryReport:
    """Claim one batch of due messages and deliver it; returns what happened.

    ``now`` (naive UTC, default the current time) decides what is due and when retries are
    scheduled, so tests and operators can travel in time. Call again until ``claimed`` is 0 to
    drain the outbox.
    """
    now = now or utcnow()
    report = DeliveryReport()
    messages = _claim(now, batch_size, lease_seconds)
    if not messages:
        return report
    config = current_app.config
    max_attempts = int(_setting("MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    started = time.monotonic()
    # Stop taking new messages well before the lease runs out, so no other sender can reclaim a
    # message this run is still sending.
    deadline = started + lease_seconds * 0.8
    unreachable: ServerUnreachable | None = None
    retry_at = now
    transport = SmtpConnection(config) if config.get("MAIL_SERVER") else FileDelivery()
    with transport:
        for message in messages:
            if unreachable is None and time.monotonic() > deadline:
                _release(message)
                report.released += 1
                continue
            if unreachable is not None:
                # Not tried: the server was unreachable for an earlier message of this batch,
                # so this one waits as long as that one, and no attempt is counted.
                _postpone_untried(message, unreachable, retry_at)
                report.retried += 1
                continue
            error: Exception | None = None
            message_retry_at = None
            try:
                email = build_email(message)
            except (ValueError, TypeError, LookupError) as exc:
                error = PermanentFailure(f"The message cannot be built: {exc}")
            else:
                try:
                    transport.send(email, message)
                except ServerUnreachable as exc:
                    unreachable = error = exc
                    retry_at = message_retry_at = now + retry_delay(message.attempts)
                except (TemporaryFailure, PermanentFailure) as exc:
                    error = exc
            _record_outcome(message, error, now, max_attempts, report, message_retry_at)
    return report


def _record_outcome(
    message, error, now, max_attempts, report: DeliveryReport, retry_at: datetime | None = None
) -> None:
    if error is None:
        # The recipient has the links now: the stored copy keeps none (same UPDATE, same commit).
        if _mark(
            message,
            status="sent",
            sent_at=now,
            last_error="",
            body_text=redact_link_tokens(message.body_text),
            body_html=redact_link_tokens(message.body_html),
        ):
            report.sent += 1
        return
    reason = str(error)[:2000]
    too_old = now - message.created_at > timedelta(
        hours=float(_setting("MAIL_GIVE_UP_HOURS", DEFAULT_GIVE_UP_HOURS))
    )
    if isinstance(error, PermanentFailure) or message.attempts >= max_attempts or too_old:
        if isinstance(error, TemporaryFailure):
            reason = f"Gave up after {message.attempts} attempts. Last error: {reason}"
        if _mark(message, status="failed", last_error=reason):
            report.failed += 1
        return
    if _mark(
        message,
        status="pending",
        next_attempt_at=retry_at or now + retry_delay(message.attempts),
        last_error=reason,
    ):
        report.retried += 1


def _postpone_untried(message: OutboxMessage, error: Exception, retry_at: datetime) -> None:
    """Put back a message that was claimed but not tried, without counting an attempt."""
    _mark(
        message,
        status="pending",
        attempts=OutboxMessage.attempts - 1,
        next_attempt_at=retry_at,
        last_error=f"Not tried: {error}"[:2000],
    )


def _release(message: OutboxMessage) -> None:
    """Hand an untried message back: it is due again at once and the attempt is not counted."""
    _mark(message, status="pending", attempts=OutboxMessage.attempts - 1)


# --- staff operations and reads ---------------------------------------------------------------


@operation
def retry_message(message: OutboxMessage, staff) -> OutboxMessage:
    """Send a failed message again, from now, with a fresh set of attempts (audited).

    Raises OperationError when the message is not failed.
    """
    if message.status != "failed":
        raise OperationError(f"Only failed messages can be retried; this one is {message.status}.")
    now = utcnow()
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == "failed")
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=now,
            claim_token=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise OperationError("This message was changed meanwhile; it is no longer failed.")
    record_event(
        message,
        "retried",
        staff=staff,
        from_state="failed",
        to_state="pending",
        reason=message.last_error,
    )
    db.session.commit()
    db.session.refresh(message)
    return message


def redact_delivered_messages(batch_size: int = 500) -> int:
    """Remove link tokens from the stored copies of delivered messages; returns how many changed.

    Delivery does this for every message it marks sent; this catches up messages delivered before
    it did (``flask --app wsgi outbox redact``). Undelivered ones keep theirs for their delivery.
    Commits each batch.
    """
    changed = 0
    last_id = 0
    while True:
        batch = db.session.execute(
            db.select(OutboxMessage.id, OutboxMessage.body_text, OutboxMessage.body_html)
            .where(
                OutboxMessage.status == "sent",
                OutboxMessage.id > last_id,
                or_(
                    *(
                        body.contains(mark, autoescape=True)
                        for mark in LINK_MARKS
                        for body in (OutboxMessage.body_text, OutboxMessage.body_html)
                    )
                ),
            )
            .order_by(OutboxMessage.id)
            .limit(batch_size)
        ).all()
        if not batch:
            return changed
        for message_id, body_text, body_html in batch:
            last_id = message_id
            redacted = redact_link_tokens(body_text), redact_link_tokens(body_html)
            if redacted != (body_text, body_html or ""):
                db.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message_id, OutboxMessage.status == "sent")
                    .values(body_text=redacted[0], body_html=redacted[1])
                    .execution_options(synchronize_session=False)
                )
                changed += 1
        db.session.commit()


def summarize_outbox() -> dict[str, int]:
    """Count messages by status; every status is present, zero when none."""
    counts = dict.fromkeys(OUTBOX_STATES, 0)
    rows = db.session.execute(
        db.select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    for status, count in rows:
        counts[status] = count
    return counts


def recent_messages(status: str | None = None, limit: int = 50, offset: int = 0):
    """Messages newest first, optionally of one status."""
    query = db.select(OutboxMessage).order_by(
        OutboxMessage.created_at.desc(), OutboxMessage.id.desc()
    )
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(db.session.scalars(query.limit(limit).offset(offset)))
