"""Every write to the sales domain: deals (create, edit, move between stages, product lines, checklist,
delete, bulk actions), products, exchange rates and targets.

Each deal service locks the row (SELECT … FOR UPDATE, in id order when several), checks the actor's scope and
the version the caller read, validates every field (errors keyed by field), applies the stage's entry rules,
keeps the stage history and the playbook's tasks, and writes an audit row with the field-level diff."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kramar.accounts.models import Membership, User
from kramar.activities.models import Task
from kramar.clients.models import Company, Contact
from kramar.clients.services import BulkResult, _owner_team
from kramar.core import scopes
from kramar.core.audit import audit_record, diff, snapshot
from kramar.core.context import audit_context, current_audit_context
from kramar.core.customfields import custom_fields_clean
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry, Tag
from kramar.history.models import Direction, Interaction
from kramar.sales.choices import AssigneeRule, DealStatus, StageKind
from kramar.sales.models import (
    ChecklistItem,
    Currency,
    Deal,
    DealChecklistCheck,
    DealContact,
    DealLine,
    DealStageHistory,
    ExchangeRate,
    LostReason,
    Pipeline,
    PlaybookStep,
    Product,
    ProductPrice,
    SalesTarget,
    Stage,
)
from kramar.sales.money import base_currency
from kramar.sales.rules import stage_rules_enforce

__all__ = [
    "BulkResult",
    "deal_checklist_toggle",
    "deal_create",
    "deal_delete",
    "deal_lines_set",
    "deal_move_to_stage",
    "deal_update",
    "deals_bulk_update",
    "exchange_rate_set",
    "product_create",
    "product_update",
    "target_set",
]

CENT = Decimal("0.01")
MONEY_MAX = Decimal("10") ** 16  # max_digits 18, decimal_places 2
TEXT_LIMITS = {"title": 255, "source": 64, "description": 100_000}

# ----------------------------------------------------------------------------------------- helpers


@contextmanager
def _source(source: str | None) -> Iterator[None]:
    """Audit rows written inside carry `source` (web/api/…), keeping the request's IP."""
    ctx = current_audit_context()
    if source and source in AuditEntry.Source.values:
        with audit_context(source=source, ip=ctx.ip):
            yield
    else:
        yield


# Whole sentences per (entity, action), so that every language words each refusal in full.
DENIED = {
    ("deal", "view"): gettext_lazy("You may not view deals."),
    ("deal", "create"): gettext_lazy("You may not create deals."),
    ("deal", "change"): gettext_lazy("You may not change deals."),
    ("deal", "delete"): gettext_lazy("You may not delete deals."),
    ("product", "view"): gettext_lazy("You may not view products."),
    ("product", "create"): gettext_lazy("You may not create products."),
    ("product", "change"): gettext_lazy("You may not change products."),
    ("product", "delete"): gettext_lazy("You may not delete products."),
}


def _require(actor, entity: str, action: str) -> None:
    if not scopes.can(actor, entity, action):
        raise PermissionDenied(str(DENIED.get((entity, action)) or _("You may not do this.")))


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationFailed(errors)


def _check_version(obj, expected_version: int | None) -> None:
    if expected_version in (None, ""):
        return
    try:
        sent = int(expected_version)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({"version": [_("must be a whole number")]}) from exc
    if sent != obj.version:
        raise VersionConflict(current_version=obj.version, sent_version=sent)


def _lock(actor, deal, action: str) -> Deal:
    """The deal re-read under a row lock, within the actor's scope for `action` (404 outside it)."""
    pk = deal.pk if isinstance(deal, Deal) else deal
    locked = (
        Deal.objects.visible_to(actor, action).select_for_update(of=("self",)).filter(pk=pk)
        .select_related("stage", "pipeline").first()
    )
    if locked is None:
        raise Http404("No such deal")
    return locked


