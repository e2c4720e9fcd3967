"""Reads of the sales domain. Deal reads start from `Deal.objects.visible_to(actor)`; `deal_get` is the guarded
fetch (404 outside the actor's scope). Lists and the board annotate the base amount, the next open task's due
time and whether the deal is rotting, all in SQL, with a bounded number of queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    prefetch_related_objects,
)
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_date

from kramar.activities.choices import TaskStatus
from kramar.activities.models import Task
from kramar.clients.models import Company
from kramar.core import scopes
from kramar.core.models import AuditEntry
from kramar.sales import money
from kramar.sales.choices import DealStatus, StageKind
from kramar.sales.models import Deal, DealStageHistory, LostReason, Pipeline, Product, Stage
from kramar.sales.money import deals_with_base_amount

CENT = Decimal("0.01")
BOARD_CLOSED_DAYS = 30

DEAL_SORTS: dict[str, tuple[Any, ...]] = {
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "amount": (F("amount_base").asc(nulls_last=True), "id"),
    "-amount": (F("amount_base").desc(nulls_last=True), "-id"),
    "close": (F("expected_close_date").asc(nulls_last=True), "id"),
    "-close": (F("expected_close_date").desc(nulls_last=True), "-id"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
    "stage": ("pipeline__position", "pipeline_id", "stage__position", "stage_id", "-updated_at", "-id"),
}
TRUE_VALUES = {True, "1", "true", "True", "on", "yes"}


# ------------------------------------------------------------------------------------------ pipelines


def pipeline_list() -> QuerySet[Pipeline]:
    """Active pipelines in their order, with their stages."""
    return Pipeline.objects.filter(active=True).order_by("position", "id").prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("position", "id"))
    )


def pipeline_get(*, pk: Any) -> Pipeline:
    try:
        return pipeline_list().get(pk=int(pk))
    except (Pipeline.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such pipeline") from exc


def pipeline_default() -> Pipeline | None:
    """The pipeline marked default, else the first active one; None when there is none."""
    qs = pipeline_list()
    return qs.filter(is_default=True).first() or qs.first()


def stage_get(*, pk: Any, actor=None) -> Stage:
    try:
        return Stage.objects.select_related("pipeline").get(pk=int(pk))
    except (Stage.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such stage") from exc


def lost_reasons() -> QuerySet[LostReason]:
    return LostReason.objects.filter(active=True).order_by("position", "name")


# ------------------------------------------------------------------------------------------ deals


class DaysInterval(Func):
    """A whole number of days (an integer expression) as an SQL duration: an interval on PostgreSQL, the
    microseconds Django uses for durations on SQLite."""

    output_field = DurationField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="make_interval(days => %(expressions)s)",
                              **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="(%(expressions)s * 86400000000)", **extra_context)


def _rotting_q(now: dt.datetime | None = None) -> Q:
    """Open deals whose time in their stage exceeds the stage's rotting limit (days), in SQL."""
    now = now or timezone.now()
    limit = DaysInterval(F("stage__rotting_days"))
    return Q(status=DealStatus.OPEN, stage__rotting_days__isnull=False) & Q(
        stage_entered_at__lt=ExpressionWrapper(Value(now) - limit, output_field=DateTimeField())
    )


def deals_annotate(qs: QuerySet[Deal], *, now: dt.datetime | None = None) -> QuerySet[Deal]:
    """amount_base, next_task_due (earliest due time of the deal's open tasks) and is_rotting, all in SQL."""
    next_due = (
        Task.objects.filter(deal_id=OuterRef("pk"), status=TaskStatus.OPEN, due_at__isnull=False)
        .order_by("due_at")
        .values("due_at")[:1]
    )
    return deals_with_base_amount(qs).annotate(
        next_task_due=Subquery(next_due),
        is_rotting=ExpressionWrapper(_rotting_q(now), output_field=BooleanField()),
    )


