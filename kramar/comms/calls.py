"""Call events from a telephony channel (PBX or cloud telephony), one call at a time: the caller's card pops up in
the agent's browser while it rings, the call lands on the client's timeline when it ends, and a missed call
becomes a call-back task. The webhook (`kramar.comms.webhooks`) checks the signature and calls
`call_event_handle`; docs/telephony.md describes the JSON and what each event does.

One call is one `Message` of the channel (external id = the call id) whose `flags["call"]` holds its state and
details. Events may repeat and arrive out of order: each state is applied once (`ringing` < `answered` <
`ended` | `missed`); an earlier state that comes late only fills in details, and the first final state wins.

Threading: the caller's E.164 number is the thread key; a call joins the channel's conversation with that number
whose last message is within `settings["thread_window_minutes"]` (default 60) minutes, else opens a new one.
Who has it: the agent of the event (`agent`, else the extension's user in `settings["extensions"]`) owns the
conversation; without one it waits in the channel's queue and is routed like any new conversation. An answered
call that ended closes the conversation (nothing is left to do); a missed one stays open with its task."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from kramar.accounts.models import User
from kramar.accounts.selectors import user_primary_team_id
from kramar.comms.choices import ChannelKind, ConversationStatus, MessageDirection
from kramar.comms.inbound_common import (
    channel_lead_create,
    client_by_phone,
    client_owner,
    conversation_for_thread,
    is_new_lead,
    phone_e164,
    route_after_commit,
    text_field,
    timeline_write,
    when_parse,
)
from kramar.comms.ingest import system_actor
from kramar.comms.live import SUPERVISORS, live_publish, queue_topic, user_topic
from kramar.comms.models import Channel, Conversation, Message
from kramar.comms.routing import conversation_owner_set
from kramar.comms.routing_rules import client_language
from kramar.core.audit import audit_record
from kramar.core.context import audit_context
from kramar.core.errors import ValidationFailed
from kramar.core.identifiers import phone_display
from kramar.core.models import AuditEntry

EVENTS = ("ringing", "answered", "ended", "missed")
RANK = {"ringing": 1, "answered": 2, "ended": 3, "missed": 3}
FINAL = ("ended", "missed")
DEFAULT_THREAD_WINDOW_MINUTES = 60
DEFAULT_CALLBACK_MINUTES = 30
MAX_DURATION = 7 * 24 * 3600
LAST_INTERACTIONS = 3


@dataclass
class CallEvent:
    event: str
    call_id: str
    from_number: str = ""
    to_number: str = ""
    extension: str = ""
    agent: str = ""
    duration: int | None = None
    recording_url: str = ""
    at: dt.datetime = field(default_factory=timezone.now)
    direction: str = "in"


@dataclass
class CallResult:
    message: Message
    created: bool  # a new Message for this call id
    applied: bool  # the event changed the call's state (False: a repeat, or a late earlier state)


def call_event_parse(data: Any) -> CallEvent:
    """Validate a decoded webhook body; ValidationFailed names every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed({"body": [_("must be a JSON object")]})
    errors: dict[str, list[str]] = {}
    event = data.get("event")
    if event not in EVENTS:
        errors["event"] = [_("must be one of: %(c)s") % {"c": ", ".join(EVENTS)}]
    call_id = text_field(data, "call_id", 200, errors, required=True)
    from_number = text_field(data, "from", 64, errors)
    to_number = text_field(data, "to", 64, errors)
    extension = text_field(data, "extension", 32, errors)
    agent = text_field(data, "agent", 150, errors)
    recording = text_field(data, "recording_url", 2000, errors)
    if recording and (urlsplit(recording).scheme not in ("http", "https") or not urlsplit(recording).netloc):
        errors["recording_url"] = [_("must be an http or https address")]
    duration = data.get("duration")
    if duration in (None, ""):
        duration = None
    else:
        try:
            if isinstance(duration, bool) or float(duration) != int(float(duration)):
                raise ValueError
            duration = int(float(duration))
            if not 0 <= duration <= MAX_DURATION:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            errors["duration"] = [_("must be a whole number of seconds, 0 or more")]
            duration = None
    direction = data.get("direction") or "in"
    if direction not in ("in", "out"):
        errors["direction"] = [_("must be one of: %(c)s") % {"c": "in, out"}]
    at_raw = data.get("at")
    at, usable = when_parse(at_raw)
    if at_raw not in (None, "") and not usable:
        errors["at"] = [_("must be an ISO 8601 date and time, not far in the future")]
    if errors:
        raise ValidationFailed(errors)
    return CallEvent(event=event, call_id=call_id, from_number=from_number, to_number=to_number,
                     extension=extension, agent=agent, duration=duration, recording_url=recording, at=at,
                     direction=direction)


