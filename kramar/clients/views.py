"""The web workstation for the client base: lists, cards, create and edit forms, bulk actions.

Views parse the request, call one selector or service, and render. Lists return only the table
partial to HTMX requests; their counts are capped so a page stays fast at a million rows."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from kramar.clients import selectors, services
from kramar.clients.forms import BulkForm, CompanyForm, ContactForm, ListFilterForm
from kramar.clients.models import Company, Contact
from kramar.core import scopes
from kramar.core.customfields import custom_values_display
from kramar.core.errors import ValidationFailed, VersionConflict
from kramar.core.models import Tag
from kramar.core.pagination import capped_page
from kramar.core.pagination import query_string as _query

RELATED_LIMIT = 50


# ----------------------------------------------------------------------------------------- lists


LISTS: dict[str, dict[str, Any]] = {
    "contact": {
        "selector": selectors.contact_list,
        "sorts": selectors.CONTACT_SORTS,
        "url": "clients:contact-list",
        "bulk_url": "clients:contact-bulk",
        "model": Contact,
        "page": "clients/contact_list.html",
        "partial": "clients/_contact_table.html",
        "nav": "contacts",
    },
    "company": {
        "selector": selectors.company_list,
        "sorts": selectors.COMPANY_SORTS,
        "url": "clients:company-list",
        "bulk_url": "clients:company-bulk",
        "model": Company,
        "page": "clients/company_list.html",
        "partial": "clients/_company_table.html",
        "nav": "companies",
    },
}


def _list_context(request, entity: str, params: QueryDict) -> dict[str, Any]:
    conf = LISTS[entity]
    form = ListFilterForm(params)
    filters = form.filters()
    sort = params.get("sort") or "name"
    if sort not in conf["sorts"]:
        sort = "name"
    try:
        number = max(1, int(params.get("page") or 1))
    except ValueError:
        number = 1
    qs = conf["selector"](actor=request.user, filters=filters, sort=sort).prefetch_related("tags")
    page = capped_page(qs, number)
    for row in page.rows:  # the selector prefetched only the primary points
        points = list(row.points.all())
        row.primary_email = next((p for p in points if p.kind == "email"), None)
        row.primary_phone = next((p for p in points if p.kind == "phone"), None)
    base = reverse(conf["url"])
    sort_links = {}
    for key in conf["sorts"]:
        if key.startswith("-"):
            continue
        new = f"-{key}" if sort == key else key
        sort_links[key] = {
            "url": base + _query(params, sort=new, page=None),
            "active": sort.lstrip("-") == key,
            "desc": sort == f"-{key}",
        }
    return {
        "entity": entity,
        "filter_form": form,
        "filters_active": any(v for v in filters.values()),
        "page": page,
        "sort": sort,
        "sort_links": sort_links,
        "list_url": base,
        "bulk_url": reverse(conf["bulk_url"]),
        "current_query": _query(params, page=params.get("page")),
        "next_url": base + _query(params, page=page.number + 1) if page.has_next else None,
        "previous_url": base + _query(params, page=page.number - 1 if page.number > 2 else None)
        if page.has_previous
        else None,
        "owners": list(form.fields["owner"].queryset),
        "tag_names": list(Tag.objects.order_by("name").values_list("name", flat=True)[:300]),
        "can_create": scopes.can(request.user, entity, "create"),
        "can_change": scopes.can(request.user, entity, "change"),
        "nav": conf["nav"],
    }


def _wants_partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request and not request.htmx.boosted


def _client_list(request, entity: str):
    context = _list_context(request, entity, request.GET)
    template = LISTS[entity]["partial"] if _wants_partial(request) else LISTS[entity]["page"]
    response = render(request, template, context)
    patch_vary_headers(
        response, ["HX-Request"]
    )  # the same URL answers a page or a partial: don't mix them up
    return response


@require_GET
@login_required
def contact_list(request):
    return _client_list(request, "contact")


@require_GET
@login_required
def company_list(request):
    return _client_list(request, "company")


def _bulk(request, entity: str):
    conf = LISTS[entity]
    form = BulkForm(request.POST)
    back = request.POST.get("back", "")
    params = QueryDict(back.lstrip("?"), mutable=True)
    message, level = None, messages.SUCCESS
    if form.is_valid():
        cd = form.cleaned_data
        try:
            if cd["action"] == "owner":
                result = services.clients_bulk_set_owner(
                    actor=request.user, model=conf["model"], ids=cd["ids"], owner_id=cd["owner"].pk
                )
            else:
                result = services.clients_bulk_tag(
                    actor=request.user,
                    model=conf["model"],
                    ids=cd["ids"],
                    tags=[cd["tag"]],
                    remove=cd["action"] == "untag",
                )
        except ValidationFailed as exc:
            message, level = "; ".join(m for ms in exc.errors.values() for m in ms), messages.ERROR
        else:
            message = _("%(changed)s, %(skipped)s.") % {
                "changed": ngettext("%(n)d changed", "%(n)d changed", len(result.changed))
                % {"n": len(result.changed)},
                "skipped": ngettext(
                    "%(n)d skipped (outside your scope)",
                    "%(n)d skipped (outside your scope)",
                    len(result.skipped),
                )
                % {"n": len(result.skipped)},
            }
    else:
        message = " ".join(str(e) for errs in form.errors.values() for e in errs)
        level = messages.ERROR
    if _wants_partial(request):
        context = _list_context(request, entity, params)
        context.update(bulk_message=message, bulk_error=level == messages.ERROR)
        return render(request, conf["partial"], context)
    messages.add_message(request, level, message)
    return HttpResponseRedirect(reverse(conf["url"]) + _query(params))


@require_POST
@login_required
def contacts_bulk(request):
    return _bulk(request, "contact")


@require_POST
@login_required
def companies_bulk(request):
    return _bulk(request, "company")


# ----------------------------------------------------------------------------------------- cards


@require_GET
@login_required
def contact_detail(request, pk: int):
    contact = selectors.contact_get(actor=request.user, pk=pk)
    companies = list(
        Company.objects.visible_to(request.user, "view")
        .filter(contact_links__contact=contact)
        .order_by("name")[:RELATED_LIMIT]
    )
    return render(
        request,
        "clients/contact_detail.html",
        {
            "contact": contact,
            "points": list(contact.points.all()),
            "addresses": list(contact.addresses.all()),
            "tags": list(contact.tags.all()),
            "companies": companies,
            "custom_values": custom_values_display("contact", contact.custom),
            "can_change": scopes.record_allowed(request.user, contact, "change"),
            "nav": "contacts",
        },
    )


@require_GET
@login_required
def company_detail(request, pk: int):
    company = selectors.company_get(actor=request.user, pk=pk)
    contacts = list(
        selectors.contact_list(actor=request.user, filters={"company_id": company.pk})[: RELATED_LIMIT + 1]
    )
    return render(
        request,
        "clients/company_detail.html",
        {
            "company": company,
            "points": list(company.points.all()),
            "addresses": list(company.addresses.all()),
            "tags": list(company.tags.all()),
            "contacts": contacts[:RELATED_LIMIT],
            "more_contacts": len(contacts) > RELATED_LIMIT,
            "custom_values": custom_values_display("company", company.custom),
            "can_change": scopes.record_allowed(request.user, company, "change"),
            "can_add_contact": scopes.can(request.user, "contact", "create"),
            "nav": "companies",
        },
    )


# ----------------------------------------------------------------------------------------- forms


def _picked_companies(request, ids) -> list[Company]:
    ids = [int(i) for i in ids if str(i).isdigit()][:RELATED_LIMIT]
    found = {c.pk: c for c in Company.objects.visible_to(request.user, "view").filter(pk__in=ids)}
    return [found[i] for i in ids if i in found]


CONFLICT_MESSAGE = gettext_lazy(
    "This record was changed by someone else since you opened it. Your input is kept below; "
    "check the current version (it opens in a new tab). Saving again will replace their changes with yours."
)


def _save(request, *, entity: str, form, obj=None):
    """Call the create or update service with the form's data. Returns the saved record, or None with
    the service's complaint put on the form; `form.duplicates` / `form.conflict` tell which kind."""
    data = form.to_data()
    version = form.cleaned_data.get("version")
    try:
        if obj is None:
            create = services.contact_create if entity == "contact" else services.company_create
            return create(
                actor=request.user, data=data, allow_duplicates=form.cleaned_data["allow_duplicates"]
            )
        if entity == "contact":
            return services.contact_update(
                actor=request.user, contact=obj, data=data, expected_version=version
            )
        return services.company_update(actor=request.user, company=obj, data=data, expected_version=version)
    except ValidationFailed as exc:
        form.add_service_errors(exc.errors)
    except services.PossibleDuplicate as exc:
        form.duplicates = exc.extra
        form.add_error(None, exc.message)
    except VersionConflict as exc:
        form.conflict = exc.extra["current_version"]
    return None


