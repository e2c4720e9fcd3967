"""Tags, custom field definitions and the audit log over the API."""

from __future__ import annotations

from typing import Literal

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from ninja import Router, Status

from kramar.core.api_support import ERRORS, Cursor, Id, Limit, actor, paginate
from kramar.core.models import AuditEntry
from kramar.core.schemas import (
    AuditPage,
    CustomFieldIn,
    CustomFieldOut,
    CustomFieldPage,
    CustomFieldPatch,
    TagIn,
    TagOut,
    TagPage,
)
from kramar.core.selectors import custom_field_definition_get, custom_field_definition_list, tag_list
from kramar.core.services import custom_field_definition_create, custom_field_definition_update, tag_create

router = Router(tags=["core"])


@router.get("/tags/", response={200: TagPage, **ERRORS}, operation_id="tag_list")
def tag_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    return paginate(tag_list(), order=("name", "id"), sort="name", cursor=cursor, limit=limit)


@router.post("/tags/", response={201: TagOut, **ERRORS}, operation_id="tag_create")
def tag_create_op(request, payload: TagIn):
    """Create a tag; an existing name is a 409 (code tag_exists)."""
    return Status(201, tag_create(actor=actor(request), name=payload.name, color=payload.color))


@router.get("/custom-fields/", response={200: CustomFieldPage, **ERRORS}, operation_id="custom_field_list")
def custom_field_list_op(
    request,
    entity: Literal["company", "contact", "interaction"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """The custom fields defined for contacts, companies and interactions (everyone may read them)."""
    qs = custom_field_definition_list(entity=entity)
    return paginate(qs, order=("entity", "position", "key", "id"), sort="entity", cursor=cursor, limit=limit)


@router.post("/custom-fields/", response={201: CustomFieldOut, **ERRORS}, operation_id="custom_field_create")
def custom_field_create_op(request, payload: CustomFieldIn):
    """Define a custom field. Only superusers and users who may change *all* records of the entity."""
    return Status(201, custom_field_definition_create(actor=actor(request), data=payload.dict()))


@router.patch(
    "/custom-fields/{field_id}", response={200: CustomFieldOut, **ERRORS}, operation_id="custom_field_update"
)
def custom_field_update_op(request, field_id: Id, payload: CustomFieldPatch):
    """Change label, choices, required or position (entity, key and type are fixed)."""
    definition = custom_field_definition_get(pk=field_id)
    return custom_field_definition_update(
        actor=actor(request), definition=definition, data=payload.dict(exclude_unset=True)
    )


@router.get("/audit/", response={200: AuditPage, **ERRORS}, operation_id="audit_list")
def audit_list_op(
    request, entity: str | None = None, object_id: Id | None = None, limit: Limit = 50, cursor: Cursor = None
):
    """The whole audit log, newest first: superusers only (others read a record's own /audit)."""
    if not actor(request).is_superuser:
        raise PermissionDenied(_("Only administrators may read the whole audit log."))
    qs = AuditEntry.objects.select_related("actor")
    if entity:
        qs = qs.filter(entity=entity[:32])
    if object_id:
        qs = qs.filter(object_id=object_id)
    return paginate(qs, order=("-created_at", "-id"), sort="-created", cursor=cursor, limit=limit)
