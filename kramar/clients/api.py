"""REST operations on companies and contacts. Each one authenticates (the API's auth), parses, calls one
selector or service and renders; scopes, validation, duplicates and audit live in the services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Value
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from kramar.clients import services
from kramar.clients.models import Company, Contact, ContactPoint
from kramar.clients.schemas import (
    BulkOut,
    BulkOwnerIn,
    BulkTagIn,
    CompanyFilters,
    CompanyIn,
    CompanyOut,
    CompanyPage,
    CompanyPatch,
    ContactFilters,
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
)
from kramar.clients.selectors import (
    COMPANY_SORTS,
    CONTACT_SORTS,
    client_audit_entries,
    company_get,
    company_list,
    contact_get,
    contact_list,
)
from kramar.core import scopes
from kramar.core.api_support import (
    ERRORS,
    Cursor,
    Id,
    KeysetPage,
    Limit,
    actor,
    etag_for,
    expected_version,
    json_response,
    paginate,
)
from kramar.core.schemas import AuditPage

router = Router(tags=["clients"])


# ----------------------------------------------------------------------------------------- rendering


def _user_name(first: str, last: str, username: str) -> str:
    return f"{first} {last}".strip() or username


def _user_ref(user) -> dict[str, Any] | None:
    return {"id": user.pk, "name": str(user)} if user is not None else None


def _points(obj) -> tuple[list[dict], list[dict]]:
    emails, phones = [], []
    for p in obj.points.all():
        item = {
            "value": p.value,
            "normalized": p.normalized,
            "label": p.label,
            "extension": p.extension,
            "is_primary": p.is_primary,
        }
        (emails if p.kind == "email" else phones).append(item)
    return emails, phones


def _address(obj) -> dict[str, str] | None:
    a = obj.addresses.order_by("id").first()
    if a is None:
        return None
    return {
        "kind": a.kind,
        "line": a.line,
        "city": a.city,
        "region": a.region,
        "postal_code": a.postal_code,
        "country": a.country,
    }


def _contact_out(c: Contact) -> dict[str, Any]:
    emails, phones = _points(c)
    links = c.company_links.select_related("company").order_by("-is_primary", "id")
    return {
        "id": c.pk,
        "first_name": c.first_name,
        "middle_name": c.middle_name,
        "last_name": c.last_name,
        "full_name": c.full_name,
        "position": c.position,
        "primary_company": {"id": c.primary_company.pk, "name": c.primary_company.name}
        if c.primary_company
        else None,
        "companies": [
            {
                "id": link.company_id,
                "name": link.company.name,
                "position": link.position,
                "is_primary": link.is_primary,
            }
            for link in links
        ],
        "emails": emails,
        "phones": phones,
        "address": _address(c),
        "birthday": c.birthday,
        "language": c.language,
        "preferred_channel": c.preferred_channel,
        "messengers": c.messengers or {},
        "marketing_consent": c.marketing_consent,
        "consent_changed_at": c.consent_changed_at,
        "consent_method": c.consent_method,
        "lifecycle_stage": c.lifecycle_stage,
        "source": c.source,
        "notes": c.notes,
        "owner": _user_ref(c.owner),
        "team": {"id": c.team.pk, "name": c.team.name} if c.team else None,
        "tags": sorted(c.tags.values_list("name", flat=True)),
        "custom": c.custom or {},
        "version": c.version,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _company_out(c: Company) -> dict[str, Any]:
    emails, phones = _points(c)
    return {
        "id": c.pk,
        "name": c.name,
        "legal_name": c.legal_name,
        "country": c.country,
        "code": c.code,
        "vat_number": c.vat_number,
        "industry": c.industry,
        "size": c.size,
        "website": c.website,
        "lifecycle_stage": c.lifecycle_stage,
        "source": c.source,
        "notes": c.notes,
        "emails": emails,
        "phones": phones,
        "address": _address(c),
        "owner": _user_ref(c.owner),
        "team": {"id": c.team.pk, "name": c.team.name} if c.team else None,
        "tags": sorted(c.tags.values_list("name", flat=True)),
        "custom": c.custom or {},
        "version": c.version,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _detail(request: HttpRequest, data: dict[str, Any], *, status: int = 200) -> HttpResponse:
    headers = {"ETag": etag_for(data["version"])}
    if status == 201:
        headers["Location"] = request.build_absolute_uri(f"{data['id']}")
    return json_response(data, status=status, headers=headers)


def _filters(f) -> dict[str, Any]:
    data = f.dict(exclude={"sort", "limit", "cursor"}, exclude_none=True)
    since = data.get("updated_since")
    if since is not None and timezone.is_naive(since):
        data["updated_since"] = timezone.make_aware(since)
    return data


def _page_extras(model, ids: list[int]) -> tuple[dict[int, dict[str, str]], dict[int, list[str]]]:
    """Primary e-mail/phone and tag names for a page of rows, in one query (a UNION) run for the page's
    ids only: each query costs a round trip, and an annotation would be computed before the sort."""
    fk = "contact_id" if model is Contact else "company_id"
    points: dict[int, dict[str, str]] = {i: {} for i in ids}
    tags: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return points, tags
    primary = (
        ContactPoint.objects.filter(**{f"{fk}__in": ids}, is_primary=True)
        .order_by()
        .values_list(fk, "kind", "value")
    )
    tagged = (
        model.tags.through.objects.filter(**{f"{fk}__in": ids})
        .order_by()
        .values_list(fk, Value("tag", output_field=CharField()), "tag__name")
    )
    for owner_id, kind, value in primary.union(tagged, all=True):
        if kind == "tag":
            tags[owner_id].append(value)
        else:
            points[owner_id].setdefault(kind, value)
    return points, tags


def _guarded(getter, request, pk: int, action: str):
    """The record if visible (else 404) and inside the caller's scope for `action` (else 403)."""
    obj = getter(actor=actor(request), pk=pk, action="view")
    if action != "view" and not scopes.record_allowed(actor(request), obj, action):
        raise PermissionDenied(services.denied_message(obj.scope_entity, action, record=True))
    return obj


