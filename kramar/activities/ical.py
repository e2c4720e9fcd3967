"""iCalendar (RFC 5545) rendering of tasks: the private subscription feed and meeting invitations (RFC 5546).

Times are written in UTC (a trailing "Z"), which every client reads without a VTIMEZONE; an all-day task is a
VALUE=DATE event on its local date. A task's UID is `<task.ical_uid>@<host>` and never changes, so a client
recognises the same event in the feed and in invitations; SEQUENCE is `task.ical_sequence`, raised by the
tasks service whenever a meeting's time or place changes (and by a cancellation).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, vCalAddress, vDuration, vText

from kramar.activities.models import Task

PRODID = "-//Kramar CRM//Kramar//EN"
DEFAULT_DURATION = timedelta(minutes=30)  # a timed task without a duration still needs an end
REFRESH_INTERVAL = timedelta(hours=1)  # hint to subscribers (RFC 7986 REFRESH-INTERVAL, Outlook X-PUBLISHED-TTL)


def ical_host() -> str:
    """The right-hand side of every UID: KRAMAR_ICAL_HOST if set, else the domain of DEFAULT_FROM_EMAIL."""
    host = getattr(settings, "KRAMAR_ICAL_HOST", "")
    if not host:
        sender = settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">")
        host = sender.rsplit("@", 1)[-1] if "@" in sender else "kramar"
    return host


def task_uid(task: Task) -> str:
    return f"{task.ical_uid}@{ical_host()}"


def task_has_time(task: Task) -> bool:
    """Only a task with a due date can be placed in a calendar."""
    return task.due_at is not None


def task_span(task: Task) -> tuple[datetime | date, datetime | date]:
    """(start, end) of the event: dates for an all-day task (end exclusive), UTC datetimes otherwise."""
    duration = timedelta(minutes=task.duration_minutes) if task.duration_minutes else None
    if task.all_day:
        start = timezone.localtime(task.due_at).date()
        days = max(1, -(-duration // timedelta(days=1))) if duration else 1
        return start, start + timedelta(days=days)
    start_dt = task.due_at.astimezone(UTC)
    return start_dt, start_dt + (duration or DEFAULT_DURATION)


def _shown(task: Task, key: str) -> bool:
    """Whether the linked `key` (contact, company, deal) may be named: always in an invitation (the organiser's
    text for the attendees), and in a feed only when its reader may see it (`task_links_visible` marked it)."""
    return bool(getattr(task, f"{key}_id")) and getattr(task, f"{key}_visible", True) and bool(getattr(task, key))


def _client_name(task: Task) -> str:
    parts = []
    if _shown(task, "company"):
        parts.append(task.company.name)
    if _shown(task, "contact"):
        parts.append(task.contact.full_name)
    return ", ".join(p for p in parts if p)


def task_description(task: Task) -> str:
    lines = []
    client = _client_name(task)
    if client:
        lines.append(_("Client: %(name)s") % {"name": client})
    if _shown(task, "deal"):
        lines.append(_("Deal: %(title)s") % {"title": task.deal.title})
    if task.description:
        if lines:
            lines.append("")
        lines.append(task.description)
    return "\n".join(lines)


def _status(task: Task) -> str:
    return "CANCELLED" if task.status == Task.Status.CANCELLED else "CONFIRMED"


def _person(email: str, name: str = "", **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = vText(name)
    for key, value in params.items():
        address.params[key.upper().replace("_", "-")] = vText(value)
    return address


def attendee_emails(task: Task) -> list[str]:
    """The attendees' addresses: `task.attendees` holds e-mail strings (or {"email": …} objects), deduplicated."""
    seen: dict[str, str] = {}
    for item in task.attendees or []:
        email = item.get("email", "") if isinstance(item, dict) else str(item)
        email = email.strip()
        if email and email.lower() not in seen:
            seen[email.lower()] = email
    return list(seen.values())


def organizer_email(task: Task) -> tuple[str, str]:
    """(e-mail, display name) of the organiser: the owner (assignee), else the system sender."""
    owner = task.owner if task.owner_id else None
    if owner is not None and owner.email:
        return owner.email, owner.get_full_name() or owner.username
    sender = settings.DEFAULT_FROM_EMAIL
    if "<" in sender:
        name, address = sender.rsplit("<", 1)
        return address.rstrip(">").strip(), name.strip().strip('"')
    return sender, "Kramar"


def task_to_vevent(
    task: Task, *, with_attendees: bool = False, cancelled: bool = False, itip: bool = False
) -> Event:
    start, end = task_span(task)
    event = Event()
    event.add("uid", task_uid(task))
    # RFC 5545 3.8.7.2: in an iTIP message DTSTAMP is when the message was made; in a published calendar (the
    # feed, no METHOD) it is the event's last revision, so an unchanged feed is byte-identical (ETag/304)
    stamp = timezone.now() if itip or not (task.updated_at or task.created_at) else task.updated_at or task.created_at
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("sequence", task.ical_sequence)
    event.add("summary", task.title)
    if task.location:
        event.add("location", task.location)
    description = task_description(task)
    if description:
        event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else _status(task))
    event.add("transp", "TRANSPARENT" if task.all_day or task.kind != Task.Kind.MEETING else "OPAQUE")
    event.add("categories", [str(Task.Kind(task.kind).label)])
    if task.created_at:
        event.add("created", task.created_at.astimezone(UTC))
    if task.updated_at:
        event.add("last-modified", task.updated_at.astimezone(UTC))
    if with_attendees:
        email, name = organizer_email(task)
        event.add("organizer", _person(email, name))
        for attendee in attendee_emails(task):
            event.add(
                "attendee",
                _person(attendee, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp="TRUE", cutype="INDIVIDUAL"),
            )
    return event


def _calendar(*, name: str | None = None, method: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
        cal.add("name", name)
        cal.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", vDuration(REFRESH_INTERVAL))
    return cal


def tasks_to_ical(tasks: Iterable[Task], *, name: str) -> bytes:
    """A subscription feed (METHOD:PUBLISH): one VEVENT per task that has a due date. Load the tasks with
    company, contact and deal selected (`select_related`), or each description costs queries."""
    cal = _calendar(name=name, method="PUBLISH")
    for task in tasks:
        if task_has_time(task):
            cal.add_component(task_to_vevent(task))
    return cal.to_ical()


def meeting_invite_ical(task: Task, *, method: str = "REQUEST") -> bytes:
    """An iTIP message (RFC 5546): METHOD:REQUEST invites or updates, METHOD:CANCEL cancels (STATUS:CANCELLED).
    Same UID for every message of a meeting; SEQUENCE is the task's `ical_sequence`."""
    method = method.upper()
    if method not in {"REQUEST", "CANCEL"}:
        raise ValueError(f"unsupported iTIP method {method!r}")
    if not task_has_time(task):
        raise ValueError("a meeting without a date cannot be sent as an invitation")
    cal = _calendar(method=method)
    cal.add_component(task_to_vevent(task, with_attendees=True, cancelled=method == "CANCEL", itip=True))
    return cal.to_ical()
