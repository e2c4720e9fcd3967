"""Deals: the list (sorting, filters, pagination, bulk actions), the card, create and edit forms, the stage
move (board drag and drop and the card's control), product lines, checklist ticks, client pickers."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from kramar.activities.models import Task
from kramar.clients import selectors as client_selectors
from kramar.clients.models import Company, Contact
from kramar.core import scopes
from kramar.core.customfields import custom_values_display
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry
from kramar.core.pagination import capped_page
from kramar.core.views import _diff_rows, duration_display
from kramar.history.models import Interaction
from kramar.sales import money, selectors, services
from kramar.sales.choices import StageKind
from kramar.sales.forms import DealBulkForm, DealForm, DealLineFormSet, DealListFilterForm, DealStageForm
from kramar.sales.models import ChecklistItem, DealChecklistCheck
from kramar.sales.rules import StageRulesViolated
from kramar.sales.views.common import CONFLICT_MESSAGE, query, stage_rules_message, tag_names, wants_partial

RELATED_LIMIT = 50
SORTS = ["title", "amount", "close", "updated", "stage"]


# ----------------------------------------------------------------------------------------- list


def _list_context(request, params: QueryDict) -> dict[str, Any]:
    form = DealListFilterForm(params or None)
    filters = form.filters()
    sort = params.get("sort") or "-updated"
    if sort.lstrip("-") not in SORTS:
        sort = "-updated"
    try:
        number = int(params.get("page") or 1)
    except ValueError:
        number = 1
    qs = selectors.deal_list(actor=request.user, filters=filters, sort=sort).prefetch_related("tags")
    page = capped_page(qs, number)
    selectors.deals_company_visible(actor=request.user, deals=page.rows)
    base = reverse("sales:deal-list")
    sort_links = {}
    for key in SORTS:
        new = f"-{key}" if sort == key else key
        sort_links[key] = {
            "url": base + query(params, sort=new, page=None),
            "active": sort.lstrip("-") == key,
            "desc": sort == f"-{key}",
        }
    return {
        "filter_form": form,
        "filters_active": bool(filters),
        "page": page,
        "sort": sort,
        "sort_links": sort_links,
        "list_url": base,
        "current_query": query(params),
        "next_url": base + query(params, page=page.number + 1) if page.has_next else None,
        "previous_url": base + query(params, page=page.number - 1 if page.number > 2 else None)
        if page.has_previous
        else None,
        "owners": form.users,
        "tag_names": tag_names(),
        "base_currency": money.base_currency(),
        "can_create": scopes.can(request.user, "deal", "create"),
        "can_change": scopes.can(request.user, "deal", "change"),
        "nav": "deals",
    }


@require_GET
@login_required
def deal_list(request):
    context = _list_context(request, request.GET)
    template = "sales/_deal_table.html" if wants_partial(request) else "sales/deal_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@login_required
def deals_bulk(request):
    form = DealBulkForm(request.POST)
    params = QueryDict(request.POST.get("back", "").lstrip("?"), mutable=True)
    level = messages.SUCCESS
    if form.is_valid():
        cd = form.cleaned_data
        try:
            result = services.deals_bulk_update(
                actor=request.user,
                ids=cd["ids"],
                owner_id=cd["owner"].pk if cd["action"] == "owner" else None,
                tags_add=[cd["tag"].strip()] if cd["action"] == "tag" else None,
            )
        except ValidationFailed as exc:
            message, level = "; ".join(m for ms in exc.errors.values() for m in ms), messages.ERROR
        else:
            changed, skipped = len(result.changed), len(result.skipped)
            message = _("%(changed)s, %(skipped)s.") % {
                "changed": ngettext("%(n)d deal changed", "%(n)d deals changed", changed) % {"n": changed},
                "skipped": ngettext(
                    "%(n)d skipped (outside your scope)", "%(n)d skipped (outside your scope)", skipped
                )
                % {"n": skipped},
            }
    else:
        message = " ".join(str(e) for errs in form.errors.values() for e in errs)
        level = messages.ERROR
    if wants_partial(request):
        context = _list_context(request, params)
        context.update(bulk_message=message, bulk_error=level == messages.ERROR)
        return render(request, "sales/_deal_table.html", context)
    messages.add_message(request, level, message)
    return HttpResponseRedirect(reverse("sales:deal-list") + query(params))


# ----------------------------------------------------------------------------------------- card


def _since(start, end=None) -> str:
    seconds = int(((end or timezone.now()) - start).total_seconds())
    days = seconds // 86400
    if days >= 1:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    return duration_display(max(seconds, 0))


def _checklist(deal) -> list[dict[str, Any]]:
    items = list(ChecklistItem.objects.filter(stage_id=deal.stage_id).order_by("position", "id"))
    ticked = set(
        DealChecklistCheck.objects.filter(deal=deal, item__in=items).values_list("item_id", flat=True)
    )
    return [{"item": i, "checked": i.pk in ticked} for i in items]


def _audit_entries(request, deal) -> list[AuditEntry]:
    entries = list(
        AuditEntry.objects.filter(entity="deal", object_id=deal.pk).select_related("actor")[:RELATED_LIMIT]
    )
    _diff_rows(entries, request.user)
    return entries


@require_GET
@login_required
def deal_detail(request, pk: int):
    deal = selectors.deal_get(actor=request.user, pk=pk)
    lines = list(deal.lines.select_related("product"))
    history = list(selectors.deal_stage_history(deal=deal))
    for h in history:
        h.duration = _since(h.entered_at, h.left_at)
    contacts = list(
        Contact.objects.visible_to(request.user, "view").filter(deal_links__deal=deal).order_by("-deal_links__is_primary")
    )
    company_visible = bool(
        deal.company_id and Company.objects.visible_to(request.user, "view").filter(pk=deal.company_id).exists()
    )
    tasks = list(
        Task.objects.visible_to(request.user, "view").filter(deal=deal).select_related("owner").order_by(
            "status", "due_at", "id"
        )[:RELATED_LIMIT]
    )
    interactions = list(
        Interaction.objects.visible_to(request.user, "view")
        .filter(deal=deal)
        .select_related("user")
        .order_by("-occurred_at", "-id")[:RELATED_LIMIT]
    )
    context = {
        "deal": deal,
        "lines": lines,
        "lines_net": sum((line.net for line in lines), 0),
        "lines_vat": sum((line.vat for line in lines), 0),
        "lines_total": sum((line.total for line in lines), 0),
        "amount_base": money.to_base(deal.amount, deal.currency_id),
        "base_currency": money.base_currency(),
        "history": history,
        "in_stage_for": _since(deal.stage_entered_at),
        "contacts": contacts,
        "company_visible": company_visible,
        "tasks": tasks,
        "interactions": interactions,
        "checklist": _checklist(deal),
        "stages": list(deal.pipeline.stages.order_by("position", "id")),
        "lost_reasons": list(selectors.lost_reasons()),
        "audit_entries": _audit_entries(request, deal),
        "tags": list(deal.tags.all()),
        "custom_values": custom_values_display("deal", deal.custom),
        "can_change": scopes.record_allowed(request.user, deal, "change"),
        "can_add_task": scopes.can(request.user, "task", "create"),
        "lost_kind": StageKind.LOST,
        "now": timezone.now(),
        "nav": "deals",
    }
    return render(request, "sales/deal_detail.html", context)


# ----------------------------------------------------------------------------------------- stage move


def _stage_error(request, deal, *, status: int, message: str, code: str, extra: dict | None = None):
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"ok": False, "code": code, "message": message, **(extra or {})}, status=status)
    messages.error(request, message)
    return redirect("sales:deal-detail", pk=deal.pk)


@require_POST
@login_required
def deal_stage(request, pk: int):
    """Move a deal to a stage. The board posts with Accept: application/json and gets {ok, message, …};
    the card's form gets a redirect back with a message."""
    deal = selectors.deal_get(actor=request.user, pk=pk, action="change")
    form = DealStageForm(request.POST, deal=deal)
    if not form.is_valid():
        message = " ".join(str(e) for errs in form.errors.values() for e in errs)
        return _stage_error(request, deal, status=422, message=message, code="invalid")
    cd = form.cleaned_data
    try:
        deal = services.deal_move_to_stage(
            actor=request.user,
            deal=deal,
            stage=cd["stage"],
            expected_version=cd.get("version"),
            lost_reason_id=cd["lost_reason"].pk if cd.get("lost_reason") else None,
            lost_note=cd.get("lost_note") or "",
            source="web",
        )
    except StageRulesViolated as exc:
        return _stage_error(
            request, deal, status=422, message=stage_rules_message(exc), code=exc.code,
            extra={"missing": exc.extra.get("missing", [])},
        )
    except VersionConflict as exc:
        return _stage_error(
            request, deal, status=412, message=str(CONFLICT_MESSAGE), code=exc.code,
            extra={"current_version": exc.extra.get("current_version")},
        )
    except ValidationFailed as exc:
        message = " ".join(m for ms in exc.errors.values() for m in ms) or exc.message
        return _stage_error(
            request, deal, status=422, message=message, code=exc.code,
            extra={"need_lost_reason": "lost_reason_id" in exc.errors, "errors": exc.errors},
        )
    except DomainError as exc:
        return _stage_error(request, deal, status=exc.status, message=exc.message, code=exc.code)
    text = _("Moved to “%(stage)s”.") % {"stage": deal.stage.name}
    if "application/json" in request.headers.get("Accept", ""):
        selectors.deals_company_visible(actor=request.user, deals=[deal])
        card = render_to_string("sales/_deal_card.html", {"deal": deal, "base_currency": money.base_currency()}, request)
        return JsonResponse(
            {"ok": True, "message": text, "id": deal.pk, "version": deal.version, "stage_id": deal.stage_id,
             "status": deal.status, "card": card}
        )
    messages.success(request, text)
    return redirect("sales:deal-detail", pk=deal.pk)


