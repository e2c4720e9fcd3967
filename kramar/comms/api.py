"""REST API of the Communication Center (/api/v1/comms/…): channels, queues with their SLA targets, routing rules
(with the dry run), conversations with their messages and assignment log, the assignment actions (accept, decline,
transfer), replies, notes, close and reopen, presence, the agents' board and the unprocessed items, with the core
API's conventions (docs/api.md, "Communication Center").

Who may do what:
- configuration (channels, queues, SLA targets, rules) is read by every signed-in user (a channel's `secret` is
  never shown) and written by administrators only: superusers, or staff users holding the model's Django
  permission (`comms.add_channel`, `comms.change_queue`, `comms.delete_routingrule` …); anyone else gets 403;
- conversations are read through `kramar.comms.selectors` (role scope, plus the waiting conversations of the
  caller's queues): outside it every operation is 404;
- the agents' board is for administrators (superusers, staff with `comms.view_agentprofile`) and supervisors of a
  queue (they see their queues' members); unprocessed items for superusers and staff with
  `comms.view_inboundfailure` (`comms.change_inboundfailure` to resolve).

Configuration rows have no stored version: their ETag is a fingerprint of their settings (not of polling state,
not of the secret), checked by `If-Match` under a row lock, so two administrators cannot overwrite each other.

Each operation parses, calls one selector or service and renders: the configuration's writes (permissions,
validation, row locks, fingerprints, audit rows) are in `kramar.comms.config_services`, its reads and who may change
it in `kramar.comms.config_selectors`; the conversation actions in `kramar.comms.services`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kramar.accounts.models import User
from kramar.clients.models import Company, Contact
from kramar.comms import config_selectors, config_services, selectors, services
from kramar.comms.choices import AssignmentStatus, Presence
from kramar.comms.config_selectors import AgentState
from kramar.comms.config_services import PRIORITIES, PRIORITY_NAMES, CommsConflict
from kramar.comms.models import (
    AgentProfile,
    Assignment,
    Channel,
    Conversation,
    InboundFailure,
    Message,
    Queue,
    RoutingRule,
)
from kramar.comms.schemas import (
    AgentPage,
    AssignmentOut,
    AssignmentPage,
    ChannelIn,
    ChannelOut,
    ChannelPage,
    ChannelPatch,
    CommsProblem,
    ConversationFilters,
    ConversationOut,
    ConversationPage,
    DryRunIn,
    DryRunOut,
    FailureFilters,
    FailureOut,
    FailurePage,
    MessageOut,
    MessagePage,
    NoteIn,
    PresenceIn,
    PresenceName,
    PresenceOut,
    QueueIn,
    QueueOut,
    QueuePage,
    QueuePatch,
    ReplyIn,
    RuleIn,
    RuleList,
    RuleOut,
    RulePage,
    RulePatch,
    RuleReorderIn,
    SlaIn,
    SlaOut,
    SlaPage,
    SlaPatch,
    TransferIn,
)
from kramar.core import scopes
from kramar.core.api_support import (
    Cursor,
    Id,
    Limit,
    actor,
    cursor_decode,
    cursor_encode,
    etag_for,
    expected_version,
    json_response,
    keyset_filter,
    paginate,
)
from kramar.core.errors import DomainError, ValidationFailed

router = Router(tags=["communication center"])

def _errors(*statuses: int) -> dict[int, type[CommsProblem]]:
    """The problem responses an operation can give (the OpenAPI document lists them). 400: a malformed body or
    query, or a bad cursor; 401: no valid credentials; 403: not an administrator (configuration), not allowed
    (transfer) or the CSRF check; 404: no such record, or a conversation outside your scope; 409: the state forbids
    the action; 412: a stale `If-Match`; 422: bad values, naming the field."""
    return dict.fromkeys(statuses, CommsProblem)


LIST_ERRORS = _errors(400, 401, 422)
READ_ERRORS = _errors(401, 404, 422)
ADMIN_LIST_ERRORS = _errors(400, 401, 403, 422)
CREATE_ERRORS = _errors(400, 401, 403, 404, 422)
UPDATE_ERRORS = _errors(400, 401, 403, 404, 412, 422)
DELETE_ERRORS = _errors(401, 403, 404, 409, 412, 422)
ACTION_ERRORS = _errors(400, 401, 403, 404, 409, 422)


# ----------------------------------------------------------------------------------------- helpers


def _user_ref(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": f"{user.first_name} {user.last_name}".strip() or user.username}


def _ref(obj) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": obj.name} if obj is not None else None


def _page(qs: QuerySet, order: tuple[str, ...], kinds: list[str], sort: str, cursor: str | None, limit: int):
    """A keyset page of `qs` in `order` (the last column unique): (rows, next_cursor)."""
    if cursor:
        qs = qs.filter(keyset_filter(order, cursor_decode(cursor, sort, kinds)))
    rows = list(qs.order_by(*order)[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, cursor_encode(sort, [getattr(rows[-1], f.lstrip("-")) for f in order])


# ----------------------------------------------------------------------------------------- channels


def _channel_out(c: Channel) -> dict[str, Any]:
    return {
        "id": c.pk,
        "kind": c.kind,
        "name": c.name,
        "address": c.address,
        "active": c.active,
        "settings": config_services.channel_settings_shown(c.settings),
        "has_secret": bool(c.secret),
        "queue": _ref(c.queue),
        "last_polled_at": c.last_polled_at,
        "last_error": c.last_error,
        "error_count": c.error_count,
        "next_attempt_at": c.next_attempt_at,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _channel_response(channel: Channel, *, status: int = 200) -> HttpResponse:
    channel = config_selectors.channel_get(pk=channel.pk)
    return json_response(_channel_out(channel), status=status,
                         headers={"ETag": etag_for(config_services.channel_fingerprint(channel))})


@router.get("/channels/", response={200: ChannelPage, **LIST_ERRORS}, operation_id="comms_channel_list")
def channel_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """The channels (mailboxes, telephony, web forms …) with their polling state; secrets are never shown."""
    rows, next_cursor = _page(config_selectors.channel_list(), ("kind", "name", "id"),
                              ["text", "text", "int"], "kind", cursor, limit)
    return json_response({"items": [_channel_out(c) for c in rows], "next_cursor": next_cursor})


@router.post("/channels/", response={201: ChannelOut, **CREATE_ERRORS}, operation_id="comms_channel_create")
def channel_create_op(request, payload: ChannelIn):
    """Add a channel (administrators). E-mail channels need `settings.host` and a user name (`settings.username`
    or the `address`); the password goes in `secret` (write-only)."""
    channel = config_services.channel_create(actor=actor(request), data=payload.dict(exclude_unset=True))
    return _channel_response(channel, status=201)


@router.get("/channels/{channel_id}", response={200: ChannelOut, **READ_ERRORS}, operation_id="comms_channel_get")
def channel_get_op(request, channel_id: Id):
    """One channel; the `ETag` header is the fingerprint of its settings for `If-Match`."""
    return _channel_response(config_selectors.channel_get(pk=channel_id))


@router.patch(
    "/channels/{channel_id}", response={200: ChannelOut, **UPDATE_ERRORS}, operation_id="comms_channel_update"
)
def channel_update_op(request, channel_id: Id, payload: ChannelPatch):
    """Change some fields (administrators). `settings`, when sent, replaces them all; `secret` replaces the secret
    (`""` removes it). `If-Match`: 412 when the channel changed since you read it."""
    channel = config_services.channel_update(actor=actor(request), channel_id=channel_id,
                                             data=payload.dict(exclude_unset=True),
                                             expected_version=expected_version(request))
    return _channel_response(channel)


@router.delete("/channels/{channel_id}", response={204: None, **DELETE_ERRORS}, operation_id="comms_channel_delete")
def channel_delete_op(request, channel_id: Id):
    """Delete a channel that never brought anything in (204). One with conversations or unprocessed items is kept
    (their originals stay): 409 `channel_in_use`; deactivate it instead (`PATCH {"active": false}`)."""
    config_services.channel_delete(actor=actor(request), channel_id=channel_id,
                                   expected_version=expected_version(request))
    return Status(204, None)


# ----------------------------------------------------------------------------------------- queues


def _queue_out(q: Queue) -> dict[str, Any]:
    members = sorted((m.user for m in q.memberships.all()), key=lambda u: u.pk)
    return {
        "id": q.pk,
        "name": q.name,
        "description": q.description,
        "strategy": q.strategy,
        "members": [_user_ref(u) for u in members],
        "supervisors": [_user_ref(u) for u in sorted(q.supervisors.all(), key=lambda u: u.pk)],
        "accept_minutes": q.accept_minutes,
        "max_waiting": q.max_waiting,
        "overflow_queue": _ref(q.overflow_queue),
        "business_hours": _ref(q.business_hours),
        "active": q.active,
        "position": q.position,
        "skills": list(q.skills or []),
    }


def _queue_response(queue: Queue, *, status: int = 200) -> HttpResponse:
    queue = config_selectors.queue_get(pk=queue.pk)
    return json_response(_queue_out(queue), status=status,
                         headers={"ETag": etag_for(config_services.queue_fingerprint(queue))})


@router.get("/queues/", response={200: QueuePage, **LIST_ERRORS}, operation_id="comms_queue_list")
def queue_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """The queues in their order, with members, supervisors and the assignment strategy."""
    rows, next_cursor = _page(config_selectors.queue_list(), ("position", "name", "id"), ["int", "text", "int"],
                              "position", cursor, limit)
    return json_response({"items": [_queue_out(q) for q in rows], "next_cursor": next_cursor})


@router.post("/queues/", response={201: QueueOut, **CREATE_ERRORS}, operation_id="comms_queue_create")
def queue_create_op(request, payload: QueueIn):
    """Add a queue (administrators). `member_ids` are its agents (capacity is each agent's own, not per queue)."""
    queue = config_services.queue_create(actor=actor(request), data=payload.dict(exclude_unset=True))
    return _queue_response(queue, status=201)


@router.get("/queues/{queue_id}", response={200: QueueOut, **READ_ERRORS}, operation_id="comms_queue_get")
def queue_get_op(request, queue_id: Id):
    """One queue; the `ETag` header is the fingerprint of its settings for `If-Match`."""
    return _queue_response(config_selectors.queue_get(pk=queue_id))


@router.patch("/queues/{queue_id}", response={200: QueueOut, **UPDATE_ERRORS}, operation_id="comms_queue_update")
def queue_update_op(request, queue_id: Id, payload: QueuePatch):
    """Change some fields (administrators); `member_ids` / `supervisor_ids`, when sent, replace the lists. An
    overflow queue that leads back to this one is 422. `If-Match`: 412 when the queue changed meanwhile."""
    queue = config_services.queue_update(actor=actor(request), queue_id=queue_id,
                                         data=payload.dict(exclude_unset=True),
                                         expected_version=expected_version(request))
    return _queue_response(queue)


# ----------------------------------------------------------------------------------------- SLA targets


@router.get("/queues/{queue_id}/sla", response={200: SlaPage, **READ_ERRORS, **LIST_ERRORS},
            operation_id="comms_sla_list")
def sla_list_op(request, queue_id: Id, limit: Limit = 50, cursor: Cursor = None):
    """The queue's SLA targets, one per priority (first response and resolution in business minutes)."""
    page = paginate(config_selectors.sla_policy_list(queue_id=queue_id), order=("priority", "id"), sort="priority",
                    cursor=cursor, limit=limit)
    return {"items": [config_services.sla_policy_snapshot(p) for p in page["items"]], "next_cursor": page["next_cursor"]}


@router.post("/queues/{queue_id}/sla", response={201: SlaOut, **CREATE_ERRORS}, operation_id="comms_sla_create")
def sla_create_op(request, queue_id: Id, payload: SlaIn):
    """Add the queue's target for a priority (administrators); a second one for the same priority is 422."""
    policy = config_services.sla_policy_create(actor=actor(request), queue_id=queue_id, data=payload.dict())
    return Status(201, config_services.sla_policy_snapshot(policy))


@router.patch("/queues/{queue_id}/sla/{sla_id}", response={200: SlaOut, **UPDATE_ERRORS},
              operation_id="comms_sla_update")
def sla_update_op(request, queue_id: Id, sla_id: Id, payload: SlaPatch):
    """Change a target (administrators). Conversations already routed keep their dues."""
    policy = config_services.sla_policy_update(actor=actor(request), queue_id=queue_id, sla_id=sla_id,
                                               data=payload.dict(exclude_unset=True))
    return config_services.sla_policy_snapshot(policy)


@router.delete("/queues/{queue_id}/sla/{sla_id}", response={204: None, **DELETE_ERRORS},
               operation_id="comms_sla_delete")
def sla_delete_op(request, queue_id: Id, sla_id: Id):
    config_services.sla_policy_delete(actor=actor(request), queue_id=queue_id, sla_id=sla_id)
    return Status(204, None)


# ----------------------------------------------------------------------------------------- routing rules


def _rule_out(r: RoutingRule) -> dict[str, Any]:
    return {
        "id": r.pk,
        "position": r.position,
        "name": r.name,
        "active": r.active,
        "conditions": list(r.conditions or []),
        "queue": _ref(r.queue),
        "priority": PRIORITY_NAMES[r.priority],
        "skills": list(r.skills or []),
        "updated_at": r.updated_at,
    }


def _rule_response(rule: RoutingRule, *, status: int = 200) -> HttpResponse:
    rule = config_selectors.routing_rule_get(pk=rule.pk)
    return json_response(_rule_out(rule), status=status,
                         headers={"ETag": etag_for(config_services.routing_rule_fingerprint(rule))})


@router.get("/rules/", response={200: RulePage, **LIST_ERRORS}, operation_id="comms_rule_list")
def rule_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """The routing rules in the order they are tried (`position`, then id); the first that matches decides."""
    rows, next_cursor = _page(config_selectors.routing_rule_list(), ("position", "id"), ["int", "int"],
                              "position", cursor, limit)
    return json_response({"items": [_rule_out(r) for r in rows], "next_cursor": next_cursor})


@router.post("/rules/", response={201: RuleOut, **CREATE_ERRORS}, operation_id="comms_rule_create")
def rule_create_op(request, payload: RuleIn):
    """Add a rule (administrators), after the last one unless `position` says otherwise. Bad conditions are 422
    naming `conditions`, one message per problem."""
    rule = config_services.routing_rule_create(actor=actor(request), data=payload.dict(exclude_unset=True))
    return _rule_response(rule, status=201)


@router.post("/rules/reorder", response={200: RuleList, **UPDATE_ERRORS}, operation_id="comms_rule_reorder")
def rule_reorder_op(request, payload: RuleReorderIn):
    """Put the rules in a new order (administrators): `ids` lists every rule once; positions become 1, 2, 3 …"""
    config_services.routing_rules_reorder(actor=actor(request), ids=payload.ids)
    return json_response({"items": [_rule_out(r) for r in config_selectors.routing_rule_list()]})


@router.post("/rules/dry-run", response={200: DryRunOut, **ADMIN_LIST_ERRORS}, operation_id="comms_rule_dry_run")
def rule_dry_run_op(request, payload: DryRunIn):
    """Replay the conversations opened in the last `days` days against a proposed rule set (the same shape as
    creating rules, in order; nothing is saved) and count how many would go to another queue than the saved rules
    send them to: `{total, changed, moves: [{from_queue, to_queue, count}]}` (a null queue: none). Rules of
    inactive queues are left out, as the engine does. Writes nothing."""
    result = config_services.routing_rules_dry_run(
        actor=actor(request), rules=[item.dict(exclude_unset=True) for item in payload.rules], days=payload.days)
    moves = [{"from_queue": _ref(a), "to_queue": _ref(b), "count": n} for a, b, n in result.moves]
    return {"days": result.days, "total": result.total, "changed": result.changed, "moves": moves}


@router.get("/rules/{rule_id}", response={200: RuleOut, **READ_ERRORS}, operation_id="comms_rule_get")
def rule_get_op(request, rule_id: Id):
    """One rule; the `ETag` header is the fingerprint of its settings for `If-Match`."""
    return _rule_response(config_selectors.routing_rule_get(pk=rule_id))


@router.patch("/rules/{rule_id}", response={200: RuleOut, **UPDATE_ERRORS}, operation_id="comms_rule_update")
def rule_update_op(request, rule_id: Id, payload: RulePatch):
    """Change some fields (administrators); `conditions`, when sent, replace them all. `If-Match`: 412 if stale."""
    rule = config_services.routing_rule_update(actor=actor(request), rule_id=rule_id,
                                               data=payload.dict(exclude_unset=True),
                                               expected_version=expected_version(request))
    return _rule_response(rule)


@router.delete("/rules/{rule_id}", response={204: None, **DELETE_ERRORS}, operation_id="comms_rule_delete")
def rule_delete_op(request, rule_id: Id):
    """Delete a rule (administrators); conversations it routed keep their queue. `If-Match`: 412 if stale."""
    config_services.routing_rule_delete(actor=actor(request), rule_id=rule_id,
                                        expected_version=expected_version(request))
    return Status(204, None)


# ----------------------------------------------------------------------------------------- conversations

# Sort key → (order, kinds of the cursor values); the id breaks ties.
CONVERSATION_SORTS: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "-last_message": (("-last_message_at", "-id"), ["datetime", "int"]),
    "last_message": (("last_message_at", "id"), ["datetime", "int"]),
    "-opened": (("-opened_at", "-id"), ["datetime", "int"]),
    "opened": (("opened_at", "id"), ["datetime", "int"]),
    "-priority": (("-priority", "opened_at", "id"), ["int", "datetime", "int"]),
}