def deal_get(*, actor, pk: Any, action: str = "view") -> Deal:
    try:
        return (
            Deal.objects.visible_to(actor, action)
            .select_related("company", "owner", "team", "stage", "pipeline", "currency", "lost_reason")
            .get(pk=int(pk))
        )
    except (Deal.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such deal") from exc


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return parse_date(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _truthy(value: Any) -> bool:
    return value in TRUE_VALUES


def deals_filter(qs: QuerySet[Deal], *, actor, filters: dict[str, Any] | None) -> QuerySet[Deal]:
    """Apply the deal list / board filters; values that do not parse are ignored (never a 500)."""
    filters = filters or {}
    for key, lookup in (("pipeline", "pipeline_id"), ("stage", "stage_id"), ("team", "team_id")):
        if filters.get(key) not in (None, ""):
            value = _int(filters[key])
            qs = qs.filter(**{lookup: value}) if value is not None else qs.none()
    if filters.get("status") in DealStatus.values:
        qs = qs.filter(status=filters["status"])
    owner = filters.get("owner")
    if owner not in (None, ""):
        owner_id = actor.pk if owner == "me" else _int(owner)
        qs = qs.filter(owner_id=owner_id) if owner_id is not None else qs.none()
    if filters.get("tag"):
        qs = qs.filter(tags__name=str(filters["tag"]).strip())
    close_from, close_to = _date(filters.get("close_from")), _date(filters.get("close_to"))
    if close_from:
        qs = qs.filter(expected_close_date__gte=close_from)
    if close_to:
        qs = qs.filter(expected_close_date__lte=close_to)
    if filters.get("q"):
        qs = qs.filter(title__icontains=str(filters["q"]).strip())
    if _truthy(filters.get("rotting")):
        qs = qs.filter(_rotting_q())
    if _truthy(filters.get("no_next_step")):
        open_tasks = Task.objects.filter(deal_id=OuterRef("pk"), status=TaskStatus.OPEN)
        qs = qs.filter(status=DealStatus.OPEN).filter(~Exists(open_tasks))
    return qs


def deal_list(*, actor, filters: dict[str, Any] | None = None, sort: str = "-updated") -> QuerySet[Deal]:
    """Deals the actor may see, filtered and sorted, annotated with amount_base, next_task_due, is_rotting."""
    qs = deals_filter(Deal.objects.visible_to(actor, "view"), actor=actor, filters=filters)
    return (
        deals_annotate(qs)
        .select_related("company", "owner", "team", "stage", "pipeline", "currency")
        .order_by(*DEAL_SORTS.get(sort, DEAL_SORTS["-updated"]))
    )


def deals_company_visible(*, actor, deals: list[Deal]) -> list[Deal]:
    """Mark on each deal whether the actor may see its company (`company_visible`): a deal's scope follows its
    owner and team, so a deal you see may be with another team's client; then the company's name is not shown.
    One query for the whole list (none when no deal has a company). Returns `deals`."""
    visible = scopes.visible_ids(actor, Company, [d.company_id for d in deals])
    for d in deals:
        d.company_visible = d.company_id in visible
    return deals


def deal_audit_entries(*, deal: Deal) -> QuerySet[AuditEntry]:
    """The deal's own audit entries, newest first (the caller fetched the deal with `deal_get`: its scope)."""
    return (
        AuditEntry.objects.filter(entity=Deal.scope_entity, object_id=deal.pk)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def deal_stage_history(*, deal) -> QuerySet[DealStageHistory]:
    """The deal's stays in stages, oldest first (left_at NULL: the current one)."""
    return DealStageHistory.objects.filter(deal_id=deal.pk).select_related("stage", "actor").order_by("entered_at", "id")


# ------------------------------------------------------------------------------------------ board


@dataclass
class BoardColumn:
    stage: Stage
    deals: list[Deal] = field(default_factory=list)
    count: int = 0
    total_base: Decimal = Decimal("0.00")
    weighted_base: Decimal = Decimal("0.00")
    closed_since: dt.datetime | None = None  # a won/lost column shows the deals closed since then (None: all)


def _board_deals(actor, pipeline, filters: dict[str, Any] | None) -> tuple[QuerySet[Deal], dt.datetime | None]:
    """The deals of the board and, unless a close-date filter bounds them, the moment since which closed
    (won/lost) deals are shown: the board is for work in progress, the won and lost columns show the last
    BOARD_CLOSED_DAYS days (the deal list and the reports hold the rest)."""
    filters = {k: v for k, v in (filters or {}).items() if k not in ("pipeline", "stage")}
    base = deals_filter(Deal.objects.visible_to(actor, "view").filter(pipeline_id=pipeline.pk), actor=actor,
                        filters=filters)
    bounded = bool(_date(filters.get("close_from")) or _date(filters.get("close_to")))
    closed_since = None if bounded else timezone.now() - dt.timedelta(days=BOARD_CLOSED_DAYS)
    return base, closed_since


def _column(base: QuerySet[Deal], stage: Stage, closed_since: dt.datetime | None) -> QuerySet[Deal]:
    """One column's deals in board order: open stages by last update, won/lost by closing time (both walk an
    index of (pipeline, stage, …) and stop at the page's end)."""
    qs = base.filter(stage_id=stage.pk)
    if stage.kind == StageKind.OPEN:
        return qs.order_by("-updated_at", "-id")
    if closed_since is not None:
        qs = qs.filter(closed_at__gte=closed_since)
    return qs.order_by("-closed_at", "-id")


def board(*, actor, pipeline, filters: dict[str, Any] | None = None, per_stage: int = 30) -> list[BoardColumn]:
    """One column per stage of `pipeline`: the first `per_stage` deals, how many there are, their total in the
    base currency (today's rates) and the total weighted by the stage's probability. Won and lost columns hold
    the deals closed in the last BOARD_CLOSED_DAYS days unless a close-date filter is given.
    Queries: stages (1) + totals (2) + rates (1) + deals per stage (1 each) + tags of all shown deals (1) + which
    of their companies the actor may see (1; `company_visible` on each deal).
    Totals are summed per currency in SQL and converted here (no per-row rate look-up)."""
    stages = list(Stage.objects.filter(pipeline_id=pipeline.pk).order_by("position", "id"))
    base, closed_since = _board_deals(actor, pipeline, filters)
    # open deals and the closed ones in the window apart: each part then reads one index (an OR of the two
    # makes SQLite walk the whole pipeline)
    parts = [base] if closed_since is None else [
        base.filter(status=DealStatus.OPEN),
        base.filter(status__in=[DealStatus.WON, DealStatus.LOST], closed_at__gte=closed_since),
    ]
    sums: dict[int, list[tuple[str, int, Decimal]]] = {}
    for part in parts:
        for row in part.order_by().values("stage_id", "currency_id").annotate(n=Count("id"), total=Sum("amount")):
            sums.setdefault(row["stage_id"], []).append((row["currency_id"], row["n"], Decimal(row["total"] or 0)))
    rates = money.rates_on() if sums else {}
    columns: list[BoardColumn] = []
    shown: list[Deal] = []
    for stage in stages:
        column = BoardColumn(stage=stage, closed_since=closed_since if stage.kind != StageKind.OPEN else None)
        for currency, n, total in sums.get(stage.pk, []):
            column.count += n
            rate = rates.get(currency)
            if rate is not None:  # without a rate the amount cannot be shown in the base currency
                column.total_base += (total * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        column.total_base = column.total_base.quantize(CENT)
        column.weighted_base = (column.total_base * Decimal(stage.probability) / Decimal(100)).quantize(CENT)
        if column.count and per_stage > 0:
            column.deals = list(
                deals_annotate(_column(base, stage, closed_since))
                .select_related("company", "owner", "currency", "stage")[:per_stage]
            )
            shown.extend(column.deals)
        columns.append(column)
    if shown:
        prefetch_related_objects(shown, "tags")
        deals_company_visible(actor=actor, deals=shown)
    return columns


def board_column_deals(*, actor, pipeline, stage, filters=None, offset: int = 0, limit: int = 30) -> list[Deal]:
    """More deals of one board column ("load more"), in the board's order and window."""
    base, closed_since = _board_deals(actor, pipeline, filters)
    deals = list(
        deals_annotate(_column(base, stage, closed_since)).select_related("company", "owner", "currency", "stage")
        .prefetch_related("tags")[offset : offset + limit]
    )
    return deals_company_visible(actor=actor, deals=deals)


# ------------------------------------------------------------------------------------------ products


def product_list(*, filters: dict[str, Any] | None = None) -> QuerySet[Product]:
    filters = filters or {}
    qs = Product.objects.all()
    if filters.get("q"):
        q = str(filters["q"]).strip()
        qs = qs.filter(Q(name__icontains=q) | Q(sku__icontains=q))
    active = filters.get("active")
    if active not in (None, ""):
        qs = qs.filter(active=_truthy(active))
    return qs.order_by("name", "id")


def product_get(*, pk: Any) -> Product:
    try:
        return Product.objects.prefetch_related("prices").get(pk=int(pk))
    except (Product.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such product") from exc
