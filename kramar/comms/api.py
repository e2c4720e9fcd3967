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
not of the secret), checked by `If-Match` under a row lock, so two administrators cannot overwrite each other."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Query, Router, Status

from kramar.accounts.models import User
from kramar.clients.models import Company, Contact
from kramar.comms import routing, selectors, services
from kramar.comms.choices import AssignmentStatus, ChannelKind, Presence, Priority
from kramar.comms.ingest import MAIL_KINDS
from kramar.comms.models import (
    AgentProfile,
    Assignment,
    BusinessHours,
    Channel,
    Conversation,
    InboundFailure,
    Message,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)
from kramar.comms.routing_rules import rules_dry_run, rules_validate
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
    check_version,
    cursor_decode,
    cursor_encode,
    etag_for,
    expected_version,
    json_dumps,
    json_response,
    keyset_filter,
    paginate,
)
from kramar.core.audit import audit_record, diff
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.models import AuditEntry

router = Router(tags=["communication center"])


class CommsConflict(DomainError):
    """The state of a conversation, an offer or a configuration row forbids the action (409)."""

    status = 409


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

PRIORITY_NAMES: dict[int, str] = {
    Priority.LOW: "low", Priority.NORMAL: "normal", Priority.HIGH: "high", Priority.URGENT: "urgent",
}
PRIORITIES: dict[str, int] = {name: value for value, name in PRIORITY_NAMES.items()}

# Settings keys that would hold a credential: refused on write (it belongs in `secret`), never shown.
SECRET_KEY_RE = re.compile(r"pass|secret|token|api_?key|credential", re.IGNORECASE)
SETTINGS_MAX_CHARS = 20_000
MAX_PATTERN = 500


# ----------------------------------------------------------------------------------------- helpers