def _visible(request: HttpRequest) -> QuerySet[Conversation]:
    return selectors.conversations_visible(actor(request))


def _conversation(request: HttpRequest, pk: int) -> Conversation:
    """The conversation if the caller may see it, else 404."""
    return selectors.conversation_get(actor=actor(request), pk=pk)


@contextmanager
def _conflicts(**codes: str) -> Iterator[None]:
    """Turn the services' plain DomainErrors about a conversation's state into 409s with our codes
    (`closed="conversation_closed"`); validation errors and other codes pass unchanged."""
    try:
        yield
    except DomainError as exc:
        if type(exc) is DomainError and exc.code in codes:
            raise CommsConflict(codes[exc.code], exc.message, exc.extra) from None
        raise


def _aware(value):
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def _conversation_filter(request: HttpRequest, qs: QuerySet[Conversation], f: ConversationFilters):
    if f.status:
        qs = qs.filter(status=f.status)
    if f.queue:
        qs = qs.filter(queue_id=f.queue)
    if f.owner:
        qs = qs.filter(owner_id=actor(request).pk if f.owner == "me" else int(f.owner))
    if f.channel_kind:
        qs = qs.filter(kind=f.channel_kind)
    if f.channel:
        qs = qs.filter(channel_id=f.channel)
    if f.contact:
        qs = qs.filter(contact_id=f.contact)
    if f.company:
        qs = qs.filter(company_id=f.company)
    if f.priority:
        qs = qs.filter(priority=PRIORITIES[f.priority])
    if f.breached is not None:
        qs = qs.filter(sla_breached_at__isnull=not f.breached)
    if f.opened_after:
        qs = qs.filter(opened_at__gte=_aware(f.opened_after))
    if f.opened_before:
        qs = qs.filter(opened_at__lt=_aware(f.opened_before))
    if f.q and f.q.strip():
        qs = qs.filter(subject__icontains=f.q.strip())
    return qs