# ----------------------------------------------------------------------------------------- checklist, lines


@require_POST
@login_required
def deal_checklist(request, pk: int):
    """Tick or untick one checklist item (HTMX: returns the checklist)."""
    deal = selectors.deal_get(actor=request.user, pk=pk, action="change")
    error = ""
    try:
        item_id = int(request.POST.get("item", ""))
    except ValueError:
        item_id = 0
    try:
        services.deal_checklist_toggle(
            actor=request.user, deal=deal, item_id=item_id, checked=request.POST.get("checked") in ("1", "on", "true")
        )
    except DomainError as exc:
        error = " ".join(m for ms in getattr(exc, "errors", {}).values() for m in ms) or exc.message
    context = {"deal": deal, "checklist": _checklist(deal), "can_change": True, "checklist_error": error}
    if wants_partial(request):
        return render(request, "sales/_checklist.html", context, status=422 if error else 200)
    if error:
        messages.error(request, error)
    return redirect("sales:deal-detail", pk=deal.pk)


@login_required
def deal_lines(request, pk: int):
    deal = selectors.deal_get(actor=request.user, pk=pk, action="change")
    error = ""
    if request.method == "POST":
        formset = DealLineFormSet(request.POST, prefix="lines")
        if formset.is_valid():
            try:
                version = int(request.POST.get("version") or 0) or None
            except ValueError:
                version = None
            try:
                services.deal_lines_set(
                    actor=request.user, deal=deal, lines=formset.lines(), expected_version=version, source="web"
                )
            except VersionConflict:
                error = str(CONFLICT_MESSAGE)
            except ValidationFailed as exc:
                error = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            except DomainError as exc:
                error = exc.message
            else:
                messages.success(request, _("Product lines saved."))
                return redirect("sales:deal-detail", pk=deal.pk)
    else:
        initial = [
            {
                "product": line.product_id,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount_percent": line.discount_percent,
                "vat_rate": line.vat_rate,
            }
            for line in deal.lines.all()
        ]
        formset = DealLineFormSet(initial=initial, prefix="lines")
    return render(
        request, "sales/deal_lines.html", {"deal": deal, "formset": formset, "error": error, "nav": "deals"}
    )


