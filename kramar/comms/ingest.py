"""Inbound e-mail, end to end: one message's bytes in, a Message in a Conversation and an Interaction on the
client's timeline out (or, when it cannot be parsed, an InboundFailure with the reason; never nothing).

`email_ingest(channel=…, raw=…, source_ref=…)` serves the three mail channel kinds:

* `email` (a mailbox): an inbound message from a client. The sender is matched to a contact (or a company) by
  the normalized address of a ContactPoint; an unknown sender becomes a new lead contact (lifecycle stage lead,
  source "e-mail", tag `NEW_LEAD_TAG`, owned by nobody: the conversation's queue decides who handles it).
* `dropbox` (a BCC / forward address): a rep's own outgoing mail, logged as outbound correspondence. The client
  is the first To/Cc address that is neither the dropbox nor a Kramar user (for a forwarded thread: the sender
  of the forwarded message); the rep (a user with the From address) is the author and owns the conversation,
  which waits for the client (`pending`) and is not routed.
* `fax` (a fax-to-e-mail gateway): the fax is logged as a fax interaction with its PDF/TIFF kept as the
  interaction's attachment; the client is matched by the first phone number found in the subject or text.

Idempotent per (channel, Message-ID); a message without a Message-ID gets a stable digest id
(`mail_parse.digest_id`). Threading: In-Reply-To/References (and a bounce's original Message-ID) against the
messages and thread keys of the channel's conversations, else the same normalized subject from the same client
within `settings["thread_days"]` (default 14) days, else a new conversation with thread_key = the root
Message-ID. Automatic messages (auto-replies, bounces, read receipts) are flagged, never reopen a closed
conversation, do not count as the client's reply, and never create a lead; a permanent bounce sets
`ContactPoint.bounced_at` of the bounced address. Attachments over settings.KRAMAR_MAX_ATTACHMENT_BYTES are
refused, and the message is kept with the reason in `Message.flags["refused_attachments"]`.

Routing hook: after the transaction commits, a new conversation (or a closed one reopened by the client's reply)
is handed to `kramar.comms.routing.conversation_route_id`, which tells the open inboxes (live events) of its
decision; a new conversation is therefore not published by the store itself. A routing error is logged, does not
undo the stored message, and publishes the waiting conversation (the routing engine's periodic pass picks up
conversations still waiting).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.accounts.models import User
from kramar.accounts.selectors import user_primary_team_id
from kramar.clients.models import Company, Contact, ContactPoint
from kramar.comms.choices import ChannelKind, ConversationStatus, MessageDirection
from kramar.comms.mail_parse import MailParseError, ParsedEmail, parse_email, subject_normalize
from kramar.comms.models import Channel, Conversation, InboundFailure, Message
from kramar.comms.routing_rules import client_language
from kramar.core.audit import audit_record
from kramar.core.context import audit_context
from kramar.core.identifiers import email_normalize, phone_normalize
from kramar.core.models import AuditEntry

logger = logging.getLogger(__name__)

NEW_LEAD_TAG = "new from e-mail"
LEAD_SOURCE = "e-mail"
MAIL_KINDS = (ChannelKind.EMAIL, ChannelKind.DROPBOX, ChannelKind.FAX)
# "From: Name <address>" of an inline forward (Outlook, Thunderbird, Gmail; Ukrainian and Russian clients)
FORWARDED_FROM = re.compile(r"^\s*\**(?:From|От|Від|Von)\**:.*?<?([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)>?", re.M)
PHONE_RE = re.compile(r"\+?\d[\d\s\-().]{6,18}\d")


@dataclass
class IngestResult:
    status: str  # "stored", "duplicate" or "failed"
    message: Message | None = None
    failure: InboundFailure | None = None


def system_actor() -> User:
    """The actor of writes made by ingestion: an unsaved superuser (audit rows show no person, source "system")."""
    return User(username="kramar-ingestion", is_superuser=True, is_active=True)


# ----------------------------------------------------------------------------------------- clients
def _alive(contact: Contact | None) -> Contact | None:
    seen = 0
    while contact is not None and contact.merged_into_id and seen < 10:
        contact, seen = contact.merged_into, seen + 1
    return contact


def client_by_email(address: str) -> tuple[Contact | None, Company | None]:
    """The contact (else the company) that has this e-mail address, by the normalized match key."""
    try:
        normalized = email_normalize(address)
    except ValueError:
        return None, None
    return _client_by_point("email", normalized)


def _client_by_point(kind: str, normalized: str) -> tuple[Contact | None, Company | None]:
    """The first contact with this point (primary points first; a merged contact's survivor), else the first
    company. Reads ids first (one narrow query; most unknown senders stop here), then the one record."""
    rows = list(ContactPoint.objects.filter(kind=kind, normalized=normalized).order_by("-is_primary", "id")
                .values_list("contact_id", "company_id")[:20])
    for contact_id in dict.fromkeys(c for c, _company in rows if c):
        contact = _alive(Contact.objects.select_related("primary_company").filter(pk=contact_id).first())
        if contact is not None:
            return contact, contact.primary_company
    company_id = next((c for _contact, c in rows if c), None)
    return None, Company.objects.filter(pk=company_id).first() if company_id else None


def _client_by_phone_in(text: str) -> tuple[Contact | None, Company | None, str]:
    for candidate in PHONE_RE.findall(text or ""):
        try:
            normalized, _ext = phone_normalize(candidate)
        except ValueError:
            continue
        contact, company = _client_by_point("phone", normalized)
        return contact, company, normalized
    return None, None, ""


def lead_create(*, address: str = "", name: str = "", phone: str = "", owner: User | None = None) -> Contact:
    """A new lead contact for an unknown sender, flagged with NEW_LEAD_TAG, through the clients' service."""
    from kramar.clients.services import contact_create

    words = name.replace('"', "").split()
    data = {
        "first_name": words[0][:128] if words else "",
        "last_name": " ".join(words[1:])[:128],
        "lifecycle_stage": "lead",
        "source": LEAD_SOURCE,
        "tags": [NEW_LEAD_TAG],
        "owner_id": owner.pk if owner else None,
    }
    if address:
        data["emails"] = [address]
    if phone:
        data["phones"] = [phone]
    return contact_create(actor=system_actor(), data=data, allow_duplicates=True)


# ----------------------------------------------------------------------------------------- threading
def conversation_find(*, channel: Channel, parsed: ParsedEmail, contact: Contact | None, counterparty: str,
                      when: dt.datetime) -> Conversation | None:
    """The conversation this message belongs to: by message ids, then by subject and client within the
    channel's window before `when` (the message's date)."""
    ids = [i[:512] for i in parsed.thread_ids]
    if parsed.bounce and parsed.bounce.original_message_id:
        ids.append(parsed.bounce.original_message_id[:512])
    if ids:
        found = dict(
            Message.objects.filter(channel=channel, external_id__in=ids).values_list("external_id", "conversation_id")
        )
        for ext in ids:
            if ext in found:
                return Conversation.objects.get(pk=found[ext])
        conv = Conversation.objects.filter(channel=channel, thread_key__in=[i[:255] for i in ids]).first()
        if conv is not None:
            return conv
    key = subject_normalize(parsed.subject)
    if not key or (contact is None and not counterparty):
        return None
    days = int((channel.settings or {}).get("thread_days", 14))
    candidates = Conversation.objects.filter(channel=channel,
                                             last_message_at__gte=when - dt.timedelta(days=days))
    if contact is not None:
        candidates = candidates.filter(contact=contact)
    else:
        sender = (Message.objects.annotate(sender=Lower("from_address"))  # the comms_msg_sender_idx index
                  .filter(sender=counterparty.lower(), channel=channel).values("conversation_id"))
        candidates = candidates.filter(pk__in=sender)
    for pk, subject in candidates.order_by("-last_message_at").values_list("pk", "subject")[:20]:
        if subject_normalize(subject) == key:  # the subjects only: a busy client has many conversations
            return Conversation.objects.get(pk=pk)
    return None


def conversation_client_replied(conv: Conversation, *, channel: Channel, at: dt.datetime, external_id: str,
                                flags: dict, routed: list[int]) -> set[str]:
    """The client wrote again in an existing (locked) conversation: its last inbound time moves; a closed one
    reopens as new in its queue (flagged, audited, and routed after the commit: its id goes to `routed`); one
    waiting for the client is open again. Returns the fields to save."""
    conv.last_inbound_at = max(conv.last_inbound_at or at, at)
    fields = {"last_inbound_at"}
    if conv.status == ConversationStatus.CLOSED:
        conv.status, conv.closed_at = ConversationStatus.NEW, None
        conv.queue = conv.queue or channel.queue
        fields |= {"status", "closed_at", "queue"}
        flags["reopened"] = True
        routed.append(conv.pk)
        audit_record(actor=None, action=AuditEntry.Action.UPDATE, obj=conv,
                     changes={"status": [ConversationStatus.CLOSED, ConversationStatus.NEW]},
                     extra={"message_id": external_id, "reason": "reply"})
    elif conv.status == ConversationStatus.PENDING:
        conv.status = ConversationStatus.OPEN
        fields.add("status")
    return fields


def _route_hook(conversation_id: int) -> None:
    """Hand the conversation to the routing engine (after the commit of the message that made it new). The
    stored message does not depend on it: when routing fails, the inboxes are told of the waiting conversation
    and the routing engine's periodic pass routes it later."""
    from kramar.comms.routing import conversation_publish, conversation_route_id

    try:
        conversation_route_id(conversation_id)
    except Exception:  # the message is stored; routing can be retried
        logger.exception("routing conversation %s failed", conversation_id)
        conversation = Conversation.objects.filter(pk=conversation_id).first()
        if conversation is not None:
            with transaction.atomic():
                conversation_publish(conversation)


# ----------------------------------------------------------------------------------------- ingestion
def _failure(channel: Channel, raw: bytes, source_ref: str, reason: str,
             again: InboundFailure | None = None) -> InboundFailure:
    """The unprocessed item for this original: `again` (a retried one, its reason updated), an open one of the
    same source, else a new one with the raw bytes kept."""
    if again is not None:
        if again.error != reason:
            again.error = reason
            again.save(update_fields=["error"])
        return again
    existing = InboundFailure.objects.filter(channel=channel, source_ref=source_ref, resolved_at__isnull=True).first() \
        if source_ref else None
    if existing is not None:
        return existing
    failure = InboundFailure(channel=channel, source_ref=source_ref[:255], error=reason)
    failure.raw.save(f"failed-{timezone.now():%Y%m%d%H%M%S%f}.eml", ContentFile(raw), save=False)
    failure.save()
    return failure


def email_ingest(*, channel: Channel, raw: bytes, source_ref: str = "",
                 retry_of: InboundFailure | None = None) -> IngestResult:
    """Store one e-mail of a mail channel (see the module docstring). Never raises for a bad message: what
    cannot be stored as a Message is stored as an InboundFailure with the reason (`retry_of`: the item being
    processed again, which keeps the new reason instead)."""
    try:
        parsed = parse_email(raw)
    except MailParseError as exc:
        return IngestResult("failed", failure=_failure(channel, raw, source_ref, str(exc), retry_of))
    external_id = parsed.message_id[:512]
    existing = Message.objects.filter(channel=channel, external_id=external_id).first()
    if existing is not None:
        return IngestResult("duplicate", message=existing)
    routed: list[int] = []
    try:
        with audit_context(source="system"), transaction.atomic():
            message = _store(channel=channel, raw=raw, parsed=parsed, external_id=external_id, routed=routed)
    except IntegrityError:
        existing = Message.objects.filter(channel=channel, external_id=external_id).first()
        if existing is not None:  # a concurrent poll stored it first
            return IngestResult("duplicate", message=existing)
        logger.exception("storing a message of channel %s failed", channel.pk)
        return IngestResult("failed", failure=_failure(channel, raw, source_ref, _("Could not store the message."), retry_of))
    except Exception as exc:
        logger.exception("storing a message of channel %s failed", channel.pk)
        reason = _("Could not store the message: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"[:500]}
        return IngestResult("failed", failure=_failure(channel, raw, source_ref, reason, retry_of))
    for conversation_id in routed:
        transaction.on_commit(lambda pk=conversation_id: _route_hook(pk))
    return IngestResult("stored", message=message)


def inbound_failure_retry(*, actor: User, failure_id: int) -> IngestResult:
    """Process an unprocessed e-mail's original again (after Kramar was fixed, or when the cause was passing).
    Stored — or found stored already — resolves the item with its message; failing again keeps it open with
    the new reason. For administrators who may change unprocessed items (403 otherwise, 404 for an unknown
    id); a resolved item, one that is not an e-mail, or one whose original is gone: 409."""
    from kramar.comms.config_selectors import inbound_failure_get
    from kramar.comms.config_services import CommsConflict

    failure = inbound_failure_get(actor=actor, pk=failure_id, action="change")
    if failure.resolved_at is not None:
        raise CommsConflict("failure_already_resolved", _("This item is already resolved."))
    if failure.channel.kind not in MAIL_KINDS:
        raise CommsConflict("failure_not_retryable", _("Only e-mails can be processed again; resolve this item by "
                                                       "hand."))
    try:
        with failure.raw.open("rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, ValueError):  # ValueError: no file kept
        raise CommsConflict("failure_no_original", _("The original is missing, so it cannot be processed again.")) \
            from None
    before = failure.error
    result = email_ingest(channel=failure.channel, raw=raw, source_ref=failure.source_ref, retry_of=failure)
    if result.message is not None:
        now = timezone.now()
        if InboundFailure.objects.filter(pk=failure.pk, resolved_at__isnull=True).update(
                resolved_at=now, message=result.message):
            audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=failure,
                         changes={"resolved_at": [None, now], "message": [None, result.message.pk]},
                         extra={"processed_again": result.status})
    elif failure.error != before:
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=failure,
                     changes={"error": [before, failure.error]}, extra={"processed_again": "failed"})
    return result