def _decimal(value: Any, *, minimum: Decimal | None = None, maximum: Decimal | None = None,
             places: Decimal = CENT) -> Decimal:
    """Parse a decimal or raise ValueError with a message for the user."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(_("must be a number"))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(_("must be a number"))
    try:
        number = Decimal(str(value).strip().replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(_("must be a number")) from exc
    if not number.is_finite():
        raise ValueError(_("must be a number"))
    if minimum is not None and number < minimum:
        raise ValueError(_("must be %(min)s or more") % {"min": minimum})
    if maximum is not None and number > maximum:
        raise ValueError(_("must be %(max)s or less") % {"max": maximum})
    if abs(number) >= MONEY_MAX:
        raise ValueError(_("is too large"))
    return number.quantize(places, rounding=ROUND_HALF_UP)


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            parsed = parse_date(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed
    raise ValueError(_("must be a date (YYYY-MM-DD)"))


def _id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _tag_names(value: Any, errors: dict[str, list[str]], key: str = "tags") -> list[str] | None:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        errors[key] = [_("must be a list of tag names")]
        return None
    names = []
    for name in value:
        name = str(name or "").strip()
        if len(name) > 64:
            errors[key] = [_("a tag has at most 64 characters")]
            return None
        if name and name not in names:
            names.append(name)
    return names


def _tags_set(deal: Deal, names: list[str], *, add_only: bool = False) -> None:
    if names:
        Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
    tags = list(Tag.objects.filter(name__in=names))
    if add_only:
        deal.tags.add(*tags)
    else:
        deal.tags.set(tags)


def _related_state(deal: Deal) -> dict[str, Any]:
    return {
        "contacts": list(deal.contact_links.order_by("-is_primary", "id").values_list("contact_id", flat=True)),
        "tags": sorted(deal.tags.values_list("name", flat=True)),
        "lines": [
            f"{line.product_id or '-'} {line.description} {line.quantity}×{line.unit_price} -{line.discount_percent}%"
            f" +{line.vat_rate}%"
            for line in deal.lines.order_by("position", "id")
        ],
    }


def _state(deal: Deal) -> dict[str, Any]:
    return {**snapshot(deal), **_related_state(deal)}


def _audit(*, actor, action: str, obj, changes: dict, source: str | None, extra: dict | None = None) -> None:
    with _source(source):
        audit_record(actor=actor, action=action, obj=obj, changes=changes, extra=extra)


def _primary_contact(deal: Deal) -> Contact | None:
    link = deal.contact_links.select_related("contact").order_by("-is_primary", "id").first()
    return link.contact if link else None


# ----------------------------------------------------------------------------------------- validation


def _clean_text(data: dict[str, Any], values: dict[str, Any], errors: dict[str, list[str]], *, creating: bool) -> None:
    for key, limit in TEXT_LIMITS.items():
        if key not in data:
            continue
        value = data[key] if data[key] is not None else ""
        if not isinstance(value, str):
            errors[key] = [_("must be text")]
        elif len(value.strip() if key != "description" else value) > limit:
            errors[key] = [_("at most %(n)d characters") % {"n": limit}]
        else:
            values[key] = value.strip() if key != "description" else value
    if (creating or "title" in data) and not values.get("title") and "title" not in errors:
        errors["title"] = [_("A deal needs a title.")]


def _clean_money_fields(data, values, errors) -> None:
    if "amount" in data:
        if data["amount"] in (None, ""):
            values["amount"] = Decimal("0.00")
        else:
            try:
                values["amount"] = _decimal(data["amount"], minimum=Decimal(0))
            except ValueError as exc:
                errors["amount"] = [str(exc)]
    if "currency" in data:
        code = str(data["currency"] or "").strip().upper()
        currency = Currency.objects.filter(pk=code).first() if code else None
        if currency is None:
            errors["currency"] = [_("unknown currency: %(code)s") % {"code": data["currency"] or ""}]
        else:
            values["currency"] = currency
    if "expected_close_date" in data:
        try:
            values["expected_close_date"] = _date(data["expected_close_date"])
        except ValueError as exc:
            errors["expected_close_date"] = [str(exc)]


def _clean_clients(actor, data, values, errors, *, deal: Deal | None = None) -> list[Contact] | None:
    """The company and contacts of a deal, each one the actor may see. On an edit, links to clients the actor
    cannot see stay as they are (an editor cannot judge or even see them, and a form cannot show them): an
    empty company keeps an invisible current one, the same id keeps it, and invisible linked contacts are kept
    beside the ones sent."""
    hidden_company = (
        deal is not None and deal.company_id is not None
        and not Company.objects.visible_to(actor, "view").filter(pk=deal.company_id).exists()
    )
    if "company_id" in data:
        pk = data["company_id"]
        if pk in (None, "") or (hidden_company and _id(pk) == deal.company_id):
            if not hidden_company:
                values["company"] = None
        else:
            company = Company.objects.visible_to(actor, "view").filter(pk=_id(pk)).first() if _id(pk) else None
            if company is None:
                errors["company_id"] = [_("no such company")]
            else:
                values["company"] = company
    if "contact_ids" not in data:
        return None
    raw = data["contact_ids"] or []
    if not isinstance(raw, list | tuple):
        errors["contact_ids"] = [_("must be a list of contact ids")]
        return None
    ids = [_id(i) for i in raw]
    if any(i is None for i in ids):
        errors["contact_ids"] = [_("must be a list of contact ids")]
        return None
    ids = list(dict.fromkeys(ids))
    hidden: list[Contact] = []
    if deal is not None:
        linked = list(deal.contact_links.order_by("-is_primary", "id").values_list("contact_id", flat=True))
        visible = set(Contact.objects.visible_to(actor, "view").filter(pk__in=linked).values_list("pk", flat=True))
        hidden = list(Contact.objects.filter(pk__in=[i for i in linked if i not in visible]))
        ids = [i for i in ids if i not in {c.pk for c in hidden}]
    found = {c.pk: c for c in Contact.objects.visible_to(actor, "view").filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        errors["contact_ids"] = [_("no such contact: %(ids)s") % {"ids": ", ".join(map(str, missing))}]
        return None
    chosen = [found[i] for i in ids]
    if hidden and hidden[0].pk == linked[0]:  # an invisible primary contact stays the primary one
        return [hidden[0], *chosen, *hidden[1:]]
    return chosen + hidden


def _clean_pipeline_stage(data, values, errors) -> None:
    """On create: the pipeline (default one unless given) and the stage (its first open stage unless given)."""
    pipeline = None
    if data.get("pipeline_id") not in (None, ""):
        pipeline = Pipeline.objects.filter(pk=_id(data["pipeline_id"]), active=True).first() if _id(
            data["pipeline_id"]) else None
        if pipeline is None:
            errors["pipeline_id"] = [_("no such pipeline")]
            return
    stage = None
    if data.get("stage_id") not in (None, ""):
        stage = Stage.objects.select_related("pipeline").filter(pk=_id(data["stage_id"])).first() if _id(
            data["stage_id"]) else None
        if stage is None:
            errors["stage_id"] = [_("no such stage")]
            return
        if pipeline is not None and stage.pipeline_id != pipeline.pk:
            errors["stage_id"] = [
                _("stage “%(stage)s” belongs to another pipeline (“%(pipeline)s”)")
                % {"stage": stage.name, "pipeline": stage.pipeline.name}
            ]
            return
        if not stage.pipeline.active:
            errors["stage_id"] = [
                _("stage “%(stage)s” belongs to pipeline “%(pipeline)s”, which is no longer in use")
                % {"stage": stage.name, "pipeline": stage.pipeline.name}
            ]
            return
        pipeline = stage.pipeline
    if pipeline is None:
        pipeline = Pipeline.objects.filter(active=True).order_by("-is_default", "position", "id").first()
        if pipeline is None:
            errors["pipeline_id"] = [_("there is no active pipeline")]
            return
    if stage is None:
        stage = pipeline.stages.filter(kind=StageKind.OPEN).order_by("position", "id").first()
        if stage is None:
            errors["stage_id"] = [_("the pipeline has no open stage")]
            return
    values["pipeline"], values["stage"] = pipeline, stage


def _deal_input(actor, data: dict[str, Any], *, deal: Deal | None):
    """Validate deal input. Returns (values, contacts, tags, lines) or raises ValidationFailed naming each field."""
    if not isinstance(data, dict):
        raise ValidationFailed({"data": [_("must be an object")]})
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    _clean_text(data, values, errors, creating=deal is None)
    _clean_money_fields(data, values, errors)
    if deal is None and "currency" not in values and "currency" not in errors:
        values["currency"] = Currency.objects.filter(pk=base_currency()).first()
        if values["currency"] is None:
            errors["currency"] = [_("unknown currency: %(code)s") % {"code": base_currency()}]
    contacts = _clean_clients(actor, data, values, errors, deal=deal)
    if deal is None:
        _clean_pipeline_stage(data, values, errors)
    else:
        for key, current in (("pipeline_id", deal.pipeline_id), ("stage_id", deal.stage_id)):
            if data.get(key) not in (None, "") and _id(data[key]) != current:
                errors[key] = [_("move the deal to another stage with the move action")]
    owner_errors: dict[str, list[str]] = {}
    values.update(_owner_team(actor, data, owner_errors, current=deal, entity="deal"))
    errors.update(owner_errors)
    tags = _tag_names(data["tags"], errors) if "tags" in data else None
    if "custom" in data or deal is None:
        try:
            values["custom"] = custom_fields_clean(
                entity="deal", values=data.get("custom"), current=deal.custom if deal else None,
                partial=deal is not None,
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)
    lines = None
    if "lines" in data and data["lines"] is not None:
        code = values["currency"].pk if values.get("currency") else (deal.currency_id if deal else base_currency())
        lines = _lines_clean(data["lines"], currency_code=code, errors=errors)
    if deal is None and values.get("stage") is not None and values["stage"].kind == StageKind.LOST:
        reason = _lost_reason(data.get("lost_reason_id"), errors)
        values["lost_reason"] = reason
    _raise_if(errors)
    return values, contacts, tags, lines


def _lost_reason(reason_id: Any, errors: dict[str, list[str]]) -> LostReason | None:
    if reason_id in (None, ""):
        errors["lost_reason_id"] = [_("A lost deal needs a lost reason.")]
        return None
    reason = LostReason.objects.filter(pk=_id(reason_id), active=True).first() if _id(reason_id) else None
    if reason is None:
        errors["lost_reason_id"] = [_("no such lost reason")]
    return reason


def _lines_clean(lines: Any, *, currency_code: str, errors: dict[str, list[str]]) -> list[DealLine] | None:
    """Validate product lines; errors keyed `lines[i].field`. Returns unsaved DealLine objects (no deal yet)."""
    if not isinstance(lines, list | tuple):
        errors["lines"] = [_("must be a list of product lines")]
        return None
    product_ids = {_id(row.get("product_id")) for row in lines if isinstance(row, dict) and row.get("product_id")}
    products = {p.pk: p for p in Product.objects.filter(pk__in=[i for i in product_ids if i])}
    prices = {
        p.product_id: p.price
        for p in ProductPrice.objects.filter(product_id__in=list(products), currency_id=currency_code)
    }
    result: list[DealLine] = []
    for i, row in enumerate(lines):
        key = f"lines[{i}]"
        if not isinstance(row, dict):
            errors[key] = [_("must be an object")]
            continue
        line = DealLine(position=i)
        product = None
        if row.get("product_id") not in (None, ""):
            product = products.get(_id(row["product_id"]) or 0)
            if product is None:
                errors[f"{key}.product_id"] = [_("no such product")]
                continue
            line.product = product
        description = row.get("description") or ""
        if not isinstance(description, str) or len(description) > 255:
            errors[f"{key}.description"] = [_("text of at most 255 characters")]
        line.description = description.strip() if isinstance(description, str) else ""
        if product is None and not line.description:
            errors[f"{key}.description"] = [_("a line without a product needs a description")]
        checks = (
            ("quantity", Decimal("1"), Decimal("0.001"), None, Decimal("0.001")),
            ("discount_percent", Decimal("0"), Decimal("0"), Decimal("100"), CENT),
            ("vat_rate", product.vat_rate if product else DealLine._meta.get_field("vat_rate").default,
             Decimal("0"), Decimal("100"), CENT),
        )
        for name, default, minimum, maximum, places in checks:
            value = row.get(name)
            try:
                setattr(line, name, default if value in (None, "") else _decimal(
                    value, minimum=minimum, maximum=maximum, places=places))
            except ValueError as exc:
                errors[f"{key}.{name}"] = [str(exc)]
        value = row.get("unit_price")
        if value in (None, ""):
            if product is not None and product.pk in prices:
                line.unit_price = prices[product.pk]
            else:
                errors[f"{key}.unit_price"] = [
                    _("enter a unit price (the product has no price in %(cur)s)") % {"cur": currency_code}
                ]
        else:
            try:
                line.unit_price = _decimal(value, minimum=Decimal(0))
            except ValueError as exc:
                errors[f"{key}.unit_price"] = [str(exc)]
        result.append(line)
    return result


def _lines_apply(deal: Deal, lines: list[DealLine]) -> None:
    deal.lines.all().delete()
    for line in lines:
        line.deal = deal
    DealLine.objects.bulk_create(lines)
    if lines:
        total = sum((line.total for line in lines), Decimal("0"))
        if total >= MONEY_MAX:
            raise ValidationFailed({"lines": [_("the total of the lines is too large")]})
        deal.amount = total
        Deal.objects.filter(pk=deal.pk).update(amount=total)


def _contacts_apply(deal: Deal, contacts: list[Contact]) -> None:
    keep = [c.pk for c in contacts]
    deal.contact_links.exclude(contact_id__in=keep).delete()
    existing = set(deal.contact_links.values_list("contact_id", flat=True))
    DealContact.objects.bulk_create(
        [DealContact(deal=deal, contact=c) for c in contacts if c.pk not in existing]
    )
    if contacts:
        deal.contact_links.exclude(contact_id=keep[0]).filter(is_primary=True).update(is_primary=False)
        deal.contact_links.filter(contact_id=keep[0]).update(is_primary=True)


# ----------------------------------------------------------------------------------------- stages and playbooks


def _history_enter(*, deal: Deal, stage: Stage, actor, now: dt.datetime) -> None:
    DealStageHistory.objects.filter(deal=deal, left_at__isnull=True).update(left_at=now)
    DealStageHistory.objects.create(deal=deal, stage=stage, entered_at=now, actor=actor if getattr(actor, "pk", None)
                                    else None)


def _playbook_assignee(step: PlaybookStep, deal: Deal) -> User | None:
    if step.assignee_rule == AssigneeRule.USER and step.assignee_id and step.assignee.is_active:
        return step.assignee
    if step.assignee_rule == AssigneeRule.TEAM_LEAD and deal.team_id:
        lead = (
            Membership.objects.filter(team_id=deal.team_id, is_lead=True, user__is_active=True)
            .select_related("user").order_by("id").first()
        )
        if lead is not None:
            return lead.user
    return deal.owner


def playbook_tasks_create(*, actor, deal: Deal, stage: Stage, now: dt.datetime | None = None) -> list[Task]:
    """The tasks of `stage`'s playbook for `deal`, once per (deal, step) however often the deal enters the stage.
    A step whose task exists (even done or cancelled) adds nothing; a concurrent insert of the same step is
    absorbed by the unique constraint (deal, playbook_step) inside a savepoint."""
    now = now or timezone.now()
    steps = list(PlaybookStep.objects.filter(stage=stage).select_related("assignee").order_by("position", "id"))
    if not steps:
        return []
    done = set(Task.objects.filter(deal=deal, playbook_step__in=steps).values_list("playbook_step_id", flat=True))
    contact = _primary_contact(deal)
    company = deal.company if deal.company_id else (contact.primary_company if contact else None)
    created = []
    for step in steps:
        if step.pk in done:
            continue
        assignee = _playbook_assignee(step, deal)
        task = Task(
            kind=step.kind, title=step.title, priority=step.priority, due_at=now + dt.timedelta(days=step.due_offset_days),
            owner=assignee, team_id=deal.team_id, deal=deal, company=company, contact=contact,
            playbook_step=step, created_by=actor if getattr(actor, "pk", None) else None,
        )
        try:
            with transaction.atomic():
                task.save()
        except IntegrityError:
            if Task.objects.filter(deal=deal, playbook_step=step).exists():
                continue  # a concurrent move created it first
            raise
        created.append(task)
    return created


def _closing_note(*, actor, deal: Deal, stage: Stage) -> Interaction | None:
    """A NOTE on the client's timeline when a deal is won or lost (only when the deal has a client)."""
    contact = _primary_contact(deal)
    company = deal.company if deal.company_id else (contact.primary_company if contact else None)
    if contact is None and company is None:
        return None
    if stage.kind == StageKind.WON:
        subject = _("Deal won: %(title)s") % {"title": deal.title}
    else:
        subject = _("Deal lost: %(title)s") % {"title": deal.title}
    lines = [_("Amount: %(amount)s %(currency)s") % {"amount": deal.amount, "currency": deal.currency_id}]
    if stage.kind == StageKind.LOST and deal.lost_reason_id:
        lines.append(_("Reason: %(reason)s") % {"reason": deal.lost_reason.name})
    if stage.kind == StageKind.LOST and deal.lost_note:
        lines.append(deal.lost_note)
    interaction = Interaction.objects.create(
        channel=Interaction.Channel.NOTE, direction=Direction.INTERNAL, occurred_at=timezone.now(),
        subject=subject[:255], body="\n".join(str(x) for x in lines), outcome=stage.get_kind_display(),
        user=actor if getattr(actor, "pk", None) else None, contact=contact, company=company, deal=deal,
    )
    audit_record(
        actor=actor, action=AuditEntry.Action.CREATE, obj=interaction,
        changes={k: [None, v] for k, v in snapshot(interaction).items() if v not in (None, "", {}, [])},
    )
    return interaction