# ----------------------------------------------------------------------------------------- forms


def _picked(request, *, company_id, contact_ids) -> tuple[Company | None, list[Contact]]:
    company = None
    if company_id:
        company = Company.objects.visible_to(request.user, "view").filter(pk=company_id).first()
    ids = [int(i) for i in contact_ids if str(i).isdigit()][:RELATED_LIMIT]
    found = {c.pk: c for c in Contact.objects.visible_to(request.user, "view").filter(pk__in=ids)}
    return company, [found[i] for i in ids if i in found]


def _deal_form(request, *, deal=None):
    editing = deal is not None
    if not editing and not scopes.can(request.user, "deal", "create"):
        raise PermissionDenied
    if editing and not scopes.record_allowed(request.user, deal, "change"):
        raise PermissionDenied
    hidden_links = hidden_company = False
    if request.method == "POST":
        pinned = {"pipeline": deal.pipeline_id} if editing else None  # a disabled field keeps its initial
        form = DealForm(request.POST, initial=pinned, editing=editing)
        company, contacts = _picked(
            request, company_id=request.POST.get("company"), contact_ids=request.POST.getlist("contact_ids")
        )
        if form.is_valid():
            try:
                if editing:
                    saved = services.deal_update(
                        actor=request.user, deal=deal, data=form.to_data(),
                        expected_version=form.cleaned_data.get("version"), source="web",
                    )
                else:
                    saved = services.deal_create(actor=request.user, data=form.to_data(), source="web")
            except ValidationFailed as exc:
                form.add_service_errors(exc.errors)
            except VersionConflict as exc:
                data = request.POST.copy()
                data["version"] = str(exc.extra.get("current_version", ""))
                form = DealForm(data, initial=pinned, editing=editing)
                form.is_valid()
                form.conflict = True
                form.add_error(None, str(CONFLICT_MESSAGE))
            except StageRulesViolated as exc:
                form.add_error("stage" if "stage" in form.fields else None, stage_rules_message(exc))
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Saved."))
                return redirect("sales:deal-detail", pk=saved.pk)
    elif editing:
        form = DealForm(initial=DealForm.initial_for(deal), editing=True)
        company = deal.company if deal.company_id else None
        if company and not Company.objects.visible_to(request.user, "view").filter(pk=company.pk).exists():
            company = None
            hidden_links = hidden_company = True  # kept on save (the service keeps links the editor cannot see)
        contacts = list(
            Contact.objects.visible_to(request.user, "view").filter(deal_links__deal=deal)[:RELATED_LIMIT]
        )
    else:
        default = selectors.pipeline_default()
        initial = {"pipeline": default.pk if default else None, "owner": request.user.pk, "currency": money.base_currency()}
        company, contacts = _picked(
            request, company_id=request.GET.get("company"), contact_ids=request.GET.getlist("contact")
        )
        form = DealForm(initial=initial)
    context = {
        "form": form,
        "deal": deal,
        "picked_company": company,
        "picked_contacts": contacts,
        "hidden_links": hidden_links or (editing and deal.contact_links.count() > len(contacts)),
        "hidden_company": hidden_company,
        "tag_names": tag_names(),
        "nav": "deals",
    }
    return render(request, "sales/deal_form.html", context)


@login_required
def deal_create(request):
    return _deal_form(request)


@login_required
def deal_edit(request, pk: int):
    return _deal_form(request, deal=selectors.deal_get(actor=request.user, pk=pk, action="change"))


@require_GET
@login_required
def company_pick(request):
    """Companies the user may see, for the deal form's picker (HTMX partial)."""
    q = request.GET.get("company_q", "").strip()[:200]
    companies = (
        list(client_selectors.company_list(actor=request.user, filters={"q": q})[:15]) if len(q) >= 2 else []
    )
    return render(request, "sales/_company_pick.html", {"companies": companies, "query": q})


@require_GET
@login_required
def contact_pick(request):
    """Contacts the user may see, for the deal form's picker (HTMX partial)."""
    q = request.GET.get("contact_q", "").strip()[:200]
    contacts = (
        list(client_selectors.contact_list(actor=request.user, filters={"q": q})[:15]) if len(q) >= 2 else []
    )
    return render(request, "sales/_contact_pick.html", {"contacts": contacts, "query": q})
