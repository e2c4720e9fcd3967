"""The pipeline board: one column per stage with count, total and weighted total in the base currency,
filters in the query string (HTMX refreshes only the board), "load more" per column."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from kramar.core import scopes
from kramar.sales import money, selectors
from kramar.sales.choices import StageKind
from kramar.sales.forms import BoardFilterForm
from kramar.sales.views.common import query, tag_names, wants_partial

BOARD_PER_STAGE = 30
MORE_PAGE = 30


@require_GET
@login_required
def home(request):
    return redirect("sales:board")


def _pipeline(pipeline_id: int | None):
    if pipeline_id is not None:
        return selectors.pipeline_get(pk=pipeline_id)
    return selectors.pipeline_default()


@require_GET
@login_required
def board(request, pipeline_id: int | None = None):
    pipeline = _pipeline(pipeline_id)
    form = BoardFilterForm(request.GET or None)
    filters = form.filters()
    columns = (
        selectors.board(actor=request.user, pipeline=pipeline, filters=filters, per_stage=BOARD_PER_STAGE)
        if pipeline
        else []
    )
    board_url = reverse("sales:board", args=[pipeline.pk]) if pipeline else reverse("sales:board")
    qs = query(request.GET)
    columns = [
        {
            "stage": col.stage,
            "deals": col.deals,
            "count": col.count,
            "total_base": col.total_base,
            "weighted_base": col.weighted_base,
            "recent_only": col.closed_since is not None,
            "has_more": col.count > len(col.deals),
            "more_url": reverse("sales:board-column", args=[pipeline.pk, col.stage.pk])
            + query(request.GET, offset=len(col.deals)),
        }
        for col in columns
    ]
    context = {
        "pipeline": pipeline,
        "pipelines": list(selectors.pipeline_list()),
        "columns": columns,
        "filter_form": form,
        "filters_active": bool(filters),
        "board_url": board_url,
        "board_query": qs,
        "lost_reasons": list(selectors.lost_reasons()),
        "base_currency": money.base_currency(),
        "can_create": scopes.can(request.user, "deal", "create"),
        "tag_names": tag_names(),
        "lost_kind": StageKind.LOST,
        "nav": "board",
        "closed_days": selectors.BOARD_CLOSED_DAYS,
    }
    template = "sales/_board.html" if wants_partial(request) else "sales/board.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@login_required
def board_column_more(request, pipeline_id: int, stage_id: int):
    """The next cards of one column (HTMX: replaces the column's "load more" button)."""
    pipeline = selectors.pipeline_get(pk=pipeline_id)
    stage = selectors.stage_get(pk=stage_id)
    if stage.pipeline_id != pipeline.pk:
        raise Http404("No such stage on this board")
    try:
        offset = max(0, int(request.GET.get("offset") or 0))
    except ValueError:
        offset = 0
    filters = BoardFilterForm(request.GET or None).filters()
    rows = selectors.board_column_deals(
        actor=request.user, pipeline=pipeline, stage=stage, filters=filters, offset=offset, limit=MORE_PAGE + 1
    )
    deals = rows[:MORE_PAGE]
    more_url = ""
    if len(rows) > MORE_PAGE:
        more_url = reverse("sales:board-column", args=[pipeline.pk, stage.pk]) + query(
            request.GET, offset=offset + MORE_PAGE
        )
    return render(request, "sales/_board_more.html", {"deals": deals, "more_url": more_url, "stage": stage})
