"""Meeting invitations by e-mail (iTIP over e-mail, RFC 6047), understood by Outlook, Google Calendar and Apple Mail.

Each message is multipart/alternative with a text/plain part and a `text/calendar; method=REQUEST` part
(Outlook needs the method both on the Content-Type and as METHOD in the body), plus the same calendar as an
`invite.ics` attachment for clients that only look at attachments. An update is a REQUEST with the same UID and a
higher SEQUENCE; a cancellation is METHOD:CANCEL with STATUS:CANCELLED.

SEQUENCE is `task.ical_sequence`: the tasks service raises it when a meeting's time or place changes and when
a meeting is cancelled; this module only reads it.

Delivery: `meeting_invite_send` sends synchronously and raises on an SMTP error (after logging it);
`send_meeting_invite_task` is the Huey task around it that retries, which is what services schedule on
commit, so that a failed send is retried instead of lost.
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from kramar.activities import ical
from kramar.activities.models import Task

logger = logging.getLogger(__name__)

METHODS = ("REQUEST", "CANCEL")


def _when(task: Task) -> str:
    local = timezone.localtime(task.due_at)
    if task.all_day:
        return date_format(local.date(), "DATE_FORMAT")
    return f"{date_format(local, 'DATETIME_FORMAT')} ({timezone.get_current_timezone_name()})"


def _subject(task: Task, method: str) -> str:
    if method == "CANCEL":
        return _("Cancelled: %(title)s") % {"title": task.title}
    if task.ical_sequence > 0:
        return _("Updated invitation: %(title)s @ %(when)s") % {"title": task.title, "when": _when(task)}
    return _("Invitation: %(title)s @ %(when)s") % {"title": task.title, "when": _when(task)}


def _body(task: Task, method: str, organizer: str) -> str:
    if method == "CANCEL":
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


def meeting_invite_message(task: Task, *, method: str = "REQUEST") -> EmailMultiAlternatives | None:
    """The invitation e-mail for all attendees of `task` (None when it has no attendees or no date)."""
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unsupported iTIP method {method!r}")
    recipients = ical.attendee_emails(task)
    if not recipients or not ical.task_has_time(task):
        return None
    organizer_email, organizer_name = ical.organizer_email(task)
    language = getattr(task.owner, "language", None) if task.owner_id else None
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = _subject(task, method)
        body = _body(task, method, f"{organizer_name} <{organizer_email}>" if organizer_name else organizer_email)
    calendar = ical.meeting_invite_ical(task, method=method).decode()
    message = EmailMultiAlternatives(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients,
        reply_to=[organizer_email],
    )
    # Django turns the subtype into the Content-Type as given: text/calendar; method=REQUEST; charset="utf-8".
    message.attach_alternative(calendar, f"text/calendar; method={method}")
    message.attach("invite.ics", calendar.encode(), "application/ics")
    return message


def meeting_invite_send(*, task_id: int, method: str = "REQUEST") -> int:
    """Send the invitation (REQUEST: new or updated; CANCEL) of meeting `task_id` to its attendees.
    Returns the number of messages sent (0: no such task, no attendees or no date). Raises on an SMTP
    error (logged) so that `send_meeting_invite_task` retries."""
    task = Task.objects.select_related("owner", "company", "contact", "deal").filter(pk=task_id).first()
    if task is None:
        logger.warning("meeting invitation %s: task %s no longer exists", method, task_id)
        return 0
    message = meeting_invite_message(task, method=method)
    if message is None:
        return 0
    try:
        return message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError):
        logger.exception(
            "meeting invitation %s for task %s (sequence %s) to %s failed",
            method, task.pk, task.ical_sequence, ", ".join(message.to),
        )
        raise


@db_task(retries=3, retry_delay=60)
def send_meeting_invite_task(task_id: int, method: str = "REQUEST") -> int:
    """Huey: deliver one invitation; retried three times a minute apart when the SMTP server fails."""
    return meeting_invite_send(task_id=task_id, method=method)
