"""REST operations of the sales domain: pipelines and stages, deals (with the move-stage action that applies
the stage rules, product lines, checklist and stage history), products, lost reasons, currencies with dated
exchange rates, and targets. Each operation authenticates (the API's auth), parses, calls one selector or
service and renders; scopes, validation, stage rules and audit live in the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Path, Query, Router, Status
from ninja.errors import HttpError

from kramar.clients.models import Contact
from kramar.core import scopes
from kramar.core.api_support import (
    ERRORS,
    Cursor,
    Id,
    Limit,
    actor,
    check_version,
    cursor_decode,
    cursor_encode,
    etag_for,
    expected_version,
    json_response,
    paginate,
)
from kramar.core.errors import ValidationFailed
from kramar.core.schemas import AuditPage
from kramar.sales import money, selectors, services
from kramar.sales.models import (
    ChecklistItem,
    Currency,
    Deal,
    DealStageHistory,
    ExchangeRate,
    SalesTarget,
    Stage,
)
from kramar.sales.schemas import (
    ChecklistIn,
    CurrencyPage,
    DealFilters,
    DealIn,
    DealLinesIn,
    DealMoveIn,
    DealOut,
    DealPage,
    DealPatch,
    ExchangeRateIn,
    ExchangeRateOut,
    ExchangeRatePage,
    LostReasonPage,
    PipelineOut,
    PipelinePage,
    ProductFilters,
    ProductIn,
    ProductOut,
    ProductPage,
    SalesProblem,
    StageHistoryPage,
    StageOut,
    TargetFilters,
    TargetIn,
    TargetOut,
    TargetPage,
)

router = Router(tags=["sales"])

SALES_ERRORS = {**ERRORS, 400: SalesProblem, 422: SalesProblem}
CurrencyPath = Annotated[str, Path(pattern=r"^[A-Za-z]{3}$")]
SOURCE = "api"
RATE_PLACES = Decimal("0.000001")


# ----------------------------------------------------------------------------------------- keyset pages


class Key:
    """One column of a keyset order: `path` (may follow relations with "__"), direction, the kind of value
    (for the cursor) and whether it may be NULL (NULLs sort last in both directions)."""

    def __init__(self, path: str, *, desc: bool = False, kind: str = "int", nullable: bool = False):
        self.path, self.desc, self.kind, self.nullable = path, desc, kind, nullable

    def value(self, row) -> Any:
        value = row
        for part in self.path.split("__"):
            value = getattr(value, part)
        return value

    def encode(self, value: Any) -> Any:
        if value is None:
            return ""
        if self.kind in ("date", "decimal"):
            return str(value)
        return value

    def decode(self, raw: Any) -> Any:
        if self.nullable and raw == "":
            return None
        if self.kind == "date":
            return dt.date.fromisoformat(raw)
        if self.kind == "decimal":
            number = Decimal(raw)
            if not number.is_finite():
                raise ValueError("not a number")
            return number
        return raw

    @property
    def cursor_kind(self) -> str:
        return {"date": "text", "decimal": "text"}.get(self.kind, self.kind)

    def after(self, value: Any) -> Q:
        """Rows strictly after `value` in this column's order (NULLs last)."""
        if value is None:
            return Q(pk__in=[])
        q = Q(**{f"{self.path}__{'lt' if self.desc else 'gt'}": value})
        return q | Q(**{f"{self.path}__isnull": True}) if self.nullable else q

    def equal(self, value: Any) -> Q:
        return Q(**{f"{self.path}__isnull": True}) if value is None else Q(**{self.path: value})


def _keyset_filter(keys: list[Key], values: list[Any]) -> Q:
    q = Q()
    for i, key in enumerate(keys):
        part = key.after(values[i])
        for j in range(i):
            part &= keys[j].equal(values[j])
        q |= part
    return q