def _apply_status(deal: Deal, stage: Stage, now: dt.datetime) -> None:
    if stage.kind == StageKind.OPEN:
        deal.status, deal.closed_at, deal.lost_reason, deal.lost_note = DealStatus.OPEN, None, None, ""
    else:
        deal.status = DealStatus.WON if stage.kind == StageKind.WON else DealStatus.LOST
        deal.closed_at = now
        if stage.kind == StageKind.WON:
            deal.lost_reason, deal.lost_note = None, ""


# ----------------------------------------------------------------------------------------- deals


@transaction.atomic
def deal_create(*, actor, data: dict[str, Any], source: str = "web") -> Deal:
    """Create a deal in its pipeline's first open stage (or the given one), applying that stage's entry rules,
    opening its stage history and creating the stage's playbook tasks."""
    _require(actor, "deal", "create")
    values, contacts, tags, lines = _deal_input(actor, data, deal=None)
    now = timezone.now()
    stage = values["stage"]
    deal = Deal(**values, stage_entered_at=now)
    if stage.kind != StageKind.OPEN:
        deal.lost_note = str(data.get("lost_note") or "")[:10_000] if stage.kind == StageKind.LOST else ""
        _apply_status(deal, stage, now)
    deal.save()
    if contacts is not None:
        _contacts_apply(deal, contacts)
    if tags is not None:
        _tags_set(deal, tags)
    if lines is not None:
        _lines_apply(deal, lines)
    stage_rules_enforce(deal=deal, stage=stage)
    _history_enter(deal=deal, stage=stage, actor=actor, now=now)
    playbook_tasks_create(actor=actor, deal=deal, stage=stage, now=now)
    _audit(
        actor=actor, action=AuditEntry.Action.CREATE, obj=deal, source=source,
        changes={k: [None, v] for k, v in _state(deal).items() if v not in (None, "", [], {})},
    )
    if stage.kind != StageKind.OPEN:
        with _source(source):
            _closing_note(actor=actor, deal=deal, stage=stage)
    return deal


