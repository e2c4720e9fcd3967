"""The outbox for outgoing e-mail: a message is stored first and sent afterwards, so a failed send is retried,
never dropped.

- `email_enqueue(message, kind=…, ref=…)` stores the message exactly as it was decided (the raw MIME bytes of
  `message.message()`, the envelope sender and recipients) in the caller's transaction, and once that
  transaction commits queues the Huey task `send_outgoing_email_task(id)`. If queueing fails the row is still
  pending and the periodic job sends it.
- `email_send(email_id=…)` makes one attempt: it claims the row with a conditional UPDATE
  (`… SET status = 'sending' WHERE status = 'pending' AND next_attempt_at <= now`), which exactly one caller can
  win on any database, sends the stored bytes through Django's configured e-mail backend, and marks the row
  sent; on any error it stores the error, counts the attempt and puts the row back to pending with an
  exponential delay (1, 2, 4 … minutes, at most an hour). The `MAX_ATTEMPTS`th failure (about 24 hours after
  the first) marks it failed: it stays in the table, visible in the admin, where "Retry now" starts a new round.
- `emails_due_send()` (every minute, `send_due_emails_task`) sends the pending rows that are due, over one
  connection, and stops early when the server cannot be reached (the rest wait for the next run). An attempt
  that never finished (the worker died while sending) is not repeated automatically, because the message may
  have gone out: after `SEND_DEADLINE` it is marked failed with an explanation, for a person to retry.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
from email import policy
from email.message import EmailMessage as MIMEMessage
from email.parser import BytesParser
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from kramar.core.models import OutgoingEmail

logger = logging.getLogger(__name__)

RETRY_FIRST = dt.timedelta(minutes=1)
RETRY_CAP = dt.timedelta(hours=1)
# 1 + 2 + 4 + 8 + 16 + 32 minutes, then hourly: the 30th attempt is about 24 hours after the first
MAX_ATTEMPTS = 30
# an attempt still "sending" after this was interrupted (the SMTP timeout below is far shorter)
SEND_DEADLINE = dt.timedelta(minutes=15)
SMTP_TIMEOUT = 60  # seconds, when EMAIL_TIMEOUT is not set (Django's default would wait forever)
BATCH = 200
ERROR_LIMIT = 4000
INTERRUPTED = (
    "The attempt was interrupted (the worker stopped while sending), so the message may or may not have been "
    "delivered; it is not repeated automatically. Retry it if it did not arrive."
)
# refusals of this one message; any other OSError (SMTPException is one) means the server or the connection
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


# ----------------------------------------------------------------------------------------- the stored message


class _StoredMIME(MIMEMessage):
    """The parsed stored message (headers and parts can be read) that serialises to the stored bytes exactly."""

    _raw: bytes | None = None

    def as_bytes(self, unixfrom: bool = False, policy=None, linesep: str = "\n") -> bytes:  # type: ignore[override]
        if self._raw is None:  # a part of the message
            return super().as_bytes(unixfrom=unixfrom, policy=policy)
        return self._raw if linesep == "\n" else re.sub(rb"\r?\n", linesep.encode(), self._raw)

    def as_string(self, unixfrom: bool = False, maxheaderlen: int = 0, policy=None) -> str:  # type: ignore[override]
        if self._raw is None:
            return super().as_string(unixfrom=unixfrom, maxheaderlen=maxheaderlen, policy=policy)
        return self._raw.decode("utf-8", errors="replace")

    def __bytes__(self) -> bytes:
        return self.as_bytes()

    def __str__(self) -> str:
        return self.as_string()


class StoredEmailMessage(EmailMessage):
    """A Django e-mail message whose `message()` is the stored one, byte for byte, addressed to the stored
    envelope: any e-mail backend (SMTP, the in-memory one of the tests, …) can send it."""

    def __init__(self, *, raw: bytes, sender: str, recipients: list[str]) -> None:
        self.raw = bytes(raw)  # PostgreSQL returns a memoryview
        parsed = self.message()
        super().__init__(subject=str(parsed["Subject"] or ""), from_email=sender, to=list(recipients))

    def message(self, **kwargs) -> _StoredMIME:  # type: ignore[override]
        parsed = BytesParser(_class=_StoredMIME, policy=policy.default).parsebytes(self.raw)
        parsed._raw = self.raw
        return parsed


def email_message(email: OutgoingEmail) -> StoredEmailMessage:
    return StoredEmailMessage(raw=email.raw, sender=email.sender, recipients=list(email.recipients))


# ----------------------------------------------------------------------------------------- enqueue


def _ref(ref: models.Model | tuple[str, int] | None) -> tuple[str, int | None]:
    if ref is None:
        return "", None
    if isinstance(ref, models.Model):
        return (getattr(ref, "scope_entity", "") or ref._meta.model_name or "")[:32], ref.pk
    entity, object_id = ref
    return str(entity)[:32], int(object_id)


def email_enqueue(
    message: EmailMessage, *, kind: str, ref: models.Model | tuple[str, int] | None = None
) -> OutgoingEmail:
    """Store `message` in the outbox, in the caller's transaction, and send it once that commits (retried with
    back-off until sent). `kind` says what it is ("task_reminder", "meeting_invite" …); `ref` is the record it
    is about (a model instance or (entity, id)), kept as plain values so it outlives the record. The message is
    built here (`message.message()`), so a header Django refuses raises now, before anything is stored."""
    if not kind or len(kind) > 32:
        raise ValueError(f"an outgoing e-mail needs a kind of 1 to 32 characters, not {kind!r}")
    recipients = [str(address) for address in message.recipients()]
    if not recipients:
        raise ValueError("an e-mail without recipients cannot be queued")
    raw = message.message().as_bytes()
    entity, object_id = _ref(ref)
    email = OutgoingEmail.objects.create(
        kind=kind, ref_entity=entity, ref_id=object_id, sender=str(message.from_email or settings.DEFAULT_FROM_EMAIL),
        recipients=recipients, subject=" ".join(str(message.subject).split())[:255], raw=raw,
        status=OutgoingEmail.Status.PENDING, next_attempt_at=timezone.now(),
    )
    transaction.on_commit(partial(_schedule, email.pk))
    return email


def _schedule(email_id: int) -> None:
    from kramar.core.tasks import send_outgoing_email_task

    try:
        send_outgoing_email_task(email_id)
    except Exception:  # the row is pending: the periodic job sends it
        logger.exception("outgoing e-mail %s could not be queued; the periodic job will send it", email_id)


# ----------------------------------------------------------------------------------------- send


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`th failed attempt: 1, 2, 4 … minutes, at most an hour."""
    return min(RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 16), RETRY_CAP)


