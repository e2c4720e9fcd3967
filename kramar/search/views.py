"""The global search box: instant results as you type (HTMX partial) and a full results page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from kramar.search.selectors import global_search

MIN_QUERY = 2
BOX_LIMIT = 10
PAGE_LIMIT = 50


@require_GET
@login_required
def search(request):
    query = request.GET.get("q", "").strip()[:200]
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    limit = BOX_LIMIT if partial else PAGE_LIMIT
    hits = global_search(actor=request.user, query=query, limit=limit) if len(query) >= MIN_QUERY else []
    context = {"query": query, "hits": hits, "too_short": 0 < len(query) < MIN_QUERY, "limit": limit}
    template = "search/_results.html" if partial else "search/search.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
