"""The routing engine: which queue a conversation goes to, and which agent is offered it.

`conversation_route(conversation)` is the single entry point ingestion calls for a new (or reopened, status
`new`) conversation: the ordered rules choose queue and priority (kramar.comms.routing_rules), a full queue
overflows, the SLA dues are set (kramar.comms.sla) and the queue's strategy picks an online agent under capacity.
The result is an offer (Assignment `offered`, the conversation's owner = the agent, status still `new` until
accepted) or, with nobody eligible, a `waiting` Assignment saying why. Every decision's `reason` says it in words.

Claims are atomic. Each decision runs in one transaction that first locks the conversation row (PostgreSQL:
`SELECT … FOR UPDATE SKIP LOCKED`, so a second worker skips a conversation being routed; SQLite: every
transaction is a single IMMEDIATE writer, so the decisions are serialized) and re-checks that it still needs an
agent (status `new`, no open offer). Then it locks the profiles of the queue's online agents in id order (a fixed
order, so no deadlocks) and counts their load under that lock, so two workers never over-fill an agent.

Load: an agent's conversations that are not closed (offered, open, pending), but for mail they logged through the
BCC address, each weighted by its channel kind's LoadWeight (1 without a row), against AgentProfile.capacity."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.accounts.selectors import user_primary_team_id
from kramar.comms.choices import (
    AssignmentStatus,
    ChannelKind,
    ConversationStatus,
    Presence,
    Priority,
    Strategy,
)
from kramar.comms.live import SUPERVISORS, live_publish, queue_topic, user_topic
from kramar.comms.models import AgentProfile, Assignment, Conversation, LoadWeight, Queue, QueueMember
from kramar.comms.routing_rules import RoutingInputs, rules_active, rules_decide, rules_dry_run  # noqa: F401
from kramar.core.errors import DomainError

# an agent's load: the conversations they have that are not closed (offered, open, waiting for the client) — except
# the mail they logged themselves through the BCC address, which is their own correspondence, not inbound work
LOAD_STATUSES = (ConversationStatus.NEW, ConversationStatus.OPEN, ConversationStatus.PENDING)
NO_LOAD_KINDS = (ChannelKind.DROPBOX,)  # the supervisor view counts load the same way (selectors)
REFUSED = (AssignmentStatus.DECLINED, AssignmentStatus.EXPIRED)
# an agent who declined a conversation or let its offer expire is not offered it again for this long after the
# offer ran out, unless nobody else can take it (then never, before this)
REFUSAL_HOLD = dt.timedelta(minutes=15)
# a fax or a letter cannot be answered from Kramar: an agent taking it is its first response (SLA)
TAKING_RESPONDS = (ChannelKind.FAX, ChannelKind.LETTER)
WAITING_BATCH = 200


def user_name(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else "—"


def priority_label(priority: int) -> str:
    return str(Priority(priority).label).lower()


def conversation_publish(conv: Conversation, *, users=(), offered_to: int | None = None) -> None:
    """Tell open browsers (in the caller's transaction) that `conv` changed: `conversation.changed` to the agent
    who has it, the other `users` (ids: who had it before), its queue and the supervisors; with `offered_to`, also
    `conversation.offered` to that agent."""
    payload = {"id": conv.pk, "status": conv.status, "queue": conv.queue_id, "owner": conv.owner_id}
    topics = [user_topic(u) for u in (conv.owner_id, *users) if u]
    if conv.queue_id:
        topics.append(queue_topic(conv.queue_id))
    live_publish([*topics, SUPERVISORS], "conversation.changed", payload)
    if offered_to:
        live_publish([user_topic(offered_to)], "conversation.offered", payload)


# --------------------------------------------------------------------------------------- candidates
@dataclass
class Candidate:
    user_id: int
    name: str
    capacity: int
    skills: set[str]
    load: int = 0
    last_assigned_at: dt.datetime | None = None  # in this queue (round robin)
    idle_since: dt.datetime | None = None  # the last assignment in any queue (least loaded ties)

    def fits(self, weight: int) -> bool:
        return self.load + weight <= self.capacity


@dataclass
class Pick:
    candidate: Candidate | None
    reason: str
    steps: list[str] = field(default_factory=list)


def load_weights() -> dict[str, int]:
    return dict(LoadWeight.objects.values_list("channel_kind", "weight"))


def _loads(user_ids: list[int], weights: dict[str, int], *, exclude_conversation: int | None) -> dict[int, int]:
    loads: dict[int, int] = defaultdict(int)
    rows = (Conversation.objects.filter(owner_id__in=user_ids, status__in=LOAD_STATUSES).exclude(kind__in=NO_LOAD_KINDS)
            .exclude(pk=exclude_conversation).values("owner_id", "kind").annotate(n=Count("id")).order_by())
    for row in rows:
        loads[row["owner_id"]] += row["n"] * weights.get(row["kind"], 1)
    return loads


def _candidates(queue: Queue, conv: Conversation, weights: dict[str, int]) -> list[Candidate]:
    """The queue's online, active members, their profiles locked in id order, with their load counted under the
    lock."""
    members = {m["user_id"]: m for m in QueueMember.objects.filter(queue=queue, user__is_active=True).values(
        "user_id", "last_assigned_at")}
    if not members:
        return []
    profiles = list(
        AgentProfile.objects.select_for_update(of=("self",))
        .filter(user_id__in=list(members), presence=Presence.ONLINE).order_by("pk")
        .values_list("user_id", "capacity", "skills", "user__first_name", "user__last_name", "user__username")
    )
    ids = [p[0] for p in profiles]
    if not ids:
        return []
    loads = _loads(ids, weights, exclude_conversation=conv.pk)
    idle = dict(QueueMember.objects.filter(user_id__in=ids).values("user_id")
                .annotate(last=Max("last_assigned_at")).values_list("user_id", "last").order_by())
    return [
        Candidate(user_id=uid, name=(f"{first} {last}".strip() or username), capacity=capacity,
                  skills={str(s).casefold() for s in (skills or [])}, load=loads.get(uid, 0),
                  last_assigned_at=members[uid]["last_assigned_at"], idle_since=idle.get(uid))
        for uid, capacity, skills, first, last, username in profiles
    ]


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _least_loaded(cands: list[Candidate]) -> Candidate:
    """Lowest load against capacity; ties: the longest idle (never assigned first), then the lowest id."""
    return min(cands, key=lambda c: (c.load / max(c.capacity, 1), c.load, c.idle_since or _NEVER, c.user_id))


def _load_text(c: Candidate) -> str:
    return _("%(name)s %(load)s of %(capacity)s open") % {"name": c.name, "load": c.load, "capacity": c.capacity}


def required_skills(conv: Conversation, queue: Queue) -> list[str]:
    skills = [conv.language] if conv.language else []
    skills += list(queue.skills or [])
    if conv.rule_id and conv.rule is not None:
        skills += list(conv.rule.skills or [])
    return sorted({str(s).casefold() for s in skills if s})


def strategy_pick(queue: Queue, conv: Conversation, cands: list[Candidate], *, weight: int,
                  exclude: set[int], client_owner_id: int | None) -> Pick:
    """Apply the queue's strategy to the locked candidates. Only online agents under capacity (and not in
    `exclude`: they declined or let the offer expire) are eligible."""
    eligible = [c for c in cands if c.user_id not in exclude and c.fits(weight)]
    steps: list[str] = []
    strategy = queue.strategy
    if strategy == Strategy.SKILLS:
        needed = set(required_skills(conv, queue))
        if needed:
            eligible = [c for c in eligible if needed <= c.skills]
            steps.append(_("skills %(skills)s") % {"skills": ", ".join(sorted(needed))})
        if eligible:
            best = _least_loaded(eligible)
            return Pick(best, _("least loaded: %(agent)s") % {"agent": _load_text(best)}, steps)
    elif strategy == Strategy.ROUND_ROBIN and eligible:
        best = min(eligible, key=lambda c: (c.last_assigned_at or _NEVER, c.user_id))
        return Pick(best, _("round robin: %(agent)s") % {"agent": _load_text(best)}, steps)
    elif strategy == Strategy.OWNER:
        if client_owner_id:
            owner = next((c for c in cands if c.user_id == client_owner_id), None)
            if owner is not None and owner in eligible:
                return Pick(owner, _("owner %(agent)s") % {"agent": _load_text(owner)}, steps)
            steps.append(_owner_unavailable(queue, client_owner_id, owner, exclude))
        else:
            steps.append(_("no client owner"))
        if eligible:
            best = _least_loaded(eligible)
            return Pick(best, _("least loaded: %(agent)s") % {"agent": _load_text(best)}, steps)
    elif eligible:  # least loaded
        best = _least_loaded(eligible)
        return Pick(best, _("least loaded: %(agent)s") % {"agent": _load_text(best)}, steps)
    return Pick(None, _nobody(cands, exclude, weight), steps)


def _owner_unavailable(queue: Queue, owner_id: int, cand: Candidate | None, exclude: set[int]) -> str:
    from kramar.accounts.models import User

    user = User.objects.filter(pk=owner_id).first()
    name = user_name(user)
    if cand is not None:
        if owner_id in exclude:
            return _("owner %(name)s refused it") % {"name": name}
        return _("owner %(name)s at capacity (%(load)s of %(capacity)s)") % {
            "name": name, "load": cand.load, "capacity": cand.capacity}
    if not QueueMember.objects.filter(queue=queue, user_id=owner_id).exists():
        return _("owner %(name)s not in %(queue)s") % {"name": name, "queue": queue.name}
    presence = AgentProfile.objects.filter(user_id=owner_id).values_list("presence", flat=True).first()
    return _("owner %(name)s %(presence)s") % {
        "name": name, "presence": str(Presence(presence or Presence.OFFLINE).label).lower()}


def _nobody(cands: list[Candidate], exclude: set[int], weight: int) -> str:
    if not cands:
        return _("no agent online; waits in the queue")
    if all(c.user_id in exclude for c in cands):
        return _("every online agent refused it; waits in the queue")
    if not any(c.fits(weight) for c in cands if c.user_id not in exclude):
        return _("every online agent at capacity; waits in the queue")
    return _("no online agent with the skills; waits in the queue")


# --------------------------------------------------------------------------------------- claims
def _lock(pk: int, *, skip_locked: bool) -> Conversation | None:
    """The conversation row, locked (PostgreSQL); None when another worker holds it (skip_locked) or it is gone."""
    return (Conversation.objects.select_for_update(skip_locked=skip_locked, of=("self",))
            .select_related("channel", "channel__queue", "contact", "company").filter(pk=pk).first())


def _past(conv: Conversation) -> tuple[bool, dict[int, dt.datetime]]:
    """Whether the conversation has an open offer, and the agents who declined it or let it expire, each with when
    their (latest) refused offer ran out (one query)."""
    rows = Assignment.objects.filter(conversation=conv, status__in=[AssignmentStatus.OFFERED, *REFUSED]).values_list(
        "status", "user_id", "expires_at", "created_at")
    offered, refused = False, {}
    for status, user_id, expires_at, created_at in rows:
        if status == AssignmentStatus.OFFERED:
            offered = True
        elif user_id:
            at = expires_at or created_at
            refused[user_id] = max(refused.get(user_id, at), at)
    return offered, refused


def _open_offer(conv: Conversation) -> bool:
    return _past(conv)[0]


def _refused(conv: Conversation) -> dict[int, dt.datetime]:
    return _past(conv)[1]


def _offer(conv: Conversation, queue: Queue | None, *, now: dt.datetime, head: list[str],
           decided_by=None, inputs: RoutingInputs | None = None, fields: tuple[str, ...] = (),
           refused: dict[int, dt.datetime] | None = None, notify=()) -> Assignment:
    """Offer the (locked) conversation to an agent of `queue` by its strategy, or leave it waiting; save the
    conversation, log the decision and publish it (`notify`: ids of users who had it before)."""
    update = {"owner", "updated_at", *fields}
    if queue is None:
        update |= conversation_owner_set(conv, None)
        conv.save(update_fields=sorted(update))
        reason = "; ".join([*head, _("no queue; waits")])
        conversation_publish(conv, users=notify)
        return Assignment.objects.create(conversation=conv, queue=None, status=AssignmentStatus.WAITING,
                                         reason=reason, decided_by=decided_by)
    weights = load_weights()
    weight = weights.get(conv.kind, 1)
    cands = _candidates(queue, conv, weights)
    owner_id = (inputs or RoutingInputs(conv)).client_owner_id if queue.strategy == Strategy.OWNER else None
    if refused is None:
        refused = _refused(conv)
    pick = strategy_pick(queue, conv, cands, weight=weight, exclude=set(refused), client_owner_id=owner_id)
    if pick.candidate is None and refused:
        # everyone eligible refused it: an agent whose refusal is REFUSAL_HOLD old may be offered it again (else a
        # one-person queue, or agents back from a break, would never see it)
        held = {u for u, at in refused.items() if at > now - REFUSAL_HOLD}
        if held != set(refused):
            again = strategy_pick(queue, conv, cands, weight=weight, exclude=held, client_owner_id=owner_id)
            if again.candidate is not None:
                again.steps.insert(0, _("refused by everyone eligible; offered again after %(n)d min") % {
                    "n": int(REFUSAL_HOLD.total_seconds() // 60)})
                pick = again
    reason = "; ".join([*head, " → ".join([*pick.steps, pick.reason])])
    if pick.candidate is None:
        update |= conversation_owner_set(conv, None)
        conv.save(update_fields=sorted(update))
        conversation_publish(conv, users=notify)
        return Assignment.objects.create(conversation=conv, queue=queue, status=AssignmentStatus.WAITING,
                                         reason=reason, decided_by=decided_by)
    update |= conversation_owner_set(conv, pick.candidate.user_id)
    conv.save(update_fields=sorted(update))
    QueueMember.objects.filter(queue=queue, user_id=pick.candidate.user_id).update(last_assigned_at=now)
    conversation_publish(conv, users=notify, offered_to=pick.candidate.user_id)
    return Assignment.objects.create(
        conversation=conv, queue=queue, user_id=pick.candidate.user_id, status=AssignmentStatus.OFFERED,
        reason=reason, decided_by=decided_by, expires_at=now + dt.timedelta(minutes=queue.accept_minutes),
    )


def conversation_owner_set(conv: Conversation, user_id: int | None) -> set[str]:
    """Give the conversation to an agent, or to nobody (unsaved): the owner, and the agent's team, so that roles
    scoped to the team see what their agents have (nobody's: no team; the queue's members and supervisors see
    it). Returns the fields to save."""
    conv.owner_id = user_id
    conv.team_id = user_primary_team_id(user_id)
    return {"owner", "team"}


def _waiting_count(queue: Queue, *, but: int) -> int:
    return (Conversation.objects.filter(queue=queue, status=ConversationStatus.NEW, owner__isnull=True)
            .exclude(pk=but).count())


def queue_overflow(queue: Queue, conv: Conversation) -> tuple[Queue, list[str]]:
    """Follow overflow queues while the queue holds its most waiting conversations; stops at a cycle, an
    inactive overflow queue or a queue without a limit."""
    steps: list[str] = []
    seen = {queue.pk}
    while queue.max_waiting is not None and queue.overflow_queue_id:
        waiting = _waiting_count(queue, but=conv.pk)
        if waiting < queue.max_waiting:
            break
        target = queue.overflow_queue
        if target.pk in seen or not target.active:
            steps.append(_("%(queue)s full (%(waiting)s waiting), overflow %(target)s unusable; stays") % {
                "queue": queue.name, "waiting": waiting, "target": target.name})
            break
        steps.append(_("%(queue)s full (%(waiting)s waiting) → overflow %(target)s") % {
            "queue": queue.name, "waiting": waiting, "target": target.name})
        seen.add(target.pk)
        queue = target
    return queue, steps


# --------------------------------------------------------------------------------------- entry points
def conversation_route(conversation: Conversation, *, now: dt.datetime | None = None) -> Assignment | None:
    """Route a new (or reopened) conversation: rules → queue and priority, overflow, SLA dues, then an offer
    to an agent or a wait in the queue. Returns the logged decision; None when there was nothing to decide (it
    is not `new`, already has an open offer, or another worker is routing it right now). `conversation` is
    refreshed from the database afterwards."""
    assignment = conversation_route_id(conversation.pk, now=now)
    conversation.refresh_from_db()
    return assignment


def conversation_route_id(conversation_id: int, *, now: dt.datetime | None = None) -> Assignment | None:
    """`conversation_route` by id, for callers that hold no instance (ingestion's hook, the periodic pass): the
    conversation is read once, under the lock."""
    from kramar.comms.sla import sla_dues_set

    now = now or timezone.now()
    with transaction.atomic():
        conv = _lock(conversation_id, skip_locked=True)
        if conv is None or conv.status != ConversationStatus.NEW:
            return None
        offered, refused = _past(conv)
        if offered:
            return None
        inputs = RoutingInputs(conv)
        decision = rules_decide(rules_active(), inputs, now=now)
        if decision.rule is not None:
            head = [_("rule %(n)s '%(rule)s' → %(queue)s (%(priority)s)") % {
                "n": decision.position, "rule": decision.rule.name, "queue": decision.queue.name,
                "priority": priority_label(decision.priority)}]
        elif decision.queue is not None:
            head = [_("no rule matched → %(queue)s, the default of %(channel)s (%(priority)s)") % {
                "queue": decision.queue.name, "channel": conv.channel.name,
                "priority": priority_label(decision.priority)}]
        else:
            head = [_("no rule matched and %(channel)s has no default queue") % {"channel": conv.channel.name}]
        queue = decision.queue
        if queue is not None:
            queue, steps = queue_overflow(queue, conv)
            head += steps
        conv.queue, conv.priority, conv.rule = queue, decision.priority, decision.rule
        fields = ("queue", "priority", "rule", *sla_dues_set(conv))
        return _offer(conv, queue, now=now, head=head, inputs=inputs, fields=fields, refused=refused)


def _reoffer(conv: Conversation, *, now: dt.datetime, head: list[str], decided_by=None) -> Assignment:
    previous = conv.owner_id
    conv.owner = None
    return _offer(conv, conv.queue, now=now, head=head, decided_by=decided_by, notify=(previous,))


def assignment_accept(*, actor, assignment: Assignment, now: dt.datetime | None = None) -> Assignment:
    """The offered agent takes the conversation: the offer becomes accepted, the conversation open."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = Assignment.objects.filter(
            pk=assignment.pk, user=actor, status=AssignmentStatus.OFFERED, expires_at__gt=now
        ).update(status=AssignmentStatus.ACCEPTED, accepted_at=now)
        if not claimed:
            raise DomainError("offer_closed", _("This offer is no longer open to you."))
        Conversation.objects.filter(pk=assignment.conversation_id, owner=actor, status=ConversationStatus.NEW).update(
            status=ConversationStatus.OPEN, updated_at=now)
        conv = Conversation.objects.filter(pk=assignment.conversation_id).first()
        if conv is not None:
            if conv.kind in TAKING_RESPONDS:
                from kramar.comms.sla import conversation_first_response

                conversation_first_response(conv, now)
            conversation_publish(conv)
    assignment.refresh_from_db()
    return assignment


