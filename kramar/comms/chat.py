"""Inbound messages of a chat / messenger channel (a website chat widget, a Telegram or Viber bot behind a small
gateway): one message in, a Message in the chat's conversation and a chat interaction on the client's timeline
out. The webhook (`kramar.comms.webhooks`) checks the signature and calls `chat_message_handle`; the JSON is in
docs/chat.md.

* Threading: one conversation per chat, thread key ``chat:<chat_id>``, with no time window (a chat is one
  thread however long it lasts). A message to a closed conversation reopens it (`new`, routed again), as a reply
  by e-mail does; a `pending` one (waiting for the client) becomes `open`.
* The client: the conversation's client once the chat has one; else by messenger handle (`Contact.messengers`,
  the network from the message or `settings["network"]`), e-mail, phone; else a new lead (tag "new from chat").
* Idempotent per (channel, chat id, message id): gateways retry, and a message id is often unique only within
  its chat (Telegram), so the Message's external id is ``<chat_id>:<message_id>``.
* Attachments are links (`url`, `name`) kept in `Message.flags["attachments"]` and listed in the timeline
  text; Kramar does not download them (no requests to addresses a sender chose)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.comms.choices import ChannelKind, ConversationStatus, MessageDirection
from kramar.comms.inbound_common import (
    channel_lead_create,
    client_match,
    conversation_for_thread,
    phone_e164,
    route_after_commit,
    text_field,
    timeline_write,
    when_parse,
)
from kramar.comms.ingest import conversation_client_replied
from kramar.comms.live import live_publish, queue_topic, user_topic
from kramar.comms.models import Channel, Conversation, Message
from kramar.comms.routing_rules import client_language
from kramar.core.audit import audit_record
from kramar.core.context import audit_context
from kramar.core.errors import ValidationFailed
from kramar.core.identifiers import email_normalize
from kramar.core.models import AuditEntry

MAX_TEXT = 100_000
MAX_ATTACHMENTS = 20


@dataclass
class ChatMessageIn:
    chat_id: str
    message_id: str
    name: str = ""
    phone: str = ""
    email: str = ""
    handle: str = ""
    network: str = ""
    text: str = ""
    at: dt.datetime = field(default_factory=timezone.now)
    attachments: list[dict[str, str]] = field(default_factory=list)


@dataclass
class ChatResult:
    message: Message
    created: bool


def chat_message_parse(data: Any) -> ChatMessageIn:
    """Validate a decoded webhook body; ValidationFailed names every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed({"body": [_("must be a JSON object")]})
    errors: dict[str, list[str]] = {}
    chat_id = text_field(data, "chat_id", 128, errors, required=True)
    message_id = text_field(data, "message_id", 128, errors, required=True)
    sender = data.get("from") or {}
    if not isinstance(sender, dict):
        errors["from"] = [_("must be an object with name, phone, email or handle")]
        sender = {}
    name = text_field(sender, "name", 255, errors, prefix="from.")
    handle = text_field(sender, "handle", 128, errors, prefix="from.")
    network = text_field(sender, "network", 32, errors, prefix="from.")
    email = text_field(sender, "email", 320, errors, prefix="from.")
    if email:
        try:
            email = email_normalize(email)
        except ValueError as exc:
            errors["from.email"] = [str(exc)]
    phone_raw = text_field(sender, "phone", 64, errors, prefix="from.")
    phone = phone_e164(phone_raw) if phone_raw else ""
    if phone_raw and not phone:
        errors["from.phone"] = [_("Enter a valid phone number.")]
    text = data.get("text") or ""
    if not isinstance(text, str):
        errors["text"] = [_("must be text")]
        text = ""
    elif len(text) > MAX_TEXT:
        errors["text"] = [_("at most %(n)d characters") % {"n": MAX_TEXT}]
    attachments: list[dict[str, str]] = []
    raw_attachments = data.get("attachments") or []
    if not isinstance(raw_attachments, list) or len(raw_attachments) > MAX_ATTACHMENTS:
        errors["attachments"] = [_("must be a list of at most %(n)d {url, name} objects") % {"n": MAX_ATTACHMENTS}]
        raw_attachments = []
    for i, item in enumerate(raw_attachments):
        url = item.get("url") if isinstance(item, dict) else None
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
            errors[f"attachments[{i}].url"] = [_("must be an http or https address")]
            continue
        label = item.get("name") if isinstance(item.get("name"), str) else ""
        attachments.append({"url": url, "name": (label or parts.path.rsplit("/", 1)[-1] or url)[:255]})
    if not text.strip() and not attachments and "text" not in errors:
        errors["text"] = [_("A message needs text or an attachment.")]
    at_raw = data.get("at")
    at, usable = when_parse(at_raw)
    if at_raw not in (None, "") and not usable:
        errors["at"] = [_("must be an ISO 8601 date and time, not far in the future")]
    if errors:
        raise ValidationFailed(errors)
    return ChatMessageIn(chat_id=chat_id, message_id=message_id, name=name, phone=phone, email=email,
                         handle=handle, network=network, text=text, at=at, attachments=attachments)