def email_connection():
    """A connection of the configured e-mail backend (with a timeout when EMAIL_TIMEOUT is not set)."""
    if getattr(settings, "EMAIL_TIMEOUT", None) is None:
        return get_connection(fail_silently=False, timeout=SMTP_TIMEOUT)
    return get_connection(fail_silently=False)


def _server_error(exc: BaseException) -> bool:
    """Whether the error is about the server or the connection (so the next messages would fail too)."""
    return isinstance(exc, OSError) and not isinstance(exc, MESSAGE_ERRORS)


def _attempt(
    email_id: int, *, connection=None, due_by: dt.datetime | None = None
) -> tuple[str | None, BaseException | None]:
    now = timezone.now()  # the attempt's own clock: its deadline and the next attempt count from here
    claimed = OutgoingEmail.objects.filter(
        pk=email_id, status=OutgoingEmail.Status.PENDING, next_attempt_at__lte=max(due_by or now, now)
    ).update(
        status=OutgoingEmail.Status.SENDING, attempts=F("attempts") + 1, last_attempt_at=now,
        next_attempt_at=now + SEND_DEADLINE,
    )
    if not claimed:
        return None, None  # sent, being sent by another run, not due yet, or failed
    email = OutgoingEmail.objects.get(pk=email_id)
    own_connection = connection is None
    connection = connection or email_connection()
    try:
        connection.open()
        if connection.send_messages([email_message(email)]) != 1:
            raise RuntimeError("the e-mail backend did not send the message")
    except Exception as exc:
        if not own_connection:
            _close(connection)  # the next message opens a fresh one
        return _failed(email, exc, now), exc
    finally:
        if own_connection:
            _close(connection)
    OutgoingEmail.objects.filter(pk=email_id, status=OutgoingEmail.Status.SENDING).update(
        status=OutgoingEmail.Status.SENT, sent_at=now, next_attempt_at=None
    )
    return OutgoingEmail.Status.SENT, None


