"""IMAP IDLE (RFC 2177) for the mail channels: new mail is read within seconds instead of at the next poll.

A channel with `settings["idle"] = true` (off by default) gets a watcher: a thread holding one IMAP connection on
the channel's folder (EXAMINE, read-only) in IDLE. When the server reports new mail (EXISTS or RECENT) the watcher
calls the existing `imap.channel_poll` through `imap.channel_poll_now`, which claims the channel like the periodic
poll does, so the watcher, the periodic poll and other watchers never read one mailbox at the same time; the
reading, storing, cursor and error handling are channel_poll's own. The periodic poll keeps running as a safety net.

One cycle: NOOP (Dovecot and others report changes made while no IDLE was running only on the next command), a
read if anything is pending, then IDLE until new mail, the renew interval (`settings["idle_renew_seconds"]`,
default 10 minutes, at most 28: RFC 2177 asks to re-issue IDLE within 29 minutes) or the stop event; then DONE.
The stop event is checked every `IdleOptions.check_seconds`. A server without the IDLE capability: the watcher says
so in the channel's last_error (a notice, error_count untouched) and leaves the mailbox to the periodic poll,
checking again every hour. Errors (wrong password, server unreachable, connection lost): recorded on the channel
like a failed poll (last_error, error_count, the poll's back-off) and retried after a back-off of its own (5 s
doubling to 5 minutes by default); a successful read clears them. A watcher never raises.

`mailboxes_watch` keeps one watcher per IDLE-enabled channel, re-reading the channel list every
`IdleOptions.refresh_seconds`: it starts watchers for new channels, stops those of channels disabled, deleted or no
longer IDLE-enabled, and restarts a watcher whose channel's connection settings or password changed. It runs in
`kramar mail_idle` (started by `kramar serve` beside the Huey worker) until SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import DatabaseError, connection
from django.utils.translation import gettext as _
from imapclient.exceptions import IMAPClientError

from kramar.comms.imap import (
    MailboxError,
    PollResult,
    _settings,
    channel_error_record,
    channel_notice_set,
    channel_poll_now,
    mailbox_connect,
)
from kramar.comms.ingest import MAIL_KINDS
from kramar.comms.models import Channel

logger = logging.getLogger(__name__)

DEFAULT_RENEW_SECONDS = 600
MAX_RENEW_SECONDS = 28 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
NEW_MAIL = {b"EXISTS", b"RECENT"}


@dataclass(frozen=True)
class IdleOptions:
    renew_seconds: float = DEFAULT_RENEW_SECONDS  # when the channel has no idle_renew_seconds
    check_seconds: float = 1.0  # how long one wait in IDLE lasts before the stop event is looked at
    backoff_min: float = 5.0  # the first retry after an error; doubles up to backoff_max
    backoff_max: float = 300.0
    claim_retry_seconds: float = 1.0  # another read holds the channel: try again this soon
    refresh_seconds: float = 30.0  # mailboxes_watch re-reads the channel list this often
    notice_seconds: float = 30.0  # without IDLE: the notice is put back this often (a poll clears it)
    recheck_seconds: float = 3600.0  # without IDLE: the capability is looked at again this often
    join_seconds: float = 10.0  # on stop: how long mailboxes_watch waits for its watchers


@dataclass(frozen=True)
class WatchEvent:
    """What a watcher did, for the command's output and for the tests: `watching` (connected, the folder
    selected), `read` (with the PollResult), `idle` (an IDLE command is running: new mail is reported from now on),
    `renewed` (an IDLE ended after the renew interval), `held` (another read holds the channel; tried again soon),
    `no_idle` (the server lacks IDLE, with the notice), `notice` (the notice put back after a poll cleared it),
    `error` (with the message), `stopped`."""

    channel_id: int
    kind: str
    message: str = ""
    result: PollResult | None = None


EventHandler = Callable[[WatchEvent], None]


class ConnectionLost(Exception):
    """The IDLE connection ended without an error from imapclient (BYE, or the socket closed)."""


def channels_idle(*, channel_ids: Iterable[int] | None = None):
    """The active mail channels with an IMAP server and IDLE enabled; with channel_ids, those channels whether
    IDLE is enabled or not (`kramar mail_idle --channel`)."""
    channels = Channel.objects.filter(kind__in=MAIL_KINDS, active=True, settings__has_key="host")
    if channel_ids is not None:
        return channels.filter(pk__in=list(channel_ids)).order_by("id")
    return channels.filter(settings__idle=True).order_by("id")


def channel_idle_fingerprint(channel: Channel) -> str:
    """What a running watcher depends on: a change restarts it (cursor, errors and timestamps do not)."""
    return json.dumps([channel.kind, channel.address, channel.secret, channel.settings], sort_keys=True, default=str)


def _renew_seconds(channel: Channel, options: IdleOptions) -> float:
    value = (channel.settings or {}).get("idle_renew_seconds") or options.renew_seconds
    try:
        return min(max(float(value), 1.0), MAX_RENEW_SECONDS)
    except (TypeError, ValueError):
        return options.renew_seconds


def _has_new_mail(responses) -> bool:
    return any(isinstance(r, tuple) and len(r) > 1 and r[1] in NEW_MAIL for r in responses or ())


def _plain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[2:-1] if text.startswith(("b'", 'b"')) else text


class _Gone(Exception):
    """The channel was deleted, disabled or is no mail channel any more: the watcher ends."""


class MailboxWatcher:
    """One channel's watcher; `run()` returns when the stop event is set or the channel is gone."""

    def __init__(self, *, channel_id: int, stop: threading.Event, options: IdleOptions | None = None,
                 on_event: EventHandler | None = None):
        self.channel_id = channel_id
        self.stop = stop
        self.options = options or IdleOptions()
        self.on_event = on_event
        self.backoff = self.options.backoff_min  # before the next connection attempt
        self.read_backoff = self.options.backoff_min  # before the next read after a failed one

    # ---------------------------------------------------------------------------------------------- helpers
    def emit(self, kind: str, message: str = "", result: PollResult | None = None) -> None:
        if kind in ("error", "no_idle"):
            logger.warning("IDLE watcher of channel %s: %s", self.channel_id, message)
        else:
            level = logging.DEBUG if kind in ("idle", "renewed", "held", "notice") else logging.INFO
            logger.log(level, "IDLE watcher of channel %s: %s %s", self.channel_id, kind, message)
        if self.on_event is not None:
            try:
                self.on_event(WatchEvent(self.channel_id, kind, message, result))
            except Exception:  # a reporting problem never stops the watcher
                logger.exception("IDLE watcher of channel %s: the event handler failed", self.channel_id)

    def failed(self, message: str, *, record: bool) -> None:
        """After an error: record it on the channel (like a failed poll), then wait the back-off (or the stop)."""
        if record:
            try:
                channel_error_record(channel_id=self.channel_id, message=message)
            except DatabaseError:
                logger.exception("IDLE watcher of channel %s: the error could not be recorded", self.channel_id)
            finally:
                connection.close()
        self.emit("error", message)
        self.stop.wait(self.backoff)
        self.backoff = min(self.backoff * 2, self.options.backoff_max)

    # ------------------------------------------------------------------------------------------------ loop
    def run(self) -> None:
        try:
            while not self.stop.is_set():
                channel = None
                try:
                    channel = Channel.objects.filter(pk=self.channel_id, kind__in=MAIL_KINDS, active=True).first()
                    connection.close()  # no database connection is held while waiting in IDLE
                    if channel is None:
                        return
                    self.session(channel)
                except _Gone:
                    return
                except MailboxError as exc:  # connecting or logging in failed: in words already
                    self.failed(str(exc), record=True)
                except (OSError, ssl.SSLError, ConnectionLost, IMAPClientError) as exc:
                    folder = _settings(channel)["folder"] if channel is not None else "INBOX"
                    self.failed(_("Waiting for new mail in %(folder)s failed: %(error)s")
                                % {"folder": folder, "error": _plain(exc)}, record=True)
                except DatabaseError as exc:
                    logger.exception("IDLE watcher of channel %s: database error", self.channel_id)
                    connection.close()
                    self.failed(f"database: {_plain(exc)}", record=False)
                except Exception as exc:  # never let one mailbox end the process
                    logger.exception("IDLE watcher of channel %s failed", self.channel_id)
                    self.failed(f"{type(exc).__name__}: {_plain(exc)}", record=False)
        finally:
            connection.close()
            self.emit("stopped")

    def session(self, channel: Channel) -> None:
        """One connection: check the capability, then NOOP / read / IDLE cycles until the stop event; raises on
        connection errors (the caller records them and backs off)."""
        client = mailbox_connect(channel)
        clean = False
        try:
            if not client.has_capability("IDLE"):
                client.logout()
                clean = True
                self.without_idle(channel)
                return
            folder = _settings(channel)["folder"]
            client.select_folder(folder, readonly=True)
            renew = _renew_seconds(channel, self.options)
            self.emit("watching", f"{folder} on {_settings(channel).get('host')}")
            pending, retry_at = True, 0.0  # first a read: what arrived while nobody watched
            while not self.stop.is_set():
                _text, responses = client.noop()  # changes made while no IDLE ran are reported here
                if _has_new_mail(responses):
                    pending, retry_at = True, 0.0
                if pending and time.monotonic() >= retry_at:
                    wait = self.read()
                    if wait is None:
                        pending = False
                        continue  # a NOOP first: mail may have come during the read
                    retry_at = time.monotonic() + wait
                client.idle()
                self.emit("idle")
                outcome = self.wait_in_idle(client, renew=renew, until=retry_at if pending else None)
                _text, responses = client.idle_done()
                self.backoff = self.options.backoff_min  # a whole IDLE went well: the connection errors are over
                if outcome == "new_mail" or _has_new_mail(responses):
                    pending, retry_at = True, 0.0
                elif outcome == "renew":
                    self.emit("renewed")
            client.logout()
            clean = True
        finally:
            if not clean:
                with contextlib.suppress(Exception):
                    client.shutdown()  # the connection may be dead: no LOGOUT that would wait for a timeout

    def read(self) -> float | None:
        """Read the mailbox now. None when done; else the seconds to wait before trying again (another read
        holds the channel, or the read failed: channel_poll recorded why)."""
        try:
            result = channel_poll_now(channel_id=self.channel_id)
        except Channel.DoesNotExist:
            raise _Gone from None
        finally:
            connection.close()
        if result is None:
            self.emit("held")
            return self.options.claim_retry_seconds
        self.emit("read", result.error, result=result)
        if result.error:  # e.g. the server's limit of connections per account: IDLE holds one, a read needs another
            wait = self.read_backoff
            self.read_backoff = min(self.read_backoff * 2, self.options.backoff_max)
            return wait
        self.read_backoff = self.options.backoff_min
        return None

    def wait_in_idle(self, client, *, renew: float, until: float | None) -> str:
        """Wait in IDLE: "new_mail", "renew" (the interval is over), "retry" (until has come) or "stop"."""
        started = time.monotonic()
        quick_empty = 0
        while not self.stop.is_set():
            now = time.monotonic()
            left = renew - (now - started)
            if left <= 0:
                return "renew"
            if until is not None and now >= until:
                return "retry"
            timeout = min(self.options.check_seconds, left, until - now if until is not None else left)
            responses = client.idle_check(timeout=timeout)
            for response in responses:
                if isinstance(response, tuple) and response and response[0] == b"BYE":
                    raise ConnectionLost(b" ".join(p for p in response[1:] if isinstance(p, bytes)).decode(
                        errors="replace") or "BYE")
            if _has_new_mail(responses):
                return "new_mail"
            # imapclient returns nothing at once, again and again, when the server has closed the socket
            if not responses and time.monotonic() - now < timeout / 10:
                quick_empty += 1
                if quick_empty >= 3:
                    raise ConnectionLost(_("the server closed the connection"))
            else:
                quick_empty = 0
        return "stop"

    def without_idle(self, channel: Channel) -> None:
        """The server lacks IDLE: the periodic poll reads the mailbox; say so on the channel, look again later."""
        self.backoff = self.options.backoff_min
        seconds = int((channel.settings or {}).get("poll_seconds") or 60)
        notice = _(
            "The server %(host)s does not support IMAP IDLE: new mail is read by the periodic poll "
            "(every %(seconds)s seconds) instead."
        ) % {"host": _settings(channel).get("host"), "seconds": seconds}
        deadline = time.monotonic() + self.options.recheck_seconds
        first = True
        while not self.stop.is_set() and time.monotonic() < deadline:
            put = False
            try:
                put = channel_notice_set(channel_id=self.channel_id, message=notice)
            except DatabaseError:
                logger.exception("IDLE watcher of channel %s: the notice could not be recorded", self.channel_id)
            finally:
                connection.close()
            if first or put:
                self.emit("no_idle" if first else "notice", notice)
                first = False
            self.stop.wait(min(self.options.notice_seconds, max(deadline - time.monotonic(), 0)))


