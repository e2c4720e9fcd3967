"""The inbox services: replies (threaded e-mail through the outbox, read back from the stored bytes), notes with
@mentions, close and reopen, canned responses, letters and visits, and the live events every change publishes.

`world` and `inbound` are shared with the selector and view tests."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory, ContactPointFactory
from kramar.comms import services
from kramar.comms.choices import AssignmentStatus, ChannelKind, ConversationStatus, MessageDirection, Presence
from kramar.comms.ingest import email_ingest
from kramar.comms.live import SUPERVISORS, queue_topic, user_topic
from kramar.comms.models import Assignment, Conversation, LiveEvent, Message
from kramar.comms.routing import conversation_route, conversation_transfer
from kramar.comms.tests.factories import (
    AgentProfileFactory,
    CannedResponseFactory,
    ChannelFactory,
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    QueueMemberFactory,
)
from kramar.comms.tests.mail_samples import mail
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.models import AuditEntry, Notification, OutgoingEmail
from kramar.history.models import Interaction

pytestmark = pytest.mark.django_db


class World:
    """Service queue with rep_a as its online agent, a supervisor, the sales@ mailbox, a known client."""

    def __init__(self, rep_a, rep_b):
        self.rep_a, self.rep_b = rep_a, rep_b
        self.queue = QueueFactory(name="Service")
        QueueMemberFactory(queue=self.queue, user=rep_a)
        AgentProfileFactory(user=rep_a, presence=Presence.ONLINE, capacity=5)
        self.boss = UserFactory(username="boss", first_name="Bohdan", role="Sales rep")
        self.queue.supervisors.add(self.boss)
        self.channel = ChannelFactory(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test",
                                      queue=self.queue)
        team = rep_a.memberships.get().team
        self.company = CompanyFactory(name="Котли Плюс", owner=rep_a, team=team)
        self.contact = ContactFactory(first_name="Тарас", last_name="Шевченко", owner=rep_a, team=team,
                                      primary_company=self.company, language="en")  # replies' additions in English
        ContactPointFactory(contact=self.contact, kind="email", value="taras@client.test",
                            normalized="taras@client.test")


@pytest.fixture
def world(rep_a, rep_b):
    return World(rep_a, rep_b)


def inbound(channel, *, msg_id="q1@client.test", subject="Ціна на котли", sender="taras@client.test",
            body="Скільки коштує котел?", headers=None, capture=None) -> Message:
    """Ingest one client e-mail (routing runs on commit when `capture` is django_capture_on_commit_callbacks)."""
    raw = mail(msg_id=msg_id, sender=sender, to=channel.address, subject=subject, body=body, headers=headers)
    if capture is None:
        result = email_ingest(channel=channel, raw=raw)
    else:
        with capture(execute=True):
            result = email_ingest(channel=channel, raw=raw)
    assert result.status == "stored", result
    return result.message


def parse_outgoing(outgoing: OutgoingEmail):
    return BytesParser(policy=policy.default).parsebytes(bytes(outgoing.raw))


def events(kind=None):
    qs = LiveEvent.objects.order_by("id")
    if kind:
        qs = qs.filter(kind=kind)
    return [(e.topic, e.kind, e.payload) for e in qs]


# --------------------------------------------------------------------------------------- replies
def test_reply_is_threaded_queued_logged_and_accepts_the_offer(world, django_capture_on_commit_callbacks):
    # given a client's e-mail (with a Reply-To and an earlier thread) routed to rep_a as an offer
    first = inbound(world.channel, capture=django_capture_on_commit_callbacks,
                    headers={"Reply-To": "Taras Office <office@client.test>",
                             "References": "<root@client.test> <older@client.test>",
                             "In-Reply-To": "<older@client.test>"})
    conv = first.conversation
    conv.refresh_from_db()
    assert conv.owner == world.rep_a and conv.status == ConversationStatus.NEW
    LiveEvent.objects.all().delete()

    # when rep_a replies with a Cc
    with django_capture_on_commit_callbacks(execute=False):
        reply = services.conversation_reply(actor=world.rep_a, conversation=conv, body="Котел коштує 20 000 грн.",
                                            cc=["boss@kramar.test"])

    # then the stored outgoing bytes carry the threading headers of the client's message
    outgoing = OutgoingEmail.objects.get()
    assert outgoing.kind == "conversation_reply" and outgoing.ref_entity == "conversation"
    assert outgoing.ref_id == conv.pk
    parsed = parse_outgoing(outgoing)
    assert parsed["In-Reply-To"] == "<q1@client.test>"
    assert parsed["References"].split() == ["<root@client.test>", "<older@client.test>", "<q1@client.test>"]
    assert parsed["Subject"] == "Re: Ціна на котли"
    assert parsed["From"].addresses[0].addr_spec == "sales@kramar.test"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["office@client.test"]  # Reply-To wins over From
    assert [a.addr_spec for a in parsed["Cc"].addresses] == ["boss@kramar.test"]
    message_id = parsed["Message-ID"].strip("<>")
    assert message_id.endswith("@kramar.test") and message_id != "q1@client.test"
    # the agent's text, then the client's message quoted as mail programs do (in the agent's language, local time)
    assert parsed.get_body().get_content() == (
        "Котел коштує 20 000 грн.\n\n"
        "On March 4, 2026, 10 a.m., taras@client.test wrote:\n"
        "> Скільки коштує котел?\n")
    assert sorted(outgoing.recipients) == ["boss@kramar.test", "office@client.test"]
    # the outbound message is stored for threading, with its author and outbox row; it shows what the agent wrote
    # (the quoted original is already in the thread)
    assert reply.direction == MessageDirection.OUTBOUND and reply.external_id == message_id
    assert reply.body == "Котел коштує 20 000 грн."
    assert reply.in_reply_to == "q1@client.test" and reply.outgoing == outgoing and reply.author == world.rep_a
    # the offer was accepted by replying, the conversation waits for the client, first response recorded
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.PENDING and conv.first_response_at is not None
    assert Assignment.objects.get(conversation=conv, user=world.rep_a).status == AssignmentStatus.ACCEPTED
    # on the client's timeline as an outbound e-mail
    logged = Interaction.objects.get(external_id=message_id)
    assert (logged.channel, logged.direction, logged.contact, logged.user) == (
        "email", "out", world.contact, world.rep_a)
    assert logged.body == "Котел коштує 20 000 грн."
    assert reply.interaction == logged
    assert AuditEntry.objects.filter(entity="conversation", object_id=conv.pk, actor=world.rep_a,
                                     extra__reply=reply.pk).exists()
    # live: the owner, the queue and the supervisors are told
    changed = {(t, p["status"]) for t, _k, p in events("conversation.changed")}
    assert {(user_topic(world.rep_a), "pending"), (queue_topic(world.queue), "pending"),
            (SUPERVISORS, "pending")} <= changed


def test_reply_over_smtp_quotes_a_windows_1251_original_in_utf8_and_threads(
        world, smtp_server, django_capture_on_commit_callbacks):
    # given a Ukrainian client's e-mail in windows-1251 (a name in the From, an earlier thread), routed to rep_a;
    # the conversation is marked Ukrainian
    original = "Добрий день!\n\nСкільки коштує котел «Їжак-24»?\n\nЗ повагою,\nТарас"
    raw = mail(msg_id="cp1@client.test", sender="taras@client.test", sender_name="Тарас Шевченко",
               to=world.channel.address, subject="Ціна на котли", body=original, charset="windows-1251",
               headers={"References": "<root@client.test>", "In-Reply-To": "<root@client.test>"})
    assert "Їжак".encode("cp1251") in raw
    with django_capture_on_commit_callbacks(execute=True):
        conv = email_ingest(channel=world.channel, raw=raw).message.conversation
    Conversation.objects.filter(pk=conv.pk).update(language="uk")

    # when rep_a replies and the outbox sends it (after the commit) to the SMTP server
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_reply(actor=world.rep_a, conversation=conv, body="Ціна: 20 000 грн.")
    [received] = smtp_server.wait_for(1)

    # then the received bytes: UTF-8, threaded to the client's message, the agent's text above the quote
    sent = received.message
    assert received.rcpt_tos == ["taras@client.test"]
    assert sent["In-Reply-To"] == "<cp1@client.test>"
    assert sent["References"].split() == ["<root@client.test>", "<cp1@client.test>"]
    assert sent["Subject"] == "Re: Ціна на котли"
    part = sent.get_body(("plain",))
    assert part.get_content_charset() == "utf-8"
    lines = part.get_content().replace("\r\n", "\n").rstrip("\n").split("\n")
    agent, blank, head, quoted = lines[0], lines[1], lines[2], lines[3:]
    assert (agent, blank) == ("Ціна: 20 000 грн.", "")
    # the attribution in the conversation's language (the date as Ukrainian writes it), with the sender's name
    assert "04 березня 2026 р. 10:00" in head and "Тарас Шевченко <taras@client.test>" in head and head.endswith(":")
    assert quoted == ["> Добрий день!", ">", "> Скільки коштує котел «Їжак-24»?", ">", "> З повагою,", "> Тарас"]


def test_reply_quotes_an_html_only_original_as_text_and_prefers_the_text_part(
        world, django_capture_on_commit_callbacks):
    from email.message import EmailMessage as MimeMessage

    def client_mail(msg_id: str, *, html: str, text: str | None = None) -> bytes:
        msg = MimeMessage()
        msg["Message-ID"], msg["From"], msg["To"] = f"<{msg_id}>", "Taras <taras@client.test>", "sales@kramar.test"
        msg["Subject"], msg["Date"] = "Умови", "Wed, 04 Mar 2026 10:00:00 +0200"
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.set_content(text)
            msg.add_alternative(html, subtype="html")
        return msg.as_bytes()

    html = ("<html><head><style>p {color: red}</style></head><body><p>Добрий&nbsp;день,</p>"
            "<p>ціна &amp; умови?<br>Дякую</p><blockquote>стара <b>відповідь</b></blockquote></body></html>")
    # given an HTML-only e-mail (its stored body is a flattening for search: "Добрий день,ціна &amp; умови?…")
    with django_capture_on_commit_callbacks(execute=True):
        conv = email_ingest(channel=world.channel, raw=client_mail("h1@client.test", html=html)).message.conversation
    # when rep_a replies
    reply = services.conversation_reply(actor=world.rep_a, conversation=conv, body="Надіслав.")
    # then the quote is the HTML converted to text: paragraphs, line breaks, entities, the old quote one level deeper
    body = parse_outgoing(reply.outgoing).get_body().get_content()
    assert body.endswith("Taras <taras@client.test> wrote:\n> Добрий день,\n>\n> ціна & умови?\n> Дякую\n>\n"
                         ">> стара відповідь\n")
    assert "color" not in body and reply.body == "Надіслав."
    # given the client's next e-mail has a text part too: that is what is quoted
    inbound(world.channel, msg_id="h2@client.test", subject="Умови",
            headers={"In-Reply-To": f"<{reply.external_id}>"})
    conv.messages.filter(external_id="h2@client.test").update(body_html="<p>HTML version</p>")
    second = services.conversation_reply(actor=world.rep_a, conversation=conv, body="Так.")
    body = parse_outgoing(second.outgoing).get_body().get_content()
    assert body.endswith("wrote:\n> Скільки коштує котел?\n") and "HTML version" not in body


def test_reply_quote_of_a_long_original_is_cut(world, django_capture_on_commit_callbacks):
    from kramar.comms.quoting import QUOTE_LINES

    long = "\n".join(f"Рядок {n}" for n in range(1, 501))
    conv = inbound(world.channel, body=long, capture=django_capture_on_commit_callbacks).conversation
    reply = services.conversation_reply(actor=world.rep_a, conversation=conv, body="Прочитав.")
    lines = parse_outgoing(reply.outgoing).get_body().get_content().rstrip("\n").split("\n")
    quoted = lines[lines.index(next(x for x in lines if x.endswith("wrote:"))) + 1:]
    assert quoted[:2] == ["> Рядок 1", "> Рядок 2"] and quoted[-2:] == [f"> Рядок {QUOTE_LINES}", "> […]"]
    assert len(quoted) == QUOTE_LINES + 1


def test_quote_text_and_html_to_text():
    from kramar.comms.quoting import html_to_text, quote_text

    assert quote_text("\n\nA\n\n> older\n\n") == "> A\n>\n>> older"
    assert quote_text("") == ""
    assert quote_text("слово " * 10, max_chars=20) == "> слово слово слово\n> […]"  # cut at a word end
    assert html_to_text("<ul><li>один</li><li>два</li></ul><pre>  a\n  b</pre><script>x()</script>"
                        "<table><tr><td>1</td><td>2</td></tr></table>") == "- один\n- два\n  a\n  b\n\n1 2"


def test_the_clients_answer_to_a_reply_threads_into_the_same_conversation(world, django_capture_on_commit_callbacks):
    # given a reply sent on a routed conversation
    conv = inbound(world.channel, capture=django_capture_on_commit_callbacks).conversation
    reply = services.conversation_reply(actor=world.rep_a, conversation=conv, body="Ось ціна.")
    # when the client answers it (In-Reply-To = our Message-ID, a different subject)
    answer = inbound(world.channel, msg_id="a2@client.test", subject="Дякую",
                     headers={"In-Reply-To": f"<{reply.external_id}>"})
    # then it joins the conversation, which is open again
    assert answer.conversation_id == conv.pk
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.OPEN


def test_second_reply_keeps_first_response_and_does_not_double_re(world, django_capture_on_commit_callbacks):
    conv = inbound(world.channel, subject="Re: Котли", capture=django_capture_on_commit_callbacks).conversation
    services.conversation_reply(actor=world.rep_a, conversation=conv, body="One")
    conv.refresh_from_db()
    first = conv.first_response_at
    second = services.conversation_reply(actor=world.rep_a, conversation=conv, body="Two")
    conv.refresh_from_db()
    assert conv.first_response_at == first
    assert second.subject == "Re: Котли"
    assert parse_outgoing(second.outgoing)["In-Reply-To"] == "<q1@client.test>"


def test_only_the_agent_who_has_it_or_a_supervisor_may_reply(world, django_capture_on_commit_callbacks):
    conv = inbound(world.channel, capture=django_capture_on_commit_callbacks).conversation
    services.conversation_accept(actor=world.rep_a, conversation=conv)
    with pytest.raises(PermissionDenied):
        services.conversation_reply(actor=world.rep_b, conversation=conv, body="Hi")
    assert not OutgoingEmail.objects.exists()
    # the supervisor may
    services.conversation_reply(actor=world.boss, conversation=conv, body="Supervisor here")
    assert OutgoingEmail.objects.count() == 1


def test_a_supervisor_answering_a_waiting_conversation_takes_it(world):
    conv = ConversationFactory(channel=world.channel, queue=world.queue, contact=world.contact)
    MessageFactory(conversation=conv, from_address="taras@client.test", external_id="w1@client.test")
    services.conversation_reply(actor=world.boss, conversation=conv, body="Hello")
    conv.refresh_from_db()
    assert conv.owner == world.boss and conv.status == ConversationStatus.PENDING
    assert Assignment.objects.get(conversation=conv).status == AssignmentStatus.ACCEPTED


def test_reply_refusals_phone_channel_closed_bad_cc_empty_body(world, rep_a):
    phone = ChannelFactory(kind=ChannelKind.PHONE, address="+380441234567", queue=world.queue)
    call = ConversationFactory(channel=phone, owner=rep_a, status=ConversationStatus.OPEN, contact=world.contact)
    with pytest.raises(DomainError) as refused:
        services.conversation_reply(actor=rep_a, conversation=call, body="Hi")
    assert refused.value.code == "no_reply_path"

    mailbox = ConversationFactory(channel=world.channel, owner=rep_a, status=ConversationStatus.OPEN)
    MessageFactory(conversation=mailbox, from_address="taras@client.test")
    with pytest.raises(ValidationFailed) as bad:
        services.conversation_reply(actor=rep_a, conversation=mailbox, body="Hi", cc=["boss@", "ok@kramar.test"])
    assert list(bad.value.errors) == ["cc"] and "boss@" in bad.value.errors["cc"][0]
    with pytest.raises(ValidationFailed) as empty:
        services.conversation_reply(actor=rep_a, conversation=mailbox, body="   ")
    assert list(empty.value.errors) == ["body"]

    services.conversation_close(actor=rep_a, conversation=mailbox)
    with pytest.raises(DomainError) as closed:
        services.conversation_reply(actor=rep_a, conversation=mailbox, body="Hi")
    assert closed.value.code == "closed"
    assert not OutgoingEmail.objects.exists()


def test_reply_without_any_client_address_is_refused(world, rep_a):
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status=ConversationStatus.OPEN)
    with pytest.raises(DomainError) as refused:
        services.conversation_reply(actor=rep_a, conversation=conv, body="Hi")
    assert refused.value.code == "no_reply_path"


def test_reply_cc_accepts_a_comma_separated_text():
    assert services.cc_clean("a@x.test, B <b@x.test>; a@x.test") == ["a@x.test", "b@x.test"]
    assert services.reply_subject("RE: x") == "RE: x" and services.reply_subject("x") == "Re: x"


# --------------------------------------------------------------------------------------- notes
def test_note_mentions_notify_who_can_see_it(world, rep_a, director, rep_b):
    conv = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a,
                               status=ConversationStatus.OPEN, subject="Котли")
    LiveEvent.objects.all().delete()
    # when rep_a notes, mentioning the director, the supervisor by first name, rep_b (no access), themself,
    # and an e-mail address
    note = services.conversation_note(
        actor=rep_a, conversation=conv,
        body="@director please look; @bohdan FYI; @rep_b too; me @rep_a; mail x@director.test",
    )
    # then
    assert note.direction == MessageDirection.NOTE and note.outgoing is None and note.author == rep_a
    notified = set(Notification.objects.filter(kind="mention").values_list("user__username", flat=True))
    assert notified == {"director", "boss"}
    n = Notification.objects.get(user=director)
    assert n.url == f"/comms/conversations/{conv.pk}/" and "Котли" in n.text
    mention_topics = {t for t, _k, _p in events("mention")}
    assert mention_topics == {user_topic(director), user_topic(world.boss)}
    assert not OutgoingEmail.objects.exists()
    assert (user_topic(rep_a), "conversation.changed") in {(t, k) for t, k, _p in events()}


def test_ambiguous_first_name_mentions_nobody(world, rep_a):
    UserFactory(username="o1", first_name="Olena")
    UserFactory(username="o2", first_name="Olena")
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status=ConversationStatus.OPEN)
    services.conversation_note(actor=rep_a, conversation=conv, body="@Olena?")
    assert not Notification.objects.exists()


def test_note_by_someone_who_cannot_see_it_is_refused(world, rep_a, rep_b):
    conv = ConversationFactory(channel=world.channel, owner=rep_a, status=ConversationStatus.OPEN)
    with pytest.raises(PermissionDenied):
        services.conversation_note(actor=rep_b, conversation=conv, body="hi")


# --------------------------------------------------------------------------------------- close / reopen
def test_close_and_reopen_are_audited_and_published(world, rep_a):
    conv = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a,
                               status=ConversationStatus.OPEN)
    services.conversation_close(actor=rep_a, conversation=conv)
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.CLOSED and conv.closed_at is not None
    closed = {(t, p["status"], p["owner"], p["queue"]) for t, _k, p in events("conversation.changed")}
    assert closed == {(t, "closed", rep_a.pk, world.queue.pk)
                      for t in (user_topic(rep_a), queue_topic(world.queue), SUPERVISORS)}
    with pytest.raises(DomainError):
        services.conversation_close(actor=rep_a, conversation=conv)

    services.conversation_reopen(actor=rep_a, conversation=conv)
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.OPEN and conv.closed_at is None and conv.owner == rep_a
    audit = list(AuditEntry.objects.filter(entity="conversation", object_id=conv.pk).order_by("id")
                 .values_list("changes", flat=True))
    assert [a["status"] for a in audit] == [["open", "closed"], ["closed", "open"]]


def test_close_by_another_agent_is_forbidden_and_reopen_without_owner_takes_it(world, rep_a, rep_b):
    conv = ConversationFactory(channel=world.channel, queue=world.queue, owner=rep_a,
                               status=ConversationStatus.OPEN)
    with pytest.raises(PermissionDenied):
        services.conversation_close(actor=rep_b, conversation=conv)
    waiting = ConversationFactory(channel=world.channel, queue=world.queue, status=ConversationStatus.CLOSED,
                                  closed_at=timezone.now())
    services.conversation_reopen(actor=world.boss, conversation=waiting)
    waiting.refresh_from_db()
    assert waiting.owner == world.boss and waiting.status == ConversationStatus.OPEN


# --------------------------------------------------------------------------------------- canned responses
def test_canned_render_fills_fields_without_running_templates(world, rep_a):
    rep_a.first_name, rep_a.last_name = "Олена", "Коваль"
    conv = ConversationFactory(channel=world.channel, contact=world.contact, company=world.company,
                               subject="Котли")
    canned = CannedResponseFactory(body=(
        "Добрий день, {{ contact.first_name }} {{contact.last_name}} ({{ contact.full_name }}, {{ company.name }})!"
        " Re {{ conversation.subject }} #{{ conversation.id }}. {{ agent.name }} / {{ agent.first_name }}"
        " {{ contact.password }}{% now 'Y' %}{{ settings.SECRET_KEY }}"
    ))
    text = services.canned_render(canned=canned, conversation=conv, agent=rep_a)
    assert text == (
        f"Добрий день, Тарас Шевченко (Тарас Шевченко, Котли Плюс)! Re Котли #{conv.pk}. Олена Коваль / Олена"
        " {% now 'Y' %}"
    )
    assert services.canned_fields_unknown(canned.body) == ["contact.password", "settings.SECRET_KEY"]


def test_canned_render_without_a_client_leaves_the_fields_empty(world, rep_a):
    conv = ConversationFactory(channel=world.channel)
    canned = CannedResponseFactory(body="Dear {{ contact.first_name }},{{ company.name }} {{ agent.first_name }}")
    assert services.canned_render(canned=canned, conversation=conv, agent=rep_a) == f"Dear , {rep_a.first_name}"


# --------------------------------------------------------------------------------------- letters and visits
@pytest.fixture
def letters(world):
    return ChannelFactory(kind=ChannelKind.LETTER, name="Office", address="", queue=world.queue)


def test_letter_with_a_scan_is_a_conversation_on_the_timeline_and_is_routed(
        world, letters, lead_a, django_capture_on_commit_callbacks):
    scan = SimpleUploadedFile("scan.pdf", b"%PDF-1.4 letter", content_type="application/pdf")
    received = timezone.now() - dt.timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        message = services.letter_register(actor=lead_a, channel=letters, kind="letter", subject="Претензія",
                                           body="Лист про затримку", contact=world.contact, upload=scan,
                                           received_at=received)
    conv = message.conversation
    conv.refresh_from_db()
    assert (conv.kind, conv.channel, conv.contact, conv.company) == (
        ChannelKind.LETTER, letters, world.contact, world.company)
    assert message.direction == MessageDirection.INBOUND and message.flags["kind"] == "letter"
    assert message.sent_at == received
    interaction = message.interaction
    assert (interaction.channel, interaction.direction, interaction.user) == ("letter", "in", lead_a)
    assert [a.filename for a in interaction.attachments.all()] == ["scan.pdf"]
    assert interaction.attachments.get().file.read() == b"%PDF-1.4 letter"
    # routed like any inbound item: offered to the queue's online agent
    assert conv.owner == world.rep_a and Assignment.objects.get(conversation=conv).status == "offered"
    assert (user_topic(world.rep_a), "conversation.offered") in {(t, k) for t, k, _p in events()}

    # a visit about the same subject continues the conversation (as a meeting on the timeline)
    visit = services.letter_register(actor=lead_a, channel=letters, kind="visit", subject="претензія",
                                     contact=world.contact)
    assert visit.conversation_id == conv.pk and visit.interaction.channel == "meeting"


def test_letter_registration_refusals(world, letters, lead_a, rep_a):
    with pytest.raises(ValidationFailed) as bad:
        services.letter_register(actor=lead_a, channel=world.channel, kind="fax", subject="", contact=None)
    assert set(bad.value.errors) == {"channel", "kind", "subject", "contact"}
    nobody = UserFactory(username="guest")  # no role
    with pytest.raises(PermissionDenied):
        services.letter_register(actor=nobody, channel=letters, kind="letter", subject="x", contact=world.contact)


# --------------------------------------------------------------------------------------- offers and live events
def test_routing_publishes_offers_and_transfers(world, rep_a, rep_b):
    conv = ConversationFactory(channel=world.channel, queue=world.queue)
    conversation_route(conv)
    assert (user_topic(rep_a), "conversation.offered", conv.pk) in {
        (t, k, p["id"]) for t, k, p in events()}
    services.conversation_accept(actor=rep_a, conversation=conv)
    LiveEvent.objects.all().delete()
    # when the supervisor transfers it to rep_b, rep_a's list is told too
    services.conversation_hand_over(actor=world.boss, conversation=conv, to_user=rep_b)
    topics = {t for t, k, _p in events("conversation.changed")}
    assert {user_topic(rep_a), user_topic(rep_b), queue_topic(world.queue), SUPERVISORS} <= topics
    assert [t for t, _k, _p in events("conversation.offered")] == [user_topic(rep_b)]
    assert AuditEntry.objects.filter(entity="conversation", object_id=conv.pk, actor=world.boss).exists()


def test_declining_tells_the_decliner_and_the_next_agent(world, rep_a, rep_a2):
    QueueMemberFactory(queue=world.queue, user=rep_a2)
    AgentProfileFactory(user=rep_a2, presence=Presence.ONLINE, capacity=5)
    conv = ConversationFactory(channel=world.channel, queue=world.queue)
    first = conversation_route(conv).user
    second = rep_a2 if first == rep_a else rep_a
    LiveEvent.objects.all().delete()
    services.conversation_decline(actor=first, conversation=conv)
    assert {user_topic(first), user_topic(second)} <= {t for t, _k, _p in events("conversation.changed")}
    assert [t for t, _k, _p in events("conversation.offered")] == [user_topic(second)]


def test_transfer_by_an_agent_who_does_not_have_it_is_forbidden(world, rep_b):
    conv = ConversationFactory(channel=world.channel, queue=world.queue, owner=world.rep_a,
                               status=ConversationStatus.OPEN)
    with pytest.raises(PermissionDenied):
        conversation_transfer(by=rep_b, conversation=conv, to_queue=world.queue)


def test_ingested_message_and_sla_breach_publish(world, django_capture_on_commit_callbacks):
    from kramar.comms.sla import sla_breach

    with django_capture_on_commit_callbacks(execute=True):  # routed after the commit, published with its decision
        message = inbound(world.channel)
    conv = message.conversation
    assert (queue_topic(world.queue), "conversation.changed", conv.pk) in {
        (t, k, p["id"]) for t, k, p in events()}
    Conversation.objects.filter(pk=conv.pk).update(owner=world.rep_a, status=ConversationStatus.OPEN)
    LiveEvent.objects.all().delete()
    assert sla_breach(conversation_id=conv.pk, now=timezone.now())
    assert {user_topic(world.rep_a), queue_topic(world.queue), SUPERVISORS} == {
        t for t, _k, _p in events("conversation.changed")}


def test_presence_set_by_the_agent_is_published_to_supervisors(world, rep_a):
    services.agent_presence_set(actor=rep_a, presence=Presence.AWAY)
    assert events("presence.changed") == [(SUPERVISORS, "presence.changed", {"user": rep_a.pk, "presence": "away"})]
    with pytest.raises(ValidationFailed):
        services.agent_presence_set(actor=rep_a, presence="busy")