def keyset_page(qs: QuerySet, *, keys: list[Key], sort: str, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """A page of `qs` (already ordered as `keys` say) after `cursor`, and the cursor of the next page. A cursor
    that does not decode, or belongs to another sort, is a 400."""
    if cursor:
        raw = cursor_decode(cursor, sort, [k.cursor_kind for k in keys])
        try:
            values = [k.decode(v) for k, v in zip(keys, raw, strict=True)]
        except (ValueError, TypeError, InvalidOperation) as exc:
            raise HttpError(400, _("The cursor is not valid; start again without it.")) from exc
        qs = qs.filter(_keyset_filter(keys, values))
    rows = list(qs[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, cursor_encode(sort, [k.encode(k.value(rows[-1])) for k in keys])


def _id_key(desc: bool = False) -> Key:
    return Key("id", desc=desc)


# The same orders as selectors.DEAL_SORTS, column by column (ids break ties).
DEAL_KEYS: dict[str, list[Key]] = {
    "title": [Key("title", kind="text"), _id_key()],
    "-title": [Key("title", desc=True, kind="text"), _id_key(True)],
    "amount": [Key("amount_base", kind="decimal", nullable=True), _id_key()],
    "-amount": [Key("amount_base", desc=True, kind="decimal", nullable=True), _id_key(True)],
    "close": [Key("expected_close_date", kind="date", nullable=True), _id_key()],
    "-close": [Key("expected_close_date", desc=True, kind="date", nullable=True), _id_key(True)],
    "updated": [Key("updated_at", kind="datetime"), _id_key()],
    "-updated": [Key("updated_at", desc=True, kind="datetime"), _id_key(True)],
    "stage": [
        Key("pipeline__position"), Key("pipeline_id"), Key("stage__position"), Key("stage_id"),
        Key("updated_at", desc=True, kind="datetime"), _id_key(True),
    ],
}


# ----------------------------------------------------------------------------------------- rendering


def _ref(obj, name: str | None = None) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": name if name is not None else str(obj)} if obj is not None else None


def _user_ref(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": f"{user.first_name} {user.last_name}".strip() or user.username}


def _stage_ref(stage: Stage) -> dict[str, Any]:
    return {"id": stage.pk, "name": stage.name, "kind": stage.kind, "probability": stage.probability}


def _stage_out(stage: Stage) -> dict[str, Any]:
    return {
        "id": stage.pk,
        "pipeline_id": stage.pipeline_id,
        "name": stage.name,
        "position": stage.position,
        "kind": stage.kind,
        "probability": stage.probability,
        "rotting_days": stage.rotting_days,
        "required_fields": list(stage.required_fields or []),
        "required_activities": list(stage.required_activities or []),
        "checklist": [
            {"id": c.pk, "text": c.text, "required": c.required, "position": c.position} for c in stage.checklist.all()
        ],
    }


def _pipeline_out(pipeline) -> dict[str, Any]:
    return {
        "id": pipeline.pk,
        "name": pipeline.name,
        "position": pipeline.position,
        "is_default": pipeline.is_default,
        "active": pipeline.active,
        "stages": [_stage_out(s) for s in pipeline.stages.all()],
    }


def _company_ref(d: Deal) -> dict[str, Any] | None:
    """The deal's company; its name only when the reader may see it (`deals_company_visible` marked the deal)."""
    if d.company_id is None:
        return None
    return {"id": d.company_id, "name": d.company.name if getattr(d, "company_visible", False) else None}


def _deal_list_item(d: Deal, tags: list[str]) -> dict[str, Any]:
    return {
        "id": d.pk,
        "title": d.title,
        "pipeline_id": d.pipeline_id,
        "stage": _stage_ref(d.stage),
        "status": d.status,
        "amount": d.amount,
        "currency": d.currency_id,
        "amount_base": d.amount_base,
        "expected_close_date": d.expected_close_date,
        "company": _company_ref(d),
        "owner": _user_ref(d.owner),
        "team_id": d.team_id,
        "tags": tags,
        "next_task_due": d.next_task_due,
        "is_rotting": bool(d.is_rotting),
        "version": d.version,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }


def _deal_out(d: Deal, reader) -> dict[str, Any]:
    """The full deal; `d` comes from `selectors.deal_list` (annotated, related rows selected). The names of its
    company and contacts are shown only when `reader` may see them."""
    links = list(d.contact_links.select_related("contact").order_by("-is_primary", "id"))
    seen = scopes.visible_ids(reader, Contact, [link.contact_id for link in links])
    selectors.deals_company_visible(actor=reader, deals=[d])
    checked = set(d.checks.values_list("item_id", flat=True))
    items = ChecklistItem.objects.filter(stage__pipeline_id=d.pipeline_id).order_by(
        "stage__position", "position", "id"
    )
    return {
        **_deal_list_item(d, sorted(d.tags.values_list("name", flat=True))),
        "pipeline": {"id": d.pipeline_id, "name": d.pipeline.name},
        "source": d.source,
        "description": d.description,
        "contacts": [
            {
                "id": link.contact_id, "name": link.contact.full_name if link.contact_id in seen else None,
                "role": link.role, "is_primary": link.is_primary,
            }
            for link in links
        ],
        "team": _ref(d.team, d.team.name if d.team else None),
        "custom": d.custom or {},
        "lines": [
            {
                "id": line.pk,
                "product": _ref(line.product, line.product.name if line.product else None),
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount_percent": line.discount_percent,
                "vat_rate": line.vat_rate,
                "net": line.net,
                "vat": line.vat,
                "total": line.total,
            }
            for line in d.lines.select_related("product").order_by("position", "id")
        ],
        "checklist": [
            {"id": i.pk, "stage_id": i.stage_id, "text": i.text, "required": i.required, "checked": i.pk in checked}
            for i in items
        ],
        "stage_entered_at": d.stage_entered_at,
        "closed_at": d.closed_at,
        "lost_reason": _ref(d.lost_reason, d.lost_reason.name if d.lost_reason else None),
        "lost_note": d.lost_note,
    }


def _deal_loaded(request: HttpRequest, pk: int) -> Deal:
    """The deal as the list renders it (base amount, next task, rotting), or 404 outside the caller's scope."""
    deal = selectors.deal_list(actor=actor(request)).select_related("lost_reason").filter(pk=pk).first()
    if deal is None:
        raise Http404("No such deal")
    return deal


def _deal_response(request: HttpRequest, pk: int, *, status: int = 200) -> HttpResponse:
    data = _deal_out(_deal_loaded(request, pk), actor(request))
    headers = {"ETag": etag_for(data["version"])}
    if status == 201:
        headers["Location"] = request.build_absolute_uri(f"{data['id']}")
    return json_response(data, status=status, headers=headers)


# Whole sentences per action, so that every language words each refusal in full.
DENIED = {
    "change": gettext_lazy("You may not change this deal."),
    "delete": gettext_lazy("You may not delete this deal."),
}


def _deal_for(request: HttpRequest, pk: int, action: str) -> Deal:
    """The deal if visible (else 404) and inside the caller's scope for `action` (else 403)."""
    deal = selectors.deal_get(actor=actor(request), pk=pk, action="view")
    if action != "view" and not scopes.record_allowed(actor(request), deal, action):
        raise PermissionDenied(str(DENIED.get(action) or _("You may not do this.")))
    return deal


def _product_out(p) -> dict[str, Any]:
    return {
        "id": p.pk,
        "sku": p.sku,
        "name": p.name,
        "unit": p.unit,
        "vat_rate": p.vat_rate,
        "description": p.description,
        "active": p.active,
        "prices": {price.currency_id: price.price for price in sorted(p.prices.all(), key=lambda x: x.currency_id)},
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def _target_out(t: SalesTarget) -> dict[str, Any]:
    return {
        "id": t.pk,
        "user": _user_ref(t.user),
        "period_start": t.period_start,
        "period_end": t.period_end,
        "amount": t.amount,
        "currency": t.currency_id,
    }


# ----------------------------------------------------------------------------------------- pipelines, stages


@router.get("/pipelines/", response={200: PipelinePage, **ERRORS}, operation_id="pipeline_list")
def pipeline_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """Active pipelines in their order, each with its stages (rules, checklist)."""
    qs = selectors.pipeline_list().prefetch_related(
        Prefetch("stages__checklist", queryset=ChecklistItem.objects.order_by("position", "id"))
    )
    page = paginate(qs, order=("position", "id"), sort="position", cursor=cursor, limit=limit)
    return {"items": [_pipeline_out(p) for p in page["items"]], "next_cursor": page["next_cursor"]}


@router.get("/pipelines/{pipeline_id}", response={200: PipelineOut, **ERRORS}, operation_id="pipeline_get")
def pipeline_get_op(request, pipeline_id: Id):
    pipeline = selectors.pipeline_get(pk=pipeline_id)
    prefetch_related_objects([pipeline], Prefetch("stages__checklist", queryset=ChecklistItem.objects.order_by(
        "position", "id")))
    return _pipeline_out(pipeline)


@router.get("/stages/{stage_id}", response={200: StageOut, **ERRORS}, operation_id="stage_get")
def stage_get_op(request, stage_id: Id):
    return _stage_out(selectors.stage_get(pk=stage_id))


# ----------------------------------------------------------------------------------------- deals


@router.get("/deals/", response={200: DealPage, **ERRORS}, operation_id="deal_list")
def deal_list_op(request, filters: Query[DealFilters]):
    """Deals in your scope, filtered and sorted, a page at a time (follow `next_cursor`)."""
    data = filters.dict(exclude={"sort", "limit", "cursor"}, exclude_none=True)
    qs = selectors.deal_list(actor=actor(request), filters=data, sort=filters.sort).prefetch_related(None)
    rows, next_cursor = keyset_page(
        qs, keys=DEAL_KEYS[filters.sort], sort=filters.sort, cursor=filters.cursor, limit=filters.limit
    )
    selectors.deals_company_visible(actor=actor(request), deals=rows)
    tags: dict[int, list[str]] = {d.pk: [] for d in rows}
    for deal_id, name in Deal.tags.through.objects.filter(deal_id__in=list(tags)).values_list("deal_id", "tag__name"):
        tags[deal_id].append(name)
    items = [_deal_list_item(d, sorted(tags[d.pk])) for d in rows]
    return json_response({"items": items, "next_cursor": next_cursor})


@router.post("/deals/", response={201: DealOut, **SALES_ERRORS}, operation_id="deal_create")
def deal_create_op(request, payload: DealIn):
    """Create a deal in its pipeline's first open stage (or `stage_id`), applying that stage's entry rules
    (422 `stage_rules` listing what is missing) and creating its playbook tasks."""
    deal = services.deal_create(actor=actor(request), data=payload.dict(exclude_unset=True), source=SOURCE)
    return _deal_response(request, deal.pk, status=201)


@router.get("/deals/{deal_id}", response={200: DealOut, **ERRORS}, operation_id="deal_get")
def deal_get_op(request, deal_id: Id):
    """One deal; the `ETag` header carries its version for `If-Match`."""
    return _deal_response(request, deal_id)


@router.patch("/deals/{deal_id}", response={200: DealOut, **SALES_ERRORS}, operation_id="deal_update")
def deal_update_op(request, deal_id: Id, payload: DealPatch):
    """Change some fields (not the stage: use the move action). `If-Match` (or `version`): 412 if stale."""
    deal = _deal_for(request, deal_id, "change")
    data = payload.dict(exclude_unset=True)
    version = expected_version(request, data.pop("version", None))
    services.deal_update(actor=actor(request), deal=deal, data=data, expected_version=version, source=SOURCE)
    return _deal_response(request, deal_id)


@router.delete("/deals/{deal_id}", response={204: None, **ERRORS}, operation_id="deal_delete")
def deal_delete_op(request, deal_id: Id):
    deal = _deal_for(request, deal_id, "delete")
    services.deal_delete(actor=actor(request), deal=deal, expected_version=expected_version(request), source=SOURCE)
    return Status(204, None)


@router.post("/deals/{deal_id}/move", response={200: DealOut, **SALES_ERRORS}, operation_id="deal_move")
def deal_move_op(request, deal_id: Id, payload: DealMoveIn):
    """Move the deal to a stage of its pipeline. The stage's entry rules apply: a violation is a 422 with code
    `stage_rules` and `missing` (what is needed). A stage of another pipeline is a 400 `wrong_pipeline`
    (`field: stage_id`); a lost stage needs `lost_reason_id`. `If-Match` (or `version`): 412 if stale."""
    deal = _deal_for(request, deal_id, "change")
    version = expected_version(request, payload.version)
    try:
        stage = selectors.stage_get(pk=payload.stage_id)
    except Http404:
        raise ValidationFailed({"stage_id": [_("no such stage")]}) from None
    services.deal_move_to_stage(
        actor=actor(request), deal=deal, stage=stage, expected_version=version,
        lost_reason_id=payload.lost_reason_id, lost_note=payload.lost_note or "", source=SOURCE,
    )
    return _deal_response(request, deal_id)


@router.put("/deals/{deal_id}/lines", response={200: DealOut, **SALES_ERRORS}, operation_id="deal_lines_set")
def deal_lines_set_op(request, deal_id: Id, payload: DealLinesIn):
    """Replace the product lines; with at least one line the amount becomes their total (net + VAT)."""
    deal = _deal_for(request, deal_id, "change")
    version = expected_version(request, payload.version)
    lines = [line.dict(exclude_none=True) for line in payload.lines]
    services.deal_lines_set(actor=actor(request), deal=deal, lines=lines, expected_version=version, source=SOURCE)
    return _deal_response(request, deal_id)


@router.post(
    "/deals/{deal_id}/checklist/{item_id}", response={200: DealOut, **SALES_ERRORS},
    operation_id="deal_checklist_toggle",
)
def deal_checklist_toggle_op(request, deal_id: Id, item_id: Id, payload: ChecklistIn):
    """Tick (`checked: true`) or untick a checklist item of a stage of the deal's pipeline."""
    deal = _deal_for(request, deal_id, "change")
    check_version(deal.version, expected_version(request))
    services.deal_checklist_toggle(actor=actor(request), deal=deal, item_id=item_id, checked=payload.checked)
    return _deal_response(request, deal_id)


@router.get("/deals/{deal_id}/history", response={200: StageHistoryPage, **ERRORS}, operation_id="deal_history")
def deal_history_op(request, deal_id: Id, limit: Limit = 50, cursor: Cursor = None):
    """The deal's stays in stages, oldest first (`left_at` null: the current one)."""
    deal = selectors.deal_get(actor=actor(request), pk=deal_id)
    qs: QuerySet[DealStageHistory] = selectors.deal_stage_history(deal=deal)
    page = paginate(qs, order=("entered_at", "id"), sort="entered", cursor=cursor, limit=limit)
    items = [
        {
            "id": h.pk,
            "stage": _stage_ref(h.stage),
            "entered_at": h.entered_at,
            "left_at": h.left_at,
            "actor": _user_ref(h.actor),
        }
        for h in page["items"]
    ]
    return {"items": items, "next_cursor": page["next_cursor"]}


@router.get("/deals/{deal_id}/audit", response={200: AuditPage, **ERRORS}, operation_id="deal_audit")
def deal_audit_op(request, deal_id: Id, limit: Limit = 50, cursor: Cursor = None):
    """The deal's audit trail, newest first, with field-level changes (a deal outside your scope: 404)."""
    deal = selectors.deal_get(actor=actor(request), pk=deal_id)
    return paginate(selectors.deal_audit_entries(deal=deal), order=("-created_at", "-id"), sort="-created",
                    cursor=cursor, limit=limit)


# ----------------------------------------------------------------------------------------- products


@router.get("/products/", response={200: ProductPage, **ERRORS}, operation_id="product_list")
def product_list_op(request, filters: Query[ProductFilters]):
    qs = selectors.product_list(filters=filters.dict(exclude={"limit", "cursor"}, exclude_none=True))
    page = paginate(qs, order=("name", "id"), sort="name", cursor=filters.cursor, limit=filters.limit)
    prefetch_related_objects(page["items"], "prices")
    return {"items": [_product_out(p) for p in page["items"]], "next_cursor": page["next_cursor"]}


@router.post("/products/", response={201: ProductOut, **ERRORS}, operation_id="product_create")
def product_create_op(request, payload: ProductIn):
    """Add a product to the catalogue (needs the "product: create" grant)."""
    product = services.product_create(actor=actor(request), data=payload.dict(exclude_unset=True), source=SOURCE)
    return Status(201, _product_out(selectors.product_get(pk=product.pk)))


@router.get("/products/{product_id}", response={200: ProductOut, **ERRORS}, operation_id="product_get")
def product_get_op(request, product_id: Id):
    return _product_out(selectors.product_get(pk=product_id))


@router.patch("/products/{product_id}", response={200: ProductOut, **ERRORS}, operation_id="product_update")
def product_update_op(request, product_id: Id, payload: ProductIn):
    """Change some fields; `prices`, when sent, replaces the whole price list."""
    product = selectors.product_get(pk=product_id)
    services.product_update(
        actor=actor(request), product=product, data=payload.dict(exclude_unset=True), source=SOURCE
    )
    return _product_out(selectors.product_get(pk=product_id))


# ----------------------------------------------------------------------------------------- lost reasons, money


@router.get("/lost-reasons/", response={200: LostReasonPage, **ERRORS}, operation_id="lost_reason_list")
def lost_reason_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """The active reasons a deal may be lost for (`lost_reason_id` of the move action)."""
    return paginate(selectors.lost_reasons(), order=("position", "name", "id"), sort="position", cursor=cursor,
                    limit=limit)


@router.get("/currencies/", response={200: CurrencyPage, **ERRORS}, operation_id="currency_list")
def currency_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """Currencies with today's rate to the base currency (null: no rate set)."""
    base = money.base_currency()
    qs = Currency.objects.annotate(rate=money.rate_expression("code"))
    page = paginate(qs, order=("code",), sort="code", cursor=cursor, limit=limit)
    items = [
        {"code": c.code, "name": c.name, "symbol": c.symbol, "active": c.active, "is_base": c.code == base,
         "rate": _rate(c.rate)}
        for c in page["items"]
    ]
    return {"items": items, "next_cursor": page["next_cursor"]}


def _rate(value) -> Decimal | None:
    """Six places on every database (SQLite hands computed decimals back unscaled)."""
    return None if value is None else Decimal(str(value)).quantize(RATE_PLACES)


def _currency(code: str) -> Currency:
    currency = Currency.objects.filter(pk=code.upper()).first()
    if currency is None:
        raise Http404("No such currency")
    return currency


RATE_KEYS = [Key("date", desc=True, kind="date"), _id_key(True)]


@router.get("/currencies/{code}/rates", response={200: ExchangeRatePage, **ERRORS}, operation_id="exchange_rate_list")
def exchange_rate_list_op(request, code: CurrencyPath, limit: Limit = 50, cursor: Cursor = None):
    """The currency's dated rates, newest first."""
    currency = _currency(code)
    qs = ExchangeRate.objects.filter(currency=currency).order_by("-date", "-id")
    rows, next_cursor = keyset_page(qs, keys=RATE_KEYS, sort="-date", cursor=cursor, limit=limit)
    return {
        "items": [{"id": r.pk, "currency": r.currency_id, "date": r.date, "rate": r.rate} for r in rows],
        "next_cursor": next_cursor,
    }


@router.post(
    "/currencies/{code}/rates", response={201: ExchangeRateOut, **ERRORS}, operation_id="exchange_rate_set"
)
def exchange_rate_set_op(request, code: CurrencyPath, payload: ExchangeRateIn):
    """Set the rate on a date (creates or replaces that day's rate); directors and administrators."""
    currency = _currency(code)
    rate = services.exchange_rate_set(
        actor=actor(request), currency=currency.code, on=payload.date, rate=payload.rate, source=SOURCE
    )
    return Status(201, {"id": rate.pk, "currency": rate.currency_id, "date": rate.date, "rate": rate.rate})


# ----------------------------------------------------------------------------------------- targets

TARGET_KEYS = [Key("period_start", desc=True, kind="date"), Key("user_id"), _id_key()]


def _targets_visible(user) -> QuerySet[SalesTarget]:
    """Targets of the reps whose deals the user may see: all, the own teams' members, or only their own."""
    scope = scopes.scope_for(user, "deal", "view")
    qs = SalesTarget.objects.select_related("user")
    if scope >= scopes.ALL:
        return qs
    if scope == scopes.TEAM:
        return qs.filter(Q(user_id=user.pk) | Q(user__memberships__team_id__in=scopes.user_team_ids(user))).distinct()
    return qs.filter(user_id=user.pk)


@router.get("/targets/", response={200: TargetPage, **ERRORS}, operation_id="target_list")
def target_list_op(request, filters: Query[TargetFilters]):
    """Sales targets you may see (your own; a team lead's team; everyone's for directors), newest first."""
    qs = _targets_visible(actor(request))
    if filters.user_id:
        qs = qs.filter(user_id=filters.user_id)
    if filters.on:
        qs = qs.filter(period_start__lte=filters.on, period_end__gte=filters.on)
    qs = qs.order_by("-period_start", "user_id", "id")
    rows, next_cursor = keyset_page(qs, keys=TARGET_KEYS, sort="-period", cursor=filters.cursor, limit=filters.limit)
    return {"items": [_target_out(t) for t in rows], "next_cursor": next_cursor}


@router.post("/targets/", response={201: TargetOut, **ERRORS}, operation_id="target_set")
def target_set_op(request, payload: TargetIn):
    """Set a rep's quota for a period (replaces the one for exactly that period). Directors: anyone; team
    leads: their teams' members."""
    target = services.target_set(
        actor=actor(request), user_id=payload.user_id, period_start=payload.period_start,
        period_end=payload.period_end, amount=payload.amount, currency=payload.currency, source=SOURCE,
    )
    return Status(201, _target_out(SalesTarget.objects.select_related("user").get(pk=target.pk)))

