"""Input and output shapes of the sales API. Input schemas check types only; the services validate the values
(negative amounts, unknown currencies, stages of another pipeline, stage rules) and name each bad field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from kramar.core.api_support import Id, Limit, Problem

DealSort = Literal["title", "-title", "amount", "-amount", "close", "-close", "updated", "-updated", "stage"]
Text = str | None
Money = Annotated[Decimal, Field(max_digits=30, decimal_places=6)]
Percent = Annotated[Decimal, Field(max_digits=12, decimal_places=6)]
CurrencyCode = Annotated[str, Field(min_length=1, max_length=8)]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------------------- input


class DealLineIn(StrictIn):
    product_id: Id | None = None
    description: Text = Field(None, max_length=255)
    quantity: Money | None = None
    unit_price: Money | None = Field(None, description="Default: the product's price in the deal's currency.")
    discount_percent: Percent | None = None
    vat_rate: Percent | None = Field(None, description="Default: the product's VAT rate.")


class DealWrite(StrictIn):
    title: Text = Field(None, max_length=255)
    company_id: Id | None = None
    contact_ids: list[Id] | None = Field(None, max_length=100, description="The first one is the primary contact.")
    amount: Money | None = Field(None, description="Replaced by the total of the lines when there are lines.")
    currency: CurrencyCode | None = Field(None, description="ISO 4217 code; default: the base currency.")
    expected_close_date: dt.date | None = None
    source: Text = Field(None, max_length=64)
    description: Text = None
    owner_id: Id | None = None
    team_id: Id | None = None
    tags: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=100)
    custom: dict[str, Any] | None = None
    lines: list[DealLineIn] | None = Field(None, max_length=500)


class DealIn(DealWrite):
    pipeline_id: Id | None = Field(None, description="Default: the default pipeline (or the stage's).")
    stage_id: Id | None = Field(None, description="Default: the pipeline's first open stage.")
    lost_reason_id: Id | None = Field(None, description="Required when creating straight into a lost stage.")
    lost_note: Text = Field(None, max_length=10_000)


class DealPatch(DealWrite):
    pipeline_id: Id | None = Field(None, description="Cannot change here: use POST /deals/{id}/move.")
    stage_id: Id | None = Field(None, description="Cannot change here: use POST /deals/{id}/move.")
    version: Id | None = Field(None, description="The version you read (alternative to If-Match).")


class DealMoveIn(StrictIn):
    stage_id: Id
    lost_reason_id: Id | None = Field(None, description="Required when the stage is a lost stage.")
    lost_note: Text = Field(None, max_length=10_000)
    version: Id | None = Field(None, description="The version you read (alternative to If-Match).")


class DealLinesIn(StrictIn):
    lines: list[DealLineIn] = Field(..., max_length=500)
    version: Id | None = Field(None, description="The version you read (alternative to If-Match).")


class ChecklistIn(StrictIn):
    checked: bool


class DealFilters(StrictIn):
    pipeline: Id | None = None
    stage: Id | None = None
    status: Literal["open", "won", "lost"] | None = None
    owner: str | None = Field(None, pattern=r"^(me|[1-9][0-9]{0,17})$", description='A user id or "me".')
    team: Id | None = None
    tag: str | None = Field(None, max_length=64)
    close_from: dt.date | None = None
    close_to: dt.date | None = None
    q: str | None = Field(None, max_length=200, description="Words in the title.")
    rotting: bool | None = Field(None, description="Only open deals longer in their stage than its limit.")
    no_next_step: bool | None = Field(None, description="Only open deals without an open task.")
    sort: DealSort = "-updated"
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


class ProductIn(StrictIn):
    sku: Text = Field(None, max_length=64)
    name: Text = Field(None, max_length=255)
    unit: Text = Field(None, max_length=16)
    vat_rate: Percent | None = None
    description: Text = None
    active: bool | None = None
    prices: dict[Annotated[str, Field(max_length=8)], Money | None] | None = Field(
        None, description='Price list by currency: {"UAH": "1200.00", "USD": "30.00"}.'
    )


class ProductFilters(StrictIn):
    q: str | None = Field(None, max_length=200, description="Words in the name or SKU.")
    active: bool | None = None
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


class ExchangeRateIn(StrictIn):
    date: dt.date
    rate: Money = Field(..., description="Units of the base currency per one unit of this currency.")


class TargetIn(StrictIn):
    user_id: Id
    period_start: dt.date
    period_end: dt.date
    amount: Money
    currency: CurrencyCode


class TargetFilters(StrictIn):
    user_id: Id | None = None
    on: dt.date | None = Field(None, description="Targets whose period contains this day.")
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


# ----------------------------------------------------------------------------------------- output


class Ref(Schema):
    id: int
    name: str


class ClientRef(Schema):
    """The deal's company: `name` is null when that company is outside your scope (a deal's scope follows its
    owner and team, not its client's)."""

    id: int
    name: str | None