@transaction.atomic
def deal_update(
    *, actor, deal: Deal, data: dict[str, Any], expected_version: int | None = None, source: str = "web"
) -> Deal:
    """Edit a deal's fields, clients, tags, custom values (and lines when given). Stages change only by a move."""
    deal = _lock(actor, deal, "change")
    _check_version(deal, expected_version)
    values, contacts, tags, lines = _deal_input(actor, data, deal=deal)
    before = _state(deal)
    for key, value in values.items():
        setattr(deal, key, value)
    deal.version += 1
    deal.save()
    if contacts is not None:
        _contacts_apply(deal, contacts)
    if tags is not None:
        _tags_set(deal, tags)
    if lines is not None:
        _lines_apply(deal, lines)
    changes = diff(before, _state(deal))
    if changes:
        _audit(actor=actor, action=AuditEntry.Action.UPDATE, obj=deal, changes=changes, source=source)
    return deal


@transaction.atomic
def deal_move_to_stage(
    *, actor, deal: Deal, stage: Stage, expected_version: int | None = None, lost_reason_id: int | None = None,
    lost_note: str = "", source: str = "web",
) -> Deal:
    """Move a deal to `stage` of its pipeline: entry rules, status (won/lost close it, an open stage reopens it),
    stage history, playbook tasks once per step, version, audit, and a note on the client's timeline when the
    deal is won or lost."""
    deal = _lock(actor, deal, "change")
    _check_version(deal, expected_version)
    stage = Stage.objects.select_related("pipeline").filter(pk=getattr(stage, "pk", stage)).first()
    if stage is None:
        raise ValidationFailed({"stage_id": [_("no such stage")]})
    if stage.pipeline_id != deal.pipeline_id:
        raise DomainError(
            "wrong_pipeline",
            _("Stage “%(stage)s” belongs to pipeline “%(other)s”, not to the deal's pipeline “%(pipeline)s”.")
            % {"stage": stage.name, "other": stage.pipeline.name, "pipeline": deal.pipeline.name},
            {"field": "stage_id", "stage_id": stage.pk, "pipeline_id": deal.pipeline_id},
        )
    if stage.pk == deal.stage_id:
        return deal
    errors: dict[str, list[str]] = {}
    reason = _lost_reason(lost_reason_id, errors) if stage.kind == StageKind.LOST else None
    if lost_note and not isinstance(lost_note, str):
        errors["lost_note"] = [_("must be text")]
    _raise_if(errors)
    stage_rules_enforce(deal=deal, stage=stage)
    before = snapshot(deal)
    now = timezone.now()
    deal.stage = stage
    deal.stage_entered_at = now
    if stage.kind == StageKind.LOST:
        deal.lost_reason, deal.lost_note = reason, (lost_note or "").strip()
    _apply_status(deal, stage, now)
    deal.version += 1
    deal.save(update_fields=[
        "stage", "stage_entered_at", "status", "closed_at", "lost_reason", "lost_note", "version", "updated_at",
    ])
    _history_enter(deal=deal, stage=stage, actor=actor, now=now)
    created = playbook_tasks_create(actor=actor, deal=deal, stage=stage, now=now)
    _audit(
        actor=actor, action=AuditEntry.Action.UPDATE, obj=deal, changes=diff(before, snapshot(deal)), source=source,
        extra={"move": True, "playbook_tasks": [t.pk for t in created]},
    )
    if stage.kind != StageKind.OPEN:
        with _source(source):
            _closing_note(actor=actor, deal=deal, stage=stage)
    return deal


