"""Task pages: the list, the card, create and edit, complete with the outcome (an HTMX partial other pages embed),
cancel, and the quick "log a call" flow. Views parse, call one selector or service, and render."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kramar.activities import selectors, services
from kramar.activities.forms import LogCallForm, TaskCompleteForm, TaskFilterForm, TaskForm
from kramar.activities.models import Task
from kramar.clients.models import Company, Contact
from kramar.core import scopes
from kramar.core.customfields import custom_values_display
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.pagination import capped_page
from kramar.core.pagination import query_string as _query

ROW_TARGET = re.compile(r"^#[A-Za-z][\w-]{0,100}$")
UI_SORTS = ("due", "-due", "priority", "-priority", "title", "-title", "updated", "-updated")


def _wants_partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request and not request.htmx.boosted


def _mark_overdue(tasks: list[Task]) -> None:
    now = timezone.now()
    today = timezone.localdate(now)
    for t in tasks:
        t.is_overdue = (
            t.status == Task.Status.OPEN and t.due_at is not None
            and (timezone.localdate(t.due_at) < today if t.all_day else t.due_at < now)
        )


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


# ----------------------------------------------------------------------------------------- list


@require_GET
@login_required
def task_list(request):
    params = request.GET
    form = TaskFilterForm(params)
    filters = form.filters()
    sort = params.get("sort") if params.get("sort") in UI_SORTS else "due"
    try:
        number = int(params.get("page") or 1)
    except ValueError:
        number = 1
    page = capped_page(selectors.task_list(actor=request.user, filters=filters, sort=sort), number)
    _mark_overdue(page.rows)
    selectors.task_links_visible(actor=request.user, tasks=page.rows)
    base = reverse("activities:task-list")
    sort_links = {
        key: {
            "url": base + _query(params, sort=f"-{key}" if sort == key else key, page=None),
            "active": sort.lstrip("-") == key, "desc": sort == f"-{key}",
        }
        for key in ("due", "priority", "title", "updated")
    }
    context = {
        "nav": "tasks", "filter_form": form, "page": page, "sort": sort, "sort_links": sort_links,
        "list_url": base, "filters_active": any(k in params for k in ("status", "kind", "overdue", "q", "due_from",
                                                                     "due_to", "whose")),
        "next_url": base + _query(params, page=page.number + 1) if page.has_next else None,
        "previous_url": base + _query(params, page=page.number - 1 if page.number > 2 else None)
        if page.has_previous else None,
        "can_create": scopes.can(request.user, "task", "create"),
        "current_url": base + _query(params),
    }
    template = "activities/_task_table.html" if _wants_partial(request) else "activities/task_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# ----------------------------------------------------------------------------------------- card


@require_GET
@login_required
def task_detail(request, pk: int):
    task = selectors.task_get(actor=request.user, pk=pk)
    _mark_overdue([task])
    selectors.task_links_visible(actor=request.user, tasks=[task])
    can_change = scopes.record_allowed(request.user, task, "change")
    return render(request, "activities/task_detail.html", {
        "task": task, "nav": "tasks", "can_change": can_change,
        "can_delete": scopes.record_allowed(request.user, task, "delete"),
        "complete_form": TaskCompleteForm(initial={"version": task.version}),
        "needs_outcome": task.kind in (Task.Kind.CALL, Task.Kind.MEETING),
        "custom_values": custom_values_display("task", task.custom),
    })


# ----------------------------------------------------------------------------------------- create / edit


def _linked(request, form) -> dict[str, Any]:
    """The records a task form links to (for display), each only if the user can see it."""
    data = form.data if form.is_bound else form.initial
    found: dict[str, Any] = {}
    for key, qs in (
        ("contact", Contact.objects.visible_to(request.user, "view")),
        ("company", Company.objects.visible_to(request.user, "view")),
    ):
        raw = data.get(key)
        if raw and str(raw).isdigit():
            found[key] = qs.filter(pk=int(raw)).first()
    raw = data.get("deal")
    if raw and str(raw).isdigit():
        from kramar.sales.models import Deal

        found["deal"] = Deal.objects.visible_to(request.user, "view").filter(pk=int(raw)).first()
    return found


def _form_page(request, form, task=None):
    return render(
        request, "activities/task_form.html",
        {"form": form, "task": task, "nav": "tasks", "linked": _linked(request, form)},
    )


@require_http_methods(["GET", "POST"])
@login_required
def task_create(request):
    if not scopes.can(request.user, "task", "create"):
        raise PermissionDenied(_("You may not create tasks."))
    if request.method == "GET":
        initial = {k: request.GET[k] for k in ("contact", "company", "deal", "kind", "title") if request.GET.get(k)}
        return _form_page(request, TaskForm(initial=initial, actor=request.user))
    form = TaskForm(request.POST, actor=request.user)
    if form.is_valid():
        try:
            task = services.task_create(actor=request.user, data=form.to_data())
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, _("Task created."))
            return redirect(_safe_next(request, reverse("activities:task-detail", args=[task.pk])))
    return _form_page(request, form)


@require_http_methods(["GET", "POST"])
@login_required
def task_edit(request, pk: int):
    task = selectors.task_get(actor=request.user, pk=pk)
    if not scopes.record_allowed(request.user, task, "change"):
        raise PermissionDenied(_("You may not change this task."))
    if request.method == "GET":
        return _form_page(request, TaskForm(initial=TaskForm.initial_for(task), actor=request.user, task=task), task)
    form = TaskForm(request.POST, actor=request.user, task=task)
    if form.is_valid():
        try:
            services.task_update(
                actor=request.user, task=task, data=form.to_data(), expected_version=form.cleaned_data["version"]
            )
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        except VersionConflict:
            form.conflict = True
            form.add_error(None, _("This task was changed by someone else since you opened it. Your input is kept "
                                   "below; check the current version. Saving again replaces their changes."))
            form.data = form.data.copy()
            form.data["version"] = str(Task.objects.get(pk=task.pk).version)
        else:
            messages.success(request, _("Task saved."))
            return redirect("activities:task-detail", pk=task.pk)
    return _form_page(request, form, task)


# ----------------------------------------------------------------------------------------- complete / cancel


def _row(request, task: Task, **extra) -> HttpResponse:
    """The task's row, swapped in place of the row that asked (`row_target`, default `#task-<id>`)."""
    task = selectors.task_get(actor=request.user, pk=task.pk)
    _mark_overdue([task])
    selectors.task_links_visible(actor=request.user, tasks=[task])
    response = render(request, "activities/_task_row.html", {"task": task, **extra})
    target = request.POST.get("row_target") or ""
    response["HX-Retarget"] = target if ROW_TARGET.match(target) else f"#task-{task.pk}"
    response["HX-Reswap"] = "outerHTML"
    response["HX-Trigger"] = "taskChanged"
    return response


