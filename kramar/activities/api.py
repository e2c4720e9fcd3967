"""REST operations on tasks and calendar feeds. Each one authenticates (the API's auth), parses, calls one selector
or service and renders; scopes, validation, versions and audit live in the services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kramar.activities import services
from kramar.activities.models import CalendarFeed, Task
from kramar.activities.schemas import (
    CalendarFeedCreated,
    CalendarFeedIn,
    CalendarFeedList,
    TaskActionIn,
    TaskCompleteIn,
    TaskFilters,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
    TaskProblem,
)
from kramar.activities.selectors import task_audit_entries, task_get, task_links_visible, task_list
from kramar.core import scopes
from kramar.core.api_support import (
    Cursor,
    Id,
    Limit,
    Problem,
    actor,
    cursor_decode,
    cursor_encode,
    etag_for,
    expected_version,
    json_response,
    keyset_filter,
    paginate,
)
from kramar.core.schemas import AuditPage

router = Router(tags=["activities"])


def _errors(*statuses: int) -> dict[int, type[Problem]]:
    """The problem responses an operation can give, and only those (the OpenAPI document lists them). 400: a
    malformed body or query, or a bad cursor; 401: no valid credentials; 403: outside your scope for the action,
    a missing grant or (session) the CSRF check; 404: not in your scope; 409: the task's state forbids the action;
    412: a stale version; 422: bad values."""
    return dict.fromkeys(statuses, Problem)


LIST_ERRORS = _errors(400, 401, 422)
CREATE_ERRORS = _errors(400, 401, 403, 422)
READ_ERRORS = _errors(401, 404, 422)
UPDATE_ERRORS = _errors(400, 401, 403, 404, 412, 422)
DELETE_ERRORS = _errors(401, 403, 404, 412, 422)
ACTION_ERRORS = {**_errors(400, 401, 403, 404, 412, 422), 409: TaskProblem}  # complete, cancel, reopen

# Sort key → (order, kinds of the cursor values). `due_sort` puts undated tasks last on every database.
API_SORTS: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "due": (("due_sort", "id"), ["datetime", "int"]),
    "-due": (("-due_sort", "-id"), ["datetime", "int"]),
    "created": (("created_at", "id"), ["datetime", "int"]),
    "-created": (("-created_at", "-id"), ["datetime", "int"]),
    "updated": (("updated_at", "id"), ["datetime", "int"]),
    "-updated": (("-updated_at", "-id"), ["datetime", "int"]),
}


# ----------------------------------------------------------------------------------------- rendering


def _ref(obj, name: str | None = None) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": name if name is not None else str(obj)} if obj is not None else None


def _link(t: Task, key: str) -> dict[str, Any] | None:
    """The linked contact, company or deal as {"id", "name"}; the name is null unless the reader may see that
    record (`task_links_visible` marked it): a task you see may link another team's client."""
    pk = getattr(t, f"{key}_id")
    if pk is None:
        return None
    if not getattr(t, f"{key}_visible", False):
        return {"id": pk, "name": None}
    obj = getattr(t, key)
    return {"id": pk, "name": obj.title if key == "deal" else obj.name if key == "company" else str(obj)}


def _is_overdue(task: Task, now) -> bool:
    if task.status != Task.Status.OPEN or task.due_at is None:
        return False
    if task.all_day:
        return timezone.localdate(task.due_at) < timezone.localdate(now)
    return task.due_at < now


def _list_item(t: Task, now) -> dict[str, Any]:
    return {
        "id": t.pk,
        "kind": t.kind,
        "title": t.title,
        "status": t.status,
        "priority": t.priority,
        "due_at": t.due_at,
        "all_day": t.all_day,
        "owner": _ref(t.owner),
        "team_id": t.team_id,
        "contact": _link(t, "contact"),
        "company": _link(t, "company"),
        "deal": _link(t, "deal"),
        "overdue": _is_overdue(t, now),
        "version": t.version,
        "updated_at": t.updated_at,
    }


def _task_out(t: Task) -> dict[str, Any]:
    now = timezone.now()
    return {
        **_list_item(t, now),
        "description": t.description,
        "duration_minutes": t.duration_minutes,
        "location": t.location,
        "outcome": t.outcome,
        "completed_at": t.completed_at,
        "team": _ref(t.team, t.team.name if t.team else None),
        "interaction_id": t.interaction_id,
        "remind_at": t.remind_at,
        "reminded_at": t.reminded_at,
        "remind_by_email": t.remind_by_email,
        "recurrence": t.recurrence,
        "recurrence_until": t.recurrence_until,
        "recurrence_parent_id": t.recurrence_parent_id,
        "attendees": list(t.attendees or []),
        "ical_uid": str(t.ical_uid),
        "ical_sequence": t.ical_sequence,
        "custom": t.custom or {},
        "created_at": t.created_at,
    }


