"""Inbound e-mail end to end against a real Dovecot: messages APPENDed to a mailbox, read by the poller, stored
as messages in conversations and interactions on the client's timeline."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.clients.models import Contact, ContactPoint
from kramar.clients.tests.factories import ContactFactory, ContactPointFactory
from kramar.comms import ingest
from kramar.comms.choices import ChannelKind, ConversationStatus, MessageDirection
from kramar.comms.imap import channel_poll, mailboxes_due_poll
from kramar.comms.ingest import NEW_LEAD_TAG, email_ingest
from kramar.comms.models import Channel, Conversation, InboundFailure, Message
from kramar.comms.tests.dovecot import dovecot_server, free_port, imap_user, private_dovecot  # noqa: F401
from kramar.comms.tests.factories import QueueFactory
from kramar.comms.tests.mail_samples import BROKEN_MIME, PDF, mail, mail_with_file, sample
from kramar.core.errors import DomainError
from kramar.core.models import AuditEntry
from kramar.history.models import Interaction

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CP1251_TEXT = "Доброго дня! Прошу виставити рахунок на 20 ящиків. З повагою, Олена Коваль"


@pytest.fixture
def client_olena(db):
    contact = ContactFactory(first_name="Олена", last_name="Коваль")
    ContactPointFactory(contact=contact, value="Olena.Koval@Client.UA", normalized="olena.koval@client.ua")
    return contact


@pytest.fixture
def mailbox(dovecot_server, imap_user):  # noqa: F811
    queue = QueueFactory(name="Sales")
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test",
                                     settings=dovecot_server.channel_settings(imap_user),
                                     secret=dovecot_server.password, queue=queue)
    return channel, imap_user


def test_cyrillic_mail_from_a_known_client_lands_on_the_timeline(dovecot_server, mailbox, client_olena):  # noqa: F811
    # given a windows-1251 e-mail from a client in the mailbox
    channel, user = mailbox
    dovecot_server.append(user, mail(msg_id="m1@client.ua", sender="olena.koval@client.ua", subject="Рахунок",
                                     body=CP1251_TEXT, charset="windows-1251", sender_name="Олена Коваль"))
    # when the mailbox is polled
    result = channel_poll(channel=channel)
    # then the message is decoded, in a new conversation of the channel's queue, and on the client's timeline
    assert (result.stored, result.failed, result.error) == (1, 0, "")
    message = Message.objects.get()
    assert message.body.strip() == CP1251_TEXT
    assert message.subject == "Рахунок" and message.from_name == "Олена Коваль"
    assert message.direction == MessageDirection.INBOUND
    assert message.raw.read().startswith(b"Message-ID: <m1@client.ua>")
    conv = message.conversation
    assert conv.contact == client_olena and conv.queue == channel.queue
    assert conv.status == ConversationStatus.NEW and conv.thread_key == "m1@client.ua"
    assert conv.last_inbound_at == message.sent_at
    assert AuditEntry.objects.filter(entity="conversation", object_id=conv.pk, action="create").exists()
    interaction = message.interaction
    assert interaction.contact == client_olena and interaction.channel == "email" and interaction.direction == "in"
    assert interaction.external_id == "m1@client.ua" and CP1251_TEXT in interaction.body
    channel.refresh_from_db()
    assert channel.cursor["uid"] == 1 and channel.last_error == "" and channel.next_attempt_at > timezone.now()


def test_poll_twice_and_duplicates_store_once(dovecot_server, mailbox, client_olena):  # noqa: F811
    channel, user = mailbox
    raw = mail(msg_id="dup@client.ua", sender="olena.koval@client.ua", subject="Once")
    dovecot_server.append(user, raw, raw)  # the same message delivered twice
    first = channel_poll(channel=channel)
    assert (first.stored, first.duplicates) == (1, 1)
    # when polled again from the start (the cursor lost), nothing new is stored
    Channel.objects.filter(pk=channel.pk).update(cursor={})
    channel.refresh_from_db()
    second = channel_poll(channel=channel)
    assert (second.fetched, second.stored, second.duplicates) == (2, 0, 2)
    assert Message.objects.count() == 1 and Interaction.objects.count() == 1
    # and an untouched cursor fetches nothing at all
    assert channel_poll(channel=channel).fetched == 0


def test_replies_thread_auto_replies_never_reopen(dovecot_server, mailbox, client_olena):  # noqa: F811
    channel, user = mailbox
    dovecot_server.append(user, mail(msg_id="root@client.ua", sender="olena.koval@client.ua", subject="Поставка"))
    channel_poll(channel=channel)
    conv = Conversation.objects.get()
    Conversation.objects.filter(pk=conv.pk).update(status=ConversationStatus.CLOSED, closed_at=timezone.now())
    # an out-of-office answer in the thread: flagged, threaded, the conversation stays closed
    dovecot_server.append(user, mail(
        msg_id="oof@client.ua", sender="olena.koval@client.ua", subject="Automatic reply: Поставка",
        headers={"In-Reply-To": "<root@client.ua>", "Auto-Submitted": "auto-replied"},
    ))
    channel_poll(channel=channel)
    oof = Message.objects.get(external_id="oof@client.ua")
    conv.refresh_from_db()
    assert oof.conversation == conv and oof.is_auto_reply and oof.flags["auto_reply"].startswith("Auto-Submitted")
    assert conv.status == ConversationStatus.CLOSED
    # a real reply (References only, Outlook style subject) reopens it
    dovecot_server.append(user, mail(
        msg_id="reply@client.ua", sender="olena.koval@client.ua", subject="RE: Поставка",
        headers={"References": "<root@client.ua> <oof@client.ua>"},
    ))
    # and a message with the same subject from the same client, without headers, joins by subject
    dovecot_server.append(user, mail(msg_id="again@client.ua", sender="olena.koval@client.ua", subject="Fwd: Поставка"))
    channel_poll(channel=channel)
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.NEW and conv.closed_at is None
    assert set(conv.messages.values_list("external_id", flat=True)) == {
        "root@client.ua", "oof@client.ua", "reply@client.ua", "again@client.ua"}
    assert Message.objects.get(external_id="reply@client.ua").flags["reopened"] is True
    assert Conversation.objects.count() == 1


def test_unknown_sender_becomes_a_flagged_lead_owned_by_nobody(dovecot_server, mailbox):  # noqa: F811
    channel, user = mailbox
    dovecot_server.append(user, mail(msg_id="new@prospect.test", sender="Taras@Prospect.test",
                                     sender_name="Тарас Шевчук", subject="Ціна?"))
    channel_poll(channel=channel)
    lead = Contact.objects.get()
    assert (lead.first_name, lead.last_name, lead.lifecycle_stage, lead.source) == ("Тарас", "Шевчук", "lead", "e-mail")
    assert lead.owner is None
    assert list(lead.tags.values_list("name", flat=True)) == [NEW_LEAD_TAG]
    assert lead.points.get().normalized == "taras@prospect.test"
    message = Message.objects.get()
    assert message.flags["new_lead"] and message.interaction.contact == lead
    # the next message of the same sender matches the lead, no second contact
    dovecot_server.append(user, mail(msg_id="new2@prospect.test", sender="taras@prospect.test", subject="Ще"))
    channel_poll(channel=channel)
    assert Contact.objects.count() == 1 and Message.objects.get(external_id="new2@prospect.test").conversation.contact == lead


def test_bounces_flag_the_address_and_receipts_are_not_leads(dovecot_server, mailbox):  # noqa: F811
    channel, user = mailbox
    aol = ContactPointFactory(value="user@aol.com", normalized="user@aol.com")
    dovecot_server.append(user, sample("dsn_rfc3464_aol_mailbox_full.eml"),
                          sample("dsn_delayed_auto_generated_warning.eml"),
                          sample("mdn_rfc8098_read_receipt.eml"))
    result = channel_poll(channel=channel)
    assert result.stored == 3
    aol.refresh_from_db()
    assert aol.bounced_at is not None
    bounce = Message.objects.get(external_id="20110729080856.AAB7C3800008A@mtain-db01.r1000.mx.aol.com")
    assert bounce.is_bounce and bounce.flags["bounce"]["status"] == "5.2.2"
    assert bounce.flags["bounced_addresses"] == ["user@aol.com"]
    assert bounce.conversation.contact == aol.contact and bounce.conversation.status == ConversationStatus.CLOSED
    delayed = Message.objects.get(external_id="200801161640.m0GFZ1c3009410@mail11.ttttt.com.au")
    assert delayed.is_bounce and delayed.flags["bounce"]["temporary"] == ["fraser@oooooooo.com.au"]
    receipt = Message.objects.get(external_id="199509200019.12345@example.com")
    assert receipt.is_auto_reply and receipt.flags["unmatched"] and receipt.interaction is None
    assert Contact.objects.count() == 1  # no leads made of mailer daemons or receipts


def test_all_samples_are_stored_and_broken_mime_is_kept_as_a_failure(dovecot_server, mailbox):  # noqa: F811
    channel, user = mailbox
    names = ["cp1251_8bit_multipart_fwd_attachment.eml", "cp1251_alias_7bit_mislabelled.eml",
             "outlook_express_raw_8bit_filename.eml", "raw_8bit_cp1251_subject_no_rfc2047.eml",
             "rfc2047_utf8_b_subject_qp_cyrillic_body.eml", "bounce_nonstandard_gmail_x_failed_recipients.eml"]
    dovecot_server.append(user, *[sample(n) for n in names], BROKEN_MIME)
    result = channel_poll(channel=channel)
    assert (result.stored, result.failed) == (6, 1)
    subjects = set(Message.objects.values_list("subject", flat=True))
    assert {"Узнай как зарабатывать от 1000$ в неделю!", "Simple text. How are you? Как ты поживаешь?",
            "S19 IZM A7-342", "Tjest"} <= subjects
    fwd = Message.objects.get(subject="S19 IZM A7-342")
    assert "отдел расписания" in fwd.body
    assert list(fwd.interaction.attachments.values_list("filename", flat=True)) == ["Message01.eml"]
    failure = InboundFailure.objects.get()
    assert "Broken MIME" in failure.error and failure.raw.read() .startswith(b"Message-ID: <broken-1@client.test>")
    assert failure.source_ref.endswith(":7")
    channel.refresh_from_db()
    assert channel.cursor["uid"] == 7  # past the failure: it is stored, not lost


def test_oversized_attachment_is_refused_and_the_message_kept(dovecot_server, mailbox, client_olena, settings):  # noqa: F811
    settings.KRAMAR_MAX_ATTACHMENT_BYTES = 1000
    channel, user = mailbox
    dovecot_server.append(user, mail_with_file(
        msg_id="big@client.ua", sender="olena.koval@client.ua", subject="Прайс", filename="price.pdf",
        content_type="application/pdf", data=PDF + b"0" * 5000))
    channel_poll(channel=channel)
    message = Message.objects.get()
    refused = message.flags["refused_attachments"]
    assert [r["filename"] for r in refused] == ["price.pdf"] and "limit is 1000 bytes" in refused[0]["reason"]
    assert message.interaction.attachments.count() == 0 and message.body.strip() == "See the attachment."


def test_fax_from_the_gateway_becomes_a_fax_interaction_with_its_pdf(dovecot_server, imap_user):  # noqa: F811
    queue = QueueFactory(name="Accounting")
    channel = Channel.objects.create(kind=ChannelKind.FAX, name="Fax", address="fax@kramar.test", queue=queue,
                                     settings=dovecot_server.channel_settings(imap_user, senders=["gw@fax.test"]),
                                     secret=dovecot_server.password)
    contact = ContactFactory()
    ContactPoint.objects.create(contact=contact, kind="phone", value="044 123 45 67", normalized="+380441234567")
    dovecot_server.append(imap_user, mail_with_file(
        msg_id="fax-1@fax.test", sender="gw@fax.test", subject="Fax from +38 (044) 123-45-67, 2 pages",
        filename="fax-0001.pdf", content_type="application/pdf", data=PDF))
    channel_poll(channel=channel)
    message = Message.objects.get()
    assert message.flags["fax_number"] == "+380441234567"
    interaction = message.interaction
    assert interaction.channel == "fax" and interaction.contact == contact
    attachment = interaction.attachments.get()
    assert attachment.filename == "fax-0001.pdf" and attachment.file.read() == PDF
    assert message.conversation.queue == queue and message.conversation.kind == ChannelKind.FAX


def test_dropbox_logs_a_reps_outgoing_mail(dovecot_server, imap_user, client_olena):  # noqa: F811
    rep = UserFactory(username="rep_drop", email="rep@kramar.test")
    channel = Channel.objects.create(kind=ChannelKind.DROPBOX, name="BCC", address="log@kramar.test",
                                     settings=dovecot_server.channel_settings(imap_user),
                                     secret=dovecot_server.password)
    dovecot_server.append(imap_user, mail(
        msg_id="out-1@kramar.test", sender="rep@kramar.test", to="Olena <olena.koval@client.ua>",
        subject="Комерційна пропозиція", body="Надсилаю пропозицію."))
    channel_poll(channel=channel)
    message = Message.objects.get()
    assert message.direction == MessageDirection.OUTBOUND and message.author == rep
    assert message.conversation.contact == client_olena and message.conversation.owner == rep
    assert message.conversation.status == ConversationStatus.PENDING
    interaction = message.interaction
    assert (interaction.direction, interaction.user, interaction.contact) == ("out", rep, client_olena)


def test_wrong_password_backs_off_and_recovers(private_dovecot):  # noqa: F811
    # given a mailbox whose password is wrong
    user = private_dovecot.add_user("sales")
    private_dovecot.append(user, mail(msg_id="late@client.ua", sender="olena.koval@client.ua"))
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test",
                                     settings=private_dovecot.channel_settings(user), secret="wrong")
    # when it is polled: a clear error on the channel, a back-off, no exception
    result = channel_poll(channel=channel)
    channel.refresh_from_db()
    assert "Could not log in to 127.0.0.1 as sales" in channel.last_error
    assert result.error == channel.last_error and channel.error_count == 1
    first_delay = channel.next_attempt_at - timezone.now()
    assert dt.timedelta(seconds=50) < first_delay <= dt.timedelta(seconds=60)
    # not due now: the periodic job leaves it alone
    assert mailboxes_due_poll() == []
    # a second failure (the server unreachable meanwhile) waits longer
    Channel.objects.filter(pk=channel.pk).update(settings={**channel.settings, "port": free_port()},
                                                 next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert [r.error.startswith("Could not connect") for r in mailboxes_due_poll()] == [True]
    channel.refresh_from_db()
    assert channel.error_count == 2 and channel.next_attempt_at - timezone.now() > dt.timedelta(seconds=110)
    # the password fixed and the attempt due: read, errors cleared
    Channel.objects.filter(pk=channel.pk).update(secret=private_dovecot.password,
                                                 settings=private_dovecot.channel_settings(user),
                                                 next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    results = mailboxes_due_poll()
    channel.refresh_from_db()
    assert [(r.error, r.stored) for r in results] == [("", 1)]
    assert channel.error_count == 0 and channel.last_error == "" and Message.objects.count() == 1


def test_unreachable_server_is_an_error_on_the_channel_not_a_crash(db):
    port = free_port()
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Down", address="down@kramar.test",
                                     settings={"host": "127.0.0.1", "port": port, "security": "none"}, secret="x")
    call_command("mail_poll")
    channel.refresh_from_db()
    assert f"Could not connect to 127.0.0.1:{port}" in channel.last_error and channel.error_count == 1


def test_mail_poll_command_reads_one_channel(dovecot_server, mailbox, client_olena, capsys):  # noqa: F811
    channel, user = mailbox
    dovecot_server.append(user, mail(msg_id="cmd@client.ua", sender="olena.koval@client.ua"))
    call_command("mail_poll", channel=channel.pk)
    assert "1 stored" in capsys.readouterr().out and Message.objects.count() == 1


def test_new_conversations_are_handed_to_routing_after_commit(db, client_olena, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    from kramar.comms import routing
    from kramar.comms.models import LiveEvent

    routed = []
    monkeypatch.setattr(routing, "conversation_route_id", lambda pk: routed.append(pk))
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test")
    with django_capture_on_commit_callbacks(execute=True):
        result = email_ingest(channel=channel, raw=mail(msg_id="r@client.ua", sender="olena.koval@client.ua"))
    assert routed == [result.message.conversation_id]
    assert not LiveEvent.objects.exists()  # a routed conversation is published with its routing decision

    # routing fails: the message stays stored and the open inboxes are still told of the waiting conversation
    def broken(pk):
        raise RuntimeError("routing is down")

    monkeypatch.setattr(routing, "conversation_route_id", broken)
    with django_capture_on_commit_callbacks(execute=True):
        second = email_ingest(channel=channel, raw=mail(msg_id="r2@client.ua", sender="x@new.test", subject="other"))
    assert second.status == "stored" and ingest.Message.objects.count() == 2
    events = list(LiveEvent.objects.filter(kind="conversation.changed"))
    assert events and {e.payload["id"] for e in events} == {second.message.conversation_id}


def test_dropbox_forwarded_thread_is_logged_as_the_clients_message(dovecot_server, imap_user, client_olena):  # noqa: F811
    rep = UserFactory(username="rep_fwd", email="rep2@kramar.test")
    channel = Channel.objects.create(kind=ChannelKind.DROPBOX, name="BCC", address="log@kramar.test",
                                     settings=dovecot_server.channel_settings(imap_user),
                                     secret=dovecot_server.password)
    body = ("FYI\n\n-----Original Message-----\nFrom: Олена Коваль <olena.koval@client.ua>\n"
            "Sent: Tuesday, March 3, 2026 9:00 AM\nSubject: Замовлення\n\nПотрібно 20 ящиків.")
    dovecot_server.append(imap_user, mail(msg_id="fw-1@kramar.test", sender="rep2@kramar.test",
                                          to="log@kramar.test", subject="FW: Замовлення", body=body))
    channel_poll(channel=channel)
    message = Message.objects.get()
    assert message.direction == MessageDirection.INBOUND and message.flags["forwarded_by"] == "rep2@kramar.test"
    assert message.conversation.contact == client_olena and message.author == rep
    assert message.interaction.direction == "in" and "Потрібно 20 ящиків." in message.interaction.body


def test_uidvalidity_change_rereads_without_duplicates_and_mark_seen(dovecot_server, mailbox, client_olena):  # noqa: F811
    channel, user = mailbox
    Channel.objects.filter(pk=channel.pk).update(settings={**channel.settings, "mark_seen": True})
    channel.refresh_from_db()
    dovecot_server.append(user, mail(msg_id="v1@client.ua", sender="olena.koval@client.ua"),
                          mail(msg_id="v2@client.ua", sender="olena.koval@client.ua", subject="two"))
    assert channel_poll(channel=channel).stored == 2
    # the server says the folder is another one now (UIDVALIDITY changed): it is read again, nothing doubles
    Channel.objects.filter(pk=channel.pk).update(cursor={**channel.cursor, "uidvalidity": 1})
    channel.refresh_from_db()
    again = channel_poll(channel=channel)
    assert (again.fetched, again.stored, again.duplicates) == (2, 0, 2)
    # the messages are still in the mailbox, marked read
    imap = dovecot_server.client(user)
    try:
        imap.select_folder("INBOX")
        assert len(imap.search()) == 2 and len(imap.search(["SEEN"])) == 2
    finally:
        imap.logout()


def test_a_message_that_fails_to_store_is_kept_as_a_failure_and_nothing_half_written(db, client_olena, monkeypatch):
    from kramar.history import services as history_services

    def boom(**kwargs):
        raise RuntimeError("timeline is down")

    monkeypatch.setattr(history_services, "interaction_create_or_get", boom)
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test")
    result = email_ingest(channel=channel, raw=mail(msg_id="x@client.ua", sender="olena.koval@client.ua"),
                          source_ref="INBOX:1:5")
    assert result.status == "failed" and "timeline is down" in result.failure.error
    assert result.failure.source_ref == "INBOX:1:5" and result.failure.raw.read().startswith(b"Message-ID: <x@")
    assert Message.objects.count() == 0 and Conversation.objects.count() == 0
    # the same item failing again is one entry in the list
    assert email_ingest(channel=channel, raw=b"\x00 not mail", source_ref="INBOX:1:5").failure == result.failure
    assert InboundFailure.objects.count() == 1


def test_only_active_mail_channels_with_a_server_are_due(db):
    from kramar.comms.imap import channels_due

    due = Channel.objects.create(kind=ChannelKind.FAX, name="Fax", settings={"host": "127.0.0.1"})
    Channel.objects.create(kind=ChannelKind.EMAIL, name="No server", settings={})
    Channel.objects.create(kind=ChannelKind.EMAIL, name="Off", settings={"host": "127.0.0.1"}, active=False)
    Channel.objects.create(kind=ChannelKind.PHONE, name="Phone", settings={"host": "127.0.0.1"})
    Channel.objects.create(kind=ChannelKind.EMAIL, name="Later", settings={"host": "127.0.0.1"},
                           next_attempt_at=timezone.now() + dt.timedelta(minutes=5))
    assert list(channels_due()) == [due]


def test_periodic_task_polls_due_mailboxes(dovecot_server, mailbox, client_olena):  # noqa: F811
    from kramar.comms.tasks import poll_mailboxes_task

    channel, user = mailbox
    dovecot_server.append(user, mail(msg_id="task@client.ua", sender="olena.koval@client.ua"))
    assert poll_mailboxes_task.call_local() == 1
    assert Message.objects.get().external_id == "task@client.ua"


def test_an_unprocessed_email_is_processed_again_after_the_cause_is_gone(db, client_olena, admin_user, monkeypatch):
    from kramar.comms.ingest import inbound_failure_retry

    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test")
    raw = mail(msg_id="later@client.ua", sender="olena.koval@client.ua", subject="Рахунок", body=CP1251_TEXT,
               charset="windows-1251")

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest, "_store", broken)
    failed = email_ingest(channel=channel, raw=raw, source_ref="uid:7")
    assert failed.status == "failed" and "disk full" in failed.failure.error and not Message.objects.exists()
    monkeypatch.undo()

    result = inbound_failure_retry(actor=admin_user, failure_id=failed.failure.pk)

    assert result.status == "stored" and result.message.body.strip() == CP1251_TEXT
    failure = InboundFailure.objects.get()
    assert failure.resolved_at is not None and failure.message == result.message
    entry = AuditEntry.objects.get(entity="inboundfailure", object_id=failure.pk)
    assert entry.actor == admin_user and entry.extra["processed_again"] == "stored"
    with pytest.raises(DomainError) as exc:  # once resolved, it is done
        inbound_failure_retry(actor=admin_user, failure_id=failure.pk)
    assert exc.value.code == "failure_already_resolved"


def test_an_item_that_fails_again_stays_open_with_the_new_reason(db, admin_user, rep_a):
    from django.core.exceptions import PermissionDenied

    from kramar.comms.ingest import inbound_failure_retry

    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test")
    failure = email_ingest(channel=channel, raw=b"\x00\x01 not an e-mail at all", source_ref="uid:9").failure
    InboundFailure.objects.filter(pk=failure.pk).update(error="old reason")
    with pytest.raises(PermissionDenied):
        inbound_failure_retry(actor=rep_a, failure_id=failure.pk)

    result = inbound_failure_retry(actor=admin_user, failure_id=failure.pk)

    assert result.status == "failed" and result.failure.pk == failure.pk
    failure.refresh_from_db()
    assert failure.resolved_at is None and failure.error not in ("", "old reason")
    assert InboundFailure.objects.count() == 1 and not Message.objects.exists()
    chat = Channel.objects.create(kind=ChannelKind.CHAT, name="Chat")
    other = InboundFailure.objects.create(channel=chat, error="bad JSON")
    with pytest.raises(DomainError) as exc:
        inbound_failure_retry(actor=admin_user, failure_id=other.pk)
    assert exc.value.code == "failure_not_retryable"


def test_mail_without_a_client_threads_by_subject_and_sender_whatever_the_case(db):
    # a colleague's mail makes no lead: it threads by the sender's address (any case) and the subject
    UserFactory(username="boss", email="boss@kramar.test")
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test")
    first = email_ingest(channel=channel, raw=mail(msg_id="c1@kramar.test", sender="Boss@Kramar.test",
                                                   subject="Звіт за березень")).message
    again = email_ingest(channel=channel, raw=mail(msg_id="c2@kramar.test", sender="boss@kramar.test",
                                                   subject="RE: Звіт за березень",
                                                   date="Thu, 05 Mar 2026 10:00:00 +0200")).message
    other = email_ingest(channel=channel, raw=mail(msg_id="c3@kramar.test", sender="boss@kramar.test",
                                                   subject="Інше питання")).message
    assert first.conversation.contact is None and first.flags.get("from_user")
    assert again.conversation_id == first.conversation_id != other.conversation_id
