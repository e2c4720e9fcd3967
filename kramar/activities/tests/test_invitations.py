"""Meeting invitations through a real SMTP server (aiosmtpd on 127.0.0.1): the message Outlook and Google read."""

import datetime as dt
import smtplib

import icalendar
import pytest
import vobject

from kramar.activities.ical import ical_host
from kramar.activities.invitations import meeting_invite_send, send_meeting_invite_task
from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def meeting(rep_a):
    return TaskFactory(
        kind=Task.Kind.MEETING, owner=rep_a, title="Зустріч з «Ромашкою»", location="Office 3",
        due_at=dt.datetime(2026, 4, 2, 8, 0, tzinfo=UTC), duration_minutes=60,
        company=CompanyFactory(name="Ромашка"), attendees=["olena@example.com", "Boss@Example.org"],
    )


def _calendar_part(message):
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    return parts[0]


def _event(part):
    cal = icalendar.Calendar.from_ical(part.get_content())
    return cal, cal.walk("VEVENT")[0]


def test_invitation_arrives_as_a_method_request_calendar_part(smtp_server, rep_a, meeting):
    # when
    sent = meeting_invite_send(task_id=meeting.pk, method="REQUEST")

    # then one message reached the SMTP server, addressed to every attendee
    assert sent == 1
    [received] = smtp_server.wait_for(1)
    assert sorted(received.rcpt_tos) == ["Boss@Example.org", "olena@example.com"]
    message = received.message
    assert "Зустріч з «Ромашкою»" in message["Subject"]
    assert message["Reply-To"] == rep_a.email
    # a readable text part and, as an alternative, the calendar with the method on its Content-Type
    alternative = next(p for p in message.walk() if p.get_content_type() == "multipart/alternative")
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/calendar"]
    assert "Office 3" in next(alternative.iter_parts()).get_content()
    part = _calendar_part(message)
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    # the calendar itself: METHOD, UID, SEQUENCE, ORGANIZER, ATTENDEEs
    cal, event = _event(part)
    assert cal["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"{meeting.ical_uid}@{ical_host()}"
    assert event["SEQUENCE"] == 0
    assert str(event["SUMMARY"]) == "Зустріч з «Ромашкою»"
    assert event["DTSTART"].dt == dt.datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
    assert str(event["ORGANIZER"]) == f"mailto:{rep_a.email}"
    attendees = {str(a): a.params for a in event["ATTENDEE"]}
    assert set(attendees) == {"mailto:olena@example.com", "mailto:Boss@Example.org"}
    assert all(p["ROLE"] == "REQ-PARTICIPANT" and p["RSVP"] == "TRUE" for p in attendees.values())
    # and the second parser agrees
    assert vobject.readOne(part.get_content()).vevent.uid.value == str(event["UID"])
    # the .ics attachment carries the same calendar
    attachment = next(p for p in message.iter_attachments() if p.get_filename() == "invite.ics")
    assert icalendar.Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]["UID"] == event["UID"]


def test_update_and_cancel_keep_the_uid_and_raise_the_sequence(smtp_server, meeting):
    # given the invitation went out
    meeting_invite_send(task_id=meeting.pk)
    # and the meeting moved (the tasks service raises the sequence on such a change)
    Task.objects.filter(pk=meeting.pk).update(
        due_at=dt.datetime(2026, 4, 3, 9, 0, tzinfo=UTC), ical_sequence=1, location="Office 5"
    )

    # when the update and then a cancellation are sent
    meeting_invite_send(task_id=meeting.pk, method="REQUEST")
    Task.objects.filter(pk=meeting.pk).update(status=Task.Status.CANCELLED, ical_sequence=2)
    meeting_invite_send(task_id=meeting.pk, method="CANCEL")

    # then
    first, update, cancel = smtp_server.wait_for(3)
    _, first_event = _event(_calendar_part(first.message))
    update_cal, update_event = _event(_calendar_part(update.message))
    cancel_part = _calendar_part(cancel.message)
    cancel_cal, cancel_event = _event(cancel_part)
    assert first_event["UID"] == update_event["UID"] == cancel_event["UID"]
    assert (first_event["SEQUENCE"], update_event["SEQUENCE"], cancel_event["SEQUENCE"]) == (0, 1, 2)
    assert update_cal["METHOD"] == "REQUEST"
    assert update_event["DTSTART"].dt == dt.datetime(2026, 4, 3, 9, 0, tzinfo=UTC)
    assert str(update_event["LOCATION"]) == "Office 5"
    assert update.message["Subject"].strip().startswith("Updated invitation")
    assert cancel_part.get_param("method") == "CANCEL"
    assert cancel_cal["METHOD"] == "CANCEL"
    assert cancel_event["STATUS"] == "CANCELLED"
    assert cancel.message["Subject"].strip().startswith("Cancelled")


