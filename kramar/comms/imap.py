"""Reading the mail channels' mailboxes over IMAP (imapclient), UID-based and resumable.

A channel of kind email, dropbox or fax with `settings = {"host", "port", "security": "ssl" | "starttls" |
"none", "username", "folder", "mark_seen", "batch_size", "poll_seconds"}` and its password in `secret` is read
from `cursor = {"folder", "uidvalidity", "uid"}` on: new UIDs are fetched in batches with BODY.PEEK[] (the
message is not marked read unless `mark_seen`), and each one is stored (a Message, a duplicate, or an
InboundFailure) before the cursor moves past it, so a crash reads it again and idempotency keeps it single. A
FETCH batch is one transaction (each message in its own savepoint, the cursor moved at its end): one commit per
batch instead of two per message.
Nothing is deleted from the mailbox. A changed UIDVALIDITY restarts from the first UID (duplicates are
recognized by Message-ID). A wrong password or an unreachable server sets `last_error` in words, counts
`error_count` and moves `next_attempt_at` back exponentially (1, 2, 4 … minutes, at most an hour); it never
raises to the worker.

Reads out of turn (the IMAP IDLE watchers of kramar.comms.idle): `channel_poll_now` claims the channel like the
periodic poll (`channel_claim`), unless `channel_read_held` sees a read in progress, and calls `channel_poll`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import ssl
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.comms.ingest import MAIL_KINDS, email_ingest
from kramar.comms.models import Channel

logger = logging.getLogger(__name__)

CLAIM_MINUTES = 10  # a poll in progress holds its channel this long (a crashed worker's claim then expires)
MAX_BACKOFF_SECONDS = 3600


@dataclass
class PollResult:
    channel_id: int
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    error: str = ""
    uids: list[int] = field(default_factory=list)


class MailboxError(Exception):
    """A mailbox could not be read; the message is for the channel's page."""


def _settings(channel: Channel) -> dict:
    s = dict(channel.settings or {})
    security = (s.get("security") or ("ssl" if s.get("ssl") else "starttls" if s.get("starttls") else "ssl")).lower()
    s["security"] = security
    s["port"] = int(s.get("port") or (993 if security == "ssl" else 143))
    s["username"] = s.get("username") or channel.address
    s["folder"] = s.get("folder") or "INBOX"
    return s


def mailbox_connect(channel: Channel):
    """A logged-in IMAPClient for the channel; raises MailboxError with a readable reason."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError, LoginError

    s = _settings(channel)
    host, port = s.get("host"), s["port"]
    if not host:
        raise MailboxError(_("The channel has no IMAP server (settings: host)."))
    try:
        client = IMAPClient(host, port=port, ssl=s["security"] == "ssl", timeout=float(s.get("timeout", 30)))
    except (OSError, ssl.SSLError, IMAPClientError) as exc:
        raise MailboxError(
            _("Could not connect to %(host)s:%(port)s: %(error)s") % {"host": host, "port": port, "error": exc}
        ) from exc
    try:
        if s["security"] == "starttls":
            client.starttls()
        client.login(s["username"], channel.secret)
    except LoginError as exc:
        _logout(client)
        raise MailboxError(
            _("Could not log in to %(host)s as %(user)s: the server refused the user name or password (%(error)s).")
            % {"host": host, "user": s["username"], "error": _plain(exc)}
        ) from exc
    except (OSError, ssl.SSLError, IMAPClientError) as exc:
        _logout(client)
        raise MailboxError(
            _("Could not log in to %(host)s as %(user)s: %(error)s")
            % {"host": host, "user": s["username"], "error": _plain(exc)}
        ) from exc
    return client


def _plain(exc: Exception) -> str:
    text = str(exc)
    return text[2:-1] if text.startswith(("b'", 'b"')) else text


def _logout(client) -> None:
    with contextlib.suppress(Exception):  # already gone
        client.logout()


def _retry_seconds(error_count: int) -> int:
    """The back-off after the error_count-th failure in a row: 1, 2, 4 … minutes, at most an hour."""
    return min(60 * 2 ** min(error_count - 1, 12), MAX_BACKOFF_SECONDS)


def _record_error(channel: Channel, message: str) -> None:
    now = timezone.now()
    channel.error_count += 1
    delay = _retry_seconds(channel.error_count)
    channel.last_error = message
    channel.last_polled_at = now
    channel.next_attempt_at = now + dt.timedelta(seconds=delay)
    channel.save(update_fields=["error_count", "last_error", "last_polled_at", "next_attempt_at", "updated_at"])
    logger.warning("mailbox of channel %s: %s", channel.pk, message)


def channel_poll(*, channel: Channel) -> PollResult:
    """Read the channel's new messages and store each one; errors end up on the channel, never raised."""
    from imapclient.exceptions import IMAPClientError

    result = PollResult(channel_id=channel.pk)
    s = _settings(channel)
    try:
        client = mailbox_connect(channel)
    except MailboxError as exc:
        result.error = str(exc)
        _record_error(channel, result.error)
        return result
    try:
        folder = s["folder"]
        info = client.select_folder(folder, readonly=not s.get("mark_seen"))
        uidvalidity = int(info[b"UIDVALIDITY"])
        cursor = channel.cursor or {}
        last_uid = int(cursor.get("uid") or 0)
        if cursor.get("uidvalidity") != uidvalidity or cursor.get("folder", folder) != folder:
            last_uid = 0
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        batch_size = max(1, int(s.get("batch_size") or 50))
        for start in range(0, len(uids), batch_size):
            batch = uids[start:start + batch_size]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            seen = []
            # one commit a batch: each message is stored in its own savepoint (email_ingest's atomic block), the
            # cursor moves with them; a crash before the commit reads the whole batch again
            with transaction.atomic():
                for uid in batch:
                    raw = (fetched.get(uid) or {}).get(b"BODY[]")
                    if raw is None:  # expunged meanwhile
                        continue
                    result.fetched += 1
                    outcome = email_ingest(channel=channel, raw=bytes(raw),
                                           source_ref=f"{folder}:{uidvalidity}:{uid}")
                    if outcome.status == "stored":
                        result.stored += 1
                    elif outcome.status == "duplicate":
                        result.duplicates += 1
                    else:
                        result.failed += 1
                    result.uids.append(uid)
                    seen.append(uid)
                if seen:
                    channel.cursor = {"folder": folder, "uidvalidity": uidvalidity, "uid": seen[-1]}
                    Channel.objects.filter(pk=channel.pk).update(cursor=channel.cursor)
            if s.get("mark_seen") and seen:
                client.add_flags(seen, [b"\\Seen"])
    except (OSError, ssl.SSLError, IMAPClientError) as exc:
        result.error = _("Reading %(folder)s failed: %(error)s") % {"folder": s["folder"], "error": _plain(exc)}
        _record_error(channel, result.error)
        return result
    finally:
        _logout(client)
    now = timezone.now()
    channel.last_polled_at, channel.last_error, channel.error_count = now, "", 0
    channel.next_attempt_at = now + dt.timedelta(seconds=int(s.get("poll_seconds") or 60))
    channel.save(update_fields=["last_polled_at", "last_error", "error_count", "next_attempt_at", "updated_at"])
    return result


