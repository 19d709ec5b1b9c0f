"""Every Flask extension, created once here so no module imports the app package in a circle."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# Stable constraint names keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def _configure_sqlite(dbapi_connection, _record) -> None:
    """Make SQLite behave like a server database: foreign keys on, writers wait, readers don't block."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
        # Staff search folds case and accents as PostgreSQL's documents do; SQLite's lower()
        # folds ASCII only. Imported here: search_documents needs nothing but SQLAlchemy.
        from allies.staff.search_documents import FOLD_FUNCTION, fold

        dbapi_connection.create_function(FOLD_FUNCTION, 1, fold, deterministic=True)


def init_sqlite_pragmas() -> None:
    """Install the SQLite connection settings once for every engine."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _configure_sqlite):
        event.listen(Engine, "connect", _configure_sqlite)