def _detail(request: HttpRequest, task: Task, *, status: int = 200) -> HttpResponse:
    task = task_get(actor=actor(request), pk=task.pk)  # fresh, with its related rows
    task_links_visible(actor=actor(request), tasks=[task])
    headers = {"ETag": etag_for(task.version)}
    if status == 201:
        headers["Location"] = request.build_absolute_uri(f"{task.pk}")
    return json_response(_task_out(task), status=status, headers=headers)


def _guarded(request, pk: int, action: str) -> Task:
    """The task if visible (else 404) and inside the caller's scope for `action` (else 403)."""
    task = task_get(actor=actor(request), pk=pk)
    if action != "view" and not scopes.record_allowed(actor(request), task, action):
        raise PermissionDenied(
            _("You may not delete this task.") if action == "delete" else _("You may not change this task.")
        )
    return task


# ----------------------------------------------------------------------------------------- tasks


@router.get("/tasks/", response={200: TaskPage, **LIST_ERRORS}, operation_id="task_list")
def task_list_op(request, filters: Query[TaskFilters]):
    """Tasks in your scope, a page at a time (follow `next_cursor`). `owner=me` for your own; `overdue=true`."""
    data = filters.dict(exclude={"sort", "limit", "cursor"}, exclude_none=True)
    for key in ("team", "deal", "contact", "company"):
        if f"{key}_id" in data:
            data[key] = data.pop(f"{key}_id")
    qs = task_list(actor=actor(request), filters=data, sort="due")
    order, kinds = API_SORTS[filters.sort]
    if filters.cursor:
        qs = qs.filter(keyset_filter(order, cursor_decode(filters.cursor, filters.sort, kinds)))
    rows = list(qs.order_by(*order)[: filters.limit + 1])
    has_next = len(rows) > filters.limit
    rows = task_links_visible(actor=actor(request), tasks=rows[: filters.limit])
    now = timezone.now()
    next_cursor = None
    if has_next and rows:
        last = rows[-1]
        next_cursor = cursor_encode(filters.sort, [getattr(last, f.lstrip("-")) for f in order])
    return json_response({"items": [_list_item(t, now) for t in rows], "next_cursor": next_cursor})


@router.post("/tasks/", response={201: TaskOut, **CREATE_ERRORS}, operation_id="task_create")
def task_create_op(request, payload: TaskIn):
    """Create a task; the assignee (`owner_id`) defaults to you. A meeting with attendees invites them by e-mail.
    Required task custom fields must be in `custom` (422 `custom.<key>` otherwise)."""
    data = payload.dict(exclude_unset=True)
    data.setdefault("custom", {})  # a create through the API always checks the custom fields, as for deals
    task = services.task_create(actor=actor(request), data=data, source="api")
    return _detail(request, task, status=201)


@router.get("/tasks/{task_id}", response={200: TaskOut, **READ_ERRORS}, operation_id="task_get")
def task_get_op(request, task_id: Id):
    """One task; the `ETag` header carries its version for `If-Match`."""
    return _detail(request, task_get(actor=actor(request), pk=task_id))


@router.patch("/tasks/{task_id}", response={200: TaskOut, **UPDATE_ERRORS}, operation_id="task_update")
def task_update_op(request, task_id: Id, payload: TaskPatch):
    """Change some fields (`custom` is merged over the stored values). Send `If-Match` with the ETag you read (or
    `version` in the body): 412 if stale. `owner_id` may not be null: a task always has an assignee (422)."""
    task = _guarded(request, task_id, "change")
    data = payload.dict(exclude_unset=True)
    version = expected_version(request, data.pop("version", None))
    task = services.task_update(actor=actor(request), task=task, data=data, expected_version=version, source="api")
    return _detail(request, task)


@router.delete("/tasks/{task_id}", response={204: None, **DELETE_ERRORS}, operation_id="task_delete")
def task_delete_op(request, task_id: Id):
    """Delete a task (204). `If-Match`: 412 if stale. The interaction a completed call or meeting logged stays on
    the client's timeline."""
    task = _guarded(request, task_id, "delete")
    services.task_delete(actor=actor(request), task=task, expected_version=expected_version(request), source="api")
    return Status(204, None)


