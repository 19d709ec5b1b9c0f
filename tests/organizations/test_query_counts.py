"""The number of SQL statements per public page does not grow with the number of Allies."""

import pytest
import sqlalchemy as sa

from allies.extensions import db


def _statements_for(app, client, path: str) -> int:
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, path
    return len(seen)


@pytest.mark.parametrize("path", ["/", "/allies", "/allies.json", "/allies?q=org", "/staff/allies"])
def test_queries_do_not_grow_with_allies(app, client, auth, factory, path):
    auth.login("reviewer")
    for _ in range(3):
        factory.ally()
    few = _statements_for(app, client, path)
    for _ in range(12):
        factory.ally()
    many = _statements_for(app, client, path)
    assert many == few, (path, few, many)
