"""Agents' replies in chat conversations: stored and on the timeline at once, posted after the commit to the chat
channel's gateway — a real HTTP server on 127.0.0.1 started by the test — signed like the inbound hooks, retried
with back-off when the gateway fails or is down, failed at once when it refuses, never dropped, in order within a
chat; the conversation page shows each reply's delivery state."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from kramar.comms import chat_outbox, services
from kramar.comms.chat_outbox import chat_replies_due_send, chat_replies_retry, chat_reply_send
from kramar.comms.choices import AssignmentStatus, ConversationStatus, MessageDirection
from kramar.comms.models import Assignment, Conversation, Message, OutgoingChatMessage
from kramar.comms.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_verify
from kramar.comms.tasks import send_due_chat_replies_task
from kramar.comms.tests.factories import ChatChannelFactory
from kramar.comms.tests.hooks import signed_post
from kramar.comms.tests.test_services import World
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.models import AuditEntry, OutgoingEmail
from kramar.core.outbox import MAX_ATTEMPTS
from kramar.core.tests.api_client import ApiClient
from kramar.history.models import Interaction

pytestmark = pytest.mark.django_db

Status = OutgoingChatMessage.Status
FIELDS = ["chat_id", "reply_to", "message_id", "text", "agent", "at"]


# --------------------------------------------------------------------------------------- a real gateway
@dataclass
class Received:
    path: str
    headers: object  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Gateway:
    """A chat gateway on 127.0.0.1 (a port the OS picks): keeps every request and answers the scripted answers in
    turn — (status, body, headers), or ("sleep", seconds) to answer 200 late — then 200 {"ok": true}."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[tuple] = []
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with gateway.lock:
                    gateway.requests.append(Received(self.path, self.headers, body))
                    answer = gateway.answers.pop(0) if gateway.answers else (200, b'{"ok": true}', {})
                if answer[0] == "sleep":
                    time.sleep(answer[1])
                    answer = (200, b'{"ok": true}', {})
                status, text, headers = answer
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # Kramar gave up waiting (the timeout test)
                    self.wfile.write(text)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/kramar/replies"

    def answer(self, *answers) -> None:
        with self.lock:
            self.answers.extend(a if isinstance(a, tuple) else (a, f'{{"status": {a}}}'.encode(), {}) for a in answers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/replies"


# --------------------------------------------------------------------------------------- the chat
@pytest.fixture
def world(rep_a, rep_b):
    return World(rep_a, rep_b)


def chat_channel(world, url: str | None):
    settings = {"network": "telegram", **({"reply_url": url} if url else {})}
    return ChatChannelFactory(queue=world.queue, settings=settings)


def client_writes(client, channel, capture=None) -> Conversation:
    """The client's message through the signed chat webhook; the new conversation is routed (an offer to rep_a) on
    commit: `capture` is django_capture_on_commit_callbacks (None in a transactional test, which commits)."""
    payload = {"chat_id": "900123", "message_id": "5521", "text": "Добрий день! Чи є знижки?",
               "at": timezone.now().isoformat(), "from": {"name": "Ірина Бондар", "handle": "@iryna_b"}}
    with capture(execute=True) if capture is not None else contextlib.nullcontext():
        response = signed_post(client, f"/api/v1/comms/hooks/chat/{channel.pk}", payload, secret=channel.secret)
    assert response.status_code == 200, response.content
    return Conversation.objects.get(pk=response.json()["conversation_id"])


def reply(world, conv, capture, body="Так, знижка 10% до п'ятниці.") -> Message:
    with capture(execute=True):
        return services.conversation_reply(actor=world.rep_a, conversation=conv, body=body)


def page(client, world, conv) -> str:
    client.force_login(world.rep_a)
    response = client.get(reverse("comms:conversation-detail", args=[conv.pk]))
    assert response.status_code == 200
    return response.content.decode()


def row_of(message: Message) -> OutgoingChatMessage:
    return OutgoingChatMessage.objects.get(pk=message.chat_outgoing_id)


# --------------------------------------------------------------------------------------- delivered
def test_a_reply_from_the_page_reaches_the_gateway_signed_with_the_documented_json(
    client, world, gateway, django_capture_on_commit_callbacks
):
    # given a client's chat message offered to rep_a, on a channel with a reply URL
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    assert conv.owner == world.rep_a and conv.status == ConversationStatus.NEW
    before = page(client, world, conv)
    assert "Reply in the chat" in before and 'data-testid="reply-form"' in before
    assert 'name="cc"' not in before  # a chat has no Cc

    # when rep_a answers with the conversation page's reply form
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("comms:conversation-reply", args=[conv.pk]),
                               {"body": "  Так, знижка 10% до п'ятниці.\n"})

    # then the gateway got one POST at the reply URL, signed with the channel's secret over the exact body
    assert response.status_code == 302
    [received] = gateway.requests
    assert received.path == "/kramar/replies"
    assert received.headers.get("Content-Type").startswith("application/json")
    signature_verify(secret=channel.secret, headers=received.headers, body=received.body)
    assert received.headers.get(SIGNATURE_HEADER).startswith("sha256=")
    assert abs(int(received.headers.get(TIMESTAMP_HEADER)) - time.time()) < 60
    # and the documented JSON: the chat, the client's message it answers, Kramar's id of the reply, the text,
    # the agent and the time
    message = Message.objects.get(conversation=conv, direction=MessageDirection.OUTBOUND)
    outgoing = row_of(message)
    payload = received.json
    assert list(payload) == FIELDS
    assert payload == {"chat_id": "900123", "reply_to": "5521", "message_id": outgoing.message_id,
                       "text": "Так, знижка 10% до п'ятниці.", "agent": {"name": world.rep_a.get_full_name()},
                       "at": payload["at"]}
    assert dt.datetime.fromisoformat(payload["at"]) == message.sent_at.replace(microsecond=0)
    assert received.body == outgoing.body.encode()  # posted exactly as stored
    # the row is sent after one attempt
    assert (outgoing.status, outgoing.attempts, outgoing.last_status, outgoing.last_error) == (
        Status.SENT, 1, 200, "")
    assert outgoing.sent_at is not None and outgoing.next_attempt_at is None and outgoing.url == gateway.url
    # the reply is an outbound Message of the chat (external id as the chat's inbound ones) …
    assert message.external_id == f"900123:{outgoing.message_id}" and message.author == world.rep_a
    assert message.body == "Так, знижка 10% до п'ятниці." and message.in_reply_to == "900123:5521"
    assert message.flags["chat"] == {"chat_id": "900123", "message_id": outgoing.message_id, "reply_to": "5521"}
    # … on the client's timeline as an outbound chat message …
    logged = Interaction.objects.get(channel="chat", direction="out")
    assert logged == message.interaction and logged.contact == conv.contact and logged.user == world.rep_a
    assert logged.body == "Так, знижка 10% до п'ятниці."
    # … the offer is accepted by the reply, the first response recorded, the conversation waits for the client
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.PENDING and conv.first_response_at == message.sent_at
    assert Assignment.objects.get(conversation=conv, user=world.rep_a).status == AssignmentStatus.ACCEPTED
    assert AuditEntry.objects.filter(entity="conversation", object_id=conv.pk, extra__reply=message.pk,
                                     extra__message_id=outgoing.message_id).exists()
    assert not OutgoingEmail.objects.exists()
    # and the page shows it delivered
    html = page(client, world, conv)
    assert 'data-testid="chat-delivery" data-state="sent"' in html and "delivered to the chat" in html


