"""Reads of the Communication Center's configuration, and who may change it: channels, queues with their members
and supervisors, SLA targets, routing rules, the unprocessed items, the agents' board and one's own presence.

Who may do what:
- configuration (channels, queues, SLA targets, rules) is read by every signed-in user and written by
  administrators only (`config_admin_require`): superusers, or staff users holding the model's Django permission
  (`comms.add_channel`, `comms.change_queue`, `comms.delete_routingrule` …); anyone else is refused (403);
- the unprocessed items are for the same administrators (`comms.view_inboundfailure`; the change permission to
  resolve one);
- the agents' board is for administrators (superusers, staff with `comms.view_agentprofile`: every agent) and
  supervisors (the members of the queues they supervise; see `selectors.may_supervise`).

Each `*_get` is the guarded fetch of one row: 404 when there is none; `lock=True` re-reads it under a row lock (its
own table only) for a service about to change it. Lists return querysets; the caller pages them."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kramar.accounts.models import User
from kramar.comms import routing, selectors
from kramar.comms.choices import Presence
from kramar.comms.models import (
    AgentProfile,
    Channel,
    InboundFailure,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)

# Whole sentences per record and action, so that every language words each refusal in full.
ADMIN_DENIED = {
    "channel": gettext_lazy("Only administrators may change the channels."),
    "queue": gettext_lazy("Only administrators may change the queues."),
    "slapolicy": gettext_lazy("Only administrators may change the SLA targets."),
    "routingrule": gettext_lazy("Only administrators may change the routing rules."),
    "inboundfailure": gettext_lazy("Only administrators may see and resolve the unprocessed items."),
}


# ----------------------------------------------------------------------------------------- who may


def config_admin_may(*, actor: User, model: type[Model], action: str) -> bool:
    """Superusers, and staff users with the model's Django permission (`comms.<action>_<model>`)."""
    name = model._meta.model_name
    return actor.is_superuser or (actor.is_staff and actor.has_perm(f"comms.{action}_{name}"))


def config_admin_require(*, actor: User, model: type[Model], action: str) -> None:
    """As `config_admin_may`; anyone else: PermissionDenied (403) with the model's sentence."""
    if not config_admin_may(actor=actor, model=model, action=action):
        raise PermissionDenied(str(ADMIN_DENIED[model._meta.model_name]))


def _row(qs: QuerySet, pk: int, *, lock: bool, missing: str):
    """One configuration row of `qs` by id, locked (its own table only) for an update, else 404 `missing`."""
    if lock:
        qs = qs.select_for_update(of=("self",))
    row = qs.filter(pk=pk).first()
    if row is None:
        raise Http404(missing)
    return row


# ----------------------------------------------------------------------------------------- channels


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.select_related("queue")


def channel_get(*, pk: int, lock: bool = False) -> Channel:
    return _row(channel_list(), pk, lock=lock, missing="No such channel")


# ----------------------------------------------------------------------------------------- queues and SLA targets


def queue_list() -> QuerySet[Queue]:
    """The queues with their overflow queue, business hours, members and supervisors (a fixed number of queries)."""
    return Queue.objects.select_related("overflow_queue", "business_hours").prefetch_related(
        "memberships__user", "supervisors")


def queue_get(*, pk: int, lock: bool = False) -> Queue:
    return _row(queue_list(), pk, lock=lock, missing="No such queue")


def sla_policy_list(*, queue_id: int) -> QuerySet[SlaPolicy]:
    """The queue's SLA targets; an unknown queue is 404."""
    queue = queue_get(pk=queue_id)
    return SlaPolicy.objects.filter(queue=queue)


def sla_policy_get(*, queue_id: int, pk: int, lock: bool = False) -> SlaPolicy:
    """One of the queue's targets: another queue's target is 404 through this one."""
    return _row(SlaPolicy.objects.filter(queue_id=queue_id), pk, lock=lock, missing="No such SLA target")


# ----------------------------------------------------------------------------------------- routing rules


def routing_rule_list() -> QuerySet[RoutingRule]:
    """The rules in the order the engine tries them (`position`, then id)."""
    return RoutingRule.objects.select_related("queue").order_by("position", "id")


def routing_rule_get(*, pk: int, lock: bool = False) -> RoutingRule:
    return _row(RoutingRule.objects.select_related("queue"), pk, lock=lock, missing="No such routing rule")


# ----------------------------------------------------------------------------------------- unprocessed items


def inbound_failure_list(*, actor: User, resolved: bool | None = None,
                         channel_id: int | None = None) -> QuerySet[InboundFailure]:
    """The items that could not be processed, for administrators (403 otherwise); filtered when asked."""
    config_admin_require(actor=actor, model=InboundFailure, action="view")
    qs = InboundFailure.objects.select_related("channel")
    if resolved is not None:
        qs = qs.filter(resolved_at__isnull=not resolved)
    if channel_id:
        qs = qs.filter(channel_id=channel_id)
    return qs


def inbound_failure_get(*, actor: User, pk: int, action: str = "view") -> InboundFailure:
    """One item, for administrators allowed `action` (403 otherwise, before the 404 of an unknown id)."""
    config_admin_require(actor=actor, model=InboundFailure, action=action)
    return _row(InboundFailure.objects.select_related("channel"), pk, lock=False, missing="No such unprocessed item")