@require_http_methods(["GET", "POST"])
@login_required
def task_complete(request, pk: int):
    """GET: the outcome form (a partial for HTMX). POST: complete; HTMX gets the task's row back, or the form with
    its errors; a plain form post is redirected."""
    task = selectors.task_get(actor=request.user, pk=pk)
    if not scopes.record_allowed(request.user, task, "change"):
        raise PermissionDenied(_("You may not change this task."))
    form = TaskCompleteForm(request.POST or None, initial={"version": task.version})
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            services.task_complete(
                actor=request.user, task=task, outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"],
                expected_version=form.cleaned_data["version"],
            )
        except ValidationFailed as exc:
            for field, msgs in exc.errors.items():
                for m in msgs:
                    form.add_error(field if field in form.fields else None, m)
        except VersionConflict:
            error = _("This task was changed by someone else since you opened it. Reload it and try again.")
        except DomainError as exc:
            error = exc.message
        else:
            if request.htmx:
                return _row(request, task, flash=_("Done."))
            messages.success(request, _("Task completed."))
            return redirect(_safe_next(request, reverse("activities:task-detail", args=[task.pk])))
    context = {
        "task": task, "form": form, "error": error, "nav": "tasks",
        "needs_outcome": task.kind in (Task.Kind.CALL, Task.Kind.MEETING),
        "next": request.POST.get("next") or request.GET.get("next") or "",
    }
    template = "activities/_task_complete_form.html" if request.htmx else "activities/task_complete.html"
    return render(request, template, context)


@require_POST
@login_required
def task_cancel(request, pk: int):
    task = selectors.task_get(actor=request.user, pk=pk)
    if not scopes.record_allowed(request.user, task, "change"):
        raise PermissionDenied(_("You may not change this task."))
    version = request.POST.get("version")
    try:
        services.task_cancel(actor=request.user, task=task, expected_version=int(version) if
                             version and version.isdigit() else None)
    except VersionConflict:
        messages.error(request, _("This task was changed by someone else since you opened it. Reload it and try "
                                  "again."))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if request.htmx:
            return _row(request, task, flash=_("Cancelled."))
        messages.success(request, _("Task cancelled."))
    return redirect(_safe_next(request, reverse("activities:task-detail", args=[task.pk])))


@require_http_methods(["GET", "POST"])
@login_required
def task_log_call(request):
    """Log a call that just happened with its outcome in one step (a done call task plus the timeline entry)."""
    if not scopes.can(request.user, "task", "create"):
        raise PermissionDenied(_("You may not create tasks."))
    if request.method == "GET":
        initial = {k: request.GET[k] for k in ("contact", "company", "deal") if request.GET.get(k)}
        form = LogCallForm(initial=initial)
    else:
        form = LogCallForm(request.POST)
        if form.is_valid():
            cd = form.cleaned_data
            data = {"kind": Task.Kind.CALL, "title": cd["title"] or _("Call"), "due_at": timezone.now(),
                    **{f"{k}_id": cd[k] for k in ("contact", "company", "deal") if cd.get(k)}}
            try:
                with transaction.atomic():
                    task = services.task_create(actor=request.user, data=data)
                    services.task_complete(actor=request.user, task=task, outcome=cd["outcome"], note=cd["note"])
            except ValidationFailed as exc:
                for field, msgs in exc.errors.items():
                    name = field.removesuffix("_id")
                    for m in msgs:
                        form.add_error(name if name in form.fields and not form.fields[name].widget.is_hidden
                                       else None, m if name in form.fields else f"{field}: {m}")
            else:
                messages.success(request, _("Call logged."))
                return redirect(_safe_next(request, reverse("activities:task-detail", args=[task.pk])))
    return render(request, "activities/task_log_call.html", {
        "form": form, "nav": "tasks", "linked": _linked(request, form),
        "next": request.POST.get("next") or request.GET.get("next") or "",
    })
