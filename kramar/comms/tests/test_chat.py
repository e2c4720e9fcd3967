"""Chat / messenger webhook: signature, threading by chat id, client matching (handle, e-mail, phone) or a new
lead, idempotency per message, reopening a closed conversation, routing of new conversations."""

import time

import pytest

from kramar.clients.models import Contact
from kramar.clients.tests.factories import ContactFactory, ContactPointFactory
from kramar.comms.choices import ConversationStatus
from kramar.comms.models import Assignment, Conversation, Message
from kramar.comms.signatures import signature_compute
from kramar.comms.tests.factories import ChatChannelFactory, QueueFactory
from kramar.comms.tests.hooks import body_of, signed_post
from kramar.history.models import Interaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(db):
    return ChatChannelFactory()


def _post(client, channel, payload):
    return signed_post(client, f"/api/v1/comms/hooks/chat/{channel.pk}", payload, secret=channel.secret)


def _msg(message_id="1", chat_id="900", **extra):
    return {"chat_id": chat_id, "message_id": message_id, "from": {"name": "Ірина Бондар", "handle": "@iryna_b"},
            "text": "Добрий день! Чи є знижки?", "at": "2026-03-04T10:00:00+02:00", **extra}


def test_forged_or_stale_signature_is_401_and_stores_nothing(client, channel):
    body = body_of(_msg())
    now = int(time.time())
    for ts, secret in ((now, "forged"), (now - 600, channel.secret)):
        response = client.post(f"/api/v1/comms/hooks/chat/{channel.pk}", data=body, content_type="application/json",
                               headers={"X-Kramar-Timestamp": str(ts),
                                        "X-Kramar-Signature": signature_compute(secret=secret, timestamp=ts,
                                                                                body=body)})
        assert response.status_code == 401
    assert not Message.objects.exists() and not Contact.objects.exists() and not Conversation.objects.exists()


def test_first_message_of_an_unknown_sender_makes_a_lead_and_a_routed_conversation(
    client, django_capture_on_commit_callbacks, make_agent
):
    # given
    queue = QueueFactory(name="Support")
    make_agent("Petro", queue)
    channel = ChatChannelFactory(queue=queue)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, channel, _msg())
    # then
    assert response.status_code == 200, response.content
    assert response.json()["duplicate"] is False
    lead = Contact.objects.get()
    assert (lead.first_name, lead.last_name, lead.source) == ("Ірина", "Бондар", "chat")
    assert lead.messengers == {"telegram": "@iryna_b"}
    assert list(lead.tags.values_list("name", flat=True)) == ["new from chat"]
    conv = Conversation.objects.get()
    assert conv.thread_key == "chat:900" and conv.contact == lead and conv.kind == "chat"
    assert Assignment.objects.filter(conversation=conv).exists()  # routed
    message = Message.objects.get()
    assert message.external_id == "900:1" and message.flags["new_lead"] is True
    logged = Interaction.objects.get()
    assert logged.channel == "chat" and logged.direction == "in" and "знижки" in logged.body
    assert message.interaction == logged


def test_messages_of_one_chat_share_a_conversation_and_repeats_are_stored_once(client, channel):
    _post(client, channel, _msg("1"))
    again = _post(client, channel, _msg("1"))
    _post(client, channel, _msg("2", text="І ще питання"))
    _post(client, channel, _msg("1", chat_id="901"))  # the same message id in another chat is another message
    assert again.json()["duplicate"] is True
    assert Message.objects.count() == 3 and Conversation.objects.count() == 2
    assert Contact.objects.count() == 1  # the second chat's sender is matched by handle
    assert Interaction.objects.count() == 3


def test_sender_is_matched_by_handle_email_or_phone(client, channel):
    by_handle = ContactFactory(messengers={"telegram": "Known_One"})
    by_email = ContactFactory()
    ContactPointFactory(contact=by_email, kind="email", value="olha@example.com", normalized="olha@example.com")
    by_phone = ContactFactory()
    ContactPointFactory(contact=by_phone, kind="phone", value="+380671234567", normalized="+380671234567")
    _post(client, channel, _msg("1", "a", **{"from": {"name": "X", "handle": "@known_one"}}))
    _post(client, channel, _msg("1", "b", **{"from": {"name": "Y", "email": "Olha@Example.com"}}))
    _post(client, channel, _msg("1", "c", **{"from": {"name": "Z", "phone": "067 123 45 67"}}))
    contacts = {c.thread_key: c.contact for c in Conversation.objects.all()}
    assert contacts == {"chat:a": by_handle, "chat:b": by_email, "chat:c": by_phone}
    assert Contact.objects.count() == 3


def test_a_message_reopens_a_closed_conversation(client, channel, django_capture_on_commit_callbacks):
    _post(client, channel, _msg("1"))
    Conversation.objects.update(status=ConversationStatus.CLOSED)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, channel, _msg("2"))
    conv = Conversation.objects.get()
    assert conv.status == ConversationStatus.NEW and conv.closed_at is None
    assert Message.objects.get(external_id="900:2").flags["reopened"] is True


def test_attachments_are_kept_as_links(client, channel):
    response = _post(client, channel, _msg("1", text="", attachments=[
        {"url": "https://files.example/a/photo.jpg", "name": "photo.jpg"}]))
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.flags["attachments"] == [{"url": "https://files.example/a/photo.jpg", "name": "photo.jpg"}]
    assert "https://files.example/a/photo.jpg" in Interaction.objects.get().body


def test_invalid_message_names_the_fields(client, channel):
    response = _post(client, channel, {"chat_id": "", "from": {"email": "nope"}, "text": "",
                                       "attachments": [{"url": "javascript:alert(1)"}]})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"chat_id", "message_id", "from.email", "attachments[0].url", "text"} <= fields
    assert not Message.objects.exists()
