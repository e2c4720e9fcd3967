"""The one global search interface used by the UI and the API (placeholder implementation)."""

from __future__ import annotations

from dataclasses import dataclass

from kramar.clients.models import Company, Contact
from kramar.search.backends import search_ids


@dataclass
class SearchHit:
    entity: str  # "contact" | "company"
    id: int
    title: str
    subtitle: str
    score: float


def global_search(*, actor, query: str, limit: int = 20) -> list[SearchHit]:
    """Contacts and companies matching `query` within the actor's scope, best first."""
    hits: list[SearchHit] = []
    for model in (Contact, Company):
        ids = list(search_ids(model=model, query=query, limit=limit))
        for obj in model.objects.visible_to(actor, "view").filter(pk__in=ids)[:limit]:
            hits.append(SearchHit(model.scope_entity, obj.pk, str(obj), "", 1.0))
    return hits[:limit]