# ----------------------------------------------------------------------------------------- who
def _settings(channel: Channel) -> dict:
    return channel.settings if isinstance(channel.settings, dict) else {}


def call_agent(channel: Channel, event: CallEvent) -> User | None:
    """The agent of the event: the `agent` username, else the user of the extension in the channel's map."""
    if event.agent:
        user = User.objects.filter(username=event.agent, is_active=True).first()
        if user is not None:
            return user
    extensions = _settings(channel).get("extensions") or {}
    username = extensions.get(event.extension) if event.extension and isinstance(extensions, dict) else None
    if isinstance(username, str) and username:
        return User.objects.filter(username=username, is_active=True).first()
    return None


def _topics(channel: Channel, agent: User | None, contact, company) -> list[str]:
    """Where the call pops up: the agent; else the client's owner; else the channel's default queue; else the
    supervisors."""
    if agent is not None:
        return [user_topic(agent)]
    owner = client_owner(contact, company)
    if owner is not None:
        return [user_topic(owner)]
    if channel.queue_id:
        return [queue_topic(channel.queue_id)]
    return [SUPERVISORS]


def _callback_assignee(channel: Channel, agent: User | None, conv: Conversation) -> User | None:
    """Who gets the call-back task: the agent, the client's owner, the conversation's agent, then a supervisor
    or a member of the channel's default queue."""
    candidates = [agent, client_owner(conv.contact, conv.company), conv.owner]
    for user in candidates:
        if user is not None and user.is_active:
            return user
    if channel.queue_id:
        user = channel.queue.supervisors.filter(is_active=True).order_by("id").first()
        if user is None:
            user = User.objects.filter(queue_memberships__queue_id=channel.queue_id, is_active=True).order_by(
                "id").first()
        return user
    return None


# ----------------------------------------------------------------------------------------- the card
def call_card(*, channel: Channel, message: Message, language: str | None = None) -> dict[str, Any]:
    """The payload of `call.ringing`: what the browser shows at once (all texts ready to display)."""
    from kramar.history.models import Interaction
    from kramar.sales.models import Deal

    conv = message.conversation
    contact, company = conv.contact, conv.company
    call = message.flags.get("call", {})
    number = call.get("number", "")
    with translation.override(language or translation.get_language()):
        interactions = []
        if contact is not None or company is not None:
            qs = Interaction.objects.filter(contact=contact) if contact is not None else \
                Interaction.objects.filter(company=company)
            for item in qs.order_by("-occurred_at", "-id")[:LAST_INTERACTIONS]:
                interactions.append({
                    "date": item.occurred_at.isoformat(),
                    "date_display": formats.date_format(timezone.localtime(item.occurred_at), "SHORT_DATETIME_FORMAT"),
                    "channel": str(item.get_channel_display()),
                    "subject": item.subject or item.outcome or "",
                })
        deals = 0
        if contact is not None or company is not None:
            where = Q(contact_links__contact=contact) if contact is not None else Q()
            if company is not None:
                where = where | Q(company=company) if contact is not None else Q(company=company)
            deals = Deal.objects.filter(status="open").filter(where).distinct().count()
        owner = client_owner(contact, company)
        return {
            "call_id": call.get("id", message.external_id),
            "channel_id": channel.pk,
            "conversation_id": conv.pk,
            "state": call.get("state", ""),
            "number": number,
            "number_display": phone_display(number) if number else _("Hidden number"),
            "tel": f"tel:{number}" if number else "",
            "extension": call.get("extension", ""),
            "contact": {"id": contact.pk, "name": contact.full_name or str(contact),
                        "url": reverse("clients:contact-detail", args=[contact.pk])} if contact else None,
            "company": {"id": company.pk, "name": company.name,
                        "url": reverse("clients:company-detail", args=[company.pk])} if company else None,
            "owner": (owner.get_full_name() or owner.username) if owner else "",
            "interactions": interactions,
            "open_deals": deals,
            "new_lead": is_new_lead(contact),
        }


