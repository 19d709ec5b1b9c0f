"""axe-core on every public page and form, the contact's pages and the staff pages.

A page passes with no violation of impact "serious" or "critical"; every violation found, of any
impact, is written to ``test-output/axe/<page>.json`` for a closer look. The site's
Content-Security-Policy forbids inline scripts, so these contexts bypass it to inject axe.
"""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

FAILING_IMPACTS = ("serious", "critical")
REPORTS = Path(__file__).resolve().parents[2] / "test-output" / "axe"


def _submit_empty(path, button):
    def visit(page, site):
        page.goto(path)
        page.get_by_role("button", name=button).click()
        expect(page.locator("#error-summary, .error-message").first).to_be_visible()

    return visit


def _go(path):
    return lambda page, site: page.goto(path if isinstance(path, str) else path(site))


def _wrong_password(page, site):
    page.goto("/staff/sign-in")
    page.get_by_label("Email", exact=True).fill("nobody@example.org")
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The email or password is not right.")).to_be_visible()


def _link_sent(page, site):
    page.goto("/sign-in")
    page.get_by_label("Email address").fill("someone@example.org")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


def _used_link(page, site):
    page.goto("/my/link/not-a-real-token")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="This link can no longer be used")).to_be_visible()


def _renew_with_errors(page, site):
    page.goto(f"/my/renew/{site.agreement_id}")
    page.get_by_label("Organization name", exact=True).fill("")
    page.get_by_role("button", name="Send renewal").click()
    expect(page.locator("#error-summary")).to_be_visible()


def _erase_contact(submit: bool):
    """The confirmation page for erasing the Ally's primary contact (with errors if ``submit``)."""

    def visit(page, site):
        page.goto(f"/staff/allies/{site.organization_id}")
        page.get_by_role("link", name=re.compile(r"^Erase…")).first.click()
        page.get_by_role("heading", name=re.compile(r"^Erase ")).first.wait_for()
        if submit:
            page.get_by_role("button", name=re.compile(r"^Erase ")).click()
            expect(page.locator("#error-summary")).to_be_visible()

    return visit


def _empty_note(path):
    """A note sent empty from the notes panel of ``path``: the message next to the field."""

    def visit(page, site):
        page.goto(path(site))
        page.get_by_role("button", name="Add note").click()
        expect(page.locator("#note-body-error")).to_be_visible()

    return visit


def _search(query):
    """The staff search box in the header, used from the keyboard."""

    def visit(page, site):
        page.goto("/staff")
        box = page.get_by_role("searchbox", name="Search organizations, applications and contacts")
        box.fill(query)
        box.press("Enter")
        page.get_by_role("heading", name="Search", level=1).wait_for()

    return visit


# name: (who is signed in, how to reach the page)
PAGES = {
    "home": ("public", _go("/")),
    "become-an-ally": ("public", _go("/become-an-ally")),
    "allies": ("public", _go("/allies")),
    "allies-no-match": ("public", _go("/allies?q=no+such+ally")),
    "ally": ("public", _go(lambda site: f"/allies/{site.ally_slug}")),
    "conferences": ("public", _go("/conferences")),
    "apply": ("public", _go("/apply")),
    "apply-errors": ("public", _submit_empty("/apply", "Send application")),
    "sign-in": ("public", _go("/sign-in")),
    "sign-in-errors": ("public", _submit_empty("/sign-in", "Email me a sign-in link")),
    "sign-in-link-sent": ("public", _link_sent),
    "follow-link": ("public", _go("/my/link/a-token-from-an-email")),
    "link-invalid": ("public", _used_link),
    "not-found": ("public", _go("/no/such/page")),
    "staff-sign-in": ("public", _go("/staff/sign-in")),
    "staff-sign-in-errors": ("public", _wrong_password),
    "my-applicant": ("applicant", _go("/my")),
    "application-status": (
        "applicant",
        _go(lambda site: f"/my/applications/{site.application_id}"),
    ),
    "my-ally": ("ally", _go("/my")),
    "renew": ("ally", _go(lambda site: f"/my/renew/{site.agreement_id}")),
    "renew-errors": ("ally", _renew_with_errors),
    "staff-dashboard": ("staff", _go("/staff")),
    "staff-applications": ("staff", _go("/staff/applications")),
    "staff-review": ("staff", _go(lambda site: f"/staff/applications/{site.application_id}")),
    "staff-allies": ("staff", _go("/staff/allies")),
    "staff-ally": ("staff", _go(lambda site: f"/staff/allies/{site.organization_id}")),
    "staff-outbox": ("staff", _go("/staff/outbox")),
    "staff-settings": ("staff", _go("/staff/settings")),
    "staff-texts": ("staff", _go("/staff/texts")),
    "staff-users": ("staff", _go("/staff/users")),
    "staff-types": ("staff", _go("/staff/types")),
    "staff-audit": ("staff", _go("/staff/audit")),
    "staff-audit-ally": (
        "staff",
        _go(lambda site: f"/staff/audit?organization={site.organization_id}"),
    ),
    "staff-audit-errors": ("staff", _go("/staff/audit?start=2026-02-30&end=soon&who=nobody")),
    "staff-ally-note-errors": (
        "staff",
        _empty_note(lambda site: f"/staff/allies/{site.organization_id}"),
    ),
    "staff-review-note-errors": (
        "staff",
        _empty_note(lambda site: f"/staff/applications/{site.application_id}"),
    ),
    "staff-export": ("staff", _go("/staff/export")),
    "staff-erase-contact": ("staff", _erase_contact(submit=False)),
    "staff-erase-contact-errors": ("staff", _erase_contact(submit=True)),
    "staff-search": ("staff", _search("health")),
    "staff-search-short": ("staff", _search("h")),
}