@transaction.atomic
def deal_lines_set(
    *, actor, deal: Deal, lines: list[dict], expected_version: int | None = None, source: str = "web"
) -> Deal:
    """Replace the deal's product lines; with at least one line the amount becomes their total (net + VAT)."""
    deal = _lock(actor, deal, "change")
    _check_version(deal, expected_version)
    errors: dict[str, list[str]] = {}
    cleaned = _lines_clean(lines, currency_code=deal.currency_id, errors=errors)
    _raise_if(errors)
    before = _state(deal)
    _lines_apply(deal, cleaned or [])
    deal.version += 1
    deal.save(update_fields=["amount", "version", "updated_at"])
    changes = diff(before, _state(deal))
    if changes:
        _audit(actor=actor, action=AuditEntry.Action.UPDATE, obj=deal, changes=changes, source=source)
    return deal


@transaction.atomic
def deal_checklist_toggle(*, actor, deal: Deal, item_id: int, checked: bool, source: str = "web") -> None:
    """Tick or untick a checklist item of a stage of the deal's pipeline."""
    deal = _lock(actor, deal, "change")
    item = (
        ChecklistItem.objects.filter(pk=_id(item_id), stage__pipeline_id=deal.pipeline_id).first()
        if _id(item_id) else None
    )
    if item is None:
        raise ValidationFailed({"item_id": [_("no such checklist item")]})
    was = DealChecklistCheck.objects.filter(deal=deal, item=item).exists()
    if checked and not was:
        DealChecklistCheck.objects.get_or_create(
            deal=deal, item=item, defaults={"checked_by": actor if getattr(actor, "pk", None) else None}
        )
    elif not checked and was:
        DealChecklistCheck.objects.filter(deal=deal, item=item).delete()
    if bool(checked) != was:
        _audit(
            actor=actor, action=AuditEntry.Action.UPDATE, obj=deal, source=source,
            changes={f"checklist:{item.pk}": [was, bool(checked)]}, extra={"checklist_item": item.text},
        )