def inbound_failure_original(*, actor: User, pk: int):
    """The original bytes of an unprocessed item as a download (`message/rfc822` for an e-mail; never rendered),
    for administrators (403 otherwise); 404 when none was kept or its file is gone."""
    import mimetypes

    from django.http import FileResponse

    failure = inbound_failure_get(actor=actor, pk=pk)
    if not failure.raw:
        raise Http404(_("No original was kept."))
    name = failure.raw.name.rsplit("/", 1)[-1]
    try:
        handle = failure.raw.open("rb")
    except FileNotFoundError:
        raise Http404(_("The original is missing.")) from None
    kind = "message/rfc822" if name.endswith(".eml") else mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(handle, as_attachment=True, filename=name, content_type=kind)
    response["X-Content-Type-Options"] = "nosniff"
    return response


# ----------------------------------------------------------------------------------------- presence and agents


@dataclass
class AgentState:
    """An agent's presence profile (None: never set one) and load, plus their queues on the board."""

    user: User
    profile: AgentProfile | None
    load: int
    queue_ids: list[int] = field(default_factory=list)


def agent_loads(user_ids: list[int]) -> dict[int, int]:
    """Each agent's load as the routing engine counts it (weighted conversations not closed)."""
    return routing._loads(user_ids, routing.load_weights(), exclude_conversation=None)


def agent_presence_get(*, actor: User) -> AgentState:
    """The actor's own presence, capacity, skills and load."""
    profile = AgentProfile.objects.filter(user=actor).first()
    return AgentState(user=actor, profile=profile, load=agent_loads([actor.pk]).get(actor.pk, 0))


def agent_list(*, actor: User, queue_id: int | None = None, presence: str | None = None) -> QuerySet[User]:
    """The active agents the actor may see on the board: every agent (a profile or a queue membership) for
    administrators, the members of the queues they supervise for supervisors; anyone else 403. Filtered by a
    queue's membership and by presence (offline: also those who never set one)."""
    if actor.is_superuser or (actor.is_staff and actor.has_perm("comms.view_agentprofile")):
        qs = User.objects.filter(Q(pk__in=AgentProfile.objects.values("user_id"))
                                 | Q(pk__in=QueueMember.objects.values("user_id")))
    elif selectors.may_supervise(actor):
        queues = selectors.supervised_queues(actor).values("pk")
        qs = User.objects.filter(pk__in=QueueMember.objects.filter(queue_id__in=queues).values("user_id"))
    else:
        raise PermissionDenied(_("Only supervisors and administrators may see the agents."))
    qs = qs.filter(is_active=True)
    if queue_id is not None:
        qs = qs.filter(pk__in=QueueMember.objects.filter(queue_id=queue_id).values("user_id"))
    if presence == Presence.OFFLINE:
        qs = qs.exclude(pk__in=AgentProfile.objects.exclude(presence=Presence.OFFLINE).values("user_id"))
    elif presence is not None:
        qs = qs.filter(pk__in=AgentProfile.objects.filter(presence=presence).values("user_id"))
    return qs


def agent_board(*, users: list[User]) -> list[AgentState]:
    """Presence, load and queues of a page of agents, in a fixed number of queries whatever its size."""
    ids = [u.pk for u in users]
    profiles = {p.user_id: p for p in AgentProfile.objects.filter(user_id__in=ids)}
    loads = agent_loads(ids)
    queues: dict[int, list[int]] = {pk: [] for pk in ids}
    for user_id, queue_id in QueueMember.objects.filter(user_id__in=ids).order_by("queue_id").values_list(
            "user_id", "queue_id"):
        queues[user_id].append(queue_id)
    return [AgentState(user=u, profile=profiles.get(u.pk), load=loads.get(u.pk, 0), queue_ids=queues[u.pk])
            for u in users]


# ----------------------------------------------------------------------------------------- channel status page


@dataclass
class ChannelStatus:
    """One row of the channels page: the channel (never its secret), whether it is read by polling, its unprocessed
    items still open (None: the viewer may not see them)."""

    channel: Channel
    polled: bool
    failures_open: int | None


def channels_status_may(*, actor: User) -> bool:
    """The channels page: supervisors (`selectors.may_supervise`) and administrators of channels."""
    return selectors.may_supervise(actor) or config_admin_may(actor=actor, model=Channel, action="view")


def channels_status(*, actor: User) -> list[ChannelStatus]:
    """Every channel with its state, active ones first (403 for anyone but supervisors and administrators): two
    queries."""
    from django.db.models import Count

    from kramar.comms.ingest import MAIL_KINDS

    if not channels_status_may(actor=actor):
        raise PermissionDenied(_("Only supervisors and administrators may see the channels."))
    failures = None
    if config_admin_may(actor=actor, model=InboundFailure, action="view"):
        failures = dict(InboundFailure.objects.filter(resolved_at__isnull=True).values("channel_id")
                        .annotate(n=Count("id")).values_list("channel_id", "n").order_by())
    return [
        ChannelStatus(channel=c, polled=c.kind in MAIL_KINDS,
                      failures_open=None if failures is None else failures.get(c.pk, 0))
        for c in Channel.objects.select_related("queue").order_by("-active", "kind", "name")
    ]
