"""Every write to the Communication Center's configuration: channels, queues (members, supervisors, overflow), SLA
targets, routing rules (with their order and the dry run of a proposed set), and resolving unprocessed items.

Each service checks that the actor is an administrator for the model and the action
(`config_selectors.config_admin_require`: 403), re-reads the row under a lock (404), refuses a stale fingerprint
(412 `version_conflict`), validates every field naming it (422, `ValidationFailed`), saves, and writes an audit row
with the diff of the row's settings (never a secret) — in that order, in one transaction. A state that forbids the
action is a `CommsConflict` (409). The REST API (`kramar.comms.api`) and the admin site come through here.

Configuration rows have no stored version: their ETag is a fingerprint of their settings (`channel_fingerprint`,
`queue_fingerprint`, `routing_rule_fingerprint`; not of polling state, not of the secret), which the update and
delete services compare with `expected_version` under the row lock, so two administrators cannot overwrite each
other."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.accounts.models import User
from kramar.comms.choices import ChannelKind, Priority
from kramar.comms.config_selectors import (
    channel_get,
    config_admin_require,
    inbound_failure_get,
    queue_get,
    routing_rule_get,
    sla_policy_get,
)
from kramar.comms.ingest import MAIL_KINDS
from kramar.comms.models import (
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
from kramar.core.api_support import json_dumps
from kramar.core.audit import audit_record, diff
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry


class CommsConflict(DomainError):
    """The state of a conversation, an offer or a configuration row forbids the action (409)."""

    status = 409


PRIORITY_NAMES: dict[int, str] = {
    Priority.LOW: "low", Priority.NORMAL: "normal", Priority.HIGH: "high", Priority.URGENT: "urgent",
}
PRIORITIES: dict[str, int] = {name: value for value, name in PRIORITY_NAMES.items()}

# Settings keys that would hold a credential: refused on write (it belongs in `secret`), never shown.
SECRET_KEY_RE = re.compile(r"pass|secret|token|api_?key|credential", re.IGNORECASE)
SETTINGS_MAX_CHARS = 20_000
MAX_PATTERN = 500


# ----------------------------------------------------------------------------------------- helpers


def config_fingerprint(data: dict[str, Any]) -> int:
    """A 48-bit fingerprint of a configuration row's settings: its ETag (an integer, like a version)."""
    digest = hashlib.sha256(json_dumps(data).encode()).digest()
    return int.from_bytes(digest[:6], "big") or 1


def _version_check(current: int, expected: int | None) -> None:
    """Refuse a stale fingerprint (412 version_conflict): the row changed since the caller read it."""
    if expected is not None and int(expected) != current:
        raise VersionConflict(current_version=current, sent_version=int(expected))


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


def _queue_or_422(pk: int | None, field: str) -> Queue | None:
    if pk is None:
        return None
    queue = Queue.objects.filter(pk=pk).first()
    if queue is None:
        raise ValidationFailed({field: [_("No such queue.")]})
    return queue


# ----------------------------------------------------------------------------------------- channels


