"""Journeys through the real site, as people do them with keyboard and mouse.

Elements are found by their visible labels and roles, so a renamed label or a button that is not
a button fails here as it would fail a person using a screen reader.
"""

from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from playwright.sync_api import expect


def long_date(day: date) -> str:
    """A date as the English pages write it: "6 January 2027", no leading zero (a test using
    ``%d`` passed on days 10 to 31 only)."""
    return f"{day.day} {day:%B %Y}"


pytestmark = pytest.mark.browser


def make_logo(path):
    """A small PNG logo, as an applicant would have on their computer."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 160), "#0f766e")
    draw = ImageDraw.Draw(image)
    draw.ellipse((70, 30, 170, 130), fill="#fde68a")
    draw.rectangle((20, 120, 220, 140), fill="#ffffff")
    image.save(path, "PNG")
    return path


def fill_organization(page, name, website, *, city="Duluth"):
    page.get_by_label("Organization name", exact=True).fill(name)
    page.get_by_label("Website", exact=True).fill(website)
    page.get_by_label("Type of organization").select_option(label="Community organization")
    if city:
        page.get_by_label("City", exact=True).fill(city)
    page.get_by_label("State, province or region").fill("MN")
    page.get_by_label("Country", exact=True).fill("USA")
    page.get_by_label("Short public description").fill(
        "Community health workers and nursing students serving the rural north shore together."
    )


def fill_contact(page, email):
    page.get_by_label("Your full name").fill("María López")
    page.get_by_label("Your job title").fill("Director of Community Programs")
    page.get_by_label("Your email").fill(email)
    page.get_by_label("Phone (optional)").fill("+1 218 555 0142")
    page.get_by_label("How does your organization support the alliance's mission?").fill(
        "Our students train in the communities they will serve, with community members as teachers."
    )


def tick_with_keyboard(page, checkbox):
    """Tab onto a checkbox and press Space, as a keyboard user does."""
    page.keyboard.press("Tab")
    expect(checkbox).to_be_focused()
    page.keyboard.press("Space")
    expect(checkbox).to_be_checked()


def expect_image_loaded(locator) -> None:
    """The image is shown and its file really loaded (not a broken-image icon)."""
    expect(locator).to_be_visible()
    locator.scroll_into_view_if_needed()  # logos on the cards load lazily
    locator.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=locator.element_handle()
    )


def term_end(start: date, years: int) -> date:
    """The day before the ``years``-th anniversary of ``start`` (29 February's is 1 March)."""
    try:
        anniversary = start.replace(year=start.year + years)
    except ValueError:
        anniversary = date(start.year + years, 3, 1)
    return anniversary - timedelta(days=1)


def test_apply_with_a_logo_then_staff_approve_and_the_ally_is_listed(web, backend, tmp_path):
    name = "Riverbend Community Health Collaborative"
    email = "maria.lopez@riverbend.example.org"
    logo = make_logo(tmp_path / "riverbend-logo.png")

    # An applicant finds the programme from the home page and applies.
    page = web.page()
    page.goto("/")
    web.shot(page, "home")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Become an Ally").click()
    expect(page.get_by_role("heading", name="Become an Ally", level=1)).to_be_visible()
    web.shot(page, "become-an-ally")
    page.get_by_role("link", name="Apply to become an Ally").click()
    expect(page.get_by_role("heading", name="Apply to become an Ally", level=1)).to_be_visible()
    web.shot(page, "apply-empty")

    fill_organization(page, name, "https://riverbend.example.org")
    page.get_by_label("Logo (optional)").set_input_files(logo)
    fill_contact(page, email)
    # From the support statement, the keyboard: Tab to each endorsement, Space to tick it,
    # Tab on to the signer's fields and type.
    page.get_by_label("How does your organization support the alliance's mission?").focus()
    for kind in ("mission", "vision", "values"):
        tick_with_keyboard(page, page.get_by_label(f"We endorse the {kind}", exact=True))
    page.keyboard.press("Tab")
    expect(page.get_by_label("Signer's full name")).to_be_focused()
    page.keyboard.type("Dr. Ada Whitefeather")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Signer's title")).to_be_focused()
    page.keyboard.type("Executive Director")
    web.shot(page, "apply-filled")
    page.get_by_role("button", name="Send application").click()

    expect(
        page.get_by_role("heading", name="Thank you: we received your application")
    ).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    web.shot(page, "thanks")
    assert backend.emails_to(email), "the applicant was not emailed"

    # A reviewer signs in, opens the application from the dashboard and approves it.
    staff_email, staff_password = backend.staff("reviewer")
    staff = web.page()
    web.sign_in_staff(staff, staff_email, staff_password)
    row = staff.get_by_role("row").filter(has=staff.get_by_role("link", name=name, exact=True))
    expect(row).to_contain_text("submitted")
    row.get_by_role("link", name=name, exact=True).click()
    expect(staff.get_by_role("heading", name=f"Application: {name}")).to_be_visible()
    review_logo = staff.get_by_role("img", name=f"{name} logo")
    expect_image_loaded(review_logo)
    expect(staff.get_by_label("Agreement starts on")).to_have_value(backend.today().isoformat())
    web.shot(staff, "review")
    staff.get_by_role("button", name="Approve").click()
    expect(staff.get_by_text(f"Approved: {name} is an Ally.")).to_be_visible()
    web.shot(staff, "approved")

    # The public finds the new Ally, with its logo, on the recognition page.
    public = web.page()
    public.goto("/allies")
    public.get_by_label("Search by name").fill("Riverbend")
    public.get_by_role("button", name="Show Allies").click()
    expect(public.get_by_text("1 Ally matches your search")).to_be_visible()
    card = public.get_by_role("listitem").filter(
        has=public.get_by_role("link", name=name, exact=True)
    )
    card_logo = card.get_by_role("img", name=f"{name} logo")
    expect_image_loaded(card_logo)
    web.shot(public, "allies-search")
    card.get_by_role("link", name=name, exact=True).click()
    expect(public.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect_image_loaded(public.get_by_role("img", name=f"{name} logo"))
    expect(public.get_by_text(f"Ally since {backend.today().year}")).to_be_visible()
    web.shot(public, "ally-page")
    public.goto("/allies")
    expect(public.get_by_role("link", name=name, exact=True)).to_be_visible()
    web.shot(public, "allies")

    listing = public.request.get("/allies.json").json()
    entry = next(ally for ally in listing["allies"] if ally["name"] == name)
    assert entry["logo_url"] and entry["website"] == "https://riverbend.example.org"
    web.assert_no_console_errors()


def test_a_form_error_keeps_everything_typed_including_the_logo(web, backend, tmp_path):
    name = "Northshore Rural Health Educators"
    logo = make_logo(tmp_path / "northshore.png")
    page = web.page()
    page.goto("/apply")

    # City left out, a mistyped email, and the values not endorsed.
    fill_organization(page, name, "https://northshore.example.org", city="")
    page.get_by_label("Logo (optional)").set_input_files(logo)
    fill_contact(page, "maria at northshore")
    page.get_by_label("We endorse the mission", exact=True).check()
    page.get_by_label("We endorse the vision", exact=True).check()
    page.get_by_label("Signer's full name").fill("Dr. Ada Whitefeather")
    page.get_by_label("Signer's title").fill("Executive Director")
    web.shot(page, "apply-with-mistakes")
    page.get_by_role("button", name="Send application").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.get_by_role("heading")).to_have_text("Please correct 3 fields")
    expect(summary).to_be_focused()  # moved there so screen readers read it first
    for label in ("City", "Your email", "We endorse the values"):
        expect(summary.get_by_role("link", name=label)).to_be_visible()
    web.shot(page, "apply-errors")

    # Everything typed is still there, the ticks and the logo too.
    expect(page.get_by_label("Organization name", exact=True)).to_have_value(name)
    expect(page.get_by_label("Website", exact=True)).to_have_value("https://northshore.example.org")
    expect(page.get_by_label("Type of organization")).to_have_value(
        page.get_by_label("Type of organization")
        .locator("option", has_text="Community organization")
        .get_attribute("value")
    )
    expect(page.get_by_label("State, province or region")).to_have_value("MN")
    expect(page.get_by_label("Short public description")).to_have_value(
        "Community health workers and nursing students serving the rural north shore together."
    )
    expect(page.get_by_label("Your full name")).to_have_value("María López")
    expect(page.get_by_label("Your email")).to_have_value("maria at northshore")
    expect(page.get_by_label("Phone (optional)")).to_have_value("+1 218 555 0142")
    expect(
        page.get_by_label("How does your organization support the alliance's mission?")
    ).to_have_value(
        "Our students train in the communities they will serve, with community members as teachers."
    )
    expect(page.get_by_label("We endorse the mission", exact=True)).to_be_checked()
    expect(page.get_by_label("We endorse the vision", exact=True)).to_be_checked()
    expect(page.get_by_label("We endorse the values", exact=True)).not_to_be_checked()
    expect(page.get_by_label("Signer's full name")).to_have_value("Dr. Ada Whitefeather")
    expect(page.get_by_text("Logo received")).to_be_visible()
    expect_image_loaded(page.get_by_role("img", name="The logo you sent"))

    # The person follows the summary's links to each field and fixes it.
    summary.get_by_role("link", name="City").click()
    expect(page.get_by_label("City", exact=True)).to_be_focused()
    page.keyboard.type("Two Harbors")
    summary.get_by_role("link", name="Your email").click()
    expect(page.get_by_label("Your email")).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("maria@northshore.example.org")
    summary.get_by_role("link", name="We endorse the values").click()
    values = page.get_by_label("We endorse the values", exact=True)
    expect(values).to_be_focused()
    page.keyboard.press("Space")
    expect(values).to_be_checked()
    web.shot(page, "apply-corrected")
    page.get_by_role("button", name="Send application").click()

    expect(
        page.get_by_role("heading", name="Thank you: we received your application")
    ).to_be_visible()
    web.shot(page, "thanks")
    _id, _slug, logo_file = backend.organization(name)
    assert logo_file, "the logo sent with the first, failed, submission was lost"
    web.assert_no_console_errors()


def test_renewal_from_the_reminder_link_to_the_new_end_date(web, backend, server):
    today = backend.today()
    name = "Lakeside Nursing Education Network"
    email = "renewals@lakeside.example.org"
    start = today - relativedelta(months=23)  # the term ends about a month from now
    org_id, agreement_id = backend.factory.ally(start=start, name=name, email=email)
    [(_, _, end)] = backend.agreements_of(org_id)
    new_start, new_end = end + timedelta(days=1), term_end(start, 4)

    # The daily job runs on the day the 30-day reminder falls due (within the last few days,
    # so the link is fresh) and emails the contact a renewal link.
    due = end - timedelta(days=30)
    assert today - timedelta(days=7) <= due <= today
    printed = server.flask("reminders", "run", "--today", due.isoformat())
    assert f"before_30 agreement {agreement_id} to {email}" in printed, printed
    link = backend.link_in_email(email, subject_contains="agreement ends")
    assert f"/my/renew/{agreement_id}" in link.replace("%2F", "/")

    # The contact follows it, checks the profile, endorses the texts again and submits.
    contact = web.page()
    web.follow_link(contact, link, "reminder-link")
    expect(contact.get_by_role("heading", name=f"Renew {name}'s Ally agreement")).to_be_visible()
    expect(contact.get_by_text(long_date(end))).to_be_visible()
    expect(contact.get_by_label("Organization name", exact=True)).to_have_value(name)
    web.shot(contact, "renew")
    # The profile predates organization types: the contact chooses one and updates the text.
    contact.get_by_label("Type of organization").select_option(label="Network or coalition")
    description = contact.get_by_label("Short public description")
    description.fill("Nursing schools around the lake, educating nurses for rural communities.")
    for kind in ("mission", "vision", "values"):
        contact.get_by_label(f"We endorse the {kind}", exact=True).click()
    contact.get_by_label("Signer's full name").fill("Jordan Lee")
    contact.get_by_label("Signer's title").fill("Dean of Nursing")
    web.shot(contact, "renew-filled")
    contact.get_by_role("button", name="Send renewal").click()
    expect(
        contact.get_by_role("heading", name="Thank you: your renewal is with us")
    ).to_be_visible()
    web.shot(contact, "renewal-sent")

    # A reviewer opens the renewal from the dashboard and approves it.
    staff_email, staff_password = backend.staff("reviewer")
    staff = web.page()
    web.sign_in_staff(staff, staff_email, staff_password)
    row = staff.get_by_role("row").filter(has=staff.get_by_role("link", name=name, exact=True))
    expect(row).to_contain_text("renewal")
    row.get_by_role("link", name=name, exact=True).click()
    expect(staff.get_by_role("heading", name=f"Renewal: {name}")).to_be_visible()
    expect(staff.get_by_text("Jordan Lee, Dean of Nursing")).to_be_visible()
    web.shot(staff, "review-renewal")
    staff.get_by_role("button", name="Approve").click()
    renewed_until = f"{new_end.day} {new_end:%B %Y}"
    expect(staff.get_by_text(f"Approved: {name} is renewed until {renewed_until}.")).to_be_visible()
    web.shot(staff, "renewal-approved")
    staff.get_by_role("link", name="Open the Ally's page").click()
    expect(staff.get_by_role("heading", name=name, level=1)).to_be_visible()
    new_term = f"{new_start:%d %b %Y} to {new_end:%d %b %Y}"
    expect(staff.get_by_role("heading", name=new_term)).to_be_visible()
    expect(
        staff.get_by_text(f"Renewed by the term starting {new_start.isoformat()}")
    ).to_be_visible()
    web.shot(staff, "staff-ally-page")

    # The renewal link opened only the renewal: for their page the contact asks for a sign-in
    # link, follows it, and sees the new term.
    expect(contact.get_by_role("link", name="My organization")).to_have_count(0)
    contact.get_by_role("link", name="Ally sign-in").click()
    contact.get_by_label("Email address").fill(email)
    web.shot(contact, "request-link")
    contact.get_by_role("button", name="Email me a sign-in link").click()
    expect(contact.get_by_role("heading", name="Check your email")).to_be_visible()
    web.shot(contact, "link-sent")
    # The scheduler delivers it: with no mail server, to a file in instance/mail/, which keeps the
    # link; the outbox's stored copy keeps none.
    assert "sent " in server.flask("outbox", "send")
    web.follow_link(contact, backend.link_in_email(email, subject_contains="sign"), "sign-in-link")
    expect(contact.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(contact.get_by_text(f"{long_date(new_start)} to {long_date(new_end)}")).to_be_visible()
    web.shot(contact, "my")
    assert [row[1:] for row in backend.agreements_of(org_id)] == [
        (start, end),
        (new_start, new_end),
    ]
    web.assert_no_console_errors()
