"""Writes of the agent inbox: replies (by e-mail through the outbox, threaded; in a chat through the chat outbox to
the channel's gateway), internal notes with @mentions,
close and reopen, canned responses, letters and visits registered by the office, and thin wrappers over the
routing engine (accept, decline, transfer) and presence that the pages and the API share.

Every change publishes `conversation.changed` (kramar.comms.routing.conversation_publish) in its transaction, so
open inboxes and supervisor pages re-fetch their lists; a rolled-back change publishes nothing.

Who may change a conversation (reply, close, reopen, transfer): the agent who has it, a supervisor of its queue,
a superuser (`selectors.conversation_can_change`). Notes: anyone who may see it."""

from __future__ import annotations

import datetime as dt
import re
from email import policy
from email.headerregistry import Address
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from kramar.comms import selectors
from kramar.comms.chat_outbox import chat_reply_enqueue, chat_reply_url
from kramar.comms.choices import AssignmentStatus, ChannelKind, ConversationStatus, MessageDirection, Presence
from kramar.comms.mail_parse import subject_normalize
from kramar.comms.models import Assignment, CannedResponse, Channel, Conversation, Message, Queue
from kramar.comms.quoting import html_to_text, quote_text
from kramar.comms.routing import conversation_owner_set, conversation_publish, user_name
from kramar.comms.routing_rules import client_language
from kramar.core.audit import audit_record
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.models import AuditEntry, Notification

# channels whose conversations can be answered by e-mail
REPLYABLE = (ChannelKind.EMAIL, ChannelKind.DROPBOX, ChannelKind.WEBFORM)
BODY_LIMIT = 100_000
CC_LIMIT = 20
RE_PREFIX = re.compile(r"^\s*re\s*:", re.I)
# @username (letters, digits, . _ + -) not preceded by a word character or @ (so e-mail addresses are skipped)
MENTION = re.compile(r"(?<![\w@.])@([\w][\w.+-]*)")
MERGE_FIELD = re.compile(r"\{\{\s*([A-Za-z_]+)\.([A-Za-z_]+)\s*\}\}")
LETTER_KINDS = ("letter", "visit")


# --------------------------------------------------------------------------------------- helpers
def _lock(conversation: Conversation) -> Conversation:
    return (Conversation.objects.select_for_update(of=("self",))
            .select_related("channel", "queue", "contact", "company").get(pk=conversation.pk))


def _require_change(actor, conv: Conversation) -> None:
    if not selectors.conversation_can_change(actor, conv):
        raise PermissionDenied(_("Only the agent who has the conversation or a supervisor may change it."))


def conversation_url(conv_id: int) -> str:
    return reverse("comms:conversation-detail", args=[conv_id])


def _timeline_actor(actor):
    """Who writes the timeline row: the actor when their role may log interactions, else the system (as
    ingestion does); the row's user is set to the actor either way."""
    from kramar.comms.ingest import system_actor
    from kramar.core import scopes

    return actor if scopes.can(actor, "interaction", "create") else system_actor()


def _timeline_write(*, actor, conv: Conversation, channel: str, direction: str, subject: str, body: str,
                    when: dt.datetime, external_id: str | None):
    """Log the item on the client's timeline (nothing when the conversation has no client)."""
    if conv.contact_id is None and conv.company_id is None:
        return None
    from kramar.history.services import interaction_create_or_get

    data = {
        "channel": channel, "direction": direction, "occurred_at": when, "subject": subject[:255],
        "body": body[:1_000_000], "external_id": external_id[:255] if external_id else None,
        "contact_id": conv.contact_id, "company_id": conv.company_id,
    }
    interaction, created = interaction_create_or_get(actor=_timeline_actor(actor), data=data,
                                                     check_client_scope=False)
    if created and interaction.user_id != actor.pk:
        type(interaction).objects.filter(pk=interaction.pk).update(user=actor)
        interaction.user = actor
    return interaction