def channel_settings_shown(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The settings without the keys that would hold a credential (what readers and the audit trail see)."""
    return {k: v for k, v in (settings or {}).items() if not SECRET_KEY_RE.search(str(k))}


def channel_fingerprint(c: Channel) -> int:
    """The channel's ETag: its settings and whether it has a secret (not its polling state, not the secret)."""
    return config_fingerprint({"kind": c.kind, "name": c.name, "address": c.address, "active": c.active,
                               "settings": c.settings or {}, "has_secret": bool(c.secret), "queue": c.queue_id})


def _channel_snapshot(c: Channel) -> dict[str, Any]:
    return {"kind": c.kind, "name": c.name, "address": c.address, "active": c.active,
            "settings": channel_settings_shown(c.settings), "queue": c.queue_id}


def _is_positive_int(value: Any, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high


def channel_settings_errors(kind: str, settings: dict[str, Any], address: str) -> dict[str, list[str]]:
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
        errors = channel_settings_errors(channel.kind, channel.settings or {}, channel.address)
        if errors:
            raise ValidationFailed(errors)


@transaction.atomic
def channel_create(*, actor: User, data: dict[str, Any]) -> Channel:
    """Add a channel from `data` (the API's fields: `kind`, `name`, `address`, `active`, `settings`, `secret`,
    `queue_id`). E-mail channels need `settings.host` and a user name; a credential in the settings is refused
    (it belongs in `secret`). The audit row says whether a secret was set, never the secret."""
    config_admin_require(actor=actor, model=Channel, action="add")
    channel = Channel(kind=data["kind"])
    _channel_apply(channel, data, creating=True)
    channel.save()
    audit_record(actor=actor, action=AuditEntry.Action.CREATE, obj=channel,
                 changes=diff({}, _channel_snapshot(channel)), extra={"secret_set": bool(channel.secret)})
    return channel


@transaction.atomic
def channel_update(*, actor: User, channel_id: int, data: dict[str, Any],
                   expected_version: int | None = None) -> Channel:
    """Change the fields present in `data`: `settings`, when present, replaces them all; `secret` replaces the
    secret (`""` removes it); the kind never changes. `expected_version`: the fingerprint the caller read."""
    config_admin_require(actor=actor, model=Channel, action="change")
    channel = channel_get(pk=channel_id, lock=True)
    _version_check(channel_fingerprint(channel), expected_version)
    before = _channel_snapshot(channel)
    old_secret = channel.secret
    _channel_apply(channel, data, creating=False)
    channel.save()
    audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=channel,
                 changes=diff(before, _channel_snapshot(channel)),
                 extra={"secret_changed": True} if channel.secret != old_secret else None)
    return channel


@transaction.atomic
def channel_delete(*, actor: User, channel_id: int, expected_version: int | None = None) -> None:
    """Delete a channel that never brought anything in. One with conversations, messages or unprocessed items is
    kept (their originals stay): 409 `channel_in_use` with the counts; deactivate it instead."""
    config_admin_require(actor=actor, model=Channel, action="delete")
    channel = channel_get(pk=channel_id, lock=True)
    _version_check(channel_fingerprint(channel), expected_version)
    conversations = Conversation.objects.filter(channel=channel).count()
    failures = InboundFailure.objects.filter(channel=channel).count()
    if conversations or failures or Message.objects.filter(channel=channel).exists():
        raise CommsConflict(
            "channel_in_use",
            _("The channel has conversations or unprocessed items; deactivate it instead of deleting it."),
            {"conversations": conversations, "failures": failures},
        )
    audit_record(actor=actor, action=AuditEntry.Action.DELETE, obj=channel,
                 changes=diff(_channel_snapshot(channel), {}))
    channel.delete()


# ----------------------------------------------------------------------------------------- queues


def _queue_snapshot(q: Queue) -> dict[str, Any]:
    return {
        "name": q.name, "description": q.description, "strategy": q.strategy,
        "members": sorted(m.user_id for m in q.memberships.all()),
        "supervisors": sorted(u.pk for u in q.supervisors.all()),
        "accept_minutes": q.accept_minutes, "max_waiting": q.max_waiting, "overflow_queue": q.overflow_queue_id,
        "business_hours": q.business_hours_id, "active": q.active, "position": q.position,
        "skills": list(q.skills or []),
    }


def queue_fingerprint(queue: Queue) -> int:
    """The queue's ETag: its settings, members and supervisors (read with `config_selectors.queue_get`)."""
    return config_fingerprint(_queue_snapshot(queue))


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
    """Replace the members (those who stay keep their round-robin place) and the supervisors; None: unchanged."""
    if members is not None:
        ids = [u.pk for u in members]
        QueueMember.objects.filter(queue=queue).exclude(user_id__in=ids).delete()
        have = set(QueueMember.objects.filter(queue=queue).values_list("user_id", flat=True))
        QueueMember.objects.bulk_create([QueueMember(queue=queue, user_id=pk) for pk in ids if pk not in have])
    if supervisors is not None:
        queue.supervisors.set(supervisors)


@transaction.atomic
def queue_create(*, actor: User, data: dict[str, Any]) -> Queue:
    """Add a queue from `data` (the API's fields; `member_ids` are its agents, `supervisor_ids` its supervisors).
    A duplicate name, unknown users or business hours, or an overflow that leads back are 422."""
    config_admin_require(actor=actor, model=Queue, action="add")
    queue = Queue()
    members, supervisors = _queue_apply(queue, data, creating=True)
    queue.save()
    _queue_people_set(queue, members, supervisors)
    queue = queue_get(pk=queue.pk)
    audit_record(actor=actor, action=AuditEntry.Action.CREATE, obj=queue, changes=diff({}, _queue_snapshot(queue)))
    return queue


@transaction.atomic
def queue_update(*, actor: User, queue_id: int, data: dict[str, Any], expected_version: int | None = None) -> Queue:
    """Change the fields present in `data`; `member_ids` / `supervisor_ids`, when present, replace the lists.
    `expected_version`: the fingerprint the caller read (412 when the queue changed meanwhile)."""
    config_admin_require(actor=actor, model=Queue, action="change")
    queue = queue_get(pk=queue_id, lock=True)
    before = _queue_snapshot(queue)
    _version_check(config_fingerprint(before), expected_version)
    members, supervisors = _queue_apply(queue, data, creating=False)
    queue.save()
    _queue_people_set(queue, members, supervisors)
    queue = queue_get(pk=queue.pk)
    audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=queue,
                 changes=diff(before, _queue_snapshot(queue)))
    return queue


