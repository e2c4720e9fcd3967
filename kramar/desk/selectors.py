"""Reads of the rep's "My day": each panel is one selector with a fixed number of queries, whatever the data size.

Everything here is the actor's own work (tasks assigned to them, deals they own, their target and inbox); a
user without a view grant on tasks or deals gets empty panels."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import BooleanField as BoolField
from django.db.models import Case, Prefetch, When

from kramar.activities.choices import TaskKind, TaskStatus
from kramar.activities.models import Task
from kramar.clients.choices import PointKind
from kramar.clients.models import ContactPoint
from kramar.control import rules
from kramar.control.rules import Day
from kramar.control.targets import Period, Progress, current_target, progress_for
from kramar.core import scopes
from kramar.core.models import Notification
from kramar.sales.choices import DealStatus
from kramar.sales.models import Deal

PANEL_LIMIT = 30
INBOX_LIMIT = 10


@dataclass
class Rows:
    """The first PANEL_LIMIT rows of a panel list and whether there are more."""

    rows: list
    more: bool = False

    @classmethod
    def of(cls, qs, limit: int = PANEL_LIMIT) -> Rows:
        fetched = list(qs[: limit + 1])
        return cls(rows=fetched[:limit], more=len(fetched) > limit)


def _own_tasks(actor):
    if not scopes.can(actor, "task", "view"):
        return Task.objects.none()
    # the user's own tasks are inside every scope they may have: filter on the indexed owner directly
    return Task.objects.filter(owner_id=actor.pk, status=TaskStatus.OPEN)


def my_tasks(*, actor, day: Day) -> dict[str, Rows]:
    """Overdue tasks (oldest first) and today's remaining tasks (by time): two queries."""
    base = _own_tasks(actor).select_related("contact", "company", "deal").order_by("due_at", "id")
    return {
        "overdue": Rows.of(base.filter(rules.task_overdue_q(day))),
        "today": Rows.of(base.filter(rules.task_today_q(day))),
    }


@dataclass
class CallRow:
    task: Task
    phone: ContactPoint | None
    overdue: bool

    @property
    def tel(self) -> str:
        if self.phone is None:
            return ""
        number = self.phone.normalized or self.phone.value
        return f"tel:{number}" + (f";ext={self.phone.extension}" if self.phone.extension else "")


def _points():
    # all the client's points, phones picked in Python: a kind filter in SQL lets SQLite's planner prefer the
    # (kind, normalized) index over the client's own and scan every phone in the base (seconds at 1M contacts)
    return ContactPoint.objects.order_by("-is_primary", "id")


def _first_phone(client) -> ContactPoint | None:
    return next((p for p in getattr(client, "all_points", None) or [] if p.kind == PointKind.PHONE), None)


def my_calls(*, actor, day: Day) -> Rows:
    """Call tasks due today or already overdue, with the contact's primary phone (or the company's): three
    queries (the calls, then the phones of their contacts and of their companies)."""
    qs = (
        _own_tasks(actor)
        .filter(kind=TaskKind.CALL, due_at__lt=day.end)
        .select_related("contact", "company", "deal")
        .prefetch_related(
            Prefetch("contact__points", queryset=_points(), to_attr="all_points"),
            Prefetch("company__points", queryset=_points(), to_attr="all_points"),
        )
        .annotate(is_overdue=Case(When(rules.task_overdue_q(day), then=True), default=False, output_field=BoolField()))
        .order_by("due_at", "id")
    )
    page = Rows.of(qs)
    rows = []
    for task in page.rows:
        phone = _first_phone(task.contact) or _first_phone(task.company)
        rows.append(CallRow(task=task, phone=phone, overdue=task.is_overdue))
    return Rows(rows=rows, more=page.more)


def my_deals_attention(*, actor, day: Day) -> Rows:
    """The actor's open deals that are rotting in their stage, have no next step (no open task), or whose
    expected close date is past or within a week: one query, flags annotated."""
    if not scopes.can(actor, "deal", "view"):
        return Rows(rows=[])
    rotting, no_next, closing = rules.rotting_q(day), rules.no_next_step_q(), rules.closing_soon_q(day)
    flag = lambda q: Case(When(q, then=True), default=False, output_field=BoolField())  # noqa: E731
    qs = (
        Deal.objects.filter(owner_id=actor.pk, status=DealStatus.OPEN)
        .filter(rotting | no_next | closing)
        .select_related("stage", "company", "currency")
        .annotate(flag_rotting=flag(rotting), flag_no_next_step=flag(no_next), flag_closing=flag(closing))
    )
    # earliest expected close first, deals without a date after them: two index walks of (owner, status, date)
    # that stop at the page's end, instead of one sort of all the rep's open deals
    page = Rows.of(qs.filter(expected_close_date__isnull=False).order_by("expected_close_date", "id"))
    if not page.more and len(page.rows) < PANEL_LIMIT:
        rest = Rows.of(qs.filter(expected_close_date__isnull=True).order_by("id"), PANEL_LIMIT - len(page.rows))
        page = Rows(rows=page.rows + rest.rows, more=rest.more)
    return page


def my_progress(*, actor, day: Day) -> Progress | None:
    """The actor's target for the period containing today against their won amount (None without a target)."""
    target = current_target(user=actor, on=day.date)
    if target is None:
        return None
    period = Period(target.period_start, target.period_end)
    return progress_for(
        owner_ids=[actor.pk], period=period, targets={actor.pk: target}, default_currency=settings.KRAMAR_BASE_CURRENCY
    )[actor.pk]


@dataclass
class Inbox:
    rows: list = field(default_factory=list)
    unread: int = 0


def my_inbox(*, actor) -> Inbox:
    unread = Notification.objects.filter(user_id=actor.pk, read_at__isnull=True)
    rows = list(unread.order_by("-created_at", "-id")[:INBOX_LIMIT])
    count = len(rows) if len(rows) < INBOX_LIMIT else unread.count()
    return Inbox(rows=rows, unread=count)