@transaction.atomic
def deal_delete(*, actor, deal: Deal, expected_version: int | None = None, source: str = "web") -> None:
    deal = _lock(actor, deal, "delete")
    _check_version(deal, expected_version)
    _audit(
        actor=actor, action=AuditEntry.Action.DELETE, obj=deal, source=source,
        changes={k: [v, None] for k, v in _state(deal).items()},
    )
    deal.delete()


@dataclass
class _Owner:
    owner: User | None
    team: Any


@transaction.atomic
def deals_bulk_update(
    *, actor, ids: list[int], owner_id: int | None = None, tags_add: list[str] | None = None, source: str = "web"
) -> BulkResult:
    """Hand many deals to another owner and/or add tags. Deals outside the actor's "change" scope are skipped;
    rows are locked in id order."""
    errors: dict[str, list[str]] = {}
    try:
        wanted = list(dict.fromkeys(int(i) for i in ids or []))
    except (TypeError, ValueError):
        raise ValidationFailed({"ids": [_("must be a list of deal ids")]}) from None
    new: _Owner | None = None
    if owner_id not in (None, ""):
        values = _owner_team(actor, {"owner_id": owner_id}, errors, current=Deal(), entity="deal")
        if not errors:
            owner = values["owner"]
            membership = owner.memberships.order_by("-is_primary", "id").first() if owner else None
            new = _Owner(owner=owner, team=values.get("team") or (membership.team if membership else None))
    names = _tag_names(tags_add, errors, "tags_add") if tags_add is not None else None
    if new is None and not names and not errors:
        errors["owner_id"] = [_("Choose a new owner or a tag to add.")]
    _raise_if(errors)
    targets = list(
        Deal.objects.visible_to(actor, "change").filter(pk__in=wanted).select_for_update(of=("self",)).order_by("pk")
    )
    allowed = {d.pk for d in targets}
    result = BulkResult(skipped=[i for i in wanted if i not in allowed])
    for deal in targets:
        changes: dict[str, list[Any]] = {}
        if new is not None and deal.owner_id != (new.owner.pk if new.owner else None):
            changes["owner"] = [deal.owner_id, new.owner.pk if new.owner else None]
            if deal.team_id != (new.team.pk if new.team else None):
                changes["team"] = [deal.team_id, new.team.pk if new.team else None]
            deal.owner, deal.team = new.owner, new.team
        if names:
            tags_before = sorted(deal.tags.values_list("name", flat=True))
            _tags_set(deal, names, add_only=True)
            tags_after = sorted(deal.tags.values_list("name", flat=True))
            if tags_after != tags_before:
                changes["tags"] = [tags_before, tags_after]
        if not changes:
            continue
        deal.version += 1
        deal.save(update_fields=["owner", "team", "version", "updated_at"])
        _audit(actor=actor, action=AuditEntry.Action.UPDATE, obj=deal, changes=changes, source=source,
               extra={"bulk": True})
        result.changed.append(deal.pk)
    return result


