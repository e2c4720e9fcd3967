"""The e-mail outbox: a message is stored as it was decided, sent after the commit through a real SMTP server
(aiosmtpd on 127.0.0.1), retried with back-off after a failure, never sent twice, never dropped."""

import datetime as dt
import socket
import threading

import pytest
from django.core import mail
from django.core.mail import BadHeaderError, EmailMessage
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from kramar.core import outbox
from kramar.core.models import OutgoingEmail
from kramar.core.outbox import (
    MAX_ATTEMPTS,
    email_enqueue,
    email_send,
    emails_due_send,
    emails_retry,
    retry_delay,
)
from kramar.core.tasks import send_due_emails_task

pytestmark = pytest.mark.django_db(transaction=True)  # commits for real: the outbox sends on commit


def _message(n: int = 1, **kwargs) -> EmailMessage:
    kwargs.setdefault("to", [f"client{n}@example.com"])
    return EmailMessage(subject=f"Привіт {n}", body=f"Текст листа {n}\n", from_email="crm@example.com", **kwargs)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _later(email: OutgoingEmail) -> dt.datetime:
    email.refresh_from_db()
    return email.next_attempt_at


# ----------------------------------------------------------------------------------------- enqueue and send


def test_the_stored_message_is_sent_byte_for_byte_after_the_commit(smtp_server):
    # given a message with a hidden copy
    message = _message(bcc=["boss@example.org"])

    # when it is queued in a transaction
    with transaction.atomic():
        email = email_enqueue(message, kind="test_mail", ref=("contact", 42))
        # then nothing left before the commit; the row holds the message, the envelope and the reference
        assert smtp_server.wait_for(1, timeout=0.2) == []
        email.refresh_from_db()
        assert (email.status, email.attempts, email.kind) == (OutgoingEmail.Status.PENDING, 0, "test_mail")
        assert (email.ref_entity, email.ref_id, email.subject) == ("contact", 42, "Привіт 1")
        assert (email.sender, email.recipients) == ("crm@example.com", ["client1@example.com", "boss@example.org"])
        assert b"Bcc" not in bytes(email.raw) and b"Message-ID:" in bytes(email.raw)
    # (and when the transaction commits)

    # then the SMTP server received exactly the stored bytes, for the whole envelope
    [received] = smtp_server.wait_for(1)
    assert received.mail_from == "crm@example.com"
    assert received.rcpt_tos == ["client1@example.com", "boss@example.org"]
    assert received.raw.replace(b"\r\n", b"\n").rstrip() == bytes(email.raw).rstrip()
    assert received.message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Текст листа 1\n"
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (OutgoingEmail.Status.SENT, 1, "")
    assert email.sent_at is not None and email.next_attempt_at is None


def test_a_rolled_back_transaction_queues_nothing(smtp_server):
    # when
    with pytest.raises(RuntimeError), transaction.atomic():
        email_enqueue(_message(), kind="test_mail")
        raise RuntimeError("the write failed")

    # then
    assert not OutgoingEmail.objects.exists()
    assert smtp_server.wait_for(1, timeout=0.2) == []


def test_the_in_memory_backend_gets_the_stored_message():
    # when (the tests' default backend)
    email = email_enqueue(_message(cc=["cc@example.com"]), kind="test_mail")

    # then
    [sent] = mail.outbox
    assert sent.to == ["client1@example.com", "cc@example.com"] and sent.subject == "Привіт 1"
    assert sent.message().as_bytes() == bytes(OutgoingEmail.objects.get(pk=email.pk).raw)
    assert sent.message()["Cc"] == "cc@example.com"


def test_bad_input_is_refused_before_anything_is_stored():
    # when / then: no recipients, a header Django refuses, no kind
    with pytest.raises(ValueError, match="recipients"):
        email_enqueue(EmailMessage(subject="x", body="y", to=[]), kind="test_mail")
    with pytest.raises(BadHeaderError):
        email_enqueue(_message(headers={"X-Note": "a\nb"}), kind="test_mail")
    with pytest.raises(ValueError, match="kind"):
        email_enqueue(_message(), kind="")
    assert not OutgoingEmail.objects.exists()


