"""Agents' presence: set by the agent (online / away / offline), kept alive by the browser's heartbeat, and turned
to away by a periodic job after KRAMAR_PRESENCE_AWAY_MINUTES (default 10) without one. An agent coming online
gets the waiting conversations of their queues offered (kramar.comms.routing)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.comms.choices import Presence
from kramar.comms.models import AgentProfile, QueueMember

DEFAULT_AWAY_MINUTES = 10


def agent_profile(user) -> AgentProfile:
    profile, _created = AgentProfile.objects.get_or_create(user=user)
    return profile


def presence_set(*, user, presence: str, now: dt.datetime | None = None) -> AgentProfile:
    """Set an agent's presence; coming online also counts as a heartbeat and routes waiting conversations of
    their queues."""
    if presence not in Presence.values:
        raise ValueError(f"unknown presence {presence!r}")
    now = now or timezone.now()
    with transaction.atomic():
        profile = agent_profile(user)
        was = profile.presence
        profile.presence = presence
        fields = ["presence"]
        if was != presence:
            profile.presence_changed_at = now
            fields.append("presence_changed_at")
        if presence == Presence.ONLINE:
            profile.last_seen_at = now
            fields.append("last_seen_at")
        profile.save(update_fields=fields)
    if presence == Presence.ONLINE and was != Presence.ONLINE:
        from kramar.comms.routing import conversations_waiting_route, user_name

        queue_ids = list(QueueMember.objects.filter(user=user).values_list("queue_id", flat=True))
        if queue_ids:
            conversations_waiting_route(queue_ids=queue_ids, now=now,
                                        why=_("%(name)s came online") % {"name": user_name(user)})
    return profile


def presence_heartbeat(*, user, now: dt.datetime | None = None) -> None:
    """The agent's open page is alive (presence itself is left as the agent set it)."""
    now = now or timezone.now()
    if not AgentProfile.objects.filter(user=user).update(last_seen_at=now):
        AgentProfile.objects.get_or_create(user=user, defaults={"last_seen_at": now})


def presence_idle_away(*, now: dt.datetime | None = None) -> int:
    """Periodic: online agents without a heartbeat for KRAMAR_PRESENCE_AWAY_MINUTES become away. Returns how
    many."""
    now = now or timezone.now()
    minutes = getattr(settings, "KRAMAR_PRESENCE_AWAY_MINUTES", DEFAULT_AWAY_MINUTES)
    cutoff = now - dt.timedelta(minutes=minutes)
    return AgentProfile.objects.filter(presence=Presence.ONLINE).filter(
        Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, presence_changed_at__lt=cutoff)
    ).update(presence=Presence.AWAY, presence_changed_at=now)
