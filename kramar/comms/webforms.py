"""The embeddable web form: a site's contact form posts to `/api/v1/comms/hooks/forms/<channel id>` and the
sender becomes (or is matched to) a lead with a conversation in the channel's queue. The webhook
(`kramar.comms.webhooks`) answers CORS and calls, in order: `webform_origin_allowed`, `webform_rate_hit`, the
honeypot check, `webform_parse` and `webform_submit`. docs/webforms.md describes the snippet and the answers.

Channel settings: `allowed_origins` (["https://www.example.com"]; "*" allows any), `rate_limit_per_hour`
(posts per client IP and hour, default 20), `honeypot_field` (default "website"), `thank_you` (the success
text), `redirect_url` (where a plain HTML post without the script is sent after success), `ip_header` (e.g.
"X-Forwarded-For" behind a reverse proxy you run: its last address is the client's).

Each post is its own conversation (thread key ``form:<digest>``) routed by the routing rules; the same post
repeated within the hour (a double click, a resend) is stored once. A known sender (by e-mail, then phone) is
not overwritten: what they typed is in the message, and only empty name fields of a contact that is still a lead
are filled. A new sender becomes a lead: source "web form", tag "new from web form", the company name in the
notes, marketing consent "given" when the consent box was ticked."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from kramar.comms.choices import ChannelKind, ConversationStatus, MessageDirection
from kramar.comms.inbound_common import (
    channel_lead_create,
    client_match,
    phone_e164,
    route_after_commit,
    timeline_write,
)
from kramar.comms.ingest import system_actor
from kramar.comms.models import Channel, Conversation, Message, RateCounter
from kramar.comms.routing_rules import client_language
from kramar.core.audit import audit_record
from kramar.core.context import audit_context
from kramar.core.errors import ValidationFailed
from kramar.core.identifiers import email_normalize
from kramar.core.models import AuditEntry

DEFAULT_RATE_LIMIT = 20
DEFAULT_HONEYPOT = "website"
LIMITS = {"name": 200, "email": 320, "phone": 64, "company": 255, "subject": 255, "message": 10_000}
TRUE = {"1", "true", "on", "yes", "y"}


def _settings(channel: Channel) -> dict:
    return channel.settings if isinstance(channel.settings, dict) else {}


# ----------------------------------------------------------------------------------------- origin and limits
def origin_normalize(origin: str) -> str:
    """"https://Example.com:443/" → "https://example.com"; "" for anything that is not an http(s) origin."""
    parts = urlsplit((origin or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return ""
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{suffix}"


def webform_origin_allowed(channel: Channel, origin: str) -> bool:
    allowed = _settings(channel).get("allowed_origins") or []
    if not isinstance(allowed, list):
        return False
    if "*" in allowed:
        return True
    normalized = origin_normalize(origin)
    return bool(normalized) and normalized in {origin_normalize(str(a)) for a in allowed}


def client_ip(channel: Channel, request) -> str:
    header = str(_settings(channel).get("ip_header") or "")
    if header:
        value = request.headers.get(header, "")
        hops = [h.strip() for h in value.split(",") if h.strip()]
        if hops:
            return hops[-1][:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def rate_hit(key: str, window: dt.datetime) -> int:
    """Count one hit of `key` in the window starting at `window`; the window's count so far. Shared by every
    process (a row per key and window, incremented in the database)."""
    with transaction.atomic():
        if not RateCounter.objects.filter(key=key, window=window).update(count=F("count") + 1):
            try:
                with transaction.atomic():
                    RateCounter.objects.create(key=key, window=window, count=1)
                return 1
            except IntegrityError:  # another process created it first
                RateCounter.objects.filter(key=key, window=window).update(count=F("count") + 1)
        return RateCounter.objects.filter(key=key, window=window).values_list("count", flat=True).get()


def rate_counters_prune(*, now: dt.datetime | None = None) -> int:
    """Delete windows that ended more than an hour ago."""
    deleted, _rows = RateCounter.objects.filter(window__lt=(now or timezone.now()) - dt.timedelta(hours=2)).delete()
    return deleted


def webform_rate_hit(channel: Channel, ip: str, *, now: float | None = None) -> int | None:
    """Count one post from `ip`; the seconds until it may post again when over the hourly limit, else None.
    A fixed window per clock hour, counted in the database (`rate_hit`), so every server process shares it."""
    try:
        limit = int(_settings(channel).get("rate_limit_per_hour", DEFAULT_RATE_LIMIT))
    except (TypeError, ValueError):
        limit = DEFAULT_RATE_LIMIT
    now = time.time() if now is None else now
    window = dt.datetime.fromtimestamp(now - now % 3600, tz=dt.UTC)
    digest = hashlib.sha256(ip.encode()).hexdigest()[:24]
    count = rate_hit(f"webform:{channel.pk}:{digest}", window)
    if count > limit:
        return max(1, int(3600 - now % 3600))
    return None


def honeypot_filled(channel: Channel, data: dict[str, Any]) -> bool:
    name = str(_settings(channel).get("honeypot_field") or DEFAULT_HONEYPOT)
    value = data.get(name)
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def thank_you(channel: Channel) -> str:
    text = _settings(channel).get("thank_you")
    return text if isinstance(text, str) and text.strip() else _("Thank you! We will get back to you soon.")


# ----------------------------------------------------------------------------------------- input
@dataclass
class WebFormIn:
    name: str
    email: str = ""
    phone: str = ""
    company: str = ""
    subject: str = ""
    message: str = ""
    consent: bool = False


def webform_parse(data: dict[str, Any]) -> WebFormIn:
    """Validate the posted fields; ValidationFailed names every bad field."""
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for key, limit in LIMITS.items():
        value = data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[key] = [_("must be text")]
            continue
        value = value.strip()
        if len(value) > limit:
            errors[key] = [_("at most %(n)d characters") % {"n": limit}]
            continue
        values[key] = value
    if "name" not in errors and not values.get("name"):
        errors["name"] = [_("Please enter your name.")]
    if values.get("email"):
        try:
            values["email"] = email_normalize(values["email"])
        except ValueError as exc:
            errors["email"] = [str(exc)]
    if values.get("phone"):
        e164 = phone_e164(values["phone"])
        if not e164:
            errors["phone"] = [_("Enter a valid phone number.")]
        values["phone"] = e164
    if not values.get("email") and not values.get("phone") and "email" not in errors and "phone" not in errors:
        errors["email"] = [_("Please give an e-mail address or a phone number.")]
    consent = data.get("consent")
    consent_given = consent is True or (isinstance(consent, str) and consent.strip().lower() in TRUE)
    if errors:
        raise ValidationFailed(errors)
    return WebFormIn(consent=consent_given, **values)


# ----------------------------------------------------------------------------------------- the service
def _digest(channel: Channel, form: WebFormIn) -> str:
    hour = int(time.time() // 3600)
    text = "\x1f".join([str(channel.pk), form.name, form.email, form.phone, form.company, form.subject,
                        form.message, str(hour)])
    return "form-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _body(form: WebFormIn) -> str:
    lines = [
        (_("Name"), form.name), (_("E-mail"), form.email), (_("Phone"), form.phone), (_("Company"), form.company),
        (_("Subject"), form.subject),
        (_("Marketing consent"), _("given") if form.consent else _("not given")),
    ]
    head = "\n".join(f"{label}: {value}" for label, value in lines if value)
    return f"{form.message}\n\n{head}".strip() if form.message else head


@dataclass
class WebFormResult:
    message: Message
    created: bool


def webform_submit(*, channel: Channel, form: WebFormIn, ip: str = "", origin: str = "",
                   page: str = "") -> WebFormResult:
    """Store one post: the lead (or the matched client), a new conversation routed after commit, the message
    and a web-form interaction on the timeline. The same post within the hour is stored once."""
    external_id = _digest(channel, form)
    existing = Message.objects.filter(channel=channel, external_id=external_id).first()
    if existing is not None:
        return WebFormResult(existing, False)
    try:
        with audit_context(source="system", ip=ip or None), transaction.atomic():
            return WebFormResult(_store(channel, form, external_id, ip=ip, origin=origin, page=page), True)
    except IntegrityError:
        existing = Message.objects.filter(channel=channel, external_id=external_id).first()
        if existing is None:
            raise
        return WebFormResult(existing, False)


def _store(channel: Channel, form: WebFormIn, external_id: str, *, ip: str, origin: str, page: str) -> Message:
    from kramar.clients.services import contact_update

    flags: dict[str, Any] = {"form": {
        "name": form.name, "email": form.email, "phone": form.phone, "company": form.company,
        "subject": form.subject, "consent": form.consent, "ip": ip, "origin": origin, "page": page[:500],
    }}
    contact, company = client_match(email=form.email, phone=form.phone)
    if contact is None and company is None:
        notes = _("Company (from the web form): %(company)s") % {"company": form.company} if form.company else ""
        contact = channel_lead_create(kind=ChannelKind.WEBFORM, name=form.name, email=form.email, phone=form.phone,
                                      notes=notes, consent=form.consent, channel_name=channel.name)
        flags["new_lead"] = True
    elif contact is not None:
        flags["matched"] = True
        if contact.lifecycle_stage == "lead" and not (contact.first_name or contact.last_name):
            words = form.name.split()
            contact = contact_update(actor=system_actor(), contact=contact, data={
                "first_name": words[0][:128] if words else "", "last_name": " ".join(words[1:])[:128]})
            flags["lead_updated"] = ["first_name", "last_name"]
    company = company or (contact.primary_company if contact else None)
    now = timezone.now()
    subject = (form.subject or _("Web form: %(name)s") % {"name": form.name})[:255]
    conv = Conversation.objects.create(
        channel=channel, kind=channel.kind, subject=subject, status=ConversationStatus.NEW, contact=contact,
        company=company, thread_key=f"form:{external_id}"[:255], queue=channel.queue, opened_at=now,
        last_message_at=now, last_inbound_at=now, language=client_language(contact),
    )
    audit_record(actor=None, action=AuditEntry.Action.CREATE, obj=conv,
                 changes={"status": [None, conv.status], "channel": [None, channel.name]},
                 extra={"form": external_id})
    body = _body(form)
    interaction, _created = timeline_write(data={
        "channel": "web_form", "direction": "in", "occurred_at": now, "subject": subject, "body": body,
        "external_id": f"{channel.pk}:{external_id}"[:255],
        "contact_id": contact.pk if contact else None, "company_id": company.pk if company else None,
    })
    message = Message.objects.create(
        conversation=conv, channel=channel, direction=MessageDirection.INBOUND, external_id=external_id,
        from_address=(form.email or form.phone)[:320], from_name=form.name[:255], subject=subject, body=body,
        sent_at=now, interaction=interaction, flags=flags,
    )
    route_after_commit([conv.pk])
    return message


# ----------------------------------------------------------------------------------------- the snippet
def webform_snippet(channel: Channel, base_url: str = "") -> str:
    """The HTML a site pastes where the form should be (see docs/webforms.md)."""
    base = (base_url or "https://crm.example").rstrip("/")
    action = f"{base}/api/v1/comms/hooks/forms/{channel.pk}"
    honeypot = str(_settings(channel).get("honeypot_field") or DEFAULT_HONEYPOT)
    fields = [
        ("name", "text", _("Name"), ' required autocomplete="name"'),
        ("email", "email", _("E-mail"), ' autocomplete="email"'),
        ("phone", "tel", _("Phone"), ' autocomplete="tel"'),
        ("company", "text", _("Company"), ' autocomplete="organization"'),
    ]
    lines = [f'<form data-kramar-form="{escape(action)}" method="post" action="{escape(action)}">']
    for name, kind, label, extra in fields:
        lines.append(f'  <label>{escape(label)} <input type="{kind}" name="{name}"{extra}></label>')
    lines += [
        f'  <label>{escape(_("Message"))} <textarea name="message" rows="4"></textarea></label>',
        f'  <label><input type="checkbox" name="consent" value="yes"> {escape(_("You may send me news and offers"))}'
        "</label>",
        f'  <input type="text" name="{escape(honeypot)}" tabindex="-1" autocomplete="off" data-kramar-honeypot>',
        f'  <button type="submit">{escape(_("Send"))}</button>',
        "  <p data-kramar-status></p>",
        "</form>",
        f'<script src="{escape(base)}/static/kramar/webform.js" defer></script>',
    ]
    return "\n".join(lines)