# ----------------------------------------------------------------------------------------- failures and retries


def test_an_smtp_refusal_keeps_the_message_pending_until_the_next_due_run_sends_it_once(smtp_server, caplog):
    # given the server refuses the next message (451)
    smtp_server.fail_next(1)

    # when it is queued (and the commit tries to send it)
    email = email_enqueue(_message(), kind="test_mail")

    # then it is pending with one attempt, the error, and a next attempt a minute later
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 1)
    assert "SMTPDataError" in email.last_error and "451" in email.last_error
    assert email.next_attempt_at - email.last_attempt_at == dt.timedelta(minutes=1)
    assert "attempt 1 failed" in caplog.text
    assert smtp_server.wait_for(1, timeout=0.2) == []

    # when runs come: one before it is due, one when it is due, one later
    early = emails_due_send()
    due = emails_due_send(now=email.next_attempt_at)
    later = emails_due_send(now=email.next_attempt_at + dt.timedelta(hours=1))

    # then it was sent by the due run, exactly once
    assert (early, due, later) == (0, 1, 0)
    assert len(smtp_server.wait_for(2, timeout=0.3)) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.SENT, 2)
    assert "451" in email.last_error  # the history stays


def test_an_unreachable_server_keeps_the_message_pending(smtp_server, settings):
    # given the backend points at a closed port
    settings.EMAIL_PORT = _closed_port()

    # when
    email = email_enqueue(_message(), kind="test_mail")

    # then
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 1)
    assert "ConnectionRefusedError" in email.last_error

    # when the server is back and the retry is due
    settings.EMAIL_PORT = smtp_server.port
    assert emails_due_send(now=email.next_attempt_at) == 1

    # then
    assert len(smtp_server.wait_for(1)) == 1
    assert OutgoingEmail.objects.get(pk=email.pk).status == OutgoingEmail.Status.SENT


def test_the_delay_doubles_up_to_an_hour_and_about_a_day_of_attempts_ends_in_failed(smtp_server, settings):
    # given the delays: 1, 2, 4 … minutes, at most an hour, over about 24 hours in all
    assert [retry_delay(n) for n in range(1, 9)] == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    total = sum((retry_delay(n) for n in range(1, MAX_ATTEMPTS)), dt.timedelta())
    assert dt.timedelta(hours=23) < total < dt.timedelta(hours=25)
    # and a server that never answers
    settings.EMAIL_PORT = _closed_port()
    email = email_enqueue(_message(), kind="test_mail")
    delays = []

    # when every due run fails
    for _ in range(MAX_ATTEMPTS + 3):
        email.refresh_from_db()
        if email.status != OutgoingEmail.Status.PENDING:
            break
        delays.append(email.next_attempt_at - email.last_attempt_at)
        emails_due_send(now=email.next_attempt_at)

    # then the waits doubled up to an hour, and after the last attempt the message is failed and still there
    assert delays[:8] == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    email.refresh_from_db()
    assert (email.status, email.attempts, email.next_attempt_at) == (OutgoingEmail.Status.FAILED, MAX_ATTEMPTS, None)
    assert "ConnectionRefusedError" in email.last_error
    assert emails_due_send(now=timezone.now() + dt.timedelta(days=30)) == 0

    # when someone retries it with the server back
    settings.EMAIL_PORT = smtp_server.port
    assert emails_retry(ids=[email.pk]) == 1

    # then a new round starts and it is sent
    assert len(smtp_server.wait_for(1)) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.SENT, 1)


