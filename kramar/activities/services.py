"""Every write to tasks and activities: create, update, complete (with the outcome on the client's timeline),
cancel, reopen, delete; reminders (sent once by a periodic job); recurrence; private calendar feeds.

Each service checks the actor's scope, validates every field (errors keyed by field), refuses stale versions,
writes an audit row with the field-level diff, and puts e-mail (reminders, meeting invitations) in the outbox in
the same transaction (`kramar.core.outbox`: sent after the commit, retried until sent).
"""

from __future__ import annotations

import calendar as pycalendar
import contextlib
import copy
import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kramar.accounts.models import Team, User
from kramar.activities.choices import Recurrence, TaskKind, TaskPriority, TaskStatus
from kramar.activities.models import CalendarFeed, Task
from kramar.activities.selectors import (
    calendar_events,  # noqa: F401 (part of this module's interface)
    task_links_visible,
)
from kramar.clients.models import Company, Contact
from kramar.core import scopes
from kramar.core.audit import audit_record, diff, snapshot
from kramar.core.context import audit_context, current_audit_context
from kramar.core.customfields import custom_fields_clean
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry, Notification
from kramar.core.outbox import email_enqueue

logger = logging.getLogger(__name__)

TEXT_LIMITS = {"title": 255, "description": 100_000, "location": 255}
MAX_DURATION_MINUTES = 60 * 24 * 31
MAX_ATTENDEES = 100
REMINDER_BATCH = 500
MIN_YEAR, MAX_YEAR = 1900, 9000  # dates outside are typing mistakes (and would overflow date arithmetic)
# Changing one of these on a meeting changes the invitation: SEQUENCE goes up and attendees get an update.
INVITE_FIELDS = ("title", "due_at", "all_day", "duration_minutes", "location")


# ----------------------------------------------------------------------------------------- helpers


class TaskStateConflict(DomainError):
    """The task's status forbids the action (completing a done task, cancelling a closed one, reopening an open
    one): a conflict with the record's current state, like an undone merge or an existing tag."""

    status = 409

    def __init__(self, code: str, message: str, *, task: Task):
        super().__init__(code, message, {"task_status": task.status})


@contextlib.contextmanager
def _source(source: str | None) -> Iterator[None]:
    """Audit rows written inside carry `source` (web/api/…), keeping the request's IP."""
    ctx = current_audit_context()
    if source and source in AuditEntry.Source.values:
        with audit_context(source=source, ip=ctx.ip):
            yield
    else:
        yield


def _audit(*, actor, action: str, task: Task, changes: dict, source: str | None, extra: dict | None = None) -> None:
    with _source(source):
        audit_record(actor=actor, action=action, obj=task, changes=changes, extra=extra)


def _snap(task: Task) -> dict[str, Any]:
    """The audit snapshot of a task (the iCalendar UID as text)."""
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in snapshot(task).items()}


