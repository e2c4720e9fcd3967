"""The Communication Center's demo: configuration the services accept, conversations routed by the real engine and
consistent with what the services write, the same seed giving the same conversations, reset and append, and what a
demo rep and a supervisor see."""

import datetime as dt
import re
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Max
from django.urls import reverse

from kramar.accounts.models import User
from kramar.activities.models import Task
from kramar.clients.models import Company, Contact
from kramar.clients.normalize import contact_search_text
from kramar.comms import selectors
from kramar.comms.choices import (
    AssignmentStatus,
    ChannelKind,
    ConversationStatus,
    MessageDirection,
    Presence,
    Strategy,
)
from kramar.comms.hours import hours_add
from kramar.comms.imap import channels_due, mailboxes_due_poll
from kramar.comms.inbound_common import ALL_LEAD_TAGS, is_new_lead
from kramar.comms.ingest import MAIL_KINDS
from kramar.comms.models import (
    AgentProfile,
    Assignment,
    BusinessHours,
    CannedResponse,
    Channel,
    Conversation,
    Holiday,
    InboundFailure,
    LiveEvent,
    Message,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)
from kramar.comms.routing_rules import rules_validate
from kramar.comms.services import canned_fields_unknown
from kramar.comms.webforms import webform_origin_allowed
from kramar.core.identifiers import name_key
from kramar.core.models import AuditEntry, Notification
from kramar.demo.comms_demo import DAYS, comms_clock, comms_conversations_default
from kramar.history.models import Interaction

pytestmark = pytest.mark.django_db

ANCHOR = dt.date(2026, 1, 15)  # a Thursday: the demo's clock is 14:30 Kyiv time, inside office hours
CLOCK = comms_clock(ANCHOR)
CYRILLIC = re.compile(r"[а-яіїєґ]", re.I)


def demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", "--no-progress", "--anchor-date", ANCHOR.isoformat(), *args, stdout=out)
    return out.getvalue()


def config_counts() -> dict[str, int]:
    models = (Queue, QueueMember, Queue.supervisors.through, SlaPolicy, BusinessHours, Holiday, Channel, RoutingRule,
              CannedResponse, AgentProfile)
    return {model._meta.label: model.objects.count() for model in models}


def conversation_snapshot() -> list[tuple]:
    out = []
    for conv in Conversation.objects.select_related("channel", "queue", "owner", "contact", "company").order_by(
            "opened_at", "subject"):
        # (a reply may quote the conversation's number, a database id that a reset does not reuse)
        number = re.compile(rf"(№|#|звернення: ){conv.pk}\b")
        messages = tuple((d, subject, number.sub(r"\1<id>", body), sent) for d, subject, body, sent in
                         conv.messages.order_by("sent_at", "id").values_list("direction", "subject", "body", "sent_at"))
        log = tuple(conv.assignments.order_by("created_at", "id").values_list("status", "user__username", "reason",
                                                                              "created_at"))
        out.append((
            conv.channel.name, conv.subject, conv.status, conv.priority, conv.queue.name if conv.queue else None,
            conv.owner.username if conv.owner else None,
            conv.contact.search_text if conv.contact else conv.company.search_text, conv.opened_at,
            conv.first_response_due, conv.first_response_at, conv.sla_breached_at, conv.closed_at, messages, log,
        ))
    return out