def _clients_seen(request: HttpRequest, convs: list[Conversation]) -> tuple[set[int], set[int]]:
    """Which linked contacts and companies the reader may see (their names are shown only then)."""
    reader = actor(request)
    return (scopes.visible_ids(reader, Contact, [c.contact_id for c in convs]),
            scopes.visible_ids(reader, Company, [c.company_id for c in convs]))


def _link(obj, pk: int | None, seen: set[int]) -> dict[str, Any] | None:
    if pk is None:
        return None
    return {"id": pk, "name": str(obj) if pk in seen else None}


def _conversation_item(c: Conversation, seen: tuple[set[int], set[int]]) -> dict[str, Any]:
    return {
        "id": c.pk,
        "subject": c.subject,
        "status": c.status,
        "priority": PRIORITY_NAMES.get(c.priority, str(c.priority)),
        "kind": c.kind,
        "channel": _ref(c.channel),
        "queue": _ref(c.queue),
        "owner": _user_ref(c.owner),
        "team_id": c.team_id,
        "contact": _link(c.contact, c.contact_id, seen[0]),
        "company": _link(c.company, c.company_id, seen[1]),
        "opened_at": c.opened_at,
        "last_message_at": c.last_message_at,
        "first_response_due": c.first_response_due,
        "resolution_due": c.resolution_due,
        "sla_breached_at": c.sla_breached_at,
        "breached": c.sla_breached_at is not None,
        "version": c.version,
    }