# ----------------------------------------------------------------------------------------- SLA targets


def sla_policy_snapshot(p: SlaPolicy) -> dict[str, Any]:
    """An SLA target as the API shows it and the audit log records it."""
    return {
        "id": p.pk,
        "queue_id": p.queue_id,
        "priority": PRIORITY_NAMES[p.priority],
        "first_response_minutes": p.first_response_minutes,
        "resolution_minutes": p.resolution_minutes,
        "warn_before_minutes": p.warn_before_minutes,
    }


def _sla_apply(policy: SlaPolicy, data: dict[str, Any]) -> None:
    _not_null(data, "priority", "first_response_minutes", "warn_before_minutes")
    if "priority" in data:
        policy.priority = PRIORITIES[data["priority"]]
        if SlaPolicy.objects.filter(queue_id=policy.queue_id, priority=policy.priority).exclude(pk=policy.pk).exists():
            raise ValidationFailed({"priority": [_("This queue already has a target for this priority.")]})
    for key in ("first_response_minutes", "resolution_minutes", "warn_before_minutes"):
        if key in data:
            setattr(policy, key, data[key])


@transaction.atomic
def sla_policy_create(*, actor: User, queue_id: int, data: dict[str, Any]) -> SlaPolicy:
    """Add the queue's target for a priority (`priority` as a name: low, normal, high, urgent); a second one for
    the same priority is 422. The queue is locked meanwhile."""
    config_admin_require(actor=actor, model=SlaPolicy, action="add")
    queue = queue_get(pk=queue_id, lock=True)
    policy = SlaPolicy(queue=queue)
    _sla_apply(policy, data)
    policy.save()
    audit_record(actor=actor, action=AuditEntry.Action.CREATE, obj=policy, changes=diff({}, sla_policy_snapshot(policy)))
    return policy


@transaction.atomic
def sla_policy_update(*, actor: User, queue_id: int, sla_id: int, data: dict[str, Any]) -> SlaPolicy:
    """Change a target of the queue (another queue's is 404). Conversations already routed keep their dues."""
    config_admin_require(actor=actor, model=SlaPolicy, action="change")
    policy = sla_policy_get(queue_id=queue_id, pk=sla_id, lock=True)
    before = sla_policy_snapshot(policy)
    _sla_apply(policy, data)
    policy.save()
    audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=policy,
                 changes=diff(before, sla_policy_snapshot(policy)))
    return policy


