"""Shapes of the accounts API: users and teams (read only) and the caller's own API tokens."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Schema
from pydantic import ConfigDict


class TeamOut(Schema):
    id: int
    name: str
    kind: str


class TeamPage(Schema):
    items: list[TeamOut]
    next_cursor: str | None


class UserOut(Schema):
    id: int
    username: str
    first_name: str
    last_name: str
    name: str
    is_active: bool
    team_ids: list[int]

    @staticmethod
    def resolve_name(obj) -> str:
        return str(obj)

    @staticmethod
    def resolve_team_ids(obj) -> list[int]:
        return sorted(m.team_id for m in obj.memberships.all())


class UserPage(Schema):
    items: list[UserOut]
    next_cursor: str | None


class TokenIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=64)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(..., description="The token itself: shown this once, never again.")


class TokenPage(Schema):
    items: list[TokenOut]
    next_cursor: str | None