def _conversation_response(request: HttpRequest, pk: int, *, status: int = 200) -> HttpResponse:
    conv = _conversation(request, pk)
    offer = (Assignment.objects.filter(conversation=conv, status=AssignmentStatus.OFFERED).select_related("user")
             .order_by("-created_at", "-id").first())
    data = {
        **_conversation_item(conv, _clients_seen(request, [conv])),
        "language": conv.language,
        "rule_id": conv.rule_id,
        "last_inbound_at": conv.last_inbound_at,
        "first_response_at": conv.first_response_at,
        "closed_at": conv.closed_at,
        "offer": ({"id": offer.pk, "user": _user_ref(offer.user), "expires_at": offer.expires_at}
                  if offer is not None else None),
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
    }
    return json_response(data, status=status, headers={"ETag": etag_for(conv.version)})


@router.get("/conversations/", response={200: ConversationPage, **LIST_ERRORS}, operation_id="comms_conversation_list")
def conversation_list_op(request, filters: Query[ConversationFilters]):
    """Conversations you may see (your scope, plus those waiting in your queues), filtered and sorted, a page at a
    time (follow `next_cursor`). `owner=me`: yours; `breached=true`: SLA breached; `q`: text in the subject."""
    qs = _conversation_filter(request, _visible(request), filters)
    qs = qs.select_related("channel", "queue", "owner", "contact", "company")
    order, kinds = CONVERSATION_SORTS[filters.sort]
    rows, next_cursor = _page(qs, order, kinds, filters.sort, filters.cursor, filters.limit)
    seen = _clients_seen(request, rows)
    return json_response({"items": [_conversation_item(c, seen) for c in rows], "next_cursor": next_cursor})


