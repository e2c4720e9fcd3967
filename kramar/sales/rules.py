"""Stage entry rules: what a deal needs before it may enter a stage.

A stage lists required deal fields (`Stage.required_fields`, codes of REQUIRED_FIELD_CHOICES) and required
completed activities (`Stage.required_activities`, task kinds: a completed task of that kind on the deal). The
required checklist items of the earlier stages of the pipeline must be ticked before a deal enters a later
open or won stage (a deal may always be marked lost). `stage_rules_check` lists every missing thing;
services raise `StageRulesViolated` with that list."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kramar.activities.choices import TaskKind, TaskStatus
from kramar.core.errors import DomainError
from kramar.sales.choices import StageKind

REQUIRED_FIELD_CHOICES: dict[str, Any] = {
    "amount": gettext_lazy("Amount"),
    "expected_close_date": gettext_lazy("Expected close date"),
    "company": gettext_lazy("Company"),
    "contacts": gettext_lazy("Contacts"),
    "lines": gettext_lazy("Product lines"),
    "source": gettext_lazy("Source"),
    "description": gettext_lazy("Description"),
}


class StageRulesViolated(DomainError):
    """The deal may not enter the stage: `extra["missing"]` lists each missing thing (code, field, message)."""

    status = 422

    def __init__(self, *, stage, missing: list[dict[str, Any]]):
        message = _("The deal cannot enter “%(stage)s” yet: %(missing)s.") % {
            "stage": stage.name,
            "missing": "; ".join(str(m["message"]) for m in missing),
        }
        super().__init__("stage_rules", message, {"stage_id": stage.pk, "missing": missing})
        self.stage = stage
        self.missing = missing


def _field_filled(deal, code: str) -> bool:
    if code == "amount":
        return deal.amount is not None and deal.amount > 0
    if code == "expected_close_date":
        return deal.expected_close_date is not None
    if code == "company":
        return deal.company_id is not None
    if code == "contacts":
        return deal.pk is not None and deal.contact_links.exists()
    if code == "lines":
        return deal.pk is not None and deal.lines.exists()
    if code in ("source", "description"):
        return bool((getattr(deal, code) or "").strip())
    return True  # an unknown code (a stale configuration) blocks nothing


def stage_rules_check(*, deal, stage) -> list[dict[str, Any]]:
    """Everything `deal` lacks to enter `stage`, as [{"code", "field", "message", …}]; empty when it may enter."""
    from kramar.activities.models import Task
    from kramar.sales.models import ChecklistItem

    missing: list[dict[str, Any]] = []
    for code in stage.required_fields or []:
        if code in REQUIRED_FIELD_CHOICES and not _field_filled(deal, code):
            missing.append({
                "code": "required_field",
                "field": code,
                "message": _("%(field)s is required") % {"field": REQUIRED_FIELD_CHOICES[code]},
            })
    kinds = [k for k in (stage.required_activities or []) if k in TaskKind.values]
    if kinds:
        done = set()
        if deal.pk is not None:
            done = set(
                Task.objects.filter(deal_id=deal.pk, kind__in=kinds, status=TaskStatus.DONE)
                .values_list("kind", flat=True).distinct()
            )
        for kind in kinds:
            if kind not in done:
                missing.append({
                    "code": "required_activity",
                    "field": "activities",
                    "kind": kind,
                    "message": _("a completed %(kind)s on the deal is required")
                    % {"kind": str(TaskKind(kind).label).lower()},
                })
    if stage.kind != StageKind.LOST:
        items = ChecklistItem.objects.filter(
            stage__pipeline_id=stage.pipeline_id, stage__position__lt=stage.position, required=True
        ).select_related("stage")
        if deal.pk is not None:
            items = items.exclude(pk__in=deal.checks.values("item_id"))
        for item in items.order_by("stage__position", "position", "id"):
            missing.append({
                "code": "checklist",
                "field": "checklist",
                "item_id": item.pk,
                "message": _("checklist item “%(text)s” of stage “%(stage)s” is not ticked")
                % {"text": item.text, "stage": item.stage.name},
            })
    return missing


def stage_rules_enforce(*, deal, stage) -> None:
    """Raise StageRulesViolated when `deal` may not enter `stage`."""
    missing = stage_rules_check(deal=deal, stage=stage)
    if missing:
        raise StageRulesViolated(stage=stage, missing=missing)


__all__ = ["REQUIRED_FIELD_CHOICES", "StageRulesViolated", "stage_rules_check", "stage_rules_enforce"]
