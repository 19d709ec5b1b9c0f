"""Paging: how a list counted in SQL is cut into pages, and which page links a pager shows.

Every paged list (the public Allies, the JSON feed, a conference's roll, the audit log) counts
its rows in SQL and loads one page with LIMIT/OFFSET; ``Paging`` holds the arithmetic and
``page_window`` the rule for the links, which templates/_pagination.html draws.
"""

from dataclasses import dataclass

# Page links shown either side of the current page, besides the first and the last.
WINDOW = 2


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` rows fill; an empty list still has its one (empty) page."""
    return max(1, -(-total // per_page))


def page_window(page: int, pages: int, around: int = WINDOW) -> list[int | None]:
    """The page numbers to link: the first, ``around`` either side of ``page``, the last.

    None marks a gap of two pages or more (drawn as an ellipsis), so 209 pages never mean 209
    links; a gap of one page shows that page instead, as an ellipsis would take its place.
    """
    shown = sorted({1, pages} | set(range(max(1, page - around), min(pages, page + around) + 1)))
    links: list[int | None] = []
    for number in shown:
        if links and number - links[-1] == 2:
            links.append(number - 1)
        elif links and number - links[-1] > 2:
            links.append(None)
        links.append(number)
    return links


@dataclass(frozen=True)
class Paging:
    """Page ``page`` of ``total`` rows, ``per_page`` at a time."""

    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return page_count(self.total, self.per_page)

    @property
    def offset(self) -> int:
        """How many rows come before this page."""
        return (self.page - 1) * self.per_page

    @property
    def exists(self) -> bool:
        """Whether this page is within the list (page 1 always is, even when it is empty)."""
        return 1 <= self.page <= self.pages

    @property
    def first(self) -> int:
        """The position (from 1) of the first row on this page; 0 when there is none."""
        return self.offset + 1 if self.total > self.offset else 0

    @property
    def last(self) -> int:
        """The position of the last row on this page; 0 when there is none."""
        return min(self.offset + self.per_page, self.total) if self.first else 0

    @property
    def previous(self) -> int | None:
        """The page before this one, or None on the first."""
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        """The page after this one, or None on the last."""
        return self.page + 1 if self.page < self.pages else None

    @property
    def window(self) -> list[int | None]:
        """The page links to show (see ``page_window``)."""
        return page_window(self.page, self.pages)