@pytest.mark.django_db(transaction=True)
def test_the_reply_is_posted_only_after_the_commit(client, world, gateway):
    # given (real commits: the routing and the post run on commit)
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel)

    # when the reply is written in a transaction
    with transaction.atomic():
        message = services.conversation_reply(actor=world.rep_a, conversation=conv, body="Відповідь")
        # then nothing went out before the commit
        assert gateway.requests == [] and row_of(message).status == Status.PENDING

    # (and after it, the Huey task posted it)
    [received] = gateway.requests
    assert received.json["message_id"] == row_of(message).message_id
    assert row_of(message).status == Status.SENT


def test_the_api_reply_operation_answers_in_the_chat(client, world, gateway, django_capture_on_commit_callbacks):
    # given
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = ApiClient(world.rep_a).post(f"/comms/conversations/{conv.pk}/reply", {"body": "Через API"})

    # then
    assert response.status_code == 201, response.content
    assert response.json()["direction"] == "out"
    [received] = gateway.requests
    assert received.json["text"] == "Через API"
    assert received.json["message_id"] == response.json()["flags"]["chat"]["message_id"]


# --------------------------------------------------------------------------------------- retried, failed, never dropped
def test_a_gateway_error_is_retried_with_the_same_message_id_until_it_is_sent(
    client, world, gateway, django_capture_on_commit_callbacks
):
    # given a gateway that answers 500 once
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    gateway.answer((500, b"Internal error: database is busy", {}))

    # when the agent replies
    message = reply(world, conv, django_capture_on_commit_callbacks)

    # then the reply is stored, the attempt failed and is due again a minute later, and the page says so
    outgoing = row_of(message)
    assert (outgoing.status, outgoing.attempts, outgoing.last_status) == (Status.PENDING, 1, 500)
    assert outgoing.last_error == "HTTP 500: Internal error: database is busy"
    assert outgoing.next_attempt_at - outgoing.last_attempt_at == dt.timedelta(minutes=1)
    html = page(client, world, conv)
    assert 'data-state="pending"' in html and "retrying at" in html and "HTTP 500" in html

    # when the retry job runs before the retry is due, then when it is due
    early = send_due_chat_replies_task.call_local()
    due = chat_replies_due_send(now=outgoing.next_attempt_at)

    # then the gateway got the same reply twice (same message id and body, each signed afresh) and it is sent
    assert (early, due) == (0, 1)
    first, second = gateway.requests
    assert first.body == second.body and first.json["message_id"] == second.json["message_id"]
    for received in (first, second):
        signature_verify(secret=channel.secret, headers=received.headers, body=received.body)
    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts, outgoing.last_status) == (Status.SENT, 2, 200)
    assert "delivered to the chat" in page(client, world, conv)
    # and nothing goes out again
    assert chat_replies_due_send(now=timezone.now() + dt.timedelta(days=1)) == 0
    assert chat_reply_send(outgoing_id=outgoing.pk) is None
    assert len(gateway.requests) == 2