def chat_message_handle(*, channel: Channel, msg: ChatMessageIn) -> ChatResult:
    """Store one inbound chat message (idempotent; see the module docstring)."""
    external_id = f"{msg.chat_id}:{msg.message_id}"[:512]
    existing = Message.objects.filter(channel=channel, external_id=external_id).first()
    if existing is not None:
        return ChatResult(existing, False)
    try:
        with audit_context(source="system"), transaction.atomic():
            return ChatResult(_store(channel, msg, external_id), True)
    except IntegrityError:
        existing = Message.objects.filter(channel=channel, external_id=external_id).first()
        if existing is None:
            raise
        return ChatResult(existing, False)


def _store(channel: Channel, msg: ChatMessageIn, external_id: str) -> Message:
    settings = channel.settings if isinstance(channel.settings, dict) else {}
    network = msg.network or str(settings.get("network") or "")
    flags: dict[str, Any] = {"chat": {"chat_id": msg.chat_id, "message_id": msg.message_id}}
    if msg.handle:
        flags["chat"]["handle"] = msg.handle
    if network:
        flags["chat"]["network"] = network
    if msg.attachments:
        flags["attachments"] = msg.attachments
    thread_key = f"chat:{msg.chat_id}"
    conv = conversation_for_thread(channel=channel, thread_key=thread_key)
    contact = conv.contact if conv is not None else None
    company = conv.company if conv is not None else None
    if contact is None and company is None:
        contact, company = client_match(phone=msg.phone, email=msg.email, network=network, handle=msg.handle)
        if contact is None and company is None:
            messengers = {network: msg.handle} if network and msg.handle else None
            contact = channel_lead_create(kind=ChannelKind.CHAT, name=msg.name, email=msg.email, phone=msg.phone,
                                          messengers=messengers)
            flags["new_lead"] = True
        company = company or (contact.primary_company if contact else None)
    routed: list[int] = []
    now = timezone.now()
    subject = (msg.text.strip().split("\n", 1)[0][:80] or _("Chat message")) if msg.text else _("Chat message")
    if conv is None:
        conv = Conversation.objects.create(
            channel=channel, kind=channel.kind, subject=(_("Chat with %(name)s") % {
                "name": msg.name or msg.handle or msg.email or msg.phone or msg.chat_id})[:255],
            status=ConversationStatus.NEW, contact=contact, company=company, thread_key=thread_key[:255],
            queue=channel.queue, opened_at=now, last_message_at=msg.at, last_inbound_at=msg.at,
            language=client_language(contact),
        )
        audit_record(actor=None, action=AuditEntry.Action.CREATE, obj=conv,
                     changes={"status": [None, conv.status], "channel": [None, channel.name]},
                     extra={"chat_id": msg.chat_id, "message_id": msg.message_id})
        routed.append(conv.pk)
    else:
        conv.last_message_at = max(conv.last_message_at, msg.at)
        fields = {"last_message_at", *conversation_client_replied(conv, channel=channel, at=msg.at,
                                                                  external_id=external_id, flags=flags, routed=routed)}
        if conv.contact_id is None and contact is not None:
            conv.contact, conv.company = contact, company
            fields |= {"contact", "company"}
        conv.save(update_fields=[*fields, "updated_at"])
    body = msg.text
    if msg.attachments:
        body = "\n".join([body, "", _("Attachments:"), *(f"{a['name']}: {a['url']}" for a in msg.attachments)])
    interaction = None
    if contact is not None or company is not None:
        interaction, _created = timeline_write(data={
            "channel": "chat", "direction": "in", "occurred_at": msg.at, "subject": subject[:255],
            "body": body.strip(), "external_id": f"{channel.pk}:{external_id}"[:255],
            "contact_id": contact.pk if contact else None, "company_id": company.pk if company else None,
        })
    message = Message.objects.create(
        conversation=conv, channel=channel, direction=MessageDirection.INBOUND, external_id=external_id,
        from_address=(msg.handle or msg.email or msg.phone)[:320], from_name=msg.name[:255], subject=subject[:255],
        body=body.strip(), sent_at=msg.at, interaction=interaction, flags=flags,
    )
    topics = [user_topic(conv.owner_id)] if conv.owner_id else []
    if conv.queue_id:
        topics.append(queue_topic(conv.queue_id))
    live_publish(topics, "conversation.changed", {"id": conv.pk, "kind": "chat"})
    route_after_commit(routed)
    return message