@router.post("/tasks/{task_id}/complete", response={200: TaskOut, **ACTION_ERRORS}, operation_id="task_complete")
def task_complete_op(request, task_id: Id, payload: TaskCompleteIn):
    """Mark an open task done (409 `task_already_done` / `task_not_open` otherwise). Calls and meetings need
    `outcome` (422 without it) and are logged on the task's client's timeline, also when that client is outside
    your own scope."""
    task = _guarded(request, task_id, "change")
    task = services.task_complete(
        actor=actor(request), task=task, outcome=payload.outcome, note=payload.note,
        expected_version=expected_version(request, payload.version), source="api",
    )
    return _detail(request, task)


@router.post("/tasks/{task_id}/cancel", response={200: TaskOut, **ACTION_ERRORS}, operation_id="task_cancel")
def task_cancel_op(request, task_id: Id, payload: TaskActionIn | None = None):
    """Cancel an open task (409 `task_not_open` otherwise); a repeating task gets no next occurrence, and a
    meeting's attendees get a cancellation. `If-Match` (or `version`): 412 if stale."""
    task = _guarded(request, task_id, "change")
    version = expected_version(request, payload.version if payload else None)
    task = services.task_cancel(actor=actor(request), task=task, expected_version=version, source="api")
    return _detail(request, task)


@router.post("/tasks/{task_id}/reopen", response={200: TaskOut, **ACTION_ERRORS}, operation_id="task_reopen")
def task_reopen_op(request, task_id: Id, payload: TaskActionIn | None = None):
    """Open a done or cancelled task again (409 `task_already_open` if open). Its `outcome` and `interaction_id`
    are cleared (the logged interaction stays on the timeline). A reminder still ahead is re-armed; a cancelled
    meeting is invited again. `If-Match` (or `version`): 412 if stale."""
    task = _guarded(request, task_id, "change")
    version = expected_version(request, payload.version if payload else None)
    task = services.task_reopen(actor=actor(request), task=task, expected_version=version, source="api")
    return _detail(request, task)


@router.get("/tasks/{task_id}/audit", response={200: AuditPage, **LIST_ERRORS, **READ_ERRORS},
            operation_id="task_audit")
def task_audit_op(request, task_id: Id, limit: Limit = 50, cursor: Cursor = None):
    """The task's audit trail, newest first, with field-level changes (a task outside your scope: 404)."""
    task = task_get(actor=actor(request), pk=task_id)
    return paginate(task_audit_entries(task=task), order=("-created_at", "-id"), sort="-created", cursor=cursor,
                    limit=limit)


# ----------------------------------------------------------------------------------------- calendar feeds


def _feed_out(feed: CalendarFeed) -> dict[str, Any]:
    return {
        "id": feed.pk,
        "prefix": feed.prefix,
        "include_team": feed.include_team,
        "created_at": feed.created_at,
        "last_used_at": feed.last_used_at,
    }


def _feed_url(request: HttpRequest, secret: str) -> str:
    try:
        path = reverse("activities:calendar-feed", kwargs={"secret": secret})
    except NoReverseMatch:  # the calendar pages are not installed
        path = f"/calendar/feed/{secret}.ics"
    return request.build_absolute_uri(path)


@router.get("/calendar-feeds/", response={200: CalendarFeedList, **LIST_ERRORS}, operation_id="calendar_feed_list")
def calendar_feed_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """Your private calendar feeds, newest first, a page at a time (follow `next_cursor`); their URLs are not
    stored and cannot be shown again."""
    qs = CalendarFeed.objects.filter(user=actor(request))
    page = paginate(qs, order=("-created_at", "-id"), sort="-created", cursor=cursor, limit=limit)
    return json_response({"items": [_feed_out(f) for f in page["items"]], "next_cursor": page["next_cursor"]})


@router.post(
    "/calendar-feeds/", response={201: CalendarFeedCreated, **CREATE_ERRORS}, operation_id="calendar_feed_create"
)
def calendar_feed_create_op(request, payload: CalendarFeedIn | None = None):
    """A new iCalendar feed URL for Outlook / Google Calendar; the `url` is shown in this response only."""
    feed, secret = services.calendar_feed_create(
        user=actor(request), include_team=payload.include_team if payload else False
    )
    response = json_response({**_feed_out(feed), "url": _feed_url(request, secret)}, status=201)
    response["Cache-Control"] = "no-store"
    return response


@router.delete(
    "/calendar-feeds/{feed_id}", response={204: None, **_errors(401, 403, 404, 422)}, operation_id="calendar_feed_revoke"
)
def calendar_feed_revoke_op(request, feed_id: Id):
    """Revoke a feed: its URL stops working."""
    if not services.calendar_feed_revoke(user=actor(request), feed_id=feed_id):
        raise Http404("No such calendar feed")
    return Status(204, None)