# ----------------------------------------------------------------------------------------- the service
def call_event_handle(*, channel: Channel, event: CallEvent) -> CallResult:
    """Apply one call event (idempotent; see the module docstring). Live events and the audit rows are written
    in the same transaction; routing runs after the commit."""
    for attempt in (1, 2):
        try:
            with audit_context(source="system"), transaction.atomic():
                return _apply(channel, event)
        except IntegrityError:  # a concurrent event of the same new call stored it first: apply on top of it
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _window(channel: Channel) -> dt.timedelta:
    try:
        minutes = int(_settings(channel).get("thread_window_minutes", DEFAULT_THREAD_WINDOW_MINUTES))
    except (TypeError, ValueError):
        minutes = DEFAULT_THREAD_WINDOW_MINUTES
    return dt.timedelta(minutes=max(minutes, 0))


def _apply(channel: Channel, event: CallEvent) -> CallResult:
    agent = call_agent(channel, event)
    message = (Message.objects.select_for_update(of=("self",)).select_related("conversation")
               .filter(channel=channel, external_id=event.call_id).first())
    created = message is None
    if created:
        message = _call_open(channel, event, agent)
    call = message.flags.setdefault("call", {})
    old_state = call.get("state")
    applied = created or (RANK[event.event] > RANK.get(old_state, 0) and old_state not in FINAL)
    _details_merge(call, event, agent, applied=applied)
    conv = Conversation.objects.select_for_update(of=("self",)).select_related("contact", "company", "owner").get(
        pk=message.conversation_id)
    message.conversation = conv
    routed: list[int] = []
    if applied:
        call["state"] = event.event
        call.setdefault("events", [])
        call[f"{event.event}_at"] = event.at.isoformat()
        if agent is not None and conv.owner_id != agent.pk and event.event in ("ringing", "answered"):
            fields = conversation_owner_set(conv, agent.pk)
            if conv.status == ConversationStatus.NEW:
                conv.status = ConversationStatus.OPEN
            conv.save(update_fields=[*fields, "status", "updated_at"])
        if event.event in ("answered", "ended"):  # someone spoke with the client: the first response (SLA)
            from kramar.comms.sla import conversation_first_response

            conversation_first_response(conv, event.at)
        if event.event == "ringing":
            _publish_ringing(channel, message, agent)
        elif event.event in FINAL:
            _final(channel, message, conv, event, agent, routed)
    if event.event not in call.setdefault("events", []):
        call["events"].append(event.event)
    message.subject = _subject(call)[:255]
    message.body = _summary(call)
    message.save(update_fields=["flags", "subject", "body"])
    if conv.status == ConversationStatus.NEW and not conv.owner_id and created:
        routed.append(conv.pk)
    route_after_commit(routed)
    return CallResult(message=message, created=created, applied=applied)


def _details_merge(call: dict, event: CallEvent, agent: User | None, *, applied: bool) -> None:
    """Fill in what the event tells; a late earlier event never overwrites a later one's values."""
    pairs = {"extension": event.extension, "agent": agent.username if agent else "",
             "duration": event.duration, "recording": event.recording_url, "to": event.to_number}
    for key, value in pairs.items():
        if value not in (None, "") and (applied or call.get(key) in (None, "")):
            call[key] = value


