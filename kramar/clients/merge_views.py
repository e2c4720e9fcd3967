"""Web pages for merging duplicates: pick the other record, preview side by side with a choice per
field, confirm; the merge journal with undo. Rules live in kramar.clients.merge."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from kramar.clients import merge
from kramar.core.errors import DomainError, ValidationFailed

PAGE_SIZE = 50
MERGERS = {"contact": merge.contacts_merge, "company": merge.companies_merge}
NAV = {"contact": "contacts", "company": "companies"}


def card_url(entity: str, pk: int) -> str:
    try:
        return reverse(f"clients:{entity}-detail", args=[pk])
    except NoReverseMatch:  # the card pages are optional for this module
        return reverse("merge:record-list")


def _undo_message(request, record, loser_name: str) -> str:
    """A flash message with an "Undo merge" button (shown on the survivor's card)."""
    return format_html(
        '{} <form method="post" action="{}" class="kr-inline-form">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<button type="submit" class="kr-link-button">{}</button></form> · <a href="{}">{}</a>',
        _("Merged “%(loser)s” into this record.") % {"loser": loser_name},
        reverse("merge:record-undo", args=[record.pk]),
        get_token(request),
        _("Undo merge"),
        reverse("merge:record-detail", args=[record.pk]),
        _("Details"),
    )


@login_required
def merge_pick(request, entity: str, pk: int):
    """Choose the record to merge with: likely duplicates, and a free search (HTMX updates the results)."""
    obj = merge.merge_for_changeable(actor=request.user, entity=entity, pk=pk)
    query = request.GET.get("q", "").strip()[:200]
    likely, found = merge.merge_candidates(actor=request.user, obj=obj, query=query)
    context = {
        "entity": entity,
        "obj": obj,
        "query": query,
        "likely": likely,
        "found": found,
        "nav": NAV[entity],
    }
    if request.htmx:
        return render(request, "clients/merge/_pick_results.html", context)
    return render(request, "clients/merge/pick.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def merge_confirm(request, entity: str, pk: int, other_pk: int):
    """Side-by-side preview (GET) and the merge itself (POST): `pk` survives, `other_pk` is merged away."""
    if pk == other_pk:
        messages.error(request, _("A record cannot be merged with itself."))
        return redirect(f"merge:{entity}-pick", pk=pk)
    preview = merge.merge_preview(actor=request.user, entity=entity, survivor_id=pk, loser_id=other_pk)
    error = None
    if request.method == "POST":
        choices = {k[7:]: v for k, v in request.POST.items() if k.startswith("choice.")}
        try:
            result = MERGERS[entity](
                actor=request.user, survivor=preview.survivor, loser=preview.loser, choices=choices
            )
        except ValidationFailed as exc:
            error = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in exc.errors.items())
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, _undo_message(request, result.record, str(result.loser)))
            return redirect(card_url(entity, result.survivor.pk))
        for row in preview.rows:  # keep the user's choices on the re-rendered form
            row.choice = request.POST.get(f"choice.{row.key}", row.choice)
    return render(
        request,
        "clients/merge/preview.html",
        {"entity": entity, "preview": preview, "error": error, "nav": NAV[entity]},
        status=400 if error else 200,
    )


@login_required
def merge_record_list(request):
    entity = request.GET.get("entity") if request.GET.get("entity") in merge.ENTITIES else None
    page = Paginator(merge.merge_list(actor=request.user, entity=entity), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = merge.merge_journal_rows(page.object_list, actor=request.user)
    return render(request, "clients/merge/record_list.html", {"page": page, "rows": rows, "entity": entity})


@login_required
def merge_record_detail(request, pk: int):
    record = merge.merge_get(actor=request.user, pk=pk)
    detail = merge.merge_record_detail(actor=request.user, record=record)
    return render(request, "clients/merge/record_detail.html", {"record": record, "detail": detail})


@login_required
@require_POST
def merge_record_undo(request, pk: int):
    record = merge.merge_get(actor=request.user, pk=pk)
    try:
        merge.merge_undo(actor=request.user, record=record)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The merge was undone: both records are back as they were."))
    return redirect("merge:record-detail", pk=record.pk)
