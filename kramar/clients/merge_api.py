"""REST operations for merging duplicates and the merge journal. Rules live in kramar.clients.merge;
a record outside the caller's "change" scope is a 404, refusals are problem documents (409)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from pydantic import ConfigDict

from kramar.clients import merge
from kramar.clients.api import _company_out, _contact_out
from kramar.clients.schemas import CompanyOut, ContactOut
from kramar.core.api_support import ERRORS, Cursor, Id, Limit, actor, json_response, paginate

router = Router(tags=["merge"])

Choice = Literal["survivor", "loser"]


class MergeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    other_id: Id = Field(..., description="The duplicate that is merged away into the record in the path.")
    choices: dict[str, Choice] = Field(
        default_factory=dict,
        description='Which value wins per field, e.g. {"first_name": "loser", "custom.segment": "survivor"}. '
        "A field not named keeps the survivor's value unless that is empty.",
    )


class UserRef(Schema):
    id: int
    name: str


class MergeOut(Schema):
    id: int
    entity: str
    survivor_id: int
    loser_id: int
    actor: UserRef | None = None
    created_at: dt.datetime
    undone_at: dt.datetime | None = None
    undone_by: UserRef | None = None
    fields: list[str] = Field(..., description="Fields whose value was taken from the merged-away record.")
    moved: dict[str, int] = Field(..., description='Rows moved to the survivor, per "app.model.field".')
    removed: dict[str, int] = Field(..., description="Duplicate rows dropped (restored by undo), per model.")

    @staticmethod
    def resolve_actor(obj) -> dict[str, Any] | None:
        return {"id": obj.actor.pk, "name": str(obj.actor)} if obj.actor_id else None

    @staticmethod
    def resolve_undone_by(obj) -> dict[str, Any] | None:
        return {"id": obj.undone_by.pk, "name": str(obj.undone_by)} if obj.undone_by_id else None

    @staticmethod
    def resolve_fields(obj) -> list[str]:
        return list(obj.survivor_before.get("fields", {}))

    @staticmethod
    def resolve_moved(obj) -> dict[str, int]:
        return {k: len(v) for k, v in obj.moved.items()}

    @staticmethod
    def resolve_removed(obj) -> dict[str, int]:
        return {k: len(v) for k, v in obj.removed.items()}


class MergePage(Schema):
    items: list[MergeOut]
    next_cursor: str | None


def _merged(request: HttpRequest, entity: str, pk: int, payload: MergeIn) -> HttpResponse:
    who = actor(request)
    survivor = merge.merge_for_changeable(actor=who, entity=entity, pk=pk)
    loser = merge.merge_for_changeable(actor=who, entity=entity, pk=payload.other_id)
    merger = merge.contacts_merge if entity == "contact" else merge.companies_merge
    result = merger(actor=who, survivor=survivor, loser=loser, choices=payload.choices)
    out = _contact_out if entity == "contact" else _company_out
    data = out(type(result.survivor).objects.get(pk=result.survivor.pk))
    return json_response(
        data,
        headers={
            "ETag": f'"{data["version"]}"',
            "X-Merge-Id": str(result.record.pk),
            "Link": f'</api/v1/merges/{result.record.pk}>; rel="related"',
        },
    )


@router.post(
    "/contacts/{contact_id}/merge", response={200: ContactOut, **ERRORS}, operation_id="contact_merge"
)
def contact_merge_op(request, contact_id: Id, payload: MergeIn):
    """Merge contact `other_id` into this one; returns the survivor. The journal entry's id is in the
    `X-Merge-Id` header (undo it with POST /merges/{id}/undo). You need "change" on both contacts."""
    return _merged(request, "contact", contact_id, payload)


@router.post(
    "/companies/{company_id}/merge", response={200: CompanyOut, **ERRORS}, operation_id="company_merge"
)
def company_merge_op(request, company_id: Id, payload: MergeIn):
    """Merge company `other_id` into this one (its people, links and history follow); returns the survivor."""
    return _merged(request, "company", company_id, payload)


@router.get("/merges/", response={200: MergePage, **ERRORS}, operation_id="merge_list")
def merge_list_op(
    request, entity: Literal["contact", "company"] | None = None, limit: Limit = 50, cursor: Cursor = None
):
    """Merges you can see (either record in your scope), newest first."""
    qs = merge.merge_list(actor=actor(request), entity=entity)
    return paginate(qs, order=("-created_at", "-id"), sort="-created", cursor=cursor, limit=limit)


@router.get("/merges/{merge_id}", response={200: MergeOut, **ERRORS}, operation_id="merge_get")
def merge_get_op(request, merge_id: Id):
    return merge.merge_get(actor=actor(request), pk=merge_id)


@router.post("/merges/{merge_id}/undo", response={200: MergeOut, **ERRORS}, operation_id="merge_undo")
def merge_undo_op(request, merge_id: Id):
    """Undo a merge: 409 if it was already undone or the survivor was merged again since."""
    record = merge.merge_get(actor=actor(request), pk=merge_id)
    merge.merge_undo(actor=actor(request), record=record)
    return merge.merge_get(actor=actor(request), pk=merge_id)
