"""What the real-time inbound channels share (telephony `calls.py`, chat `chat.py`, web forms `webforms.py`):
the channel fetch, client matching by phone, e-mail and messenger handle, flagged leads for unknown senders, the
timeline write and the after-commit routing hook. E-mail has its own path (`ingest.py`), whose helpers are reused
here as they are."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.accounts.models import User
from kramar.clients.models import Company, Contact
from kramar.comms.ingest import (
    NEW_LEAD_TAG,
    _alive,
    _client_by_point,
    _route_hook,
    client_by_email,
    system_actor,
)
from kramar.comms.models import Channel, Conversation
from kramar.core.identifiers import phone_normalize

# tags of leads made by each channel (e-mail's is ingest.NEW_LEAD_TAG); the call pop's "new lead" mark
LEAD_TAGS = {"phone": "new from call", "chat": "new from chat", "webform": "new from web form"}
LEAD_SOURCES = {"phone": "call", "chat": "chat", "webform": "web form"}
ALL_LEAD_TAGS = {NEW_LEAD_TAG, *LEAD_TAGS.values()}


def channel_for_hook(channel_id: int, kind: str) -> Channel:
    """The active channel of `kind` with this id; 404 for an unknown, inactive or other-kind channel (a sender
    learns nothing about channels it has no business with)."""
    channel = Channel.objects.filter(pk=channel_id, kind=kind, active=True).select_related("queue").first()
    if channel is None:
        raise Http404
    return channel


def phone_e164(value: Any) -> str:
    """The E.164 form of a phone number, or "" when it is not one (hidden caller id, an internal extension)."""
    if not isinstance(value, str | int) or not str(value).strip():
        return ""
    try:
        return phone_normalize(str(value))[0]
    except ValueError:
        return ""


def client_by_phone(e164: str) -> tuple[Contact | None, Company | None]:
    return _client_by_point("phone", e164) if e164 else (None, None)


def client_by_handle(network: str, handle: str) -> Contact | None:
    """The contact whose messenger handle on `network` is `handle` (with or without "@", any case)."""
    handle = (handle or "").strip().lstrip("@")
    network = (network or "").strip()
    if not handle or not network or not network.replace("_", "").isalnum():
        return None
    key = f"messengers__{network}__iexact"
    from django.db.models import Q

    found = (
        Contact.objects.filter(Q(**{key: handle}) | Q(**{key: "@" + handle}))
        .select_related("merged_into")
        .order_by("id")
        .first()
    )
    return _alive(found)


def client_match(*, phone: str = "", email: str = "", network: str = "", handle: str = ""):
    """(contact, company) by messenger handle, then e-mail, then phone."""
    if handle:
        contact = client_by_handle(network, handle)
        if contact is not None:
            return contact, contact.primary_company
    if email:
        contact, company = client_by_email(email)
        if contact is not None or company is not None:
            return contact, company
    if phone:
        return client_by_phone(phone)
    return None, None


def channel_lead_create(
    *, kind: str, name: str = "", email: str = "", phone: str = "", messengers: dict | None = None,
    notes: str = "", consent: bool = False, channel_name: str = "",
) -> Contact:
    """A new lead contact for an unknown caller, chat user or form sender: lifecycle stage lead, the channel's
    source and tag (`LEAD_TAGS`), owned by nobody (the conversation's queue decides who handles it)."""
    from kramar.clients.services import contact_create

    words = name.replace('"', "").split()
    data: dict[str, Any] = {
        "first_name": words[0][:128] if words else "",
        "last_name": " ".join(words[1:])[:128],
        "lifecycle_stage": "lead",
        "source": LEAD_SOURCES[kind],
        "tags": [LEAD_TAGS[kind]],
        "owner_id": None,
        "notes": notes,
    }
    if not data["first_name"] and not data["last_name"] and not email and not phone:
        data["last_name"] = _("Unknown %(channel)s contact") % {"channel": LEAD_SOURCES[kind]}
    if email:
        data["emails"] = [email]
    if phone:
        data["phones"] = [phone]
    if messengers:
        data["messengers"] = messengers
    if consent:
        data["marketing_consent"] = "given"
        data["consent_method"] = (_("web form: %(name)s") % {"name": channel_name})[:128]
    return contact_create(actor=system_actor(), data=data, allow_duplicates=True)


def is_new_lead(contact: Contact | None) -> bool:
    """A lead made from an unknown sender and not yet worked on (it still carries a "new from …" tag)."""
    if contact is None or contact.lifecycle_stage != "lead":
        return False
    return contact.tags.filter(name__in=ALL_LEAD_TAGS).exists()


def client_owner(contact: Contact | None, company: Company | None) -> User | None:
    for record in (contact, company):
        owner = getattr(record, "owner", None) if record is not None else None
        if owner is not None and owner.is_active:
            return owner
    return None


def timeline_write(*, data: dict[str, Any], author: User | None = None):
    """Write (or find, by channel and external id) the client's interaction; returns (interaction, created)."""
    from kramar.history.models import Interaction
    from kramar.history.services import interaction_create_or_get

    interaction, created = interaction_create_or_get(actor=system_actor(), data=data, check_client_scope=False)
    if created and author is not None:
        Interaction.objects.filter(pk=interaction.pk).update(user=author)
    return interaction, created


def route_after_commit(conversation_ids: list[int]) -> None:
    """Hand new (or reopened) conversations to the routing engine once the caller's transaction commits."""
    for pk in dict.fromkeys(conversation_ids):
        transaction.on_commit(lambda pk=pk: _route_hook(pk))


def when_parse(value: Any, *, now: dt.datetime | None = None) -> tuple[dt.datetime, bool]:
    """(the aware time of an ISO 8601 value, whether it was usable); now when missing, bad, or more than a day in
    the future (a sender's clock far off)."""
    now = now or timezone.now()
    if not isinstance(value, str) or not value.strip():
        return now, False
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return now, False
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    if when > now + dt.timedelta(days=1):
        return now, False
    return when, True


def conversation_for_thread(*, channel: Channel, thread_key: str, since: dt.datetime | None = None):
    """The latest conversation of the channel with this thread key (active after `since`, when given), locked."""
    qs = Conversation.objects.filter(channel=channel, thread_key=thread_key[:255])
    if since is not None:
        qs = qs.filter(last_message_at__gte=since)
    found = qs.order_by("-last_message_at", "-id").values_list("pk", flat=True).first()
    return Conversation.objects.select_for_update().get(pk=found) if found else None


def text_field(data: dict, key: str, limit: int, errors: dict[str, list[str]], *, prefix: str = "",
          required: bool = False) -> str:
    """A text field of a decoded webhook body: stripped, at most `limit` characters; a problem goes into
    `errors` under `prefix + key` (numbers are taken as text) and "" is returned."""
    value = data.get(key)
    name = f"{prefix}{key}"
    if value is None or value == "":
        if required:
            errors[name] = [_("This field is required.")]
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors[name] = [_("must be text")]
        return ""
    value = value.strip()
    if len(value) > limit:
        errors[name] = [_("at most %(n)d characters") % {"n": limit}]
        return ""
    if required and not value:
        errors[name] = [_("This field is required.")]
    return value
