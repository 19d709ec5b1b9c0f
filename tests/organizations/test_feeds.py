"""The pages for other sites (issue 12): the Atom feed of new Allies, the roll partners embed
with its own framing policy, the social cards and canonical URLs of the public pages."""

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import feedparser
import pytest
import sqlalchemy as sa

from allies.extensions import db
from allies.organizations.models import Organization, OrganizationType
from allies.timeutil import alliance_today

ATOM = "{http://www.w3.org/2005/Atom}"


def _today(app) -> date:
    with app.app_context():
        return alliance_today()


def _set(app, organization_id: int, **values) -> None:
    """Change an organization's row as an import or a staff edit would have left it."""
    with app.app_context():
        org = db.session.get(Organization, organization_id)
        for name, value in values.items():
            setattr(org, name, value)
        db.session.commit()


def _feed(client):
    response = client.get("/allies.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    return response, ET.fromstring(response.data)


# --- the Atom feed ----------------------------------------------------------------------------


def test_feed_lists_current_allies_newest_first_with_the_required_elements(app, client, factory):
    today = _today(app)
    old, _ = factory.ally(start=today - timedelta(days=400), name="Older Ally")
    new, _ = factory.ally(start=today - timedelta(days=3), name="Newest Ally")
    mid, _ = factory.ally(start=today - timedelta(days=40), name="Middle Ally")
    # Imported with its own history: an Ally since long before its term here began.
    imported, _ = factory.ally(start=today - timedelta(days=1), name="Imported Ally")
    _set(app, imported, ally_since=today - timedelta(days=3000))
    # Lapsed (term ended long ago): not a current Ally, so not in the feed.
    factory.ally(start=today - timedelta(days=1000), name="Lapsed Ally")

    response, feed = _feed(client)
    assert response.headers["ETag"] and "public" in response.headers["Cache-Control"]
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{name}") is not None, name
    assert feed.find(f"{ATOM}author/{ATOM}name").text == "Social Mission Alliance"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {
        "self": "http://allies.test/allies.atom",
        "alternate": "http://allies.test/allies",
    }
    entries = feed.findall(f"{ATOM}entry")
    titles = [entry.find(f"{ATOM}title").text for entry in entries]
    assert titles == ["Newest Ally", "Middle Ally", "Older Ally", "Imported Ally"]
    with app.app_context():
        orgs = {o.name: o for o in db.session.scalars(sa.select(Organization))}
    for entry, title in zip(entries, titles, strict=True):
        org = orgs[title]
        for name in ("id", "title", "updated", "link", "summary"):
            assert entry.find(f"{ATOM}{name}") is not None, (title, name)
        assert entry.find(f"{ATOM}id").text == (
            f"tag:allies.test,{org.created_at:%Y-%m-%d}:ally:{org.id}"
        )
        assert entry.find(f"{ATOM}link").get("href") == f"http://allies.test/allies/{org.slug}"
        assert entry.find(f"{ATOM}summary").text == org.description
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.find(f"{ATOM}updated").text)
    published = entries[0].find(f"{ATOM}published").text
    assert published == f"{today - timedelta(days=3)}T00:00:00Z"
    # The feed changed when its newest entry did.
    assert feed.find(f"{ATOM}updated").text == max(e.find(f"{ATOM}updated").text for e in entries)
    assert {new, mid, old}  # made through the real approval


def test_feed_keeps_the_last_fifty(app, client, factory):
    today = _today(app)
    for n in range(52):
        factory.ally(start=today - timedelta(days=n), name=f"Ally {n:02d}")
    _response, feed = _feed(client)
    titles = [e.find(f"{ATOM}title").text for e in feed.findall(f"{ATOM}entry")]
    assert titles == [f"Ally {n:02d}" for n in range(50)]


def test_feed_is_valid_for_a_feed_reader(app, client, factory):
    today = _today(app)
    org, _ = factory.ally(start=today, name="Salud & Equidad <Norte>")
    # A control character pasted into a description cannot be written in XML at all.
    _set(app, org, description="Clínicas comunitarias\x0b en el norte & más.")
    response, feed = _feed(client)
    summary = feed.find(f"{ATOM}entry/{ATOM}summary").text
    assert summary == "Clínicas comunitarias en el norte & más."
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.entries[0].title == "Salud & Equidad <Norte>"
    assert parsed.entries[0].link.startswith("http://allies.test/allies/")


