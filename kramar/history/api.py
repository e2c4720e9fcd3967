"""REST operations on the timeline: interactions and their attachments."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile

from kramar.clients.models import Company, Contact
from kramar.core import scopes
from kramar.core.api_support import (
    ERRORS,
    Id,
    KeysetPage,
    actor,
    etag_for,
    expected_version,
    json_response,
)
from kramar.history import services
from kramar.history.models import Attachment, Interaction
from kramar.history.schemas import (
    AttachmentOut,
    InteractionFilters,
    InteractionIn,
    InteractionOut,
    InteractionPage,
    InteractionPatch,
)
from kramar.history.selectors import interaction_get, interaction_list

router = Router(tags=["interactions"])
ORDER = ("-occurred_at", "-id")


def _attachment_out(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "created_at": a.created_at,
        "url": reverse(
            "api-1:attachment_download", kwargs={"interaction_id": a.interaction_id, "attachment_id": a.pk}
        ),
    }


def _ref(obj) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": str(obj)} if obj is not None else None


def _clients_visible(reader, items: list[Interaction]) -> dict[str, set[int]]:
    """Which of the items' contacts and companies the reader may see (one query per kind): an interaction you
    logged is yours to see even when its client is outside your scope (a task's call you completed), but the
    client's name is then not shown."""
    return {
        "contact": scopes.visible_ids(reader, Contact, [i.contact_id for i in items]),
        "company": scopes.visible_ids(reader, Company, [i.company_id for i in items]),
    }


def _client_ref(obj, visible: set[int]) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": str(obj) if obj.pk in visible else None} if obj is not None else None


def _out(i: Interaction, visible: dict[str, set[int]]) -> dict[str, Any]:
    return {
        "id": i.pk,
        "channel": i.channel,
        "direction": i.direction,
        "occurred_at": i.occurred_at,
        "duration_seconds": i.duration_seconds,
        "subject": i.subject,
        "body": i.body,
        "body_html": i.body_html,
        "outcome": i.outcome,
        "user": _ref(i.user),
        "contact": _client_ref(i.contact, visible["contact"]),
        "company": _client_ref(i.company, visible["company"]),
        "external_id": i.external_id,
        "attachments": [_attachment_out(a) for a in i.attachments.all()],
        "custom": i.custom or {},
        "version": i.version,
        "created_at": i.created_at,
        "updated_at": i.updated_at,
    }


def _detail(request: HttpRequest, i: Interaction, status: int = 200):
    body = _out(i, _clients_visible(actor(request), [i]))
    return json_response(body, status=status, headers={"ETag": etag_for(i.version)})


# Whole sentences per action, so that every language words each refusal in full.
DENIED = {
    "change": gettext_lazy("You may not change this interaction."),
    "delete": gettext_lazy("You may not delete this interaction."),
}


def _guarded(request: HttpRequest, pk: int, action: str) -> Interaction:
    interaction = interaction_get(actor=actor(request), pk=pk, action="view")
    if action != "view" and not scopes.record_allowed(actor(request), interaction, action):
        raise PermissionDenied(str(DENIED.get(action) or _("You may not do this.")))
    return interaction


def _aware(value):
    return timezone.make_aware(value) if value is not None and timezone.is_naive(value) else value


@router.get("/interactions/", response={200: InteractionPage, **ERRORS}, operation_id="interaction_list")
def interaction_list_op(request, filters: Query[InteractionFilters]):
    """Interactions in your scope, newest first, a page at a time (follow `next_cursor`)."""
    data = filters.dict(exclude={"limit", "cursor"}, exclude_none=True)
    for key in ("since", "until"):
        if key in data:
            data[key] = _aware(data[key])
    page = KeysetPage(
        interaction_list(actor=actor(request), filters=data),
        order=ORDER,
        sort="-occurred",
        cursor=filters.cursor,
        limit=filters.limit,
    )
    rows = page.slice()
    visible = _clients_visible(actor(request), rows)
    return json_response({"items": [_out(i, visible) for i in rows], "next_cursor": page.next_cursor(rows)})


@router.post(
    "/interactions/", response={200: InteractionOut, 201: InteractionOut, **ERRORS}, operation_id="interaction_create"
)
def interaction_create_op(request, payload: InteractionIn):
    """Log an interaction: 201 when created. With an `external_id` already stored for the channel, that one is
    returned with 200 and nothing is created (409 when it lies outside your scope)."""
    interaction, created = services.interaction_create_or_get(
        actor=actor(request), data=payload.dict(exclude_unset=True)
    )
    return _detail(request, interaction, status=201 if created else 200)


@router.get(
    "/interactions/{interaction_id}", response={200: InteractionOut, **ERRORS}, operation_id="interaction_get"
)
def interaction_get_op(request, interaction_id: Id):
    return _detail(request, interaction_get(actor=actor(request), pk=interaction_id))


@router.patch(
    "/interactions/{interaction_id}",
    response={200: InteractionOut, **ERRORS},
    operation_id="interaction_update",
)
def interaction_update_op(request, interaction_id: Id, payload: InteractionPatch):
    interaction = _guarded(request, interaction_id, "change")
    data = payload.dict(exclude_unset=True)
    version = expected_version(request, data.pop("version", None))
    interaction = services.interaction_update(
        actor=actor(request), interaction=interaction, data=data, expected_version=version
    )
    return _detail(request, interaction)


@router.delete(
    "/interactions/{interaction_id}", response={204: None, **ERRORS}, operation_id="interaction_delete"
)
def interaction_delete_op(request, interaction_id: Id):
    interaction = _guarded(request, interaction_id, "delete")
    services.interaction_delete(
        actor=actor(request), interaction=interaction, expected_version=expected_version(request)
    )
    return Status(204, None)


@router.post(
    "/interactions/{interaction_id}/attachments",
    response={201: AttachmentOut, **ERRORS},
    operation_id="attachment_upload",
)
def attachment_upload_op(request, interaction_id: Id, file: File[UploadedFile]):
    """Attach a file (multipart form, field `file`)."""
    interaction = interaction_get(actor=actor(request), pk=interaction_id)
    attachment = services.attachment_add(actor=actor(request), interaction=interaction, upload=file)
    return Status(201, _attachment_out(attachment))


@router.get(
    "/interactions/{interaction_id}/attachments/{attachment_id}",
    response={200: None, **ERRORS},
    operation_id="attachment_download",
    url_name="attachment_download",
)
def attachment_download_op(request, interaction_id: Id, attachment_id: Id):
    """Download an attachment: only through its interaction, so the caller's scope decides."""
    interaction = interaction_get(actor=actor(request), pk=interaction_id)
    attachment = interaction.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404("No such attachment")
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename)
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    return response
