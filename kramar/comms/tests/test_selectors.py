"""The inbox reads: who sees which conversation (role scope, queue members, supervisors), the tabs and filters
of the list, the thread, canned responses, and the supervisor overview's counts — with bounded queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.comms import selectors, services
from kramar.comms.choices import ChannelKind, ConversationStatus, MessageDirection, Presence, Priority
from kramar.comms.tests.factories import (
    AgentProfileFactory,
    CannedResponseFactory,
    ChannelFactory,
    ConversationFactory,
    LoadWeightFactory,
    MessageFactory,
    QueueFactory,
    QueueMemberFactory,
)
from kramar.comms.tests.test_services import World
from kramar.core.pagination import capped_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(rep_a, rep_b):
    return World(rep_a, rep_b)


def ids(qs):
    return {c.pk for c in qs}


# --------------------------------------------------------------------------------------- scopes
def test_visibility_role_scope_queue_members_and_supervisors(world, rep_a, rep_b, rep_a2, director, admin_user):
    # given: a waiting conversation of the Service queue, rep_a's open one, rep_b's open one in the same queue
    waiting = ConversationFactory(channel=world.channel, queue=world.queue)
    mine = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a, status="open")
    theirs = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_b, status="open")
    other_queue = ConversationFactory(channel=world.channel, queue=QueueFactory())
    # rep_b becomes a member of the queue too
    QueueMemberFactory(queue=world.queue, user=rep_b)

    # then: a member sees the waiting one and their own, not another agent's open one
    assert ids(selectors.conversations_visible(rep_a)) == {waiting.pk, mine.pk}
    assert ids(selectors.conversations_visible(rep_b)) == {waiting.pk, theirs.pk}
    # a rep of the same team, not in the queue: nothing (team scope needs the conversation's team)
    assert ids(selectors.conversations_visible(rep_a2)) == set()
    # the supervisor sees every conversation of the queue, not other queues
    assert ids(selectors.conversations_visible(world.boss)) == {waiting.pk, mine.pk, theirs.pk}
    # roles that see all, and superusers
    everything = {waiting.pk, mine.pk, theirs.pk, other_queue.pk}
    assert ids(selectors.conversations_visible(director)) == everything
    assert ids(selectors.conversations_visible(admin_user)) == everything
    # the guarded fetch
    assert selectors.conversation_get(actor=rep_a, pk=mine.pk) == mine
    for forbidden in (theirs, other_queue):
        with pytest.raises(Http404):
            selectors.conversation_get(actor=rep_a, pk=forbidden.pk)
    with pytest.raises(Http404):
        selectors.conversation_messages(actor=rep_a, conversation=theirs)


def test_team_scope_sees_the_teams_conversations(world, rep_a, rep_a2, lead_a, team_a):
    shared = ConversationFactory(channel=world.channel, owner=rep_a2, team=team_a, status="open")
    assert shared.pk in ids(selectors.conversations_visible(rep_a))  # Sales rep: view scope team
    assert shared.pk in ids(selectors.conversations_visible(lead_a))
    # but only the agent who has it (or a supervisor) may change it
    assert not selectors.conversation_can_change(rep_a, shared)
    assert selectors.conversation_can_change(rep_a2, shared)


# --------------------------------------------------------------------------------------- the list
def test_boxes_status_queue_and_search(world, rep_a, director):
    now = timezone.now()
    offered = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a, subject="Offer",
                                  last_message_at=now)
    opened = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a, status="open",
                                 subject="Котли", last_message_at=now - dt.timedelta(hours=1))
    pending = ConversationFactory(channel=world.channel, owner=rep_a, status="pending", subject="Waiting",
                                  last_message_at=now - dt.timedelta(hours=2))
    closed = ConversationFactory(channel=world.channel, owner=rep_a, status="closed", subject="Old")
    low = ConversationFactory(channel=world.channel, queue=world.queue, priority=Priority.LOW, subject="Low",
                              opened_at=now - dt.timedelta(hours=5))
    urgent = ConversationFactory(channel=world.channel, queue=world.queue, priority=Priority.URGENT,
                                 subject="Urgent", opened_at=now)
    old_normal = ConversationFactory(channel=world.channel, queue=world.queue, subject="Old normal",
                                     opened_at=now - dt.timedelta(hours=3), contact=world.contact)
    MessageFactory(conversation=old_normal, from_address="petro@supplier.test")

    def subjects(**kw):
        return [c.subject for c in selectors.conversation_list(actor=rep_a, **kw)]

    assert subjects(box="mine") == ["Offer", "Котли", "Waiting"]  # newest first, not closed
    assert subjects(box="mine", status="closed") == ["Old"]
    assert subjects(box="mine", status="pending") == ["Waiting"]
    assert len(subjects(box="mine", status="any")) == 4
    assert subjects(box="queues") == ["Urgent", "Old normal", "Low"]  # priority, then the longest waiting
    assert subjects(box="queues", q="supplier") == ["Old normal"]  # the sender's address
    assert subjects(box="queues", q="шевченко") == ["Old normal"]  # the client's name
    assert subjects(box="mine", q="котли") == ["Котли"]
    # "all" is everything visible: a rep's own and their queue's waiting ones
    assert set(subjects(box="all")) == {"Offer", "Котли", "Waiting", "Low", "Urgent", "Old normal"}
    assert "Urgent" in [c.subject for c in selectors.conversation_list(actor=director, box="all")]
    assert subjects(box="mine", queue_id=world.queue.pk) == ["Offer", "Котли"]
    assert subjects(box="mine", status="bogus") == []
    assert {offered.pk, opened.pk, pending.pk, closed.pk, low.pk, urgent.pk}  # built


def test_supervisor_queue_box_shows_the_queues_open_conversations(world, rep_a):
    open_one = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a, status="open")
    waiting = ConversationFactory(channel=world.channel, queue=world.queue)
    assert ids(selectors.conversation_list(actor=world.boss, box="queues")) == {open_one.pk, waiting.pk}
    assert ids(selectors.conversation_list(actor=rep_a, box="queues")) == {waiting.pk}


def test_thread_in_order_with_notes(world, rep_a):
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status="open")
    now = timezone.now()
    second = MessageFactory(conversation=conv, direction=MessageDirection.OUTBOUND, sent_at=now)
    first = MessageFactory(conversation=conv, sent_at=now - dt.timedelta(minutes=5))
    note = MessageFactory(conversation=conv, direction=MessageDirection.NOTE, sent_at=now + dt.timedelta(minutes=1),
                          external_id=None)
    assert selectors.conversation_messages(actor=rep_a, conversation=conv) == [first, second, note]


def test_canned_responses_for_a_conversation(world, rep_a, rep_b):
    other = QueueFactory()
    shared = CannedResponseFactory(name="A shared")
    own = CannedResponseFactory(name="B own", owner=rep_a)
    CannedResponseFactory(name="C someone else's", owner=rep_b)
    queue_one = CannedResponseFactory(name="D queue", queue=world.queue)
    CannedResponseFactory(name="E other queue", queue=other)
    CannedResponseFactory(name="F inactive", active=False)
    english = CannedResponseFactory(name="G en", language="en")
    CannedResponseFactory(name="H de", language="de")
    conv = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a, language="en")
    assert list(selectors.canned_responses_for(actor=rep_a, conversation=conv)) == [shared, own, queue_one, english]


# --------------------------------------------------------------------------------------- supervisor
def test_supervisor_overview_counts_agents_and_breaches(world, rep_a, rep_b):
    now = timezone.now()
    LoadWeightFactory(channel_kind=ChannelKind.PHONE, weight=3)
    phone = ChannelFactory(kind=ChannelKind.PHONE, queue=world.queue)
    QueueMemberFactory(queue=world.queue, user=rep_b)
    AgentProfileFactory(user=rep_b, presence=Presence.AWAY, capacity=4)
    q = world.queue
    ConversationFactory(channel=world.channel, queue=q, opened_at=now - dt.timedelta(minutes=30))
    ConversationFactory(channel=world.channel, queue=q, opened_at=now - dt.timedelta(minutes=5),
                        sla_warned_at=now)
    ConversationFactory(channel=world.channel, queue=q, owner=rep_a)  # offered
    breached = ConversationFactory(channel=phone, queue=q, owner=rep_a, status="open", sla_breached_at=now,
                                   sla_warned_at=now)
    ConversationFactory(channel=world.channel, queue=q, owner=rep_b, status="pending")
    ConversationFactory(channel=world.channel, queue=q, owner=rep_b, status="closed", sla_breached_at=now)
    ConversationFactory(channel=world.channel, queue=QueueFactory(), status="new")  # not supervised

    overview = selectors.supervisor_overview(actor=world.boss, now=now)

    (row,) = overview["queues"]
    assert (row.queue, row.waiting, row.offered, row.open, row.pending, row.breached, row.warned) == (
        q, 2, 1, 1, 1, 1, 1)
    assert row.waiting_seconds == 30 * 60
    agents = {a.user.username: a for a in overview["agents"]}
    assert (agents["rep_a"].presence, agents["rep_a"].load, agents["rep_a"].capacity) == ("online", 4, 5)
    assert agents["rep_a"].offered == 1 and agents["rep_a"].conversations == 2
    assert (agents["rep_b"].presence, agents["rep_b"].load, agents["rep_b"].capacity) == ("away", 1, 4)
    assert [a.user.username for a in overview["agents"]] == ["rep_a", "rep_b"]  # online first
    assert overview["breached"] == [breached]
    assert overview["totals"] == {"waiting": 2, "breached": 1, "online": 1}


def test_supervisor_overview_is_for_supervisors(world, rep_a, director):
    with pytest.raises(PermissionDenied):
        selectors.supervisor_overview(actor=rep_a)
    assert selectors.may_supervise(director) and selectors.may_supervise(world.boss)
    # a director supervises every queue
    QueueFactory(name="Accounting")
    assert {r.queue.name for r in selectors.supervisor_overview(actor=director)["queues"]} == {"Service", "Accounting"}


# --------------------------------------------------------------------------------------- query counts
def _fill(world, n: int, agents: list):
    for i in range(n):
        queue = world.queue if i % 2 else QueueFactory()
        if queue != world.queue:
            QueueMemberFactory(queue=queue, user=agents[i % len(agents)])
        conv = ConversationFactory(channel=world.channel, queue=queue, owner=agents[i % len(agents)],
                                   status=["new", "open", "pending"][i % 3], contact=world.contact,
                                   sla_breached_at=timezone.now() if i % 4 == 0 else None)
        MessageFactory(conversation=conv)


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_list_and_overview_queries_do_not_grow_with_the_data(world, rep_a, director):
    agents = [rep_a, *(UserFactory(username=f"agent{i}") for i in range(3))]
    for a in agents[1:]:
        AgentProfileFactory(user=a)

    def inbox():
        page = capped_page(selectors.conversation_list(actor=rep_a, box="mine"), 1)
        [(c.channel.name, c.queue, c.owner, c.contact, c.company) for c in page.rows]

    def overview():
        data = selectors.supervisor_overview(actor=director)
        [(c.queue, c.owner, c.contact) for c in data["breached"]]

    _fill(world, 6, agents)
    inbox(), overview()  # the role grants are cached on the user after the first read
    small = (_queries(inbox), _queries(overview))
    _fill(world, 60, agents)
    large = (_queries(inbox), _queries(overview))
    assert large == small
    assert large[0] <= 2 and large[1] <= 8


def test_services_keep_the_conversation_reachable(world, rep_a):
    # a service result is what the selectors show: closing moves it out of "mine" (not closed) into "closed"
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status="open")
    services.conversation_close(actor=rep_a, conversation=conv)
    assert conv.pk not in ids(selectors.conversation_list(actor=rep_a))
    assert conv.pk in ids(selectors.conversation_list(actor=rep_a, status=ConversationStatus.CLOSED))


def test_an_agent_without_a_role_sees_what_they_have_and_their_queues_waiting(world, make_agent):
    agent = make_agent("Petro", world.queue)  # no role at all
    theirs = ConversationFactory(channel=world.channel, queue=world.queue, owner=agent, status="open")
    waiting = ConversationFactory(channel=world.channel, queue=world.queue)
    ConversationFactory(channel=world.channel, queue=world.queue, owner=world.rep_a, status="open")
    assert ids(selectors.conversations_visible(agent)) == {theirs.pk, waiting.pk}


def test_the_supervisor_view_counts_load_as_routing_does(db):
    from kramar.accounts.tests.factories import UserFactory
    from kramar.comms.choices import ChannelKind, ConversationStatus
    from kramar.comms.routing import _loads, load_weights
    from kramar.comms.selectors import supervisor_overview
    from kramar.comms.tests.factories import (
        AgentProfileFactory,
        ChannelFactory,
        ConversationFactory,
        QueueFactory,
        QueueMemberFactory,
    )

    boss, agent = UserFactory(username="boss_load"), UserFactory(username="agent_load")
    queue = QueueFactory()
    queue.supervisors.add(boss)
    QueueMemberFactory(queue=queue, user=agent)
    AgentProfileFactory(user=agent, capacity=5)
    ConversationFactory(owner=agent, status=ConversationStatus.OPEN)
    ConversationFactory(owner=agent, status=ConversationStatus.PENDING)
    ConversationFactory(owner=agent, status=ConversationStatus.PENDING, channel=ChannelFactory(kind=ChannelKind.DROPBOX))
    row = next(a for a in supervisor_overview(actor=boss)["agents"] if a.user == agent)
    assert row.conversations == 3 and row.load == 2 == _loads([agent.pk], load_weights(), exclude_conversation=None)[agent.pk]