def test_feed_is_cached_and_changes_with_the_allies(app, client, factory):
    today = _today(app)
    factory.ally(start=today - timedelta(days=5), name="First Ally")
    first = client.get("/allies.atom")
    again = client.get("/allies.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    factory.ally(start=today, name="Second Ally")
    changed = client.get("/allies.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert b"Second Ally" in changed.data


def test_an_empty_feed_is_still_a_feed(app, client):
    _response, feed = _feed(client)
    assert feed.findall(f"{ATOM}entry") == []
    assert feed.find(f"{ATOM}updated").text == f"{_today(app)}T00:00:00Z"


def test_the_allies_and_home_pages_link_to_the_feed(app, client):
    for path in ("/allies", "/"):
        html = client.get(path).get_data(as_text=True)
        assert re.search(
            r'<link rel="alternate" type="application/atom\+xml"[^>]* href="/allies.atom">', html
        ), path


# --- the embedded roll ------------------------------------------------------------------------


def _framing(response) -> tuple[str, str | None]:
    csp = response.headers["Content-Security-Policy"]
    return re.search(r"frame-ancestors ([^;]+)", csp).group(1), response.headers.get(
        "X-Frame-Options"
    )


def test_the_embed_may_be_framed_by_any_site_and_no_other_page_may(app, client, factory):
    org, _ = factory.ally(name="Framed Ally")
    first = client.get("/embed/allies")
    assert first.status_code == 200
    cached = client.get("/embed/allies")  # answered from the cache, before Flask
    assert cached.data == first.data
    not_modified = client.get("/embed/allies", headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304
    for response in (first, cached, not_modified):
        assert _framing(response) == ("*", None)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The other pages, cached or not, refuse every frame.
    with app.app_context():
        slug = db.session.get(Organization, org).slug
    for path in ("/", "/allies", f"/allies/{slug}", "/allies.atom"):
        for _ in range(2):
            assert _framing(client.get(path)) == ("'none'", "DENY"), path
    etag = client.get("/allies").headers["ETag"]
    assert _framing(client.get("/allies", headers={"If-None-Match": etag})) == ("'none'", "DENY")
    for path in ("/apply", "/staff/sign-in", "/favicon.ico"):  # forms start a session: last
        assert _framing(client.get(path)) == ("'none'", "DENY"), path
    # A page past the last is refused, but still the embed's own page.
    missing = client.get("/embed/allies?page=9")
    assert missing.status_code == 404
    assert _framing(missing) == ("*", None)


def test_the_embed_is_framable_for_signed_in_visitors_too(app, client, auth, factory):
    factory.ally(name="Framed Ally")
    auth.login("reviewer")
    response = client.get("/embed/allies")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert _framing(response) == ("*", None)


def test_the_embed_is_a_bare_roll_linking_out_in_a_new_tab(app, client, factory):
    today = _today(app)
    with app.app_context():
        types = db.session.scalars(sa.select(OrganizationType.id).order_by("id")).all()
    factory.ally(start=today, name="Alpha Clinic", type_id=types[0])
    factory.ally(start=today, name="Beta School", type_id=types[1])
    html = client.get("/embed/allies").get_data(as_text=True)
    assert '<nav aria-label="Main"' not in html and "<header" not in html
    assert "<footer" not in html and "site.css" not in html and "<script" not in html
    assert '<html lang="en">' in html
    for name in ("Alpha Clinic", "Beta School"):
        assert name in html
    links = re.findall(r'<a href="([^"]+)" target="_blank" rel="noopener">', html)
    assert "http://allies.test/allies/alpha-clinic" in links
    assert "http://allies.test/allies/beta-school" in links
    assert "http://allies.test/allies" in links
    assert len(html.encode()) < 5000  # light: a partner's page loads it on every view

    typed = client.get(f"/embed/allies?type={types[1]}").get_data(as_text=True)
    assert "Beta School" in typed and "Alpha Clinic" not in typed


def test_the_embed_speaks_the_language_asked_for(app, client, factory):
    factory.ally(name="Alpha Clinic")
    spanish = client.get("/embed/allies?lang=es")
    assert '<html lang="es">' in spanish.get_data(as_text=True)
    # An unknown language is no parameter at all: the same page, the same entry.
    plain = client.get("/embed/allies")
    unknown = client.get("/embed/allies?lang=xx&junk=1")
    assert unknown.headers["ETag"] == plain.headers["ETag"] != spanish.headers["ETag"]


def test_the_embed_pages_a_long_roll_and_links_to_the_whole_list(app, client, factory):
    from allies.organizations.feeds import EMBED_PAGE_SIZE

    today = _today(app)
    for n in range(EMBED_PAGE_SIZE + 1):
        factory.ally(start=today, name=f"Ally {n:03d}")
    first = client.get("/embed/allies").get_data(as_text=True)
    assert f"Ally {EMBED_PAGE_SIZE - 1:03d}" in first and f"Ally {EMBED_PAGE_SIZE:03d}" not in first
    assert 'rel="next" href="/embed/allies?page=2"' in first
    second = client.get("/embed/allies?page=2").get_data(as_text=True)
    assert f"Ally {EMBED_PAGE_SIZE:03d}" in second
    assert 'rel="prev" href="/embed/allies"' in second
    assert "See every Ally on our site" in second


@pytest.mark.parametrize("query", ["page=0", "page=abc", "type=999999", "type=-1", "lang=%ff"])
def test_no_embed_parameter_gives_a_server_error(app, client, query):
    assert client.get(f"/embed/allies?{query}").status_code in (200, 404)


# --- social cards and canonical URLs ----------------------------------------------------------


def _meta(html: str, key: str) -> str | None:
    match = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)">', html)
    return match.group(1) if match else None


def test_an_allys_page_previews_well(app, client, factory):
    org_id, _ = factory.ally(name="Preview Ally")
    with app.app_context():
        org = db.session.get(Organization, org_id)
        slug, description = org.slug, org.description
    html = client.get(f"/allies/{slug}").get_data(as_text=True)
    assert f'<link rel="canonical" href="http://allies.test/allies/{slug}">' in html
    assert _meta(html, "og:title") == "Preview Ally"
    assert _meta(html, "og:description") == description
    assert _meta(html, "og:url") == f"http://allies.test/allies/{slug}"
    assert _meta(html, "og:type") == "website"
    assert _meta(html, "twitter:card") == "summary"
    assert _meta(html, "og:image") is None  # no logo of its own, none of the alliance's


def test_an_allys_logo_is_the_preview_image(app, client, factory):
    from io import BytesIO

    from allies.organizations.profile import prepare_logo, save_logo
    from tests.fixtures import png_bytes

    org_id, _ = factory.ally(name="Logo Ally")
    with app.app_context():
        name = save_logo(prepare_logo(BytesIO(png_bytes())))
    _set(app, org_id, logo_filename=name)
    html = client.get("/allies/logo-ally").get_data(as_text=True)
    assert _meta(html, "og:image") == f"http://allies.test/logos/{name}"
    assert _meta(html, "twitter:image") == f"http://allies.test/logos/{name}"


def test_the_allies_page_previews_well_and_every_public_page_is_canonical(app, client, factory):
    factory.ally(name="Listed Ally")
    html = client.get("/allies?page=1&junk=2").get_data(as_text=True)
    assert '<link rel="canonical" href="http://allies.test/allies">' in html
    assert _meta(html, "og:title") == "Our Allies · Social Mission Alliance"
    assert _meta(html, "og:url") == "http://allies.test/allies"
    assert _meta(html, "twitter:card") == "summary"
    searched = client.get("/allies?q=listed").get_data(as_text=True)
    assert '<link rel="canonical" href="http://allies.test/allies?q=listed">' in searched
    for path in ("/", "/become-an-ally", "/conferences", "/apply"):
        html = client.get(path).get_data(as_text=True)
        assert f'<link rel="canonical" href="http://allies.test{path}">' in html, path
    # Staff and personal pages are nobody's canonical page.
    assert 'rel="canonical"' not in client.get("/staff/sign-in").get_data(as_text=True)


def test_pages_name_an_icon_and_the_default_icon_is_served(app, client):
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.data.startswith(b"<svg")
    assert client.get("/static/favicon.svg").status_code == 200