def assignment_decline(*, actor, assignment: Assignment, now: dt.datetime | None = None) -> Assignment:
    """The offered agent declines: the conversation goes to the next agent (never back to them). Returns the new
    decision."""
    now = now or timezone.now()
    with transaction.atomic():
        conv = _lock(assignment.conversation_id, skip_locked=False)
        claimed = Assignment.objects.filter(pk=assignment.pk, user=actor, status=AssignmentStatus.OFFERED).update(
            status=AssignmentStatus.DECLINED)
        if not claimed or conv is None:
            raise DomainError("offer_closed", _("This offer is no longer open to you."))
        return _reoffer(conv, now=now, head=[_("%(name)s declined") % {"name": user_name(actor)}])


def offers_expire(*, now: dt.datetime | None = None) -> int:
    """Periodic: offers not accepted in time go to the next agent (the one who let it expire is skipped for this
    conversation). Returns the number expired."""
    now = now or timezone.now()
    done = 0
    due = list(Assignment.objects.filter(status=AssignmentStatus.OFFERED, expires_at__lte=now)
               .order_by("expires_at", "id").values_list("pk", "conversation_id", "user_id")[:WAITING_BATCH])
    for pk, conv_id, user_id in due:
        with transaction.atomic():
            conv = _lock(conv_id, skip_locked=True)
            if conv is None:
                continue  # another worker is deciding about it
            claimed = Assignment.objects.filter(pk=pk, status=AssignmentStatus.OFFERED, expires_at__lte=now).update(
                status=AssignmentStatus.EXPIRED)
            if not claimed:
                continue
            done += 1
            if conv.status == ConversationStatus.NEW and conv.owner_id == user_id:
                from kramar.accounts.models import User

                name = user_name(User.objects.filter(pk=user_id).first())
                _reoffer(conv, now=now, head=[_("%(name)s did not accept in time") % {"name": name}])
    return done


