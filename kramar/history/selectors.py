from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from kramar.history.models import Interaction


def interaction_get(*, actor, pk: Any, action: str = "view") -> Interaction:
    try:
        return (
            Interaction.objects.visible_to(actor, action)
            .select_related("user", "contact", "company")
            .get(pk=int(pk))
        )
    except (Interaction.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such interaction") from exc


def interaction_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Interaction]:
    """Interactions in the actor's scope, newest first; filters: contact_id, company_id, channel,
    channels, direction, user_id, since, until."""
    filters = filters or {}
    qs = Interaction.objects.visible_to(actor, "view")
    if filters.get("contact_id"):
        qs = qs.filter(contact_id=filters["contact_id"])
    if filters.get("company_id"):
        qs = qs.filter(company_id=filters["company_id"])
    if filters.get("channel"):
        qs = qs.filter(channel=filters["channel"])
    if filters.get("channels"):
        qs = qs.filter(channel__in=filters["channels"])
    if filters.get("direction"):
        qs = qs.filter(direction=filters["direction"])
    if filters.get("user_id"):
        qs = qs.filter(user_id=filters["user_id"])
    if filters.get("since"):
        qs = qs.filter(occurred_at__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(occurred_at__lt=filters["until"])
    return qs.select_related("user", "contact", "company").prefetch_related("attachments").order_by("-occurred_at", "-id")


def timeline_for_client(*, actor, contact=None, company=None, channels: list[str] | None = None) -> QuerySet[Interaction]:
    """The timeline on a client card. The client was fetched through a guarded `_get`, so the card's
    own interactions are shown; a company's timeline includes its people's interactions."""
    from django.db.models import Q

    qs = Interaction.objects.all()
    if contact is not None:
        qs = qs.filter(contact=contact)
    elif company is not None:
        # The company's own interactions, plus those of its people that the actor may see.
        people = Interaction.objects.visible_to(actor, "view").filter(contact__company_links__company=company)
        qs = qs.filter(Q(company=company) | Q(pk__in=people.values("pk")))
    if channels:
        qs = qs.filter(channel__in=channels)
    return qs.select_related("user", "contact", "company").prefetch_related("attachments").order_by("-occurred_at", "-id")
