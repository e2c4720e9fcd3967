"""Reminders fire once: an in-app notification to the assignee and, when asked, an e-mail (through the outbox, so a
failed send is retried); never for a closed task."""

import datetime as dt
import email
import email.policy
import threading

import pytest
from django.core import mail
from django.db import close_old_connections, connection
from django.utils import timezone

from kramar.activities import services
from kramar.activities.models import Task
from kramar.activities.tasks import send_task_reminders_task
from kramar.activities.tests.factories import TaskFactory
from kramar.core.models import Notification, OutgoingEmail
from kramar.core.outbox import emails_due_send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _due(owner, **kwargs):
    now = timezone.now()
    return TaskFactory(owner=owner, remind_at=now - dt.timedelta(minutes=1), due_at=now + dt.timedelta(minutes=14),
                       **kwargs)


def test_a_due_reminder_notifies_the_assignee_and_mails_once(rep_a):
    # given
    task = _due(rep_a, title="Call Ромашка", remind_by_email=True)
    # when
    sent = services.reminders_due_send()
    again = services.reminders_due_send()
    # then
    assert (sent, again) == (1, 0)
    notification = Notification.objects.get()
    assert notification.user_id == rep_a.pk and "Call Ромашка" in notification.text
    assert notification.kind == "task_reminder" and str(task.pk) in notification.url
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [rep_a.email] and "Call Ромашка" in mail.outbox[0].subject
    assert Task.objects.get(pk=task.pk).reminded_at is not None
    # through the outbox
    email = OutgoingEmail.objects.get()
    assert (email.kind, email.ref_entity, email.ref_id) == ("task_reminder", "task", task.pk)
    assert (email.status, email.recipients) == (OutgoingEmail.Status.SENT, [rep_a.email])


def test_a_failed_reminder_email_is_retried_until_it_is_sent(rep_a, smtp_server):
    # given the SMTP server refuses the next message
    _due(rep_a, title="Call Ромашка", remind_by_email=True)
    smtp_server.fail_next(1)

    # when the reminder fires
    assert services.reminders_due_send() == 1

    # then the notification is there, the e-mail waits in the outbox with the error …
    assert Notification.objects.count() == 1
    email = OutgoingEmail.objects.get()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 1) and "451" in email.last_error
    assert smtp_server.wait_for(1, timeout=0.3) == []
    # … and the next due run delivers it, once (the reminder itself is not sent again)
    assert services.reminders_due_send() == 0
    assert emails_due_send(now=email.next_attempt_at) == 1
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == [rep_a.email] and "Call Ромашка" in received.message["Subject"]
    assert emails_due_send(now=email.next_attempt_at + dt.timedelta(hours=2)) == 0
    assert len(smtp_server.wait_for(2, timeout=0.3)) == 1


def test_no_email_unless_asked(rep_a):
    _due(rep_a, remind_by_email=False)
    assert services.reminders_due_send() == 1
    assert Notification.objects.count() == 1 and mail.outbox == [] and not OutgoingEmail.objects.exists()


def test_not_yet_due_done_and_cancelled_tasks_are_not_reminded(rep_a):
    # given
    TaskFactory(owner=rep_a, remind_at=timezone.now() + dt.timedelta(minutes=5))
    done = _due(rep_a, remind_by_email=True)
    cancelled = _due(rep_a, remind_by_email=True)
    services.task_complete(actor=rep_a, task=done)
    services.task_cancel(actor=rep_a, task=cancelled)
    # when
    sent = services.reminders_due_send()
    # then
    assert sent == 0 and Notification.objects.count() == 0 and mail.outbox == []


def test_changing_the_reminder_time_arms_it_again(rep_a):
    # given: a reminder already sent
    task = _due(rep_a)
    services.reminders_due_send()
    # when: the rep moves it to a new time that is due
    services.task_update(actor=rep_a, task=task, data={"remind_at": timezone.now() - dt.timedelta(seconds=5)})
    # then
    assert services.reminders_due_send() == 1
    assert Notification.objects.count() == 2


def test_the_periodic_job_sends_reminders(rep_a):
    _due(rep_a)
    send_task_reminders_task.call_local()
    assert Notification.objects.filter(user=rep_a).count() == 1


def test_concurrent_runs_send_each_reminder_once(rep_a):
    """Two runs at the same time (two threads, two connections): every reminder goes out exactly once."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("an in-memory SQLite database is not shared between threads")
    # given
    for _ in range(20):
        _due(rep_a, remind_by_email=True)
    counts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            counts.append(services.reminders_due_send())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    # when
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then
    assert not errors, errors
    assert sum(counts) == 20
    assert Notification.objects.count() == 20 and len(mail.outbox) == 20
    assert OutgoingEmail.objects.filter(status=OutgoingEmail.Status.SENT).count() == 20


def test_a_reminder_names_only_the_linked_records_the_assignee_may_see(rep_a, team_a, rep_b, team_b):
    # given: rep_a's reminder on their own contact and on team B's company and deal (a director's doing)
    from kramar.clients.tests.factories import CompanyFactory, ContactFactory
    from kramar.sales.tests.factories import DealFactory

    _due(rep_a, team=team_a, title="Call", remind_by_email=True,
         contact=ContactFactory(owner=rep_a, team=team_a, first_name="Олена", last_name="Петренко"),
         company=CompanyFactory(owner=rep_b, team=team_b, name="Кварц Львів"),
         deal=DealFactory(owner=rep_b, team=team_b, title="Львівська угода"))
    # when
    services.reminders_due_send()
    # then: the e-mail as stored and sent
    message = email.message_from_bytes(bytes(OutgoingEmail.objects.get().raw), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Олена Петренко" in body
    assert "Кварц" not in body and "Львівська" not in body
