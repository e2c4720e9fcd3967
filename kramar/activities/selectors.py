"""Reads of tasks and activities. Every one starts from `Task.objects.visible_to(actor)`; `task_get` is the guarded
fetch: a task outside the actor's scope is a 404, never the task."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Case, DateTimeField, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from kramar.activities.choices import TaskPriority, TaskStatus
from kramar.activities.models import Task
from kramar.core import scopes
from kramar.core.models import AuditEntry

# Tasks without a due date sort after every dated one, on every database (NULLs sort differently otherwise).
FAR_FUTURE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)

TASK_SORTS: dict[str, tuple[str, ...]] = {
    "due": ("due_sort", "id"),
    "-due": ("-due_sort", "-id"),
    "priority": ("-priority_rank", "due_sort", "id"),
    "-priority": ("priority_rank", "due_sort", "id"),
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
}


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def task_get(*, actor, pk: Any, action: str = "view") -> Task:
    """The task if it is in the actor's scope for `action`, else Http404."""
    number = _int(pk)
    if number is None:
        raise Http404("No such task")
    try:
        return (
            Task.objects.visible_to(actor, action)
            .select_related("owner", "team", "contact", "company", "deal", "interaction", "created_by")
            .get(pk=number)
        )
    except Task.DoesNotExist as exc:
        raise Http404("No such task") from exc


def task_links_visible(*, actor, tasks: list[Task]) -> list[Task]:
    """Mark on each task whether the actor may see its linked contact, company and deal (`contact_visible`,
    `company_visible`, `deal_visible`): a task's scope follows its assignee, not its client, so a task you see may
    link a record you may not; then only its id is shown, never its name. One query per kind of linked record
    for the whole list (none when no task links that kind). Returns `tasks`."""
    from kramar.clients.models import Company, Contact
    from kramar.sales.models import Deal

    for key, model in (("contact", Contact), ("company", Company), ("deal", Deal)):
        visible = scopes.visible_ids(actor, model, [getattr(t, f"{key}_id") for t in tasks])
        for t in tasks:
            setattr(t, f"{key}_visible", getattr(t, f"{key}_id") in visible)
    return tasks


def task_audit_entries(*, task: Task) -> QuerySet[AuditEntry]:
    """The task's own audit entries, newest first (the caller fetched the task with `task_get`: its scope)."""
    return (
        AuditEntry.objects.filter(entity=Task.scope_entity, object_id=task.pk)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def _aware(value: Any, *, end: bool = False) -> dt.datetime | None:
    """A datetime from a date or a datetime; a date `end` means the end of that day (exclusive bound next day)."""
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end else value
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    if isinstance(value, str) and value:
        try:
            timed = "T" in value or " " in value
            parsed: dt.date = dt.datetime.fromisoformat(value) if timed else dt.date.fromisoformat(value)
        except ValueError:
            return None
        return _aware(parsed, end=end)
    return None


def overdue_q(now: dt.datetime | None = None) -> Q:
    """Open tasks past their due time; an all-day task is overdue from the day after its date."""
    now = now or timezone.now()
    start_of_today = timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time.min))
    return Q(status=TaskStatus.OPEN) & (
        Q(all_day=False, due_at__lt=now) | Q(all_day=True, due_at__lt=start_of_today)
    )


def tasks_annotated(qs: QuerySet[Task]) -> QuerySet[Task]:
    """The sort keys: `due_sort` (due_at, undated last) and `priority_rank` (high 3 … low 1)."""
    return qs.annotate(
        due_sort=Coalesce("due_at", Value(FAR_FUTURE, output_field=DateTimeField())),
        priority_rank=Case(
            When(priority=TaskPriority.HIGH, then=Value(3)),
            When(priority=TaskPriority.NORMAL, then=Value(2)),
            default=Value(1),
            output_field=IntegerField(),
        ),
    )


def task_list(*, actor, filters: dict[str, Any] | None = None, sort: str = "due") -> QuerySet[Task]:
    """Tasks the actor may see. filters: owner ("me" or id), team, status, kind, deal, contact, company,
    due_from / due_to (date or datetime; a date `due_to` includes that day), overdue (bool), q (title)."""
    filters = filters or {}
    qs = Task.objects.visible_to(actor, "view")
    owner = filters.get("owner")
    if owner == "me":
        qs = qs.filter(owner_id=actor.pk)
    elif owner not in (None, ""):
        qs = qs.filter(owner_id=_int(owner) or 0)
    for key in ("team", "deal", "contact", "company"):
        value = filters.get(key)
        if value not in (None, ""):
            qs = qs.filter(**{f"{key}_id": _int(value) or 0})
    status = filters.get("status")
    if status not in (None, "", "all"):
        qs = qs.filter(status=status)
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    due_from = _aware(filters.get("due_from"))
    if due_from is not None:
        qs = qs.filter(due_at__gte=due_from)
    due_to = _aware(filters.get("due_to"), end=True)  # a date includes its whole day
    if due_to is not None:
        qs = qs.filter(due_at__lt=due_to)
    if filters.get("overdue") in (True, "1", "true", "on", "yes"):
        qs = qs.filter(overdue_q())
    if filters.get("q"):
        qs = qs.filter(title__icontains=str(filters["q"])[:200])
    return (
        tasks_annotated(qs)
        .select_related("owner", "team", "contact", "company", "deal")
        .order_by(*TASK_SORTS.get(sort, TASK_SORTS["due"]))
    )


def calendar_events(
    *, actor, start: dt.datetime, end: dt.datetime, user_ids: list[int] | None = None, team_id: int | None = None
) -> list[Task]:
    """Dated tasks and meetings (not cancelled) due in [start, end) that the actor may see, of the given users
    (assignees) or team, in time order."""
    qs = Task.objects.visible_to(actor, "view").filter(due_at__gte=start, due_at__lt=end).exclude(
        status=TaskStatus.CANCELLED
    )
    if user_ids is not None:
        qs = qs.filter(owner_id__in=list(user_ids))
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    return list(qs.select_related("owner", "team", "contact", "company", "deal").order_by("due_at", "id"))