# ----------------------------------------------------------------------------------------- contacts

CONTACT_LIST_FIELDS = (
    "id",
    "first_name",
    "middle_name",
    "last_name",
    "position",
    "lifecycle_stage",
    "owner_id",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
    "team_id",
    "primary_company_id",
    "primary_company__name",
    "version",
    "created_at",
    "updated_at",
)


@router.get("/contacts/", response={200: ContactPage, **ERRORS}, operation_id="contact_list")
def contact_list_op(request, filters: Query[ContactFilters]):
    """Contacts in your scope, a page at a time (follow `next_cursor`)."""
    qs = contact_list(actor=actor(request), filters=_filters(filters), sort=filters.sort).prefetch_related(
        None
    )
    page = KeysetPage(
        qs, order=CONTACT_SORTS[filters.sort], sort=filters.sort, cursor=filters.cursor, limit=filters.limit
    )
    rows = page.slice(page.queryset.values(*CONTACT_LIST_FIELDS))
    points, tags = _page_extras(Contact, [r["id"] for r in rows])
    items = [
        {
            "id": r["id"],
            "first_name": r["first_name"],
            "middle_name": r["middle_name"],
            "last_name": r["last_name"],
            "full_name": " ".join(p for p in (r["first_name"], r["middle_name"], r["last_name"]) if p),
            "position": r["position"],
            "lifecycle_stage": r["lifecycle_stage"],
            "owner": {
                "id": r["owner_id"],
                "name": _user_name(r["owner__first_name"], r["owner__last_name"], r["owner__username"]),
            }
            if r["owner_id"]
            else None,
            "team_id": r["team_id"],
            "company": {"id": r["primary_company_id"], "name": r["primary_company__name"]}
            if r["primary_company_id"]
            else None,
            "email": points[r["id"]].get("email"),
            "phone": points[r["id"]].get("phone"),
            "tags": sorted(tags[r["id"]]),
            "version": r["version"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }
        for r in rows
    ]
    return json_response({"items": items, "next_cursor": page.next_cursor(rows)})


@router.post("/contacts/", response={201: ContactOut, **ERRORS}, operation_id="contact_create")
def contact_create_op(request, payload: ContactIn, allow_duplicates: bool = False):
    """Create a contact. A likely duplicate is a 409 listing the candidates; `?allow_duplicates=true` saves anyway."""
    contact = services.contact_create(
        actor=actor(request), data=payload.dict(exclude_unset=True), allow_duplicates=allow_duplicates
    )
    return _detail(request, _contact_out(contact), status=201)


@router.get("/contacts/{contact_id}", response={200: ContactOut, **ERRORS}, operation_id="contact_get")
def contact_get_op(request, contact_id: Id):
    """One contact; the `ETag` header carries its version for `If-Match`."""
    return _detail(request, _contact_out(contact_get(actor=actor(request), pk=contact_id)))


@router.patch("/contacts/{contact_id}", response={200: ContactOut, **ERRORS}, operation_id="contact_update")
def contact_update_op(request, contact_id: Id, payload: ContactPatch):
    """Change some fields. Send `If-Match` with the ETag you read (or `version` in the body): 412 if stale."""
    contact = _guarded(contact_get, request, contact_id, "change")
    data = payload.dict(exclude_unset=True)
    version = expected_version(request, data.pop("version", None))
    contact = services.contact_update(
        actor=actor(request), contact=contact, data=data, expected_version=version
    )
    return _detail(request, _contact_out(contact))


@router.delete("/contacts/{contact_id}", response={204: None, **ERRORS}, operation_id="contact_delete")
def contact_delete_op(request, contact_id: Id):
    contact = _guarded(contact_get, request, contact_id, "delete")
    services.contact_delete(actor=actor(request), contact=contact, expected_version=expected_version(request))
    return Status(204, None)


@router.post("/contacts/bulk/tag", response={200: BulkOut, **ERRORS}, operation_id="contacts_bulk_tag")
def contacts_bulk_tag_op(request, payload: BulkTagIn):
    """Add (or with `remove`, take off) tags; ids outside your scope come back in `skipped`."""
    result = services.clients_bulk_tag(
        actor=actor(request), model=Contact, ids=payload.ids, tags=payload.tags, remove=payload.remove
    )
    return {"changed": result.changed, "skipped": result.skipped}


@router.post("/contacts/bulk/owner", response={200: BulkOut, **ERRORS}, operation_id="contacts_bulk_owner")
def contacts_bulk_owner_op(request, payload: BulkOwnerIn):
    result = services.clients_bulk_set_owner(
        actor=actor(request), model=Contact, ids=payload.ids, owner_id=payload.owner_id
    )
    return {"changed": result.changed, "skipped": result.skipped}


@router.get("/contacts/{contact_id}/audit", response={200: AuditPage, **ERRORS}, operation_id="contact_audit")
def contact_audit_op(request, contact_id: Id, limit: Limit = 50, cursor: Cursor = None):
    contact = contact_get(actor=actor(request), pk=contact_id)
    return _audit_page(client_audit_entries(obj=contact), limit, cursor)


def _audit_page(qs, limit: int, cursor: str | None) -> dict[str, Any]:
    return paginate(qs, order=("-created_at", "-id"), sort="-created", cursor=cursor, limit=limit)


# ----------------------------------------------------------------------------------------- companies

COMPANY_LIST_FIELDS = (
    "id",
    "name",
    "code",
    "country",
    "industry",
    "lifecycle_stage",
    "owner_id",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
    "team_id",
    "version",
    "created_at",
    "updated_at",
)


@router.get("/companies/", response={200: CompanyPage, **ERRORS}, operation_id="company_list")
def company_list_op(request, filters: Query[CompanyFilters]):
    """Companies in your scope, a page at a time (follow `next_cursor`)."""
    qs = company_list(actor=actor(request), filters=_filters(filters), sort=filters.sort).prefetch_related(
        None
    )
    page = KeysetPage(
        qs, order=COMPANY_SORTS[filters.sort], sort=filters.sort, cursor=filters.cursor, limit=filters.limit
    )
    rows = page.slice(page.queryset.values(*COMPANY_LIST_FIELDS))
    points, tags = _page_extras(Company, [r["id"] for r in rows])
    items = [
        {
            "id": r["id"],
            "name": r["name"],
            "code": r["code"],
            "country": r["country"],
            "industry": r["industry"],
            "lifecycle_stage": r["lifecycle_stage"],
            "owner": {
                "id": r["owner_id"],
                "name": _user_name(r["owner__first_name"], r["owner__last_name"], r["owner__username"]),
            }
            if r["owner_id"]
            else None,
            "team_id": r["team_id"],
            "email": points[r["id"]].get("email"),
            "phone": points[r["id"]].get("phone"),
            "tags": sorted(tags[r["id"]]),
            "version": r["version"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }
        for r in rows
    ]
    return json_response({"items": items, "next_cursor": page.next_cursor(rows)})


@router.post("/companies/", response={201: CompanyOut, **ERRORS}, operation_id="company_create")
def company_create_op(request, payload: CompanyIn, allow_duplicates: bool = False):
    """Create a company. A likely duplicate (same EDRPOU, e-mail, phone or name) is a 409 with candidates."""
    company = services.company_create(
        actor=actor(request), data=payload.dict(exclude_unset=True), allow_duplicates=allow_duplicates
    )
    return _detail(request, _company_out(company), status=201)


@router.get("/companies/{company_id}", response={200: CompanyOut, **ERRORS}, operation_id="company_get")
def company_get_op(request, company_id: Id):
    return _detail(request, _company_out(company_get(actor=actor(request), pk=company_id)))


@router.patch("/companies/{company_id}", response={200: CompanyOut, **ERRORS}, operation_id="company_update")
def company_update_op(request, company_id: Id, payload: CompanyPatch):
    company = _guarded(company_get, request, company_id, "change")
    data = payload.dict(exclude_unset=True)
    version = expected_version(request, data.pop("version", None))
    company = services.company_update(
        actor=actor(request), company=company, data=data, expected_version=version
    )
    return _detail(request, _company_out(company))


@router.delete("/companies/{company_id}", response={204: None, **ERRORS}, operation_id="company_delete")
def company_delete_op(request, company_id: Id):
    company = _guarded(company_get, request, company_id, "delete")
    services.company_delete(actor=actor(request), company=company, expected_version=expected_version(request))
    return Status(204, None)


@router.post("/companies/bulk/tag", response={200: BulkOut, **ERRORS}, operation_id="companies_bulk_tag")
def companies_bulk_tag_op(request, payload: BulkTagIn):
    result = services.clients_bulk_tag(
        actor=actor(request), model=Company, ids=payload.ids, tags=payload.tags, remove=payload.remove
    )
    return {"changed": result.changed, "skipped": result.skipped}


@router.post("/companies/bulk/owner", response={200: BulkOut, **ERRORS}, operation_id="companies_bulk_owner")
def companies_bulk_owner_op(request, payload: BulkOwnerIn):
    result = services.clients_bulk_set_owner(
        actor=actor(request), model=Company, ids=payload.ids, owner_id=payload.owner_id
    )
    return {"changed": result.changed, "skipped": result.skipped}


@router.get(
    "/companies/{company_id}/audit", response={200: AuditPage, **ERRORS}, operation_id="company_audit"
)
def company_audit_op(request, company_id: Id, limit: Limit = 50, cursor: Cursor = None):
    company = company_get(actor=actor(request), pk=company_id)
    return _audit_page(client_audit_entries(obj=company), limit, cursor)
