"""The one global search interface used by the UI and the API."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from kramar.clients.models import Company, Contact, ContactPoint
from kramar.core.identifiers import phone_display
from kramar.search.backends import RankedRow, parse_query, search_ranked


@dataclass
class SearchHit:
    entity: str  # "contact" | "company"
    id: int
    title: str
    subtitle: str
    score: float
    match: str = ""  # "exact" | "prefix" | "substring" | "fuzzy"


def global_search(*, actor, query: str, limit: int = 20) -> list[SearchHit]:
    """Contacts and companies matching `query` within the actor's scope, best first.

    Exact and word-prefix matches rank above inner substrings, a match in the record's own name above
    one in its company or position; a typo'd word is still found when nothing matches literally.
    At most `limit` hits; no count of all matches is made."""
    tokens = parse_query(query)
    if not tokens or limit <= 0:
        return []
    ranked: list[tuple[type, RankedRow]] = []
    for fuzzy in (False, True):  # typo-tolerant only when nothing matches literally
        for model in (Contact, Company):
            qs = model.objects.visible_to(actor, "view")
            ranked += [(model, row) for row in search_ranked(queryset=qs, tokens=tokens, limit=limit, fuzzy=fuzzy)]
        if ranked:
            break
    ranked.sort(key=lambda item: (-item[1].score, item[1].title.casefold(), item[0].scope_entity, item[1].id))
    ranked = ranked[:limit]

    described = _describe(ranked)
    hits = []
    for model, row in ranked:
        found = described.get((model.scope_entity, row.id))
        if found is not None:  # None: deleted between the two queries
            hits.append(SearchHit(model.scope_entity, row.id, found[0], found[1], row.score, row.match))
    return hits


def _primary_points(contact_ids: list[int], company_ids: list[int]) -> dict[tuple[str, int], str]:
    """{("contact"|"company", id): primary e-mail, else primary phone}, in one query."""
    found: dict[tuple[str, int], dict[str, str]] = {}
    rows = ContactPoint.objects.filter(Q(contact_id__in=contact_ids) | Q(company_id__in=company_ids), is_primary=True)
    for contact_id, company_id, kind, value, normalized in rows.values_list(
        "contact_id", "company_id", "kind", "value", "normalized"
    ):
        key = ("contact", contact_id) if contact_id in contact_ids else ("company", company_id)
        found.setdefault(key, {}).setdefault(kind, value if kind == "email" else phone_display(normalized))
    return {key: kinds.get("email") or kinds.get("phone", "") for key, kinds in found.items()}


def _describe(ranked: list[tuple[type, RankedRow]]) -> dict[tuple[str, int], tuple[str, str]]:
    """{(entity, id): (title, subtitle)} of the hits, in at most three small queries (no model instances)."""
    contact_ids = [row.id for model, row in ranked if model is Contact]
    company_ids = [row.id for model, row in ranked if model is Company]
    if not ranked:
        return {}
    points = _primary_points(contact_ids, company_ids)
    out: dict[tuple[str, int], tuple[str, str]] = {}
    if contact_ids:
        for pk, first, middle, last, position, company in Contact.objects.filter(pk__in=contact_ids).order_by().values_list(
            "pk", "first_name", "middle_name", "last_name", "position", "primary_company__name"
        ):
            title = " ".join(p for p in (first, middle, last) if p) or f"#{pk}"
            subtitle = " · ".join(p for p in (position, company, points.get(("contact", pk))) if p)
            out[("contact", pk)] = (title, subtitle)
    if company_ids:
        for pk, name, code in Company.objects.filter(pk__in=company_ids).order_by().values_list("pk", "name", "code"):
            out[("company", pk)] = (name, " · ".join(p for p in (code, points.get(("company", pk))) if p))
    return out
