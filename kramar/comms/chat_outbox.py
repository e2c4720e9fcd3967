"""The outbox of agents' replies in chats: a reply is stored first and posted to the chat channel's gateway
afterwards, so a gateway that is down gets it later, never loses it. It follows the e-mail outbox
(kramar.core.outbox) and its retry schedule.

- `chat_reply_enqueue(…)` stores the JSON body exactly as decided (`chat_id`, `reply_to`, `message_id`, `text`,
  `agent`, `at`) in the caller's transaction and, once that commits, queues the Huey task
  `send_chat_reply_task(id)`. If queueing fails the row is still pending and the periodic job posts it.
- `chat_reply_send(outgoing_id=…)` makes one attempt: it claims the row with a conditional UPDATE
  (`… SET status = 'sending' WHERE status = 'pending' AND next_attempt_at <= now AND no earlier reply of the
  same chat is still unsent`), which exactly one caller can win on any database, and POSTs the stored body to
  the channel's `settings["reply_url"]`, signed with the channel's secret as the inbound hooks are
  (kramar.comms.signatures; a fresh timestamp at every attempt). The address and the secret are read at each
  attempt, so correcting the URL or rotating the secret applies to replies still waiting. The answer decides:
  2xx: sent. 408, 429, 5xx, a timeout or a connection error: pending again, 1, 2, 4 … minutes later (at most an
  hour; a Retry-After of a 429 or 503 is honoured up to an hour), failed after `MAX_ATTEMPTS` (about a day).
  Any other answer (4xx, a redirect): failed at once, with the status and the first bytes of the answer as the
  error. Rows are never deleted; a failed one stays visible on the conversation page and in the admin, where
  "Retry now" starts a new round (`chat_replies_retry`).
- Replies of one chat go out in the order they were written: a reply waits while an earlier reply of the same
  chat is still pending or being sent, and is posted right after it.
- `chat_replies_due_send()` (every minute, `send_due_chat_replies_task`) posts the pending rows that are due,
  oldest first, skipping the rest of a channel whose gateway could not be reached in this run. An attempt that
  never finished (the worker died while posting) is simply repeated: the gateway de-duplicates by `message_id`.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from kramar.comms.models import Channel, Conversation, OutgoingChatMessage
from kramar.comms.signatures import signature_headers
from kramar.core.outbox import MAX_ATTEMPTS, RETRY_CAP, retry_delay

logger = logging.getLogger(__name__)

Status = OutgoingChatMessage.Status
TIMEOUT = 10  # seconds to connect and for each read; a gateway should answer at once and deliver on its own
# an attempt still "sending" after this was interrupted (far longer than the timeout above)
SEND_DEADLINE = dt.timedelta(minutes=5)
ANSWER_BYTES = 300  # of an answer kept in the error
ERROR_LIMIT = 4000
URL_LIMIT = 2000
BATCH = 200
USER_AGENT = "Kramar-chat-outbox/1"
RETRIED_STATUSES = (408, 429)
INTERRUPTED = "The attempt was interrupted (the worker stopped while posting); it is repeated."


# ----------------------------------------------------------------------------------------- the address


def chat_reply_url(channel: Channel) -> str:
    """The channel's http(s) reply URL (`settings["reply_url"]`), or "" when it has none or it is not one."""
    settings = channel.settings if isinstance(channel.settings, dict) else {}
    url = settings.get("reply_url")
    if not isinstance(url, str):
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > URL_LIMIT:
        return ""
    return url


# ----------------------------------------------------------------------------------------- enqueue