def conversation_transfer(*, by, conversation: Conversation, to_user=None, to_queue: Queue | None = None,
                          now: dt.datetime | None = None) -> Assignment:
    """Hand a conversation to another agent (an offer to them, whatever their load) or to another queue (its
    strategy picks the agent). Allowed to the agent who has it, the queue's supervisors and superusers."""
    if (to_user is None) == (to_queue is None):
        raise DomainError("transfer_target", _("Transfer to one agent or one queue."))
    now = now or timezone.now()
    with transaction.atomic():
        conv = _lock(conversation.pk, skip_locked=False)
        if conv is None:
            raise DomainError("not_found", _("The conversation no longer exists."))
        allowed = (by.is_superuser or conv.owner_id == by.pk
                   or (conv.queue_id and conv.queue.supervisors.filter(pk=by.pk).exists()))
        if not allowed:
            raise PermissionDenied(_("Only the agent who has the conversation or a supervisor may transfer it."))
        if conv.status == ConversationStatus.CLOSED:
            raise DomainError("closed", _("A closed conversation cannot be transferred."))
        Assignment.objects.filter(conversation=conv, status__in=[AssignmentStatus.OFFERED, AssignmentStatus.ACCEPTED]
                                  ).update(status=AssignmentStatus.TRANSFERRED)
        head = [_("transferred by %(name)s") % {"name": user_name(by)}]
        conv.status = ConversationStatus.NEW
        previous = conv.owner_id
        if to_user is not None:
            fields = conversation_owner_set(conv, to_user.pk)
            conv.save(update_fields=sorted({*fields, "status", "updated_at"}))
            conversation_publish(conv, users=(previous,), offered_to=to_user.pk)
            minutes = conv.queue.accept_minutes if conv.queue_id else 5
            return Assignment.objects.create(
                conversation=conv, queue=conv.queue, user=to_user, status=AssignmentStatus.OFFERED,
                decided_by=by, expires_at=now + dt.timedelta(minutes=minutes),
                reason="; ".join([*head, _("to %(name)s") % {"name": user_name(to_user)}]))
        from kramar.comms.sla import sla_dues_set

        conv.queue = to_queue
        head.append(_("to %(queue)s") % {"queue": to_queue.name})
        fields = ("queue", "status", *sla_dues_set(conv))
        conv.owner = None
        return _offer(conv, to_queue, now=now, head=head, decided_by=by, fields=fields, notify=(previous,))


