"""Input and output shapes of the tasks API. Input schemas check types only; the services validate values and
name each bad field."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import BeforeValidator, ConfigDict

from kramar.core.api_support import Id, Limit, Problem

Text = str | None
TaskSortKey = Literal["due", "-due", "created", "-created", "updated", "-updated"]
KindIn = Literal["call", "meeting", "email", "todo"]
StatusIn = Literal["open", "done", "cancelled"]


def _plain_date(value):
    """A bare YYYY-MM-DD is a date (a whole day), not midnight: pydantic would read it as a datetime."""
    if isinstance(value, str) and len(value.strip()) == 10:
        return dt.date.fromisoformat(value.strip())
    return value


DateOrDateTime = Annotated[dt.datetime | dt.date, BeforeValidator(_plain_date)]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class TaskIn(StrictIn):
    kind: KindIn | None = None
    title: Text = Field(None, max_length=255)
    description: Text = Field(None, max_length=100_000)
    due_at: dt.datetime | None = None
    all_day: bool | None = None
    duration_minutes: int | None = Field(None, ge=0, le=60 * 24 * 31)
    location: Text = Field(None, max_length=255)
    priority: Literal["low", "normal", "high"] | None = None
    owner_id: Id | None = Field(None, description="The assignee (default: you).")
    team_id: Id | None = None
    contact_id: Id | None = None
    company_id: Id | None = None
    deal_id: Id | None = None
    remind_at: dt.datetime | None = None
    remind_by_email: bool | None = None
    recurrence: Literal["", "daily", "weekdays", "weekly", "monthly"] | None = None
    recurrence_until: dt.date | None = None
    attendees: list[str] | None = Field(None, max_length=100, description="Meeting attendees' e-mail addresses.")
    custom: dict[str, Any] | None = Field(
        None, description="Custom field values by key; on PATCH merged over the stored ones (null clears a key)."
    )


class TaskPatch(TaskIn):
    version: Id | None = Field(None, description="The version you read (alternative to If-Match).")


class TaskCompleteIn(StrictIn):
    outcome: str = Field("", max_length=255, description="Required for calls and meetings.")
    note: str = Field("", max_length=100_000)
    version: Id | None = None


class TaskActionIn(StrictIn):
    version: Id | None = None


class TaskFilters(StrictIn):
    owner: str | None = Field(None, max_length=20, pattern=r"^(me|[1-9][0-9]{0,18})$", description='"me" or a user id')
    team_id: Id | None = None
    status: StatusIn | None = None
    kind: KindIn | None = None
    deal_id: Id | None = None
    contact_id: Id | None = None
    company_id: Id | None = None
    due_from: DateOrDateTime | None = None
    due_to: DateOrDateTime | None = Field(None, description="a date includes that whole day")
    overdue: bool | None = None
    q: str | None = Field(None, max_length=200)
    sort: TaskSortKey = "due"
    limit: Limit = 50
    cursor: str | None = Field(None, max_length=2000)


class Ref(Schema):
    id: int
    name: str


class LinkRef(Schema):
    """A linked contact, company or deal. `name` is null when the record is outside your scope (the task may
    still link it: its scope follows the assignee)."""

    id: int
    name: str | None


class TaskOut(Schema):
    id: int
    kind: str
    title: str
    description: str
    status: str
    priority: str
    due_at: dt.datetime | None
    all_day: bool
    duration_minutes: int | None
    location: str
    outcome: str
    completed_at: dt.datetime | None
    owner: Ref | None
    team_id: int | None
    team: Ref | None
    contact: LinkRef | None
    company: LinkRef | None
    deal: LinkRef | None
    interaction_id: int | None
    remind_at: dt.datetime | None
    reminded_at: dt.datetime | None
    remind_by_email: bool
    recurrence: str
    recurrence_until: dt.date | None
    recurrence_parent_id: int | None
    attendees: list[str]
    ical_uid: str
    ical_sequence: int
    custom: dict[str, Any]
    overdue: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskListItem(Schema):
    id: int
    kind: str
    title: str
    status: str
    priority: str
    due_at: dt.datetime | None
    all_day: bool
    owner: Ref | None
    team_id: int | None
    contact: LinkRef | None
    company: LinkRef | None
    deal: LinkRef | None
    overdue: bool
    version: int
    updated_at: dt.datetime


class TaskPage(Schema):
    items: list[TaskListItem]
    next_cursor: str | None


class TaskProblem(Problem):
    """A problem document; a state conflict (409 `task_already_done`, `task_not_open`, `task_already_open`) names
    the task's current status."""

    task_status: str | None = Field(None, description="409: the task's status now (open, done or cancelled)")


class CalendarFeedIn(StrictIn):
    include_team: bool = False


class CalendarFeedOut(Schema):
    id: int
    prefix: str
    include_team: bool
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class CalendarFeedCreated(CalendarFeedOut):
    url: str = Field(..., description="The subscription URL; shown only in this response.")


class CalendarFeedList(Schema):
    items: list[CalendarFeedOut]
    next_cursor: str | None

