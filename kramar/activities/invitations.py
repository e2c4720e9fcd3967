"""Meeting invitations by e-mail (iTIP over e-mail, RFC 6047), understood by Outlook, Google Calendar and Apple Mail.

Each message is multipart/alternative with a text/plain part and a `text/calendar; method=REQUEST` part
(Outlook needs the method both on the Content-Type and as METHOD in the body), plus the same calendar as an
`invite.ics` attachment for clients that only look at attachments. An update is a REQUEST with the same UID and a
higher SEQUENCE; a cancellation is METHOD:CANCEL with STATUS:CANCELLED.

SEQUENCE is `task.ical_sequence`: the tasks service raises it when a meeting's time or place changes, when
attendees are removed, and when a meeting is cancelled or deleted; this module only reads it.

Delivery: `meeting_invite_enqueue` builds the message from the meeting as it is at that moment (inside the
service's transaction) and puts it in the outbox (`kramar.core.outbox`), which sends it after the commit and
retries it until it is sent. A CANCEL can go to a subset (`attendees=`): attendees removed from a meeting are
uninvited, the others get the updated REQUEST.
"""

from __future__ import annotations

import copy
import logging

import icalendar
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from kramar.activities import ical
from kramar.activities.models import Task
from kramar.core.models import OutgoingEmail
from kramar.core.outbox import email_enqueue

logger = logging.getLogger(__name__)

METHODS = ("REQUEST", "CANCEL")
EMAIL_KIND = "meeting_invite"


def _when(task: Task) -> str:
    local = timezone.localtime(task.due_at)
    if task.all_day:
        return date_format(local.date(), "DATE_FORMAT")
    return f"{date_format(local, 'DATETIME_FORMAT')} ({timezone.get_current_timezone_name()})"


def _subject(task: Task, method: str, uninvited: bool = False) -> str:
    if uninvited:
        return _("Removed from the meeting: %(title)s") % {"title": task.title}
    if method == "CANCEL":
        return _("Cancelled: %(title)s") % {"title": task.title}
    if task.ical_sequence > 0:
        return _("Updated invitation: %(title)s @ %(when)s") % {"title": task.title, "when": _when(task)}
    return _("Invitation: %(title)s @ %(when)s") % {"title": task.title, "when": _when(task)}


def _body(task: Task, method: str, organizer: str, uninvited: bool = False) -> str:
    if uninvited:
        lines = [_("You are no longer among the attendees of this meeting."), ""]
    elif method == "CANCEL":
        lines = [_("This meeting has been cancelled."), ""]
    elif task.ical_sequence > 0:
        lines = [_("This meeting has been changed."), ""]
    else:
        lines = [_("You are invited to a meeting."), ""]
    lines.append(_("What: %(title)s") % {"title": task.title})
    lines.append(_("When: %(when)s") % {"when": _when(task)})
    if task.duration_minutes and not task.all_day:
        lines.append(_("Duration: %(minutes)s min") % {"minutes": task.duration_minutes})
    if task.location:
        lines.append(_("Where: %(location)s") % {"location": task.location})
    lines.append(_("Organiser: %(organizer)s") % {"organizer": organizer})
    description = ical.task_description(task)
    if description:
        lines += ["", description]
    return "\n".join(lines) + "\n"


def _without_status(calendar: bytes) -> bytes:
    """RFC 5546 3.2.5: a CANCEL that uninvites some attendees lists them and MUST NOT carry STATUS (STATUS:CANCELLED
    would cancel the whole event)."""
    cal = icalendar.Calendar.from_ical(calendar)
    for event in cal.walk("VEVENT"):
        event.pop("STATUS", None)
    return cal.to_ical()


def meeting_invite_message(
    task: Task, *, method: str = "REQUEST", attendees: list[str] | None = None
) -> EmailMultiAlternatives | None:
    """The invitation e-mail of `task` (None when it has no attendees or no date). By default it goes to all
    attendees; `attendees` narrows it to those (and the calendar lists only them): a CANCEL to attendees removed
    from the meeting, worded as such."""
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unsupported iTIP method {method!r}")
    uninvited = attendees is not None and method == "CANCEL"
    if attendees is not None:
        task = copy.copy(task)  # the message's view of the meeting: only these attendees
        task.attendees = list(attendees)
    recipients = ical.attendee_emails(task)
    if not recipients or not ical.task_has_time(task):
        return None
    organizer_email, organizer_name = ical.organizer_email(task)
    language = getattr(task.owner, "language", None) if task.owner_id else None
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = _subject(task, method, uninvited)
        body = _body(
            task, method, f"{organizer_name} <{organizer_email}>" if organizer_name else organizer_email, uninvited
        )
        calendar = ical.meeting_invite_ical(task, method=method)
    if uninvited:
        calendar = _without_status(calendar)
    calendar = calendar.decode()
    message = EmailMultiAlternatives(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients,
        reply_to=[organizer_email],
    )
    # Django turns the subtype into the Content-Type as given: text/calendar; method=REQUEST; charset="utf-8".
    message.attach_alternative(calendar, f"text/calendar; method={method}")
    message.attach("invite.ics", calendar.encode(), "application/ics")
    return message


def meeting_invite_enqueue(
    *, task: Task, method: str = "REQUEST", attendees: list[str] | None = None
) -> OutgoingEmail | None:
    """Put the invitation (REQUEST: new or updated; CANCEL) of `task`, as it is now, in the outbox, which sends it
    once the caller's transaction commits and retries it until it is sent. Call it after the task's changes
    (and its SEQUENCE) are set; for a deleted meeting, before the row is deleted. None when there is nothing to
    send (no attendees or no date)."""
    message = meeting_invite_message(task, method=method, attendees=attendees)
    if message is None:
        return None
    return email_enqueue(message, kind=EMAIL_KIND, ref=("task", task.pk))


@db_task()
def send_meeting_invite_task(task_id: int, method: str = "REQUEST") -> int:
    """Huey: kept only for jobs queued before the outbox existed (a worker upgraded with such jobs in its queue):
    it puts the invitation of the meeting as it is now in the outbox. Returns the number of messages queued."""
    task = Task.objects.select_related("owner", "company", "contact", "deal").filter(pk=task_id).first()
    if task is None:
        logger.warning("meeting invitation %s: task %s no longer exists", method, task_id)
        return 0
    return int(meeting_invite_enqueue(task=task, method=method) is not None)
