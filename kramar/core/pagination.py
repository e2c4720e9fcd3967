"""Numbered pages for the web lists, with a count that stops at a cap: an exact COUNT(*) and deep OFFSETs over
millions of rows are the slow part of a list, so beyond `cap` rows a list says "more than 10,000" and stops
paging (narrow the filters instead)."""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 50
COUNT_CAP = 10_000


@dataclass
class ListPage:
    rows: list
    number: int
    has_next: bool
    total: int  # exact up to the cap
    capped: bool  # more rows than the cap match
    page_size: int = PAGE_SIZE

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start(self) -> int:
        return (self.number - 1) * self.page_size + 1 if self.rows else 0

    @property
    def end(self) -> int:
        return (self.number - 1) * self.page_size + len(self.rows)


def capped_page(qs, number: int, *, page_size: int | None = None, cap: int | None = None) -> ListPage:
    """Page `number` (from 1) of `qs`, plus a count that reads at most cap + 1 rows. A page past the end (rows
    deleted, a stale link) shows the last one; the last page's count needs no query."""
    page_size, cap = page_size or PAGE_SIZE, cap or COUNT_CAP
    last_page = max(1, cap // page_size)
    number = min(max(1, number), last_page)
    offset = (number - 1) * page_size
    fetched = list(qs[offset : offset + page_size + 1])
    rows = fetched[:page_size]
    has_next = len(fetched) > page_size and number < last_page
    if len(fetched) <= page_size and (rows or number == 1):
        total = offset + len(rows)
    else:
        total = qs.order_by().values("pk")[: cap + 1].count()
        if not rows and total:
            return capped_page(qs, (min(total, cap) - 1) // page_size + 1, page_size=page_size, cap=cap)
    return ListPage(
        rows=rows, number=number, has_next=has_next, total=min(total, cap), capped=total > cap, page_size=page_size
    )


def query_string(params, *, empty: str = "?", **changes) -> str:
    """The query string of `params` (a QueryDict) with `changes` applied: None or "" removes a key, and keys left
    empty are dropped. `empty` is what an empty result reads as ("?" keeps a link's target a query)."""
    q = params.copy()
    for key, value in changes.items():
        if value in (None, ""):
            q.pop(key, None)
        else:
            q[key] = str(value)
    for key in [k for k, v in q.items() if v == ""]:
        q.pop(key)
    encoded = q.urlencode()
    return f"?{encoded}" if encoded else empty
