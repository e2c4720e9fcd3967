"""Input and output shapes of the Communication Center API (/api/v1/comms/…). Input schemas check types only; the
operations and services validate values and name each bad field. A channel's `secret` is write-only: no output
schema has it (they say `has_secret`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from kramar.core.api_support import Id, Limit, Problem

ChannelKindName = Literal["email", "dropbox", "phone", "fax", "webform", "chat", "letter"]
StrategyName = Literal["owner", "round_robin", "least_loaded", "skills"]
PriorityName = Literal["low", "normal", "high", "urgent"]
StatusName = Literal["new", "open", "pending", "closed"]
PresenceName = Literal["online", "away", "offline"]
ConversationSort = Literal["-last_message", "last_message", "-opened", "opened", "-priority"]
Skill = Annotated[str, Field(min_length=1, max_length=64)]
Skills = list[Skill]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------------------- shared output parts


class Ref(Schema):
    id: int
    name: str


class LinkRef(Schema):
    """A linked client: `name` is null when that record is outside your scope."""

    id: int
    name: str | None


class CommsProblem(Problem):
    """The problem document of this router; `conversations` / `failures` come with `channel_in_use`."""

    conversations: int | None = Field(None, description="channel_in_use: the channel's conversations")
    failures: int | None = Field(None, description="channel_in_use: the channel's unprocessed items")


# ----------------------------------------------------------------------------------------- channels


class ChannelWrite(StrictIn):
    name: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=255, description="The mailbox's e-mail, the phone number …")
    active: bool | None = None
    settings: dict[str, Any] | None = Field(
        None,
        description='The kind\'s parameters. E-mail: {"host", "port", "security": "ssl"|"starttls"|"none", '
        '"username", "folder", "mark_seen", "batch_size", "poll_seconds"}; passwords go in `secret`, never here.',
    )
    secret: str | None = Field(
        None, max_length=255, description="Write-only: the password or shared webhook secret; \"\" removes it."
    )
    queue_id: Id | None = Field(None, description="The default queue (when no rule matches); null for none.")


class ChannelIn(ChannelWrite):
    kind: ChannelKindName


class ChannelPatch(ChannelWrite):
    kind: ChannelKindName | None = Field(None, description="Cannot change once created.")


class ChannelOut(Schema):
    id: int
    kind: str
    name: str
    address: str
    active: bool
    settings: dict[str, Any]
    has_secret: bool
    queue: Ref | None
    last_polled_at: dt.datetime | None
    last_error: str
    error_count: int
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ChannelPage(Schema):
    items: list[ChannelOut]
    next_cursor: str | None


# ----------------------------------------------------------------------------------------- queues and SLA


class QueueWrite(StrictIn):
    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=255)
    strategy: StrategyName | None = None
    member_ids: list[Id] | None = Field(
        None, max_length=1000, description="The agents of the queue (replaces the list); capacity is the agent's own."
    )
    supervisor_ids: list[Id] | None = Field(None, max_length=1000, description="Replaces the list.")
    accept_minutes: int | None = Field(None, ge=1, le=1440)
    max_waiting: int | None = Field(None, ge=0, le=1_000_000, description="null: no limit (no overflow).")
    overflow_queue_id: Id | None = None
    business_hours_id: Id | None = Field(None, description="null: 24/7.")
    active: bool | None = None
    position: int | None = Field(None, ge=0, le=32767)
    skills: Skills | None = Field(None, max_length=50)


class QueueIn(QueueWrite):
    pass


class QueuePatch(QueueWrite):
    pass


class QueueOut(Schema):
    id: int
    name: str
    description: str
    strategy: str
    members: list[Ref]
    supervisors: list[Ref]
    accept_minutes: int
    max_waiting: int | None
    overflow_queue: Ref | None
    business_hours: Ref | None
    active: bool
    position: int
    skills: list[str]


class QueuePage(Schema):
    items: list[QueueOut]
    next_cursor: str | None


class SlaIn(StrictIn):
    priority: PriorityName
    first_response_minutes: int = Field(..., ge=1, le=525_600)
    resolution_minutes: int | None = Field(None, ge=1, le=525_600)
    warn_before_minutes: int = Field(15, ge=0, le=525_600)


class SlaPatch(StrictIn):
    priority: PriorityName | None = None
    first_response_minutes: int | None = Field(None, ge=1, le=525_600)
    resolution_minutes: int | None = Field(None, ge=1, le=525_600)
    warn_before_minutes: int | None = Field(None, ge=0, le=525_600)


class SlaOut(Schema):
    id: int
    queue_id: int
    priority: str
    first_response_minutes: int
    resolution_minutes: int | None
    warn_before_minutes: int


class SlaPage(Schema):
    items: list[SlaOut]
    next_cursor: str | None


# ----------------------------------------------------------------------------------------- routing rules


class RuleWrite(StrictIn):
    name: str | None = Field(None, max_length=100)
    active: bool | None = None
    conditions: list[Any] | None = Field(
        None,
        max_length=50,
        description='All must hold: [{"field": "sender_domain", "op": "eq", "value": "bank.ua"}]; fields '
        "channel_kind, channel, mailbox, sender_domain, owner, lifecycle_stage, tag, client_class, language, "
        "keyword, business_hours; ops eq, ne, in (a list), contains, matches (a regular expression). Empty: "
        "matches everything.",
    )
    queue_id: Id | None = None
    priority: PriorityName | None = None
    skills: Skills | None = Field(None, max_length=50)


class RuleIn(RuleWrite):
    position: int | None = Field(None, ge=0, le=2_000_000_000, description="Default: after the last rule.")


class RulePatch(RuleWrite):
    position: int | None = Field(None, ge=0, le=2_000_000_000)


class RuleOut(Schema):
    id: int
    position: int
    name: str
    active: bool
    conditions: list[Any]
    queue: Ref
    priority: str
    skills: list[str]
    updated_at: dt.datetime


class RulePage(Schema):
    items: list[RuleOut]
    next_cursor: str | None


class RuleReorderIn(StrictIn):
    ids: list[Id] = Field(..., max_length=10_000, description="Every rule's id, in the new order.")


class RuleList(Schema):
    items: list[RuleOut]


class DryRunIn(StrictIn):
    rules: list[RuleIn] = Field(..., max_length=500, description="The proposed rule set, in order (unsaved).")
    days: int = Field(30, ge=1, le=366)


class DryRunMove(Schema):
    from_queue: Ref | None
    to_queue: Ref | None
    count: int


class DryRunOut(Schema):
    days: int
    total: int
    changed: int
    moves: list[DryRunMove]


# ----------------------------------------------------------------------------------------- conversations


class ConversationFilters(StrictIn):
    status: StatusName | None = None
    queue: Id | None = None
    owner: str | None = Field(None, pattern=r"^(me|[1-9][0-9]{0,17})$", description='"me" or a user id')
    channel_kind: ChannelKindName | None = None
    channel: Id | None = None
    contact: Id | None = None
    company: Id | None = None
    priority: PriorityName | None = None
    breached: bool | None = Field(None, description="true: the SLA was breached; false: not (yet).")
    opened_after: dt.datetime | None = None
    opened_before: dt.datetime | None = None
    q: str | None = Field(None, max_length=200, description="Text in the subject.")
    sort: ConversationSort = "-last_message"
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


class ConversationListItem(Schema):
    id: int
    subject: str
    status: str
    priority: str
    kind: str
    channel: Ref
    queue: Ref | None
    owner: Ref | None
    team_id: int | None
    contact: LinkRef | None
    company: LinkRef | None
    opened_at: dt.datetime
    last_message_at: dt.datetime
    first_response_due: dt.datetime | None
    resolution_due: dt.datetime | None
    sla_breached_at: dt.datetime | None
    breached: bool
    version: int


class ConversationPage(Schema):
    items: list[ConversationListItem]
    next_cursor: str | None


class OfferOut(Schema):
    id: int
    user: Ref | None
    expires_at: dt.datetime | None


class ConversationOut(ConversationListItem):
    language: str
    rule_id: int | None
    last_inbound_at: dt.datetime | None
    first_response_at: dt.datetime | None
    closed_at: dt.datetime | None
    offer: OfferOut | None = Field(description="The open offer (who may accept it, until when), or null.")
    created_at: dt.datetime
    updated_at: dt.datetime


class MessageOut(Schema):
    id: int
    direction: str
    from_address: str
    from_name: str
    to: list[Any]
    cc: list[Any]
    subject: str
    body: str
    body_html: str
    sent_at: dt.datetime
    received_at: dt.datetime
    author: Ref | None
    is_auto_reply: bool
    is_bounce: bool
    has_raw: bool
    flags: dict[str, Any]


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None


class AssignmentOut(Schema):
    id: int
    conversation_id: int
    status: str
    queue: Ref | None
    user: Ref | None
    decided_by: Ref | None
    reason: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    accepted_at: dt.datetime | None


class AssignmentPage(Schema):
    items: list[AssignmentOut]
    next_cursor: str | None


class TransferIn(StrictIn):
    user_id: Id | None = Field(None, description="An agent: offered to them whatever their load.")
    queue_id: Id | None = Field(None, description="A queue: its strategy picks the agent.")


class ReplyIn(StrictIn):
    body: str = Field(..., max_length=1_000_000)
    cc: list[Annotated[str, Field(max_length=320)]] | None = Field(None, max_length=50)


class NoteIn(StrictIn):
    body: str = Field(..., max_length=1_000_000)


# ----------------------------------------------------------------------------------------- agents


class PresenceIn(StrictIn):
    presence: PresenceName


class PresenceOut(Schema):
    user: Ref
    presence: str
    presence_changed_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    capacity: int
    skills: list[str]
    load: int


class AgentOut(PresenceOut):
    queue_ids: list[int]


class AgentPage(Schema):
    items: list[AgentOut]
    next_cursor: str | None


# ----------------------------------------------------------------------------------------- unprocessed items


class FailureFilters(StrictIn):
    resolved: bool | None = None
    channel: Id | None = None
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


class FailureOut(Schema):
    id: int
    channel: Ref
    channel_kind: str
    source_ref: str
    reason: str
    created_at: dt.datetime
    resolved: bool
    resolved_at: dt.datetime | None
    has_raw: bool
    message_id: int | None


class FailurePage(Schema):
    items: list[FailureOut]
    next_cursor: str | None
