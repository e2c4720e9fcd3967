"""Reads of the Communication Center: the agent inbox, one conversation and its thread, canned responses, and the
supervisor overview.

Who sees a conversation (`conversations_visible`):

* the role scope on conversations (`Conversation.objects.visible_to`: own / team / all; the owner is the agent
  who has it) — a superuser sees all; the agent who has a conversation sees it even when their role grants
  nothing on conversations;
* plus the **waiting** conversations (status new, nobody has it) of the queues the actor is a member of;
* plus **every** conversation of the queues the actor supervises (a supervisor reassigns their queue's
  conversations, so they must be able to open them).

Everything else is a 404 through `conversation_get`. Lists use the indexes of `Conversation.Meta`:
`(owner, status, -last_message_at)` for "mine", `(status, queue, -priority, opened_at)` for the queues' waiting
conversations; the supervisor counters are GROUP BY queries, a fixed number whatever the data size."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from kramar.comms.choices import AssignmentStatus, ConversationStatus, MessageDirection, Presence
from kramar.comms.models import (
    AgentProfile,
    Assignment,
    CannedResponse,
    Conversation,
    LoadWeight,
    Message,
    Queue,
    QueueMember,
)
from kramar.comms.routing import NO_LOAD_KINDS
from kramar.core import scopes

ACTIVE = (ConversationStatus.NEW, ConversationStatus.OPEN, ConversationStatus.PENDING)
BOXES = ("mine", "queues", "all")
# the status filter of the lists: "" (default) = not closed; "any" = everything; else one status
STATUS_ACTIVE, STATUS_ANY = "", "any"
BREACHED_LIMIT = 50


# --------------------------------------------------------------------------------------- who sees what
def member_queue_ids(actor) -> QuerySet:
    """Ids of the queues the actor is a member of (a subquery, no query of its own)."""
    return QueueMember.objects.filter(user_id=actor.pk).values("queue_id")


def supervised_queue_ids(actor) -> QuerySet:
    return Queue.supervisors.through.objects.filter(user_id=actor.pk).values("queue_id")


def sees_all(actor) -> bool:
    """Superusers and roles whose conversation scope is "all"."""
    return scopes.scope_for(actor, "conversation", "view") >= scopes.ALL


def conversations_visible(actor) -> QuerySet[Conversation]:
    """The conversations `actor` may see: the role scope, the waiting conversations of their queues, and every
    conversation of the queues they supervise (see the module docstring); superusers all."""
    qs = Conversation.objects.all()
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return qs.none()
    scope = scopes.scope_for(actor, "conversation", "view")
    if scope >= scopes.ALL:
        return qs
    # the agent who has a conversation always sees it (also an agent whose role grants nothing on conversations)
    own = scopes.scope_q(actor, scope) if scope > scopes.NONE else Q(owner_id=actor.pk)
    waiting = Q(status=ConversationStatus.NEW, owner__isnull=True, queue_id__in=member_queue_ids(actor))
    supervised = Q(queue_id__in=supervised_queue_ids(actor))
    return qs.filter(own | waiting | supervised)


def conversation_get(*, actor, pk: int) -> Conversation:
    """The guarded fetch: the conversation when `actor` may see it, else 404 (never another team's record)."""
    conv = (conversations_visible(actor).select_related("channel", "queue", "owner", "contact", "company", "team")
            .filter(pk=pk).first())
    if conv is None:
        raise Http404("No such conversation")
    return conv


def conversation_can_change(actor, conversation: Conversation) -> bool:
    """Whether `actor` may reply to, close, reopen or transfer the conversation: the agent who has it, a supervisor
    of its queue, or a superuser (as `routing.conversation_transfer` decides)."""
    if actor.is_superuser or (conversation.owner_id and conversation.owner_id == actor.pk):
        return True
    return bool(conversation.queue_id) and Queue.supervisors.through.objects.filter(
        queue_id=conversation.queue_id, user_id=actor.pk).exists()


def may_supervise(actor) -> bool:
    """A supervisor of some queue, anyone whose role sees every conversation, or a superuser."""
    if not actor.is_authenticated:
        return False
    return sees_all(actor) or Queue.supervisors.through.objects.filter(user_id=actor.pk).exists()


def queues_of(actor) -> list[Queue]:
    """The queues the actor works in or supervises (for the filters and the "my queues" tab)."""
    return list(Queue.objects.filter(Q(pk__in=member_queue_ids(actor)) | Q(pk__in=supervised_queue_ids(actor)))
                .order_by("position", "name"))


# --------------------------------------------------------------------------------------- lists
def _status_filter(qs: QuerySet, status: str | None) -> QuerySet:
    if not status:
        return qs.filter(status__in=ACTIVE)
    if status == STATUS_ANY:
        return qs
    if status not in ConversationStatus.values:
        return qs.none()
    return qs.filter(status=status)


def conversation_search(qs: QuerySet, q: str) -> QuerySet:
    """Subject, the client's name, or a message's sender address contains `q`."""
    from kramar.core.identifiers import text_fold

    q = (q or "").strip()[:200]
    if not q:
        return qs
    senders = Message.objects.filter(conversation=OuterRef("pk"), from_address__icontains=q)
    # SQLite folds only ASCII letters in LIKE: also try the usual capitalisations of a Cyrillic word
    subject = Q()
    for variant in dict.fromkeys((q, q.lower(), q.capitalize(), q.upper())):
        subject |= Q(subject__icontains=variant) | Q(company__name__icontains=variant)
    return qs.filter(subject | Q(contact__search_text__contains=text_fold(q)) | Exists(senders))


def conversation_list(*, actor, box: str = "mine", queue_id: int | None = None, status: str | None = None,
                      q: str = "") -> QuerySet:
    """One tab of the inbox.

    * `mine`: the conversations the actor has (offered to them, open, waiting for the client);
    * `queues`: the waiting conversations of the queues they are a member of, plus (with a status filter) the
      visible conversations of their queues and every conversation of the queues they supervise;
    * `all`: everything they may see.

    `status`: "" or None = not closed, "any", or one status. The rows carry their channel, queue, owner and
    client (no per-row queries); "mine" and "all" newest first, "queues" by priority then the longest waiting."""
    visible = conversations_visible(actor)
    if box == "queues":
        mine = Q(queue_id__in=member_queue_ids(actor)) | Q(queue_id__in=supervised_queue_ids(actor))
        qs = visible.filter(mine)
        if not status:
            # waiting for an agent (the agent inbox's queue view); supervised queues: everything not closed
            qs = qs.filter(Q(status=ConversationStatus.NEW, owner__isnull=True)
                           | Q(queue_id__in=supervised_queue_ids(actor), status__in=ACTIVE))
        else:
            qs = _status_filter(qs, status)
        order = ["-priority", "opened_at", "id"]
    elif box == "all":
        qs = _status_filter(visible, status)
        order = ["-last_message_at", "-id"]
    else:
        qs = _status_filter(Conversation.objects.filter(owner_id=actor.pk), status)
        order = ["-last_message_at", "-id"]
    if queue_id:
        qs = qs.filter(queue_id=queue_id)
    qs = conversation_search(qs, q)
    return qs.select_related("channel", "queue", "owner", "contact", "company").order_by(*order)


def offers_for(*, actor, conversation_ids) -> dict[int, Assignment]:
    """The open offers to `actor` among these conversations (one query), by conversation id."""
    ids = [pk for pk in conversation_ids if pk]
    if not ids:
        return {}
    rows = Assignment.objects.filter(conversation_id__in=ids, user_id=actor.pk, status=AssignmentStatus.OFFERED)
    return {a.conversation_id: a for a in rows}


# --------------------------------------------------------------------------------------- one conversation
def conversation_messages(*, actor, conversation: Conversation) -> list[Message]:
    """The thread in order: inbound, outbound and internal notes, with their authors, the outbox rows of replies
    (e-mail or chat) and the timeline attachments (a fixed number of queries). `actor` must see the conversation
    (404)."""
    if not conversations_visible(actor).filter(pk=conversation.pk).exists():
        raise Http404("No such conversation")
    from kramar.history.models import Attachment

    return list(
        Message.objects.filter(conversation_id=conversation.pk)
        .select_related("author", "outgoing", "chat_outgoing", "interaction")
        .prefetch_related(Prefetch("interaction__attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("sent_at", "id")
    )


def conversation_assignments(*, conversation: Conversation, limit: int = 50) -> list[Assignment]:
    """The assignment log of the conversation, newest first, with who decided."""
    return list(Assignment.objects.filter(conversation_id=conversation.pk)
                .select_related("queue", "user", "decided_by").order_by("-created_at", "-id")[:limit])


def offer_for(*, actor, conversation: Conversation) -> Assignment | None:
    """The open offer of this conversation to `actor`, if any."""
    return (Assignment.objects.filter(conversation_id=conversation.pk, user_id=actor.pk,
                                      status=AssignmentStatus.OFFERED).order_by("-created_at", "-id").first())


def last_inbound(conversation: Conversation) -> Message | None:
    return (Message.objects.filter(conversation_id=conversation.pk, direction=MessageDirection.INBOUND)
            .order_by("-sent_at", "-id").first())


def canned_responses_for(*, actor, conversation: Conversation) -> QuerySet[CannedResponse]:
    """Active canned responses for this conversation: shared or the actor's own, for every queue or the
    conversation's, in any language or the conversation's."""
    qs = CannedResponse.objects.filter(active=True).filter(Q(owner__isnull=True) | Q(owner_id=actor.pk))
    qs = qs.filter(Q(queue__isnull=True) | Q(queue_id=conversation.queue_id)) if conversation.queue_id \
        else qs.filter(queue__isnull=True)
    if conversation.language:
        qs = qs.filter(Q(language="") | Q(language__iexact=conversation.language))
    return qs.order_by("name", "id")


def transfer_targets() -> dict[str, list]:
    """Who a conversation can be handed to: agents (members of an active queue, active users) and active
    queues."""
    from kramar.accounts.models import User

    agents = list(User.objects.filter(is_active=True, queue_memberships__queue__active=True).distinct()
                  .order_by("first_name", "last_name", "username"))
    queues = list(Queue.objects.filter(active=True).order_by("position", "name"))
    return {"agents": agents, "queues": queues}


# --------------------------------------------------------------------------------------- supervisor
@dataclass
class QueueRow:
    queue: Queue
    waiting: int = 0
    oldest_waiting: dt.datetime | None = None
    waiting_seconds: int | None = None
    offered: int = 0
    open: int = 0
    pending: int = 0
    breached: int = 0
    warned: int = 0


@dataclass
class AgentRow:
    user: object
    presence: str = Presence.OFFLINE
    presence_label: str = ""
    last_seen_at: dt.datetime | None = None
    capacity: int = 10
    load: int = 0
    conversations: int = 0
    offered: int = 0
    queues: list[str] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return round(100 * self.load / self.capacity) if self.capacity else 100

    @property
    def full(self) -> bool:
        return self.load >= self.capacity


def supervised_queues(actor) -> QuerySet[Queue]:
    if sees_all(actor):
        return Queue.objects.all()
    return Queue.objects.filter(pk__in=supervised_queue_ids(actor))


def supervisor_overview(*, actor, now: dt.datetime | None = None) -> dict:
    """The supervisor page: per queue the number waiting, the longest wait, offered / open / pending, SLA
    breaches and warnings; the agents of those queues with presence, load against capacity; the breached
    conversations. A fixed number of GROUP BY queries whatever the data size. Raises PermissionDenied for
    someone who supervises nothing."""
    from django.core.exceptions import PermissionDenied

    if not may_supervise(actor):
        raise PermissionDenied
    now = now or timezone.now()
    queues = list(supervised_queues(actor).order_by("position", "name"))
    queue_ids = [q.pk for q in queues]
    rows = {q.pk: QueueRow(queue=q) for q in queues}
    live = Conversation.objects.filter(status__in=ACTIVE, queue_id__in=queue_ids)
    # grouped by status and queue, the order of the (status, queue, …) index: SQLite reads only the live rows in
    # it instead of every conversation of the queues through the queue index (100 → 40 ms at 100,000)
    counts = live.values("status", "queue_id").annotate(
        n=Count("id"),
        waiting=Count("id", filter=Q(owner__isnull=True)),
        oldest=Min("opened_at", filter=Q(owner__isnull=True)),
        breached=Count("id", filter=Q(sla_breached_at__isnull=False)),
        warned=Count("id", filter=Q(sla_warned_at__isnull=False, sla_breached_at__isnull=True)),
    ).order_by()
    for c in counts:
        row = rows[c["queue_id"]]
        if c["status"] == ConversationStatus.NEW:
            row.waiting, row.oldest_waiting, row.offered = c["waiting"], c["oldest"], c["n"] - c["waiting"]
        elif c["status"] == ConversationStatus.OPEN:
            row.open = c["n"]
        else:
            row.pending = c["n"]
        row.breached += c["breached"]
        row.warned += c["warned"]
    for row in rows.values():
        if row.oldest_waiting is not None:
            row.waiting_seconds = max(0, int((now - row.oldest_waiting).total_seconds()))

    # agents: the members of these queues, their presence and load (one query each)
    memberships = list(QueueMember.objects.filter(queue_id__in=queue_ids, user__is_active=True)
                       .select_related("user").order_by("user__first_name", "user__last_name", "user__username"))
    agents: dict[int, AgentRow] = {}
    names = {q.pk: q.name for q in queues}
    for m in memberships:
        row = agents.setdefault(m.user_id, AgentRow(user=m.user))
        row.queues.append(names[m.queue_id])
    profiles = AgentProfile.objects.filter(user_id__in=list(agents)).values_list(
        "user_id", "presence", "last_seen_at", "capacity")
    for user_id, presence, last_seen, capacity in profiles:
        row = agents[user_id]
        row.presence, row.last_seen_at, row.capacity = presence, last_seen, capacity
    weights = dict(LoadWeight.objects.values_list("channel_kind", "weight"))
    loads = (Conversation.objects.filter(owner_id__in=list(agents), status__in=ACTIVE)
             .values("owner_id", "kind").annotate(n=Count("id"),
                                                  offered=Count("id", filter=Q(status=ConversationStatus.NEW)))
             .order_by())
    for r in loads:
        row = agents[r["owner_id"]]
        if r["kind"] not in NO_LOAD_KINDS:  # the load as routing counts it
            row.load += r["n"] * weights.get(r["kind"], 1)
        row.conversations += r["n"]
        row.offered += r["offered"]
    for row in agents.values():
        row.presence_label = str(Presence(row.presence).label)
    order = {Presence.ONLINE: 0, Presence.AWAY: 1, Presence.OFFLINE: 2}
    agent_rows = sorted(agents.values(), key=lambda a: (order.get(a.presence, 3), -a.load))

    breached = list(
        live.filter(sla_breached_at__isnull=False).select_related("queue", "owner", "contact", "company", "channel")
        .order_by("sla_breached_at", "id")[:BREACHED_LIMIT]
    )
    totals = {
        "waiting": sum(r.waiting for r in rows.values()),
        "breached": sum(r.breached for r in rows.values()),
        "online": sum(1 for a in agent_rows if a.presence == Presence.ONLINE),
    }
    return {"queues": list(rows.values()), "agents": agent_rows, "breached": breached, "totals": totals, "now": now}


def unread_mentions(*, actor) -> int:
    from kramar.core.models import Notification

    return Notification.objects.filter(user_id=actor.pk, kind="mention", read_at__isnull=True).count()


def presence_of(actor) -> tuple[str, dt.datetime | None]:
    row = AgentProfile.objects.filter(user_id=actor.pk).values_list("presence", "last_seen_at").first()
    return (row[0], row[1]) if row else (Presence.OFFLINE, None)