class ChecklistItemOut(Schema):
    id: int
    text: str
    required: bool
    position: int


class StageOut(Schema):
    id: int
    pipeline_id: int
    name: str
    position: int
    kind: str
    probability: int
    rotting_days: int | None
    required_fields: list[str]
    required_activities: list[str]
    checklist: list[ChecklistItemOut]


class PipelineOut(Schema):
    id: int
    name: str
    position: int
    is_default: bool
    active: bool
    stages: list[StageOut]


class PipelinePage(Schema):
    items: list[PipelineOut]
    next_cursor: str | None


class StageRef(Schema):
    id: int
    name: str
    kind: str
    probability: int


class DealListItem(Schema):
    id: int
    title: str
    pipeline_id: int
    stage: StageRef
    status: str
    amount: Decimal
    currency: str
    amount_base: Decimal | None = Field(None, description="In the base currency at today's rate; null: no rate.")
    expected_close_date: dt.date | None
    company: ClientRef | None
    owner: Ref | None
    team_id: int | None
    tags: list[str]
    next_task_due: dt.datetime | None
    is_rotting: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class DealPage(Schema):
    items: list[DealListItem]
    next_cursor: str | None


class DealContactOut(Schema):
    id: int
    name: str | None = Field(..., description="null when the contact is outside your scope")
    role: str
    is_primary: bool


class DealLineOut(Schema):
    id: int
    product: Ref | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    vat_rate: Decimal
    net: Decimal
    vat: Decimal
    total: Decimal


class DealChecklistOut(Schema):
    id: int
    stage_id: int
    text: str
    required: bool
    checked: bool


class DealOut(Schema):
    id: int
    title: str
    pipeline_id: int
    pipeline: Ref
    stage: StageRef
    status: str
    amount: Decimal
    currency: str
    amount_base: Decimal | None
    expected_close_date: dt.date | None
    source: str
    description: str
    company: ClientRef | None
    contacts: list[DealContactOut]
    owner: Ref | None
    team_id: int | None
    team: Ref | None
    tags: list[str]
    custom: dict[str, Any]
    lines: list[DealLineOut]
    checklist: list[DealChecklistOut]
    stage_entered_at: dt.datetime
    closed_at: dt.datetime | None
    lost_reason: Ref | None
    lost_note: str
    next_task_due: dt.datetime | None
    is_rotting: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class StageHistoryOut(Schema):
    id: int
    stage: StageRef
    entered_at: dt.datetime
    left_at: dt.datetime | None
    actor: Ref | None


class StageHistoryPage(Schema):
    items: list[StageHistoryOut]
    next_cursor: str | None


class MissingRule(Schema):
    code: str = Field(..., description="required_field, required_activity or checklist")
    field: str
    message: str
    kind: str | None = Field(None, description="required_activity: the task kind")
    item_id: int | None = Field(None, description="checklist: the item to tick")


class SalesProblem(Problem):
    """A problem document; a refused move (code `stage_rules`) lists what is missing."""

    missing: list[MissingRule] | None = Field(None, description="stage_rules: each missing thing")
    stage_id: int | None = None
    pipeline_id: int | None = None


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    unit: str
    vat_rate: Decimal
    description: str
    active: bool
    prices: dict[str, Decimal]
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductPage(Schema):
    items: list[ProductOut]
    next_cursor: str | None


class LostReasonOut(Schema):
    id: int
    name: str
    position: int


class LostReasonPage(Schema):
    items: list[LostReasonOut]
    next_cursor: str | None


class CurrencyOut(Schema):
    code: str
    name: str
    symbol: str
    active: bool
    is_base: bool
    rate: Decimal | None = Field(None, description="Today's rate to the base currency; null: none set.")


class CurrencyPage(Schema):
    items: list[CurrencyOut]
    next_cursor: str | None


class ExchangeRateOut(Schema):
    id: int
    currency: str
    date: dt.date
    rate: Decimal


class ExchangeRatePage(Schema):
    items: list[ExchangeRateOut]
    next_cursor: str | None


class TargetOut(Schema):
    id: int
    user: Ref
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    currency: str


class TargetPage(Schema):
    items: list[TargetOut]
    next_cursor: str | None
