"""Concurrency guards: one active scheduler, and inserts that two sweeps may race on.

On PostgreSQL the scheduler holds a session advisory lock on a connection kept open for the
life of the process: if the process dies, the server drops the connection and the lock with
it. SQLite has no such lock, so the scheduler holds a lease row in ``scheduler_lease`` that it
renews while it runs; a lease that is not renewed expires and another process may take it.
"""

import logging
import os
import secrets
import socket
import zlib
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from allies.reminders.models import SchedulerLease
from allies.timeutil import utcnow

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
LEASE_SECONDS = 60


def insert_ignoring_conflict(table, values: dict, conflict_columns: list[str], dialect_name: str):
    """``INSERT .. ON CONFLICT DO NOTHING`` for ``table`` on SQLite or PostgreSQL.

    Two sweeps racing on the same unique key both run this; the second adds nothing and raises
    nothing (with ``RETURNING`` it simply returns no row).
    """
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
    )


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key for ``name`` (stable across processes and machines)."""
    return zlib.crc32(f"allies:{name}".encode())


class SchedulerLock:
    """The single-scheduler lock: ``acquire()`` once, ``renew()`` periodically, ``release()``."""

    def __init__(
        self,
        engine: Engine,
        name: str = LOCK_NAME,
        *,
        holder: str | None = None,
        lease_seconds: int = LEASE_SECONDS,
    ):
        self.engine = engine
        self.name = name
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_seconds = lease_seconds
        self.held = False
        self._connection = None

    @property
    def kind(self) -> str:
        """``advisory`` on PostgreSQL, ``lease`` elsewhere."""
        return "advisory" if self.engine.dialect.name == "postgresql" else "lease"

    def acquire(self, now: datetime | None = None) -> bool:
        """Take the lock if nobody holds it; True when this process now holds it."""
        if self.kind == "advisory":
            self.held = self._acquire_advisory()
        else:
            self.held = self._acquire_lease(now or utcnow())
        return self.held

    def renew(self, now: datetime | None = None) -> bool:
        """Confirm the lock is still held (extending the lease on SQLite); False if it was lost."""
        if not self.held:
            return False
        if self.kind == "advisory":
            try:
                self._connection.execute(text("SELECT 1"))
            except Exception:  # the connection, and with it the lock, is gone
                log.exception("the scheduler lock's connection was lost")
                self._close_connection()
                self.held = False
        else:
            now = now or utcnow()
            with self.engine.begin() as conn:
                renewed = conn.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                    .values(expires_at=now + timedelta(seconds=self.lease_seconds))
                ).rowcount
            self.held = renewed == 1
        return self.held

    def release(self) -> None:
        """Give the lock up (safe to call when it is not held)."""
        if self.kind == "advisory":
            if self._connection is not None:
                try:
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(self.name)}
                    )
                except Exception:
                    log.exception(
                        "could not unlock the scheduler lock (the connection closes anyway)"
                    )
                self._close_connection()
        elif self.held:
            with self.engine.begin() as conn:
                conn.execute(
                    delete(SchedulerLease).where(
                        SchedulerLease.name == self.name, SchedulerLease.holder == self.holder
                    )
                )
        self.held = False

    def current_holder(self, now: datetime | None = None) -> str | None:
        """Who holds the lease now (SQLite), for log messages; None on PostgreSQL or if free."""
        if self.kind == "advisory":
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(SchedulerLease.holder, SchedulerLease.expires_at).where(
                    SchedulerLease.name == self.name
                )
            ).first()
        if row is None or row.expires_at < (now or utcnow()):
            return None
        return row.holder

    def _acquire_advisory(self) -> bool:
        if self._connection is None:
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self._connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_key(self.name)}
        ).scalar()
        if not got:
            self._close_connection()
        return bool(got)

    def _acquire_lease(self, now: datetime) -> bool:
        expires = now + timedelta(seconds=self.lease_seconds)
        with self.engine.begin() as conn:
            # Take over our own or an expired lease; the condition makes it atomic.
            taken = conn.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == self.name,
                    or_(SchedulerLease.holder == self.holder, SchedulerLease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
            if taken == 1:
                return True
            created = conn.execute(
                insert_ignoring_conflict(
                    SchedulerLease.__table__,
                    {"name": self.name, "holder": self.holder, "expires_at": expires},
                    ["name"],
                    self.engine.dialect.name,
                )
            ).rowcount
        return created == 1

    def _close_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                log.exception("could not close the scheduler lock's connection")
            self._connection = None