def test_the_demo_sets_up_queues_channels_rules_and_agents(client):
    # when
    demo("--contacts", "100", "--seed", "3")
    # then: four queues, one per strategy, in Kyiv office hours with holidays, an SLA target per priority
    queues = {q.name: q for q in Queue.objects.select_related("business_hours", "overflow_queue")}
    assert set(queues) == {"Sales", "Service", "Accounting", "New leads"}
    assert {q.strategy for q in queues.values()} == set(Strategy.values)
    for queue in queues.values():
        hours = queue.business_hours
        assert hours.time_zone == "Europe/Kyiv"
        assert hours.schedule["mon"] == [["09:00", "18:00"]] and hours.schedule["sun"] == []
        assert hours.holidays.count() >= 2
        assert set(queue.sla_policies.values_list("priority", flat=True)) == {1, 2, 3, 4}
        assert queue.memberships.exists() and queue.supervisors.exists()
    assert queues["Accounting"].overflow_queue == queues["Service"] and queues["Accounting"].max_waiting
    # every kind of channel; the mailboxes are never read (inactive, no IMAP host): the worker connects nowhere
    channels = {c.kind: c for c in Channel.objects.all()}
    assert set(channels) == set(ChannelKind.values)
    for kind in MAIL_KINDS:
        assert not channels[kind].active and "host" not in channels[kind].settings
    assert not channels_due(now=CLOCK + dt.timedelta(days=400)).exists()
    assert mailboxes_due_poll() == []
    assert len(channels[ChannelKind.PHONE].secret) >= 32 and len(channels[ChannelKind.CHAT].secret) >= 32
    # the web form takes posts from a page served locally, as in docs/webforms.md
    form = channels[ChannelKind.WEBFORM]
    assert webform_origin_allowed(form, "http://localhost:8080")
    assert not webform_origin_allowed(form, "https://evil.example")
    response = client.post(f"/api/v1/comms/hooks/forms/{form.pk}", {"name": "Ольга Тест", "email": "olga@example.com",
                                                                     "message": "Перевірка форми"},
                           HTTP_ORIGIN="http://localhost:8080")
    assert response.status_code == 200, response.content
    assert Conversation.objects.filter(channel=form, messages__body__contains="Перевірка форми").exists()
    # rules the engine understands, in order, one paused
    rules = list(RoutingRule.objects.order_by("position", "id"))
    assert len(rules) >= 6 and [r.position for r in rules] == sorted({r.position for r in rules})
    assert all(rules_validate(r.conditions) == [] for r in rules)
    assert any(not r.active for r in rules) and any(r.skills for r in rules)
    assert {c["field"] for r in rules for c in r.conditions} >= {"keyword", "channel_kind", "tag", "mailbox",
                                                                 "business_hours"}
    # canned responses with merge fields the renderer knows
    canned = list(CannedResponse.objects.all())
    assert {c.language for c in canned} >= {"uk", "en"} and any(c.queue_id for c in canned)
    assert all(canned_fields_unknown(c.body) == [] for c in canned)
    # agents: capacity, languages and product skills, and every presence
    profiles = list(AgentProfile.objects.select_related("user"))
    assert {p.presence for p in profiles} == set(Presence.values)
    assert all(p.capacity > 0 and p.skills for p in profiles)
    assert any("product:1c" in p.skills for p in profiles)


