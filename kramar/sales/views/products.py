"""The product catalogue: list, card, create and edit (for users with the grant)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kramar.core import scopes
from kramar.core.errors import DomainError, ValidationFailed
from kramar.sales import selectors, services
from kramar.sales.forms import ProductForm
from kramar.sales.views.common import query, wants_partial

PAGE_SIZE = 50


def _require(user, action: str) -> None:
    if not scopes.can(user, "product", action):
        raise PermissionDenied


@require_GET
@login_required
def product_list(request):
    _require(request.user, "view")
    q = request.GET.get("q", "").strip()[:200]
    active = request.GET.get("active", "1")
    filters = {"q": q} if q else {}
    if active in ("1", "0"):
        filters["active"] = active == "1"
    try:
        number = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        number = 1
    offset = (number - 1) * PAGE_SIZE
    rows = list(selectors.product_list(filters=filters).prefetch_related("prices")[offset : offset + PAGE_SIZE + 1])
    base = reverse("sales:product-list")
    context = {
        "products": rows[:PAGE_SIZE],
        "q": q,
        "active": active,
        "page_number": number,
        "next_url": base + query(request.GET, page=number + 1) if len(rows) > PAGE_SIZE else None,
        "previous_url": base + query(request.GET, page=number - 1 if number > 2 else None) if number > 1 else None,
        "filters_active": bool(q) or active != "1",
        "list_url": base,
        "can_create": scopes.can(request.user, "product", "create"),
        "nav": "products",
    }
    template = "sales/_product_table.html" if wants_partial(request) else "sales/product_list.html"
    return render(request, template, context)


@require_GET
@login_required
def product_detail(request, pk: int):
    _require(request.user, "view")
    product = selectors.product_get(pk=pk)
    return render(
        request,
        "sales/product_detail.html",
        {
            "product": product,
            "prices": list(product.prices.select_related("currency").order_by("currency_id")),
            "can_change": scopes.can(request.user, "product", "change"),
            "nav": "products",
        },
    )


def _product_form(request, *, product=None):
    _require(request.user, "change" if product else "create")
    if request.method == "POST":
        form = ProductForm(request.POST)
        if form.is_valid():
            try:
                if product is None:
                    saved = services.product_create(actor=request.user, data=form.to_data())
                else:
                    saved = services.product_update(actor=request.user, product=product, data=form.to_data())
            except ValidationFailed as exc:
                form.add_service_errors(exc.errors)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Saved."))
                return redirect("sales:product-detail", pk=saved.pk)
    else:
        form = ProductForm(initial=ProductForm.initial_for(product) if product else None)
    return render(request, "sales/product_form.html", {"form": form, "product": product, "nav": "products"})


@login_required
def product_create(request):
    return _product_form(request)


@login_required
def product_edit(request, pk: int):
    _require(request.user, "change")
    return _product_form(request, product=selectors.product_get(pk=pk))