def test_a_refused_message_does_not_stop_the_run_but_an_unreachable_server_does(smtp_server, settings):
    # given three due messages, queued while no server could be reached
    settings.EMAIL_PORT = _closed_port()
    emails = [email_enqueue(_message(n), kind="test_mail") for n in range(3)]
    settings.EMAIL_PORT = smtp_server.port
    due = max(_later(e) for e in emails)

    # when the server refuses the first one only
    smtp_server.fail_next(1)
    sent = emails_due_send(now=due)

    # then the others were sent in the same run
    assert sent == 2
    assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(2)) == ["client1@example.com", "client2@example.com"]

    # given two more due messages while the server is down
    settings.EMAIL_PORT = _closed_port()
    emails = [email_enqueue(_message(n), kind="test_mail") for n in (7, 8)]
    OutgoingEmail.objects.filter(pk__in=[e.pk for e in emails]).update(next_attempt_at=timezone.now())

    # when
    assert emails_due_send() == 0

    # then the run stopped at the first connection error: only one was tried, the other kept its turn
    tried = sorted(OutgoingEmail.objects.filter(pk__in=[e.pk for e in emails]).values_list("attempts", flat=True))
    assert tried == [1, 2]  # each had its on-commit attempt; the run made one more, then stopped


def test_an_attempt_interrupted_mid_send_is_marked_failed_not_sent_again(smtp_server):
    # given a message claimed by a worker that died while sending
    email = email_enqueue(_message(), kind="test_mail")
    smtp_server.clear()
    OutgoingEmail.objects.filter(pk=email.pk).update(
        status=OutgoingEmail.Status.SENDING, next_attempt_at=timezone.now() + outbox.SEND_DEADLINE
    )

    # when runs come before and after its deadline
    before = emails_due_send()
    after = emails_due_send(now=timezone.now() + outbox.SEND_DEADLINE + dt.timedelta(seconds=1))

    # then it is not sent again (it may have gone out) but marked failed, for a person to retry
    assert (before, after) == (0, 0)
    assert smtp_server.wait_for(1, timeout=0.2) == []
    email.refresh_from_db()
    assert email.status == OutgoingEmail.Status.FAILED and "interrupted" in email.last_error


# ----------------------------------------------------------------------------------------- never twice


def test_a_row_is_sent_once_whatever_runs_it_again(smtp_server):
    # given a sent message
    email = email_enqueue(_message(), kind="test_mail")
    assert len(smtp_server.wait_for(1)) == 1

    # when it is sent again by every way there is
    again = [email_send(email_id=email.pk), email_send(email_id=email.pk, now=timezone.now() + dt.timedelta(days=1)),
             emails_due_send(now=timezone.now() + dt.timedelta(days=1)), send_due_emails_task.call_local(),
             emails_retry(ids=[email.pk])]

    # then nothing more went out
    assert again == [None, None, 0, 0, 0]
    assert len(smtp_server.wait_for(2, timeout=0.3)) == 1


class _OverlappingBackend(SMTPBackend):
    """While it sends a message, a second run starts (as a second worker would)."""

    nested: list = []

    def _send(self, email_message):
        type(self).nested.append((emails_due_send(), email_send(email_id=self.email_id)))
        return super()._send(email_message)


def test_a_run_overlapping_a_send_does_not_send_the_same_row(smtp_server, settings):
    # given a due message, and a backend that starts another run in the middle of sending it
    settings.EMAIL_PORT = _closed_port()
    email = email_enqueue(_message(), kind="test_mail")
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_BACKEND = f"{__name__}._OverlappingBackend"
    _OverlappingBackend.email_id = email.pk
    _OverlappingBackend.nested = []

    # when
    sent = emails_due_send(now=_later(email))

    # then the overlapping run found it claimed and sent nothing; the server got it once
    assert sent == 1
    assert _OverlappingBackend.nested == [(0, None)]
    assert len(smtp_server.wait_for(2, timeout=0.3)) == 1


