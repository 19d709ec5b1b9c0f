"""The Ally cards of the public lists are rendered once for what they show
(allies/organizations/cards.py): a change shows at once, and an unchanged card is reused."""

from datetime import date, timedelta

from allies.cache import card_cache, public_cache
from allies.extensions import db
from allies.organizations.models import Organization


def _card_of(html: str, name: str) -> str:
    start = html.rindex('<li class="card">', 0, html.index(f">{name}</a>"))
    return html[start : html.index("</li>", start)]


def test_an_unchanged_card_is_reused_after_the_content_changes(app, client, factory):
    factory.ally(name="Steady Clinic")
    card_cache.clear()
    first = client.get("/allies").get_data(as_text=True)
    assert len(card_cache) == 1
    factory.ally(name="Newcomer Network")  # a change: every page is stale, Steady's card is not
    second = client.get("/allies").get_data(as_text=True)
    assert len(card_cache) == 2  # only the newcomer's card was rendered
    assert _card_of(second, "Steady Clinic") == _card_of(first, "Steady Clinic")
    assert ">Newcomer Network</a>" in second


def test_a_card_shows_a_change_to_anything_it_shows(app, client, factory):
    organization_id, _agreement = factory.ally(name="Changing Clinic")
    card_cache.clear()
    before = _card_of(client.get("/allies").get_data(as_text=True), "Changing Clinic")
    assert "Chicago" not in before
    with app.app_context():
        organization = db.session.get(Organization, organization_id)
        organization.city = "Chicago"
        organization.description = "Now teaching in Chicago."
        db.session.commit()
    # Written directly, the change bumps no content version: the pages are dropped by hand, and
    # the card's key, holding what it shows, still gives the new card.
    public_cache.clear()
    after = _card_of(client.get("/allies").get_data(as_text=True), "Changing Clinic")
    assert "Chicago" in after and "Now teaching in Chicago." in after
    assert len(card_cache) == 2  # the old card is not served for the new one


def test_the_renewal_badge_and_the_language_are_part_of_the_card(app, client, factory):
    today = date.today()
    factory.ally(start=today - timedelta(days=740), name="Graceful Org")  # in grace
    english = _card_of(client.get("/allies").get_data(as_text=True), "Graceful Org")
    assert "Renewal in progress" in english
    page = client.get("/allies", headers={"Accept-Language": "es"}).get_data(as_text=True)
    spanish = _card_of(page, "Graceful Org")
    assert "Renewal in progress" not in spanish and "Renovación en curso" in spanish