@router.get("/conversations/{conversation_id}", response={200: ConversationOut, **READ_ERRORS},
            operation_id="comms_conversation_get")
def conversation_get_op(request, conversation_id: Id):
    """One conversation: client, queue, agent, SLA dues and breach, the open offer; `ETag` carries its version."""
    return _conversation_response(request, conversation_id)


def _message_out(m: Message) -> dict[str, Any]:
    return {
        "id": m.pk,
        "direction": m.direction,
        "from_address": m.from_address,
        "from_name": m.from_name,
        "to": list(m.to or []),
        "cc": list(m.cc or []),
        "subject": m.subject,
        "body": m.body,
        "body_html": m.body_html,
        "sent_at": m.sent_at,
        "received_at": m.received_at,
        "author": _user_ref(m.author),
        "is_auto_reply": m.is_auto_reply,
        "is_bounce": m.is_bounce,
        "has_raw": bool(m.raw),
        "flags": dict(m.flags or {}),
    }


@router.get("/conversations/{conversation_id}/messages", response={200: MessagePage, **LIST_ERRORS, **READ_ERRORS},
            operation_id="comms_message_list")
def message_list_op(request, conversation_id: Id, limit: Limit = 50, cursor: Cursor = None):
    """The conversation's messages and internal notes, oldest first, a page at a time."""
    conv = _conversation(request, conversation_id)
    rows, next_cursor = _page(Message.objects.filter(conversation=conv).select_related("author"),
                              ("sent_at", "id"), ["datetime", "int"], "sent", cursor, limit)
    return json_response({"items": [_message_out(m) for m in rows], "next_cursor": next_cursor})


