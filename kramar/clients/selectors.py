"""Reads of the client base. Every one starts from `visible_to(actor)`; the `_get` ones are the guarded
fetches: a record outside the actor's scope is a 404, never the record."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from kramar.clients.models import Company, Contact, ContactPoint
from kramar.core.models import AuditEntry
from kramar.history.models import Interaction

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


def client_audit_entries(*, obj: Contact | Company) -> models.QuerySet[AuditEntry]:
    """The record's own entries and those of the interactions logged on it, newest first."""
    entity = obj.scope_entity
    interactions = Interaction.objects.filter(**{entity: obj}).values("id")
    # A deleted interaction is gone, but its delete entry keeps the client id it had.
    deleted = Q(entity="interaction", action=AuditEntry.Action.DELETE, **{f"changes__{entity}__0": obj.pk})
    return (
        AuditEntry.objects.filter(
            Q(entity=entity, object_id=obj.pk) | Q(entity="interaction", object_id__in=interactions) | deleted
        )
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