def test_a_refusal_fails_at_once_with_the_gateways_answer_shown_on_the_page(
    client, world, gateway, django_capture_on_commit_callbacks
):
    # given a gateway that refuses the reply
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    gateway.answer((400, b'{"error": "chat 900123 is blocked by the user"}', {}))

    # when
    message = reply(world, conv, django_capture_on_commit_callbacks)

    # then it failed after one attempt, with the status and the answer as the reason, and is never retried
    outgoing = row_of(message)
    assert (outgoing.status, outgoing.attempts, outgoing.last_status, outgoing.next_attempt_at) == (
        Status.FAILED, 1, 400, None)
    assert outgoing.last_error == 'HTTP 400: {"error": "chat 900123 is blocked by the user"}'
    assert chat_replies_due_send(now=timezone.now() + dt.timedelta(days=2)) == 0
    assert len(gateway.requests) == 1
    # the reply stays in the thread and on the timeline, and the page shows why it was not delivered
    assert Message.objects.filter(pk=message.pk).exists() and message.interaction_id is not None
    html = page(client, world, conv)
    assert 'data-testid="chat-delivery" data-state="failed"' in html and "not delivered" in html
    assert "HTTP 400: {&quot;error&quot;: &quot;chat 900123 is blocked by the user&quot;}" in html


@pytest.mark.parametrize(("answer", "status", "delay"), [
    ((408, b"", {}), Status.PENDING, dt.timedelta(minutes=1)),
    ((429, b"slow down", {"Retry-After": "600"}), Status.PENDING, dt.timedelta(minutes=10)),
    ((503, b"maintenance", {}), Status.PENDING, dt.timedelta(minutes=1)),
    ((404, b"no such chat", {}), Status.FAILED, None),
    ((422, b"text too long", {}), Status.FAILED, None),
    ((302, b"", {"Location": "https://elsewhere.example/"}), Status.FAILED, None),
])
def test_what_each_answer_means(client, world, gateway, answer, status, delay, django_capture_on_commit_callbacks):
    # given
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    gateway.answer(answer)

    # when
    outgoing = row_of(reply(world, conv, django_capture_on_commit_callbacks))

    # then 408, 429 and 5xx are retried (a Retry-After honoured), the rest fail at once; a redirect is not followed
    assert (outgoing.status, outgoing.attempts, outgoing.last_status) == (status, 1, answer[0])
    assert outgoing.last_error.startswith(f"HTTP {answer[0]}")
    if delay is not None:
        assert outgoing.next_attempt_at - outgoing.last_attempt_at == delay
    assert len(gateway.requests) == 1