def chat_reply_enqueue(*, channel: Channel, conversation: Conversation | None, chat_id: str, reply_to: str | None,
                       text: str, agent_name: str, at: dt.datetime) -> OutgoingChatMessage:
    """Store the reply's body in the outbox, in the caller's transaction, and post it once that commits (retried
    with back-off until the gateway takes it). Kramar's id of the reply (`message_id`) is chosen here, once."""
    message_id = f"kramar-{uuid.uuid4().hex}"
    payload = {
        "chat_id": chat_id,
        "reply_to": reply_to or None,
        "message_id": message_id,
        "text": text,
        "agent": {"name": agent_name},
        "at": timezone.localtime(at, dt.UTC).isoformat(timespec="seconds"),
    }
    outgoing = OutgoingChatMessage.objects.create(
        channel=channel, conversation=conversation, chat_id=chat_id, message_id=message_id,
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")), status=Status.PENDING,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(partial(_schedule, outgoing.pk))
    return outgoing


def _schedule(outgoing_id: int) -> None:
    from kramar.comms.tasks import send_chat_reply_task

    try:
        send_chat_reply_task(outgoing_id)
    except Exception:  # the row is pending: the periodic job posts it
        logger.exception("chat reply %s could not be queued; the periodic job will post it", outgoing_id)


# ----------------------------------------------------------------------------------------- one POST


@dataclass
class _Outcome:
    status: str  # Status.SENT, Status.PENDING (retry) or Status.FAILED
    http_status: int | None = None
    error: str = ""
    retry_after: int | None = None  # seconds the gateway asked for
    unreachable: bool = False  # no answer at all: the channel's other replies would fail the same way


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed (urllib would repeat a POST as a GET without its body): it is an answer."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _retry_after(headers) -> int | None:
    value = (headers.get("Retry-After") or "").strip() if headers is not None else ""
    return int(value) if value.isdigit() else None


def _post(*, url: str, secret: str, body: bytes) -> _Outcome:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
               **signature_headers(secret=secret, body=body)}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 (http(s) only)
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            response.read(ANSWER_BYTES)
            return _Outcome(Status.SENT, response.status)
    except urllib.error.HTTPError as exc:
        try:
            answer = exc.read(ANSWER_BYTES)
        except Exception:  # noqa: BLE001  (the answer's body is only for the error text)
            answer = b""
        finally:
            exc.close()
        text = " ".join(answer.decode("utf-8", errors="replace").split())
        error = f"HTTP {exc.code}: {text}" if text else f"HTTP {exc.code} {exc.reason}"
        if 300 <= exc.code < 400:
            error = f"HTTP {exc.code}: a redirect to {exc.headers.get('Location') or '?'} (not followed)"
        retried = exc.code in RETRIED_STATUSES or exc.code >= 500
        return _Outcome(Status.PENDING if retried else Status.FAILED, exc.code, error,
                        retry_after=_retry_after(exc.headers) if exc.code in (429, 503) else None)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, unreachable, timeout, TLS, bad URL
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return _Outcome(Status.PENDING, None, f"{type(reason).__name__}: {reason}", unreachable=True)


# ----------------------------------------------------------------------------------------- one attempt


def _earlier_unsent():
    """An earlier reply of the same chat that is still to go out (the later one waits for it)."""
    return OutgoingChatMessage.objects.filter(
        channel_id=OuterRef("channel_id"), chat_id=OuterRef("chat_id"), pk__lt=OuterRef("pk"),
        status__in=(Status.PENDING, Status.SENDING),
    )


def _publish(row: OutgoingChatMessage) -> None:
    """The conversation page shows the delivery state: tell its open browsers."""
    from kramar.comms.routing import conversation_publish

    conv = Conversation.objects.filter(pk=row.conversation_id).only("pk", "status", "queue", "owner").first()
    if conv is not None:
        conversation_publish(conv)


def _attempt(outgoing_id: int, *, due_by: dt.datetime | None = None) -> tuple[OutgoingChatMessage | None, _Outcome]:
    now = timezone.now()  # the attempt's own clock: its deadline and the next attempt count from here
    claimed = (OutgoingChatMessage.objects
               .filter(pk=outgoing_id, status=Status.PENDING, next_attempt_at__lte=max(due_by or now, now))
               .filter(~Exists(_earlier_unsent()))
               .update(status=Status.SENDING, attempts=F("attempts") + 1, last_attempt_at=now,
                       next_attempt_at=now + SEND_DEADLINE))
    if not claimed:  # sent, being sent, not due yet, failed, or waiting for an earlier reply of its chat
        return None, _Outcome(Status.PENDING)
    row = OutgoingChatMessage.objects.select_related("channel").get(pk=outgoing_id)
    url = chat_reply_url(row.channel)
    if not url:
        outcome = _Outcome(Status.PENDING, error="The channel has no reply URL (settings.reply_url).")
    elif not row.channel.secret:
        outcome = _Outcome(Status.PENDING, error="The channel has no secret to sign the reply with.")
    else:
        outcome = _post(url=url, secret=row.channel.secret, body=row.body.encode("utf-8"))
    fields: dict = {"last_status": outcome.http_status, "url": url[:URL_LIMIT]}
    status = outcome.status
    if status == Status.SENT:
        fields.update(status=status, sent_at=now, next_attempt_at=None)
    else:
        error = outcome.error[:ERROR_LIMIT]
        if status == Status.PENDING and row.attempts >= MAX_ATTEMPTS:
            status = Status.FAILED
        if status == Status.FAILED:
            logger.error("chat reply %s (%s) failed after %s attempt(s); giving up: %s",
                         row.pk, row.channel, row.attempts, error)
            fields.update(status=status, next_attempt_at=None, last_error=error)
        else:
            delay = retry_delay(row.attempts)
            if outcome.retry_after:
                delay = max(delay, min(dt.timedelta(seconds=outcome.retry_after), RETRY_CAP))
            logger.warning("chat reply %s (%s): attempt %s failed, next at %s: %s",
                           row.pk, row.channel, row.attempts, (now + delay).isoformat(), error)
            fields.update(status=status, next_attempt_at=now + delay, last_error=error)
    OutgoingChatMessage.objects.filter(pk=row.pk, status=Status.SENDING).update(**fields)
    row.status = status
    _publish(row)
    return row, outcome