# ----------------------------------------------------------------------------------------- products


def _product_input(data: dict[str, Any], *, product: Product | None) -> tuple[dict[str, Any], dict | None]:
    if not isinstance(data, dict):
        raise ValidationFailed({"data": [_("must be an object")]})
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for key, limit, required in (("sku", 64, True), ("name", 255, True), ("unit", 16, False),
                                 ("description", 100_000, False)):
        if key not in data and product is not None:
            continue
        value = data.get(key)
        value = "" if value is None else value
        if not isinstance(value, str):
            errors[key] = [_("must be text")]
            continue
        value = value.strip()
        if required and not value:
            errors[key] = [_("required")]
        elif len(value) > limit:
            errors[key] = [_("at most %(n)d characters") % {"n": limit}]
        elif value or key != "unit":
            values[key] = value
    if "sku" in values and Product.objects.filter(sku=values["sku"]).exclude(pk=getattr(product, "pk", None)).exists():
        errors["sku"] = [_("another product has this SKU")]
    if data.get("vat_rate") not in (None, ""):
        try:
            values["vat_rate"] = _decimal(data["vat_rate"], minimum=Decimal(0), maximum=Decimal(100))
        except ValueError as exc:
            errors["vat_rate"] = [str(exc)]
    if "active" in data and data["active"] is not None:
        values["active"] = bool(data["active"]) if not isinstance(data["active"], str) else data["active"] in (
            "1", "true", "on", "yes", "True")
    prices = None
    if "prices" in data and data["prices"] is not None:
        if not isinstance(data["prices"], dict):
            errors["prices"] = [_("must be an object of currency codes to prices")]
        else:
            prices = {}
            known = set(Currency.objects.values_list("code", flat=True))
            for code, price in data["prices"].items():
                code_u = str(code).strip().upper()
                if code_u not in known:
                    errors[f"prices.{code}"] = [_("unknown currency: %(code)s") % {"code": code}]
                    continue
                if price in (None, ""):
                    continue
                try:
                    prices[code_u] = _decimal(price, minimum=Decimal(0))
                except ValueError as exc:
                    errors[f"prices.{code}"] = [str(exc)]
    _raise_if(errors)
    return values, prices


def _prices_state(product: Product) -> dict[str, str]:
    return {p.currency_id: str(p.price) for p in ProductPrice.objects.filter(product=product).order_by("currency_id")}


def _prices_apply(product: Product, prices: dict[str, Decimal]) -> None:
    ProductPrice.objects.filter(product=product).exclude(currency_id__in=list(prices)).delete()
    for code, price in prices.items():
        ProductPrice.objects.update_or_create(product=product, currency_id=code, defaults={"price": price})