def _counterparty(channel: Channel, parsed: ParsedEmail) -> tuple[str, bool]:
    """(the client's address, whether it came from a forwarded message). For a dropbox: the first To/Cc that
    is neither the dropbox nor a Kramar user, else (a thread forwarded to the dropbox) the forwarded sender."""
    if channel.kind != ChannelKind.DROPBOX:
        return parsed.from_address, False
    own = {channel.address.lower()} | {a.lower() for a in (channel.settings or {}).get("aliases", [])}
    for address in [*parsed.to, *parsed.cc]:
        low = address.lower()
        if low in own or User.objects.filter(email__iexact=low).exists():
            continue
        return address, False
    for fwd in parsed.forwarded:
        if fwd.from_address:
            return fwd.from_address, True
    match = FORWARDED_FROM.search(parsed.text)
    return (match.group(1), True) if match else ("", False)


def _mark_bounced(parsed: ParsedEmail) -> list[str]:
    marked = []
    for address in parsed.bounce.permanent if parsed.bounce else []:
        try:
            normalized = email_normalize(address)
        except ValueError:
            continue
        if ContactPoint.objects.filter(kind="email", normalized=normalized, bounced_at__isnull=True).update(
            bounced_at=timezone.now()
        ):
            marked.append(normalized)
    return marked


