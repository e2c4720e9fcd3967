"""IMAP IDLE against a real Dovecot: watcher threads (kramar.comms.idle) see a message APPENDed to the mailbox and
have the existing poll store it within seconds; they renew IDLE, stop on their event, record a wrong password and
keep retrying, fall back to the periodic poll on a server without IDLE, and follow the channel list.

The watchers run in threads with database connections of their own, so the tests use a transactional database.
The test thread waits for the watchers' events instead of querying the database while they work (an in-memory
SQLite database shared between threads refuses a reader and a writer at the same moment); when it must touch the
database while they run, it goes through `db_retry()`, which tries again on such a refusal."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import queue
import signal
import threading
import time
from dataclasses import replace

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from kramar.comms.choices import ChannelKind
from kramar.comms.idle import IdleOptions, WatchEvent, channels_idle, mailbox_watch, mailboxes_watch
from kramar.comms.imap import channel_claim, channel_poll, channel_read_held, mailboxes_due_poll
from kramar.comms.models import Channel, Conversation, Message
from kramar.comms.tests import dovecot
from kramar.comms.tests.dovecot import dovecot_server, imap_user, private_dovecot  # noqa: F401
from kramar.comms.tests.mail_samples import mail

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST = IdleOptions(backoff_min=0.2, backoff_max=0.5, claim_retry_seconds=0.2, refresh_seconds=0.3,
                   notice_seconds=0.2, join_seconds=5)


class Events:
    """Collects a watcher's events (from its thread) and lets the test wait for one."""

    def __init__(self):
        self.queue: queue.Queue[WatchEvent] = queue.Queue()
        self.seen: list[WatchEvent] = []

    def __call__(self, event: WatchEvent) -> None:
        self.queue.put(event)

    def wait(self, kind: str, *, channel: Channel | None = None, timeout: float = 10, when=None) -> WatchEvent:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = self.queue.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError(f"no {kind!r} event within {timeout} s; seen: {self.seen}") from None
            self.seen.append(event)
            if event.kind == kind and (channel is None or event.channel_id == channel.pk) \
                    and (when is None or when(event)):
                return event


def stored(n: int = 1):
    return lambda e: e.result is not None and e.result.stored == n


def taken(e: WatchEvent) -> bool:
    """A read that took the message: stored, or (a read retried after the database refused its cursor update)
    recognised as stored already."""
    return e.result is not None and e.result.stored + e.result.duplicates >= 1