# Conference pages (issue 10), reached through their links from the demo's upcoming conference.
def _upcoming_conference(then: str | None = None):
    def visit(page, site):
        page.goto("/conferences")
        page.locator("#upcoming-heading ~ .cards a").first.click()
        page.get_by_role("heading", level=1).wait_for()
        if then == "roll":
            page.get_by_role("link", name=re.compile(r"^The Allies ")).click()
            page.locator(".roll-grid").wait_for()

    return visit


def _staff_conference(then: str | None = None):
    def visit(page, site):
        page.goto("/staff/conferences")
        page.locator("tbody th a").first.click()
        page.get_by_role("heading", name="Answers").wait_for()
        if then == "invite":
            page.get_by_role("link", name="Invite current Allies").click()
            page.get_by_role("heading", name="Invite current Allies").wait_for()

    return visit


PAGES.update(
    {
        "conference": ("public", _upcoming_conference()),
        "conference-roll": ("public", _upcoming_conference("roll")),
        "staff-conferences": ("staff", _go("/staff/conferences")),
        "staff-conference": ("staff", _staff_conference()),
        "staff-conference-invite": ("staff", _staff_conference("invite")),
        "staff-conference-errors": (
            "staff",
            _submit_empty("/staff/conferences/new", "Save conference"),
        ),
    }
)
CONFERENCE_PHONE_PAGES = ("conference", "conference-roll", "staff-conference")

# Pages for other sites and the alliance's identity (issue 12): the roll partners embed (in each
# language) and the settings page's logo form refusing an empty upload.
PAGES.update(
    {
        "embed": ("public", _go("/embed/allies")),
        "embed-es": ("public", _go("/embed/allies?lang=es")),
        "staff-settings-logo-errors": (
            "staff",
            _submit_empty("/staff/settings", "Upload the logo"),
        ),
    }
)
EMBED_PHONE_PAGES = ("embed", "staff-settings-logo-errors")


# Spanish beside English (issue 12): every public page and every page a contact sees, read
# with the language switch's cookie set to Spanish, forms and their errors included.


def _link_sent_es(page, site):
    page.goto("/sign-in")
    page.get_by_label("Correo electrónico").fill("alguien@example.org")
    page.get_by_role("button", name="Envíenme un enlace de acceso").click()
    expect(page.get_by_role("heading", name="Revise su correo")).to_be_visible()


def _used_link_es(page, site):
    page.goto("/my/link/not-a-real-token")
    page.get_by_role("button", name="Continuar").click()
    expect(page.get_by_role("heading", name="Este enlace ya no se puede usar")).to_be_visible()


def _renew_with_errors_es(page, site):
    page.goto(f"/my/renew/{site.agreement_id}")
    page.get_by_label("Nombre de la organización", exact=True).fill("")
    page.get_by_role("button", name="Enviar renovación").click()
    expect(page.locator("#error-summary")).to_be_visible()


def _conference_roll_es(page, site):
    page.goto("/conferences")
    page.locator("#upcoming-heading ~ .cards a").first.click()
    page.get_by_role("link", name=re.compile(r"^Los Aliados ")).click()
    page.locator(".roll-grid").wait_for()


SPANISH_PAGES = {
    f"{name}-es": PAGES[name]
    for name in (
        "home",
        "become-an-ally",
        "allies",
        "allies-no-match",
        "ally",
        "conferences",
        "conference",
        "apply",
        "sign-in",
        "follow-link",
        "not-found",
        "my-applicant",
        "application-status",
        "my-ally",
        "renew",
    )
}
SPANISH_PAGES.update(
    {
        "conference-roll-es": ("public", _conference_roll_es),
        "apply-errors-es": ("public", _submit_empty("/apply", "Enviar solicitud")),
        "sign-in-errors-es": (
            "public",
            _submit_empty("/sign-in", "Envíenme un enlace de acceso"),
        ),
        "sign-in-link-sent-es": ("public", _link_sent_es),
        "link-invalid-es": ("public", _used_link_es),
        "renew-errors-es": ("ally", _renew_with_errors_es),
    }
)
SPANISH_PHONE_PAGES = ("home-es", "allies-es", "apply-errors-es", "renew-es", "conference-roll-es")


def run_axe(page, axe_source) -> list[dict]:
    """Every axe-core violation on the page as it is now."""
    page.add_script_tag(path=str(axe_source))
    return page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"
        )
        for node in violation["nodes"][:5]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {' '.join(map(str, node['target']))}: {summary}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    … and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)