def _check_version(task: Task, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != task.version:
        raise VersionConflict(current_version=task.version, sent_version=int(expected_version))


def _locked(actor, task: Task, action: str) -> Task:
    """The task row, locked, if the actor may `action` it; PermissionDenied if they only see it; 404 otherwise."""
    locked = Task.objects.visible_to(actor, action).select_for_update().filter(pk=task.pk).first()
    if locked is None:
        if Task.objects.visible_to(actor, "view").filter(pk=task.pk).exists():
            raise PermissionDenied(_("You may not change this task.") if action != "delete" else _(
                "You may not delete this task."
            ))
        raise Http404("No such task")
    return locked


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    text = str(value).strip().lower()
    if text in {"1", "true", "on", "yes"}:
        return True
    if text in {"0", "false", "off", "no"}:
        return False
    return None


def _datetime(value: Any) -> dt.datetime | None:
    """An aware datetime from a datetime, a date (midnight) or ISO text; raises ValueError when it is none."""
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime.combine(value, dt.time.min)
    elif isinstance(value, str):
        text = value.strip()
        result = parse_datetime(text) if ("T" in text or " " in text) else None
        if result is None:
            day = parse_date(text)
            if day is None:
                raise ValueError(text)
            result = dt.datetime.combine(day, dt.time.min)
    else:
        raise ValueError(repr(value))
    return result if timezone.is_aware(result) else timezone.make_aware(result)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        day = parse_date(value.strip())
        if day is not None:
            return day
    raise ValueError(repr(value))


def _assignable(actor, action: str, owner: User | None, team: Team | None) -> bool:
    """Whether the actor may give a task to `owner` / `team` within their own scope for `action`
    (own: only themselves; team: their teams' members and their teams; all: anyone)."""
    scope = scopes.scope_for(actor, "task", action)
    if scope >= scopes.ALL:
        return True
    teams = set(scopes.user_team_ids(actor))
    if scope == scopes.TEAM:
        owner_ok = owner is None or owner.pk == actor.pk or bool(
            teams & set(owner.memberships.values_list("team_id", flat=True))
        )
    else:
        owner_ok = owner is None or owner.pk == actor.pk
    return owner_ok and (team is None or team.pk in teams)


def _owner_team(actor, data: dict[str, Any], errors: dict[str, list[str]], task: Task | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "owner_id" in data and data["owner_id"] not in (None, ""):
        raw = data["owner_id"]
        owner = User.objects.filter(pk=int(raw), is_active=True).first() if str(raw).isdigit() else None
        if owner is None or int(raw) >= 2**63:
            errors.setdefault("owner_id", []).append(_("no such active user"))
        else:
            values["owner"] = owner
    elif "owner_id" in data and task is not None:
        errors.setdefault("owner_id", []).append(_("A task needs an assignee."))  # null on a change: refused
    elif "owner_id" in data or task is None:
        values["owner"] = actor  # a new task always has an assignee: unset means "me"
    if "team_id" in data:
        raw = data["team_id"]
        if raw in (None, ""):
            values["team"] = None
        else:
            team = Team.objects.filter(pk=int(raw)).first() if str(raw).isdigit() and int(raw) < 2**63 else None
            if team is None:
                errors.setdefault("team_id", []).append(_("no such team"))
            else:
                values["team"] = team
    elif "owner" in values and (task is None or values["owner"].pk != task.owner_id):
        membership = values["owner"].memberships.order_by("-is_primary", "id").first()
        values["team"] = membership.team if membership else None
    if not errors.get("owner_id") and not errors.get("team_id"):
        action = "create" if task is None else "change"
        owner = values.get("owner")
        new_owner = owner if owner is not None and (task is None or owner.pk != task.owner_id) else None
        team = values.get("team")
        explicit_team = "team_id" in data and team is not None and (task is None or team.pk != task.team_id)
        if not _assignable(actor, action, new_owner, team if explicit_team else None):
            errors.setdefault("owner_id", []).append(_("You may not assign tasks outside your own scope."))
    return values


def _related(actor, data: dict[str, Any], errors: dict[str, list[str]], task: Task | None) -> dict[str, Any]:
    """Contact, company and deal from ids: only records the actor may see (else "not found"). A link the task
    already has is kept as it is (the edit form sends it back) even when the actor may not see that record."""
    from kramar.sales.models import Deal

    values: dict[str, Any] = {}
    for key, model in (("contact_id", Contact), ("company_id", Company), ("deal_id", Deal)):
        if key not in data:
            continue
        raw = data[key]
        if raw in (None, ""):
            values[key[:-3]] = None
            continue
        if task is not None and str(raw).isdigit() and int(raw) == getattr(task, key):
            continue  # unchanged
        obj = None
        if str(raw).isdigit() and int(raw) < 2**63:
            obj = model.objects.visible_to(actor, "view").filter(pk=int(raw)).first()
        if obj is None:
            errors[key] = [_("not found")]
        else:
            values[key[:-3]] = obj
    return values


def _attendees(raw: Any, errors: dict[str, list[str]]) -> list[str] | None:
    if raw in (None, ""):
        return []
    items = list(raw.replace(";", ",").replace("\n", ",").split(",")) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        errors["attendees"] = [_("must be a list of e-mail addresses")]
        return None
    result: list[str] = []
    bad: list[str] = []
    for item in items:
        if not isinstance(item, str):
            bad.append(str(item))
            continue
        address = item.strip()
        if not address:
            continue
        try:
            validate_email(address)
        except DjangoValidationError:
            bad.append(address)
            continue
        if address.lower() not in {a.lower() for a in result}:
            result.append(address)
    if bad:
        errors["attendees"] = [_("not an e-mail address: %(items)s") % {"items": ", ".join(bad[:10])}]
        return None
    if len(result) > MAX_ATTENDEES:
        errors["attendees"] = [_("at most %(n)d attendees") % {"n": MAX_ATTENDEES}]
        return None
    return result


def _clean(actor, data: dict[str, Any], *, task: Task | None) -> dict[str, Any]:
    """Validate input for a new task (task None) or a change; returns model values or raises ValidationFailed
    naming every bad field."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if "kind" in data or task is None:
        kind = data.get("kind") or TaskKind.TODO
        if kind not in TaskKind.values:
            errors["kind"] = [_("must be one of: %(c)s") % {"c": ", ".join(TaskKind.values)}]
        else:
            values["kind"] = kind
    if "priority" in data:
        priority = data["priority"] or TaskPriority.NORMAL
        if priority not in TaskPriority.values:
            errors["priority"] = [_("must be one of: %(c)s") % {"c": ", ".join(TaskPriority.values)}]
        else:
            values["priority"] = priority
    if "recurrence" in data:
        recurrence = data["recurrence"] or ""
        if recurrence not in Recurrence.values:
            errors["recurrence"] = [_("must be one of: %(c)s") % {"c": ", ".join(v for v in Recurrence.values if v)}]
        else:
            values["recurrence"] = recurrence
    for key, limit in TEXT_LIMITS.items():
        if key in data:
            value = data[key] if data[key] is not None else ""
            if not isinstance(value, str):
                errors[key] = [_("must be text")]
            elif len(value) > limit:
                errors[key] = [_("at most %(n)d characters") % {"n": limit}]
            else:
                values[key] = value.strip() if key != "description" else value
    if (task is None or "title" in data) and not values.get("title") and "title" not in errors:
        errors["title"] = [_("This field is required.")]
    for key in ("due_at", "remind_at"):
        if key in data:
            if data[key] in (None, ""):
                values[key] = None
            else:
                try:
                    values[key] = _datetime(data[key])
                    if not MIN_YEAR <= values[key].year <= MAX_YEAR:
                        raise ValueError(data[key])
                except (ValueError, TypeError, OverflowError):
                    values.pop(key, None)
                    errors[key] = [_("must be a date and time (YYYY-MM-DDTHH:MM)")]
    if "recurrence_until" in data:
        if data["recurrence_until"] in (None, ""):
            values["recurrence_until"] = None
        else:
            try:
                values["recurrence_until"] = _date(data["recurrence_until"])
                if not MIN_YEAR <= values["recurrence_until"].year <= MAX_YEAR:
                    raise ValueError(data["recurrence_until"])
            except (ValueError, TypeError, OverflowError):
                values.pop("recurrence_until", None)
                errors["recurrence_until"] = [_("must be a date (YYYY-MM-DD)")]
    for key in ("all_day", "remind_by_email"):
        if key in data:
            flag = _bool(data[key])
            if flag is None:
                errors[key] = [_("must be true or false")]
            else:
                values[key] = flag
    if "duration_minutes" in data:
        raw = data["duration_minutes"]
        if raw in (None, ""):
            values["duration_minutes"] = None
        else:
            try:
                if isinstance(raw, bool) or float(raw) != int(raw):
                    raise ValueError
                minutes = int(raw)
                if not 0 <= minutes <= MAX_DURATION_MINUTES:
                    raise ValueError
                values["duration_minutes"] = minutes
            except (TypeError, ValueError, OverflowError):
                errors["duration_minutes"] = [
                    _("must be a whole number of minutes from 0 to %(n)d") % {"n": MAX_DURATION_MINUTES}
                ]
    if "attendees" in data:
        attendees = _attendees(data["attendees"], errors)
        if attendees is not None:
            values["attendees"] = attendees
    values.update(_owner_team(actor, data, errors, task))
    values.update(_related(actor, data, errors, task))
    if "custom" in data:  # merged over the stored values on update, like deals and clients
        try:
            values["custom"] = custom_fields_clean(
                entity="task", values=data["custom"], current=task.custom if task else None,
                partial=task is not None,
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)

    def current(key: str):
        return values[key] if key in values else (getattr(task, key) if task is not None else None)

    if current("recurrence") and current("due_at") is None and "due_at" not in errors and "recurrence" not in errors:
        errors["due_at"] = [_("A repeating task needs a due date.")]
    until, due = current("recurrence_until"), current("due_at")
    if until and due and "recurrence_until" not in errors and until < timezone.localdate(due):
        errors["recurrence_until"] = [_("must not be before the due date")]
    if current("kind") == TaskKind.MEETING and due is None and "due_at" not in errors:
        errors["due_at"] = [_("A meeting needs a date and time.")]
    if errors:
        raise ValidationFailed(errors)
    return values


def _invitees(task: Task) -> list[str]:
    """Who holds an invitation to this task now: the attendees of an open meeting with a date, else nobody."""
    from kramar.activities import ical

    if task.kind != TaskKind.MEETING or task.status != TaskStatus.OPEN or task.due_at is None:
        return []
    return ical.attendee_emails(task)


def _invite(task: Task, method: str, *, attendees: list[str] | None = None) -> None:
    """Put a meeting invitation (REQUEST / CANCEL) to the attendees (or to `attendees` only) in the outbox: built
    now, from the task as it is, and sent once the transaction commits (retried until sent)."""
    from kramar.activities import invitations

    if task.kind != TaskKind.MEETING or task.due_at is None or not (attendees or task.attendees):
        return
    invitations.meeting_invite_enqueue(task=task, method=method, attendees=attendees)


def _require(actor, action: str) -> None:
    if not scopes.can(actor, "task", action):
        messages = {
            "create": _("You may not create tasks."),
            "change": _("You may not change tasks."),
            "delete": _("You may not delete tasks."),
        }
        raise PermissionDenied(messages.get(action, _("You may not do this.")))


# ----------------------------------------------------------------------------------------- create / update


@transaction.atomic
def task_create(*, actor, data: dict[str, Any], source: str = "web") -> Task:
    """Create a task (a call, meeting, e-mail or to-do). The assignee (`owner_id`) defaults to the actor; a meeting
    with attendees sends them an invitation once the transaction commits."""
    _require(actor, "create")
    values = _clean(actor, data, task=None)
    task = Task(created_by=actor if getattr(actor, "pk", None) else None, **values)
    task.save()
    _audit(
        actor=actor, action=AuditEntry.Action.CREATE, task=task, source=source,
        changes={k: [None, v] for k, v in _snap(task).items() if v not in (None, "", [], {}, False)},
    )
    _invite(task, "REQUEST")
    return task


@transaction.atomic
def task_update(
    *, actor, task: Task, data: dict[str, Any], expected_version: int | None = None, source: str = "web"
) -> Task:
    """Change a task. A meeting whose time or place changes gets a higher iCalendar SEQUENCE and its attendees
    an updated invitation; attendees removed from an open meeting get a cancellation (and the SEQUENCE goes up,
    the others getting the update). A new reminder time re-arms the reminder."""
    task = _locked(actor, task, "change")
    _check_version(task, expected_version)
    values = _clean(actor, data, task=task)
    before = _snap(task)
    invited_before = _invitees(task)
    previous = copy.copy(task)  # the meeting as the attendees know it
    invite_changed = any(k in values and values[k] != getattr(task, k) for k in INVITE_FIELDS)
    attendees_changed = "attendees" in values and values["attendees"] != task.attendees
    for key, value in values.items():
        setattr(task, key, value)
    if "remind_at" in values and values["remind_at"] != before.get("remind_at") and task.status == TaskStatus.OPEN:
        task.reminded_at = None
    invited = {email.lower() for email in _invitees(task)}
    # uninvited: removed from the list, or the task stopped being a meeting; they get a CANCEL
    removed = [email for email in invited_before if email.lower() not in invited]
    if (task.kind == TaskKind.MEETING and invite_changed and task.status == TaskStatus.OPEN) or removed:
        task.ical_sequence += 1
    task.version += 1
    task.save()
    changes = diff(before, _snap(task))
    if changes:
        _audit(actor=actor, action=AuditEntry.Action.UPDATE, task=task, changes=changes, source=source,
               extra={"uninvited": removed} if removed else None)
    if removed:
        previous.ical_sequence = task.ical_sequence
        _invite(previous, "CANCEL", attendees=removed)
    if task.status == TaskStatus.OPEN and invited and (invite_changed or attendees_changed or removed):
        _invite(task, "REQUEST")
    return task


# ----------------------------------------------------------------------------------------- complete


def _interaction_for(actor, task: Task, outcome: str, note: str, now: dt.datetime):
    """Log the completed call or meeting on the client's timeline, linked to the deal; None without a client.

    The client is the one the task links, and the actor may change the task (its assignee, or someone whose task
    scope covers it): that is the right to log its outcome, even when the client itself is outside the actor's
    own client scope (a director gave another team's rep a call to make). So the client's scope is not checked
    again here; the "interaction: create" grant and the interaction's own rules (custom fields) still apply. The
    actor sees the interaction they logged (it is theirs), never more of the client than the task shows."""
    from kramar.history.models import Direction, Interaction
    from kramar.history.services import interaction_create

    contact_id, company_id = task.contact_id, task.company_id
    if contact_id is None and company_id is None and task.deal_id is not None:
        deal = task.deal
        company_id = deal.company_id
        if company_id is None:
            contact_id = (
                deal.contact_links.order_by("-is_primary", "id").values_list("contact_id", flat=True).first()
            )
    if contact_id is None and company_id is None:
        return None
    data: dict[str, Any] = {
        "channel": Interaction.Channel.CALL if task.kind == TaskKind.CALL else Interaction.Channel.MEETING,
        "direction": Direction.OUTBOUND,
        "occurred_at": now,
        "subject": task.title[:255],
        "outcome": outcome,
        "body": note,
    }
    if contact_id is not None:
        data["contact_id"] = contact_id
    if company_id is not None:
        data["company_id"] = company_id
    if task.kind == TaskKind.MEETING and task.duration_minutes:
        data["duration_seconds"] = task.duration_minutes * 60
    interaction = interaction_create(actor=actor, data=data, check_client_scope=False)
    if task.deal_id is not None and interaction.deal_id != task.deal_id:
        Interaction.objects.filter(pk=interaction.pk).update(deal_id=task.deal_id)
        interaction.deal_id = task.deal_id
    return interaction


@transaction.atomic
def task_complete(
    *, actor, task: Task, outcome: str = "", note: str = "", expected_version: int | None = None, source: str = "web"
) -> Task:
    """Mark an open task done. A call or meeting needs its outcome and is logged as an interaction on the task's
    contact/company (linked to the deal and to the task); a repeating task gets its next occurrence, once."""
    task = _locked(actor, task, "change")
    _check_version(task, expected_version)
    if task.status == TaskStatus.DONE:
        raise TaskStateConflict("task_already_done", _("This task is already done."), task=task)
    if task.status != TaskStatus.OPEN:
        raise TaskStateConflict("task_not_open", _("A cancelled task cannot be completed; reopen it first."),
                                task=task)
    errors: dict[str, list[str]] = {}
    outcome = (outcome or "").strip() if isinstance(outcome, str) else outcome
    note = note or ""
    if not isinstance(outcome, str):
        errors["outcome"] = [_("must be text")]
    elif len(outcome) > 255:
        errors["outcome"] = [_("at most %(n)d characters") % {"n": 255}]
    elif task.kind in (TaskKind.CALL, TaskKind.MEETING) and not outcome:
        errors["outcome"] = [_("Say how the call or meeting went: the outcome is required.")]
    if not isinstance(note, str):
        errors["note"] = [_("must be text")]
    if errors:
        raise ValidationFailed(errors)
    before = _snap(task)
    now = timezone.now()
    if task.kind in (TaskKind.CALL, TaskKind.MEETING):
        task.interaction = _interaction_for(actor, task, outcome, note, now)
    task.status = TaskStatus.DONE
    task.completed_at = now
    task.outcome = outcome
    task.version += 1
    task.save(update_fields=["status", "completed_at", "outcome", "interaction", "version", "updated_at"])
    nxt = _next_occurrence_create(actor=actor, task=task, source=source)
    _audit(
        actor=actor, action=AuditEntry.Action.UPDATE, task=task, changes=diff(before, _snap(task)), source=source,
        extra={"complete": True, **({"next_occurrence": nxt.pk} if nxt else {})},
    )
    return task


# ----------------------------------------------------------------------------------------- recurrence


def _add_month(day: dt.date, anchor_day: int) -> dt.date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.date(year, month, min(anchor_day, pycalendar.monthrange(year, month)[1]))


def next_due(due: dt.datetime, recurrence: str, *, anchor_day: int | None = None) -> dt.datetime:
    """The due time of the next occurrence, in local time (a meeting at 10:00 stays at 10:00 across DST).
    Monthly keeps the series' day of month, or the month's last day when it is shorter."""
    local = timezone.localtime(due)
    day = local.date()
    if recurrence == Recurrence.DAILY:
        day += dt.timedelta(days=1)
    elif recurrence == Recurrence.WEEKDAYS:
        day += dt.timedelta(days=1)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
    elif recurrence == Recurrence.WEEKLY:
        day += dt.timedelta(days=7)
    elif recurrence == Recurrence.MONTHLY:
        day = _add_month(day, anchor_day or day.day)
    else:
        raise ValueError(recurrence)
    naive = dt.datetime.combine(day, local.time().replace(tzinfo=None))
    return timezone.make_aware(naive, timezone.get_current_timezone())


def _next_occurrence_create(*, actor, task: Task, source: str) -> Task | None:
    if not task.recurrence or task.due_at is None:
        return None
    root_id = task.recurrence_parent_id or task.pk
    anchor = task.due_at
    if task.recurrence_parent_id:
        first = Task.objects.filter(pk=task.recurrence_parent_id).values_list("due_at", flat=True).first()
        anchor = first or anchor
    due = next_due(task.due_at, task.recurrence, anchor_day=timezone.localtime(anchor).day)
    if task.recurrence_until and timezone.localdate(due) > task.recurrence_until:
        return None
    if Task.objects.filter(recurrence_parent_id=root_id, due_at=due).exists():
        return None  # completed, reopened and completed again: the next one is already there
    remind_at = task.remind_at + (due - task.due_at) if task.remind_at else None
    nxt = Task.objects.create(
        kind=task.kind, title=task.title, description=task.description, due_at=due, all_day=task.all_day,
        duration_minutes=task.duration_minutes, location=task.location, priority=task.priority,
        owner_id=task.owner_id, team_id=task.team_id, contact_id=task.contact_id, company_id=task.company_id,
        deal_id=task.deal_id, created_by=actor if getattr(actor, "pk", None) else None, remind_at=remind_at,
        remind_by_email=task.remind_by_email, recurrence=task.recurrence, recurrence_until=task.recurrence_until,
        recurrence_parent_id=root_id, attendees=list(task.attendees or []), custom=dict(task.custom or {}),
    )
    _audit(
        actor=actor, action=AuditEntry.Action.CREATE, task=nxt, source=source,
        changes={k: [None, v] for k, v in _snap(nxt).items() if v not in (None, "", [], {}, False)},
        extra={"recurrence_of": task.pk},
    )
    _invite(nxt, "REQUEST")
    return nxt


# ----------------------------------------------------------------------------------------- cancel / reopen / delete


@transaction.atomic
def task_cancel(*, actor, task: Task, expected_version: int | None = None, source: str = "web") -> Task:
    """Cancel an open task; a meeting's attendees get a cancellation (same UID, higher SEQUENCE)."""
    task = _locked(actor, task, "change")
    _check_version(task, expected_version)
    if task.status != TaskStatus.OPEN:
        raise TaskStateConflict("task_not_open", _("Only an open task can be cancelled."), task=task)
    before = _snap(task)
    task.status = TaskStatus.CANCELLED
    task.completed_at = timezone.now()
    fields = ["status", "completed_at", "version", "updated_at"]
    if task.kind == TaskKind.MEETING and task.attendees:
        task.ical_sequence += 1
        fields.append("ical_sequence")
    task.version += 1
    task.save(update_fields=fields)
    _audit(actor=actor, action=AuditEntry.Action.UPDATE, task=task, changes=diff(before, _snap(task)),
           source=source, extra={"cancel": True})
    _invite(task, "CANCEL")
    return task


@transaction.atomic
def task_reopen(*, actor, task: Task, expected_version: int | None = None, source: str = "web") -> Task:
    """Open a done or cancelled task again. Its outcome and the link to the interaction its completion logged are
    cleared (the interaction stays on the client's timeline; the audit row keeps both), so completing it again
    records the new outcome and links the new interaction. A reopened meeting is invited again; a reminder still
    ahead is re-armed."""
    task = _locked(actor, task, "change")
    _check_version(task, expected_version)
    if task.status == TaskStatus.OPEN:
        raise TaskStateConflict("task_already_open", _("This task is already open."), task=task)
    before = _snap(task)
    was_cancelled = task.status == TaskStatus.CANCELLED
    task.status = TaskStatus.OPEN
    task.completed_at = None
    task.outcome = ""
    task.interaction = None
    fields = ["status", "completed_at", "outcome", "interaction", "version", "updated_at"]
    if task.remind_at and task.remind_at > timezone.now() and task.reminded_at is not None:
        task.reminded_at = None
        fields.append("reminded_at")
    if was_cancelled and task.kind == TaskKind.MEETING and task.attendees:
        task.ical_sequence += 1
        fields.append("ical_sequence")
    task.version += 1
    task.save(update_fields=fields)
    _audit(actor=actor, action=AuditEntry.Action.UPDATE, task=task, changes=diff(before, _snap(task)),
           source=source, extra={"reopen": True})
    if was_cancelled:
        _invite(task, "REQUEST")
    return task


@transaction.atomic
def task_delete(*, actor, task: Task, expected_version: int | None = None, source: str = "web") -> None:
    """Delete a task (audited). The interaction it logged stays on the client's timeline. An open meeting's
    attendees get a cancellation (same UID, higher SEQUENCE), built before the row goes: the outbox keeps it."""
    task = _locked(actor, task, "delete")
    _check_version(task, expected_version)
    _audit(actor=actor, action=AuditEntry.Action.DELETE, task=task, source=source,
           changes={k: [v, None] for k, v in _snap(task).items()})
    if _invitees(task):
        task.ical_sequence += 1  # only in the message: the row is deleted
        _invite(task, "CANCEL")
    task.delete()


# ----------------------------------------------------------------------------------------- reminders


def _task_url(task_id: int) -> str:
    try:
        return reverse("activities:task-detail", args=[task_id])
    except NoReverseMatch:  # pragma: no cover
        return ""


def _reminder_texts(task: Task) -> tuple[str, str, str]:
    """(notification text, e-mail subject, e-mail body) in the assignee's language. The body names the task's
    contact, company and deal only when the assignee may see them."""
    task_links_visible(actor=task.owner, tasks=[task])
    language = getattr(task.owner, "language", None) or settings.LANGUAGE_CODE
    with translation.override(language):
        if task.due_at is not None:
            local = timezone.localtime(task.due_at)
            when = date_format(local.date() if task.all_day else local, "DATE_FORMAT" if task.all_day else
                               "DATETIME_FORMAT")
            text = _("Reminder: %(title)s (due %(when)s)") % {"title": task.title, "when": when}
        else:
            text = _("Reminder: %(title)s") % {"title": task.title}
        subject = text
        lines = [text]
        for label, key in ((_("Contact"), "contact"), (_("Company"), "company"), (_("Deal"), "deal")):
            if getattr(task, f"{key}_id") is not None and getattr(task, f"{key}_visible", False):
                lines.append(f"{label}: {getattr(task, key)}")
        if task.location:
            lines.append(_("Where: %(location)s") % {"location": task.location})
        if task.description:
            lines += ["", task.description]
        url = _task_url(task.pk)
        base = getattr(settings, "KRAMAR_BASE_URL", "") or ""
        if url:
            lines += ["", base.rstrip("/") + url]
    return text[:500], subject[:200].replace("\n", " "), "\n".join(lines) + "\n"


def _reminder_send(task: Task) -> None:
    """The in-app notification and, when asked, the e-mail (into the outbox: sent after the commit, retried)."""
    if task.owner_id is None:
        return
    text, subject, body = _reminder_texts(task)
    Notification.objects.create(user_id=task.owner_id, kind="task_reminder", text=text, url=_task_url(task.pk))
    if task.remind_by_email and task.owner.email:
        message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [task.owner.email])
        email_enqueue(message, kind="task_reminder", ref=("task", task.pk))


def reminders_due_send(*, now: dt.datetime | None = None) -> int:
    """Send the reminders that are due: an in-app notification to the assignee and, when asked, an e-mail.
    Each reminder is claimed with a conditional UPDATE (… WHERE reminded_at IS NULL AND status = 'open'), which
    exactly one run can win on any database, so a reminder is sent once however many runs overlap; a done or
    cancelled task is never reminded. Returns the number sent."""
    now = now or timezone.now()
    due = Task.objects.filter(reminded_at__isnull=True, status=TaskStatus.OPEN, remind_at__lte=now)
    sent = 0
    while True:
        ids = list(due.order_by("remind_at", "id").values_list("pk", flat=True)[:REMINDER_BATCH])
        if not ids:
            return sent
        for task_id in ids:
            with transaction.atomic():
                claimed = Task.objects.filter(
                    pk=task_id, reminded_at__isnull=True, status=TaskStatus.OPEN, remind_at__lte=now
                ).update(reminded_at=now)
                if not claimed:
                    continue  # another run sent it, or the task was closed meanwhile
                task = Task.objects.select_related("owner", "contact", "company", "deal").get(pk=task_id)
                _reminder_send(task)
                sent += 1
        if len(ids) < REMINDER_BATCH:
            return sent


# ----------------------------------------------------------------------------------------- calendar feeds

FEED_PREFIX = "cal_"


def _feed_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def calendar_feed_create(*, user, include_team: bool = False) -> tuple[CalendarFeed, str]:
    """A new private feed; returns the row and the secret, which is shown once and never stored (only its digest)."""
    secret = FEED_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(
        user=user, digest=_feed_digest(secret), prefix=secret[:12], include_team=bool(include_team)
    )
    return feed, secret


def calendar_feed_revoke(*, user, feed_id: int) -> bool:
    """Delete one of the user's feeds (its URL stops working). False when there is no such feed of theirs."""
    try:
        feed_id = int(feed_id)
    except (TypeError, ValueError):
        return False
    deleted, _rows = CalendarFeed.objects.filter(pk=feed_id, user=user).delete()
    return bool(deleted)


def calendar_feed_authenticate(secret: str) -> CalendarFeed | None:
    """The feed of a secret (with its user), or None."""
    if not secret or not isinstance(secret, str) or len(secret) > 200:
        return None
    feed = CalendarFeed.objects.select_related("user").filter(digest=_feed_digest(secret)).first()
    if feed is None or not feed.user.is_active:
        return None
    now = timezone.now()
    if feed.last_used_at is None or (now - feed.last_used_at).total_seconds() > 60:
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    return feed
