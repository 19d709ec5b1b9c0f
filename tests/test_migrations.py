"""The migrations build the schema from empty on each database, and agree with the models."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from allies import create_app
from allies.extensions import db
from tests.fixtures import DATABASES, SKIPPED


def _empty_database(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/migrations.sqlite3"
    if kind in SKIPPED:
        pytest.skip(f"postgresql: {SKIPPED[kind]}")
    server = DATABASES[kind]
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS allies_migrations"))
        conn.execute(sa.text("CREATE DATABASE allies_migrations"))
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/allies_migrations"


# SQLite cannot reflect expression indexes: staff search's PostgreSQL-only indexes (ddl_if) are
# compared on PostgreSQL and skipped on SQLite, with this warning.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_from_empty_match_the_models(kind, tmp_path):
    url = _empty_database(kind, tmp_path)
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "m" * 40, "INSTANCE_PATH": str(tmp_path)}
    )
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}
            )
            differences = compare_metadata(context, db.metadata)
        tables = sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
    assert differences == []
    assert {"organization", "application", "agreement", "reminder", "outbox_message"} <= set(tables)
