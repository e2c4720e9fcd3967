"""Input and output shapes of the client API. Input schemas check types only; the services validate the
values (EDRPOU, e-mail, phone, custom fields) and name each bad field."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from kramar.core.api_support import Id, Limit

SortKey = Literal["name", "-name", "created", "-created", "updated", "-updated"]
Text = str | None


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class PointIn(StrictIn):
    value: str = Field(..., max_length=255)
    label: str | None = None
    is_primary: bool = False


class AddressIn(StrictIn):
    line: Text = None
    city: Text = None
    region: Text = None
    postal_code: Text = None
    country: Text = None


class ClientWriteBase(StrictIn):
    lifecycle_stage: Text = None
    source: Text = None
    notes: Text = None
    emails: list[PointIn] | None = Field(None, max_length=50)
    phones: list[PointIn] | None = Field(None, max_length=50)
    tags: list[str] | None = Field(None, max_length=100)
    custom: dict[str, Any] | None = None
    owner_id: Id | None = None
    team_id: Id | None = None
    address: AddressIn | None = None


class ContactIn(ClientWriteBase):
    first_name: Text = None
    middle_name: Text = None
    last_name: Text = None
    position: Text = None
    language: Text = None
    birthday: dt.date | None = None
    preferred_channel: Text = None
    messengers: dict[str, str] | None = None
    marketing_consent: Text = None
    consent_method: Text = None
    company_ids: list[Id] | None = Field(None, max_length=50)


class ContactPatch(ContactIn):
    version: Id | None = Field(None, description="The version you read (alternative to If-Match).")


class CompanyIn(ClientWriteBase):
    name: Text = None
    legal_name: Text = None
    country: Text = None
    code: Text = Field(None, description="EDRPOU (8 digits) or RNTRC (10 digits) for Ukraine.")
    vat_number: Text = None
    industry: Text = None
    size: Text = None
    website: Text = None


class CompanyPatch(CompanyIn):
    version: Id | None = Field(None, description="The version you read (alternative to If-Match).")


class ClientFilters(StrictIn):
    owner_id: Id | None = None
    team_id: Id | None = None
    lifecycle_stage: Literal["lead", "prospect", "customer", "former", "partner"] | None = None
    tag: str | None = Field(None, max_length=64)
    q: str | None = Field(None, max_length=200, description="Search in names, e-mails, phones, codes.")
    updated_since: dt.datetime | None = None
    sort: SortKey = "name"
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


class ContactFilters(ClientFilters):
    company_id: Id | None = None


class CompanyFilters(ClientFilters):
    pass


class BulkTagIn(StrictIn):
    ids: list[Id] = Field(..., min_length=1, max_length=1000)
    tags: list[str] = Field(..., min_length=1, max_length=50)
    remove: bool = False


class BulkOwnerIn(StrictIn):
    ids: list[Id] = Field(..., min_length=1, max_length=1000)
    owner_id: Id


class BulkOut(Schema):
    changed: list[int]
    skipped: list[int]


# ----------------------------------------------------------------------------------------- output


class UserRef(Schema):
    id: int
    name: str


class Ref(Schema):
    id: int
    name: str


class PointOut(Schema):
    value: str
    normalized: str
    label: str
    extension: str
    is_primary: bool


class AddressOut(Schema):
    kind: str
    line: str
    city: str
    region: str
    postal_code: str
    country: str


class CompanyLinkOut(Schema):
    id: int
    name: str
    position: str
    is_primary: bool


class ContactListItem(Schema):
    id: int
    first_name: str
    middle_name: str
    last_name: str
    full_name: str
    position: str
    lifecycle_stage: str
    owner: UserRef | None
    team_id: int | None
    company: Ref | None
    email: str | None
    phone: str | None
    tags: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactPage(Schema):
    items: list[ContactListItem]
    next_cursor: str | None


class ContactOut(Schema):
    id: int
    first_name: str
    middle_name: str
    last_name: str
    full_name: str
    position: str
    primary_company: Ref | None
    companies: list[CompanyLinkOut]
    emails: list[PointOut]
    phones: list[PointOut]
    address: AddressOut | None
    birthday: dt.date | None
    language: str
    preferred_channel: str
    messengers: dict[str, str]
    marketing_consent: str
    consent_changed_at: dt.datetime | None
    consent_method: str
    lifecycle_stage: str
    source: str
    notes: str
    owner: UserRef | None
    team: Ref | None
    tags: list[str]
    custom: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CompanyListItem(Schema):
    id: int
    name: str
    code: str
    country: str
    industry: str
    lifecycle_stage: str
    owner: UserRef | None
    team_id: int | None
    email: str | None
    phone: str | None
    tags: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CompanyPage(Schema):
    items: list[CompanyListItem]
    next_cursor: str | None


class CompanyOut(Schema):
    id: int
    name: str
    legal_name: str
    country: str
    code: str
    vat_number: str
    industry: str
    size: str
    website: str
    lifecycle_stage: str
    source: str
    notes: str
    emails: list[PointOut]
    phones: list[PointOut]
    address: AddressOut | None
    owner: UserRef | None
    team: Ref | None
    tags: list[str]
    custom: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