def test_concurrent_runs_send_each_row_once(smtp_server, settings):
    """Two runs at the same time (two threads, two database connections): every message goes out exactly once."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("an in-memory SQLite database is not shared between threads")
    # given 20 due messages (queued while the server was unreachable)
    settings.EMAIL_PORT = _closed_port()
    emails = [email_enqueue(_message(n), kind="test_mail") for n in range(20)]
    settings.EMAIL_PORT = smtp_server.port
    now = max(_later(e) for e in emails)
    counts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            counts.append(emails_due_send(now=now))
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
    received = smtp_server.wait_for(21, timeout=0.5)
    assert len(received) == 20
    assert len({m.message["Message-ID"] for m in received}) == 20
    assert OutgoingEmail.objects.filter(status=OutgoingEmail.Status.SENT, attempts=2).count() == 20


# ----------------------------------------------------------------------------------------- admin


def _failed_and_sent(smtp_server, settings):
    settings.EMAIL_PORT = _closed_port()
    failed = email_enqueue(_message(1), kind="task_reminder")
    OutgoingEmail.objects.filter(pk=failed.pk).update(status=OutgoingEmail.Status.FAILED, next_attempt_at=None)
    settings.EMAIL_PORT = smtp_server.port
    sent = email_enqueue(_message(2), kind="meeting_invite")
    smtp_server.wait_for(1)
    smtp_server.clear()
    return failed, sent


def test_the_admin_lists_filters_and_shows_the_outbox(client, admin_user, smtp_server, settings):
    # given
    failed, sent = _failed_and_sent(smtp_server, settings)
    client.force_login(admin_user)

    # when
    page = client.get("/admin/core/outgoingemail/")
    only_failed = client.get("/admin/core/outgoingemail/", {"status__exact": "failed"})
    only_invites = client.get("/admin/core/outgoingemail/", {"kind": "meeting_invite"})
    detail = client.get(f"/admin/core/outgoingemail/{failed.pk}/change/")
    searched = [client.get("/admin/core/outgoingemail/", {"q": q}) for q in ("Привіт 2", str(sent.pk), "x1")]

    # then
    assert page.status_code == only_failed.status_code == only_invites.status_code == detail.status_code == 200
    assert "Привіт 1" in page.text and "Привіт 2" in page.text
    assert "Привіт 1" in only_failed.text and "Привіт 2" not in only_failed.text
    assert "Привіт 2" in only_invites.text and "Привіт 1" not in only_invites.text
    assert "ConnectionRefusedError" in detail.text and "Message-ID" in detail.text
    assert [r.status_code for r in searched] == [200, 200, 200]
    assert "Привіт 2" in searched[0].text and "Привіт 1" not in searched[0].text
    assert client.get("/admin/core/outgoingemail/add/").status_code == 403
    assert client.post(f"/admin/core/outgoingemail/{failed.pk}/delete/").status_code == 403


def test_retry_now_in_the_admin_sends_a_failed_message_and_leaves_a_sent_one(client, admin_user, smtp_server,
                                                                             settings):
    # given
    failed, sent = _failed_and_sent(smtp_server, settings)
    client.force_login(admin_user)

    # when
    response = client.post(
        "/admin/core/outgoingemail/",
        {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]},
        follow=True,
    )

    # then the failed one went out, the sent one did not go out again
    assert response.status_code == 200
    assert "1 e-mail will be sent again now." in response.text
    assert "1 e-mail was left alone" in response.text
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["client1@example.com"]
    assert len(smtp_server.wait_for(2, timeout=0.3)) == 1
    assert OutgoingEmail.objects.get(pk=failed.pk).status == OutgoingEmail.Status.SENT


def test_retry_now_needs_the_change_permission(client, rep_a, smtp_server, settings):
    # given a staff user who may only view the outbox
    from django.contrib.auth.models import Permission

    failed, _sent = _failed_and_sent(smtp_server, settings)
    rep_a.is_staff = True
    rep_a.save(update_fields=["is_staff"])
    rep_a.user_permissions.add(Permission.objects.get(codename="view_outgoingemail"))
    client.force_login(rep_a)

    # when
    page = client.get("/admin/core/outgoingemail/")
    response = client.post("/admin/core/outgoingemail/", {"action": "retry_now", "_selected_action": [failed.pk]})

    # then the list is there without the action, and the message stays failed
    assert page.status_code == 200 and "retry_now" not in page.text
    assert response.status_code in (200, 302)
    assert OutgoingEmail.objects.get(pk=failed.pk).status == OutgoingEmail.Status.FAILED
    assert smtp_server.wait_for(1, timeout=0.2) == []