def _call_open(channel: Channel, event: CallEvent, agent: User | None) -> Message:
    """The first event of a call: match the caller (or make a lead), find or open the conversation, store the
    Message."""
    raw_number = event.to_number if event.direction == "out" else event.from_number
    number = phone_e164(raw_number)
    flags: dict[str, Any] = {"call": {"id": event.call_id, "number": number, "raw_number": raw_number,
                                      "direction": event.direction, "started_at": event.at.isoformat()}}
    contact, company = client_by_phone(number)
    if contact is None and company is None and number:
        contact = channel_lead_create(kind=ChannelKind.PHONE, phone=number)
        company = contact.primary_company
        flags["new_lead"] = True
    if contact is None and company is None:
        flags["unmatched"] = True
    company = company or (contact.primary_company if contact else None)
    thread_key = number or f"call:{event.call_id}"
    conv = conversation_for_thread(channel=channel, thread_key=thread_key, since=event.at - _window(channel))
    now = timezone.now()
    if conv is None:
        status = ConversationStatus.OPEN if agent else ConversationStatus.NEW
        conv = Conversation.objects.create(
            channel=channel, kind=channel.kind, subject=(_("Calls with %(number)s") % {
                "number": phone_display(number) if number else _("a hidden number")})[:255],
            status=status, contact=contact, company=company, thread_key=thread_key[:255], queue=channel.queue,
            opened_at=now, last_message_at=event.at, last_inbound_at=event.at if event.direction == "in" else None,
            owner=agent, team_id=user_primary_team_id(agent.pk if agent else None),
            language=client_language(contact),
        )
        audit_record(actor=None, action=AuditEntry.Action.CREATE, obj=conv,
                     changes={"status": [None, status], "channel": [None, channel.name]},
                     extra={"call_id": event.call_id})
    else:
        fields = {"last_message_at"}
        conv.last_message_at = max(conv.last_message_at, event.at)
        if event.direction == "in":
            conv.last_inbound_at = max(conv.last_inbound_at or event.at, event.at)
            fields.add("last_inbound_at")
        if conv.status == ConversationStatus.CLOSED:
            before = conv.status
            conv.status = ConversationStatus.OPEN if agent else ConversationStatus.NEW
            conv.closed_at, conv.queue = None, conv.queue or channel.queue
            if agent is None:
                conv.owner, conv.team = None, None
            fields |= {"status", "closed_at", "queue", "owner", "team"}
            flags["reopened"] = True
            audit_record(actor=None, action=AuditEntry.Action.UPDATE, obj=conv,
                         changes={"status": [before, conv.status]}, extra={"call_id": event.call_id})
        if conv.contact_id is None and contact is not None:
            conv.contact, conv.company = contact, company
            fields |= {"contact", "company"}
        conv.save(update_fields=[*fields, "updated_at"])
    message = Message.objects.create(
        conversation=conv, channel=channel,
        direction=MessageDirection.OUTBOUND if event.direction == "out" else MessageDirection.INBOUND,
        external_id=event.call_id, from_address=(raw_number if event.direction == "in" else event.extension)[:320],
        from_name=(contact.full_name if contact else "")[:255], to=[event.to_number] if event.to_number else [],
        sent_at=event.at, author=agent if event.direction == "out" else None, flags=flags,
    )
    message.conversation = conv
    return message


def _subject(call: dict) -> str:
    number = phone_display(call["number"]) if call.get("number") else _("a hidden number")
    if call.get("state") == "missed":
        return _("Missed call from %(number)s") % {"number": number}
    if call.get("direction") == "out":
        return _("Call to %(number)s") % {"number": number}
    return _("Call from %(number)s") % {"number": number}


def _summary(call: dict) -> str:
    lines = []
    if call.get("extension"):
        lines.append(_("Extension: %(ext)s") % {"ext": call["extension"]})
    if call.get("agent"):
        lines.append(_("Agent: %(agent)s") % {"agent": call["agent"]})
    if call.get("duration") is not None:
        lines.append(_("Duration: %(s)d s") % {"s": call["duration"]})
    if call.get("recording"):
        lines.append(_("Recording: %(url)s") % {"url": call["recording"]})
    return "\n".join(lines)


