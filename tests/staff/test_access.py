"""Every URL rule: anonymous users reach no staff page, reviewers no admin page; CSRF on every POST."""

import re

import pytest

from tests.fixtures import csrf_token_from

PUBLIC_STAFF_ENDPOINTS = {"staff.sign_in"}


def _url_for_rule(rule) -> str:
    """A concrete URL for ``rule`` with placeholder arguments."""
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def _rules(app, method):
    return [
        rule
        for rule in app.url_map.iter_rules()
        if method in rule.methods and rule.endpoint != "static"
    ]


def _is_staff(rule) -> bool:
    return rule.rule.startswith("/staff") and rule.endpoint not in PUBLIC_STAFF_ENDPOINTS


def test_every_staff_view_declares_its_role(app):
    staff_rules = [r for r in app.url_map.iter_rules() if _is_staff(r)]
    assert len(staff_rules) > 20
    for rule in staff_rules:
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "required_role", None) in ("reviewer", "admin"), rule.rule


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_anonymous_users_cannot_reach_any_staff_page(app, client, method):
    checked = 0
    for rule in _rules(app, method):
        if not _is_staff(rule):
            continue
        response = client.open(_url_for_rule(rule), method=method)
        assert response.status_code == 302, (rule.rule, response.status_code)
        assert "/staff/sign-in" in response.location, rule.rule
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_reviewers_cannot_reach_admin_pages(app, client, auth, method):
    auth.login("reviewer")
    admin_rules = [
        rule
        for rule in _rules(app, method)
        if _is_staff(rule) and app.view_functions[rule.endpoint].required_role == "admin"
    ]
    assert admin_rules, "there are admin pages"
    for rule in admin_rules:
        response = client.open(_url_for_rule(rule), method=method)
        assert response.status_code == 403, rule.rule
    # and reviewers do reach the reviewer pages
    assert client.get("/staff").status_code == 200
    assert client.get("/staff/applications").status_code == 200


def test_admin_reaches_admin_pages(client, auth):
    auth.login("admin")
    for path in ("/staff/settings", "/staff/users", "/staff/texts", "/staff/types"):
        assert client.get(path).status_code == 200, path


def test_contacts_pages_need_a_sign_in_link(client, factory):
    application_id = factory.application()
    for path in ("/my", f"/my/applications/{application_id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/sign-in" in response.location


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


def test_every_post_requires_a_csrf_token(csrf_on, app, client):
    rules = _rules(app, "POST")
    assert len(rules) > 15
    for rule in rules:
        response = client.post(_url_for_rule(rule), data={"email": "a@b.example.org"})
        assert response.status_code == 400, rule.rule
        assert "The form expired" in response.get_data(as_text=True), rule.rule


def test_a_form_with_its_token_is_accepted(csrf_on, client, factory):
    _id, email, password = factory.staff("reviewer")
    page = client.get("/staff/sign-in").get_data(as_text=True)
    response = client.post(
        "/staff/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token_from(page)},
    )
    assert response.status_code == 302