def test_conversations_go_through_the_routing_engine_and_match_what_the_services_write():
    # when
    demo("--contacts", "300", "--conversations", "80", "--seed", "5")
    # then: conversations on every channel, in every state
    convs = list(Conversation.objects.select_related("queue__business_hours", "channel", "contact", "company"))
    assert len(convs) == 80
    assert {c.kind for c in convs} == set(ChannelKind.values)
    assert {c.status for c in convs} == set(ConversationStatus.values)
    assert all(CLOCK - dt.timedelta(days=DAYS, hours=1) <= c.opened_at <= CLOCK for c in convs)
    # the engine's decisions: offers accepted, declined or let expire, conversations waiting, in words
    log = list(Assignment.objects.select_related("conversation"))
    statuses = Counter(a.status for a in log)
    assert statuses[AssignmentStatus.ACCEPTED] > 20 and statuses[AssignmentStatus.WAITING] > 0
    assert statuses[AssignmentStatus.DECLINED] + statuses[AssignmentStatus.EXPIRED] > 0
    reasons = " ".join(a.reason for a in log)
    assert "rule " in reasons and "no rule matched" in reasons and "came online" in reasons
    assert all(a.conversation.opened_at <= a.created_at <= CLOCK for a in log)
    assert all(a.accepted_at is None or a.created_at <= a.accepted_at <= a.expires_at for a in log)
    routed = [c for c in convs if c.queue_id and c.first_response_due]
    assert len(routed) > 40
    # SLA dues as sla_dues_set computes them: the queue's policy for the priority, in the queue's business minutes
    for conv in routed:
        if conv.sla_breached_at is None:
            policy = SlaPolicy.objects.get(queue=conv.queue, priority=conv.priority)
            assert conv.first_response_due == hours_add(conv.queue.business_hours, conv.opened_at,
                                                        policy.first_response_minutes)
        else:  # escalated once its earliest due had passed
            dues = [d for d in (conv.first_response_due, conv.resolution_due) if d]
            assert min(dues) <= conv.sla_breached_at <= CLOCK
    live = [c for c in convs if c.status != ConversationStatus.CLOSED]
    assert any(c.sla_breached_at for c in live)
    assert any(c.sla_warned_at and not c.sla_breached_at for c in live)  # near breach
    assert Notification.objects.filter(kind="sla_breach").exists() and Notification.objects.filter(kind="mention").exists()
    # waiting in queues, offered to agents, and what agents have
    assert any(c.status == ConversationStatus.NEW and c.owner_id is None and c.queue_id for c in convs)
    assert all(c.owner_id for c in convs if c.status in (ConversationStatus.OPEN, ConversationStatus.PENDING))
    # messages: inbound, outbound and internal notes, in Ukrainian and English; replies threaded under the client's
    messages = list(Message.objects.select_related("conversation"))
    assert {m.direction for m in messages} == set(MessageDirection.values)
    bodies = [m.body for m in messages if m.direction == MessageDirection.INBOUND]
    assert any(CYRILLIC.search(b) for b in bodies)
    assert any(re.search(r"\b(Hello|Hi|Please|We|Could)\b", b) for b in bodies)
    inbound_ids = {(m.conversation_id, m.external_id) for m in messages if m.direction == MessageDirection.INBOUND}
    replies = [m for m in messages if m.direction == MessageDirection.OUTBOUND and m.in_reply_to]
    assert replies and all((m.conversation_id, m.in_reply_to) in inbound_ids for m in replies)
    assert all(m.conversation.first_response_at and m.conversation.first_response_at <= m.sent_at for m in replies)
    assert all(m.received_at == m.sent_at <= CLOCK for m in messages)
    # the client's timeline has every inbound and outbound item of a conversation with a client
    for m in messages:
        if m.direction != MessageDirection.NOTE and (m.conversation.contact_id or m.conversation.company_id):
            i = m.interaction
            assert i is not None, m
            assert (i.contact_id, i.company_id) == (m.conversation.contact_id, m.conversation.company_id)
            assert i.occurred_at == m.sent_at and i.direction == ("in" if m.direction == "in" else "out")
    # unknown senders became flagged leads, as the inbound services make them
    leads = list(Contact.objects.filter(tags__name__in=ALL_LEAD_TAGS).distinct().prefetch_related("points"))
    assert leads and all(is_new_lead(c) and c.owner_id is None and c.conversations.exists() for c in leads)
    for lead in leads:
        assert lead.search_text == contact_search_text(lead, list(lead.points.all()), [])
        assert lead.name_key == name_key(lead.first_name, lead.middle_name, lead.last_name)
    # missed calls: a call-back task for someone
    callbacks = Task.objects.filter(title__contains="missed call")
    assert callbacks.exists() and not callbacks.filter(owner__isnull=True).exists()
    # "last contacted" = the latest interaction (what the history services keep up to date)
    for model, field in ((Contact, "contact"), (Company, "company")):
        latest = dict(Interaction.objects.values(field).annotate(m=Max("occurred_at")).values_list(field, "m"))
        for pk, last in model.objects.values_list("id", "last_contacted_at"):
            assert last == latest.get(pk), (model, pk)
    # one summary audit row for the load; the live events nobody listened to are gone
    assert AuditEntry.objects.filter(source="demo").count() == 1
    assert not LiveEvent.objects.exists()


def test_same_seed_gives_the_same_conversations_and_reset_removes_them():
    # given
    demo("--contacts", "200", "--conversations", "40", "--seed", "8")
    first = conversation_snapshot()
    config = config_counts()
    message = Message.objects.filter(direction=MessageDirection.INBOUND).first()
    failure = InboundFailure.objects.create(channel=message.channel, error="could not parse", message=message)
    # when
    demo("--contacts", "200", "--conversations", "40", "--seed", "8", "--reset", "--no-input")
    second = conversation_snapshot()
    demo("--contacts", "200", "--conversations", "40", "--seed", "9", "--reset", "--no-input")
    other = conversation_snapshot()
    # then
    assert len(first) == 40 and first == second
    assert other != first
    assert config_counts() == config  # the configuration stays, and is not created twice
    failure.refresh_from_db()
    assert failure.message_id is None  # the unprocessed item stays, without its link to a deleted message
    # and a reset without conversations leaves none of them, their log, messages, leads or notifications
    demo("--contacts", "50", "--conversations", "0", "--seed", "8", "--reset", "--no-input")
    assert not Conversation.objects.exists() and not Message.objects.exists() and not Assignment.objects.exists()
    assert not Contact.objects.filter(tags__name__in=ALL_LEAD_TAGS).exists()
    assert not Notification.objects.filter(url__startswith="/comms/conversations/").exists()
    assert config_counts() == config


