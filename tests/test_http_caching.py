"""HTTP caching of the public pages: validators, Cache-Control, 304s, compression, HEAD.

Public pages (allies/public_http.py) carry a strong ETag, Last-Modified and
``Cache-Control: public, …``; pages with a personal part (a session cookie) carry none of it; a
conditional request is answered 304 without rendering; compressed bodies decode to the same
bytes. Cached hits are answered before Flask, so they open no session and run no hook.
"""

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import brotli
import pytest
import sqlalchemy as sa
from werkzeug.http import http_date, parse_date

from allies.cache import ContentVersion, public_cache
from allies.conferences.models import Conference
from allies.extensions import db
from allies.organizations.models import Organization
from allies.timeutil import utcnow
from allies.web import FRAMABLE_PATHS
from tests.fixtures import png_bytes, sign_in_contact

# The alliance's date (TIMEZONE is UTC in tests): the real one, so Last-Modified is in the past.
TODAY = datetime.now(UTC).date()
DAY_START = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
PUBLIC_CONTROL = "public, max-age=60, stale-while-revalidate=300"


@pytest.fixture
def site(app, factory):
    """One Ally and one conference, the clock set to TODAY; the public URLs that show them."""
    app.config["TODAY"] = TODAY
    organization_id, _ = factory.ally(start=TODAY - timedelta(days=100))
    with app.app_context():
        slug = db.session.get(Organization, organization_id).slug
        conference = Conference(
            title="Health Equity Together",
            place="Lima, Peru",
            start_date=TODAY - timedelta(days=30),
            end_date=TODAY - timedelta(days=28),
        )
        db.session.add(conference)
        db.session.commit()
        conference_id = conference.id
        # The content last changed ten days ago (before today began).
        db.session.execute(
            sa.update(ContentVersion).values(changed_at=utcnow() - timedelta(days=10))
        )
        db.session.commit()
    return {
        "organization_id": organization_id,
        "slug": slug,
        "urls": [
            "/",
            "/become-an-ally",
            "/allies",
            f"/allies/{slug}",
            "/allies.json",
            "/conferences",
            f"/conferences/{conference_id}",
            f"/conferences/{conference_id}/allies",
            f"/conferences/{conference_id}/allies.csv",
            "/allies.atom",
            "/embed/allies",
        ],
    }


def _pages() -> int:
    """How many whole pages the cache holds (fragments are kept beside them)."""
    return sum(1 for key in public_cache._entries if key[0] == "page")


def test_every_public_page_carries_validators_and_cache_control(app, client, site):
    for url in site["urls"]:
        response = client.get(url)
        assert response.status_code == 200, url
        etag, _weak = response.get_etag()
        assert etag and not _weak, url
        assert response.headers["Cache-Control"] == PUBLIC_CONTROL, url
        assert {"Accept-Encoding", "Cookie"} <= set(response.vary), url
        # not before the start of the alliance's day (statuses change with the date)
        assert parse_date(response.headers["Last-Modified"]) == DAY_START, url
        if url not in FRAMABLE_PATHS:  # the embed's own policy: tests/organizations/test_feeds.py
            assert response.headers["X-Frame-Options"] == "DENY", url  # security headers kept
    assert client.get(site["urls"][3]).headers["ETag"] != client.get("/allies").headers["ETag"]


def test_every_whole_page_cached_view_is_checked_here(app, site):
    """A public page added later is in the list above (or this test names it)."""
    cached_rules = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "public_query", None) is not None
    }
    expected = {
        "/",
        "/become-an-ally",
        "/allies",
        "/allies/<slug>",
        "/allies.json",
        "/conferences",
        "/conferences/<int:conference_id>",
        "/conferences/<int:conference_id>/allies",
        "/conferences/<int:conference_id>/allies.csv",
        "/allies.atom",
        "/embed/allies",
    }
    assert expected <= cached_rules
    assert cached_rules - expected <= {"/allies/all.json"}, "a new public page to test"