def _bump(conv: Conversation, fields: set[str]) -> None:
    conv.version = F("version") + 1
    conv.save(update_fields=sorted({*fields, "version", "updated_at"}))
    conv.refresh_from_db(fields=["version"])


# --------------------------------------------------------------------------------------- replies
def _address_ok(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _raw_reply_to(message: Message) -> str:
    """The Reply-To of a stored inbound e-mail, read from its original bytes ("" when none)."""
    if not message.raw:
        return ""
    try:
        with message.raw.open("rb") as fh:
            headers = BytesHeaderParser().parse(fh)
    except (OSError, ValueError):
        return ""
    for _name, address in getaddresses([str(v) for v in headers.get_all("Reply-To") or []]):
        if _address_ok(address):
            return address
    return ""


def _client_address(conv: Conversation, parent: Message | None) -> str:
    """Where a reply goes: the last inbound message's Reply-To, else its From; else the contact's (or company's)
    primary e-mail that has not bounced."""
    if parent is not None:
        for address in (_raw_reply_to(parent), parent.from_address):
            if address and _address_ok(address):
                return address
    from kramar.clients.models import ContactPoint

    for field, pk in (("contact_id", conv.contact_id), ("company_id", conv.company_id)):
        if not pk:
            continue
        point = (ContactPoint.objects.filter(**{field: pk}, kind="email", bounced_at__isnull=True)
                 .order_by("-is_primary", "id").values_list("value", flat=True).first())
        if point and _address_ok(point):
            return point
    return ""


def _sender(conv: Conversation, actor) -> str:
    """The reply's From: the mailbox's address; a dropbox (a BCC address) replies from the agent's own address;
    else DEFAULT_FROM_EMAIL."""
    address = (conv.channel.address or "").strip()
    if conv.channel.kind == ChannelKind.EMAIL and _address_ok(address):
        return address
    if conv.channel.kind == ChannelKind.DROPBOX and actor.email and _address_ok(actor.email):
        return actor.email
    return settings.DEFAULT_FROM_EMAIL


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


def reply_subject(subject: str) -> str:
    """"Re: …", never doubled."""
    subject = " ".join((subject or "").split())
    return subject if RE_PREFIX.match(subject) else (f"Re: {subject}" if subject else "Re:")


def cc_clean(cc) -> list[str]:
    """The Cc addresses (a list or a comma/semicolon separated text), validated; ValidationFailed on "cc"."""
    if cc is None:
        return []
    raw = cc if isinstance(cc, list | tuple) else re.split(r"[,;\n]+", str(cc))
    addresses, bad = [], []
    for item in raw:
        item = str(item).strip()
        if not item:
            continue
        pairs = getaddresses([item])
        address = pairs[0][1] if len(pairs) == 1 else ""
        if address and _address_ok(address):
            if address.lower() not in (a.lower() for a in addresses):
                addresses.append(address)
        else:
            bad.append(item)
    if bad:
        raise ValidationFailed({"cc": [_("Not an e-mail address: %(list)s") % {"list": ", ".join(bad)}]})
    if len(addresses) > CC_LIMIT:
        raise ValidationFailed({"cc": [_("At most %(n)d addresses in Cc.") % {"n": CC_LIMIT}]})
    return addresses


def _has_text_part(message: Message) -> bool:
    """Whether the stored original of an e-mail has a text/plain body (False when it is HTML-only or there are
    no original bytes to tell)."""
    if not message.raw:
        return False
    try:
        with message.raw.open("rb") as fh:
            original = BytesParser(policy=policy.default).parse(fh)
        return original.get_body(preferencelist=("plain",)) is not None
    except Exception:  # noqa: BLE001  (an unreadable original: fall back to its HTML)
        return False


def reply_language(conv: Conversation, actor) -> str:
    """The language of what Kramar adds to a reply: the conversation's, else the agent's, else the site's."""
    for code in (conv.language, getattr(actor, "language", "")):
        try:
            if code:
                return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


def reply_quote(*, parent: Message, conv: Conversation, actor) -> str:
    """What a reply adds below the agent's text: "On <date>, <sender> wrote:" (in `reply_language`, the date in the
    local time zone) and the original's plain text quoted ("> "; an HTML-only original converted to text; long
    ones cut, kramar.comms.quoting). "" when the original has no text."""
    text = parent.body or ""
    if parent.body_html and not _has_text_part(parent):
        text = html_to_text(parent.body_html) or text  # the stored body of an HTML-only e-mail is a flattening
    quoted = quote_text(text)
    if not quoted:
        return ""
    name, address = parent.from_name.strip(), parent.from_address.strip()
    sender = f"{name} <{address}>" if name and address else name or address
    with translation.override(reply_language(conv, actor)):
        sender = sender or str(conv.contact or conv.company or _("Client"))
        when = formats.date_format(timezone.localtime(parent.sent_at), "DATETIME_FORMAT")
        head = _("On %(date)s, %(sender)s wrote:") % {"date": when, "sender": sender}
    return f"{head}\n{quoted}"


def _accept_by_replying(actor, conv: Conversation, now: dt.datetime) -> None:
    """A new conversation offered to the actor is accepted by their reply; one nobody has is taken by the
    supervisor who answers it."""
    from kramar.comms.routing import assignment_accept

    if conv.status != ConversationStatus.NEW:
        return
    if conv.owner_id == actor.pk:
        offer = selectors.offer_for(actor=actor, conversation=conv)
        if offer is None:
            raise DomainError("offer_closed", _("This offer is no longer open to you."))
        assignment_accept(actor=actor, assignment=offer, now=now)
        conv.status = ConversationStatus.OPEN
        return
    previous = conv.owner_id
    Assignment.objects.filter(conversation=conv, status=AssignmentStatus.OFFERED).update(
        status=AssignmentStatus.TRANSFERRED)
    Assignment.objects.create(conversation=conv, queue=conv.queue, user=actor, status=AssignmentStatus.ACCEPTED,
                              decided_by=actor, accepted_at=now,
                              reason=_("answered by %(name)s") % {"name": user_name(actor)})
    fields = conversation_owner_set(conv, actor.pk)
    conv.status = ConversationStatus.OPEN
    conv.save(update_fields=sorted({*fields, "status", "updated_at"}))
    if previous:
        conversation_publish(conv, users=(previous,))


def conversation_reply_path(conversation: Conversation) -> str:
    """How the conversation can be answered from Kramar: "email" (mailboxes, BCC addresses, web forms), "chat" (a
    chat channel with a reply URL) or "" (phone, fax, letters, a chat channel without a reply URL)."""
    channel = conversation.channel
    if channel.kind in REPLYABLE:
        return "email"
    if channel.kind == ChannelKind.CHAT and chat_reply_url(channel):
        return "chat"
    return ""


def _reply_target(actor, conversation: Conversation) -> Conversation:
    """The conversation locked for a reply, after the checks every reply makes: the actor may change it and it is
    not closed."""
    conv = _lock(conversation)
    _require_change(actor, conv)
    if conv.status == ConversationStatus.CLOSED:
        raise DomainError("closed", _("The conversation is closed. Reopen it to reply."))
    return conv


def _reply_recorded(*, actor, conv: Conversation, message: Message, now: dt.datetime, message_id: str) -> None:
    """What every reply does once its Message is stored: the first response (SLA) is recorded, the conversation
    waits for the client (pending); audited and published."""
    from kramar.comms.sla import conversation_first_response

    first = conversation_first_response(conv, now)
    old = conv.status
    conv.status, conv.last_message_at = ConversationStatus.PENDING, max(conv.last_message_at, now)
    _bump(conv, {"status", "last_message_at"})
    audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=conv,
                 changes={"status": [old, conv.status]} if old != conv.status else {},
                 extra={"reply": message.pk, "message_id": message_id, "first_response": first})
    conversation_publish(conv)


