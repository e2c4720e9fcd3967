"""The rep's "My day": one page of panels, each of which HTMX reloads on its own (after a task is completed, a
notification read, or every few minutes). Views parse, call one selector or service, and render."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from kramar.activities.models import Task
from kramar.control.rules import Day
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.desk import selectors, services

REFRESH_EVENT = "deskRefresh"
CALL_OUTCOMES = [
    gettext_lazy("Reached"), gettext_lazy("No answer"), gettext_lazy("Left a voicemail"), gettext_lazy("Call back later"),
    gettext_lazy("Not interested"), gettext_lazy("Wrong number"),
]

PANELS: dict[str, tuple[str, Callable[[Any, Day], dict[str, Any]]]] = {
    "tasks": ("desk/_panel_tasks.html", lambda user, day: {"tasks": selectors.my_tasks(actor=user, day=day)}),
    "calls": ("desk/_panel_calls.html", lambda user, day: {"calls": selectors.my_calls(actor=user, day=day)}),
    "deals": ("desk/_panel_deals.html", lambda user, day: {"deals": selectors.my_deals_attention(actor=user, day=day)}),
    "target": ("desk/_panel_target.html", lambda user, day: {"progress": selectors.my_progress(actor=user, day=day)}),
    "inbox": ("desk/_panel_inbox.html", lambda user, day: {"inbox": selectors.my_inbox(actor=user)}),
}


def _panel_context(request: HttpRequest, name: str, **extra) -> dict[str, Any]:
    return {**PANELS[name][1](request.user, Day.of()), "call_outcomes": CALL_OUTCOMES, **extra}


def _render_panel(request: HttpRequest, name: str, *, trigger: bool = False, **extra) -> HttpResponse:
    response = render(request, PANELS[name][0], _panel_context(request, name, **extra))
    if trigger:  # the other panels reload themselves; this one was just rendered
        response["HX-Trigger"] = json.dumps({REFRESH_EVENT: {"source": name}})
    return response


def _int_or_none(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


@require_GET
@login_required
def my_day(request: HttpRequest) -> HttpResponse:
    day = Day.of()
    context: dict[str, Any] = {"nav": "my-day", "day": day, "call_outcomes": CALL_OUTCOMES}
    for _template, build in PANELS.values():
        context.update(build(request.user, day))
    return render(request, "desk/my_day.html", context)


@require_GET
@login_required
def panel(request: HttpRequest, name: str) -> HttpResponse:
    if name not in PANELS:
        raise Http404("No such panel")
    response = _render_panel(request, name)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@login_required
def task_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Complete one of the user's tasks (a call or meeting with its outcome and a note) and reload the panel."""
    name = request.POST.get("panel") if request.POST.get("panel") in ("tasks", "calls") else "tasks"
    task = Task.objects.visible_to(request.user, "change").filter(pk=pk).first()
    if task is None:
        raise Http404("No such task")
    from kramar.activities.services import task_complete  # the tasks module's service

    try:
        task_complete(
            actor=request.user, task=task, outcome=request.POST.get("outcome", "").strip(),
            note=request.POST.get("note", "").strip(), expected_version=_int_or_none(request.POST.get("version")),
        )
    except ValidationFailed as exc:
        errors = [
            f"{field}: {' '.join(str(m) for m in (msgs if isinstance(msgs, list | tuple) else [msgs]))}"
            for field, msgs in exc.errors.items()
        ]
        return _render_panel(request, name, error_task=task.pk, errors=errors)
    except VersionConflict:
        return _render_panel(request, name, error_task=task.pk, errors=[_("The task was changed meanwhile.")])
    except DomainError as exc:
        return _render_panel(request, name, error_task=task.pk, errors=[exc.message])
    return _render_panel(request, name, trigger=True)


@require_POST
@login_required
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    if not services.notifications_mark_read(actor=request.user, ids=[pk]):
        raise Http404("No such unread notification")
    return _render_panel(request, "inbox")


@require_POST
@login_required
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_read(actor=request.user)
    return _render_panel(request, "inbox")