def test_a_signed_in_contact_gets_personal_pages_without_validators(app, client, site):
    sign_in_contact(app, client, site["organization_id"])
    for url in ("/", "/allies", f"/allies/{site['slug']}"):
        response = client.get(url)
        assert response.status_code == 200
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers
        assert response.headers["Cache-Control"] == "private, no-store"
        assert "Cookie" in response.vary
        assert "My organization" in response.text  # rendered for them, not from the cache


def test_a_staff_member_gets_personal_pages_without_validators(app, client, auth, site):
    auth.login("reviewer")
    response = client.get("/allies")
    assert response.status_code == 200
    assert "ETag" not in response.headers
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_page_with_a_flashed_message_is_personal_and_the_next_is_public(app, client, site):
    sign_in_contact(app, client, site["organization_id"])
    assert client.post("/my/sign-out").status_code == 302
    flashed = client.get("/")
    assert "You are signed out." in flashed.text
    assert "ETag" not in flashed.headers
    assert flashed.headers["Cache-Control"] == "private, no-store"
    assert "You are signed out." not in client.get("/").text  # shown once


def test_if_none_match_answers_304_without_rendering(app, client, site):
    first = client.get("/allies")
    etag = first.headers["ETag"]
    again = client.get("/allies", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == PUBLIC_CONTROL
    assert client.get("/allies", headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get("/allies", headers={"If-None-Match": f"W/{etag}"}).status_code == 304

    # Another worker (an empty cache): the ETag proves the page, so nothing is rendered.
    public_cache.clear()
    assert client.get("/allies", headers={"If-None-Match": etag}).status_code == 304
    assert _pages() == 0  # no page was made


def test_if_modified_since_answers_304(app, client, site):
    first = client.get(f"/allies/{site['slug']}")
    modified = first.headers["Last-Modified"]
    assert (
        client.get(f"/allies/{site['slug']}", headers={"If-Modified-Since": modified}).status_code
        == 304
    )
    earlier = http_date(parse_date(modified) - timedelta(seconds=1))
    response = client.get(f"/allies/{site['slug']}", headers={"If-Modified-Since": earlier})
    assert response.status_code == 200 and response.data == first.data
    # If-None-Match wins over If-Modified-Since
    both = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert client.get(f"/allies/{site['slug']}", headers=both).status_code == 200


def test_a_committed_profile_change_changes_the_etag_and_the_page(app, client, site):
    url = f"/allies/{site['slug']}"
    before = client.get(url)
    with app.app_context():
        db.session.get(Organization, site["organization_id"]).description = "Now in Spanish too."
        db.session.commit()
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert "Now in Spanish too." in after.text
    assert parse_date(after.headers["Last-Modified"]) >= parse_date(before.headers["Last-Modified"])


def test_the_next_day_changes_the_etag(app, client, site):
    today = client.get("/allies")
    app.config["TODAY"] = TODAY + timedelta(days=1)
    tomorrow = client.get("/allies", headers={"If-None-Match": today.headers["ETag"]})
    assert tomorrow.status_code == 200
    assert tomorrow.headers["ETag"] != today.headers["ETag"]
    # Last-Modified is never before the day began (here tomorrow, on a clock set ahead: now)
    assert parse_date(tomorrow.headers["Last-Modified"]) > parse_date(
        today.headers["Last-Modified"]
    )
    stale = client.get("/allies", headers={"If-Modified-Since": today.headers["Last-Modified"]})
    assert stale.status_code == 200


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_compressed_bodies_decode_to_the_same_bytes(app, client, site, encoding):
    decode = gzip.decompress if encoding == "gzip" else brotli.decompress
    for url in site["urls"]:
        plain = client.get(url)
        if len(plain.data) < app.config["PUBLIC_COMPRESS_MIN_BYTES"]:
            continue  # sent as it is (another test)
        packed = client.get(url, headers={"Accept-Encoding": f"{encoding}, deflate"})
        assert packed.headers["Content-Encoding"] == encoding
        assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
        assert decode(packed.data) == plain.data
        assert packed.headers["ETag"] not in (plain.headers["ETag"], None)
        # each variant's ETag validates that variant
        again = client.get(
            url,
            headers={"Accept-Encoding": encoding, "If-None-Match": packed.headers["ETag"]},
        )
        assert again.status_code == 304


def test_the_encoding_follows_the_weights_and_small_bodies_are_sent_plain(app, client, site):
    weighted = client.get("/allies", headers={"Accept-Encoding": "br;q=0, gzip;q=0.5"})
    assert weighted.headers["Content-Encoding"] == "gzip"
    refused = client.get("/allies", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers
    app.config["PUBLIC_COMPRESS_MIN_BYTES"] = 10**9
    public_cache.clear()
    small = client.get("/allies", headers={"Accept-Encoding": "gzip, br"})
    assert "Content-Encoding" not in small.headers


def test_a_compressed_variant_is_made_once_and_counted(app, client, site):
    client.get("/allies")
    held = public_cache.bytes
    first = client.get("/allies", headers={"Accept-Encoding": "br"})
    grown = public_cache.bytes
    assert grown == held + len(first.data) + 1024
    client.get("/allies", headers={"Accept-Encoding": "br"})
    assert public_cache.bytes == grown


def test_head_answers_the_headers_of_get(app, client, site):
    for url in ("/allies", "/allies.json"):
        got = client.get(url)
        for _ in range(2):  # a miss, then a hit
            head = client.head(url)
            assert head.status_code == 200 and head.data == b""
            assert head.headers["ETag"] == got.headers["ETag"]
            assert head.headers["Content-Length"] == got.headers["Content-Length"]
            public_cache.clear()


def test_a_cached_hit_runs_no_flask_hook(app, client, site):
    """No session, CSRF, rate limiter or template: no before_request hook runs at all."""
    seen = []
    app.before_request(lambda: seen.append(1))
    client.get("/allies?page=1")
    assert len(seen) == 1  # the miss, rendered by Flask
    for _ in range(5):
        response = client.get("/allies")
        assert response.status_code == 200
    assert len(seen) == 1
    assert "Set-Cookie" not in response.headers


def test_junk_parameters_and_host_headers_share_one_entry(app, client, site):
    reference = client.get("/allies")
    entries = _pages()
    for n in range(30):
        response = client.get(
            f"/allies?page=01&x=junk{n}&type=abc",
            headers={"Host": f"visitor{n}.example.net"},
        )
        assert response.data == reference.data
        assert response.headers["ETag"] == reference.headers["ETag"]
    for n in range(30):
        client.get(f"/allies/{site['slug']}?utm_source={n}", headers={"Host": f"h{n}.example"})
    assert _pages() == entries + 1  # the Ally's page, once


def test_the_view_sees_only_the_parameters_it_declares(app, client, site):
    """A search reaches the page; a parameter the page does not declare never does."""
    found = client.get(f"/allies?q={site['slug'][:6]}")
    assert "your search" in found.text
    assert "junk" not in client.get("/allies?junk=junk").text


def test_logos_are_kept_for_a_year_and_revalidate(app, client):
    name = "0123456789abcdef0123456789abcdef.png"
    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(png_bytes((20, 10)))
    response = client.get(f"/logos/{name}")
    assert response.status_code == 200
    assert response.cache_control.max_age == 365 * 24 * 3600
    assert response.cache_control.public and response.cache_control.immutable
    etag = response.headers["ETag"]
    assert client.get(f"/logos/{name}", headers={"If-None-Match": etag}).status_code == 304
    response.close()


def test_a_page_that_is_not_found_is_not_kept_and_has_no_validators(app, client, site):
    entries = _pages()
    for n in range(20):
        response = client.get(f"/allies/no-such-ally-{n}")
        assert response.status_code == 404
        assert "ETag" not in response.headers
    assert client.get("/allies?page=999").status_code == 404
    assert _pages() == entries