def _close(connection) -> None:
    try:
        connection.close()
    except Exception:  # closing a broken connection
        logger.debug("closing the e-mail connection failed", exc_info=True)


def _failed(email: OutgoingEmail, exc: BaseException, now: dt.datetime) -> str:
    error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
    if email.attempts >= MAX_ATTEMPTS:
        status, next_at = OutgoingEmail.Status.FAILED, None
        logger.error("outgoing e-mail %s (%s) to %s failed %s times; giving up: %s",
                     email.pk, email.kind, ", ".join(email.recipients), email.attempts, error)
    else:
        status, next_at = OutgoingEmail.Status.PENDING, now + retry_delay(email.attempts)
        logger.warning("outgoing e-mail %s (%s) to %s: attempt %s failed, next at %s: %s",
                       email.pk, email.kind, ", ".join(email.recipients), email.attempts, next_at.isoformat(), error)
    OutgoingEmail.objects.filter(pk=email.pk, status=OutgoingEmail.Status.SENDING).update(
        status=status, next_attempt_at=next_at, last_error=error
    )
    return status


def email_send(*, email_id: int, connection=None, now: dt.datetime | None = None) -> str | None:
    """One attempt to send outgoing e-mail `email_id` if it is pending and due (by `now`, default the current
    time). Returns the row's new status
    ("sent"; "pending" again after a failure; "failed" when that was the last attempt) or None when this call did
    not claim it (already sent, claimed by another run, not due, failed, or no such row). Never raises for a
    send failure: the error is stored on the row."""
    return _attempt(email_id, connection=connection, due_by=now)[0]


def _interrupted_fail(now: dt.datetime) -> int:
    count = OutgoingEmail.objects.filter(status=OutgoingEmail.Status.SENDING, next_attempt_at__lte=now).update(
        status=OutgoingEmail.Status.FAILED, next_attempt_at=None, last_error=INTERRUPTED
    )
    if count:
        logger.error("%s outgoing e-mail(s) were interrupted while sending and are marked failed", count)
    return count


def emails_due_send(*, now: dt.datetime | None = None) -> int:
    """Send the pending e-mails that are due by `now` (default: the current time), oldest first, over one
    connection; returns how many were sent. A server or connection error ends the run (that row is rescheduled,
    the others keep their turn). First, attempts that passed their deadline unfinished are marked failed."""
    now = now or timezone.now()
    _interrupted_fail(now)
    due = OutgoingEmail.objects.filter(status=OutgoingEmail.Status.PENDING, next_attempt_at__lte=now)
    connection = email_connection()
    sent = 0
    try:
        while True:
            ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:BATCH])
            progressed = False
            for email_id in ids:
                status, error = _attempt(email_id, connection=connection, due_by=now)
                progressed = progressed or status is not None
                if status == OutgoingEmail.Status.SENT:
                    sent += 1
                elif error is not None and _server_error(error):
                    return sent
            if len(ids) < BATCH or not progressed:
                return sent
    finally:
        _close(connection)


def outbox_rows_restart(model, *, ids: list[int], now: dt.datetime, schedule) -> int:
    """"Retry now" of an outbox table (`model` with status pending/failed, attempts, next_attempt_at: the e-mail
    outbox, the chat outbox): a pending row is due now, a failed one gets a new round of attempts, sent rows and
    rows being sent are left alone; `schedule` runs after the commit when any row was set to go. Returns how
    many were."""
    pending = model.objects.filter(pk__in=ids, status="pending").update(next_attempt_at=now)
    failed = model.objects.filter(pk__in=ids, status="failed").update(status="pending", attempts=0,
                                                                       next_attempt_at=now)
    if pending or failed:
        transaction.on_commit(schedule)
    return pending + failed


@transaction.atomic
def emails_retry(*, ids: list[int], now: dt.datetime | None = None) -> int:
    """Send these e-mails now: a pending one without waiting for its delay, a failed one with a new round of
    attempts. Sent rows and rows being sent are left alone. Returns how many were set to go."""
    return outbox_rows_restart(OutgoingEmail, ids=ids, now=now or timezone.now(), schedule=_schedule_due)


def _schedule_due() -> None:
    from kramar.core.tasks import send_due_emails_task

    try:
        send_due_emails_task()
    except Exception:  # the periodic job sends them within a minute
        logger.exception("the outbox run could not be queued; the periodic job will send the e-mails")