def _store(*, channel: Channel, raw: bytes, parsed: ParsedEmail, external_id: str, routed: list[int]) -> Message:
    now = timezone.now()
    dropbox = channel.kind == ChannelKind.DROPBOX
    is_fax = channel.kind == ChannelKind.FAX
    direction = MessageDirection.OUTBOUND if dropbox else MessageDirection.INBOUND
    automatic = parsed.is_automatic
    flags = dict(parsed.flags)
    if parsed.auto_reply:
        flags["auto_reply"] = parsed.auto_reply
    if parsed.report_type:
        flags["report_type"] = parsed.report_type
    if not parsed.has_message_id:
        flags["message_id_synthesized"] = True

    author = None
    if dropbox and parsed.from_address:
        author = User.objects.filter(email__iexact=parsed.from_address, is_active=True).order_by("id").first()
        if author is None:
            flags["author_unknown"] = parsed.from_address
    counterparty, forwarded = _counterparty(channel, parsed)
    if forwarded:  # a client's message forwarded to the dropbox by the rep: the client wrote it
        direction = MessageDirection.INBOUND
        flags["forwarded_by"] = parsed.from_address
    contact, company, phone = None, None, ""
    if parsed.bounce:
        flags["bounce"] = parsed.bounce.as_flags()
        flags["bounced_addresses"] = _mark_bounced(parsed)
        bounced = parsed.bounce.permanent + parsed.bounce.temporary
        if bounced:
            flags["bounced_recipient"] = bounced[0]
            contact, company = client_by_email(bounced[0])
    elif is_fax:
        senders = [s.lower() for s in (channel.settings or {}).get("senders", [])]
        if senders and parsed.from_address.lower() not in senders:
            flags["unexpected_sender"] = parsed.from_address
        contact, company, phone = _client_by_phone_in(f"{parsed.subject}\n{parsed.text[:2000]}")
        if phone:
            flags["fax_number"] = phone
    elif counterparty:
        contact, company = client_by_email(counterparty)
    colleague = bool(counterparty) and not is_fax and User.objects.filter(email__iexact=counterparty).exists()
    if colleague:
        flags["from_user"] = counterparty  # a colleague's mail is not a lead
    if contact is None and company is None and not automatic and not colleague and (
        phone or (counterparty and not is_fax)
    ):
        name = parsed.from_name if not dropbox else ""
        try:
            contact = lead_create(address=counterparty if not is_fax else "", name=name, phone=phone, owner=author)
            company = contact.primary_company
            flags["new_lead"] = True
        except Exception as exc:  # an address the clients' rules refuse: the message is kept unmatched
            flags["lead_not_created"] = f"{type(exc).__name__}: {exc}"[:300]
    if contact is None and company is None:
        flags["unmatched"] = True

    sent_at = parsed.date or now
    if sent_at > now + dt.timedelta(days=1):  # a sender's clock far in the future
        flags["date_in_future"] = sent_at.isoformat()
        sent_at = now
    real_reply = direction == MessageDirection.INBOUND and not automatic and not dropbox

    conv = conversation_find(channel=channel, parsed=parsed, contact=contact, counterparty=counterparty,
                             when=sent_at)
    if conv is None:
        status = ConversationStatus.NEW
        if dropbox:
            status = ConversationStatus.PENDING
        elif automatic:
            status = ConversationStatus.CLOSED  # nothing for an agent to do; kept for the record
        conv = Conversation.objects.create(
            channel=channel, kind=channel.kind, subject=parsed.subject[:255], status=status,
            contact=contact, company=company or (contact.primary_company if contact else None),
            thread_key=parsed.root_id[:255], queue=channel.queue, opened_at=now, last_message_at=sent_at,
            last_inbound_at=sent_at if real_reply else None, owner=author,
            team_id=user_primary_team_id(author.pk if author else None),
            closed_at=now if status == ConversationStatus.CLOSED else None, language=client_language(contact),
        )
        audit_record(actor=None, action=AuditEntry.Action.CREATE, obj=conv,
                     changes={"status": [None, status], "channel": [None, channel.name]},
                     extra={"message_id": external_id})
        if status == ConversationStatus.NEW:
            routed.append(conv.pk)
    else:
        conv = Conversation.objects.select_for_update().get(pk=conv.pk)
        fields = {"last_message_at"}
        conv.last_message_at = max(conv.last_message_at, sent_at)
        if real_reply:
            fields |= conversation_client_replied(conv, channel=channel, at=sent_at, external_id=external_id,
                                                  flags=flags, routed=routed)
        if conv.contact_id is None and contact is not None:
            conv.contact, conv.company = contact, company or contact.primary_company
            fields |= {"contact", "company"}
        conv.save(update_fields=[*fields, "updated_at"])

    interaction = None
    limit = settings.KRAMAR_MAX_ATTACHMENT_BYTES
    refused = [
        {"filename": a.filename, "content_type": a.content_type, "size": a.size,
         "reason": _("%(name)s is %(size)d bytes; the limit is %(limit)d bytes.")
         % {"name": a.filename, "size": a.size, "limit": limit}}
        for a in parsed.attachments if a.size > limit
    ]
    if refused:
        flags["refused_attachments"] = refused
    if contact is not None or company is not None:
        interaction = _timeline_write(parsed=parsed, contact=contact, company=company, is_fax=is_fax,
                                      direction=direction, sent_at=sent_at, external_id=external_id,
                                      author=author, limit=limit)

    message = Message(
        conversation=conv, channel=channel, direction=direction, external_id=external_id,
        in_reply_to=parsed.in_reply_to[:512], references=" ".join(parsed.references),
        from_address=parsed.from_address[:320], from_name=parsed.from_name[:255], to=parsed.to, cc=parsed.cc,
        subject=parsed.subject[:255], body=parsed.text, body_html=parsed.html, sent_at=sent_at, author=author,
        interaction=interaction, is_auto_reply=bool(parsed.auto_reply), is_bounce=parsed.bounce is not None,
        flags=flags,
    )
    message.raw.save(f"{timezone.now():%d%H%M%S%f}.eml", ContentFile(raw), save=False)
    message.save()
    if conv.pk not in routed:  # routed ones are published with their routing decision
        from kramar.comms.routing import conversation_publish

        conversation_publish(conv)  # open inboxes re-fetch their lists (in this transaction)
    return message