def conversations_waiting_route(*, queue_ids: list[int] | None = None, now: dt.datetime | None = None,
                                why: str = "", limit: int = WAITING_BATCH) -> int:
    """Offer waiting conversations (highest priority, then oldest first) to agents who can take them: when an
    agent comes online, and periodically (load frees up as conversations close). Returns the offers made."""
    now = now or timezone.now()
    waiting = Conversation.objects.filter(status=ConversationStatus.NEW, owner__isnull=True, queue__isnull=False)
    if queue_ids is not None:
        waiting = waiting.filter(queue_id__in=queue_ids)
    offered = 0
    for pk in waiting.order_by("-priority", "opened_at", "id").values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            conv = _lock(pk, skip_locked=True)
            if conv is None or conv.status != ConversationStatus.NEW or conv.owner_id or _open_offer(conv):
                continue
            assignment = _offer(conv, conv.queue, now=now, head=[why or _("waiting conversation")])
            if assignment.user_id:
                offered += 1
            else:
                transaction.set_rollback(True)  # nothing changed: do not log a repeated "still waiting"
    return offered


def conversations_unrouted_route(*, now: dt.datetime | None = None, limit: int = WAITING_BATCH) -> int:
    """Periodic: route new conversations that never got a decision (ingestion's routing call failed or ran before
    the engine existed). Returns the decisions made."""
    from django.db.models import Exists, OuterRef

    now = now or timezone.now()
    decided = Assignment.objects.filter(conversation=OuterRef("pk"))
    pending = (Conversation.objects.filter(status=ConversationStatus.NEW).filter(~Exists(decided))
               .order_by("opened_at", "id").values_list("pk", flat=True)[:limit])
    done = 0
    for pk in list(pending):
        if conversation_route_id(pk, now=now) is not None:
            done += 1
    return done
