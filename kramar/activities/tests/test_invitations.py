"""Meeting invitations through the outbox and a real SMTP server (aiosmtpd on 127.0.0.1): the message Outlook and
Google read, sent after the commit and retried until it is sent."""

import datetime as dt

import icalendar
import pytest
import vobject
from django.utils import timezone

from kramar.activities.ical import ical_host
from kramar.activities.invitations import meeting_invite_enqueue, send_meeting_invite_task
from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory
from kramar.core.models import OutgoingEmail
from kramar.core.outbox import emails_due_send
from kramar.core.tasks import send_due_emails_task, send_outgoing_email_task

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def meeting(rep_a):
    return TaskFactory(
        kind=Task.Kind.MEETING, owner=rep_a, title="Зустріч з «Ромашкою»", location="Office 3",
        due_at=dt.datetime(2026, 4, 2, 8, 0, tzinfo=UTC), duration_minutes=60,
        company=CompanyFactory(name="Ромашка"), attendees=["olena@example.com", "Boss@Example.org"],
    )


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Put the invitation of the meeting as it is in the database in the outbox and commit (which sends it)."""

    def send(task, method="REQUEST", **kwargs):
        task.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            email = meeting_invite_enqueue(task=task, method=method, **kwargs)
        if email is not None:
            email.refresh_from_db()
        return email

    return send


def _calendar_part(message):
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    return parts[0]


def _event(part):
    cal = icalendar.Calendar.from_ical(part.get_content())
    return cal, cal.walk("VEVENT")[0]


def test_invitation_arrives_as_a_method_request_calendar_part(smtp_server, rep_a, meeting, send):
    # when
    email = send(meeting, "REQUEST")

    # then one message reached the SMTP server, addressed to every attendee, and the outbox row says so
    assert (email.status, email.attempts, email.kind) == (OutgoingEmail.Status.SENT, 1, "meeting_invite")
    assert (email.ref_entity, email.ref_id) == ("task", meeting.pk)
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


def test_update_and_cancel_keep_the_uid_and_raise_the_sequence(smtp_server, meeting, send):
    # given the invitation went out
    send(meeting)
    # and the meeting moved (the tasks service raises the sequence on such a change)
    Task.objects.filter(pk=meeting.pk).update(
        due_at=dt.datetime(2026, 4, 3, 9, 0, tzinfo=UTC), ical_sequence=1, location="Office 5"
    )

    # when the update and then a cancellation are sent
    send(meeting, "REQUEST")
    Task.objects.filter(pk=meeting.pk).update(status=Task.Status.CANCELLED, ical_sequence=2)
    send(meeting, "CANCEL")

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


def test_invitation_is_written_in_the_organiser_language(smtp_server, meeting, send):
    # given
    meeting.owner.language = "uk"
    meeting.owner.save(update_fields=["language"])

    # when
    send(meeting)

    # then the date in the subject and the text is Ukrainian (2 April)
    [received] = smtp_server.wait_for(1)
    assert "квітня" in received.message["Subject"]
    assert "квітня" in received.message.get_body(("plain",)).get_content()


def test_nothing_is_sent_without_attendees_or_for_a_missing_task(smtp_server, rep_a, send):
    # given
    lonely = TaskFactory(kind=Task.Kind.MEETING, owner=rep_a, attendees=[])

    # when
    queued = [send(lonely), send_meeting_invite_task.call_local(lonely.pk + 1000, "REQUEST")]

    # then
    assert queued == [None, 0]
    assert not OutgoingEmail.objects.exists()
    assert smtp_server.wait_for(1, timeout=0.3) == []


def test_an_smtp_failure_keeps_the_invitation_in_the_outbox_until_a_retry_delivers_it(smtp_server, meeting, send,
                                                                                     caplog):
    # given the server refuses the next message
    smtp_server.fail_next(1)

    # when
    email = send(meeting)

    # then nothing arrived; the invitation waits in the outbox with the error, a minute later
    assert smtp_server.wait_for(1, timeout=0.3) == []
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 1)
    assert "451" in email.last_error and "451" in caplog.text
    assert email.next_attempt_at - email.last_attempt_at == dt.timedelta(minutes=1)
    # and the retry before it is due sends nothing; the one when it is due delivers it, once
    assert emails_due_send() == 0
    assert emails_due_send(now=email.next_attempt_at) == 1
    assert emails_due_send(now=email.next_attempt_at + dt.timedelta(hours=1)) == 0
    [received] = smtp_server.wait_for(1)
    assert received.raw.replace(b"\r\n", b"\n").rstrip() == bytes(email.raw).rstrip()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.SENT, 2)


def test_the_message_is_fixed_when_it_is_queued(smtp_server, meeting, send):
    # given the invitation failed once
    smtp_server.fail_next(1)
    email = send(meeting)

    # when the meeting moves before the retry
    Task.objects.filter(pk=meeting.pk).update(location="Elsewhere", ical_sequence=1)
    emails_due_send(now=email.next_attempt_at)

    # then the retry sends the message as it was decided (the move sends its own update)
    [received] = smtp_server.wait_for(1)
    _, event = _event(_calendar_part(received.message))
    assert (str(event["LOCATION"]), event["SEQUENCE"]) == ("Office 3", 0)


def test_outbox_jobs_send_and_huey_does_not_retry_on_its_own(smtp_server, meeting, send):
    # given the server refuses the next message
    smtp_server.fail_next(1)
    huey = send_outgoing_email_task.huey
    huey.flush()

    # when
    email = send(meeting)

    # then nothing is left in Huey's schedule: the outbox row holds the retry, which the periodic job sends
    assert huey.scheduled() == []
    assert send_outgoing_email_task.retries == 0
    assert email.status == OutgoingEmail.Status.PENDING
    OutgoingEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
    assert send_due_emails_task.call_local() == 1
    [received] = smtp_server.wait_for(1)
    assert _calendar_part(received.message).get_param("method") == "REQUEST"


def test_a_job_queued_before_the_outbox_puts_the_invitation_in_it(smtp_server, meeting,
                                                                  django_capture_on_commit_callbacks):
    # when a send_meeting_invite_task left in a queue from before the outbox runs
    with django_capture_on_commit_callbacks(execute=True):
        queued = send_meeting_invite_task.call_local(meeting.pk, "REQUEST")

    # then
    assert queued == 1
    [received] = smtp_server.wait_for(1)
    assert _calendar_part(received.message).get_param("method") == "REQUEST"
    assert OutgoingEmail.objects.get().status == OutgoingEmail.Status.SENT


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


def _meeting_via_services(rep_a, capture, attendees):
    from kramar.activities import services

    with capture(execute=True):
        return services.task_create(actor=rep_a, data={
            "kind": "meeting", "title": "Kick-off", "due_at": "2026-06-01T10:00:00+03:00", "duration_minutes": 45,
            "location": "Room 1", "attendees": attendees,
        })


def test_deleting_a_meeting_cancels_it_for_its_attendees(smtp_server, rep_a, django_capture_on_commit_callbacks):
    # given a meeting whose invitation went out
    from kramar.activities import services

    task = _meeting_via_services(rep_a, django_capture_on_commit_callbacks, ["client@example.com", "b@example.org"])
    [invitation] = smtp_server.wait_for(1)

    # when it is deleted
    with django_capture_on_commit_callbacks(execute=True):
        services.task_delete(actor=rep_a, task=task)

    # then its attendees get a CANCEL with the same UID and a higher SEQUENCE, though the task is gone
    assert not Task.objects.filter(pk=task.pk).exists()
    _, cancel = smtp_server.wait_for(2)
    assert sorted(cancel.rcpt_tos) == ["b@example.org", "client@example.com"]
    _, invited_event = _event(_calendar_part(invitation.message))
    cancel_cal, cancel_event = _event(_calendar_part(cancel.message))
    assert str(cancel_cal["METHOD"]) == "CANCEL" and cancel_event["STATUS"] == "CANCELLED"
    assert cancel_event["UID"] == invited_event["UID"]
    assert cancel_event["SEQUENCE"] > invited_event["SEQUENCE"]
    assert vobject.readOne(_calendar_part(cancel.message).get_content()).vevent.uid.value == str(cancel_event["UID"])
    assert cancel.message["Subject"].strip().startswith("Cancelled")
    row = OutgoingEmail.objects.get(ref_entity="task", ref_id=task.pk, subject__startswith="Cancelled")
    assert row.status == OutgoingEmail.Status.SENT


def test_deleting_a_cancelled_or_done_meeting_sends_nothing_more(smtp_server, rep_a,
                                                                  django_capture_on_commit_callbacks):
    # given a cancelled meeting (its attendees already had the CANCEL)
    from kramar.activities import services

    task = _meeting_via_services(rep_a, django_capture_on_commit_callbacks, ["client@example.com"])
    with django_capture_on_commit_callbacks(execute=True):
        services.task_cancel(actor=rep_a, task=task)
    assert len(smtp_server.wait_for(2)) == 2

    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.task_delete(actor=rep_a, task=task)

    # then
    assert len(smtp_server.wait_for(3, timeout=0.3)) == 2


def test_a_removed_attendee_gets_a_cancellation_and_the_others_the_update(smtp_server, rep_a,
                                                                          django_capture_on_commit_callbacks):
    # given a meeting with two attendees, invited
    from kramar.activities import services

    task = _meeting_via_services(rep_a, django_capture_on_commit_callbacks, ["stays@example.com", "goes@example.com"])
    [invitation] = smtp_server.wait_for(1)

    # when one of them is taken off the list
    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_update(actor=rep_a, task=task, data={"attendees": ["stays@example.com"]})

    # then the removed one gets a CANCEL that names only them, without cancelling the whole event …
    messages = smtp_server.wait_for(3)
    assert len(messages) == 3
    by_recipient = {tuple(m.rcpt_tos): m for m in messages[1:]}
    cancel, update = by_recipient[("goes@example.com",)], by_recipient[("stays@example.com",)]
    _, invited_event = _event(_calendar_part(invitation.message))
    cancel_cal, cancel_event = _event(_calendar_part(cancel.message))
    assert str(cancel_cal["METHOD"]) == "CANCEL"
    assert cancel_event["UID"] == invited_event["UID"]
    assert cancel_event["SEQUENCE"] == invited_event["SEQUENCE"] + 1 == task.ical_sequence
    attendees = cancel_event["ATTENDEE"]
    assert [str(a) for a in (attendees if isinstance(attendees, list) else [attendees])] == [
        "mailto:goes@example.com"
    ]
    assert "STATUS" not in cancel_event  # RFC 5546 3.2.5: STATUS:CANCELLED would cancel it for everyone
    assert vobject.readOne(_calendar_part(cancel.message).get_content()).vevent.uid.value == str(cancel_event["UID"])
    assert cancel.message["Subject"].strip().startswith("Removed from the meeting")
    # … and the one who stays gets the update with the same SEQUENCE
    update_cal, update_event = _event(_calendar_part(update.message))
    assert str(update_cal["METHOD"]) == "REQUEST"
    assert (update_event["UID"], update_event["SEQUENCE"]) == (cancel_event["UID"], cancel_event["SEQUENCE"])
    assert str(update_event["ATTENDEE"]) == "mailto:stays@example.com"


def test_a_meeting_turned_into_a_call_is_cancelled_for_its_attendees(smtp_server, rep_a,
                                                                      django_capture_on_commit_callbacks):
    # given
    from kramar.activities import services

    task = _meeting_via_services(rep_a, django_capture_on_commit_callbacks, ["client@example.com"])

    # when it stops being a meeting
    with django_capture_on_commit_callbacks(execute=True):
        services.task_update(actor=rep_a, task=task, data={"kind": "call"})

    # then its attendee gets a CANCEL (and no update)
    messages = smtp_server.wait_for(3, timeout=0.5)
    assert len(messages) == 2
    cancel_cal, _ = _event(_calendar_part(messages[1].message))
    assert str(cancel_cal["METHOD"]) == "CANCEL" and messages[1].rcpt_tos == ["client@example.com"]
