"""The sales rules that "My day" and the control page check, as query expressions (portable SQL, no loops over
records). Every rule is evaluated at a moment `now` so tests can pin it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from kramar.activities.choices import TaskStatus
from kramar.activities.models import Task
from kramar.sales.models import ContactPolicy, Stage

CLOSING_SOON_DAYS = 7


@dataclass(frozen=True)
class Day:
    """The local calendar day of `now`, with its bounds as aware datetimes."""

    now: dt.datetime
    date: dt.date
    start: dt.datetime
    end: dt.datetime  # the next day's start

    @classmethod
    def of(cls, now: dt.datetime | None = None) -> Day:
        now = now or timezone.now()
        date = timezone.localdate(now)
        start = timezone.make_aware(dt.datetime.combine(date, dt.time.min))
        return cls(now=now, date=date, start=start, end=timezone.make_aware(
            dt.datetime.combine(date + dt.timedelta(days=1), dt.time.min)
        ))


def task_overdue_q(day: Day, prefix: str = "") -> Q:
    """An open task is overdue once its due time has passed; an all-day task once its day has passed."""
    p = prefix
    return Q(**{f"{p}status": TaskStatus.OPEN}) & (
        Q(**{f"{p}all_day": False, f"{p}due_at__lt": day.now}) | Q(**{f"{p}all_day": True, f"{p}due_at__lt": day.start})
    )


def task_today_q(day: Day) -> Q:
    """Open, due today and not yet overdue."""
    return Q(status=TaskStatus.OPEN, due_at__gte=day.start, due_at__lt=day.end) & ~task_overdue_q(day)


def next_step_exists() -> Exists:
    """The deal has an open task: its next step (served by the (deal, status) index)."""
    return Exists(Task.objects.filter(deal_id=OuterRef("pk"), status=TaskStatus.OPEN))


def no_next_step_q() -> Q:
    return ~Q(next_step_exists())


def rotting_q(day: Day) -> Q:
    """The deal stayed in its stage longer than the stage's rotting limit. One term per distinct limit (a
    handful), so it stays a plain indexed comparison on every database."""
    limits = sorted(set(
        Stage.objects.filter(rotting_days__isnull=False, kind="open").values_list("rotting_days", flat=True)
    ))
    q = Q(pk__in=[])
    for days in limits:
        q |= Q(stage__rotting_days=days, stage_entered_at__lt=day.now - dt.timedelta(days=days))
    return q


def closing_soon_q(day: Day) -> Q:
    """The expected close date is past or within CLOSING_SOON_DAYS days."""
    return Q(expected_close_date__lte=day.date + dt.timedelta(days=CLOSING_SOON_DAYS))


def contact_policies() -> dict[str, int]:
    return dict(ContactPolicy.objects.values_list("client_class", "max_days_without_contact"))


def client_stale_q(day: Day, policies: dict[str, int]) -> Q:
    """A client whose class has a policy and who was last contacted longer ago than it allows (never counts)."""
    q = Q(pk__in=[])
    for client_class, days in policies.items():
        if not client_class:
            continue
        q |= Q(client_class=client_class) & (
            Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=day.now - dt.timedelta(days=days))
        )
    return q