def _client_form(request, *, entity: str, obj=None):
    """Create (obj None) or edit a contact or company."""
    is_contact = entity == "contact"
    form_class = ContactForm if is_contact else CompanyForm
    if obj is None and not scopes.can(request.user, entity, "create"):
        raise PermissionDenied
    if obj is not None and not scopes.record_allowed(request.user, obj, "change"):
        raise PermissionDenied
    extra: dict[str, Any] = {}
    if request.method == "POST":
        if is_contact:
            extra["companies"] = _picked_companies(request, request.POST.getlist("company_ids"))
        form = form_class(request.POST, **extra)
        if form.is_valid():
            saved = _save(request, entity=entity, form=form, obj=obj)
            if saved is not None:
                messages.success(request, _("Saved."))
                return redirect(f"clients:{entity}-detail", pk=saved.pk)
            if form.conflict:
                # Keep the user's input; a second save is a deliberate overwrite of the current version.
                data = request.POST.copy()
                data["version"] = str(form.conflict)
                form = form_class(data, **extra)
                form.is_valid()
                form.conflict = True
                form.add_error(None, str(CONFLICT_MESSAGE))
    elif obj is not None:
        if is_contact:
            extra["companies"] = list(
                Company.objects.visible_to(request.user, "view")
                .filter(contact_links__contact=obj)
                .order_by("-contact_links__is_primary", "name")[:RELATED_LIMIT]
            )
        form = form_class(initial=form_class.initial_for(obj), **extra)
    else:
        if is_contact:
            extra["companies"] = _picked_companies(request, request.GET.getlist("company"))
        form = form_class(initial={"owner": request.user.pk}, **extra)
    context = {"form": form, "entity": entity, "obj": obj, "nav": "contacts" if is_contact else "companies"}
    return render(request, "clients/client_form.html", context)


@login_required
def contact_new(request):
    return _client_form(request, entity="contact")


@login_required
def contact_edit(request, pk: int):
    return _client_form(request, entity="contact", obj=selectors.contact_get(actor=request.user, pk=pk))


@login_required
def company_new(request):
    return _client_form(request, entity="company")


@login_required
def company_edit(request, pk: int):
    return _client_form(request, entity="company", obj=selectors.company_get(actor=request.user, pk=pk))


@require_GET
@login_required
def company_pick(request):
    """Search results for the company picker of the contact form (HTMX partial)."""
    q = request.GET.get("company_q", "").strip()[:200]
    companies = list(selectors.company_list(actor=request.user, filters={"q": q})[:15]) if len(q) >= 2 else []
    return render(request, "clients/_company_pick_results.html", {"companies": companies, "query": q})