def test_append_adds_conversations_but_no_second_configuration_and_if_empty_adds_nothing():
    # given
    demo("--contacts", "200", "--conversations", "20", "--seed", "4")
    config = config_counts()
    n = Conversation.objects.count()
    # when
    out = demo("--contacts", "200", "--conversations", "20", "--seed", "4", "--if-empty")
    # then
    assert "not loaded" in out and Conversation.objects.count() == n
    before = set(Conversation.objects.values_list("pk", flat=True))
    last_contact = Contact.objects.aggregate(m=Max("id"))["m"]
    last_company = Company.objects.aggregate(m=Max("id"))["m"]
    # when
    demo("--contacts", "200", "--conversations", "20", "--seed", "4", "--append")
    # then: as many conversations again, all with the new clients; nothing of the configuration twice
    assert config_counts() == config
    added = Conversation.objects.exclude(pk__in=before)
    assert added.count() == n
    for contact_id, company_id in added.values_list("contact_id", "company_id"):
        assert (contact_id or 0) > last_contact or (contact_id is None and company_id > last_company)


def test_default_count_scales_with_the_contacts_and_is_capped():
    assert comms_conversations_default(2000) == 150
    assert comms_conversations_default(0) == 0
    assert comms_conversations_default(1_000_000) == 300
    # when
    demo("--contacts", "0", "--seed", "1")
    # then: the configuration, no conversations
    assert Queue.objects.count() == 4 and not Conversation.objects.exists()


def test_a_demo_rep_sees_their_conversations_in_the_inbox(client):
    # given
    demo("--contacts", "300", "--conversations", "80", "--seed", "5", "--password", "demo-pass")
    rep = User.objects.get(username="rep.kyiv1")
    mine = list(selectors.conversation_list(actor=rep, box="mine"))
    waiting = list(selectors.conversation_list(actor=rep, box="queues"))
    assert mine and all(c.owner_id == rep.pk and c.status != ConversationStatus.CLOSED for c in mine)
    rep_queues = set(QueueMember.objects.filter(user=rep).values_list("queue_id", flat=True))
    assert all(c.queue_id in rep_queues for c in waiting)
    # when
    assert client.login(username="rep.kyiv1", password="demo-pass")
    page = client.get(reverse("comms:inbox"))
    detail = client.get(reverse("comms:conversation-detail", args=[mine[0].pk]))
    # then
    assert page.status_code == 200
    assert reverse("comms:conversation-detail", args=[mine[0].pk]) in page.content.decode()
    assert detail.status_code == 200
    first = mine[0].messages.exclude(direction=MessageDirection.NOTE).order_by("sent_at").first()
    assert first.body.split("\n")[0][:30] in detail.content.decode().replace("&#x27;", "'")
    # nor anyone else's they may not see
    hidden = Conversation.objects.exclude(pk__in=selectors.conversations_visible(rep).values("pk")).first()
    assert hidden is not None
    assert client.get(reverse("comms:conversation-detail", args=[hidden.pk])).status_code == 404


def test_the_supervisor_page_shows_queues_with_waiting_conversations(client):
    # given
    demo("--contacts", "300", "--conversations", "80", "--seed", "5", "--password", "demo-pass")
    director = User.objects.get(username="director")
    # when
    overview = selectors.supervisor_overview(actor=director, now=CLOCK)
    assert client.login(username="director", password="demo-pass")
    page = client.get(reverse("comms:supervisor"))
    # then
    rows = {row.queue.name: row for row in overview["queues"]}
    assert set(rows) == {"Sales", "Service", "Accounting", "New leads"}
    assert overview["totals"]["waiting"] > 0 and overview["totals"]["breached"] > 0
    assert sum(row.open + row.pending for row in rows.values()) > 10
    assert {a.presence for a in overview["agents"]} == set(Presence.values)
    assert page.status_code == 200
    html = page.content.decode()
    assert all(name in html for name in rows)
    # a rep supervises nothing
    client.logout()
    assert client.login(username="rep.kyiv1", password="demo-pass")
    assert client.get(reverse("comms:supervisor")).status_code == 403
