"""Phone and desktop widths: no page scrolls sideways, and no ordinary word is split.

At 375 px (a small phone) and at 1280 px, ``document.documentElement.scrollWidth`` must not exceed
``window.innerWidth``; and no word of up to 20 letters is broken across lines because its box is
too narrow for it (a squeezed table column or heading showing "2 0 2 0" a letter a line). An Ally
with a very long name, website and description is on the pages, as the worst case a real list
will meet. A failure names the elements at fault.
"""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}

LONG_NAME = (
    "The International Interprofessional Consortium for Community-Oriented Social-Mission "
    "Health-Professions Education and Research"
)
LONG_WEBSITE = (
    "https://www.international-interprofessional-consortium-for-social-mission-education"
    ".example.org/about/allies-and-partners/recognition"
)


@pytest.fixture(scope="module")
def long_ally(backend):
    """An Ally whose name, site and description test the layout's limits."""
    backend.factory.ally(
        start=backend.today(),
        name=LONG_NAME,
        website=LONG_WEBSITE,
        description=(
            "Interprofessional-community-oriented-education-for-health-equity across "
            "continents; see " + LONG_WEBSITE + " for our programmes."
        ),
    )
    _id, slug, _logo = backend.organization(LONG_NAME)
    return slug


def _apply_with_errors(page, site, slug):
    page.goto("/apply")
    page.get_by_label("Organization name", exact=True).fill(LONG_NAME)
    page.get_by_label("Website", exact=True).fill(LONG_WEBSITE.replace("https://", "javascript:"))
    page.get_by_role("button", name="Send application").click()
    expect(page.locator("#error-summary")).to_be_visible()


# name: (who is signed in, how to reach the page)
PAGES = {
    "allies": ("public", lambda page, site, slug: page.goto("/allies")),
    "apply": ("public", lambda page, site, slug: page.goto("/apply")),
    "apply-errors": ("public", _apply_with_errors),
    "home": ("public", lambda page, site, slug: page.goto("/")),
    "become-an-ally": ("public", lambda page, site, slug: page.goto("/become-an-ally")),
    "ally": ("public", lambda page, site, slug: page.goto(f"/allies/{slug}")),
    "conferences": ("public", lambda page, site, slug: page.goto("/conferences")),
    "sign-in": ("public", lambda page, site, slug: page.goto("/sign-in")),
    "application-status": (
        "applicant",
        lambda page, site, slug: page.goto(f"/my/applications/{site.application_id}"),
    ),
    "renew": ("ally", lambda page, site, slug: page.goto(f"/my/renew/{site.agreement_id}")),
    "staff-dashboard": ("staff", lambda page, site, slug: page.goto("/staff")),
    "staff-review": (
        "staff",
        lambda page, site, slug: page.goto(f"/staff/applications/{site.application_id}"),
    ),
}
REQUIRED = ("allies", "apply")  # the recognition page and the form: at both widths

CASES = [pytest.param(name, PHONE, id=f"{name}-375") for name in PAGES] + [
    pytest.param(name, DESKTOP, id=f"{name}-1280") for name in (*REQUIRED, "apply-errors")
]

STICKING_OUT = """() => {
  const width = window.innerWidth;
  const out = (el) => el.getBoundingClientRect().right > width + 0.5;
  return [...document.body.querySelectorAll('*')]
    .filter((el) => out(el) && !(el.parentElement && out(el.parentElement)))
    .slice(0, 10)
    .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}"> right=` +
                 `${Math.round(el.getBoundingClientRect().right)}: ` +
                 `${(el.textContent || '').trim().slice(0, 60)}`);
}"""


# Boxes narrower than a word they hold: the browser then breaks the word (overflow-wrap: anywhere).
SPLIT_WORDS = """() => {
  const ctx = document.createElement('canvas').getContext('2d');
  const found = [];
  const boxes = 'h1, h2, h3, h4, th, td, label, legend, button, dt, dd, .badge, .stat';
  for (const el of document.querySelectorAll(boxes)) {
    const style = getComputedStyle(el);
    if (style.display.startsWith('inline') && style.display !== 'inline-block') continue;
    if (!el.offsetParent && style.position !== 'fixed') continue;  // not shown
    if (el.clientWidth <= 1 && style.overflow === 'hidden') continue;  // for screen readers only
    const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    ctx.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    for (const word of el.innerText.split(/[\\s-]+/)) {
      // Lines may break at spaces and hyphens; addresses and the like may wrap anywhere.
      if (!word || word.length > 20) continue;
      const width = ctx.measureText(word).width;
      if (width > room + 1) {
        found.push(`<${el.tagName.toLowerCase()} class="${el.className}"> "${word}" needs ` +
                   `${Math.ceil(width)} px, has ${Math.floor(room)} px`);
        break;
      }
    }
  }
  return found.slice(0, 12);
}"""


@pytest.mark.parametrize(("name", "viewport"), CASES)
def test_no_horizontal_scrolling(name, viewport, web, site, long_ally):
    who, visit = PAGES[name]
    page = web.page(viewport=viewport, storage_state=site.states[who])
    visit(page, site, long_ally)
    page.wait_for_load_state()
    web.shot(page, name)
    if name == "allies":
        expect(page.get_by_role("link", name=LONG_NAME, exact=True)).to_be_visible()
    elif name == "ally":
        expect(page.get_by_role("heading", name=LONG_NAME, level=1)).to_be_visible()
    scroll_width, inner_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= inner_width, (
        f"{page.url} at {viewport['width']} px scrolls sideways: the page is {scroll_width} px "
        f"wide in a {inner_width} px window. Sticking out:\n"
        + "\n".join(page.evaluate(STICKING_OUT))
    )
    split = page.evaluate(SPLIT_WORDS)
    assert not split, f"{page.url} at {viewport['width']} px breaks words in narrow boxes:\n" + (
        "\n".join(split)
    )