@transaction.atomic
def sla_policy_delete(*, actor: User, queue_id: int, sla_id: int) -> None:
    config_admin_require(actor=actor, model=SlaPolicy, action="delete")
    policy = sla_policy_get(queue_id=queue_id, pk=sla_id, lock=True)
    audit_record(actor=actor, action=AuditEntry.Action.DELETE, obj=policy, changes=diff(sla_policy_snapshot(policy), {}))
    policy.delete()


# ----------------------------------------------------------------------------------------- routing rules


def _rule_snapshot(r: RoutingRule) -> dict[str, Any]:
    return {"position": r.position, "name": r.name, "active": r.active, "conditions": list(r.conditions or []),
            "queue": r.queue_id, "priority": r.priority, "skills": list(r.skills or [])}


def routing_rule_fingerprint(rule: RoutingRule) -> int:
    return config_fingerprint(_rule_snapshot(rule))


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (isinstance(value, str) and len(value) > 1000)


def rule_conditions_problems(conditions: Iterable[Any]) -> list[str]:
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
        problems = rule_conditions_problems(data["conditions"])
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


@transaction.atomic
def routing_rule_create(*, actor: User, data: dict[str, Any]) -> RoutingRule:
    """Add a rule from `data` (`name`, `queue_id`, `priority` as a name, `active`, `conditions`, `skills`,
    `position`), after the last one unless `position` is given. Bad conditions are 422 naming `conditions`, one
    message per problem."""
    config_admin_require(actor=actor, model=RoutingRule, action="add")
    rule = RoutingRule(conditions=[], skills=[])
    _rule_apply(rule, data, creating=True)
    if "position" not in data:
        last = RoutingRule.objects.aggregate(last=Max("position"))["last"]
        rule.position = 1 if last is None else last + 1
    rule.save()
    audit_record(actor=actor, action=AuditEntry.Action.CREATE, obj=rule, changes=diff({}, _rule_snapshot(rule)))
    return rule


@transaction.atomic
def routing_rule_update(*, actor: User, rule_id: int, data: dict[str, Any],
                        expected_version: int | None = None) -> RoutingRule:
    """Change the fields present in `data`; `conditions`, when present, replace them all. `expected_version`: the
    fingerprint the caller read."""
    config_admin_require(actor=actor, model=RoutingRule, action="change")
    rule = routing_rule_get(pk=rule_id, lock=True)
    before = _rule_snapshot(rule)
    _version_check(config_fingerprint(before), expected_version)
    _rule_apply(rule, data, creating=False)
    rule.save()
    audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=rule, changes=diff(before, _rule_snapshot(rule)))
    return rule


@transaction.atomic
def routing_rule_delete(*, actor: User, rule_id: int, expected_version: int | None = None) -> None:
    """Delete a rule; conversations it routed keep their queue."""
    config_admin_require(actor=actor, model=RoutingRule, action="delete")
    rule = routing_rule_get(pk=rule_id, lock=True)
    _version_check(routing_rule_fingerprint(rule), expected_version)
    audit_record(actor=actor, action=AuditEntry.Action.DELETE, obj=rule, changes=diff(_rule_snapshot(rule), {}))
    rule.delete()