def db_retry(work, *, seconds: float = 5):
    """Run a database operation of the test thread while watcher threads may be writing (see the docstring)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return work()
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def watching(channel: Channel, options: IdleOptions = FAST):
    events, stop = Events(), threading.Event()
    thread = threading.Thread(target=mailbox_watch, kwargs={"channel_id": channel.pk, "stop": stop,
                                                            "options": options, "on_event": events})
    thread.start()
    try:
        yield events, stop, thread
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the watcher did not stop"


def idle_channel(server, user, **settings) -> Channel:
    return Channel.objects.create(kind=ChannelKind.EMAIL, name=f"Sales {user}", address="sales@kramar.test",
                                  settings=server.channel_settings(user, idle=True, **settings),
                                  secret=server.password)


def test_appended_message_is_stored_within_seconds_and_the_watcher_stops_at_once(dovecot_server, imap_user):  # noqa: F811
    # given a watcher in IDLE on an IDLE-enabled mailbox, which has read what was there (nothing)
    channel = idle_channel(dovecot_server, imap_user)
    with watching(channel) as (events, stop, thread):
        events.wait("watching")
        assert events.wait("read").result.fetched == 0
        events.wait("idle")
        # when a message arrives (nobody calls the poll)
        started = time.monotonic()
        dovecot_server.append(imap_user, mail(msg_id="idle-1@client.ua", sender="olena.koval@client.ua",
                                              subject="Швидко"))
        # then it is read and stored within seconds
        event = events.wait("read", when=stored(1), timeout=10)
        latency = time.monotonic() - started
        print(f"\nIMAP IDLE: APPEND to stored in {latency:.2f} s")
        assert latency < 5 and event.result.error == ""
        # and the watcher ends within a second or two of the stop event
        events.wait("idle")
        stop_at = time.monotonic()
        stop.set()
        thread.join(3)
        stopped_in = time.monotonic() - stop_at
        print(f"IMAP IDLE: watcher stopped {stopped_in:.2f} s after the stop event")
        assert not thread.is_alive() and stopped_in < 2
        assert events.wait("stopped", timeout=1)
    message = Message.objects.get()
    assert message.external_id == "idle-1@client.ua" and message.subject == "Швидко"
    assert Conversation.objects.get() == message.conversation and message.conversation.channel == channel
    channel.refresh_from_db()
    assert channel.cursor["uid"] == 1 and channel.last_error == "" and channel.error_count == 0
    # the periodic poll (the safety net) runs beside it and finds nothing new: nothing is stored twice
    again = channel_poll(channel=channel)
    assert (again.fetched, again.stored, again.error) == (0, 0, "")
    Channel.objects.filter(pk=channel.pk).update(cursor={})  # even a poll reading the folder again
    channel.refresh_from_db()
    assert channel_poll(channel=channel).duplicates == 1 and Message.objects.count() == 1


def test_idle_is_renewed_and_still_reports_new_mail(dovecot_server, imap_user):  # noqa: F811
    # given a renew interval of one second (the default is ten minutes)
    channel = idle_channel(dovecot_server, imap_user, idle_renew_seconds=1)
    with watching(channel) as (events, _stop, _thread):
        events.wait("read")
        # when IDLE has been ended and issued again a few times
        for _ in range(3):
            events.wait("renewed", timeout=5)
        events.wait("idle")
        # then a new message is still reported and stored
        started = time.monotonic()
        dovecot_server.append(imap_user, mail(msg_id="renewed@client.ua", sender="olena.koval@client.ua"))
        events.wait("read", when=stored(1), timeout=10)
        print(f"\nIMAP IDLE after 3 renewals: APPEND to stored in {time.monotonic() - started:.2f} s")
    assert Message.objects.get().external_id == "renewed@client.ua"


def test_messages_arriving_while_reading_or_before_the_watcher_are_all_read(dovecot_server, imap_user):  # noqa: F811
    # given two messages already in the mailbox before the watcher starts
    dovecot_server.append(imap_user, mail(msg_id="old-1@client.ua", sender="a@client.ua", subject="one"),
                          mail(msg_id="old-2@client.ua", sender="b@client.ua", subject="two"))
    channel = idle_channel(dovecot_server, imap_user)
    with watching(channel) as (events, _stop, _thread):
        # then its first read takes them
        events.wait("read", when=stored(2))
        events.wait("idle")
        # and a burst of three is read in full, however it is split between reads
        dovecot_server.append(imap_user, *[mail(msg_id=f"burst-{n}@client.ua", sender=f"c{n}@client.ua",
                                                subject=f"burst {n}") for n in range(3)])
        total, deadline = 0, time.monotonic() + 10
        while total < 3:
            total += events.wait("read", timeout=max(deadline - time.monotonic(), 0.01)).result.stored
    assert Message.objects.count() == 5


def test_a_read_in_progress_is_recognised_from_the_channel_row(dovecot_server, imap_user):  # noqa: F811
    channel = idle_channel(dovecot_server, imap_user)
    now = timezone.now()
    assert not channel_read_held(channel, now=now)  # never read
    # a poll claimed by a worker holds it …
    assert channel_claim(channel, now=now)
    channel.refresh_from_db()
    assert channel_read_held(channel, now=now)
    # … until its read ends, well or badly
    assert channel_poll(channel=channel).error == ""
    channel.refresh_from_db()
    assert not channel_read_held(channel, now=timezone.now())
    Channel.objects.filter(pk=channel.pk).update(settings={**channel.settings, "port": dovecot.free_port()})
    channel.refresh_from_db()
    assert channel_poll(channel=channel).error
    channel.refresh_from_db()
    assert channel.next_attempt_at > timezone.now() and not channel_read_held(channel, now=timezone.now())
    # a claim that has expired (its worker died) holds nothing
    assert channel_claim(channel, now=now - dt.timedelta(minutes=11))
    channel.refresh_from_db()
    assert not channel_read_held(channel, now=timezone.now())


def test_watcher_waits_for_the_periodic_poll_instead_of_reading_beside_it(dovecot_server, imap_user):  # noqa: F811
    channel = idle_channel(dovecot_server, imap_user)
    with watching(channel, replace(FAST, claim_retry_seconds=2)) as (events, _stop, _thread):
        events.wait("read")
        events.wait("idle")
        # given the periodic poll of a worker has claimed the channel
        assert db_retry(lambda: channel_claim(Channel.objects.get(pk=channel.pk), now=timezone.now()))
        # when a message arrives, the watcher sees that the channel is held and waits
        dovecot_server.append(imap_user, mail(msg_id="shared@client.ua", sender="olena.koval@client.ua"))
        events.wait("held")
        # and the worker's read (which may have searched the mailbox before the message came) takes it
        polled = channel_poll(channel=Channel.objects.get(pk=channel.pk))  # the watcher sleeps 2 s meanwhile
        assert polled.stored == 1
        # then the watcher reads after it, finds nothing new: one message, stored once
        after = events.wait("read", timeout=10).result
        assert (after.fetched, after.stored, after.error) == (0, 0, "")
    assert Message.objects.get().external_id == "shared@client.ua"


def test_wrong_password_is_recorded_retried_with_backoff_and_recovers(private_dovecot):  # noqa: F811
    # given an IDLE-enabled mailbox with a message, and the wrong password on the channel
    user = private_dovecot.add_user("sales")
    private_dovecot.append(user, mail(msg_id="waiting@client.ua", sender="olena.koval@client.ua"))
    channel = idle_channel(private_dovecot, user)
    Channel.objects.filter(pk=channel.pk).update(secret="wrong")
    with watching(channel) as (events, _stop, thread):
        # when the watcher runs: a clear error, again after a short back-off, no crash
        first = events.wait("error", timeout=15)
        assert "Could not log in to 127.0.0.1 as sales: the server refused the user name or password" in first.message
        events.wait("error", timeout=15)
        assert thread.is_alive()
        saved = db_retry(lambda: Channel.objects.get(pk=channel.pk))
        assert saved.last_error.startswith("Could not log in to 127.0.0.1 as sales") and saved.error_count >= 2
        assert saved.next_attempt_at is not None  # the periodic poll backs off as after a failed poll
        # and when the password is fixed, the next attempt reads the mailbox and clears the error
        db_retry(lambda: Channel.objects.filter(pk=channel.pk).update(secret=private_dovecot.password))
        events.wait("read", when=stored(1), timeout=30)
    channel.refresh_from_db()
    assert (channel.last_error, channel.error_count) == ("", 0)
    assert Message.objects.get().external_id == "waiting@client.ua"


def test_unreachable_server_is_an_error_and_the_watcher_stops_during_its_backoff():
    # given an IDLE-enabled channel whose server does not answer
    port = dovecot.free_port()
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Down", address="down@kramar.test", secret="x",
                                     settings={"host": "127.0.0.1", "port": port, "security": "none", "idle": True})
    slow = IdleOptions(backoff_min=30, backoff_max=60)
    with watching(channel, slow) as (events, stop, thread):
        assert f"Could not connect to 127.0.0.1:{port}" in events.wait("error").message
        # when it is stopped while waiting 30 s to retry, it ends at once
        stop_at = time.monotonic()
        stop.set()
        thread.join(2)
        assert not thread.is_alive() and time.monotonic() - stop_at < 1
    channel.refresh_from_db()
    assert channel.error_count == 1 and f"127.0.0.1:{port}" in channel.last_error


@pytest.fixture
def dovecot_without_idle(monkeypatch):
    """A Dovecot of the test's own that does not advertise IDLE (imap_capability without it)."""
    monkeypatch.setattr(dovecot, "CONFIG", dovecot.CONFIG + "\nimap_capability = IMAP4rev1 LITERAL+ SASL-IR "
                                                            "LOGIN-REFERRALS ID ENABLE UIDPLUS\n")
    server, proc = dovecot.dovecot_start()
    try:
        yield server
    finally:
        dovecot.dovecot_stop(proc, server.root)


