"""Reads of the managers' control page: per rep (and per team) counts of broken sales rules and targets against
won amounts, within the viewer's scope. Every counter is one GROUP BY owner query, never a loop over reps.

Who sees whom: the viewer's management scope is the narrower of their deal "view" and "change" scopes. A
director (all/all) sees every team's reps; a team lead (team/team) the reps of their own teams; a rep (who may
view the team's deals but change only their own) sees only their own row. Records are also limited by the
viewer's record scopes (`visible_to`), so a counter never counts a record the viewer could not open."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from kramar.accounts.models import Membership, Team, User
from kramar.activities.models import Task
from kramar.clients.models import Company, Contact
from kramar.control import rules
from kramar.control.rules import Day
from kramar.control.targets import Period, Progress, progress_for
from kramar.core import scopes
from kramar.sales.choices import DealStatus
from kramar.sales.models import Deal, SalesTarget

# The counters: key → (label, model). Their querysets are built by `rule_queryset`.
COUNTERS: dict[str, str] = {
    "no_next_step": _("Open deals without a next step"),
    "overdue_tasks": _("Overdue tasks"),
    "rotting": _("Deals rotting in a stage"),
    "stale_companies": _("Companies not contacted in time"),
    "stale_contacts": _("Contacts not contacted in time"),
}
PERIOD_CHOICES_LIMIT = 24


def control_scope(user) -> int:
    """The viewer's management scope (scopes.OWN / TEAM / ALL), NONE without any deal view grant."""
    view = scopes.scope_for(user, "deal", "view")
    if view == scopes.NONE:
        return scopes.NONE
    return min(view, max(scopes.scope_for(user, "deal", "change"), scopes.OWN))


def control_teams(*, viewer, scope: int) -> QuerySet[Team]:
    """The teams the viewer may filter by."""
    if scope >= scopes.ALL:
        return Team.objects.order_by("name")
    if scope == scopes.TEAM:
        return Team.objects.filter(pk__in=scopes.user_team_ids(viewer)).order_by("name")
    return Team.objects.none()


def control_reps(*, viewer, scope: int, team: Team | None = None) -> list[User]:
    """The users shown as rows: the viewer alone (own scope), the members of the viewer's teams (team scope) or
    the members of any team (all); `team` narrows to one team that must be within the scope."""
    if scope == scopes.NONE:
        raise PermissionDenied
    if scope == scopes.OWN:
        return [viewer]
    qs = User.objects.filter(is_active=True)
    if team is not None:
        qs = qs.filter(memberships__team_id=team.pk)
    elif scope == scopes.TEAM:
        qs = qs.filter(memberships__team_id__in=scopes.user_team_ids(viewer))
    else:
        qs = qs.filter(memberships__isnull=False)
    return list(qs.distinct().order_by("first_name", "last_name", "username"))


def rule_queryset(kind: str, *, viewer, day: Day, policies: dict[str, int] | None = None) -> QuerySet:
    """The records breaking rule `kind` that the viewer may see (before narrowing to reps)."""
    if kind == "no_next_step":
        return Deal.objects.visible_to(viewer, "view").filter(status=DealStatus.OPEN).filter(rules.no_next_step_q())
    if kind == "rotting":
        return Deal.objects.visible_to(viewer, "view").filter(status=DealStatus.OPEN).filter(rules.rotting_q(day))
    if kind == "overdue_tasks":
        return Task.objects.visible_to(viewer, "view").filter(rules.task_overdue_q(day))
    if kind in ("stale_companies", "stale_contacts"):
        model = Company if kind == "stale_companies" else Contact
        policies = rules.contact_policies() if policies is None else policies
        return model.objects.visible_to(viewer, "view").filter(rules.client_stale_q(day, policies))
    raise Http404("No such rule")


@dataclass
class RepRow:
    user: User
    team: Team | None
    counts: dict[str, int]
    progress: Progress

    @property
    def stale_clients(self) -> int:
        return self.counts["stale_companies"] + self.counts["stale_contacts"]