def _timeline_write(*, parsed: ParsedEmail, contact, company, is_fax: bool, direction: str, sent_at,
                    external_id: str, author, limit: int):
    from kramar.history.services import attachment_add, interaction_create_or_get

    actor = system_actor()
    timeline_id = external_id if len(external_id) <= 255 else "sha256-" + hashlib.sha256(external_id.encode()).hexdigest()
    data = {
        "channel": "fax" if is_fax else "email",
        "direction": "out" if direction == MessageDirection.OUTBOUND else "in",
        "occurred_at": sent_at,
        "subject": parsed.subject[:255],
        "body": parsed.text[:1_000_000],
        "body_html": parsed.html[:2_000_000],
        "external_id": timeline_id,
        "contact_id": contact.pk if contact else None,
        "company_id": company.pk if company else None,
    }
    interaction, created = interaction_create_or_get(actor=actor, data=data, check_client_scope=False)
    if created and author is not None:
        type(interaction).objects.filter(pk=interaction.pk).update(user=author)
    if created:
        for attachment in parsed.attachments:
            if attachment.size > limit or attachment.inline and attachment.content_type.startswith("image/") \
                    and not is_fax and attachment.size < 2048:
                continue  # refused (recorded in the flags), or a tiny inline image (a signature's spacer)
            upload = SimpleUploadedFile(attachment.filename, attachment.data, attachment.content_type)
            attachment_add(actor=actor, interaction=interaction, upload=upload)
    return interaction