def mailbox_watch(*, channel_id: int, stop: threading.Event, options: IdleOptions | None = None,
                  on_event: EventHandler | None = None) -> None:
    """Watch one mail channel's mailbox with IMAP IDLE until `stop` is set or the channel is gone (run it in a
    thread of its own; it closes its database connection when it ends). Never raises."""
    MailboxWatcher(channel_id=channel_id, stop=stop, options=options, on_event=on_event).run()


@dataclass
class _Running:
    fingerprint: str
    stop: threading.Event
    thread: threading.Thread


def mailboxes_watch(*, stop: threading.Event, options: IdleOptions | None = None,
                    on_event: EventHandler | None = None, channel_ids: Iterable[int] | None = None) -> None:
    """Keep a watcher thread per IDLE-enabled mail channel (or per channel of channel_ids) until `stop` is set,
    following the channel list (see the module docstring); then stop them all and wait for them."""
    options = options or IdleOptions()
    ids = list(channel_ids) if channel_ids is not None else None
    running: dict[int, _Running] = {}
    retired: list[threading.Thread] = []
    try:
        while not stop.is_set():
            try:
                wanted = {c.pk: channel_idle_fingerprint(c) for c in channels_idle(channel_ids=ids)}
            except DatabaseError:
                logger.exception("IDLE watchers: the channel list could not be read; the watchers keep running")
                wanted = None
            finally:
                connection.close()
            if wanted is not None:
                for pk, watcher in list(running.items()):
                    if wanted.get(pk) != watcher.fingerprint or not watcher.thread.is_alive():
                        watcher.stop.set()
                        retired.append(watcher.thread)
                        del running[pk]
                for pk, fingerprint in wanted.items():
                    if pk not in running:
                        running[pk] = _watcher_start(pk, fingerprint, options, on_event)
            retired = [t for t in retired if t.is_alive()]
            stop.wait(options.refresh_seconds)
    finally:
        for watcher in running.values():
            watcher.stop.set()
        deadline = time.monotonic() + options.join_seconds
        for thread in [*(w.thread for w in running.values()), *retired]:
            thread.join(max(deadline - time.monotonic(), 0))
        connection.close()


def _watcher_start(channel_id: int, fingerprint: str, options: IdleOptions,
                   on_event: EventHandler | None) -> _Running:
    own_stop = threading.Event()
    thread = threading.Thread(
        target=mailbox_watch, name=f"imap-idle-{channel_id}", daemon=True,
        kwargs={"channel_id": channel_id, "stop": own_stop, "options": options, "on_event": on_event},
    )
    thread.start()
    return _Running(fingerprint, own_stop, thread)