def test_a_gateway_that_is_down_is_retried_with_back_off_and_the_reply_is_never_dropped(
    client, world, gateway, django_capture_on_commit_callbacks
):
    # given a channel whose gateway is down (nothing listens on its port)
    channel = chat_channel(world, closed_port_url())
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)

    # when the agent replies
    message = reply(world, conv, django_capture_on_commit_callbacks)

    # then the reply is stored and pending, with the error and a retry a minute later
    outgoing = row_of(message)
    assert (outgoing.status, outgoing.attempts, outgoing.last_status) == (Status.PENDING, 1, None)
    assert "ConnectionRefusedError" in outgoing.last_error
    assert "retrying at" in page(client, world, conv)

    # when every due run fails too
    delays = []
    for _ in range(MAX_ATTEMPTS + 3):
        outgoing.refresh_from_db()
        if outgoing.status != Status.PENDING:
            break
        delays.append(outgoing.next_attempt_at - outgoing.last_attempt_at)
        assert chat_replies_due_send(now=outgoing.next_attempt_at - dt.timedelta(seconds=1)) == 0  # not yet due
        chat_replies_due_send(now=outgoing.next_attempt_at)

    # then the waits doubled up to an hour, and after the last attempt it is failed, still there with its error
    assert delays[:8] == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts) == (Status.FAILED, MAX_ATTEMPTS)
    assert "ConnectionRefusedError" in outgoing.last_error
    assert Message.objects.filter(pk=message.pk, chat_outgoing=outgoing).exists()
    assert 'data-state="failed"' in page(client, world, conv)

    # when the gateway is back (the channel's URL corrected) and someone retries it
    channel.settings = {**channel.settings, "reply_url": gateway.url}
    channel.save(update_fields=["settings"])
    with django_capture_on_commit_callbacks(execute=True):
        assert chat_replies_retry(ids=[outgoing.pk]) == 1

    # then it goes out, with the message id it always had
    [received] = gateway.requests
    assert received.json["message_id"] == outgoing.message_id
    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts) == (Status.SENT, 1)


def test_a_gateway_that_does_not_answer_in_time_is_retried(
    client, world, gateway, monkeypatch, django_capture_on_commit_callbacks
):
    # given a gateway slower than the timeout
    monkeypatch.setattr(chat_outbox, "TIMEOUT", 0.3)
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    gateway.answer(("sleep", 1.5))

    # when
    outgoing = row_of(reply(world, conv, django_capture_on_commit_callbacks))

    # then
    assert (outgoing.status, outgoing.attempts) == (Status.PENDING, 1)
    assert "timed out" in outgoing.last_error


def test_replies_of_one_chat_go_out_in_the_order_they_were_written(
    client, world, gateway, django_capture_on_commit_callbacks
):
    # given a first reply the gateway failed to take
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    gateway.answer(502)
    first = row_of(reply(world, conv, django_capture_on_commit_callbacks, body="Перша"))

    # when a second reply is written while the first waits for its retry
    second = row_of(reply(world, conv, django_capture_on_commit_callbacks, body="Друга"))

    # then the second waits for the first (not posted, no attempt spent)
    assert [r.json["text"] for r in gateway.requests] == ["Перша"]
    assert (second.status, second.attempts) == (Status.PENDING, 0)
    assert "queued for the chat" in page(client, world, conv)

    # when the first is due
    first.refresh_from_db()
    assert chat_replies_due_send(now=first.next_attempt_at) == 2

    # then both went out, in order
    assert [r.json["text"] for r in gateway.requests] == ["Перша", "Перша", "Друга"]
    assert set(OutgoingChatMessage.objects.values_list("status", flat=True)) == {Status.SENT}


def test_an_interrupted_attempt_is_posted_again_with_the_same_message_id(
    client, world, gateway, django_capture_on_commit_callbacks
):
    # given a reply whose worker died while posting it (still "sending" past its deadline)
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    outgoing = row_of(reply(world, conv, django_capture_on_commit_callbacks))
    OutgoingChatMessage.objects.filter(pk=outgoing.pk).update(
        status=Status.SENDING, next_attempt_at=timezone.now() + chat_outbox.SEND_DEADLINE)

    # when runs come before and after the deadline
    before = chat_replies_due_send()
    after = chat_replies_due_send(now=timezone.now() + chat_outbox.SEND_DEADLINE + dt.timedelta(seconds=1))

    # then it is posted again (the gateway de-duplicates by message_id) and sent
    assert (before, after) == (0, 1)
    first, second = gateway.requests
    assert first.json["message_id"] == second.json["message_id"] == outgoing.message_id
    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts) == (Status.SENT, 2)


