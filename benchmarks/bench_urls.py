"""Kramar's URLs plus one bare Django JSON view, for benchmarks/api_list.py only.

`bare_contacts` is the floor the contacts list API is measured against: the same token lookup, the same
record scope (`visible_to`), the same rows in the same order and the same JSON fields as
GET /api/v1/contacts (kramar.clients.schemas.ContactListItem, in a {"items", "next_cursor"} page), built
with `.values()` and dict literals: no schema, no model instances.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from kramar.accounts.services import api_token_authenticate
from kramar.clients.models import Contact, ContactPoint
from kramar.config.urls import urlpatterns as kramar_urlpatterns
from kramar.core.api_support import cursor_encode

ORDER = ("last_name", "first_name", "id")  # the API's default sort "name"
FIELDS = (
    "id",
    "first_name",
    "middle_name",
    "last_name",
    "position",
    "lifecycle_stage",
    "team_id",
    "version",
    "created_at",
    "updated_at",
    "owner_id",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
    "primary_company_id",
    "primary_company__name",
)
JSON_PARAMS = {"ensure_ascii": False, "separators": (",", ":")}


def bare_contacts(request: HttpRequest) -> JsonResponse:
    auth = request.headers.get("Authorization", "")
    user = api_token_authenticate(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
    if user is None:
        return JsonResponse({"detail": "Unauthorized"}, status=401)
    try:
        limit = max(1, min(200, int(request.GET.get("limit", 50))))
    except ValueError:
        limit = 50
    rows = list(Contact.objects.visible_to(user, "view").order_by(*ORDER).values(*FIELDS)[: limit + 1])
    has_next = len(rows) > limit
    rows = rows[:limit]
    ids = [r["id"] for r in rows]
    emails: dict[int, str] = {}
    phones: dict[int, str] = {}
    for contact_id, kind, value in (
        ContactPoint.objects.filter(contact_id__in=ids, is_primary=True)
        .order_by("id")
        .values_list("contact_id", "kind", "value")
    ):
        (emails if kind == "email" else phones).setdefault(contact_id, value)
    tags: dict[int, list[str]] = {}
    for contact_id, name in (
        Contact.tags.through.objects.filter(contact_id__in=ids)
        .order_by("tag__name")
        .values_list("contact_id", "tag__name")
    ):
        tags.setdefault(contact_id, []).append(name)
    items = [
        {
            "id": r["id"],
            "first_name": r["first_name"],
            "middle_name": r["middle_name"],
            "last_name": r["last_name"],
            "full_name": " ".join(p for p in (r["first_name"], r["middle_name"], r["last_name"]) if p),
            "position": r["position"],
            "lifecycle_stage": r["lifecycle_stage"],
            "owner": None
            if r["owner_id"] is None
            else {
                "id": r["owner_id"],
                "name": f"{r['owner__first_name']} {r['owner__last_name']}".strip() or r["owner__username"],
            },
            "team_id": r["team_id"],
            "company": None
            if r["primary_company_id"] is None
            else {
                "id": r["primary_company_id"],
                "name": r["primary_company__name"],
            },
            "email": emails.get(r["id"]),
            "phone": phones.get(r["id"]),
            "tags": tags.get(r["id"], []),
            "version": r["version"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }
        for r in rows
    ]
    next_cursor = cursor_encode("name", [rows[-1][f] for f in ORDER]) if has_next and rows else None
    return JsonResponse({"items": items, "next_cursor": next_cursor}, json_dumps_params=JSON_PARAMS)


def ping(request: HttpRequest) -> JsonResponse:
    """No database, no auth: what the server and Django's middleware cost by themselves."""
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/bare/contacts", bare_contacts, name="bench-bare-contacts"),
    path("bench/ping", ping, name="bench-ping"),
    *kramar_urlpatterns,
]
