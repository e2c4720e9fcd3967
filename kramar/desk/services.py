"""Writes of "My day": marking in-app notifications read (task completion goes through activities.services)."""

from __future__ import annotations

from django.utils import timezone

from kramar.core.models import Notification


def notifications_mark_read(*, actor, ids: list[int] | None = None) -> int:
    """Mark the actor's unread notifications read (only the given ones, when `ids` is not None). Another user's
    notification is never touched. Returns how many were marked."""
    qs = Notification.objects.filter(user_id=actor.pk, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