def _assignment_out(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "conversation_id": a.conversation_id,
        "status": a.status,
        "queue": _ref(a.queue),
        "user": _user_ref(a.user),
        "decided_by": _user_ref(a.decided_by),
        "reason": a.reason,
        "created_at": a.created_at,
        "expires_at": a.expires_at,
        "accepted_at": a.accepted_at,
    }


@router.get("/conversations/{conversation_id}/assignments",
            response={200: AssignmentPage, **LIST_ERRORS, **READ_ERRORS}, operation_id="comms_assignment_list")
def assignment_list_op(request, conversation_id: Id, limit: Limit = 50, cursor: Cursor = None):
    """The conversation's routing decisions, newest first: offers, acceptances, declines, expiries, transfers and
    waits, each with its reason in words."""
    conv = _conversation(request, conversation_id)
    qs = Assignment.objects.filter(conversation=conv).select_related("queue", "user", "decided_by")
    rows, next_cursor = _page(qs, ("-created_at", "-id"), ["datetime", "int"], "-created", cursor, limit)
    return json_response({"items": [_assignment_out(a) for a in rows], "next_cursor": next_cursor})


# ----------------------------------------------------------------------------------------- offers and transfers


def _my_offer(request: HttpRequest, conv: Conversation) -> Assignment:
    """The caller's open, unexpired offer of the conversation; 409 `no_offer` / `offer_expired` otherwise."""
    offer = (Assignment.objects.filter(conversation=conv, user=actor(request), status=AssignmentStatus.OFFERED)
             .order_by("-created_at", "-id").first())
    if offer is None:
        raise CommsConflict("no_offer", _("This conversation is not offered to you."))
    if offer.expires_at is not None and offer.expires_at <= timezone.now():
        raise CommsConflict("offer_expired", _("The offer expired; the conversation goes to the next agent."))
    return offer


@router.post("/conversations/{conversation_id}/accept", response={200: ConversationOut, **ACTION_ERRORS},
             operation_id="comms_conversation_accept")
def conversation_accept_op(request, conversation_id: Id):
    """Take the conversation offered to you: it opens, with you as its agent. No open offer to you: 409
    `no_offer`; expired: 409 `offer_expired`; taken meanwhile: 409 `offer_closed`."""
    conv = _conversation(request, conversation_id)
    _my_offer(request, conv)
    with _conflicts(offer_closed="offer_closed"):
        services.conversation_accept(actor=actor(request), conversation=conv)
    return _conversation_response(request, conv.pk)


def _decision(assignment: Assignment) -> dict[str, Any]:
    return _assignment_out(Assignment.objects.select_related("queue", "user", "decided_by").get(pk=assignment.pk))


@router.post("/conversations/{conversation_id}/decline", response={200: AssignmentOut, **ACTION_ERRORS},
             operation_id="comms_conversation_decline")
def conversation_decline_op(request, conversation_id: Id):
    """Decline the conversation offered to you: it goes to the next agent (never back to you). Answers the new
    decision (an offer to someone else, or a wait). 409 as for accept."""
    conv = _conversation(request, conversation_id)
    _my_offer(request, conv)
    with _conflicts(offer_closed="offer_closed"):
        decision = services.conversation_decline(actor=actor(request), conversation=conv)
    return _decision(decision)


@router.post("/conversations/{conversation_id}/transfer", response={200: AssignmentOut, **ACTION_ERRORS},
             operation_id="comms_conversation_transfer")
