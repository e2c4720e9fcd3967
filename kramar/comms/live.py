"""Live updates: server-sent events to open browsers.

A change that others should see at once (a call ringing for an agent, a conversation offered, answered or moved,
a queue that grew) calls `live_publish(topics, kind, payload)` inside its transaction: one `LiveEvent` row per
topic, committed with the change (a rolled-back change publishes nothing). A browser keeps one connection to
`/comms/events/` (`static/kramar/live.js`, an `EventSource`); the view reads the rows of the user's topics after
the last id it sent and streams them as `id: …`, `event: <kind>`, `data: <json>`. A reconnecting browser sends
`Last-Event-ID` and misses nothing kept in the table; a fresh one starts from now.

Topics: `user:<id>` (that agent: offers, call pops, mentions), `queue:<id>` (every member and supervisor of the
queue), `supervisors` (anyone who may supervise: supervisor page counters).

Delivery is by polling the indexed table (`topic, id`) every `POLL_SECONDS`: it needs no broker, works the same
on SQLite and PostgreSQL and across processes (the Huey worker publishes what the mail poller ingested), and an
event reaches the browser within about half a second. Under ASGI (uvicorn, `kramar serve`) the stream is an
async generator, one cheap query per tick per connection; under WSGI (the test live server, `runserver`) a
plain generator. A connection ends after `MAX_SECONDS`; the browser reconnects by itself with its last id.
`sync_streams_end()` ends the open plain-generator streams at their next tick (a WSGI server stopping; the test
fixture that ends them before a live-server test's database goes away)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError, close_old_connections
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from kramar.comms.models import LiveEvent, Queue

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0  # also how soon a sync (WSGI) stream notices a closed connection
MAX_SECONDS = 300.0  # KRAMAR_LIVE_MAX_SECONDS (the tests' live server uses a few seconds)
BATCH = 200
KEEP = dt.timedelta(days=1)


def live_publish(topics: Iterable[str], kind: str, payload: dict | None = None) -> None:
    """Queue `kind` with `payload` for every connection listening to one of `topics` (in the caller's
    transaction)."""
    rows = [
        LiveEvent(topic=topic, kind=kind, payload=payload or {}) for topic in dict.fromkeys(topics) if topic
    ]
    if rows:
        LiveEvent.objects.bulk_create(rows)


def user_topic(user_or_id) -> str:
    return f"user:{getattr(user_or_id, 'pk', user_or_id)}"


def queue_topic(queue_or_id) -> str:
    return f"queue:{getattr(queue_or_id, 'pk', queue_or_id)}"


SUPERVISORS = "supervisors"


def topics_for(user) -> list[str]:
    """What `user`'s browser listens to: their own topic, their queues' and the supervisors' when they
    supervise a queue (or may see every conversation)."""
    from kramar.core import scopes

    queue_ids = set(Queue.objects.filter(memberships__user=user).values_list("id", flat=True))
    supervised = set(Queue.objects.filter(supervisors=user).values_list("id", flat=True))
    topics = [user_topic(user), *(queue_topic(q) for q in sorted(queue_ids | supervised))]
    if supervised or user.is_superuser or scopes.scope_for(user, "conversation", "view") == scopes.ALL:
        topics.append(SUPERVISORS)
    return topics


def events_after(topics: list[str], last_id: int, *, limit: int = BATCH) -> list[LiveEvent]:
    return list(LiveEvent.objects.filter(topic__in=topics, id__gt=last_id).order_by("id")[:limit])


def last_event_id() -> int:
    return LiveEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_prune(*, now: dt.datetime | None = None) -> int:
    deleted, _ = LiveEvent.objects.filter(created_at__lt=(now or timezone.now()) - KEEP).delete()
    return deleted


def sse_format(event: LiveEvent) -> bytes:
    data = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.pk}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def _start_id(request) -> int:
    header = request.headers.get("Last-Event-ID") or request.GET.get("last_id") or ""
    return int(header) if header.isdigit() else -1


def _poll(topics: list[str], last_id: int) -> tuple[list[bytes], int]:
    try:
        events = events_after(topics, last_id)
        return [sse_format(e) for e in events], (events[-1].pk if events else last_id)
    finally:
        close_old_connections()


def _max_seconds() -> float:
    return float(getattr(settings, "KRAMAR_LIVE_MAX_SECONDS", MAX_SECONDS))


_sync_ending = threading.Event()
_sync_open = 0
_sync_lock = threading.Condition()


def sync_streams_end(*, timeout: float = 5.0) -> bool:
    """End the open WSGI streams at their next tick and wait until their generators have returned (True) or
    `timeout` passed (False). New streams are served again afterwards."""
    _sync_ending.set()
    try:
        with _sync_lock:
            return _sync_lock.wait_for(lambda: _sync_open == 0, timeout=timeout)
    finally:
        _sync_ending.clear()


def _sync_stream(topics: list[str], last_id: int):
    global _sync_open
    limit = _max_seconds()
    started = beat = time.monotonic()
    with _sync_lock:
        _sync_open += 1
    try:
        yield b"retry: 1000\n\n"
        while time.monotonic() - started < limit and not _sync_ending.is_set():
            try:
                chunks, last_id = _poll(topics, last_id)
            except DatabaseError:  # the database went away (a restart): end; the browser reconnects
                return
            yield from chunks
            if not chunks and time.monotonic() - beat > HEARTBEAT_SECONDS:
                beat = time.monotonic()
                yield b": keep-alive\n\n"
            _sync_ending.wait(POLL_SECONDS)
    finally:
        with _sync_lock:
            _sync_open -= 1
            _sync_lock.notify_all()


async def _async_stream(topics: list[str], last_id: int):
    poll = sync_to_async(_poll, thread_sensitive=False)
    limit = _max_seconds()
    started = beat = time.monotonic()
    yield b"retry: 1000\n\n"
    while time.monotonic() - started < limit:
        chunks, last_id = await poll(topics, last_id)
        for chunk in chunks:
            yield chunk
        if not chunks and time.monotonic() - beat > HEARTBEAT_SECONDS:
            beat = time.monotonic()
            yield b": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)


def _stream_start_sync(user, start: int) -> tuple[list[str], int]:
    """The user's topics and, for a fresh connection (start < 0), the id to start after: now, fixed before the
    client sees the response."""
    topics = topics_for(user)
    return topics, (last_event_id() if start < 0 else start)


def _stream_start(user, start: int) -> tuple[list[str], int]:
    try:
        return _stream_start_sync(user, start)
    finally:
        close_old_connections()


async def live_events(request):
    """`text/event-stream` of the signed-in user's topics (401 when signed out: a redirect to the sign-in page
    means nothing to an EventSource)."""
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    start = _start_id(request)
    if isinstance(request, ASGIRequest):  # in the pool that polls, whose connections are closed after each use
        topics, start = await sync_to_async(_stream_start, thread_sensitive=False)(user, start)
        stream = _async_stream(topics, start)
    else:
        topics, start = await sync_to_async(_stream_start_sync)(user, start)
        stream = _sync_stream(topics, start)
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