# At a phone's width too, where wide tables scroll inside their own box and headers wrap.
PHONE_PAGES = ("home", "allies", "ally", "conferences", "apply-errors", "staff-dashboard")
PHONE_PAGES += ("staff-audit", "staff-audit-errors", "staff-ally-note-errors")
PHONE_PAGES += ("staff-export", "staff-erase-contact")
PHONE_PAGES += ("staff-search",)
CASES = [pytest.param(name, None, id=name) for name in PAGES] + [
    pytest.param(name, {"width": 375, "height": 812}, id=f"{name}-375") for name in PHONE_PAGES
]

CASES += [
    pytest.param(name, {"width": 375, "height": 812}, id=f"{name}-375")
    for name in CONFERENCE_PHONE_PAGES + EMBED_PHONE_PAGES
]


@pytest.mark.parametrize(("name", "viewport"), CASES)
def test_no_serious_or_critical_violations(name, viewport, axe_source, web, site):
    who, visit = PAGES[name]
    page = web.page(viewport=viewport, bypass_csp=True, storage_state=site.states[who])
    visit(page, site)
    page.wait_for_load_state()
    if who != "public":
        assert "sign-in" not in urlsplit(page.url).path, f"{name}: sent to {page.url} instead"
    web.shot(page, name)

    violations = run_axe(page, axe_source)
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{name}{'-375' if viewport else ''}.json"
    report.write_text(json.dumps({"url": page.url, "violations": violations}, indent=2))
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"axe on {page.url} ({name}):\n{describe(failing)}"


def test_conference_answer_pages(axe_source, web, site, backend):
    """The answer page an invitation links to (before and after answering) and a refused link,
    at desktop width and at 375px."""
    import sqlalchemy as sa

    from allies.conferences.models import Conference
    from allies.conferences.operations import invite_current_allies
    from allies.extensions import db
    from allies.timeutil import alliance_today

    with backend.app.app_context():
        conference = db.session.scalar(
            sa.select(Conference)
            .where(Conference.dates_year_only.is_(False))
            .order_by(Conference.start_date.desc())
        )
        invite_current_allies(conference, staff=None, today=alliance_today())
    answer = re.compile(r"https?://[^\s/]+(/conferences/\d+/answer/[A-Za-z0-9._\-]+)")
    path = next(
        match.group(1)
        for _subject, body in backend.emails_to(site.ally_email)
        if (match := answer.search(body))
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    for viewport, suffix in ((None, ""), ({"width": 375, "height": 812}, "-375")):
        page = web.page(viewport=viewport, bypass_csp=True)
        for name, visit in (
            ("conference-answer", lambda p: p.goto(path)),
            ("conference-answer-errors", _answer_without_people),
            ("conference-answered", _answer),
            ("conference-answer-invalid", lambda p: p.goto(path[:-3] + "xyz")),
        ):
            visit(page)
            page.wait_for_load_state()
            web.shot(page, name + suffix)
            violations = run_axe(page, axe_source)
            report = REPORTS / f"{name}{suffix}.json"
            report.write_text(json.dumps({"url": page.url, "violations": violations}, indent=2))
            failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
            assert not failing, f"axe on {page.url} ({name}{suffix}):\n{describe(failing)}"


def _answer_without_people(page):
    page.get_by_label("Yes, we will attend").check()
    page.get_by_label("How many people will come?").fill("")
    page.get_by_role("button", name="Save answer").click()
    expect(page.locator("#error-summary")).to_be_visible()


def _answer(page):
    page.get_by_label("Yes, we will attend").check()
    page.get_by_label("How many people will come?").fill("2")
    page.get_by_role("button", name="Save answer").click()
    expect(page.get_by_text("your answer is saved")).to_be_visible()


SPANISH_CASES = [pytest.param(name, None, id=name) for name in SPANISH_PAGES] + [
    pytest.param(name, {"width": 375, "height": 812}, id=f"{name}-375")
    for name in SPANISH_PHONE_PAGES
]


@pytest.mark.parametrize(("name", "viewport"), SPANISH_CASES)
def test_spanish_pages_have_no_serious_or_critical_violations(
    name, viewport, axe_source, web, site
):
    """Each public and contact page in Spanish: <html lang="es">, and axe clean."""
    who, visit = SPANISH_PAGES[name]
    page = web.page(viewport=viewport, bypass_csp=True, storage_state=site.states[who])
    # as the language switch leaves it (the browser's own language is English here)
    page.context.add_cookies([{"name": "lang", "value": "es", "url": web.server.url}])
    visit(page, site)
    page.wait_for_load_state()
    if who != "public":
        assert "sign-in" not in urlsplit(page.url).path, f"{name}: sent to {page.url} instead"
    assert page.locator("html").get_attribute("lang") == "es", name
    web.shot(page, name)
    violations = run_axe(page, axe_source)
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{name}{'-375' if viewport else ''}.json"
    report.write_text(json.dumps({"url": page.url, "violations": violations}, indent=2))
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"axe on {page.url} ({name}):\n{describe(failing)}"
