"""Telephony: the signed call webhook and what each call event does (the call pop's live event, the timeline entry
of an ended call, the call-back task of a missed one), idempotency, out-of-order events, threading by number."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.activities.models import Task
from kramar.clients.models import Contact
from kramar.clients.tests.factories import CompanyFactory, ContactFactory, ContactPointFactory
from kramar.comms.choices import ConversationStatus
from kramar.comms.live import queue_topic, user_topic
from kramar.comms.models import Assignment, Conversation, LiveEvent, Message
from kramar.comms.signatures import signature_compute
from kramar.comms.tests.factories import (
    AgentProfileFactory,
    ChatChannelFactory,
    PhoneChannelFactory,
    QueueFactory,
)
from kramar.comms.tests.hooks import body_of, signed_post
from kramar.history.models import Interaction
from kramar.history.tests.factories import InteractionFactory
from kramar.sales.tests.factories import DealContactFactory, DealFactory

pytestmark = pytest.mark.django_db
NUMBER = "+380671234567"


def _path(channel) -> str:
    return f"/api/v1/comms/hooks/calls/{channel.pk}"


def _event(event: str, call_id: str = "c-1", **extra) -> dict:
    return {"event": event, "call_id": call_id, "from": "067 123 45 67", "to": "+380441234567",
            "extension": "101", **extra}


def _counts() -> dict[str, int]:
    return {"messages": Message.objects.count(), "conversations": Conversation.objects.count(),
            "contacts": Contact.objects.count(), "live": LiveEvent.objects.count(),
            "interactions": Interaction.objects.count(), "tasks": Task.objects.count()}


@pytest.fixture
def olena(db):
    return UserFactory(username="olena", first_name="Олена", last_name="Коваль")


@pytest.fixture
def channel(olena):
    return PhoneChannelFactory(settings={"extensions": {"101": "olena"}})


@pytest.fixture
def taras(db, rep_b):
    company = CompanyFactory(name="ТОВ Зоря", owner=rep_b)
    contact = ContactFactory(first_name="Тарас", last_name="Шевченко", owner=rep_b, primary_company=company)
    ContactPointFactory(contact=contact, kind="phone", value="067 123 45 67", normalized=NUMBER)
    return contact


def _post(client, channel, payload):
    return signed_post(client, _path(channel), payload, secret=channel.secret)


# ----------------------------------------------------------------------------------------- signatures
def test_forged_stale_or_missing_signature_is_401_and_stores_nothing(client, channel, taras):
    # given
    before = _counts()
    body = body_of(_event("ringing"))
    now = int(time.time())
    attempts = [
        {},  # unsigned
        {"X-Kramar-Timestamp": str(now), "X-Kramar-Signature": signature_compute(secret="wrong", timestamp=now,
                                                                                   body=body)},
        {"X-Kramar-Timestamp": str(now - 301),
         "X-Kramar-Signature": signature_compute(secret=channel.secret, timestamp=now - 301, body=body)},
        {"X-Kramar-Timestamp": str(now + 1),  # signed for another moment: the timestamp is part of the text
         "X-Kramar-Signature": signature_compute(secret=channel.secret, timestamp=now, body=body)},
        {"X-Kramar-Timestamp": str(now),
         "X-Kramar-Signature": signature_compute(secret=channel.secret, timestamp=now, body=body + b" ")},
        {"X-Kramar-Timestamp": "yesterday", "X-Kramar-Signature": "sha256=00"},
    ]
    for headers in attempts:
        # when
        response = client.post(_path(channel), data=body, content_type="application/json", headers=headers)
        # then
        assert response.status_code == 401, headers
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "bad_signature"
    assert _counts() == before


def test_valid_signature_is_accepted(client, channel, taras):
    response = _post(client, channel, _event("ringing"))
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "ringing" and response.json()["created"] is True


def test_channel_without_secret_refuses_everything(client, olena):
    channel = PhoneChannelFactory(secret="")
    response = signed_post(client, _path(channel), _event("ringing"), secret="")
    assert response.status_code == 401 and not Message.objects.exists()


def test_unknown_inactive_or_other_kind_channel_is_404(client, channel):
    chat = ChatChannelFactory()
    inactive = PhoneChannelFactory(active=False)
    for path, secret in ((f"/api/v1/comms/hooks/calls/{channel.pk + 1000}", channel.secret),
                         (_path(chat), chat.secret), (_path(inactive), inactive.secret)):
        response = signed_post(client, path, _event("ringing"), secret=secret)
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert not Message.objects.exists()


def test_invalid_event_names_the_fields_and_stores_nothing(client, channel):
    response = _post(client, channel, {"event": "exploded", "call_id": "", "duration": -3,
                                       "recording_url": "ftp://x/y"})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"event", "call_id", "duration", "recording_url"}
    assert _counts()["messages"] == 0
    assert _post(client, channel, b"not json").status_code == 422


# ----------------------------------------------------------------------------------------- ringing
def test_ringing_pops_the_callers_card_for_the_extensions_agent(client, channel, olena, taras, rep_b):
    # given: four earlier interactions and an open deal
    for days in (1, 2, 3, 4):
        InteractionFactory(contact=taras, subject=f"Talk {days}", occurred_at=timezone.now() - dt.timedelta(days=days))
    deal = DealFactory(owner=rep_b)
    DealContactFactory(deal=deal, contact=taras)
    # when
    response = _post(client, channel, _event("ringing"))
    # then
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.external_id == "c-1" and message.flags["call"]["state"] == "ringing"
    assert message.flags["call"]["extension"] == "101" and message.flags["call"]["agent"] == "olena"
    conv = message.conversation
    assert conv.thread_key == NUMBER and conv.contact == taras and conv.owner == olena
    assert conv.status == ConversationStatus.OPEN
    event = LiveEvent.objects.get(kind="call.ringing")
    assert event.topic == user_topic(olena)
    card = event.payload
    assert card["contact"] == {"id": taras.pk, "name": "Тарас Шевченко", "url": f"/contacts/{taras.pk}/"}
    assert card["company"]["name"] == "ТОВ Зоря"
    assert card["number"] == NUMBER and card["tel"] == f"tel:{NUMBER}"
    assert card["owner"] == rep_b.get_full_name()
    assert [i["subject"] for i in card["interactions"]] == ["Talk 1", "Talk 2", "Talk 3"]
    assert card["open_deals"] == 1 and card["new_lead"] is False


def test_unknown_caller_becomes_a_flagged_lead_and_pops_in_the_queue(client, db):
    # given: no extension map, a default queue
    queue = QueueFactory(name="Sales")
    channel = PhoneChannelFactory(queue=queue)
    # when
    _post(client, channel, _event("ringing", **{"from": "+380501112233", "extension": ""}))
    # then
    lead = Contact.objects.get()
    assert lead.lifecycle_stage == "lead" and lead.source == "call" and lead.owner is None
    assert list(lead.tags.values_list("name", flat=True)) == ["new from call"]
    assert lead.points.get().normalized == "+380501112233"
    message = Message.objects.get()
    assert message.flags["new_lead"] is True and message.conversation.status == ConversationStatus.NEW
    event = LiveEvent.objects.get(kind="call.ringing")
    assert event.topic == queue_topic(queue) and event.payload["new_lead"] is True
    assert event.payload["contact"]["id"] == lead.pk


def test_without_agent_the_pop_goes_to_the_clients_owner(client, taras, rep_b):
    channel = PhoneChannelFactory()
    _post(client, channel, _event("ringing", extension="555"))
    assert LiveEvent.objects.get(kind="call.ringing").topic == user_topic(rep_b)


def test_the_agent_of_the_event_wins_over_the_extension(client, channel, taras):
    petro = UserFactory(username="petro")
    _post(client, channel, _event("ringing", agent="petro"))
    assert LiveEvent.objects.get(kind="call.ringing").topic == user_topic(petro)


# ----------------------------------------------------------------------------------------- idempotency, order
def test_repeated_events_are_applied_once(client, channel, taras):
    for _ in range(2):
        assert _post(client, channel, _event("ringing")).status_code == 200
    second = _post(client, channel, _event("ringing")).json()
    assert second["created"] is False and second["applied"] is False
    for _ in range(2):
        _post(client, channel, _event("answered"))
        _post(client, channel, _event("ended", duration=65))
    assert Message.objects.count() == 1 and Conversation.objects.count() == 1
    assert LiveEvent.objects.filter(kind="call.ringing").count() == 1
    assert LiveEvent.objects.filter(kind="call.ended").count() == 1
    assert Interaction.objects.filter(channel="call").count() == 1
    assert Message.objects.get().flags["call"]["events"] == ["ringing", "answered", "ended"]


def test_ended_before_ringing_still_stores_the_call_and_a_late_ringing_pops_nothing(client, channel, taras):
    # when: the PBX delivers "ended" first
    response = _post(client, channel, _event("ended", duration=40))
    # then
    assert response.status_code == 200 and response.json()["state"] == "ended"
    assert Interaction.objects.get().duration_seconds == 40
    # when: the late "ringing"
    late = _post(client, channel, _event("ringing")).json()
    # then
    assert late["applied"] is False and late["state"] == "ended"
    assert not LiveEvent.objects.filter(kind="call.ringing").exists()
    assert Message.objects.get().flags["call"]["duration"] == 40


def test_missed_then_ended_keeps_the_first_final_state(client, channel, taras):
    _post(client, channel, _event("missed"))
    _post(client, channel, _event("ended", duration=10))
    assert Message.objects.get().flags["call"]["state"] == "missed"
    assert Interaction.objects.count() == 1 and Task.objects.count() == 1


# ----------------------------------------------------------------------------------------- ended, missed
def test_ended_call_is_logged_once_on_the_timeline_and_closes_the_conversation(client, channel, olena, taras):
    # given
    _post(client, channel, _event("ringing"))
    _post(client, channel, _event("answered"))
    # when
    _post(client, channel, _event("ended", duration=125, recording_url="https://pbx.example/rec/c-1.mp3"))
    # then
    logged = Interaction.objects.get()
    assert logged.channel == "call" and logged.direction == "in" and logged.duration_seconds == 125
    assert logged.contact == taras and logged.outcome == "Answered" and logged.user == olena
    assert "https://pbx.example/rec/c-1.mp3" in logged.body
    assert 'href="https://pbx.example/rec/c-1.mp3"' in logged.body_html
    assert logged.external_id == f"{channel.pk}:c-1"
    message = Message.objects.get()
    assert message.interaction == logged and message.flags["call"]["recording"].endswith("c-1.mp3")
    assert message.conversation.status == ConversationStatus.CLOSED
    ended = LiveEvent.objects.get(kind="call.ended")
    assert ended.topic == user_topic(olena) and ended.payload["call_id"] == "c-1"


def test_missed_call_makes_one_call_back_task_for_the_agent(client, channel, olena, taras):
    # given
    _post(client, channel, _event("ringing"))
    # when
    _post(client, channel, _event("missed"))
    _post(client, channel, _event("missed"))
    # then
    task = Task.objects.get()
    assert task.kind == "call" and task.owner == olena and task.contact == taras and task.status == "open"
    assert task.priority == "high" and "Тарас Шевченко" in task.title
    assert timezone.now() < task.due_at <= timezone.now() + dt.timedelta(minutes=31)
    logged = Interaction.objects.get()
    assert logged.outcome == "Missed" and logged.subject.startswith("Missed call from")
    message = Message.objects.get()
    assert message.flags["call"]["task_id"] == task.pk
    assert message.conversation.status == ConversationStatus.OPEN


def test_missed_call_nobody_has_goes_to_the_client_owner_or_the_queue(client, django_capture_on_commit_callbacks):
    # given: an unknown caller, no extension, a queue with a supervisor and an online member
    boss = UserFactory(username="boss")
    agent = UserFactory(username="agent1")
    queue = QueueFactory(name="Sales")
    queue.supervisors.add(boss)
    queue.memberships.create(user=agent)
    AgentProfileFactory(user=agent)
    channel = PhoneChannelFactory(queue=queue)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, channel, _event("missed", extension="", **{"from": "+380509998877"}))
    # then: the task lands on someone, the conversation is routed
    task = Task.objects.get()
    assert task.owner in (boss, agent)
    conv = Conversation.objects.get()
    assert Assignment.objects.filter(conversation=conv).exists()


# ----------------------------------------------------------------------------------------- threading
def test_calls_of_one_number_share_a_conversation_within_the_window(client, channel, taras):
    start = timezone.now() - dt.timedelta(hours=5)
    _post(client, channel, _event("ended", "c-1", at=start.isoformat(), duration=5))
    _post(client, channel, _event("ended", "c-2", at=(start + dt.timedelta(minutes=30)).isoformat(), duration=5))
    _post(client, channel, _event("ended", "c-3", at=(start + dt.timedelta(hours=3)).isoformat(), duration=5))
    convs = {m.external_id: m.conversation_id for m in Message.objects.all()}
    assert convs["c-1"] == convs["c-2"] != convs["c-3"]
    assert Conversation.objects.count() == 2


def test_the_window_is_a_channel_setting(client, taras, olena):
    channel = PhoneChannelFactory(settings={"thread_window_minutes": 10, "extensions": {"101": "olena"}})
    start = timezone.now() - dt.timedelta(hours=1)
    _post(client, channel, _event("ringing", "c-1", at=start.isoformat()))
    _post(client, channel, _event("ringing", "c-2", at=(start + dt.timedelta(minutes=30)).isoformat()))
    assert Conversation.objects.count() == 2


def test_a_missed_call_waits_for_its_first_response_until_someone_speaks_with_the_caller(client, channel, taras):
    start = timezone.now() - dt.timedelta(minutes=20)
    _post(client, channel, _event("ringing", "c-1", at=start.isoformat()))
    _post(client, channel, _event("missed", "c-1", at=start.isoformat()))
    conv = Message.objects.get().conversation
    assert conv.first_response_at is None  # the SLA clock runs on
    # the agent calls back (an outgoing call to the same number joins the conversation) and the client answers
    back = start + dt.timedelta(minutes=10)
    _post(client, channel, _event("answered", "c-2", at=back.isoformat(), direction="out",
                                  **{"from": "+380441234567", "to": "067 123 45 67"}))
    conv.refresh_from_db()
    assert Message.objects.get(external_id="c-2").conversation_id == conv.pk
    assert conv.first_response_at == back