def conversation_transfer_op(request, conversation_id: Id, payload: TransferIn):
    """Hand the conversation to an agent (`user_id`: an offer to them, whatever their load) or a queue (`queue_id`:
    its strategy picks the agent). Allowed to the agent who has it, its queue's supervisors and superusers (403
    otherwise); a closed conversation is 409 `conversation_closed`. Answers the new decision."""
    conv = _conversation(request, conversation_id)
    if (payload.user_id is None) == (payload.queue_id is None):
        raise ValidationFailed({"user_id": [_("Send either user_id (an agent) or queue_id (a queue).")]})
    to_user = to_queue = None
    if payload.user_id is not None:
        to_user = User.objects.filter(pk=payload.user_id, is_active=True).first()
        if to_user is None:
            raise ValidationFailed({"user_id": [_("No such active user.")]})
    else:
        to_queue = Queue.objects.filter(pk=payload.queue_id, active=True).first()
        if to_queue is None:
            raise ValidationFailed({"queue_id": [_("No such active queue.")]})
    try:
        with _conflicts(closed="conversation_closed"):
            decision = services.conversation_hand_over(actor=actor(request), conversation=conv, to_user=to_user,
                                                       to_queue=to_queue)
    except DomainError as exc:
        if exc.code == "not_found":
            raise Http404("No such conversation") from None
        raise
    return _decision(decision)


def _message_response(message: Message) -> HttpResponse:
    message = Message.objects.select_related("author").get(pk=message.pk)
    return json_response(_message_out(message), status=201)


@router.post("/conversations/{conversation_id}/reply", response={201: MessageOut, **ACTION_ERRORS},
             operation_id="comms_conversation_reply")
def conversation_reply_op(request, conversation_id: Id, payload: ReplyIn):
    """Answer the client by e-mail (threaded, through the outbox): `201` with the stored message. The agent who has
    it, a supervisor of its queue or a superuser (403 otherwise); a closed conversation is 409
    `conversation_closed`, one that cannot be answered by e-mail 409 `no_reply_path`. Replying to a conversation
    offered to you accepts it; the conversation then waits for the client (`pending`)."""
    conv = _conversation(request, conversation_id)
    with _conflicts(closed="conversation_closed", no_reply_path="no_reply_path", offer_closed="offer_closed"):
        message = services.conversation_reply(actor=actor(request), conversation=conv, body=payload.body,
                                              cc=payload.cc)
    return _message_response(message)


@router.post("/conversations/{conversation_id}/notes", response={201: MessageOut, **ACTION_ERRORS},
             operation_id="comms_conversation_note")
def conversation_note_op(request, conversation_id: Id, payload: NoteIn):
    """An internal note (never sent to the client); `@username` mentions notify colleagues who may see the
    conversation. Anyone who may see it may write one: `201` with the stored note."""
    conv = _conversation(request, conversation_id)
    message = services.conversation_note(actor=actor(request), conversation=conv, body=payload.body)
    return _message_response(message)


@router.post("/conversations/{conversation_id}/close", response={200: ConversationOut, **ACTION_ERRORS},
             operation_id="comms_conversation_close")
def conversation_close_op(request, conversation_id: Id):
    """Close the conversation (the agent who has it, a supervisor, a superuser; 403 otherwise); open offers end.
    Already closed: 409 `conversation_already_closed`."""
    conv = _conversation(request, conversation_id)
    with _conflicts(closed="conversation_already_closed"):
        services.conversation_close(actor=actor(request), conversation=conv)
    return _conversation_response(request, conv.pk)


@router.post("/conversations/{conversation_id}/reopen", response={200: ConversationOut, **ACTION_ERRORS},
             operation_id="comms_conversation_reopen")
def conversation_reopen_op(request, conversation_id: Id):
    """Open a closed conversation again (its agent keeps it; nobody had it: you take it). Not closed: 409
    `conversation_not_closed`."""
    conv = _conversation(request, conversation_id)
    with _conflicts(not_closed="conversation_not_closed"):
        services.conversation_reopen(actor=actor(request), conversation=conv)
    return _conversation_response(request, conv.pk)


# ----------------------------------------------------------------------------------------- presence and agents


def _presence_out(state: AgentState) -> dict[str, Any]:
    profile = state.profile
    return {
        "user": _user_ref(state.user),
        "presence": profile.presence if profile else Presence.OFFLINE,
        "presence_changed_at": profile.presence_changed_at if profile else None,
        "last_seen_at": profile.last_seen_at if profile else None,
        "capacity": profile.capacity if profile else AgentProfile._meta.get_field("capacity").default,
        "skills": list(profile.skills or []) if profile else [],
        "load": state.load,
    }


