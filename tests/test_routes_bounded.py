"""Bounded inputs: no URL segment or query parameter gives a 500, on SQLite and PostgreSQL.

PostgreSQL's ``integer`` holds at most 2^31 - 1 and SQLite's at most 2^63 - 1; Python's ``int()``
refuses more than 4,300 digits. Every rule in the URL map is walked with values past each limit.
"""

import re

import pytest
from werkzeug.routing import IntegerConverter

from tests.fixtures import sign_in_contact

HUGE = "99999999999999999999999"
BAD_VALUES = (
    HUGE,
    str(2**31),  # one past PostgreSQL's integer
    str(2**63),  # one past SQLite's integer
    "-1",
    "0",
    "abc",
    "9" * 5000,  # past Python's int() digit limit
    "1.5",
)
# Every integer-valued query parameter the views read, and their neighbours.
QUERY_PARAMETERS = ("type", "page", "ending", "status", "state", "q", "next")


def _rules_with_arguments(app):
    return [rule for rule in app.url_map.iter_rules() if rule.arguments]


def _url(rule, value: str) -> str:
    """``rule`` with every argument set to ``value`` (built by hand: converters would refuse)."""
    return re.sub(r"<[^>]+>", value, rule.rule)


def _server_errors(client, url, **kwargs) -> list:
    """``[]`` if ``url`` answers below 500, else what went wrong (testing propagates errors)."""
    try:
        status = client.open(url, **kwargs).status_code
    except Exception as exc:  # noqa: BLE001 - the failure is what the test reports
        status = type(exc).__name__
    return [] if isinstance(status, int) and status < 500 else [(url[:70], kwargs, status)]


def _walk(client, rules):
    """Every rule with every bad value, for GET and for POST where allowed: the 5xx answers."""
    failures = []
    for rule in rules:
        for value in BAD_VALUES:
            url = _url(rule, value)
            for method in ("GET", "POST"):
                if method not in rule.methods:
                    continue
                failures += _server_errors(client, url, method=method, data={})
    return failures


def test_the_walk_covers_every_integer_route(app):
    int_rules = [
        rule.rule
        for rule in _rules_with_arguments(app)
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values())
    ]
    for expected in (
        "/staff/applications/<int:application_id>",
        "/staff/outbox/<int:message_id>",
        "/staff/conferences/<int:conference_id>",
        "/my/applications/<int:application_id>",
        "/my/renew/<int:agreement_id>",
    ):
        assert expected in int_rules


def test_every_url_rule_with_a_bad_value_answers_without_a_server_error(app, client, auth, factory):
    organization_id, _agreement_id = factory.ally(name="Walked Org", email="walk@example.org")
    rules = _rules_with_arguments(app)
    assert len(rules) > 20
    auth.login("admin")
    assert _walk(client, rules) == [], "signed in as admin"
    contact_client = app.test_client()
    sign_in_contact(app, contact_client, organization_id)
    assert _walk(contact_client, rules) == [], "signed in as an Ally's contact"
    assert _walk(app.test_client(), rules) == [], "signed out"


@pytest.mark.parametrize("value", [HUGE, str(2**31), str(2**63), "9" * 5000])
def test_a_huge_id_is_not_found(app, client, auth, value):
    auth.login("admin")
    for path in (
        f"/staff/applications/{value}",
        f"/staff/outbox/{value}",
        f"/staff/users/{value}",
        f"/staff/allies/{value}",
        f"/staff/conferences/{value}",
    ):
        assert client.get(path).status_code == 404, path


def test_the_largest_integer_id_still_routes(app, client, auth):
    auth.login("admin")
    assert client.get(f"/staff/applications/{2**31 - 1}").status_code == 404  # no such row
    assert client.get("/staff/applications/1").status_code == 404  # still an ordinary 404


@pytest.mark.parametrize("value", BAD_VALUES)
def test_public_listing_parameters_never_give_a_server_error(app, client, factory, value):
    factory.ally(name="Listed Org")
    for path in ("/allies", "/allies.json", "/"):
        for name in ("type", "page"):
            response = client.get(path, query_string={name: value})
            assert response.status_code in (200, 400, 404), (path, name, response.status_code)


def test_a_huge_type_on_the_public_pages_is_not_found(app, client, factory):
    factory.ally(name="Listed Org")
    assert client.get(f"/allies?type={HUGE}").status_code == 404
    assert client.get(f"/allies.json?type={HUGE}").status_code == 404
    assert client.get(f"/allies?page={HUGE}").status_code == 404
    assert client.get("/allies?page=-1").status_code == 404
    assert client.get("/allies?type=abc").status_code == 200  # not a number: no filter, as before


def test_every_page_with_bad_query_parameters_answers_without_a_server_error(
    app, client, auth, factory
):
    factory.ally(name="Listed Org")
    auth.login("admin")
    pages = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if not rule.arguments and "GET" in rule.methods and rule.endpoint != "static"
    ]
    failures = []
    for path in pages:
        for value in BAD_VALUES:
            query = {name: value for name in QUERY_PARAMETERS}
            failures += _server_errors(client, path, method="GET", query_string=query)
    assert failures == []