# --------------------------------------------------------------------------------------- refusals
def test_a_chat_channel_without_a_reply_url_refuses_the_reply_and_stores_nothing(
    client, world, django_capture_on_commit_callbacks
):
    # given a chat channel that has no way back
    channel = chat_channel(world, None)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    messages_before = Message.objects.count()

    # then the page explains it instead of a reply form
    html = page(client, world, conv)
    assert 'data-testid="reply-form"' not in html and 'data-testid="no-reply-path"' in html
    assert "has no reply URL" in html

    # when the agent replies anyway: through the service, the page's form and the API
    with pytest.raises(DomainError) as refused:
        services.conversation_reply(actor=world.rep_a, conversation=conv, body="Hello")
    with django_capture_on_commit_callbacks(execute=True):
        form = client.post(reverse("comms:conversation-reply", args=[conv.pk]), {"body": "Hello"})
        api = ApiClient(world.rep_a).post(f"/comms/conversations/{conv.pk}/reply", {"body": "Hello"})

    # then each refuses with a clear reason
    assert refused.value.code == "no_reply_path" and "has no reply URL" in refused.value.message
    assert form.status_code == 422 and "has no reply URL" in form.content.decode()
    assert api.status_code == 409 and api.json()["code"] == "no_reply_path"
    # and nothing was stored: no reply, no outbox row, no timeline entry, the conversation as it was
    assert Message.objects.count() == messages_before
    assert not OutgoingChatMessage.objects.exists()
    assert not Interaction.objects.filter(direction="out").exists()
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.NEW and conv.first_response_at is None


def test_a_chat_reply_has_no_cc_and_a_closed_chat_cannot_be_answered(
    client, world, gateway, django_capture_on_commit_callbacks
):
    # given
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)

    # when / then
    with pytest.raises(ValidationFailed) as cc:
        services.conversation_reply(actor=world.rep_a, conversation=conv, body="Hi", cc=["boss@kramar.test"])
    assert list(cc.value.errors) == ["cc"]
    services.conversation_accept(actor=world.rep_a, conversation=conv)
    services.conversation_close(actor=world.rep_a, conversation=conv)
    with pytest.raises(DomainError) as closed:
        services.conversation_reply(actor=world.rep_a, conversation=conv, body="Hi")
    assert closed.value.code == "closed"
    assert not OutgoingChatMessage.objects.exists() and gateway.requests == []


def test_the_reply_url_must_be_http_or_https():
    channel = ChatChannelFactory.build
    for url in ("ftp://gw.example/r", "file:///etc/passwd", "gw.example/r", "http://", 42, "https://" + "a" * 2000):
        assert chat_outbox.chat_reply_url(channel(settings={"reply_url": url})) == ""
    assert chat_outbox.chat_reply_url(channel(settings={"reply_url": " https://gw.example/r?x=1 "})) == \
        "https://gw.example/r?x=1"


# --------------------------------------------------------------------------------------- admin
def test_the_admin_lists_the_chat_outbox_and_retries_a_failed_reply(
    client, admin_user, world, gateway, django_capture_on_commit_callbacks
):
    # given a refused reply
    channel = chat_channel(world, gateway.url)
    conv = client_writes(client, channel, django_capture_on_commit_callbacks)
    gateway.answer(403)
    outgoing = row_of(reply(world, conv, django_capture_on_commit_callbacks))
    assert outgoing.status == Status.FAILED
    client.force_login(admin_user)

    # when
    listing = client.get("/admin/comms/outgoingchatmessage/", {"status__exact": "failed"})
    detail = client.get(f"/admin/comms/outgoingchatmessage/{outgoing.pk}/change/")
    with django_capture_on_commit_callbacks(execute=True):
        retried = client.post("/admin/comms/outgoingchatmessage/",
                              {"action": "retry_now", "_selected_action": [outgoing.pk]}, follow=True)

    # then
    assert listing.status_code == detail.status_code == retried.status_code == 200
    assert outgoing.message_id in listing.content.decode()
    assert "HTTP 403" in detail.content.decode() and "reply_to" in detail.content.decode()
    assert client.get("/admin/comms/outgoingchatmessage/add/").status_code == 403
    outgoing.refresh_from_db()
    assert outgoing.status == Status.SENT and len(gateway.requests) == 2