def _my_presence(request: HttpRequest) -> dict[str, Any]:
    return _presence_out(config_selectors.agent_presence_get(actor=actor(request)))


@router.get("/presence/me", response={200: PresenceOut, **_errors(401)}, operation_id="comms_presence_get")
def presence_get_op(request):
    """Your presence, capacity, skills and current load."""
    return _my_presence(request)


@router.put("/presence/me", response={200: PresenceOut, **_errors(400, 401, 422)}, operation_id="comms_presence_set")
def presence_set_op(request, payload: PresenceIn):
    """Set your presence; coming online offers you the waiting conversations of your queues."""
    services.agent_presence_set(actor=actor(request), presence=payload.presence)
    return _my_presence(request)


@router.get("/agents", response={200: AgentPage, **ADMIN_LIST_ERRORS}, operation_id="comms_agent_list")
def agent_list_op(request, queue: Id | None = None, presence: PresenceName | None = None, limit: Limit = 50,
                  cursor: Cursor = None):
    """The agents with presence, load (as routing counts it), capacity, skills and queues: every agent for
    administrators (superusers, staff with `comms.view_agentprofile`), the members of the queues they supervise
    for supervisors (roles that see every conversation supervise every queue); anyone else 403."""
    qs = config_selectors.agent_list(actor=actor(request), queue_id=queue, presence=presence)
    rows, next_cursor = _page(qs, ("id",), ["int"], "id", cursor, limit)
    items = [{**_presence_out(a), "queue_ids": a.queue_ids} for a in config_selectors.agent_board(users=rows)]
    return json_response({"items": items, "next_cursor": next_cursor})


# ----------------------------------------------------------------------------------------- unprocessed items


def _failure_out(f: InboundFailure) -> dict[str, Any]:
    return {
        "id": f.pk,
        "channel": _ref(f.channel),
        "channel_kind": f.channel.kind,
        "source_ref": f.source_ref,
        "reason": f.error,
        "created_at": f.created_at,
        "resolved": f.resolved_at is not None,
        "resolved_at": f.resolved_at,
        "has_raw": bool(f.raw),
        "message_id": f.message_id,
    }


@router.get("/failures/", response={200: FailurePage, **ADMIN_LIST_ERRORS}, operation_id="comms_failure_list")
def failure_list_op(request, filters: Query[FailureFilters]):
    """Inbound items that could not be processed (kept raw with the reason), newest first (administrators)."""
    qs = config_selectors.inbound_failure_list(actor=actor(request), resolved=filters.resolved,
                                               channel_id=filters.channel)
    rows, next_cursor = _page(qs, ("-created_at", "-id"), ["datetime", "int"], "-created", filters.cursor,
                              filters.limit)
    return json_response({"items": [_failure_out(f) for f in rows], "next_cursor": next_cursor})


@router.get("/failures/{failure_id}", response={200: FailureOut, **_errors(401, 403, 404, 422)},
            operation_id="comms_failure_get")
def failure_get_op(request, failure_id: Id):
    return _failure_out(config_selectors.inbound_failure_get(actor=actor(request), pk=failure_id))


@router.get("/failures/{failure_id}/raw", response={200: None, **_errors(401, 403, 404, 422)},
            operation_id="comms_failure_raw")
def failure_raw_op(request, failure_id: Id):
    """The original bytes as received (an e-mail as `message/rfc822`), as a download; none kept: 404."""
    return config_selectors.inbound_failure_original(actor=actor(request), pk=failure_id)


@router.post("/failures/{failure_id}/retry", response={200: FailureOut, **_errors(401, 403, 404, 409, 422)},
             operation_id="comms_failure_retry")
def failure_retry_op(request, failure_id: Id):
    """Process an unprocessed e-mail again (after the cause is gone): stored, the item comes back resolved with its
    `message_id`; failing again, it stays open with the new `reason`. 409: already resolved
    (`failure_already_resolved`), not an e-mail (`failure_not_retryable`), original missing (`failure_no_original`)."""
    from kramar.comms.ingest import inbound_failure_retry

    inbound_failure_retry(actor=actor(request), failure_id=failure_id)
    return _failure_out(config_selectors.inbound_failure_get(actor=actor(request), pk=failure_id))


@router.post("/failures/{failure_id}/resolve", response={200: FailureOut, **_errors(401, 403, 404, 409, 422)},
             operation_id="comms_failure_resolve")
def failure_resolve_op(request, failure_id: Id):
    """Mark an item resolved (handled by hand); one already resolved is 409 `failure_already_resolved`."""
    return _failure_out(config_services.inbound_failure_resolve(actor=actor(request), failure_id=failure_id))
