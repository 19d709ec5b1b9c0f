"""The staff search box: what it finds, how it ranks and shows a match, and odd input."""

import importlib.util
import re
from datetime import date, datetime

import pytest
from sqlalchemy import event

from allies.extensions import db
from allies.organizations.models import Contact, Organization
from allies.staff.search import CONTACT_DOCUMENT, ORGANIZATION_DOCUMENT, search
from tests.fixtures import PROJECT_DIR

VERSIONS = PROJECT_DIR / "migrations" / "versions"
MIGRATION = VERSIONS / "a8bc26dae457_staff_search_accent_folding.py"  # the indexes as they are
FIRST_MIGRATION = VERSIONS / "c4d8e2f6a913_staff_search_index.py"
START = date(2026, 1, 5)


def _results(client, query: str) -> str:
    response = client.get("/staff/search", query_string={"q": query})
    assert response.status_code == 200, (query, response.status_code)
    return response.get_data(as_text=True)


def _rows(html: str) -> list[str]:
    """The result rows of the page, in order."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def _titles(html: str) -> list[str]:
    return [re.search(r"<a [^>]*>(.*?)</a>", row, re.S).group(1) for row in _rows(html)]


def _is_postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def test_finds_by_name_email_domain_and_city(client, auth, factory):
    factory.ally(
        start=START,
        name="Riverbend Health Cooperative",
        website="https://rbhc-partners.example.net",
        email="ana.lima@riverbend.example.net",
        city="Porto Alegre",
    )
    factory.application(name="Other Clinic", city="Lagos", email="o@other.example.com")
    auth.login("reviewer")

    by_name = _results(client, "riverbend health")
    assert _titles(by_name)[0] == "Riverbend Health Cooperative"
    assert "Other Clinic" not in by_name

    by_email = _results(client, "ana.lima@riverbend.example.net")
    assert "Pat Contact" in _titles(by_email)  # the contact, leading to the organization
    assert (
        "<mark>ana</mark>.<mark>lima</mark>@<mark>riverbend</mark>"
        in by_email.replace("&#64;", "@")
        or "<mark>ana.lima@riverbend.example.net</mark>" in by_email
    )

    by_domain = _results(client, "rbhc-partners")
    assert _titles(by_domain) == ["Riverbend Health Cooperative"]
    assert "website:" in _rows(by_domain)[0]

    by_city = _results(client, "porto alegre")
    assert _titles(by_city) == ["Riverbend Health Cooperative"]
    assert "city:" in _rows(by_city)[0]
    assert "<mark>Porto</mark> <mark>Alegre</mark>" in by_city

    lagos = _results(client, "Lagos")
    assert _titles(lagos) == ["Other Clinic"]
    assert "Application" in _rows(lagos)[0]  # not yet an Ally: its review page
    assert "/staff/applications/" in _rows(lagos)[0]
    assert "/staff/allies/" in _rows(by_city)[0]


def test_a_name_match_ranks_above_a_city_or_description_match(client, auth, factory):
    factory.application(name="Harbour Clinic", city="Kingston", description="Care in Kingston.")
    factory.application(
        name="Mountain Care", city="Quito", description="Founded by Kingston graduates."
    )
    factory.application(name="Kingston Health Network", city="Accra", description="Care.")
    factory.application(name="Unrelated", city="Accra", description="Nothing to see.")
    auth.login("reviewer")
    html = _results(client, "kingston")
    titles = _titles(html)
    assert titles[0] == "Kingston Health Network"
    assert set(titles) == {"Kingston Health Network", "Harbour Clinic", "Mountain Care"}
    # a city match above a description match
    assert titles.index("Harbour Clinic") < titles.index("Mountain Care")
    rows = _rows(html)
    assert "name:" in rows[0] and "<mark>Kingston</mark> Health Network" in rows[0]
    assert "description:" in rows[titles.index("Mountain Care")]


def test_the_exact_name_comes_first(client, auth, factory):
    factory.application(name="Care Net Partners Care Net", city="Lima")
    factory.application(name="Care Net", city="Lima")
    auth.login("reviewer")
    assert _titles(_results(client, "care net"))[0] == "Care Net"


def test_what_is_shown_is_escaped(client, auth, factory):
    factory.application(name="<b>Bold</b> & Co", city="Oslo")
    auth.login("reviewer")
    html = _results(client, "bold")
    assert "&lt;b&gt;<mark>Bold</mark>&lt;/b&gt; &amp; Co" in html
    assert "<b>Bold" not in html
    echoed = _results(client, "<script>alert(1)</script>")
    assert "<script>alert" not in echoed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in echoed


def test_percent_and_underscore_are_not_wildcards(app, client, auth, factory):
    factory.application(name="Fund 50% Health", city="Quito", email="first_last@example.org")
    factory.application(name="Fund 500 Health", city="Quito", email="firstxlast@example.org")
    factory.application(name="Other Place", city="Lima", email="someone@example.org")
    auth.login("reviewer")
    percent = _titles(_results(client, "50%"))
    if _is_postgres(app):  # full-text search drops the sign and matches words starting "50"
        assert percent == ["Fund 50% Health", "Fund 500 Health"]
    else:  # LIKE: the sign itself, not "anything"
        assert percent == ["Fund 50% Health"]
    assert _titles(_results(client, "%%")) == []
    assert _titles(_results(client, "__")) == []
    underscore = _titles(_results(client, "first_last"))
    assert underscore == ["Pat Contact"]
    assert "first_last@example.org" in _results(client, "first_last").replace("<mark>", "").replace(
        "</mark>", ""
    )


def test_short_or_empty_queries_are_not_run(client, auth, factory):
    factory.application(name="Alpha Org")
    auth.login("reviewer")
    for query in ("", " ", "a", "  b  "):
        html = _results(client, query)
        assert "Type at least 2 characters" in html
        assert _rows(html) == []
    assert "Type at least 2 characters" in client.get("/staff/search").get_data(as_text=True)


def test_erased_contacts_are_not_found_by_their_old_data(app, client, auth, factory):
    factory.application(name="Keeper Org", email="forget.me@private.example.org")
    with app.app_context():
        contact = db.session.scalar(
            db.select(Contact).where(Contact.email == "forget.me@private.example.org")
        )
        contact.erased_at = datetime(2026, 1, 1)  # the old values left in place on purpose
        db.session.commit()
    auth.login("reviewer")
    assert _titles(_results(client, "forget.me@private.example.org")) == []
    assert _titles(_results(client, "Keeper")) == ["Keeper Org"]


def test_more_results_than_the_limit_are_announced(app, factory):
    for n in range(4):
        factory.application(name=f"Limit Org {n}", city="Bergen")
    with app.app_context():
        results = search("bergen", limit=3)
        assert len(results.hits) == 3 and results.more
        assert not search("bergen", limit=4).more


def test_the_page_says_when_there_are_more(app, client, auth, factory, monkeypatch):
    for n in range(3):
        factory.application(name=f"Many Org {n}", city="Tromso")
    monkeypatch.setattr("allies.staff.search.LIMIT", 2)
    auth.login("reviewer")
    html = _results(client, "tromso")
    assert len(_rows(html)) == 2
    assert "more match" in html


ODD_QUERIES = (
    "x" * 5000,
    "word " * 400,
    "Clínica São Paulo",
    "ÉCOLE",
    "🏥 hospital",
    "o'brien",
    '"quoted"',
    "''",
    "a & b | !c",
    "&&",
    ":*",
    "abc:*",
    "(x) <-> y",
    "\\",
    "a\x00b",
    "%_%",
    "ｆｕｌｌｗｉｄｔｈ",
    "١٢٣ ٤٥",
    "https://[::1",
    "http://[",
    "https://user:pw@host.example.org:99999/x",
    "www.ÉTICA.org",
    "https://İstanbul.example",
    "ßtraße",
)


@pytest.mark.parametrize("query", ODD_QUERIES, ids=range(len(ODD_QUERIES)))
def test_odd_input_answers_without_a_server_error(client, auth, factory, query):
    factory.application(name="Clínica São Paulo O'Brien & Co", city="São Paulo")
    auth.login("reviewer")
    _results(client, query)


def test_unicode_names_are_found(client, auth, factory):
    factory.application(name="Clínica São Paulo", city="Recife")
    auth.login("reviewer")
    assert _titles(_results(client, "clínica são")) == ["Clínica São Paulo"]


def test_a_name_starting_with_an_accented_capital_is_found_in_any_case(client, auth, factory):
    # SQLite's lower() folds ASCII only, so "Ética" in the database never equalled "ética".
    factory.application(name="Ética Médica Ñandú", city="Asunción")
    factory.application(name="Other Place", city="Lima")
    auth.login("reviewer")
    for query in ("Ética", "ética", "ÉTICA", "Ñandú", "ñandú", "ÑANDÚ", "ética MÉDICA ñandú"):
        assert _titles(_results(client, query)) == ["Ética Médica Ñandú"], query
    assert "<mark>Ética</mark> Médica <mark>Ñandú</mark>" in _results(client, "ética ñandú")
    assert _titles(_results(client, "asunción")) == ["Ética Médica Ñandú"]


def test_accents_are_optional_on_either_side(client, auth, factory):
    factory.application(name="Ética Médica Ñandú", city="Asunción", email="zoë@straße.example")
    factory.application(name="Clinica Norte", city="Bogota")
    factory.application(name="Other Place", city="Lima")
    auth.login("reviewer")
    for query in ("etica", "ETICA", "nandu", "medica nandu", "asuncion"):
        assert _titles(_results(client, query)) == ["Ética Médica Ñandú"], query
    assert "<mark>Ética</mark>" in _results(client, "etica")
    for query in ("clínica", "CLÍNICA NORTE", "bogotá"):
        assert _titles(_results(client, query)) == ["Clinica Norte"], query
    assert "<mark>Clinica</mark> Norte" in _results(client, "clínica")
    assert "Pat Contact" in _titles(_results(client, "zoe"))


ZETA_QUERIES = (
    "zeta-health.org",
    "www.zeta-health.org",
    "WWW.Zeta-Health.ORG",
    "https://www.zeta-health.org",
    "https://www.zeta-health.org/",
    "https://www.zeta-health.org/about",
    "http://zeta-health.org/about?lang=es#team",
    "zeta-health.org/about",
    "www.zeta-health.org/about",
)


def test_a_website_typed_or_pasted_finds_its_organization(client, auth, factory):
    factory.ally(start=START, name="Zeta Health", website="https://www.zeta-health.org/about")
    factory.application(name="Other Place", website="https://www.other.example.org/about")
    auth.login("reviewer")
    for query in ZETA_QUERIES:
        html = _results(client, query)
        assert _titles(html) == ["Zeta Health"], query
        assert "website:" in _rows(html)[0], query
    # with other words beside it, every word still counts
    assert _titles(_results(client, "zeta https://www.zeta-health.org/about")) == ["Zeta Health"]
    assert _titles(_results(client, "other https://www.zeta-health.org")) == []
    # an email address is not a website: its user part still counts
    factory.application(name="Mail Org", email="someone@zeta-health.org")
    assert _titles(_results(client, "nobody@zeta-health.org")) == []
    assert "Pat Contact" in _titles(_results(client, "someone@zeta-health.org"))


def test_a_bare_scheme_is_not_a_search(client, auth, factory):
    factory.application(name="Https Clinic", website="https://https-clinic.example.org")
    auth.login("reviewer")
    for query in ("https://", "http://www.", "https:// www."):
        html = _results(client, query)
        assert _rows(html) == [], query
        assert "Type part of a name" in html, query


STAFF_PAGES = (
    "/staff",
    "/staff/applications",
    "/staff/allies",
    "/staff/outbox",
    "/staff/settings",
    "/staff/users",
    "/staff/search?q=x",
)


def test_the_search_box_is_on_every_staff_page(client, auth, factory):
    organization_id, _agreement_id = factory.ally(start=START)
    application_id = factory.application()
    auth.login("admin")
    pages = [
        *STAFF_PAGES,
        f"/staff/allies/{organization_id}",
        f"/staff/applications/{application_id}",
    ]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        form = re.search(
            r'<form role="search" action="/staff/search"[^>]*>(.*?)</form>', html, re.S
        )
        assert form, path
        assert '<label for="staff-search-q"' in form.group(1), path
        assert 'id="staff-search-q" name="q"' in form.group(1), path
    search_page = client.get("/staff/search?q=hello+there").get_data(as_text=True)
    assert 'value="hello there"' in search_page
    auth.logout()
    assert 'action="/staff/search"' not in client.get("/allies").get_data(as_text=True)


def test_search_needs_a_staff_sign_in(client):
    response = client.get("/staff/search?q=anything")
    assert response.status_code == 302 and "/staff/sign-in" in response.location


# --- the index on PostgreSQL ---------------------------------------------------------------------


def _migration(path=MIGRATION):
    spec = importlib.util.spec_from_file_location("staff_search_index", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_indexes_the_expressions_the_search_uses():
    expressions = {table: expression for _name, table, expression in _migration().INDEXES}
    assert expressions == {"organization": ORGANIZATION_DOCUMENT, "contact": CONTACT_DOCUMENT}
    # a downgrade puts back the indexes the first migration made
    assert _migration().PREVIOUS_INDEXES == _migration(FIRST_MIGRATION).INDEXES


def test_postgresql_uses_the_index(app):
    if not _is_postgres(app):
        pytest.skip("full-text search and its index are PostgreSQL's")
    with app.app_context():
        db.session.execute(
            db.insert(Organization),
            [
                {
                    "slug": f"org-{n}",
                    "name": f"Organization {n}",
                    "normalized_name": f"organization {n}",
                    "website": f"https://org{n}.example.org",
                    "website_domain": f"org{n}.example.org",
                    "city": "Quito",
                    "description": "",
                }
                for n in range(300)
            ],
        )
        db.session.commit()
        # The models declare the indexes (ddl_if PostgreSQL), so the test schema has them; the
        # statements search() sends are explained as they were sent.
        statements = []

        def record(_conn, _cursor, statement, parameters, _context, _many):
            if "@@" in statement:
                statements.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert search("org12").hits[0].title == "Organization 12"
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        connection = db.session.connection()
        connection.exec_driver_sql("ANALYZE organization")
        connection.exec_driver_sql("SET enable_seqscan = off")  # 300 rows: a scan is cheaper
        plans = [
            "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql, params))
            for sql, params in statements
        ]
        db.session.rollback()
    assert len(plans) == 2
    assert "ix_organization_search" in plans[0], plans[0]
    assert "ix_contact_search" in plans[1], plans[1]
