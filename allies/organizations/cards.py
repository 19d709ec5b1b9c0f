"""The Ally cards of the public lists, each rendered once for what it shows.

A card shows an organization's name, logo, type, place, description and site, its "Ally since"
year and whether it is renewing, in one language. A change to any Ally changes the content
version and so every cached page, but leaves nearly every card as it was: a card is kept under
everything it shows (``card_key``), not under the version, so the pages rendered after a change
reuse the cards of the Allies that did not change. A card whose Ally changed has a new key; the
old one is never asked for again and ages out of the bounded cache (``CARD_CACHE_BYTES``, about
1 KB a card: 16 MiB holds 10,000 Allies in both languages' most visited cards).
"""

import hashlib

from flask import current_app, render_template, request
from markupsafe import Markup

from allies.cache import card_cache
from allies.i18n import current_language
from allies.organizations.queries import ListedAlly

CARD_MACROS = "organizations/_ally.html"


def card_key(ally: ListedAlly, heading: str) -> bytes:
    """A digest of everything a card shows and what its markup depends on: 16 bytes, where the
    values themselves would hold a description's worth in memory for every card kept."""
    org = ally.org
    shown = (
        current_language(),
        request.script_root,
        heading,
        ally.since,
        ally.renewing,
        org.id,
        org.slug,
        org.name,
        org.logo_filename,
        org.type.name if org.type else None,
        org.city,
        org.region,
        org.country,
        org.description,
        org.website,
    )
    return hashlib.blake2b(repr(shown).encode(), digest_size=16).digest()


def render_cards(allies: list[ListedAlly], heading: str) -> Markup:
    """The list of cards for ``allies`` (templates/organizations/_cards.html), each card from
    the cache when an identical one was rendered before."""
    macros = current_app.jinja_env.get_template(CARD_MACROS).module
    cards = []
    for ally in allies:
        key = card_key(ally, heading)
        html = card_cache.get(key)
        if html is None:
            html = Markup(macros.card(ally, heading))
            card_cache.put(key, html)
        cards.append(html)
    return Markup(render_template("organizations/_cards.html", cards=cards))
