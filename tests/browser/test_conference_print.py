"""The recognition roll printed: with print media emulated, only the heading, logos and names
show (no navigation, no footer, no links); a screenshot is kept in test-output/."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


def test_the_roll_prints_one_clean_sheet_of_logos_and_names(web, site):
    page = web.page()
    page.goto("/conferences")
    page.locator("#upcoming-heading ~ .cards a").first.click()
    page.get_by_role("link", name="The Allies to be recognised at this conference").click()
    page.locator(".roll-grid").wait_for()
    assert page.locator(".site-header").is_visible()  # on screen, the navigation shows
    assert page.locator(".roll-item").count() >= 1

    page.emulate_media(media="print")
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "conference-roll-print.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    for hidden in (".site-header", ".site-footer", "nav", ".roll-tools"):
        assert not page.locator(hidden).first.is_visible(), hidden
    assert page.locator(".roll-grid .logo").first.is_visible()
    assert page.locator(".roll-name").first.is_visible()
    assert page.get_by_role("heading", level=1).is_visible()
    # Four to a row on the printed sheet.
    columns = page.locator(".roll-grid").evaluate(
        "grid => getComputedStyle(grid).gridTemplateColumns.split(' ').length"
    )
    assert columns == 4
    web.assert_no_console_errors()
