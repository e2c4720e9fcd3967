"""Two workers routing at the same time (two threads, two database connections) never offer one conversation twice
and never fill an agent over capacity."""

import threading

import pytest
from django.db import close_old_connections, connection

from kramar.comms.choices import AssignmentStatus, ConversationStatus
from kramar.comms.models import Assignment, Conversation
from kramar.comms.routing import conversation_route
from kramar.comms.tests.factories import ChannelFactory, ConversationFactory, QueueFactory

pytestmark = pytest.mark.django_db(transaction=True)  # each thread commits for real


def _in_two_threads(work) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(n):
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_workers_never_double_assign_nor_overfill(make_agent, now):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("an in-memory SQLite database is not shared between threads")
    # given 4 agents of capacity 3 (12 places) and 30 new conversations
    queue = QueueFactory()
    agents = [make_agent(f"Agent{n}", queue, capacity=3) for n in range(4)]
    channel = ChannelFactory(queue=queue)
    convs = [ConversationFactory(channel=channel) for _ in range(30)]

    # when two workers route every conversation, in the same order (racing for each one)
    def work(n):
        for conv in convs:
            conversation_route(conv, now=now)

    errors = _in_two_threads(work)
    # then
    assert not errors, errors
    offers = list(Assignment.objects.filter(status=AssignmentStatus.OFFERED).values_list("conversation_id", "user_id"))
    assert len(offers) == 12 and len({c for c, _ in offers}) == 12
    for agent in agents:
        assert Conversation.objects.filter(owner=agent, status=ConversationStatus.NEW).count() == 3
    assert Conversation.objects.filter(owner__isnull=True).count() == 18


def test_two_workers_on_different_conversations_never_overfill_an_agent(make_agent, now):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("an in-memory SQLite database is not shared between threads")
    # given 2 agents of capacity 4 (8 places) and 30 new conversations, split between two workers
    queue = QueueFactory()
    agents = [make_agent(f"Agent{n}", queue, capacity=4) for n in range(2)]
    channel = ChannelFactory(queue=queue)
    convs = [ConversationFactory(channel=channel) for _ in range(30)]

    # when each worker routes its own half at the same time
    def work(n):
        for conv in convs[n::2]:
            conversation_route(conv, now=now)

    errors = _in_two_threads(work)
    # then no agent holds more than their capacity, and all 8 places are used
    assert not errors, errors
    for agent in agents:
        assert Conversation.objects.filter(owner=agent).count() == 4
    assert Assignment.objects.filter(status=AssignmentStatus.OFFERED).count() == 8
