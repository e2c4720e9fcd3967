"""The managers' control page and its drill-down lists (HTMX partials). A user without any deal view grant
gets 403; a rep sees only their own row (see selectors.control_scope)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kramar.control import selectors
from kramar.control.targets import Period

DRILL_PAGE_SIZE = 25


def _partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request and not request.htmx.boosted


@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    errors = {}
    period = None
    if request.GET.get("period"):
        period = Period.parse(request.GET["period"])
        if period is None:
            errors["period"] = _("Choose a period from the list (YYYY-MM-DD..YYYY-MM-DD).")
    data = selectors.control_overview(viewer=request.user, team_id=request.GET.get("team"), period=period)
    context = {"nav": "control", "data": data, "counters": selectors.COUNTERS, "errors": errors}
    response = render(request, "control/_overview.html" if _partial(request) else "control/overview.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@login_required
def drilldown(request: HttpRequest, kind: str) -> HttpResponse:
    rep, qs = selectors.control_drilldown(viewer=request.user, kind=kind, rep_id=request.GET.get("rep"))
    page = Paginator(qs, DRILL_PAGE_SIZE).get_page(request.GET.get("page"))
    base = request.path + "?" + urlencode({"rep": rep.pk})
    context = {
        "rep": rep, "kind": kind, "title": selectors.COUNTERS[kind], "page": page,
        "next_url": f"{base}&page={page.next_page_number()}" if page.has_next() else "",
        "previous_url": f"{base}&page={page.previous_page_number()}" if page.has_previous() else "",
    }
    template = "control/_drilldown.html" if _partial(request) else "control/drilldown.html"
    return render(request, template, context)
