"""Global search over the API: the same `global_search` the search page uses."""

from __future__ import annotations

from ninja import Field, Query, Router, Schema

from kramar.core.api_support import ERRORS, actor
from kramar.search.selectors import global_search

router = Router(tags=["search"])


class SearchHitOut(Schema):
    entity: str
    id: int
    title: str
    subtitle: str
    score: float


class SearchOut(Schema):
    items: list[SearchHitOut]
    next_cursor: str | None = Field(None, description="Always null: search returns the best `limit` hits.")


@router.get("/search", response={200: SearchOut, **ERRORS}, operation_id="search")
def search_op(
    request, q: str = Query(..., min_length=1, max_length=200), limit: int = Query(20, ge=1, le=100)
):
    """Contacts and companies in your scope matching `q`, best first."""
    return {"items": global_search(actor=actor(request), query=q, limit=limit), "next_cursor": None}
