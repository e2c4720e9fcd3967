"""Reads of users and teams that other apps share."""

from __future__ import annotations

from kramar.accounts.models import Membership


def user_primary_team_id(user_id: int | None) -> int | None:
    """The user's primary team (else their first), the team a record they own belongs to; None without one."""
    if not user_id:
        return None
    return (Membership.objects.filter(user_id=user_id).order_by("-is_primary", "id")
            .values_list("team_id", flat=True).first())