def _next_in_chat(row: OutgoingChatMessage, now: dt.datetime) -> int | None:
    """The next reply of the same chat that waited for `row`."""
    return (OutgoingChatMessage.objects
            .filter(channel_id=row.channel_id, chat_id=row.chat_id, pk__gt=row.pk, status=Status.PENDING,
                    next_attempt_at__lte=now)
            .order_by("pk").values_list("pk", flat=True).first())


def chat_reply_send(*, outgoing_id: int, now: dt.datetime | None = None) -> str | None:
    """One attempt to post chat reply `outgoing_id` if it is pending and due (by `now`, default the current time)
    and no earlier reply of its chat is still to go; once it is sent (or failed for good), the replies of the chat
    that waited for it follow. Returns the row's new status ("sent"; "pending" again after a failure; "failed") or None when this
    call did not claim it. Never raises for a delivery failure: the error is stored on the row."""
    row, _outcome = _attempt(outgoing_id, due_by=now)
    first = row.status if row is not None else None
    while row is not None and row.status in (Status.SENT, Status.FAILED):  # no longer holds the chat back
        following = _next_in_chat(row, max(now or timezone.now(), timezone.now()))
        if following is None:
            break
        row, _outcome = _attempt(following, due_by=now)
    return first


def _interrupted_requeue(now: dt.datetime) -> int:
    """Attempts past their deadline: pending again at once (the gateway de-duplicates by message_id), or failed
    when that was the last attempt."""
    stale = OutgoingChatMessage.objects.filter(status=Status.SENDING, next_attempt_at__lte=now)
    failed = stale.filter(attempts__gte=MAX_ATTEMPTS).update(status=Status.FAILED, next_attempt_at=None,
                                                             last_error=INTERRUPTED)
    requeued = stale.update(status=Status.PENDING, next_attempt_at=now, last_error=INTERRUPTED)
    if failed or requeued:
        logger.warning("chat replies interrupted while posting: %s posted again, %s failed", requeued, failed)
    return failed + requeued


def chat_replies_due_send(*, now: dt.datetime | None = None) -> int:
    """Post the pending chat replies that are due by `now` (default: the current time), oldest first; returns how
    many were sent. A channel whose gateway cannot be reached is skipped for the rest of the run (its replies
    keep their turn). First, attempts that passed their deadline unfinished are put back to pending."""
    now = now or timezone.now()
    _interrupted_requeue(now)
    due = OutgoingChatMessage.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
    down: set[int] = set()
    sent, last = 0, 0
    while True:
        rows = list(due.filter(pk__gt=last).exclude(channel_id__in=down).order_by("pk")
                    .values_list("pk", "channel_id")[:BATCH])
        for pk, channel_id in rows:
            last = pk
            if channel_id in down:
                continue
            row, outcome = _attempt(pk, due_by=now)
            if row is not None and row.status == Status.SENT:
                sent += 1
            elif outcome.unreachable:
                down.add(channel_id)
        if len(rows) < BATCH:
            return sent


@transaction.atomic
def chat_replies_retry(*, ids: list[int], now: dt.datetime | None = None) -> int:
    """Post these replies now: a pending one without waiting for its delay, a failed one with a new round of
    attempts. Sent rows and rows being posted are left alone. Returns how many were set to go."""
    from kramar.core.outbox import outbox_rows_restart

    return outbox_rows_restart(OutgoingChatMessage, ids=ids, now=now or timezone.now(), schedule=_schedule_due)


def _schedule_due() -> None:
    from kramar.comms.tasks import send_due_chat_replies_task

    try:
        send_due_chat_replies_task()
    except Exception:  # the periodic job posts them within a minute
        logger.exception("the chat outbox run could not be queued; the periodic job will post the replies")
