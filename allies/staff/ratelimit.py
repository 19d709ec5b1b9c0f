"""Rate-limit counters in the application database, so every web worker shares them.

Flask-Limiter's storage is chosen by URI; ``allies+db://`` (the default) selects this one.
``redis://…`` works as well when Redis is available.
"""

import time

from limits.storage import Storage
from sqlalchemy import Float, String, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from allies.extensions import db


class RateLimitCounter(db.Model):
    """One fixed-window counter: how many hits under ``key`` until ``expires_at`` (epoch seconds)."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class DatabaseStorage(Storage):
    """A limits storage backed by the app's SQLAlchemy engine (each call its own transaction)."""

    STORAGE_SCHEME = ["allies+db"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        from sqlalchemy.exc import SQLAlchemyError

        return SQLAlchemyError

    @staticmethod
    def _engine():
        return db.engine

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        table = RateLimitCounter.__table__
        now = time.time()
        renew = table.c.expires_at <= now
        for _attempt in range(3):
            with self._engine().begin() as conn:
                result = conn.execute(
                    update(table)
                    .where(table.c.key == key)
                    .values(
                        count=db.case((renew, amount), else_=table.c.count + amount),
                        expires_at=db.case((renew, now + expiry), else_=table.c.expires_at),
                    )
                )
                if result.rowcount == 0:
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                insert(table).values(key=key, count=amount, expires_at=now + expiry)
                            )
                    except IntegrityError:
                        continue  # another worker inserted it first: update again
                return conn.execute(select(table.c.count).where(table.c.key == key)).scalar_one()
        raise RuntimeError("could not count the rate limit")

    def get(self, key: str) -> int:
        table = RateLimitCounter.__table__
        with self._engine().connect() as conn:
            value = conn.execute(
                select(table.c.count).where(table.c.key == key, table.c.expires_at > time.time())
            ).scalar()
        return value or 0

    def get_expiry(self, key: str) -> float:
        table = RateLimitCounter.__table__
        with self._engine().connect() as conn:
            value = conn.execute(select(table.c.expires_at).where(table.c.key == key)).scalar()
        return value or time.time()

    def check(self) -> bool:
        try:
            with self._engine().connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - a health check reports, never raises
            return False

    def reset(self) -> int | None:
        with self._engine().begin() as conn:
            return conn.execute(delete(RateLimitCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        with self._engine().begin() as conn:
            conn.execute(
                delete(RateLimitCounter.__table__).where(RateLimitCounter.__table__.c.key == key)
            )


def clear_counters(storage, fragment: str) -> int:
    """Delete every counter whose key contains ``fragment``; how many there were.

    For the database (the default) and Redis; memory storage lives in each worker, out of reach
    of a command (and check-deploy refuses it for production).
    """
    if isinstance(storage, DatabaseStorage):
        table = RateLimitCounter.__table__
        with storage._engine().begin() as conn:
            matching = table.c.key.contains(fragment, autoescape=True)
            return conn.execute(delete(table).where(matching)).rowcount
    if hasattr(storage, "lua_clear_keys"):  # limits' Redis storages
        escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in fragment)
        return int(storage.lua_clear_keys([storage.prefixed_key(f"*{escaped}*")]))
    raise NotImplementedError(f"Counters in {type(storage).__name__} cannot be cleared here.")