@transaction.atomic
def product_create(*, actor, data: dict[str, Any], source: str = "web") -> Product:
    _require(actor, "product", "create")
    values, prices = _product_input(data, product=None)
    product = Product.objects.create(**values)
    if prices:
        _prices_apply(product, prices)
    after = {**snapshot(product), "prices": _prices_state(product)}
    _audit(actor=actor, action=AuditEntry.Action.CREATE, obj=product, source=source,
           changes={k: [None, v] for k, v in after.items() if v not in (None, "", [], {})})
    return product


@transaction.atomic
def product_update(*, actor, product: Product, data: dict[str, Any], source: str = "web") -> Product:
    _require(actor, "product", "change")
    product = Product.objects.select_for_update().get(pk=product.pk)
    values, prices = _product_input(data, product=product)
    before = {**snapshot(product), "prices": _prices_state(product)}
    for key, value in values.items():
        setattr(product, key, value)
    product.save()
    if prices is not None:
        _prices_apply(product, prices)
    changes = diff(before, {**snapshot(product), "prices": _prices_state(product)})
    if changes:
        _audit(actor=actor, action=AuditEntry.Action.UPDATE, obj=product, changes=changes, source=source)
    return product


# ----------------------------------------------------------------------------------------- rates and targets


@transaction.atomic
def exchange_rate_set(*, actor, currency: str, on: dt.date, rate: Decimal, source: str = "web") -> ExchangeRate:
    """Set the rate of `currency` on a date (units of the base currency per unit); needs the all-records
    "product: change" grant (directors, administrators)."""
    if scopes.scope_for(actor, "product", "change") < scopes.ALL:
        raise PermissionDenied(_("You may not set exchange rates."))
    errors: dict[str, list[str]] = {}
    code = str(getattr(currency, "code", currency) or "").strip().upper()
    if not Currency.objects.filter(pk=code).exists():
        errors["currency"] = [_("unknown currency: %(code)s") % {"code": currency}]
    elif code == base_currency():
        errors["currency"] = [_("the base currency has no exchange rate")]
    try:
        day = _date(on)
        if day is None:
            raise ValueError(_("must be a date (YYYY-MM-DD)"))
    except ValueError as exc:
        errors["on"] = [str(exc)]
    try:
        value = _decimal(rate, minimum=Decimal("0.000001"), places=Decimal("0.000001"))
        if value <= 0:
            raise ValueError(_("must be more than 0"))
    except ValueError as exc:
        errors["rate"] = [str(exc)]
    _raise_if(errors)
    existing = ExchangeRate.objects.select_for_update().filter(currency_id=code, date=day).first()
    old = str(existing.rate) if existing else None
    obj, _created = ExchangeRate.objects.update_or_create(currency_id=code, date=day, defaults={"rate": value})
    if old != str(obj.rate):
        _audit(actor=actor, action=AuditEntry.Action.UPDATE if existing else AuditEntry.Action.CREATE, obj=obj,
               source=source, changes={"rate": [old, str(obj.rate)], "currency": [None, code], "date": [None, day]})
    return obj


@transaction.atomic
def target_set(
    *, actor, user_id: int, period_start, period_end, amount, currency, source: str = "web"
) -> SalesTarget:
    """Set a rep's quota for a period (creates or replaces the one for exactly that period). Directors set any
    rep's target; team leads their teams' members."""
    errors: dict[str, list[str]] = {}
    user = User.objects.filter(pk=_id(user_id), is_active=True).first() if _id(user_id) else None
    if user is None:
        errors["user_id"] = [_("no such active user")]
    scope = scopes.scope_for(actor, "deal", "change")
    if user is not None and not (
        scope >= scopes.ALL
        or (scope == scopes.TEAM and set(scopes.user_team_ids(actor))
            & set(user.memberships.values_list("team_id", flat=True)))
    ):
        raise PermissionDenied(_("You may not set this user's target."))
    dates = {}
    for key, value in (("period_start", period_start), ("period_end", period_end)):
        try:
            dates[key] = _date(value)
            if dates[key] is None:
                raise ValueError(_("must be a date (YYYY-MM-DD)"))
        except ValueError as exc:
            errors[key] = [str(exc)]
    if dates.get("period_start") and dates.get("period_end") and dates["period_end"] < dates["period_start"]:
        errors["period_end"] = [_("must not be before the start")]
    try:
        value = _decimal(amount, minimum=Decimal(0))
    except ValueError as exc:
        errors["amount"] = [str(exc)]
    code = str(getattr(currency, "code", currency) or "").strip().upper()
    if not Currency.objects.filter(pk=code).exists():
        errors["currency"] = [_("unknown currency: %(code)s") % {"code": currency}]
    _raise_if(errors)
    target, created = SalesTarget.objects.update_or_create(
        user=user, period_start=dates["period_start"], period_end=dates["period_end"],
        defaults={"amount": value, "currency_id": code},
    )
    _audit(actor=actor, action=AuditEntry.Action.CREATE if created else AuditEntry.Action.UPDATE, obj=target,
           source=source, changes={"amount": [None, str(value)], "currency": [None, code]})
    return target