def _publish_ringing(channel: Channel, message: Message, agent: User | None) -> None:
    conv = message.conversation
    topics = _topics(channel, agent, conv.contact, conv.company)
    message.flags["call"]["topics"] = topics
    target = agent or client_owner(conv.contact, conv.company)
    payload = call_card(channel=channel, message=message, language=getattr(target, "language", None))
    live_publish(topics, "call.ringing", payload)


def _final(channel: Channel, message: Message, conv: Conversation, event: CallEvent, agent: User | None,
           routed: list[int]) -> None:
    """ended / missed: the timeline entry, the conversation's state, a call-back task for a missed call, and
    `call.ended` to where the call popped up."""
    call = message.flags["call"]
    missed = event.event == "missed"
    started = when_parse(call.get("started_at"))[0]
    author = agent or (User.objects.filter(username=call.get("agent"), is_active=True).first()
                       if call.get("agent") else None)
    if conv.contact_id or conv.company_id:
        body_lines = [_summary(call)] if _summary(call) else []
        body_html = ""
        if call.get("recording"):
            url = html.escape(call["recording"], quote=True)
            body_html = "<p>" + "<br>".join(html.escape(line) for line in body_lines[0].split("\n")) + \
                f'</p><p><a href="{url}">{html.escape(_("Listen to the recording"))}</a></p>'
        interaction, _created = timeline_write(author=author, data={
            "channel": "call",
            "direction": "out" if call.get("direction") == "out" else "in",
            "occurred_at": started,
            "duration_seconds": call.get("duration") if not missed else 0,
            "subject": _subject(call)[:255],
            "outcome": _("Missed") if missed else _("Answered"),
            "body": "\n".join(body_lines),
            "body_html": body_html,
            "external_id": f"{channel.pk}:{call['id']}"[:255],
            "contact_id": conv.contact_id,
            "company_id": conv.company_id,
        })
        message.interaction = interaction
        message.save(update_fields=["interaction"])
    if missed:
        _callback_task(channel, message, conv, agent)
        if conv.status == ConversationStatus.NEW and not conv.owner_id:
            routed.append(conv.pk)
    elif conv.status != ConversationStatus.CLOSED:
        before = conv.status
        conv.status, conv.closed_at = ConversationStatus.CLOSED, timezone.now()
        conv.save(update_fields=["status", "closed_at", "updated_at"])
        audit_record(actor=None, action=AuditEntry.Action.UPDATE, obj=conv,
                     changes={"status": [before, ConversationStatus.CLOSED]},
                     extra={"call_id": call["id"], "reason": "call ended"})
    topics = call.get("topics") or _topics(channel, agent, conv.contact, conv.company)
    live_publish(topics, "call.ended", {"call_id": call["id"], "conversation_id": conv.pk,
                                        "state": event.event, "number": call.get("number", "")})


def _callback_task(channel: Channel, message: Message, conv: Conversation, agent: User | None) -> None:
    from kramar.activities.services import task_create

    call = message.flags["call"]
    if call.get("task_id"):
        return
    assignee = _callback_assignee(channel, agent, conv)
    if assignee is None:
        call["task_unassigned"] = True
        return
    try:
        minutes = int(_settings(channel).get("callback_minutes", DEFAULT_CALLBACK_MINUTES))
    except (TypeError, ValueError):
        minutes = DEFAULT_CALLBACK_MINUTES
    number = phone_display(call["number"]) if call.get("number") else _("a hidden number")
    name = conv.contact.full_name if conv.contact and conv.contact.full_name else number
    task = task_create(actor=system_actor(), source="system", data={
        "kind": "call",
        "title": (_("Call back %(name)s (missed call)") % {"name": name})[:255],
        "description": _("Missed call from %(number)s at %(when)s on %(channel)s.") % {
            "number": number, "when": formats.date_format(timezone.localtime(when_parse(call.get("started_at"))[0]),
                                                          "SHORT_DATETIME_FORMAT"),
            "channel": channel.name},
        "priority": "high",
        "due_at": timezone.now() + dt.timedelta(minutes=max(minutes, 0)),
        "owner_id": assignee.pk,
        "contact_id": conv.contact_id,
        "company_id": conv.company_id,
    })
    call["task_id"] = task.pk