def test_invitation_is_written_in_the_organiser_language(smtp_server, meeting):
    # given
    meeting.owner.language = "uk"
    meeting.owner.save(update_fields=["language"])

    # when
    meeting_invite_send(task_id=meeting.pk)

    # then the date in the subject and the text is Ukrainian (2 April)
    [received] = smtp_server.wait_for(1)
    assert "квітня" in received.message["Subject"]
    assert "квітня" in received.message.get_body(("plain",)).get_content()


def test_nothing_is_sent_without_attendees_or_for_a_missing_task(smtp_server, rep_a):
    # given
    lonely = TaskFactory(kind=Task.Kind.MEETING, owner=rep_a, attendees=[])

    # when
    sent = [meeting_invite_send(task_id=lonely.pk), meeting_invite_send(task_id=lonely.pk + 1000)]

    # then
    assert sent == [0, 0]
    assert smtp_server.wait_for(1, timeout=0.3) == []


def test_an_smtp_failure_is_logged_and_raised_so_the_job_retries(smtp_server, meeting, caplog):
    # given the server refuses the next message
    smtp_server.fail_next(1)

    # when / then the failure is not swallowed
    with pytest.raises(smtplib.SMTPDataError):
        meeting_invite_send(task_id=meeting.pk)
    assert "meeting invitation REQUEST for task" in caplog.text

    # and the next attempt (the retry) delivers it
    assert meeting_invite_send(task_id=meeting.pk) == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_the_huey_task_sends_and_is_set_to_retry(smtp_server, meeting):
    # when (Huey runs tasks immediately in tests)
    send_meeting_invite_task(meeting.pk, "REQUEST")

    # then
    [received] = smtp_server.wait_for(1)
    assert _calendar_part(received.message).get_param("method") == "REQUEST"
    assert send_meeting_invite_task.retries == 3
    assert send_meeting_invite_task.retry_delay == 60


def test_a_failed_send_in_the_huey_task_is_scheduled_again(smtp_server, meeting):
    # given the server refuses the next message
    smtp_server.fail_next(1)
    huey = send_meeting_invite_task.huey
    huey.flush()

    # when
    send_meeting_invite_task(meeting.pk, "REQUEST")

    # then nothing arrived, and a retry is waiting in the schedule with one retry used
    assert smtp_server.wait_for(1, timeout=0.3) == []
    [retry] = huey.scheduled()
    assert retry.args == (meeting.pk, "REQUEST")
    assert retry.retries == 2
    huey.flush()


def test_the_task_services_send_request_update_and_cancel_through_smtp(
    smtp_server, rep_a, django_capture_on_commit_callbacks
):
    # given
    from kramar.activities import services

    # when a meeting with attendees is created, moved, and cancelled through the services
    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_create(actor=rep_a, data={
            "kind": "meeting", "title": "Kick-off", "due_at": "2026-06-01T10:00:00+03:00", "duration_minutes": 45,
            "location": "Room 1", "attendees": ["client@example.com"],
        })
    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_update(actor=rep_a, task=task, data={"due_at": "2026-06-02T11:00:00+03:00"})
    with django_capture_on_commit_callbacks(execute=True):
        services.task_cancel(actor=rep_a, task=task)

    # then three messages with the same UID and a rising SEQUENCE reached the server
    messages = smtp_server.wait_for(3)
    assert len(messages) == 3
    calendars = [_event(_calendar_part(m.message)) for m in messages]
    assert [str(cal["METHOD"]) for cal, _ in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    assert len({str(event["UID"]) for _, event in calendars}) == 1
    assert [event["SEQUENCE"] for _, event in calendars] == [0, 1, 2]
    assert calendars[1][1]["DTSTART"].dt == dt.datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    assert calendars[2][1]["STATUS"] == "CANCELLED"
    assert all(m.rcpt_tos == ["client@example.com"] for m in messages)