def _user_ref(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": f"{user.first_name} {user.last_name}".strip() or user.username}


def _ref(obj) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": obj.name} if obj is not None else None


def _fingerprint(data: dict[str, Any]) -> int:
    """A 48-bit fingerprint of a configuration row's settings: its ETag (an integer, like a version)."""
    digest = hashlib.sha256(json_dumps(data).encode()).digest()
    return int.from_bytes(digest[:6], "big") or 1


# Whole sentences per record and action, so that every language words each refusal in full.
ADMIN_DENIED = {
    "channel": gettext_lazy("Only administrators may change the channels."),
    "queue": gettext_lazy("Only administrators may change the queues."),
    "slapolicy": gettext_lazy("Only administrators may change the SLA targets."),
    "routingrule": gettext_lazy("Only administrators may change the routing rules."),
    "inboundfailure": gettext_lazy("Only administrators may see and resolve the unprocessed items."),
}


def _admin_required(request: HttpRequest, model, action: str) -> None:
    """Superusers, and staff users with the model's Django permission (`comms.<action>_<model>`); else 403."""
    user = actor(request)
    name = model._meta.model_name
    if user.is_superuser or (user.is_staff and user.has_perm(f"comms.{action}_{name}")):
        return
    raise PermissionDenied(str(ADMIN_DENIED[name]))


def _not_null(data: dict[str, Any], *names: str) -> None:
    errors = {name: [_("may not be null")] for name in names if name in data and data[name] is None}
    if errors:
        raise ValidationFailed(errors)


def _text(data: dict[str, Any], name: str, *, required: bool) -> str | None:
    """A trimmed text field; None when absent (PATCH). Blank where required: 422."""
    if name not in data:
        if required:
            raise ValidationFailed({name: [_("This field is required.")]})
        return None
    value = (data[name] or "").strip()
    if required and not value:
        raise ValidationFailed({name: [_("This field is required.")]})
    return value


def _skills(values: list[str] | None) -> list[str]:
    seen: dict[str, str] = {}
    for value in values or []:
        value = value.strip()
        if value and value.casefold() not in seen:
            seen[value.casefold()] = value
    return list(seen.values())


def _users(ids: list[int], field: str) -> list[User]:
    wanted = list(dict.fromkeys(ids))
    users = {u.pk: u for u in User.objects.filter(pk__in=wanted, is_active=True)}
    missing = [str(pk) for pk in wanted if pk not in users]
    if missing:
        raise ValidationFailed({field: [_("No such active user: %(ids)s.") % {"ids": ", ".join(missing)}]})
    return [users[pk] for pk in wanted]


def _with_fingerprint(request: HttpRequest, current: int) -> None:
    """Refuse a stale `If-Match` (412 version_conflict): the row changed since the caller read it."""
    check_version(current, expected_version(request))


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


def _settings_shown(settings: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (settings or {}).items() if not SECRET_KEY_RE.search(str(k))}


def _channel_out(c: Channel) -> dict[str, Any]:
    return {
        "id": c.pk,
        "kind": c.kind,
        "name": c.name,
        "address": c.address,
        "active": c.active,
        "settings": _settings_shown(c.settings),
        "has_secret": bool(c.secret),
        "queue": _ref(c.queue),
        "last_polled_at": c.last_polled_at,
        "last_error": c.last_error,
        "error_count": c.error_count,
        "next_attempt_at": c.next_attempt_at,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _channel_fingerprint(c: Channel) -> int:
    return _fingerprint({"kind": c.kind, "name": c.name, "address": c.address, "active": c.active,
                         "settings": c.settings or {}, "has_secret": bool(c.secret), "queue": c.queue_id})


def _is_positive_int(value: Any, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high


def _settings_errors(kind: str, settings: dict[str, Any], address: str) -> dict[str, list[str]]:
    """The minimal checks of a kind's settings (what the poller and the webhooks read), by key."""
    errors: dict[str, list[str]] = {}
    if len(json_dumps(settings)) > SETTINGS_MAX_CHARS:
        return {"settings": [_("The settings are too long.")]}
    for key in settings:
        if SECRET_KEY_RE.search(str(key)):
            errors[f"settings.{key}"] = [_("Put passwords and secrets in `secret`: settings are shown to readers.")]
    if kind in MAIL_KINDS and (kind == ChannelKind.EMAIL or "host" in settings):
        host = settings.get("host")
        if not isinstance(host, str) or not host.strip():
            errors["settings.host"] = [_("An e-mail channel needs its IMAP server (host).")]
        username = settings.get("username")
        if username is not None and not isinstance(username, str):
            errors["settings.username"] = [_("The user name must be text.")]
        elif not (username or "").strip() and not address:
            errors["settings.username"] = [_("An e-mail channel needs the mailbox's user name (or an address).")]
        if "port" in settings and not _is_positive_int(settings["port"], 65535):
            errors["settings.port"] = [_("The port must be a whole number from 1 to 65535.")]
        if "security" in settings and settings["security"] not in ("ssl", "starttls", "none"):
            errors["settings.security"] = [_('The security must be "ssl", "starttls" or "none".')]
        if "folder" in settings and (not isinstance(settings["folder"], str) or not settings["folder"].strip()):
            errors["settings.folder"] = [_("The folder must be a folder name.")]
        if "mark_seen" in settings and not isinstance(settings["mark_seen"], bool):
            errors["settings.mark_seen"] = [_("mark_seen must be true or false.")]
        for key in ("batch_size", "poll_seconds"):
            if key in settings and not _is_positive_int(settings[key], 86_400):
                errors[f"settings.{key}"] = [_("This must be a positive whole number.")]
    if kind == ChannelKind.WEBFORM and "allowed_origins" in settings:
        origins = settings["allowed_origins"]
        if not isinstance(origins, list) or not all(isinstance(o, str) and o.strip() for o in origins):
            errors["settings.allowed_origins"] = [_("The allowed origins must be a list of addresses.")]
    return errors


def _queue_or_422(pk: int | None, field: str) -> Queue | None:
    if pk is None:
        return None
    queue = Queue.objects.filter(pk=pk).first()
    if queue is None:
        raise ValidationFailed({field: [_("No such queue.")]})
    return queue


def _channel_apply(channel: Channel, data: dict[str, Any], *, creating: bool) -> None:
    _not_null(data, "name", "active", "kind")
    if not creating and "kind" in data and data["kind"] != channel.kind:
        raise ValidationFailed({"kind": [_("A channel's kind cannot change; create another channel.")]})
    name = _text(data, "name", required=creating)
    if name is not None:
        channel.name = name
    if not channel.name:
        raise ValidationFailed({"name": [_("This field is required.")]})
    address = _text(data, "address", required=False)
    if address is not None:
        channel.address = address
    if "active" in data:
        channel.active = data["active"]
    if "settings" in data or creating:
        channel.settings = data.get("settings") or {}
    if "secret" in data:
        channel.secret = data["secret"] or ""
    if "queue_id" in data:
        channel.queue = _queue_or_422(data["queue_id"], "queue_id")
    if creating or "settings" in data or "address" in data:  # a rename does not re-judge older settings
        errors = _settings_errors(channel.kind, channel.settings or {}, channel.address)
        if errors:
            raise ValidationFailed(errors)


AUDITED_CHANNEL_FIELDS = ("kind", "name", "address", "active", "settings", "queue")


def _channel_snapshot(c: Channel) -> dict[str, Any]:
    return {"kind": c.kind, "name": c.name, "address": c.address, "active": c.active,
            "settings": _settings_shown(c.settings), "queue": c.queue_id}


def _row(qs, pk: int, *, lock: bool, missing: str):
    """One configuration row of `qs` by id, locked (its own table only) for an update, else 404 `missing`."""
    if lock:
        qs = qs.select_for_update(of=("self",))
    row = qs.filter(pk=pk).first()
    if row is None:
        raise Http404(missing)
    return row


def _channel_get(pk: int, *, lock: bool = False) -> Channel:
    return _row(Channel.objects.select_related("queue"), pk, lock=lock, missing="No such channel")


def _channel_response(channel: Channel, *, status: int = 200) -> HttpResponse:
    channel = _channel_get(channel.pk)
    return json_response(_channel_out(channel), status=status,
                         headers={"ETag": etag_for(_channel_fingerprint(channel))})


@router.get("/channels/", response={200: ChannelPage, **LIST_ERRORS}, operation_id="comms_channel_list")
def channel_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """The channels (mailboxes, telephony, web forms …) with their polling state; secrets are never shown."""
    rows, next_cursor = _page(Channel.objects.select_related("queue"), ("kind", "name", "id"),
                              ["text", "text", "int"], "kind", cursor, limit)
    return json_response({"items": [_channel_out(c) for c in rows], "next_cursor": next_cursor})


@router.post("/channels/", response={201: ChannelOut, **CREATE_ERRORS}, operation_id="comms_channel_create")
def channel_create_op(request, payload: ChannelIn):
    """Add a channel (administrators). E-mail channels need `settings.host` and a user name (`settings.username`
    or the `address`); the password goes in `secret` (write-only)."""
    _admin_required(request, Channel, "add")
    data = payload.dict(exclude_unset=True)
    with transaction.atomic():
        channel = Channel(kind=data["kind"])
        _channel_apply(channel, data, creating=True)
        channel.save()
        audit_record(actor=actor(request), action=AuditEntry.Action.CREATE, obj=channel,
                     changes=diff({}, _channel_snapshot(channel)), extra={"secret_set": bool(channel.secret)})
    return _channel_response(channel, status=201)


@router.get("/channels/{channel_id}", response={200: ChannelOut, **READ_ERRORS}, operation_id="comms_channel_get")
def channel_get_op(request, channel_id: Id):
    """One channel; the `ETag` header is the fingerprint of its settings for `If-Match`."""
    return _channel_response(_channel_get(channel_id))


@router.patch(
    "/channels/{channel_id}", response={200: ChannelOut, **UPDATE_ERRORS}, operation_id="comms_channel_update"
)
def channel_update_op(request, channel_id: Id, payload: ChannelPatch):
    """Change some fields (administrators). `settings`, when sent, replaces them all; `secret` replaces the secret
    (`""` removes it). `If-Match`: 412 when the channel changed since you read it."""
    _admin_required(request, Channel, "change")
    data = payload.dict(exclude_unset=True)
    with transaction.atomic():
        channel = _channel_get(channel_id, lock=True)
        _with_fingerprint(request, _channel_fingerprint(channel))
        before = _channel_snapshot(channel)
        old_secret = channel.secret
        _channel_apply(channel, data, creating=False)
        channel.save()
        audit_record(actor=actor(request), action=AuditEntry.Action.UPDATE, obj=channel,
                     changes=diff(before, _channel_snapshot(channel)),
                     extra={"secret_changed": True} if channel.secret != old_secret else None)
    return _channel_response(channel)


@router.delete("/channels/{channel_id}", response={204: None, **DELETE_ERRORS}, operation_id="comms_channel_delete")
def channel_delete_op(request, channel_id: Id):
    """Delete a channel that never brought anything in (204). One with conversations or unprocessed items is kept
    (their originals stay): 409 `channel_in_use`; deactivate it instead (`PATCH {"active": false}`)."""
    _admin_required(request, Channel, "delete")
    with transaction.atomic():
        channel = _channel_get(channel_id, lock=True)
        _with_fingerprint(request, _channel_fingerprint(channel))
        conversations = Conversation.objects.filter(channel=channel).count()
        failures = InboundFailure.objects.filter(channel=channel).count()
        if conversations or failures or Message.objects.filter(channel=channel).exists():
            raise CommsConflict(
                "channel_in_use",
                _("The channel has conversations or unprocessed items; deactivate it instead of deleting it."),
                {"conversations": conversations, "failures": failures},
            )
        audit_record(actor=actor(request), action=AuditEntry.Action.DELETE, obj=channel,
                     changes=diff(_channel_snapshot(channel), {}))
        channel.delete()
    return Status(204, None)


# ----------------------------------------------------------------------------------------- queues


def _queue_qs() -> QuerySet[Queue]:
    return Queue.objects.select_related("overflow_queue", "business_hours").prefetch_related(
        "memberships__user", "supervisors")


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


def _queue_snapshot(q: Queue) -> dict[str, Any]:
    return {
        "name": q.name, "description": q.description, "strategy": q.strategy,
        "members": sorted(m.user_id for m in q.memberships.all()),
        "supervisors": sorted(u.pk for u in q.supervisors.all()),
        "accept_minutes": q.accept_minutes, "max_waiting": q.max_waiting, "overflow_queue": q.overflow_queue_id,
        "business_hours": q.business_hours_id, "active": q.active, "position": q.position,
        "skills": list(q.skills or []),
    }


def _queue_get(pk: int, *, lock: bool = False) -> Queue:
    return _row(_queue_qs(), pk, lock=lock, missing="No such queue")


def _queue_response(queue: Queue, *, status: int = 200) -> HttpResponse:
    queue = _queue_get(queue.pk)
    return json_response(_queue_out(queue), status=status,
                         headers={"ETag": etag_for(_fingerprint(_queue_snapshot(queue)))})


def _overflow_check(queue: Queue, target_id: int | None) -> Queue | None:
    """The overflow target: another existing queue whose own overflow chain does not lead back (422 otherwise)."""
    target = _queue_or_422(target_id, "overflow_queue_id")
    if target is None:
        return None
    if queue.pk is not None and target.pk == queue.pk:
        raise ValidationFailed({"overflow_queue_id": [_("A queue cannot overflow into itself.")]})
    seen = {queue.pk, target.pk} if queue.pk is not None else {target.pk}
    chain = dict(Queue.objects.values_list("pk", "overflow_queue_id"))
    step = chain.get(target.pk)
    while step is not None:
        if step in seen:
            raise ValidationFailed({"overflow_queue_id": [
                _("The overflow queues would go round in a circle; choose a queue that does not overflow back.")]})
        seen.add(step)
        step = chain.get(step)
    return target


def _queue_apply(queue: Queue, data: dict[str, Any], *, creating: bool) -> tuple[list[User] | None, list[User] | None]:
    """Set the queue's fields from `data` (unsaved); returns the new members and supervisors (None: unchanged)."""
    _not_null(data, "name", "strategy", "accept_minutes", "active", "position", "member_ids", "supervisor_ids")
    name = _text(data, "name", required=creating)
    if name is not None:
        if Queue.objects.filter(name__iexact=name).exclude(pk=queue.pk).exists():
            raise ValidationFailed({"name": [_("A queue with this name already exists.")]})
        queue.name = name
    description = _text(data, "description", required=False)
    if description is not None:
        queue.description = description
    for key in ("strategy", "accept_minutes", "active", "position"):
        if key in data:
            setattr(queue, key, data[key])
    if "max_waiting" in data:
        queue.max_waiting = data["max_waiting"]
    if "skills" in data:
        queue.skills = _skills(data["skills"])
    if "business_hours_id" in data:
        hours_id = data["business_hours_id"]
        hours = BusinessHours.objects.filter(pk=hours_id).first() if hours_id else None
        if hours_id and hours is None:
            raise ValidationFailed({"business_hours_id": [_("No such business hours.")]})
        queue.business_hours = hours
    if "overflow_queue_id" in data:
        queue.overflow_queue = _overflow_check(queue, data["overflow_queue_id"])
    members = _users(data["member_ids"], "member_ids") if "member_ids" in data else None
    supervisors = _users(data["supervisor_ids"], "supervisor_ids") if "supervisor_ids" in data else None
    return members, supervisors


def _queue_people_set(queue: Queue, members: list[User] | None, supervisors: list[User] | None) -> None:
    if members is not None:
        ids = [u.pk for u in members]
        QueueMember.objects.filter(queue=queue).exclude(user_id__in=ids).delete()
        have = set(QueueMember.objects.filter(queue=queue).values_list("user_id", flat=True))
        QueueMember.objects.bulk_create([QueueMember(queue=queue, user_id=pk) for pk in ids if pk not in have])
    if supervisors is not None:
        queue.supervisors.set(supervisors)


@router.get("/queues/", response={200: QueuePage, **LIST_ERRORS}, operation_id="comms_queue_list")
def queue_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """The queues in their order, with members, supervisors and the assignment strategy."""
    rows, next_cursor = _page(_queue_qs(), ("position", "name", "id"), ["int", "text", "int"], "position",
                              cursor, limit)
    return json_response({"items": [_queue_out(q) for q in rows], "next_cursor": next_cursor})


@router.post("/queues/", response={201: QueueOut, **CREATE_ERRORS}, operation_id="comms_queue_create")
def queue_create_op(request, payload: QueueIn):
    """Add a queue (administrators). `member_ids` are its agents (capacity is each agent's own, not per queue)."""
    _admin_required(request, Queue, "add")
    data = payload.dict(exclude_unset=True)
    with transaction.atomic():
        queue = Queue()
        members, supervisors = _queue_apply(queue, data, creating=True)
        queue.save()
        _queue_people_set(queue, members, supervisors)
        queue = _queue_get(queue.pk)
        audit_record(actor=actor(request), action=AuditEntry.Action.CREATE, obj=queue,
                     changes=diff({}, _queue_snapshot(queue)))
    return _queue_response(queue, status=201)


@router.get("/queues/{queue_id}", response={200: QueueOut, **READ_ERRORS}, operation_id="comms_queue_get")
def queue_get_op(request, queue_id: Id):
    """One queue; the `ETag` header is the fingerprint of its settings for `If-Match`."""
    return _queue_response(_queue_get(queue_id))


@router.patch("/queues/{queue_id}", response={200: QueueOut, **UPDATE_ERRORS}, operation_id="comms_queue_update")
def queue_update_op(request, queue_id: Id, payload: QueuePatch):
    """Change some fields (administrators); `member_ids` / `supervisor_ids`, when sent, replace the lists. An
    overflow queue that leads back to this one is 422. `If-Match`: 412 when the queue changed meanwhile."""
    _admin_required(request, Queue, "change")
    data = payload.dict(exclude_unset=True)
    with transaction.atomic():
        queue = _queue_get(queue_id, lock=True)
        before = _queue_snapshot(queue)
        _with_fingerprint(request, _fingerprint(before))
        members, supervisors = _queue_apply(queue, data, creating=False)
        queue.save()
        _queue_people_set(queue, members, supervisors)
        queue = _queue_get(queue.pk)
        audit_record(actor=actor(request), action=AuditEntry.Action.UPDATE, obj=queue,
                     changes=diff(before, _queue_snapshot(queue)))
    return _queue_response(queue)


# ----------------------------------------------------------------------------------------- SLA targets


def _sla_out(p: SlaPolicy) -> dict[str, Any]:
    return {
        "id": p.pk,
        "queue_id": p.queue_id,
        "priority": PRIORITY_NAMES[p.priority],
        "first_response_minutes": p.first_response_minutes,
        "resolution_minutes": p.resolution_minutes,
        "warn_before_minutes": p.warn_before_minutes,
    }


def _sla_get(queue_id: int, sla_id: int, *, lock: bool = False) -> SlaPolicy:
    return _row(SlaPolicy.objects.filter(queue_id=queue_id), sla_id, lock=lock, missing="No such SLA target")


def _sla_apply(policy: SlaPolicy, data: dict[str, Any]) -> None:
    _not_null(data, "priority", "first_response_minutes", "warn_before_minutes")
    if "priority" in data:
        policy.priority = PRIORITIES[data["priority"]]
        if SlaPolicy.objects.filter(queue_id=policy.queue_id, priority=policy.priority).exclude(pk=policy.pk).exists():
            raise ValidationFailed({"priority": [_("This queue already has a target for this priority.")]})
    for key in ("first_response_minutes", "resolution_minutes", "warn_before_minutes"):
        if key in data:
            setattr(policy, key, data[key])


@router.get("/queues/{queue_id}/sla", response={200: SlaPage, **READ_ERRORS, **LIST_ERRORS},
            operation_id="comms_sla_list")
def sla_list_op(request, queue_id: Id, limit: Limit = 50, cursor: Cursor = None):
    """The queue's SLA targets, one per priority (first response and resolution in business minutes)."""
    queue = _queue_get(queue_id)
    page = paginate(SlaPolicy.objects.filter(queue=queue), order=("priority", "id"), sort="priority",
                    cursor=cursor, limit=limit)
    return {"items": [_sla_out(p) for p in page["items"]], "next_cursor": page["next_cursor"]}


@router.post("/queues/{queue_id}/sla", response={201: SlaOut, **CREATE_ERRORS}, operation_id="comms_sla_create")
def sla_create_op(request, queue_id: Id, payload: SlaIn):
    """Add the queue's target for a priority (administrators); a second one for the same priority is 422."""
    _admin_required(request, SlaPolicy, "add")
    with transaction.atomic():
        queue = _queue_get(queue_id, lock=True)
        policy = SlaPolicy(queue=queue)
        _sla_apply(policy, payload.dict())
        policy.save()
        audit_record(actor=actor(request), action=AuditEntry.Action.CREATE, obj=policy,
                     changes=diff({}, _sla_out(policy)))
    return Status(201, _sla_out(policy))


@router.patch("/queues/{queue_id}/sla/{sla_id}", response={200: SlaOut, **UPDATE_ERRORS},
              operation_id="comms_sla_update")
def sla_update_op(request, queue_id: Id, sla_id: Id, payload: SlaPatch):
    """Change a target (administrators). Conversations already routed keep their dues."""
    _admin_required(request, SlaPolicy, "change")
    with transaction.atomic():
        policy = _sla_get(queue_id, sla_id, lock=True)
        before = _sla_out(policy)
        _sla_apply(policy, payload.dict(exclude_unset=True))
        policy.save()
        audit_record(actor=actor(request), action=AuditEntry.Action.UPDATE, obj=policy,
                     changes=diff(before, _sla_out(policy)))
    return _sla_out(policy)


@router.delete("/queues/{queue_id}/sla/{sla_id}", response={204: None, **DELETE_ERRORS},
               operation_id="comms_sla_delete")
def sla_delete_op(request, queue_id: Id, sla_id: Id):
    _admin_required(request, SlaPolicy, "delete")
    with transaction.atomic():
        policy = _sla_get(queue_id, sla_id, lock=True)
        audit_record(actor=actor(request), action=AuditEntry.Action.DELETE, obj=policy,
                     changes=diff(_sla_out(policy), {}))
        policy.delete()
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


def _rule_snapshot(r: RoutingRule) -> dict[str, Any]:
    return {"position": r.position, "name": r.name, "active": r.active, "conditions": list(r.conditions or []),
            "queue": r.queue_id, "priority": r.priority, "skills": list(r.skills or [])}


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (isinstance(value, str) and len(value) > 1000)


def conditions_problems(conditions: list[Any]) -> list[str]:
    """Every problem of a rule's conditions, in words, condition by condition: `rules_validate`'s (unknown field or
    operator, a pattern that does not compile), then the shape of the value."""
    problems: list[str] = []
    for n, c in enumerate(conditions, start=1):
        if not isinstance(c, dict):
            problems.append(_('Condition %(n)s is not an object like {"field", "op", "value"}.') % {"n": n})
            continue
        found = rules_validate([c])
        problems += found
        if found:
            continue
        unknown = sorted(str(k) for k in set(c) - {"field", "op", "value"})
        if unknown:
            problems.append(_("Condition %(n)s has unknown keys: %(keys)s.") % {"n": n, "keys": ", ".join(unknown)})
        op, value = c.get("op", "eq"), c.get("value")
        if value is None:
            problems.append(_("Condition %(n)s has no value.") % {"n": n})
        elif op == "in":
            if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
                problems.append(_("Condition %(n)s: “in” needs a list of values.") % {"n": n})
        elif not _scalar(value):
            problems.append(_("Condition %(n)s: the value must be one text or number.") % {"n": n})
        elif op == "matches" and len(str(value)) > MAX_PATTERN:
            problems.append(_("Condition %(n)s: the pattern is too long.") % {"n": n})
        elif c.get("field") == "business_hours" and str(value).casefold() not in ("in", "out"):
            problems.append(_('Condition %(n)s: business_hours is "in" or "out".') % {"n": n})
    return problems


def _rule_apply(rule: RoutingRule, data: dict[str, Any], *, creating: bool, prefix: str = "") -> None:
    """Set the rule's fields from `data` (unsaved); every problem raises 422 naming the field (with `prefix`)."""
    errors: dict[str, list[str]] = {}
    for name in ("name", "active", "conditions", "queue_id", "priority", "skills", "position"):
        if name in data and data[name] is None:
            errors[prefix + name] = [_("may not be null")]
    if errors:
        raise ValidationFailed(errors)
    if "name" in data or creating:
        name = (data.get("name") or "").strip()
        if not name:
            errors[prefix + "name"] = [_("This field is required.")]
        rule.name = name
    if "queue_id" in data:
        queue = Queue.objects.filter(pk=data["queue_id"]).first()
        if queue is None:
            errors[prefix + "queue_id"] = [_("No such queue.")]
        else:
            rule.queue = queue
    elif creating:
        errors[prefix + "queue_id"] = [_("This field is required.")]
    if "conditions" in data:
        problems = conditions_problems(data["conditions"])
        if problems:
            errors[prefix + "conditions"] = problems
        rule.conditions = data["conditions"]
    if "priority" in data:
        rule.priority = PRIORITIES[data["priority"]]
    if "skills" in data:
        rule.skills = _skills(data["skills"])
    for key in ("active", "position"):
        if key in data:
            setattr(rule, key, data[key])
    if errors:
        raise ValidationFailed(errors)


def _rule_get(pk: int, *, lock: bool = False) -> RoutingRule:
    return _row(RoutingRule.objects.select_related("queue"), pk, lock=lock, missing="No such routing rule")


def _rule_response(rule: RoutingRule, *, status: int = 200) -> HttpResponse:
    rule = _rule_get(rule.pk)
    return json_response(_rule_out(rule), status=status, headers={"ETag": etag_for(_fingerprint(_rule_snapshot(rule)))})


@router.get("/rules/", response={200: RulePage, **LIST_ERRORS}, operation_id="comms_rule_list")
def rule_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """The routing rules in the order they are tried (`position`, then id); the first that matches decides."""
    rows, next_cursor = _page(RoutingRule.objects.select_related("queue"), ("position", "id"), ["int", "int"],
                              "position", cursor, limit)
    return json_response({"items": [_rule_out(r) for r in rows], "next_cursor": next_cursor})


@router.post("/rules/", response={201: RuleOut, **CREATE_ERRORS}, operation_id="comms_rule_create")
def rule_create_op(request, payload: RuleIn):
    """Add a rule (administrators), after the last one unless `position` says otherwise. Bad conditions are 422
    naming `conditions`, one message per problem."""
    _admin_required(request, RoutingRule, "add")
    data = payload.dict(exclude_unset=True)
    with transaction.atomic():
        rule = RoutingRule(conditions=[], skills=[])
        _rule_apply(rule, data, creating=True)
        if "position" not in data:
            last = RoutingRule.objects.aggregate(last=Max("position"))["last"]
            rule.position = 1 if last is None else last + 1
        rule.save()
        audit_record(actor=actor(request), action=AuditEntry.Action.CREATE, obj=rule,
                     changes=diff({}, _rule_snapshot(rule)))
    return _rule_response(rule, status=201)


@router.post("/rules/reorder", response={200: RuleList, **UPDATE_ERRORS}, operation_id="comms_rule_reorder")
def rule_reorder_op(request, payload: RuleReorderIn):
    """Put the rules in a new order (administrators): `ids` lists every rule once; positions become 1, 2, 3 …"""
    _admin_required(request, RoutingRule, "change")
    with transaction.atomic():
        rules = {r.pk: r for r in RoutingRule.objects.select_for_update().order_by("pk")}
        if len(set(payload.ids)) != len(payload.ids) or set(payload.ids) != set(rules):
            raise ValidationFailed({"ids": [_("List every rule exactly once (%(n)s rules).") % {"n": len(rules)}]})
        now = timezone.now()
        changed = []
        for position, pk in enumerate(payload.ids, start=1):
            rule = rules[pk]
            if rule.position != position:
                # updated_at moves too: the engine's rule cache reloads on it
                rule.position, rule.updated_at = position, now
                changed.append(rule)
        RoutingRule.objects.bulk_update(changed, ["position", "updated_at"])
        for rule in changed:
            audit_record(actor=actor(request), action=AuditEntry.Action.UPDATE, obj=rule,
                         extra={"reorder": True, "position": rule.position})
    ordered = RoutingRule.objects.select_related("queue").order_by("position", "id")
    return json_response({"items": [_rule_out(r) for r in ordered]})


@router.post("/rules/dry-run", response={200: DryRunOut, **ADMIN_LIST_ERRORS}, operation_id="comms_rule_dry_run")
def rule_dry_run_op(request, payload: DryRunIn):
    """Replay the conversations opened in the last `days` days against a proposed rule set (the same shape as
    creating rules, in order; nothing is saved) and count how many would go to another queue than the saved rules
    send them to: `{total, changed, moves: [{from_queue, to_queue, count}]}` (a null queue: none). Rules of
    inactive queues are left out, as the engine does. Writes nothing."""
    _admin_required(request, RoutingRule, "change")
    proposed: list[RoutingRule] = []
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(payload.rules):
        rule = RoutingRule(conditions=[], skills=[], position=i + 1)
        try:
            _rule_apply(rule, item.dict(exclude_unset=True), creating=True, prefix=f"rules[{i}].")
        except ValidationFailed as exc:
            errors.update(exc.errors)
            continue
        if rule.queue.active:
            proposed.append(rule)
    if errors:
        raise ValidationFailed(errors)
    report = rules_dry_run(proposed, days=payload.days)
    names = {name for pair in report.moves for name in pair}
    by_name = {q.name: q for q in Queue.objects.filter(name__in=names)}

    def queue_ref(name: str) -> dict[str, Any] | None:
        queue = by_name.get(name)
        return _ref(queue) if queue is not None else None

    moves = [{"from_queue": queue_ref(a), "to_queue": queue_ref(b), "count": n} for a, b, n in report.as_rows()]
    return {"days": report.days, "total": report.total, "changed": report.changed, "moves": moves}


@router.get("/rules/{rule_id}", response={200: RuleOut, **READ_ERRORS}, operation_id="comms_rule_get")
def rule_get_op(request, rule_id: Id):
    """One rule; the `ETag` header is the fingerprint of its settings for `If-Match`."""
    return _rule_response(_rule_get(rule_id))


@router.patch("/rules/{rule_id}", response={200: RuleOut, **UPDATE_ERRORS}, operation_id="comms_rule_update")
def rule_update_op(request, rule_id: Id, payload: RulePatch):
    """Change some fields (administrators); `conditions`, when sent, replace them all. `If-Match`: 412 if stale."""
    _admin_required(request, RoutingRule, "change")
    with transaction.atomic():
        rule = _rule_get(rule_id, lock=True)
        before = _rule_snapshot(rule)
        _with_fingerprint(request, _fingerprint(before))
        _rule_apply(rule, payload.dict(exclude_unset=True), creating=False)
        rule.save()
        audit_record(actor=actor(request), action=AuditEntry.Action.UPDATE, obj=rule,
                     changes=diff(before, _rule_snapshot(rule)))
    return _rule_response(rule)


@router.delete("/rules/{rule_id}", response={204: None, **DELETE_ERRORS}, operation_id="comms_rule_delete")
def rule_delete_op(request, rule_id: Id):
    """Delete a rule (administrators); conversations it routed keep their queue. `If-Match`: 412 if stale."""
    _admin_required(request, RoutingRule, "delete")
    with transaction.atomic():
        rule = _rule_get(rule_id, lock=True)
        _with_fingerprint(request, _fingerprint(_rule_snapshot(rule)))
        audit_record(actor=actor(request), action=AuditEntry.Action.DELETE, obj=rule,
                     changes=diff(_rule_snapshot(rule), {}))
        rule.delete()
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


def _loads(user_ids: list[int]) -> dict[int, int]:
    """Each agent's load as the routing engine counts it (weighted conversations not closed)."""
    return routing._loads(user_ids, routing.load_weights(), exclude_conversation=None)


def _presence_out(user, profile: AgentProfile | None, load: int) -> dict[str, Any]:
    return {
        "user": _user_ref(user),
        "presence": profile.presence if profile else Presence.OFFLINE,
        "presence_changed_at": profile.presence_changed_at if profile else None,
        "last_seen_at": profile.last_seen_at if profile else None,
        "capacity": profile.capacity if profile else AgentProfile._meta.get_field("capacity").default,
        "skills": list(profile.skills or []) if profile else [],
        "load": load,
    }


def _my_presence(request: HttpRequest) -> dict[str, Any]:
    me = actor(request)
    profile = AgentProfile.objects.filter(user=me).first()
    return _presence_out(me, profile, _loads([me.pk]).get(me.pk, 0))


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
    me = actor(request)
    if me.is_superuser or (me.is_staff and me.has_perm("comms.view_agentprofile")):
        qs = User.objects.filter(Q(pk__in=AgentProfile.objects.values("user_id"))
                                 | Q(pk__in=QueueMember.objects.values("user_id")))
    elif selectors.may_supervise(me):
        queues = selectors.supervised_queues(me).values("pk")
        qs = User.objects.filter(pk__in=QueueMember.objects.filter(queue_id__in=queues).values("user_id"))
    else:
        raise PermissionDenied(_("Only supervisors and administrators may see the agents."))
    qs = qs.filter(is_active=True)
    if queue is not None:
        qs = qs.filter(pk__in=QueueMember.objects.filter(queue_id=queue).values("user_id"))
    if presence == Presence.OFFLINE:
        qs = qs.exclude(pk__in=AgentProfile.objects.exclude(presence=Presence.OFFLINE).values("user_id"))
    elif presence is not None:
        qs = qs.filter(pk__in=AgentProfile.objects.filter(presence=presence).values("user_id"))
    rows, next_cursor = _page(qs, ("id",), ["int"], "id", cursor, limit)
    ids = [u.pk for u in rows]
    profiles = {p.user_id: p for p in AgentProfile.objects.filter(user_id__in=ids)}
    loads = _loads(ids)
    queues: dict[int, list[int]] = {pk: [] for pk in ids}
    for user_id, queue_id in QueueMember.objects.filter(user_id__in=ids).order_by("queue_id").values_list(
            "user_id", "queue_id"):
        queues[user_id].append(queue_id)
    items = [{**_presence_out(u, profiles.get(u.pk), loads.get(u.pk, 0)), "queue_ids": queues[u.pk]} for u in rows]
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


def _failure_get(pk: int) -> InboundFailure:
    return _row(InboundFailure.objects.select_related("channel"), pk, lock=False, missing="No such unprocessed item")


@router.get("/failures/", response={200: FailurePage, **ADMIN_LIST_ERRORS}, operation_id="comms_failure_list")
def failure_list_op(request, filters: Query[FailureFilters]):
    """Inbound items that could not be processed (kept raw with the reason), newest first (administrators)."""
    _admin_required(request, InboundFailure, "view")
    qs = InboundFailure.objects.select_related("channel")
    if filters.resolved is not None:
        qs = qs.filter(resolved_at__isnull=not filters.resolved)
    if filters.channel:
        qs = qs.filter(channel_id=filters.channel)
    rows, next_cursor = _page(qs, ("-created_at", "-id"), ["datetime", "int"], "-created", filters.cursor,
                              filters.limit)
    return json_response({"items": [_failure_out(f) for f in rows], "next_cursor": next_cursor})


@router.get("/failures/{failure_id}", response={200: FailureOut, **_errors(401, 403, 404, 422)},
            operation_id="comms_failure_get")
def failure_get_op(request, failure_id: Id):
    _admin_required(request, InboundFailure, "view")
    return _failure_out(_failure_get(failure_id))


@router.get("/failures/{failure_id}/raw", response={200: None, **_errors(401, 403, 404, 422)},
            operation_id="comms_failure_raw")
def failure_raw_op(request, failure_id: Id):
    """The original bytes as received (an e-mail as `message/rfc822`), as a download; none kept: 404."""
    _admin_required(request, InboundFailure, "view")
    failure = _failure_get(failure_id)
    if not failure.raw:
        raise Http404("No original kept")
    name = failure.raw.name.rsplit("/", 1)[-1]
    try:
        handle = failure.raw.open("rb")
    except FileNotFoundError:
        raise Http404("The original is missing") from None
    kind = "message/rfc822" if name.endswith(".eml") else mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(handle, as_attachment=True, filename=name, content_type=kind)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.post("/failures/{failure_id}/resolve", response={200: FailureOut, **_errors(401, 403, 404, 409, 422)},
             operation_id="comms_failure_resolve")
def failure_resolve_op(request, failure_id: Id):
    """Mark an item resolved (handled by hand); one already resolved is 409 `failure_already_resolved`."""
    _admin_required(request, InboundFailure, "change")
    failure = _failure_get(failure_id)
    if not InboundFailure.objects.filter(pk=failure.pk, resolved_at__isnull=True).update(resolved_at=timezone.now()):
        raise CommsConflict("failure_already_resolved", _("This item is already resolved."))
    failure = _failure_get(failure.pk)
    audit_record(actor=actor(request), action=AuditEntry.Action.UPDATE, obj=failure,
                 changes={"resolved_at": [None, failure.resolved_at]})
    return _failure_out(failure)


