"""The inbox pages over HTTP: status codes, 404 outside the scope on every URL that takes an id, forms with
field errors, HTMX partials, the supervisor page, presence, letters, and bounded queries."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kramar.accounts.tests.factories import UserFactory
from kramar.comms.choices import AssignmentStatus, ChannelKind, ConversationStatus, Presence
from kramar.comms.models import AgentProfile, Assignment, Conversation, Message
from kramar.comms.routing import conversation_route
from kramar.comms.tests.factories import (
    AgentProfileFactory,
    CannedResponseFactory,
    ChannelFactory,
    ConversationFactory,
    MessageFactory,
    QueueFactory,
)
from kramar.comms.tests.test_services import World, inbound, parse_outgoing
from kramar.core.models import Notification, OutgoingEmail

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(rep_a, rep_b):
    return World(rep_a, rep_b)

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def offered(world, django_capture_on_commit_callbacks):
    """A client's e-mail routed to rep_a (an open offer)."""
    conv = inbound(world.channel, capture=django_capture_on_commit_callbacks).conversation
    conv.refresh_from_db()
    assert conv.owner == world.rep_a
    return conv


def url(name, *args):
    return reverse(f"comms:{name}", args=args)


def test_pages_need_a_sign_in(client, world):
    for name in ("inbox", "supervisor", "letter-register"):
        response = client.get(url(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_inbox_lists_my_conversations_with_the_offer_and_a_nav_link(client, world, offered):
    client.force_login(world.rep_a)
    response = client.get(url("inbox"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-testid="conversation-{offered.pk}"' in html and f'data-testid="offer-{offered.pk}"' in html
    assert "Ціна на котли" in html
    assert f'href="{url("inbox")}" aria-current="page"' in html  # the nav link
    assert "live:conversation.changed" in html and url("presence-heartbeat") in html
    assert 'data-testid="tab-all"' not in html  # not a supervisor


def test_inbox_htmx_returns_only_the_list_and_filters(client, world, offered):
    client.force_login(world.rep_a)
    response = client.get(url("inbox"), {"box": "mine", "q": "котли"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="inbox-list"' in html
    assert f"conversation-{offered.pk}" in html
    empty = client.get(url("inbox"), {"q": "nothing like this"}, **HTMX).content.decode()
    assert "No conversations match these filters." in empty
    assert "Vary" in response and "HX-Request" in response["Vary"]


def test_queue_tab_shows_the_waiting_conversations(client, world, rep_a):
    waiting = ConversationFactory(channel=world.channel, queue=world.queue, subject="Waiting one")
    client.force_login(rep_a)
    html = client.get(url("inbox"), {"box": "queues"}).content.decode()
    assert f"conversation-{waiting.pk}" in html
    client.force_login(UserFactory(username="newcomer", role="Sales rep"))
    assert "Nobody is waiting in your queues." in client.get(url("inbox"), {"box": "queues"}).content.decode()


def test_supervisor_sees_the_all_tab(client, world):
    client.force_login(world.boss)
    html = client.get(url("inbox")).content.decode()
    assert 'data-testid="tab-all"' in html and url("supervisor") in html


def test_every_url_with_an_id_is_404_outside_the_scope(client, world, rep_b, offered):
    client.force_login(rep_b)
    assert client.get(url("conversation-detail", offered.pk)).status_code == 404
    assert client.get(url("conversation-live", offered.pk)).status_code == 404
    for name in ("conversation-accept", "conversation-decline", "conversation-transfer", "conversation-reply",
                 "conversation-note", "conversation-close", "conversation-reopen"):
        response = client.post(url(name, offered.pk), {"body": "x", "target": f"queue:{world.queue.pk}"})
        assert response.status_code == 404, name
    assert not Message.objects.filter(conversation=offered).exclude(direction="in").exists()
    assert Conversation.objects.get(pk=offered.pk).status == ConversationStatus.NEW


def test_conversation_page_shows_thread_offer_sla_log_and_canned(client, world, offered):
    CannedResponseFactory(name="Price", body="Добрий день, {{ contact.first_name }}! {{ agent.first_name }}")
    client.force_login(world.rep_a)
    response = client.get(url("conversation-detail", offered.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Скільки коштує котел?" in html
    assert 'data-testid="accept"' in html and 'data-testid="decline"' in html
    assert f'data-text="Добрий день, Тарас! {world.rep_a.first_name}"' in html
    assert "least loaded" in html  # the assignment log with its reason
    assert f'href="{reverse("clients:contact-detail", args=[world.contact.pk])}"' in html
    assert f"live:conversation.changed[detail.id=={offered.pk}]" in html


def test_inbound_html_is_shown_sanitized(client, world, rep_a):
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status="open")
    MessageFactory(conversation=conv, body_html="<p>Hello <b>there</b></p>")
    client.force_login(rep_a)
    assert "<p>Hello <b>there</b></p>" in client.get(url("conversation-detail", conv.pk)).content.decode()


def test_accept_then_reply_from_the_page(client, world, offered):
    client.force_login(world.rep_a)
    response = client.post(url("conversation-accept", offered.pk))
    assert response.status_code == 302 and response["Location"] == url("conversation-detail", offered.pk)
    offered.refresh_from_db()
    assert offered.status == ConversationStatus.OPEN

    response = client.post(url("conversation-reply", offered.pk), {"body": "Ціна 20 000 грн.", "cc": ""})
    assert response.status_code == 302
    sent = parse_outgoing(OutgoingEmail.objects.get())
    assert sent["In-Reply-To"] == "<q1@client.test>" and sent["Subject"] == "Re: Ціна на котли"
    page = client.get(url("conversation-detail", offered.pk)).content.decode()
    assert "Ціна 20 000 грн." in page and "The reply is on its way." in page


def test_reply_form_errors_are_shown_on_the_fields(client, world, offered):
    client.force_login(world.rep_a)
    response = client.post(url("conversation-reply", offered.pk), {"body": "Hi", "cc": "not-an-address"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="cc-error"' in html and "not-an-address" in html
    response = client.post(url("conversation-reply", offered.pk), {"body": "", "cc": ""})
    assert response.status_code == 422 and "This field is required." in response.content.decode()
    assert not OutgoingEmail.objects.exists()


def test_reply_refused_on_a_phone_conversation_is_a_form_error(client, world, rep_a):
    phone = ChannelFactory(kind=ChannelKind.PHONE)
    conv = ConversationFactory(channel=phone, owner=rep_a, status="open")
    client.force_login(rep_a)
    response = client.post(url("conversation-reply", conv.pk), {"body": "Hi"})
    assert response.status_code == 422 and "cannot be answered by e-mail" in response.content.decode()


def test_decline_goes_back_to_the_inbox(client, world, offered):
    client.force_login(world.rep_a)
    response = client.post(url("conversation-decline", offered.pk), {"next": url("inbox")})
    assert response.status_code == 302 and response["Location"] == url("inbox")
    assert Assignment.objects.get(conversation=offered, user=world.rep_a).status == AssignmentStatus.DECLINED


def test_accepting_a_closed_offer_is_a_message_not_an_error(client, world, rep_a):
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status="open")
    client.force_login(rep_a)
    response = client.post(url("conversation-accept", conv.pk), follow=True)
    assert response.status_code == 200 and "This offer is no longer open to you." in response.content.decode()


def test_note_with_a_mention(client, world, offered, director):
    client.force_login(world.rep_a)
    response = client.post(url("conversation-note", offered.pk), {"body": "@director дивіться"})
    assert response.status_code == 302
    assert Notification.objects.get(user=director).kind == "mention"
    assert client.post(url("conversation-note", offered.pk), {"body": ""}).status_code == 422


def test_transfer_to_a_queue_and_to_an_agent(client, world, offered, rep_b):
    other = QueueFactory(name="Accounting")
    client.force_login(world.rep_a)
    client.post(url("conversation-accept", offered.pk))
    # a bad target is a message
    response = client.post(url("conversation-transfer", offered.pk), {"target": "queue:999999"}, follow=True)
    assert "Choose an agent or a queue" in response.content.decode()
    # to another queue (nobody online there: waits); rep_a no longer sees it and lands on the inbox
    response = client.post(url("conversation-transfer", offered.pk), {"target": f"queue:{other.pk}"})
    assert response.status_code == 302 and response["Location"] == url("inbox")
    offered.refresh_from_db()
    assert offered.queue == other and offered.owner is None
    # the supervisor of the old queue no longer supervises it; a superuser hands it to an agent
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    AgentProfileFactory(user=rep_b)
    from kramar.comms.tests.factories import QueueMemberFactory

    QueueMemberFactory(queue=other, user=rep_b)
    client.force_login(admin)
    response = client.post(url("conversation-transfer", offered.pk), {"target": f"user:{rep_b.pk}"})
    assert response.status_code == 302
    offered.refresh_from_db()
    assert offered.owner == rep_b


def test_transfer_by_someone_who_sees_but_may_not_change_is_forbidden(client, world, rep_a, rep_a2, team_a):
    conv = ConversationFactory(channel=world.channel, owner=rep_a2, team=team_a, status="open")
    client.force_login(rep_a)  # sees the team's conversations
    assert client.get(url("conversation-detail", conv.pk)).status_code == 200
    response = client.post(url("conversation-transfer", conv.pk), {"target": f"queue:{world.queue.pk}"})
    assert response.status_code == 403
    assert client.post(url("conversation-close", conv.pk)).status_code == 403


def test_close_and_reopen_from_the_page(client, world, rep_a):
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status="open")
    client.force_login(rep_a)
    assert client.post(url("conversation-close", conv.pk)).status_code == 302
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.CLOSED
    page = client.get(url("conversation-detail", conv.pk)).content.decode()
    assert 'data-testid="reopen"' in page and 'data-testid="reply-form"' not in page
    assert client.post(url("conversation-reopen", conv.pk)).status_code == 302
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.OPEN


def test_live_partial_of_the_conversation(client, world, offered):
    client.force_login(world.rep_a)
    html = client.get(url("conversation-live", offered.pk), **HTMX).content.decode()
    assert html.strip().startswith('<div id="conversation-live"') and "Скільки коштує" in html


# --------------------------------------------------------------------------------------- supervisor
def test_supervisor_page_is_for_supervisors_and_reloads_as_a_partial(client, world, rep_a, offered):
    client.force_login(rep_a)
    assert client.get(url("supervisor")).status_code == 403
    Conversation.objects.filter(pk=offered.pk).update(sla_breached_at=offered.opened_at)
    client.force_login(world.boss)
    response = client.get(url("supervisor"))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-testid="queue-{world.queue.pk}"' in html and f'data-testid="agent-{rep_a.pk}"' in html
    assert f'data-testid="breached-{offered.pk}"' in html and f'data-testid="transfer-{offered.pk}"' in html
    assert "one target list" not in html and "{#" not in html  # template comments stay out of the page
    partial = client.get(url("supervisor"), **HTMX).content.decode()
    assert "<html" not in partial and 'id="supervisor-panels"' in partial
    # the reassign form survives the live re-fetch of the panels (the supervisor's choice is kept)
    assert '<form method="post" id="kr-reassign"' in partial and 'hx-preserve="true"' in partial
    # reassign from there: back to the supervisor page
    response = client.post(url("conversation-transfer", offered.pk),
                           {"target": f"queue:{world.queue.pk}", "next": url("supervisor")})
    assert response.status_code == 302 and response["Location"] == url("supervisor")


def test_supervisor_page_with_nothing_to_show(client, director):
    client.force_login(director)
    html = client.get(url("supervisor")).content.decode()
    assert "No SLA breaches." in html and "You supervise no queue yet." in html


# --------------------------------------------------------------------------------------- presence
def test_presence_switch_and_heartbeat(client, world, rep_a):
    client.force_login(rep_a)
    response = client.post(url("presence"), {"presence": "away"}, **HTMX)
    assert response.status_code == 200 and 'aria-pressed="true" data-testid="presence-away"' in response.content.decode()
    assert AgentProfile.objects.get(user=rep_a).presence == Presence.AWAY
    assert client.post(url("presence"), {"presence": "busy"}).status_code == 400
    AgentProfile.objects.filter(user=rep_a).update(last_seen_at=None)
    assert client.post(url("presence-heartbeat")).status_code == 204
    assert AgentProfile.objects.get(user=rep_a).last_seen_at is not None
    assert client.get(url("presence-heartbeat")).status_code == 405


# --------------------------------------------------------------------------------------- letters
def test_letter_registration_page(client, world, lead_a, rep_a):
    letters = ChannelFactory(kind=ChannelKind.LETTER, name="Office", address="", queue=world.queue)
    client.force_login(lead_a)
    assert client.get(url("letter-register")).status_code == 200
    # the picker finds the contact
    picked = client.get(url("client-pick"), {"client_q": "Шевченко"}).content.decode()
    assert f'value="contact:{world.contact.pk}"' in picked
    # a form without a client or subject comes back with field errors
    response = client.post(url("letter-register"), {"channel": letters.pk, "kind": "letter", "subject": ""})
    assert response.status_code == 422
    html = response.content.decode()
    assert "This field is required." in html
    response = client.post(url("letter-register"), {"channel": letters.pk, "kind": "letter", "subject": "Лист"})
    assert response.status_code == 422 and 'data-testid="client-error"' in response.content.decode()
    # a valid one with a scan
    scan = SimpleUploadedFile("scan.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = client.post(url("letter-register"), {
        "channel": letters.pk, "kind": "letter", "subject": "Лист", "body": "Текст",
        "client": f"contact:{world.contact.pk}", "upload": scan})
    assert response.status_code == 302
    message = Message.objects.get(channel=letters)
    assert message.interaction.attachments.get().filename == "scan.pdf"
    assert message.author == lead_a


def test_letter_page_needs_the_right_to_create_conversations(client, world):
    nobody = UserFactory(username="guest")
    client.force_login(nobody)
    assert client.get(url("letter-register")).status_code == 403


# --------------------------------------------------------------------------------------- query counts
def test_inbox_and_supervisor_pages_run_a_bounded_number_of_queries(client, world, rep_a,
                                                                    django_assert_max_num_queries):
    for i in range(60):
        conv = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a if i % 2 else None,
                                   status="open" if i % 2 else "new", contact=world.contact,
                                   sla_breached_at=world.contact.created_at if i % 5 == 0 else None)
        MessageFactory(conversation=conv)
    conversation_route(ConversationFactory(channel=world.channel, queue=world.queue))  # one offer
    client.force_login(rep_a)
    with django_assert_max_num_queries(12):  # session, user, grants, queues, teams, page, clients, offers, presence
        assert client.get(url("inbox")).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(url("inbox"), {"box": "queues"}, **HTMX).status_code == 200
    client.force_login(world.boss)
    with django_assert_max_num_queries(16):
        assert client.get(url("supervisor")).status_code == 200
    conv = Conversation.objects.filter(owner=rep_a).first()
    for _ in range(5):
        MessageFactory(conversation=conv)
    client.force_login(rep_a)
    with django_assert_max_num_queries(16):
        assert client.get(url("conversation-detail", conv.pk)).status_code == 200
