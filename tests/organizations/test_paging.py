"""Public lists a page at a time: /allies and /allies.json page in SQL, the unpaged export, and
the window of page links every pager draws (allies/paging.py, templates/_pagination.html)."""

import re
from datetime import date

import pytest

from allies.paging import Paging, page_window

NAMES = ["Alpha Health", "Bravo Clinic", "Charlie Care", "Delta Medicine", "Echo Nursing"]


# --- the rule, on its own ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "page, pages, links",
    [
        (1, 1, [1]),
        (1, 2, [1, 2]),
        (1, 209, [1, 2, 3, None, 209]),
        (4, 10, [1, 2, 3, 4, 5, 6, None, 10]),  # no gap where none is skipped
        (100, 209, [1, None, 98, 99, 100, 101, 102, None, 209]),
        (209, 209, [1, None, 207, 208, 209]),
        (5, 7, [1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_the_window_shows_first_last_and_two_either_side(page, pages, links):
    assert page_window(page, pages) == links


def test_paging_arithmetic():
    middle = Paging(total=10, page=2, per_page=4)
    assert (middle.pages, middle.offset, middle.first, middle.last) == (3, 4, 5, 8)
    assert (middle.previous, middle.next, middle.exists) == (1, 3, True)
    last = Paging(total=10, page=3, per_page=4)
    assert (last.first, last.last, last.next) == (9, 10, None)
    assert not Paging(total=10, page=4, per_page=4).exists
    empty = Paging(total=0, page=1, per_page=4)
    assert (empty.pages, empty.exists, empty.first, empty.last) == (1, True, 0, 0)
    assert not Paging(total=0, page=2, per_page=4).exists


# --- /allies ----------------------------------------------------------------------------------


@pytest.fixture
def five_allies(app, factory, monkeypatch):
    """Five current Allies (given out of order) on pages of two."""
    from allies.organizations import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for name in reversed(NAMES):
        factory.ally(name=name)
    return NAMES


def _names_on(html: str) -> list[str]:
    return [name for name in NAMES if f">{name}</a>" in html]


def _nav(html: str) -> str:
    start = html.index('<nav class="pagination"')
    return html[start : html.index("</nav>", start)]


def test_allies_come_a_page_at_a_time_in_name_order(client, five_allies):
    first = client.get("/allies").get_data(as_text=True)
    assert _names_on(first) == NAMES[:2]
    assert "5 Allies · showing 1–2" in first
    second = client.get("/allies?page=2").get_data(as_text=True)
    assert _names_on(second) == NAMES[2:4]
    last = client.get("/allies?page=3").get_data(as_text=True)
    assert _names_on(last) == NAMES[4:]
    assert "showing 5–5" in last
    for beyond in ("4", "99", "0", "-1", str(2**40)):
        assert client.get(f"/allies?page={beyond}").status_code == 404, beyond
    assert client.get("/allies?page=abc").status_code == 200  # not a number: the first page


def test_the_pager_is_a_labelled_nav_with_the_current_page_marked(client, five_allies):
    second = client.get("/allies?page=2").get_data(as_text=True)
    nav = _nav(second)
    assert 'aria-label="Pages of Allies"' in nav
    assert '<span aria-current="page">2</span>' in nav
    assert 'href="/allies" rel="prev"' in nav  # page 1 is /allies itself
    assert 'href="/allies?page=3" rel="next"' in nav
    first = client.get("/allies").get_data(as_text=True)
    assert 'rel="prev"' not in _nav(first)
    assert 'rel="next"' not in _nav(client.get("/allies?page=3").get_data(as_text=True))


def test_filters_page_too_and_the_links_keep_them(app, client, factory, monkeypatch):
    from allies.extensions import db
    from allies.organizations import views
    from allies.organizations.models import OrganizationType

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    with app.app_context():
        clinic = db.session.scalars(db.select(OrganizationType.id)).first()
    for n in range(5):
        factory.ally(name=f"Clinic {n}", type_id=clinic)
        factory.ally(name=f"School {n}")
    typed = client.get(f"/allies?type={clinic}&page=2").get_data(as_text=True)
    assert "5 Allies match your search · showing 3–4" in typed
    assert ">Clinic 2</a>" in typed and ">Clinic 3</a>" in typed and "School" not in _cards(typed)
    nav = _nav(typed)
    assert f"type={clinic}" in nav and "page=3" in nav
    searched = client.get("/allies?q=school&page=3").get_data(as_text=True)
    assert "5 Allies match your search · showing 5–5" in searched
    assert ">School 4</a>" in searched
    assert "q=school" in _nav(searched)
    assert client.get("/allies?q=school&page=4").status_code == 404
    nothing = client.get("/allies?q=nobody").get_data(as_text=True)
    assert "0 Allies match your search" in nothing and "pagination" not in nothing


def _cards(html: str) -> str:
    start = html.index('<ul class="cards">')
    return html[start : html.index("</ul>", start)]


def test_many_pages_show_a_window_of_links_not_all_of_them(client, factory, monkeypatch):
    from allies.organizations import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    for n in range(12):
        factory.ally(name=f"Org {n:02d}")
    nav = _nav(client.get("/allies?page=6").get_data(as_text=True))
    linked = [int(n) for n in re.findall(r"page=(\d+)\">\d+<", nav)]
    assert linked == [4, 5, 7, 8, 12]
    assert 'href="/allies">1<' in nav  # the first page, without page=1
    assert nav.count("…") == 2
    assert '<span aria-current="page">6</span>' in nav


# --- /allies.json -----------------------------------------------------------------------------


def test_the_json_feed_pages_with_absolute_links_on_the_public_base_url(client, five_allies):
    first = client.get("/allies.json?per_page=2", headers={"Host": "evil.example"})
    assert first.status_code == 200
    body = first.get_json()
    assert (body["total"], body["count"], body["page"], body["pages"]) == (5, 5, 1, 3)
    assert [a["name"] for a in body["allies"]] == NAMES[:2]
    assert body["prev"] is None
    assert body["next"] == "http://allies.test/allies.json?page=2&per_page=2"
    assert first.headers["Link"] == '<http://allies.test/allies.json?page=2&per_page=2>; rel="next"'
    assert first.headers["Access-Control-Allow-Origin"] == "*"

    middle = client.get(body["next"].removeprefix("http://allies.test"))
    assert [a["name"] for a in middle.get_json()["allies"]] == NAMES[2:4]
    assert 'rel="next"' in middle.headers["Link"] and 'rel="prev"' in middle.headers["Link"]
    last = client.get("/allies.json?page=3&per_page=2").get_json()
    assert [a["name"] for a in last["allies"]] == NAMES[4:]
    assert last["next"] is None
    assert last["prev"] == "http://allies.test/allies.json?page=2&per_page=2"

    beyond = client.get("/allies.json?page=4&per_page=2")
    assert beyond.status_code == 404
    assert "no page 4" in beyond.get_json()["error"]


def test_the_json_feed_keeps_its_filters_in_its_links_and_bounds_per_page(app, client, factory):
    for n in range(3):
        factory.ally(name=f"Clinic {n}")
    factory.ally(name="School")
    body = client.get("/allies.json?q=clinic&per_page=1").get_json()
    assert body["total"] == 3 and body["pages"] == 3
    assert body["next"] == "http://allies.test/allies.json?page=2&per_page=1&q=clinic"
    assert client.get("/allies.json?per_page=100000").get_json()["per_page"] == 500
    default = client.get("/allies.json").get_json()
    assert default["per_page"] == 100 and default["total"] == 4 and default["next"] is None


def test_the_unpaged_export_holds_every_ally(client, five_allies):
    from allies.organizations import views

    response = client.get("/allies/all.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    assert body["total"] == 5 and [a["name"] for a in body["allies"]] == NAMES
    assert body["allies"][0]["ally_since"] == date.today().year
    assert views.JSON_PER_PAGE < 10_000  # the paged feed stays paged; this one is whole


# --- walking Next: each page starts where the previous one ended ------------------------------


def _page_queries(app, client, path: str) -> list[str]:
    """The SQL that serving ``path`` ran to read a page of Allies' ids."""
    from sqlalchemy import event

    from allies.extensions import db

    seen = []

    def note(_conn, _cursor, statement, *_args):
        if "ORDER BY organization.normalized_name" in statement and "LIMIT" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_walking_next_gives_the_pages_a_jump_gives_even_among_equal_names(
    app, client, factory, monkeypatch
):
    """Names equal once normalized tie on the name: the id breaks the tie, on both paths."""
    from allies.cache import public_cache
    from allies.organizations import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    names = ["Same Care", "same care", "SAME CARE", "Same  Care", "Zed Health", "Abel Clinic"]
    for name in names:
        factory.ally(name=name)

    def cards_of(page):
        html = client.get(f"/allies?page={page}").get_data(as_text=True)
        return re.findall(r'<a href="/allies/([^"]+)">', _cards(html))

    jumped = []
    for page in (3, 1, 2):  # out of order: every page from its OFFSET
        public_cache.clear()
        jumped.append((page, cards_of(page)))
    by_jump = [slug for _page, slugs in sorted(jumped) for slug in slugs]
    public_cache.clear()
    walked = [slug for page in (1, 2, 3) for slug in cards_of(page)]
    assert walked == by_jump
    assert len(set(walked)) == len(names)  # nobody twice, nobody missing


def test_the_next_page_starts_after_the_previous_ones_last_ally(app, client, five_allies):
    from allies.cache import public_cache

    public_cache.clear()
    # (SQLite's dialect writes OFFSET always, 0 when none is asked: look for the key instead.)
    after_a_key = "organization.normalized_name >= "
    jumped = _page_queries(app, client, "/allies?page=3")
    assert jumped and not any(after_a_key in statement for statement in jumped)
    public_cache.clear()
    _page_queries(app, client, "/allies?page=1")
    walked = _page_queries(app, client, "/allies?page=2")
    assert walked and all(after_a_key in statement for statement in walked)
    assert _names_on(client.get("/allies?page=2").get_data(as_text=True)) == NAMES[2:4]


def test_a_change_forgets_where_pages_ended(app, client, factory, five_allies):
    _names_on(client.get("/allies").get_data(as_text=True))  # page 1 remembered: ends at Bravo
    factory.ally(name="Aaron Health")  # first now: Alpha ends page 1, Bravo starts page 2
    second = client.get("/allies?page=2").get_data(as_text=True)
    assert _names_on(second) == ["Bravo Clinic", "Charlie Care"]


def test_a_page_a_few_after_one_seen_counts_off_only_the_pages_between(app, client, five_allies):
    from allies.cache import public_cache

    public_cache.clear()
    _page_queries(app, client, "/allies")  # page 1 ends at Bravo
    third = _page_queries(app, client, "/allies?page=3")  # skips page 2 from there
    assert third and all("organization.normalized_name >= " in s for s in third)
    assert _names_on(client.get("/allies?page=3").get_data(as_text=True)) == NAMES[4:]
    public_cache.clear()
    _page_queries(app, client, "/allies?page=2")  # no page before it seen: OFFSET from the top
    assert _names_on(client.get("/allies?page=2").get_data(as_text=True)) == NAMES[2:4]
