"""SLA clocks: the dues of a conversation from its queue's SlaPolicy for its priority, counted in the queue's
business minutes from the opening (the clock stands still outside working hours and on holidays); the first
response; the periodic check that warns the agent before a due and escalates a breach (supervisors notified,
priority raised by one, re-routed when nobody has accepted it yet), each once per conversation.

Warnings come `warn_before_minutes` wall-clock minutes before the earliest open due. A warning and a breach
publish `conversation.changed` (open inboxes and supervisor pages re-fetch)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.comms.choices import AssignmentStatus, ConversationStatus, Priority
from kramar.comms.hours import hours_add
from kramar.comms.models import Assignment, Conversation, SlaPolicy
from kramar.core.models import Notification

SLA_BATCH = 500


def sla_policy(conv: Conversation) -> SlaPolicy | None:
    if not conv.queue_id:
        return None
    return SlaPolicy.objects.filter(queue_id=conv.queue_id, priority=conv.priority).first()


def sla_dues_set(conv: Conversation, *, policy: SlaPolicy | None = None) -> tuple[str, ...]:
    """Set first_response_due / resolution_due (unsaved) from the queue's policy for the conversation's priority,
    counted from its opening in the queue's business minutes; returns the fields changed. A first response
    already given keeps its due."""
    policy = policy or sla_policy(conv)
    hours = conv.queue.business_hours if conv.queue_id else None
    start = conv.opened_at
    first = hours_add(hours, start, policy.first_response_minutes) if policy else None
    resolution = (hours_add(hours, start, policy.resolution_minutes)
                  if policy and policy.resolution_minutes else None)
    conv.first_response_due = first
    conv.resolution_due = resolution
    return ("first_response_due", "resolution_due")


def conversation_first_response(conversation: Conversation, at: dt.datetime) -> bool:
    """Record the first outbound message (the inbox calls this when an agent replies); later ones change
    nothing. Returns whether this was the first."""
    return bool(Conversation.objects.filter(pk=conversation.pk, first_response_at__isnull=True).update(
        first_response_at=at, updated_at=timezone.now()))


def _url(conv_id: int) -> str:
    try:
        return reverse("comms:conversation-detail", args=[conv_id])
    except NoReverseMatch:
        return ""


def _notify(user_ids, *, kind: str, text: str, conv_id: int) -> None:
    url = _url(conv_id)
    Notification.objects.bulk_create([Notification(user_id=u, kind=kind, text=text[:500], url=url)
                                      for u in sorted(set(user_ids))])


def _open_due() -> Q:
    """The earliest due still running: first response (until answered) or resolution."""
    return Q(first_response_at__isnull=True, first_response_due__isnull=False) | Q(resolution_due__isnull=False)


def _earliest_due(conv: Conversation) -> dt.datetime | None:
    dues = [conv.resolution_due] if conv.resolution_due else []
    if conv.first_response_at is None and conv.first_response_due:
        dues.append(conv.first_response_due)
    return min(dues) if dues else None


def sla_check(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Periodic (every minute): warn before dues and escalate breaches, each once per conversation (claimed with
    a conditional UPDATE, so overlapping runs act once). Returns {"warned": n, "breached": n}."""
    from kramar.comms.routing import conversation_publish

    now = now or timezone.now()
    live = Conversation.objects.exclude(status=ConversationStatus.CLOSED).filter(_open_due())
    counts = {"warned": 0, "breached": 0}
    breached = live.filter(sla_breached_at__isnull=True).filter(
        Q(first_response_at__isnull=True, first_response_due__lte=now) | Q(resolution_due__lte=now))
    for pk in breached.order_by("first_response_due", "id").values_list("pk", flat=True)[:SLA_BATCH]:
        if sla_breach(conversation_id=pk, now=now):
            counts["breached"] += 1
    warn_max = max(SlaPolicy.objects.values_list("warn_before_minutes", flat=True), default=0)
    horizon = now + dt.timedelta(minutes=warn_max)
    soon = live.filter(sla_warned_at__isnull=True, sla_breached_at__isnull=True).filter(
        Q(first_response_at__isnull=True, first_response_due__lte=horizon) | Q(resolution_due__lte=horizon))
    policies = {(p.queue_id, p.priority): p.warn_before_minutes for p in SlaPolicy.objects.all()}
    for conv in soon.order_by("first_response_due", "id").only(
            "pk", "queue_id", "priority", "owner_id", "status", "subject", "first_response_at", "first_response_due",
            "resolution_due")[:SLA_BATCH]:
        due = _earliest_due(conv)
        warn = policies.get((conv.queue_id, conv.priority))
        if due is None or warn is None or due - dt.timedelta(minutes=warn) > now:
            continue
        with transaction.atomic():
            if not Conversation.objects.filter(pk=conv.pk, sla_warned_at__isnull=True).update(sla_warned_at=now):
                continue
            minutes = max(0, round((due - now).total_seconds() / 60))
            text = _("SLA: “%(subject)s” is due in %(minutes)s min") % {"subject": conv, "minutes": minutes}
            users = [conv.owner_id] if conv.owner_id else _supervisors(conv.queue_id)
            _notify(users, kind="sla_warning", text=text, conv_id=conv.pk)
            conversation_publish(conv)  # the inbox rows and the supervisor's warning count follow at once
            counts["warned"] += 1
    return counts


def _supervisors(queue_id: int | None) -> list[int]:
    if not queue_id:
        return []
    from kramar.comms.models import Queue

    return list(Queue.supervisors.through.objects.filter(queue_id=queue_id).values_list("user_id", flat=True))


def sla_breach(*, conversation_id: int, now: dt.datetime) -> bool:
    """Escalate one breached conversation, once: mark it, notify the queue's supervisors, raise its priority by
    one and, when nobody has accepted it yet, offer it to the next agent."""
    from kramar.comms.routing import _lock, _reoffer, conversation_publish, priority_label

    with transaction.atomic():
        conv = _lock(conversation_id, skip_locked=True)
        if conv is None or conv.sla_breached_at is not None:
            return False
        conv.sla_breached_at = now
        if conv.sla_warned_at is None:
            conv.sla_warned_at = now  # no warning after the breach
        old = conv.priority
        conv.priority = min(conv.priority + 1, Priority.URGENT)
        conv.save(update_fields=["sla_breached_at", "sla_warned_at", "priority", "updated_at"])
        text = _("SLA breached: “%(subject)s” (%(queue)s), priority now %(priority)s") % {
            "subject": conv, "queue": conv.queue.name if conv.queue_id else "—",
            "priority": priority_label(conv.priority)}
        _notify(_supervisors(conv.queue_id), kind="sla_breach", text=text, conv_id=conv.pk)
        if conv.status == ConversationStatus.NEW:
            head = [_("SLA breached, priority %(old)s → %(new)s") % {
                "old": priority_label(old), "new": priority_label(conv.priority)}]
            Assignment.objects.filter(conversation=conv, status=AssignmentStatus.OFFERED).update(
                status=AssignmentStatus.EXPIRED)
            _reoffer(conv, now=now, head=head)  # publishes the change
        else:
            conversation_publish(conv)
    return True
