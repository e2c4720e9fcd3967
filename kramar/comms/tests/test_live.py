"""Live updates over server-sent events: what is published reaches the listening browser, and only the
browsers whose topics it names; a reconnect resumes after the last id; signed-out requests get 401."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.test import AsyncClient

from kramar.accounts.tests.factories import UserFactory
from kramar.comms.live import (
    SUPERVISORS,
    events_after,
    events_prune,
    live_publish,
    queue_topic,
    topics_for,
    user_topic,
)
from kramar.comms.models import LiveEvent
from kramar.comms.tests.factories import LiveEventFactory, QueueFactory, QueueMemberFactory
from kramar.comms.tests.sse import SseClient, session_id_for


def test_topics_of_an_agent_a_supervisor_and_a_director(db, rep_a, director):
    sales, service = QueueFactory(name="Sales"), QueueFactory(name="Service")
    QueueMemberFactory(queue=sales, user=rep_a)
    boss = UserFactory(username="boss", role="Sales rep")
    service.supervisors.add(boss)

    assert topics_for(rep_a) == [user_topic(rep_a), queue_topic(sales)]
    assert topics_for(boss) == [user_topic(boss), queue_topic(service), SUPERVISORS]
    assert SUPERVISORS in topics_for(director)  # sees every conversation


def test_publish_writes_one_row_per_topic_and_reads_filter_by_topic(db, rep_a, rep_b):
    live_publish([user_topic(rep_a), user_topic(rep_a), queue_topic(3)], "conversation.changed", {"id": 7})
    live_publish([user_topic(rep_b)], "call.ringing", {"from": "+380671234567"})

    mine = events_after([user_topic(rep_a)], 0)
    assert [(e.topic, e.kind, e.payload) for e in mine] == [
        (user_topic(rep_a), "conversation.changed", {"id": 7})
    ]
    assert [e.kind for e in events_after([queue_topic(3), user_topic(rep_b)], 0)] == [
        "conversation.changed",
        "call.ringing",
    ]
    assert events_after([user_topic(rep_b)], mine[0].pk + 10) == []


def test_rolled_back_change_publishes_nothing(db, rep_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        live_publish([user_topic(rep_a)], "conversation.changed", {"id": 1})
        raise RuntimeError
    assert not LiveEvent.objects.exists()


def test_old_events_are_pruned(db):
    from django.utils import timezone

    old = LiveEventFactory()
    LiveEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timezone.timedelta(days=2))
    fresh = LiveEventFactory()
    assert events_prune() == 1
    assert list(LiveEvent.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_signed_out_request_is_refused(client, db):
    assert client.get("/comms/events/").status_code == 401


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_event_reaches_a_live_browser_connection_and_not_another_user(live_server, client, rep_a, rep_b):
    with (
        SseClient(live_server.url, session_id_for(client, rep_a)) as mine,
        SseClient(live_server.url, session_id_for(client, rep_b)) as theirs,
    ):
        assert mine.status == 200 and mine.content_type.startswith("text/event-stream")
        live_publish([user_topic(rep_a)], "call.ringing", {"from": "+380671234567"})
        event = mine.next_event(timeout=3)
        assert event is not None and event.kind == "call.ringing"
        assert event.data == {"from": "+380671234567"}
        assert theirs.next_event(timeout=1.0) is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_reconnect_with_last_event_id_gets_what_it_missed(live_server, client, rep_a):
    first = LiveEvent.objects.create(topic=user_topic(rep_a), kind="conversation.changed", payload={"id": 1})
    LiveEvent.objects.create(topic=user_topic(rep_a), kind="conversation.changed", payload={"id": 2})
    with SseClient(live_server.url, session_id_for(client, rep_a), last_id=str(first.pk)) as sse:
        event = sse.next_event(timeout=3)
    assert event is not None and event.data == {"id": 2}


@pytest.mark.django_db(transaction=True)
def test_asgi_stream_is_asynchronous_and_delivers_published_events(rep_a):
    """The production path (uvicorn): an async generator that reads the table without blocking the loop."""

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(rep_a)
        response = await client.get("/comms/events/")
        assert response.status_code == 200 and response.is_async
        stream = aiter(response.streaming_content)
        assert (await anext(stream)).startswith(b"retry:")
        def publish():  # another process's write, in a thread with its own connection (closed after)
            try:
                live_publish([user_topic(rep_a)], "mention", {"conversation": 5})
            finally:
                connections.close_all()

        publisher = threading.Timer(0.2, publish)
        publisher.start()
        chunk = await asyncio.wait_for(anext(stream), timeout=5)
        publisher.join()
        await stream.aclose()
        await sync_to_async(connections.close_all)()  # the request's thread, as the server does after a request
        return chunk

    chunk = asyncio.run(scenario())
    assert b"event: mention\n" in chunk and b'data: {"conversation":5}' in chunk