def test_server_without_idle_falls_back_to_the_poll_and_says_so(dovecot_without_idle):
    user = dovecot_without_idle.add_user("noidle")
    dovecot_without_idle.append(user, mail(msg_id="polled@client.ua", sender="olena.koval@client.ua"))
    channel = idle_channel(dovecot_without_idle, user)
    with watching(channel, replace(FAST, notice_seconds=1)) as (events, stop, thread):
        # when the watcher finds no IDLE capability: a notice on the channel, no error counted
        notice = events.wait("no_idle").message
        assert "does not support IMAP IDLE" in notice and "periodic poll (every 60 seconds)" in notice
        saved = db_retry(lambda: Channel.objects.get(pk=channel.pk))
        assert (saved.last_error, saved.error_count) == (notice, 0)
        # the periodic poll still reads the mailbox (the watcher looks at the notice again only in a second) …
        results = mailboxes_due_poll()
        assert [(r.stored, r.error) for r in results] == [(1, "")]
        assert db_retry(lambda: Channel.objects.get(pk=channel.pk).last_error) == ""  # a successful poll clears it
        # … and the watcher puts the notice back
        assert events.wait("notice", timeout=3).message == notice
        assert db_retry(lambda: Channel.objects.get(pk=channel.pk).last_error) == notice
        stop_at = time.monotonic()
        stop.set()
        thread.join(2)
        assert not thread.is_alive() and time.monotonic() - stop_at < 1
    assert not [e for e in events.seen if e.kind in ("read", "error")]  # it never read nor failed
    assert Message.objects.get().external_id == "polled@client.ua"


