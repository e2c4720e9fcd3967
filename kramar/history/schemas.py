"""Shapes of the interaction (timeline) API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from kramar.core.api_support import Id, Limit

ChannelIn = Literal["call", "email", "fax", "letter", "meeting", "chat", "web_form", "note", "sms"]
DirectionIn = Literal["in", "out", "internal"]


class InteractionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelIn
    direction: DirectionIn | None = None
    occurred_at: dt.datetime | None = None
    duration_seconds: int | None = Field(None, ge=0, le=10**9)
    subject: str | None = None
    body: str | None = None
    body_html: str | None = Field(
        None, description="Sanitized (scripts, handlers removed) before it is stored."
    )
    outcome: str | None = None
    contact_id: Id | None = None
    company_id: Id | None = None
    external_id: str | None = Field(None, max_length=255)
    custom: dict[str, Any] | None = None


class InteractionPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelIn | None = None
    direction: DirectionIn | None = None
    occurred_at: dt.datetime | None = None
    duration_seconds: int | None = Field(None, ge=0, le=10**9)
    subject: str | None = None
    body: str | None = None
    body_html: str | None = None
    outcome: str | None = None
    contact_id: Id | None = None
    company_id: Id | None = None
    custom: dict[str, Any] | None = None
    version: Id | None = Field(None, description="The version you read (alternative to If-Match).")


class InteractionFilters(Schema):
    model_config = ConfigDict(extra="forbid")

    contact_id: Id | None = None
    company_id: Id | None = None
    channel: ChannelIn | None = None
    direction: DirectionIn | None = None
    user_id: Id | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


class Ref(Schema):
    id: int
    name: str


class ClientRef(Schema):
    """The interaction's contact or company: `name` is null when that client is outside your scope (you may still
    see an interaction you logged yourself)."""

    id: int
    name: str | None


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    created_at: dt.datetime
    url: str


class InteractionOut(Schema):
    id: int
    channel: str
    direction: str
    occurred_at: dt.datetime
    duration_seconds: int | None
    subject: str
    body: str
    body_html: str
    outcome: str
    user: Ref | None
    contact: ClientRef | None
    company: ClientRef | None
    external_id: str | None
    attachments: list[AttachmentOut]
    custom: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class InteractionPage(Schema):
    items: list[InteractionOut]
    next_cursor: str | None