def channels_due(*, now: dt.datetime | None = None):
    now = now or timezone.now()
    return (
        Channel.objects.filter(kind__in=MAIL_KINDS, active=True)
        .filter(settings__has_key="host")  # no IMAP server configured: nothing to poll
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("next_attempt_at", "id")
    )


def channel_claim(channel: Channel, *, now: dt.datetime) -> bool:
    """Take the channel for one poll (compare-and-set on next_attempt_at), so two workers never read it at once."""
    claimed = Channel.objects.filter(pk=channel.pk, next_attempt_at=channel.next_attempt_at).update(
        next_attempt_at=now + dt.timedelta(minutes=CLAIM_MINUTES)
    )
    return bool(claimed)


def mailboxes_due_poll(*, now: dt.datetime | None = None) -> list[PollResult]:
    """Poll every active mail channel whose next attempt is due (the periodic job)."""
    now = now or timezone.now()
    results = []
    for channel in channels_due(now=now):
        if not channel_claim(channel, now=now):
            continue
        results.append(channel_poll(channel=channel))
    return results


# ------------------------------------------------------------------ reads out of turn (IMAP IDLE, kramar.comms.idle)
def channel_read_held(channel: Channel, *, now: dt.datetime) -> bool:
    """Whether a read holds the channel right now (the periodic poll's, or another watcher's).

    No column of its own: channel_claim moves next_attempt_at CLAIM_MINUTES ahead, while a finished read leaves it
    exactly `poll_seconds` after last_polled_at (after an error: exactly the back-off delay, see _record_error).
    So a next attempt in the future that is neither of those is a claim (or a date set by hand, which counts as
    one until it passes)."""
    due = channel.next_attempt_at
    if due is None or due <= now:
        return False
    if channel.last_polled_at is None:
        return True  # claimed before its first read ended
    if channel.error_count:
        left = _retry_seconds(channel.error_count)
    else:
        left = int(_settings(channel).get("poll_seconds") or 60)
    return due - channel.last_polled_at != dt.timedelta(seconds=left)


def channel_poll_now(*, channel_id: int) -> PollResult | None:
    """Read an active mail channel now, out of its turn (IMAP IDLE reported new mail): claimed with channel_claim
    like the periodic poll, then channel_poll. None when a read holds the channel right now; the caller tries again
    shortly (that read may have searched the mailbox before the new message arrived). Raises Channel.DoesNotExist
    when the channel is gone, inactive or no mail channel any more."""
    now = timezone.now()
    channel = Channel.objects.get(pk=channel_id, kind__in=MAIL_KINDS, active=True)
    if channel_read_held(channel, now=now):
        return None
    before = channel.next_attempt_at
    if not channel_claim(channel, now=now):
        return None
    claimed = now + dt.timedelta(minutes=CLAIM_MINUTES)
    try:
        return channel_poll(channel=channel)
    except BaseException:
        # channel_poll never raises for the mailbox; this is the database (or a stop): give the claim back
        with contextlib.suppress(Exception):
            Channel.objects.filter(pk=channel_id, next_attempt_at=claimed).update(next_attempt_at=before)
        raise


def channel_error_record(*, channel_id: int, message: str) -> None:
    """Record an error of the channel's mailbox that happened outside channel_poll (the IDLE connection): the same
    last_error, error_count and back-off as a failed poll."""
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is not None:
        _record_error(channel, message)


def channel_notice_set(*, channel_id: int, message: str) -> bool:
    """Show a notice in the channel's last_error while it holds no error (error_count untouched); the next
    successful poll clears it like an error, so the caller sets it again."""
    return bool(Channel.objects.filter(pk=channel_id, last_error="").update(last_error=message))
