"""Routing rules: the inputs a rule can look at, the evaluation of an ordered rule set, and the dry run of a
changed rule set against recent traffic (`rules_dry_run`). Reads only; the routing engine (kramar.comms.routing)
writes.

A rule's `conditions` is a list of {"field", "op", "value"} (see RoutingRule); every condition must hold. Fields
are read lazily, so a rule set that never tests tags never loads them. Text comparisons ignore case. A field with
several values (tag) holds for eq / in / contains / matches when any value does, and for ne when none equals."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from kramar.comms.choices import MessageDirection, Priority
from kramar.comms.hours import hours_contains
from kramar.comms.models import Conversation, Message, Queue, RoutingRule

FIELDS = (
    "channel_kind", "channel", "mailbox", "sender_domain", "owner", "lifecycle_stage", "tag", "client_class",
    "language", "keyword", "business_hours",
)
OPS = ("eq", "ne", "in", "contains", "matches")


def client_language(contact) -> str:
    """The language a new conversation takes from its client (the contact's; "" when unknown), so that the
    language rules, the skills strategy and the canned responses' language apply to inbound traffic."""
    return (getattr(contact, "language", "") or "")[:8] if contact is not None else ""


class RoutingInputs:
    """What the rules of one conversation can test: from the conversation, its channel, its first inbound
    message and its contact/company. `message` may be given (the dry run loads them in bulk)."""

    _UNSET = object()

    def __init__(self, conversation: Conversation, *, message: Message | None | object = _UNSET,
                 tags: list[str] | None = None) -> None:
        self.conversation = conversation
        self._message = message
        self._tags = tags

    @property
    def message(self) -> Message | None:
        if self._message is self._UNSET:
            self._message = (
                Message.objects.filter(conversation_id=self.conversation.pk, direction=MessageDirection.INBOUND)
                .only("from_address", "subject", "body").order_by("sent_at", "id").first()
            )
        return self._message  # type: ignore[return-value]

    @property
    def client(self):
        """The contact, else the company (whichever the conversation is matched to)."""
        return self.conversation.contact or self.conversation.company

    @property
    def client_owner_id(self) -> int | None:
        conv = self.conversation
        if conv.contact_id and conv.contact.owner_id:
            return conv.contact.owner_id
        if conv.company_id:
            return conv.company.owner_id
        return None

    def tags(self) -> list[str]:
        if self._tags is None:
            conv = self.conversation
            names: list[str] = []
            for obj in (conv.contact, conv.company):
                if obj is not None:
                    names.extend(obj.tags.values_list("name", flat=True))
            self._tags = names
        return self._tags

    def values(self, name: str, *, rule: RoutingRule | None, now: dt.datetime) -> list[str]:
        conv = self.conversation
        if name == "channel_kind":
            return [conv.kind]
        if name == "channel":
            return [str(conv.channel_id)]
        if name == "mailbox":
            return [conv.channel.address]
        if name == "sender_domain":
            address = self.message.from_address if self.message else ""
            return [address.rpartition("@")[2]] if "@" in address else []
        if name == "owner":
            owner = self.client_owner_id
            return [str(owner)] if owner else []
        if name in ("lifecycle_stage", "client_class"):  # the contact's, else (empty there) the company's
            for record in (conv.contact, conv.company):
                value = getattr(record, name, "") if record is not None else ""
                if value:
                    return [value]
            return []
        if name == "tag":
            return self.tags()
        if name == "language":
            language = conv.language or client_language(conv.contact)
            return [language] if language else []
        if name == "keyword":
            message = self.message
            return [conv.subject, *((message.subject, message.body) if message else ())]
        if name == "business_hours":
            hours = rule.queue.business_hours if rule is not None else None
            return ["in" if hours_contains(hours, now) else "out"]
        raise ValueError(f"unknown routing field {name!r}")


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def _fold(value) -> str:
    return str(value).casefold()


def condition_holds(condition: dict, inputs: RoutingInputs, *, rule: RoutingRule | None, now: dt.datetime) -> bool:
    name, op, target = condition.get("field"), condition.get("op", "eq"), condition.get("value")
    values = [_fold(v) for v in inputs.values(name, rule=rule, now=now) if v is not None]
    if op == "eq":
        return _fold(target) in values
    if op == "ne":
        return _fold(target) not in values
    if op == "in":
        wanted = {_fold(t) for t in (target if isinstance(target, list | tuple) else [target])}
        return any(v in wanted for v in values)
    if op == "contains":
        needle = _fold(target)
        return any(needle in v for v in values)
    if op == "matches":
        pattern = _regex(str(target))
        return any(pattern.search(v) for v in values)
    raise ValueError(f"unknown routing operator {op!r}")


def rule_matches(rule: RoutingRule, inputs: RoutingInputs, *, now: dt.datetime) -> bool:
    return all(condition_holds(c, inputs, rule=rule, now=now) for c in rule.conditions or [])


_RULES_CACHE: dict[str, tuple[tuple, list[RoutingRule]]] = {}


def rules_active() -> list[RoutingRule]:
    """The active rules of active queues, in order. The rows are kept per process and reloaded when the rule
    table's fingerprint (count, last change, last id) moves; their queues are read fresh on every call (one
    query), so a queue's edits apply at once."""
    from django.db import connection
    from django.db.models import Count, Max

    fingerprint = tuple(RoutingRule.objects.aggregate(n=Count("id"), changed=Max("updated_at"), last=Max("id"),
                                                      order=Max("position")).values())
    key = connection.alias
    cached = _RULES_CACHE.get(key)
    if cached is None or cached[0] != fingerprint:
        rules = list(RoutingRule.objects.filter(active=True).order_by("position", "id"))
        _RULES_CACHE[key] = cached = (fingerprint, rules)
    rules = cached[1]
    queues = Queue.objects.select_related("business_hours").in_bulk({r.queue_id for r in rules})
    active = []
    for rule in rules:
        queue = queues.get(rule.queue_id)
        if queue is not None and queue.active:
            clone = RoutingRule(**{f.attname: getattr(rule, f.attname) for f in RoutingRule._meta.concrete_fields})
            clone.queue = queue
            active.append(clone)
    return active


@dataclass
class RuleDecision:
    queue: Queue | None
    priority: int
    rule: RoutingRule | None
    position: int | None = None  # 1-based place of the matching rule in the evaluated set


def rules_decide(rules: Sequence[RoutingRule], inputs: RoutingInputs, *, now: dt.datetime) -> RuleDecision:
    """The first active rule that matches gives queue and priority; no match: the channel's default queue at
    normal priority."""
    for n, rule in enumerate(rules, start=1):
        if rule.active and rule_matches(rule, inputs, now=now):
            return RuleDecision(queue=rule.queue, priority=rule.priority, rule=rule, position=n)
    return RuleDecision(queue=inputs.conversation.channel.queue, priority=Priority.NORMAL, rule=None)


def rules_validate(conditions: Iterable[dict]) -> list[str]:
    """Problems with a rule's conditions, in words (empty when fine)."""
    problems = []
    for c in conditions or []:
        if not isinstance(c, dict) or c.get("field") not in FIELDS:
            problems.append(f"unknown field in {c!r}")
        elif c.get("op", "eq") not in OPS:
            problems.append(f"unknown operator in {c!r}")
        elif c.get("op") == "matches":
            try:
                re.compile(str(c.get("value")))
            except re.error as exc:
                problems.append(f"bad pattern in {c!r}: {exc}")
    return problems


# --------------------------------------------------------------------------------------- dry run
@dataclass
class DryRunReport:
    days: int
    total: int = 0
    changed: int = 0
    # (from queue name, to queue name) → conversations; "—" for no queue
    moves: Counter = field(default_factory=Counter)

    def as_rows(self) -> list[tuple[str, str, int]]:
        return [(a, b, n) for (a, b), n in self.moves.most_common()]


DRY_RUN_BATCH = 500


def rules_dry_run(rules: Sequence[RoutingRule], *, days: int = 30, now: dt.datetime | None = None) -> DryRunReport:
    """Replay the routing inputs of the conversations opened in the last `days` days against `rules` (unsaved
    RoutingRule objects, in order; their `queue` set) and count how many would have gone to another queue than
    the saved active rules send them to today, per from → to. Writes nothing. Business hours are tested at
    each conversation's opening time."""
    now = now or timezone.now()
    current = rules_active()
    proposed = list(rules)
    needs_tags = any(c.get("field") == "tag" for r in [*current, *proposed] for c in (r.conditions or []))
    report = DryRunReport(days=days)
    since = now - dt.timedelta(days=days)
    ids = list(Conversation.objects.filter(opened_at__gte=since, opened_at__lte=now)
               .order_by("opened_at", "id").values_list("pk", flat=True))
    for start in range(0, len(ids), DRY_RUN_BATCH):
        chunk = ids[start:start + DRY_RUN_BATCH]
        convs = list(Conversation.objects.filter(pk__in=chunk).select_related(
            "channel__queue", "contact", "company").order_by("opened_at", "id"))
        firsts: dict[int, Message] = {}
        for m in (Message.objects.filter(conversation_id__in=chunk, direction=MessageDirection.INBOUND)
                  .only("conversation_id", "from_address", "subject", "body").order_by("-sent_at", "-id")):
            firsts[m.conversation_id] = m  # the earliest wins (written last)
        tags: dict[tuple[str, int], list[str]] = {}
        if needs_tags:
            tags = _tags_of(convs)
        for conv in convs:
            conv_tags = None
            if needs_tags:
                conv_tags = tags.get(("contact", conv.contact_id), []) + tags.get(("company", conv.company_id), [])
            inputs = RoutingInputs(conv, message=firsts.get(conv.pk), tags=conv_tags)
            before = rules_decide(current, inputs, now=conv.opened_at).queue
            after = rules_decide(proposed, inputs, now=conv.opened_at).queue
            report.total += 1
            if (before.pk if before else None) != (after.pk if after else None):
                report.changed += 1
                report.moves[(before.name if before else "—", after.name if after else "—")] += 1
    return report


def _tags_of(convs: list[Conversation]) -> dict[tuple[str, int], list[str]]:
    from kramar.clients.models import Company, Contact

    found: dict[tuple[str, int], list[str]] = {}
    for label, model, ids in (("contact", Contact, {c.contact_id for c in convs if c.contact_id}),
                              ("company", Company, {c.company_id for c in convs if c.company_id})):
        if not ids:
            continue
        through = model.tags.through
        owner_field = f"{model._meta.model_name}_id"
        for owner_id, name in through.objects.filter(**{f"{owner_field}__in": ids}).values_list(
                owner_field, "tag__name"):
            found.setdefault((label, owner_id), []).append(name)
    return found