def test_watchers_follow_the_channel_list(dovecot_server, imap_user):  # noqa: F811
    # given one IDLE-enabled mailbox, one without IDLE, and the supervisor running
    first = idle_channel(dovecot_server, imap_user)
    other_user = dovecot_server.add_user(f"{imap_user}b")
    plain = Channel.objects.create(kind=ChannelKind.EMAIL, name="Plain", address="plain@kramar.test",
                                   settings=dovecot_server.channel_settings(other_user), secret=dovecot_server.password)
    assert list(channels_idle()) == [first]
    events, stop = Events(), threading.Event()
    supervisor = threading.Thread(target=mailboxes_watch, kwargs={"stop": stop, "options": FAST, "on_event": events})
    supervisor.start()
    try:
        events.wait("idle", channel=first)
        # when IDLE is enabled on the other mailbox: it gets a watcher, which stores its new mail
        db_retry(lambda: Channel.objects.filter(pk=plain.pk).update(settings={**plain.settings, "idle": True}))
        events.wait("idle", channel=plain)
        dovecot_server.append(other_user, mail(msg_id="second@client.ua", sender="olena.koval@client.ua"))
        events.wait("read", channel=plain, when=taken)
        # when the first mailbox's password changes: its watcher is restarted (and logs in with the new one)
        db_retry(lambda: Channel.objects.filter(pk=first.pk).update(secret="changed"))
        events.wait("stopped", channel=first)
        assert "Could not log in" in events.wait("error", channel=first).message
        # when it is disabled: its watcher ends and is not started again
        db_retry(lambda: Channel.objects.filter(pk=first.pk).update(active=False))
        events.wait("stopped", channel=first)
        seen_before = len(events.seen)
        time.sleep(FAST.refresh_seconds * 3)
        while not events.queue.empty():
            events.seen.append(events.queue.get())
        assert not [e for e in events.seen[seen_before:] if e.channel_id == first.pk]
    finally:
        stop_at = time.monotonic()
        stop.set()
        supervisor.join(5)
    # and a stop ends the supervisor and every watcher within a second or two
    assert not supervisor.is_alive() and time.monotonic() - stop_at < 2.5
    assert not [t for t in threading.enumerate() if t.name.startswith("imap-idle-")]
    assert Message.objects.get().channel == plain


def test_mail_idle_command_stores_new_mail_and_ends_on_sigterm(dovecot_server, imap_user):  # noqa: F811
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("the command's SIGTERM handler needs the main thread")
    # given an IDLE-enabled mailbox and `kramar mail_idle` running in the foreground (this thread)
    channel = idle_channel(dovecot_server, imap_user)
    out = io.StringIO()
    problems: list[str] = []

    def wait_for(text: str, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while text not in out.getvalue():
            if time.monotonic() > deadline:
                problems.append(f"no {text!r} in the output: {out.getvalue()}")
                return False
            time.sleep(0.05)
        return True

    def operator():
        if not wait_for("Watching"):  # the command's signal handlers are in place once it says so
            return
        try:
            if wait_for(f"channel {channel.pk}: in IDLE"):
                dovecot_server.append(imap_user, mail(msg_id="cmd-idle@client.ua", sender="olena.koval@client.ua"))
                wait_for("1 fetched")
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the command's handler turns it into the stop event

    helper = threading.Thread(target=operator)
    helper.start()
    started, handler_before = time.monotonic(), signal.getsignal(signal.SIGTERM)
    call_command("mail_idle", refresh=0.5, verbosity=2, stdout=out)
    helper.join(5)
    # then it read the message and ended cleanly on SIGTERM
    assert not problems, problems
    assert time.monotonic() - started < 20
    output = out.getvalue()
    assert "Watching 1 mailbox with IMAP IDLE" in output and "Stopped." in output
    assert Message.objects.get().external_id == "cmd-idle@client.ua"
    assert signal.getsignal(signal.SIGTERM) == handler_before  # the command put the previous handler back
