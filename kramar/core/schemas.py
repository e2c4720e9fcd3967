"""Shapes of the core API: tags, custom field definitions, audit entries."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict


class UserRef(Schema):
    id: int
    name: str


class AuditOut(Schema):
    id: int
    created_at: dt.datetime
    action: str
    source: str
    actor: UserRef | None = None
    entity: str
    object_id: int
    object_repr: str
    changes: dict[str, Any]

    @staticmethod
    def resolve_actor(obj) -> dict[str, Any] | None:
        return {"id": obj.actor.pk, "name": str(obj.actor)} if obj.actor_id else None


class AuditPage(Schema):
    items: list[AuditOut]
    next_cursor: str | None


class TagIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=200)
    color: str | None = Field(None, max_length=32)


class TagOut(Schema):
    id: int
    name: str
    color: str


class TagPage(Schema):
    items: list[TagOut]
    next_cursor: str | None


Entity = Literal["company", "contact", "interaction"]
FieldType = Literal["text", "number", "date", "choice", "multi_choice", "boolean"]


class CustomFieldIn(Schema):
    model_config = ConfigDict(extra="forbid")

    entity: Entity
    key: str = Field(..., max_length=64)
    label: str = Field(..., max_length=200)
    field_type: FieldType = "text"
    choices: list[str] = Field(default_factory=list, max_length=500)
    required: bool = False
    position: int = Field(0, ge=0, le=32767)


class CustomFieldPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=200)
    choices: list[str] | None = Field(None, max_length=500)
    required: bool | None = None
    position: int | None = Field(None, ge=0, le=32767)


class CustomFieldOut(Schema):
    id: int
    entity: str
    key: str
    label: str
    field_type: str
    choices: list[str]
    required: bool
    position: int


class CustomFieldPage(Schema):
    items: list[CustomFieldOut]
    next_cursor: str | None