@dataclass
class TeamRow:
    team: Team | None
    reps: list[RepRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    target: Decimal | None = None  # summed only when every rep's target is in one currency
    won: Decimal | None = None
    currency: str = ""

    @property
    def percent(self) -> int | None:
        if not self.target or self.won is None:
            return None
        return int((self.won * 100 / self.target).to_integral_value())

    @property
    def stale_clients(self) -> int:
        return self.counts["stale_companies"] + self.counts["stale_contacts"]


@dataclass
class Overview:
    scope: int
    period: Period
    periods: list[Period]
    team: Team | None
    teams: list[Team]
    rows: list[RepRow]
    groups: list[TeamRow]
    totals: dict[str, int]


def period_choices(*, rep_ids: list[int], day: Day) -> list[Period]:
    """The target periods of the reps (most recent first), and the current month."""
    pairs = (
        SalesTarget.objects.filter(user_id__in=rep_ids)
        .order_by("-period_start", "period_end")
        .values_list("period_start", "period_end")
        .distinct()[:PERIOD_CHOICES_LIMIT]
    )
    periods = [Period(start, end) for start, end in pairs]
    month = Period.month_of(day.date)
    if month not in periods:
        periods.append(month)
    return periods


def default_period(periods: list[Period], day: Day) -> Period:
    """The shortest period containing today, else the current month."""
    current = [p for p in periods if p.start <= day.date <= p.end]
    return min(current, key=lambda p: (p.end - p.start, -p.start.toordinal())) if current else Period.month_of(day.date)


def _team_of(reps: list[User], teams: list[Team], scope: int) -> dict[int, Team | None]:
    """Each rep's team for grouping: their primary membership among the allowed teams (one query)."""
    allowed = {t.pk: t for t in teams}
    result: dict[int, Team | None] = {}
    memberships = Membership.objects.filter(user__in=[r.pk for r in reps]).select_related("team")
    for m in sorted(memberships, key=lambda m: (not m.is_primary, m.pk)):
        if m.user_id not in result and (scope >= scopes.ALL or m.team_id in allowed):
            result[m.user_id] = m.team
    return result


def control_overview(*, viewer, team_id=None, period: Period | None = None, day: Day | None = None) -> Overview:
    """Everything the control page shows. Raises PermissionDenied without a deal view grant, Http404 for a team
    outside the viewer's scope."""
    day = day or Day.of()
    scope = control_scope(viewer)
    if scope == scopes.NONE:
        raise PermissionDenied
    teams = list(control_teams(viewer=viewer, scope=scope))
    team = None
    if team_id not in (None, ""):
        team = next((t for t in teams if str(t.pk) == str(team_id)), None)
        if team is None:
            raise Http404("No such team in your scope")
    reps = control_reps(viewer=viewer, scope=scope, team=team)
    rep_ids = [r.pk for r in reps]
    policies = rules.contact_policies()
    counts: dict[str, dict[int, int]] = {}
    for kind in COUNTERS:
        qs = rule_queryset(kind, viewer=viewer, day=day, policies=policies).filter(owner_id__in=rep_ids)
        counts[kind] = dict(qs.order_by().values_list("owner_id").annotate(n=Count("pk")))
    periods = period_choices(rep_ids=rep_ids, day=day)
    period = period or default_period(periods, day)
    if period not in periods:
        periods.insert(0, period)
    targets = {
        t.user_id: t
        for t in SalesTarget.objects.filter(user_id__in=rep_ids, period_start=period.start, period_end=period.end)
    }
    progress = progress_for(
        owner_ids=rep_ids, period=period, targets=targets, default_currency=settings.KRAMAR_BASE_CURRENCY,
        deals=Deal.objects.visible_to(viewer, "view"),
    )
    team_of = _team_of(reps, teams, scope) if scope > scopes.OWN else {}
    rows = [
        RepRow(
            user=rep, team=team_of.get(rep.pk), counts={k: counts[k].get(rep.pk, 0) for k in COUNTERS},
            progress=progress[rep.pk],
        )
        for rep in reps
    ]
    return Overview(
        scope=scope, period=period, periods=periods, team=team, teams=teams, rows=rows,
        groups=_groups(rows), totals={k: sum(r.counts[k] for r in rows) for k in COUNTERS},
    )


def _groups(rows: list[RepRow]) -> list[TeamRow]:
    groups: dict[int | None, TeamRow] = {}
    for row in rows:
        group = groups.setdefault(row.team.pk if row.team else None, TeamRow(team=row.team))
        group.reps.append(row)
        for k, v in row.counts.items():
            group.counts[k] += v
    for group in groups.values():
        currencies = {r.progress.currency for r in group.reps if r.progress.target is not None}
        if len(currencies) == 1:
            group.currency = currencies.pop()
            with_target = [r.progress for r in group.reps if r.progress.target is not None]
            group.target = sum((p.target.amount for p in with_target), Decimal("0"))
            group.won = sum((p.won for p in with_target), Decimal("0"))
    ordered = sorted(groups.values(), key=lambda g: (g.team is None, g.team.name if g.team else ""))
    return ordered


def control_drilldown(*, viewer, kind: str, rep_id, day: Day | None = None) -> tuple[User, QuerySet]:
    """The records behind one counter of one rep, ordered for reading; Http404 for an unknown rule or a rep
    outside the viewer's scope."""
    day = day or Day.of()
    if kind not in COUNTERS:
        raise Http404("No such rule")
    scope = control_scope(viewer)
    if scope == scopes.NONE:
        raise PermissionDenied
    rep = next((r for r in control_reps(viewer=viewer, scope=scope) if str(r.pk) == str(rep_id)), None)
    if rep is None:
        raise Http404("No such rep in your scope")
    qs = rule_queryset(kind, viewer=viewer, day=day).filter(owner_id=rep.pk)
    if kind in ("no_next_step", "rotting"):
        qs = qs.select_related("stage", "company", "currency").order_by("stage_entered_at", "id")
    elif kind == "overdue_tasks":
        qs = qs.select_related("contact", "company", "deal").order_by("due_at", "id")
    else:
        qs = qs.order_by(F("last_contacted_at").asc(nulls_first=True), "pk")
    return rep, qs
