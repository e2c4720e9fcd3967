"""Reads of the client base. Every one starts from `visible_to(actor)`; the `_get` ones are the guarded
fetches: a record outside the actor's scope is a 404, never the record."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from kramar.clients.models import Company, Contact, ContactPoint

CONTACT_SORTS = {
    "name": ("last_name", "first_name", "id"),
    "-name": ("-last_name", "-first_name", "-id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
}
COMPANY_SORTS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
}


def contact_get(*, actor, pk: Any, action: str = "view") -> Contact:
    try:
        return (
            Contact.objects.visible_to(actor, action)
            .select_related("owner", "team", "primary_company")
            .get(pk=int(pk))
        )
    except (Contact.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such contact") from exc


def company_get(*, actor, pk: Any, action: str = "view") -> Company:
    try:
        return Company.objects.visible_to(actor, action).select_related("owner", "team").get(pk=int(pk))
    except (Company.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such company") from exc


def _common_filters(qs: QuerySet, filters: dict[str, Any]) -> QuerySet:
    if filters.get("owner_id"):
        qs = qs.filter(owner_id=filters["owner_id"])
    if filters.get("team_id"):
        qs = qs.filter(team_id=filters["team_id"])
    if filters.get("lifecycle_stage"):
        qs = qs.filter(lifecycle_stage=filters["lifecycle_stage"])
    if filters.get("tag"):
        qs = qs.filter(tags__name=filters["tag"])
    if filters.get("updated_since"):
        qs = qs.filter(updated_at__gte=filters["updated_since"])
    return qs


def contact_list(*, actor, filters: dict[str, Any] | None = None, sort: str = "name") -> QuerySet[Contact]:
    filters = filters or {}
    qs = _common_filters(Contact.objects.visible_to(actor, "view"), filters)
    if filters.get("company_id"):
        qs = qs.filter(company_links__company_id=filters["company_id"])
    if filters.get("q"):
        from kramar.search.backends import search_ids

        qs = qs.filter(pk__in=search_ids(model=Contact, query=filters["q"]))
    return (
        qs.select_related("owner", "primary_company")
        .prefetch_related(Prefetch("points", queryset=ContactPoint.objects.filter(is_primary=True)))
        .order_by(*CONTACT_SORTS.get(sort, CONTACT_SORTS["name"]))
    )


def company_list(*, actor, filters: dict[str, Any] | None = None, sort: str = "name") -> QuerySet[Company]:
    filters = filters or {}
    qs = _common_filters(Company.objects.visible_to(actor, "view"), filters)
    if filters.get("q"):
        from kramar.search.backends import search_ids

        qs = qs.filter(pk__in=search_ids(model=Company, query=filters["q"]))
    return (
        qs.select_related("owner")
        .prefetch_related(Prefetch("points", queryset=ContactPoint.objects.filter(is_primary=True)))
        .order_by(*COMPANY_SORTS.get(sort, COMPANY_SORTS["name"]))
    )