def conversation_reply(*, actor, conversation: Conversation, body: str, cc: list[str] | None = None) -> Message:
    """Answer the client on the conversation's channel: by e-mail (`_email_reply`) or, in a chat, through the
    channel's gateway (`_chat_reply`). Either way the reply is stored as an outbound Message and logged on the
    client's timeline at once and delivered after the commit by an outbox (retried, never dropped); the first
    reply records the first response; an offer to the actor is accepted by it (one nobody has is taken by the
    supervisor who answers); the conversation then waits for the client (pending). Refused: an empty or too long
    text, a closed conversation, a channel with no way back (`no_reply_path`)."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed({"body": [_("Write the reply.")]})
    if len(body) > BODY_LIMIT:
        raise ValidationFailed({"body": [_("At most %(n)d characters.") % {"n": BODY_LIMIT}]})
    if conversation.channel.kind == ChannelKind.CHAT:
        return _chat_reply(actor=actor, conversation=conversation, body=body, cc=cc)
    return _email_reply(actor=actor, conversation=conversation, body=body, cc=cc)


def _email_reply(*, actor, conversation: Conversation, body: str, cc: list[str] | None) -> Message:
    """Answer the client by e-mail: queued in the outbox from the channel's address to the client's (the last
    inbound message's Reply-To/From), threaded (a fresh Message-ID, In-Reply-To and References of the last inbound
    message, "Re: …"), stored as an outbound Message that a later client reply threads into, logged on the
    client's timeline.

    The e-mail quotes the message it answers below the agent's text (`reply_quote`). The quote is only in the sent
    bytes (the outbox row): the stored Message and the timeline keep what the agent wrote, since the original is
    already in the thread."""
    cc_list = cc_clean(cc)
    from kramar.core.outbox import email_enqueue

    now = timezone.now()
    with transaction.atomic():
        conv = _reply_target(actor, conversation)
        if conv.channel.kind not in REPLYABLE:
            raise DomainError("no_reply_path", _("Conversations of the channel %(channel)s cannot be answered by "
                                                 "e-mail.") % {"channel": conv.channel.get_kind_display()})
        parent = selectors.last_inbound(conv)
        to = _client_address(conv, parent)
        if not to:
            raise DomainError("no_reply_path", _("There is no e-mail address to reply to in this conversation."))
        _accept_by_replying(actor, conv, now)

        sender = _sender(conv, actor)
        domain = sender.rsplit("@", 1)[-1] if "@" in sender else "kramar.invalid"
        message_id = _bare(make_msgid(domain=domain))
        thread_parent = parent or (Message.objects.filter(conversation=conv, external_id__isnull=False)
                                   .exclude(direction=MessageDirection.NOTE).order_by("-sent_at", "-id").first())
        in_reply_to = _bare(thread_parent.external_id) if thread_parent and thread_parent.external_id else ""
        references = [*(thread_parent.references.split() if thread_parent else []), in_reply_to]
        references = [r for i, r in enumerate(references) if r and r not in references[:i]]
        subject = reply_subject(parent.subject if parent and parent.subject else conv.subject)
        headers = {"Message-ID": f"<{message_id}>"}
        if in_reply_to:
            headers["In-Reply-To"] = f"<{in_reply_to}>"
            headers["References"] = " ".join(f"<{r}>" for r in references)
        from_header = str(Address(display_name=user_name(actor), addr_spec=sender)) if "@" in sender else sender
        quote = reply_quote(parent=parent, conv=conv, actor=actor) if parent is not None else ""
        email = EmailMessage(subject=subject, body=f"{body}\n\n{quote}\n" if quote else body, from_email=from_header,
                             to=[to], cc=cc_list, headers=headers)
        outgoing = email_enqueue(email, kind="conversation_reply", ref=conv)
        interaction = _timeline_write(actor=actor, conv=conv, channel="email", direction="out", subject=subject,
                                      body=body, when=now, external_id=message_id)
        message = Message.objects.create(
            conversation=conv, channel=conv.channel, direction=MessageDirection.OUTBOUND, external_id=message_id,
            in_reply_to=in_reply_to, references=" ".join(references), from_address=sender,
            from_name=user_name(actor)[:255], to=[to], cc=cc_list, subject=subject[:255], body=body, sent_at=now,
            author=actor, interaction=interaction, outgoing=outgoing,
        )
        _reply_recorded(actor=actor, conv=conv, message=message, now=now, message_id=message_id)
    return message


def _chat_reply(*, actor, conversation: Conversation, body: str, cc: list[str] | None) -> Message:
    """Answer the client in the chat: the reply goes to the chat channel's gateway (`settings["reply_url"]`)
    through the chat outbox (kramar.comms.chat_outbox: a signed JSON POST naming the chat, the client's message
    it answers and Kramar's id of the reply), stored as an outbound Message (external id
    ``<chat_id>:<message id>``, as the chat's inbound messages) and logged on the client's timeline as an outbound
    chat message. A chat has no Cc."""
    if cc_clean(cc):
        raise ValidationFailed({"cc": [_("A chat reply has no Cc.")]})
    now = timezone.now()
    with transaction.atomic():
        conv = _reply_target(actor, conversation)
        if not chat_reply_url(conv.channel):
            raise DomainError("no_reply_path", _("The chat channel %(channel)s has no reply URL, so the client cannot "
                                                 "be answered from Kramar. An administrator can set one in the "
                                                 "channel's settings (reply_url).") % {"channel": conv.channel.name})
        if not conv.channel.secret:
            raise DomainError("no_reply_path", _("The chat channel %(channel)s has no secret to sign replies "
                                                 "with.") % {"channel": conv.channel.name})
        chat_id = conv.thread_key.removeprefix("chat:") if conv.thread_key.startswith("chat:") else ""
        if not chat_id:
            raise DomainError("no_reply_path", _("There is no chat to reply to in this conversation."))
        parent = selectors.last_inbound(conv)  # the client's last message: the one the reply answers
        chat = (parent.flags or {}).get("chat") if parent is not None else None
        reply_to = (str(chat.get("message_id") or "") or None) if isinstance(chat, dict) else None
        _accept_by_replying(actor, conv, now)

        outgoing = chat_reply_enqueue(channel=conv.channel, conversation=conv, chat_id=chat_id, reply_to=reply_to,
                                      text=body, agent_name=user_name(actor), at=now)
        external_id = f"{chat_id}:{outgoing.message_id}"
        subject = body.split("\n", 1)[0].strip()[:80] or conv.subject
        interaction = _timeline_write(actor=actor, conv=conv, channel="chat", direction="out", subject=subject,
                                      body=body, when=now, external_id=f"{conv.channel_id}:{external_id}")
        message = Message.objects.create(
            conversation=conv, channel=conv.channel, direction=MessageDirection.OUTBOUND, external_id=external_id,
            in_reply_to=parent.external_id if parent is not None and parent.external_id else "",
            from_address=conv.channel.address[:320], from_name=user_name(actor)[:255],
            to=[parent.from_address] if parent is not None and parent.from_address else [], subject=subject[:255],
            body=body, sent_at=now, author=actor, interaction=interaction, chat_outgoing=outgoing,
            flags={"chat": {"chat_id": chat_id, "message_id": outgoing.message_id, "reply_to": reply_to}},
        )
        _reply_recorded(actor=actor, conv=conv, message=message, now=now, message_id=outgoing.message_id)
    return message


# --------------------------------------------------------------------------------------- notes
def mentioned_users(body: str):
    """The users an internal note mentions: `@username` (case-insensitive), else `@FirstName` when exactly one
    active user has that first name. Returns a list of users, in order, without repeats."""
    from kramar.accounts.models import User

    found, seen = [], set()
    for word in MENTION.findall(body or ""):
        word = word.rstrip(".-+")
        if not word:
            continue
        user = User.objects.filter(username__iexact=word, is_active=True).first()
        if user is None:
            named = list(User.objects.filter(first_name__iexact=word, is_active=True)[:2])
            user = named[0] if len(named) == 1 else None
        if user is not None and user.pk not in seen:
            seen.add(user.pk)
            found.append(user)
    return found


def conversation_note(*, actor, conversation: Conversation, body: str) -> Message:
    """An internal note (never sent). Each user it @mentions who may see the conversation (not the author) gets a
    notification and a live `mention` event."""
    from kramar.comms.live import live_publish, user_topic

    body = (body or "").strip()
    if not body:
        raise ValidationFailed({"body": [_("Write the note.")]})
    if len(body) > BODY_LIMIT:
        raise ValidationFailed({"body": [_("At most %(n)d characters.") % {"n": BODY_LIMIT}]})
    if not selectors.conversations_visible(actor).filter(pk=conversation.pk).exists():
        raise PermissionDenied(_("You may not see this conversation."))
    now = timezone.now()
    with transaction.atomic():
        conv = _lock(conversation)
        mentioned = [u for u in mentioned_users(body) if u.pk != actor.pk
                     and selectors.conversations_visible(u).filter(pk=conv.pk).exists()]
        message = Message.objects.create(
            conversation=conv, channel=conv.channel, direction=MessageDirection.NOTE, body=body, sent_at=now,
            author=actor, from_name=user_name(actor)[:255], subject=conv.subject[:255],
            flags={"mentions": [u.pk for u in mentioned]} if mentioned else {},
        )
        url = conversation_url(conv.pk)
        text = _("%(name)s mentioned you in “%(subject)s”") % {"name": user_name(actor), "subject": conv}
        Notification.objects.bulk_create([Notification(user=u, kind="mention", text=text[:500], url=url)
                                          for u in mentioned])
        for user in mentioned:
            live_publish([user_topic(user)], "mention",
                         {"conversation": conv.pk, "message": message.pk, "by": actor.pk, "text": text[:500]})
        Conversation.objects.filter(pk=conv.pk).update(updated_at=now)
        conversation_publish(conv)
    return message


# --------------------------------------------------------------------------------------- close / reopen
def conversation_close(*, actor, conversation: Conversation) -> Conversation:
    """Close: status closed, closed_at now; open offers end. Audited and published."""
    now = timezone.now()
    with transaction.atomic():
        conv = _lock(conversation)
        _require_change(actor, conv)
        if conv.status == ConversationStatus.CLOSED:
            raise DomainError("closed", _("The conversation is already closed."))
        old = conv.status
        conv.status, conv.closed_at = ConversationStatus.CLOSED, now
        Assignment.objects.filter(conversation=conv, status=AssignmentStatus.OFFERED).update(
            status=AssignmentStatus.TRANSFERRED)
        _bump(conv, {"status", "closed_at"})
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=conv,
                     changes={"status": [old, conv.status], "closed_at": [None, now]})
        conversation_publish(conv)
    return conv


def conversation_reopen(*, actor, conversation: Conversation) -> Conversation:
    """Reopen a closed conversation: open again, the agent who had it keeps it (nobody had it: the actor takes
    it). Audited and published."""
    with transaction.atomic():
        conv = _lock(conversation)
        _require_change(actor, conv)
        if conv.status != ConversationStatus.CLOSED:
            raise DomainError("not_closed", _("The conversation is not closed."))
        changes = {"status": [conv.status, ConversationStatus.OPEN], "closed_at": [conv.closed_at, None]}
        conv.status, conv.closed_at = ConversationStatus.OPEN, None
        fields = {"status", "closed_at"}
        if conv.owner_id is None:
            fields |= conversation_owner_set(conv, actor.pk)
            changes["owner"] = [None, actor.pk]
        _bump(conv, fields)
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=conv, changes=changes)
        conversation_publish(conv)
    return conv


# --------------------------------------------------------------------------------------- offers and transfers
def conversation_accept(*, actor, conversation: Conversation) -> Assignment:
    """Accept the open offer of this conversation to the actor (routing.assignment_accept)."""
    from kramar.comms.routing import assignment_accept

    offer = selectors.offer_for(actor=actor, conversation=conversation)
    if offer is None:
        raise DomainError("offer_closed", _("This offer is no longer open to you."))
    return assignment_accept(actor=actor, assignment=offer)


def conversation_decline(*, actor, conversation: Conversation) -> Assignment:
    """Decline the open offer: it goes to the next agent (routing.assignment_decline)."""
    from kramar.comms.routing import assignment_decline

    offer = selectors.offer_for(actor=actor, conversation=conversation)
    if offer is None:
        raise DomainError("offer_closed", _("This offer is no longer open to you."))
    return assignment_decline(actor=actor, assignment=offer)


def conversation_hand_over(*, actor, conversation: Conversation, to_user=None, to_queue: Queue | None = None
                           ) -> Assignment:
    """Transfer to an agent or a queue (routing.conversation_transfer), audited."""
    from kramar.comms.routing import conversation_transfer

    before = (conversation.owner_id, conversation.queue_id)
    assignment = conversation_transfer(by=actor, conversation=conversation, to_user=to_user, to_queue=to_queue)
    conv = assignment.conversation
    audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=conv,
                 changes={k: [b, a] for k, b, a in (("owner", before[0], conv.owner_id),
                                                     ("queue", before[1], conv.queue_id)) if a != b},
                 extra={"transfer": assignment.pk, "reason": assignment.reason})
    return assignment


def agent_presence_set(*, actor, presence: str):
    """The agent sets their own presence; supervisors' pages are told (`presence.changed`)."""
    from kramar.comms.live import SUPERVISORS, live_publish
    from kramar.comms.presence import presence_set

    if presence not in Presence.values:
        raise ValidationFailed({"presence": [_("Choose online, away or offline.")]})
    profile = presence_set(user=actor, presence=presence)
    live_publish([SUPERVISORS], "presence.changed", {"user": actor.pk, "presence": presence})
    return profile


# --------------------------------------------------------------------------------------- canned responses
def _merge_values(*, conversation: Conversation, agent) -> dict[tuple[str, str], str]:
    contact, company = conversation.contact, conversation.company
    if company is None and contact is not None:
        company = contact.primary_company
    contact_full = ""
    if contact is not None:
        contact_full = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    return {
        ("contact", "first_name"): contact.first_name if contact else "",
        ("contact", "last_name"): contact.last_name if contact else "",
        ("contact", "full_name"): contact_full,
        ("company", "name"): company.name if company else "",
        ("agent", "name"): user_name(agent) if agent else "",
        ("agent", "first_name"): (agent.first_name or agent.username) if agent else "",
        ("conversation", "subject"): conversation.subject or "",
        ("conversation", "id"): str(conversation.pk or ""),
    }


def canned_fields_unknown(text: str) -> list[str]:
    """The merge fields in `text` that canned_render does not know (for the admin to show)."""
    known = {f"{a}.{b}" for a, b in _merge_values(conversation=Conversation(), agent=None)}
    return sorted({f"{a}.{b}" for a, b in MERGE_FIELD.findall(text or "") if f"{a}.{b}" not in known})


def canned_render(*, canned: CannedResponse, conversation: Conversation, agent) -> str:
    """The canned response's text with its merge fields filled: {{ contact.first_name }}, {{ contact.last_name }},
    {{ contact.full_name }}, {{ company.name }}, {{ agent.name }}, {{ agent.first_name }},
    {{ conversation.subject }}, {{ conversation.id }}. A plain regular-expression substitution (the text is never
    run as a template); an unknown field or a value the conversation lacks becomes empty."""
    values = _merge_values(conversation=conversation, agent=agent)
    return MERGE_FIELD.sub(lambda m: values.get((m.group(1), m.group(2)), ""), canned.body or "")


# --------------------------------------------------------------------------------------- letters and visits
def _letter_conversation(*, channel: Channel, contact, company, subject: str, when: dt.datetime):
    """An unclosed conversation of the channel with the same client and the same subject, to continue."""
    candidates = Conversation.objects.filter(channel=channel).exclude(status=ConversationStatus.CLOSED)
    candidates = candidates.filter(contact=contact) if contact is not None else candidates.filter(company=company)
    key = subject_normalize(subject)
    for conv in candidates.order_by("-last_message_at")[:20]:
        if subject_normalize(conv.subject) == key:
            return conv
    return None


def letter_register(*, actor, channel: Channel, kind: str, subject: str, body: str = "", contact=None,
                    company=None, upload: UploadedFile | None = None, received_at: dt.datetime | None = None
                    ) -> Message:
    """The office registers a paper letter or a walk-in visit (`kind` "letter" | "visit"), with an optional
    scanned attachment: an inbound Message in a conversation of the letters channel (continued when an unclosed
    one with the same client and subject exists, else new and routed like any inbound item), logged on the
    client's timeline (a letter as a letter, a visit as a meeting) with the file attached to it."""
    from kramar.comms.ingest import _route_hook
    from kramar.core import scopes
    from kramar.history.services import attachment_add

    if not (actor.is_superuser or scopes.can(actor, "conversation", "create")):
        raise PermissionDenied(_("You may not register letters and visits."))
    errors: dict[str, list[str]] = {}
    if channel is None or channel.kind != ChannelKind.LETTER or not channel.active:
        errors["channel"] = [_("Choose an active channel for letters and visits.")]
    if kind not in LETTER_KINDS:
        errors["kind"] = [_("Choose a letter or a visit.")]
    subject = " ".join((subject or "").split())[:255]
    if not subject:
        errors["subject"] = [_("Give the letter or the visit a subject.")]
    if contact is None and company is None:
        errors["contact"] = [_("Choose the contact or the company it came from.")]
    if errors:
        raise ValidationFailed(errors)
    if company is None and contact is not None:
        company = contact.primary_company
    now = timezone.now()
    when = received_at or now
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    routed = False
    with transaction.atomic():
        conv = _letter_conversation(channel=channel, contact=contact, company=company, subject=subject, when=when)
        if conv is None:
            conv = Conversation.objects.create(
                channel=channel, kind=channel.kind, subject=subject, status=ConversationStatus.NEW,
                contact=contact, company=company, queue=channel.queue, opened_at=now, last_message_at=when,
                last_inbound_at=when, language=client_language(contact),
            )
            audit_record(actor=actor, action=AuditEntry.Action.CREATE, obj=conv,
                         changes={"status": [None, conv.status], "channel": [None, channel.name]},
                         extra={"registered": kind})
            routed = True
        else:
            conv = Conversation.objects.select_for_update(of=("self",)).get(pk=conv.pk)
            conv.last_message_at = max(conv.last_message_at, when)
            conv.last_inbound_at = max(conv.last_inbound_at or when, when)
            fields = {"last_message_at", "last_inbound_at"}
            if conv.status == ConversationStatus.PENDING:
                conv.status = ConversationStatus.OPEN
                fields.add("status")
            conv.save(update_fields=[*sorted(fields), "updated_at"])
        interaction = _timeline_write(actor=actor, conv=conv, channel="letter" if kind == "letter" else "meeting",
                                      direction="in", subject=subject, body=body or "", when=when, external_id=None)
        if upload is not None and interaction is not None:
            from kramar.comms.ingest import system_actor

            attachment_add(actor=system_actor(), interaction=interaction, upload=upload)
        sender = contact or company
        message = Message.objects.create(
            conversation=conv, channel=channel, direction=MessageDirection.INBOUND, subject=subject,
            body=body or "", sent_at=when, author=actor, interaction=interaction,
            from_name=str(sender)[:255] if sender else "",
            flags={"kind": kind, "registered_by": actor.pk,
                   **({"attachment": upload.name} if upload is not None else {})},
        )
        conversation_publish(conv)
        if routed:
            transaction.on_commit(lambda pk=conv.pk: _route_hook(pk))
    return message