@transaction.atomic
def routing_rules_reorder(*, actor: User, ids: list[int]) -> list[RoutingRule]:
    """Put the rules in the order of `ids`, which lists every rule exactly once (422 `ids` otherwise): positions
    become 1, 2, 3 … Every rule is locked meanwhile; each one that moved gets an audit row. Returns those."""
    config_admin_require(actor=actor, model=RoutingRule, action="change")
    rules = {r.pk: r for r in RoutingRule.objects.select_for_update().order_by("pk")}
    if len(set(ids)) != len(ids) or set(ids) != set(rules):
        raise ValidationFailed({"ids": [_("List every rule exactly once (%(n)s rules).") % {"n": len(rules)}]})
    now = timezone.now()
    changed = []
    for position, pk in enumerate(ids, start=1):
        rule = rules[pk]
        if rule.position != position:
            # updated_at moves too: the engine's rule cache reloads on it
            rule.position, rule.updated_at = position, now
            changed.append(rule)
    RoutingRule.objects.bulk_update(changed, ["position", "updated_at"])
    for rule in changed:
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=rule,
                     extra={"reorder": True, "position": rule.position})
    return changed


@dataclass
class RulesDryRun:
    """What a proposed rule set would change: conversations replayed, how many go elsewhere, and the moves
    (from queue, to queue, count; a None queue: none), most frequent first."""

    days: int
    total: int
    changed: int
    moves: list[tuple[Queue | None, Queue | None, int]]


def routing_rules_dry_run(*, actor: User, rules: list[dict[str, Any]], days: int) -> RulesDryRun:
    """Replay the conversations opened in the last `days` days against the proposed `rules` (each as for
    `routing_rule_create`, in order; nothing is saved) and compare with where the saved rules send them. Needs the
    right to change the rules; every problem is 422 naming the rule (`rules[2].conditions`). Rules of inactive
    queues are left out, as the engine does. Writes nothing."""
    config_admin_require(actor=actor, model=RoutingRule, action="change")
    proposed: list[RoutingRule] = []
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(rules):
        rule = RoutingRule(conditions=[], skills=[], position=i + 1)
        try:
            _rule_apply(rule, item, creating=True, prefix=f"rules[{i}].")
        except ValidationFailed as exc:
            errors.update(exc.errors)
            continue
        if rule.queue.active:
            proposed.append(rule)
    if errors:
        raise ValidationFailed(errors)
    report = rules_dry_run(proposed, days=days)
    names = {name for pair in report.moves for name in pair}
    by_name = {q.name: q for q in Queue.objects.filter(name__in=names)}
    moves = [(by_name.get(a), by_name.get(b), n) for a, b, n in report.as_rows()]
    return RulesDryRun(days=report.days, total=report.total, changed=report.changed, moves=moves)


# ----------------------------------------------------------------------------------------- unprocessed items


@transaction.atomic
def inbound_failure_resolve(*, actor: User, failure_id: int) -> InboundFailure:
    """Mark an item resolved (handled by hand), with an audit row; one already resolved is 409
    `failure_already_resolved`. Needs the change permission on unprocessed items."""
    failure = inbound_failure_get(actor=actor, pk=failure_id, action="change")
    if not InboundFailure.objects.filter(pk=failure.pk, resolved_at__isnull=True).update(resolved_at=timezone.now()):
        raise CommsConflict("failure_already_resolved", _("This item is already resolved."))
    failure.refresh_from_db(fields=["resolved_at"])
    audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=failure,
                 changes={"resolved_at": [None, failure.resolved_at]})
    return failure


@transaction.atomic
def inbound_failures_resolve(*, actor: User, failures: QuerySet[InboundFailure]) -> list[InboundFailure]:
    """Mark the items of `failures` that are not resolved yet as resolved, each with an audit row as
    `inbound_failure_resolve` writes; those already resolved are left alone. Returns the ones resolved now."""
    config_admin_require(actor=actor, model=InboundFailure, action="change")
    ids = list(failures.filter(resolved_at__isnull=True).values_list("pk", flat=True))
    pending = list(InboundFailure.objects.select_for_update(of=("self",)).select_related("channel")
                   .filter(pk__in=ids, resolved_at__isnull=True).order_by("pk"))
    now = timezone.now()
    InboundFailure.objects.filter(pk__in=[f.pk for f in pending]).update(resolved_at=now)
    for failure in pending:
        failure.resolved_at = now
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=failure,
                     changes={"resolved_at": [None, failure.resolved_at]})
    return pending
