"""The client timeline (HTMX partials): list with channel filter and "show more", inline log / edit /
delete, and the guarded attachment download. The client is always fetched through the guarded
selectors first, so a client outside the user's scope is a 404 for every view here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kramar.clients.models import Company, Contact
from kramar.clients.selectors import company_get, contact_get
from kramar.core import scopes
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.views import client_url, duration_display, render_fragment
from kramar.history.forms import QUICK_CHANNELS, InteractionForm
from kramar.history.models import Attachment, Direction, Interaction
from kramar.history.selectors import interaction_get, timeline_for_client
from kramar.history.services import (
    attachment_add,
    html_sanitize,
    interaction_create,
    interaction_delete,
    interaction_update,
)

PAGE_SIZE = 20

# Symbols from the basic multilingual plane that ordinary system fonts draw (no emoji font needed).
CHANNEL_ICONS = {
    "call": "☎",
    "email": "✉",
    "fax": "⎙",
    "letter": "✍",
    "meeting": "☕",
    "chat": "❝",
    "web_form": "⌨",
    "note": "✎",
    "sms": "✆",
}
DIRECTION_ICONS = {"in": "↙", "out": "↗", "internal": "↔"}


# ------------------------------------------------------------------------------------------ helpers
@dataclass(frozen=True)
class Target:
    """The client whose timeline is shown: a contact or a company, already fetched in scope."""

    contact: Contact | None = None
    company: Company | None = None

    @property
    def key(self) -> str:
        return f"contact-{self.contact.pk}" if self.contact else f"company-{self.company.pk}"

    @property
    def params(self) -> dict[str, int]:
        return {"contact": self.contact.pk} if self.contact else {"company": self.company.pk}

    @property
    def querystring(self) -> str:
        return urlencode(self.params)

    @property
    def service_ids(self) -> dict[str, int]:
        return {"contact_id": self.contact.pk} if self.contact else {"company_id": self.company.pk}

    @property
    def client(self) -> Contact | Company:
        return self.contact or self.company


def _target(request: HttpRequest) -> Target:
    """`?contact=ID` or `?company=ID` (query string or form), fetched through the guarded selectors."""
    params = request.POST if request.method == "POST" else request.GET
    contact_id = params.get("contact") or request.GET.get("contact")
    company_id = params.get("company") or request.GET.get("company")
    if contact_id:
        return Target(contact=contact_get(actor=request.user, pk=contact_id))
    if company_id:
        return Target(company=company_get(actor=request.user, pk=company_id))
    raise Http404("No client given")


def _channels(request: HttpRequest) -> list[str]:
    return [c for c in request.GET.getlist("channel") if c in Interaction.Channel.values]


def _cursor_encode(interaction: Interaction) -> str:
    return f"{interaction.occurred_at.astimezone(dt.UTC).isoformat()}~{interaction.pk}"


def _cursor_decode(raw: str | None) -> tuple[dt.datetime, int] | None:
    if not raw or "~" not in raw:
        return None
    when_raw, _sep, pk_raw = raw.rpartition("~")
    when = parse_datetime(when_raw)
    if when is None or not pk_raw.isdigit() or when.tzinfo is None:
        return None
    return when, int(pk_raw)


def _after_cursor(qs: QuerySet[Interaction], cursor: tuple[dt.datetime, int] | None) -> QuerySet[Interaction]:
    if cursor is None:
        return qs
    when, pk = cursor
    return qs.filter(Q(occurred_at__lt=when) | Q(occurred_at=when, pk__lt=pk))


def _decorate(user, items: list[Interaction]) -> list[Interaction]:
    """Per-item display helpers and permissions (no queries: client rows are select_related)."""
    for item in items:
        item.icon = CHANNEL_ICONS.get(item.channel, "•")
        item.direction_icon = DIRECTION_ICONS.get(item.direction, "")
        item.duration_display = duration_display(item.duration_seconds)
        # Stored HTML was sanitized on write; sanitizing again on output also covers rows that bulk
        # loaders wrote without the service. Only this sanitized copy is rendered unescaped.
        item.body_safe = mark_safe(html_sanitize(item.body_html)) if item.body_html else ""  # noqa: S308
        item.can_change = scopes.record_allowed(user, item, "change")
        item.can_delete = scopes.record_allowed(user, item, "delete")
    return items


def _timeline_context(
    request: HttpRequest, target: Target, *, channels: list[str], cursor=None
) -> dict[str, Any]:
    qs = timeline_for_client(
        actor=request.user, contact=target.contact, company=target.company, channels=channels
    )
    rows = list(_after_cursor(qs, cursor)[: PAGE_SIZE + 1])
    items = _decorate(request.user, rows[:PAGE_SIZE])
    more_url = ""
    if len(rows) > PAGE_SIZE:
        params: list[tuple[str, Any]] = [*target.params.items(), *(("channel", c) for c in channels)]
        params += [("before", _cursor_encode(items[-1])), ("part", "more")]
        more_url = f"{reverse('history:timeline')}?{urlencode(params)}"
    return {
        "target": target,
        "items": items,
        "more_url": more_url,
        "channels": channels,
        "channel_filters": [
            (value, label, CHANNEL_ICONS.get(value, ""), value in channels)
            for value, label in Interaction.Channel.choices
        ],
        "quick_channels": [
            (value, label, CHANNEL_ICONS.get(value, ""))
            for value, label in Interaction.Channel.choices
            if value in QUICK_CHANNELS
        ],
        "can_log": scopes.can(request.user, "interaction", "create"),
        "show_contact": target.company is not None,
    }


def _timeline_response(request: HttpRequest, target: Target, *, channels: list[str]) -> HttpResponse:
    context = _timeline_context(request, target, channels=channels)
    return render_fragment(
        request,
        "history/_timeline.html",
        context,
        title=_("History: %(client)s") % {"client": target.client},
        back_url=client_url(target.client),
    )


def _form_context(
    target: Target | None, form: InteractionForm, interaction: Interaction | None = None
) -> dict:
    return {"target": target, "form": form, "interaction": interaction}


# -------------------------------------------------------------------------------------------- views
@login_required
@require_GET
def timeline(request: HttpRequest) -> HttpResponse:
    """The timeline partial of a client card. `part=items` (channel filter) returns only the list,
    `part=more` only the next page and its "show more" button."""
    target = _target(request)
    channels = _channels(request)
    part = request.GET.get("part")
    if part == "more":
        context = _timeline_context(
            request, target, channels=channels, cursor=_cursor_decode(request.GET.get("before"))
        )
        return render(request, "history/_timeline_page.html", context)
    if part == "items":
        return render(
            request, "history/_timeline_items.html", _timeline_context(request, target, channels=channels)
        )
    return _timeline_response(request, target, channels=channels)


@login_required
@require_http_methods(["GET", "POST"])
def interaction_create_view(request: HttpRequest) -> HttpResponse:
    """GET: the inline form for a channel (`close=1`: nothing, to close it). POST: log the interaction
    and return the refreshed timeline, or the form with field-level errors."""
    target = _target(request)
    if request.method == "GET":
        if request.GET.get("close"):
            return HttpResponse("")
        channel = request.GET.get("channel")
        channel = channel if channel in Interaction.Channel.values else "call"
        direction = Direction.INTERNAL if channel == "note" else Direction.OUTBOUND
        form = InteractionForm(
            initial={"channel": channel, "direction": direction}, auto_id=f"log-{target.key}-%s"
        )
        return render(request, "history/_interaction_form.html", _form_context(target, form))
    form = InteractionForm(request.POST, request.FILES, auto_id=f"log-{target.key}-%s")
    if form.is_valid():
        try:
            with transaction.atomic():
                interaction = interaction_create(
                    actor=request.user, data={**form.service_data(), **target.service_ids}
                )
                if form.cleaned_data.get("attachment"):
                    attachment_add(
                        actor=request.user, interaction=interaction, upload=form.cleaned_data["attachment"]
                    )
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        except DomainError as exc:
            form.add_error("attachment" if exc.code == "attachment_too_large" else None, exc.message)
        else:
            return _timeline_response(request, target, channels=[])
    response = render(request, "history/_interaction_form.html", _form_context(target, form))
    return _form_errors(request, response, f"#log-form-{target.key}")


def _form_errors(request: HttpRequest, response: HttpResponse, selector: str) -> HttpResponse:
    """HTMX swaps only 2xx answers, so it gets 200 and the form is retargeted; others get 422."""
    if request.htmx:
        response["HX-Retarget"] = selector
        response["HX-Reswap"] = "outerHTML"
    else:
        response.status_code = 422
    return response


@login_required
@require_GET
def interaction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One timeline item (used to cancel an inline edit)."""
    interaction = interaction_get(actor=request.user, pk=pk)
    return render(
        request,
        "history/_interaction.html",
        {
            "i": _decorate(request.user, [interaction])[0],
            "show_contact": request.GET.get("show_contact") == "1",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def interaction_edit(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = interaction_get(actor=request.user, pk=pk, action="change")
    show_contact = (request.POST if request.method == "POST" else request.GET).get("show_contact") == "1"
    if request.method == "GET":
        form = InteractionForm(instance=interaction, auto_id=f"edit-{interaction.pk}-%s")
        return render(
            request,
            "history/_interaction_form.html",
            {**_form_context(None, form, interaction), "show_contact": show_contact},
        )
    form = InteractionForm(
        request.POST, request.FILES, instance=interaction, auto_id=f"edit-{interaction.pk}-%s"
    )
    if form.is_valid():
        try:
            with transaction.atomic():
                interaction = interaction_update(
                    actor=request.user,
                    interaction=interaction,
                    data=form.service_data(),
                    expected_version=form.cleaned_data.get("version"),
                )
                if form.cleaned_data.get("attachment"):
                    attachment_add(
                        actor=request.user, interaction=interaction, upload=form.cleaned_data["attachment"]
                    )
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        except VersionConflict:
            form.add_error(
                None, _("Someone else changed this entry since you opened it. Cancel and edit it again.")
            )
        except DomainError as exc:
            form.add_error("attachment" if exc.code == "attachment_too_large" else None, exc.message)
        else:
            fresh = (
                Interaction.objects.select_related("user", "contact", "company")
                .prefetch_related("attachments")
                .get(pk=interaction.pk)
            )
            return render(
                request,
                "history/_interaction.html",
                {"i": _decorate(request.user, [fresh])[0], "show_contact": show_contact},
            )
    response = render(
        request,
        "history/_interaction_form.html",
        {**_form_context(None, form, interaction), "show_contact": show_contact},
    )
    if not request.htmx:
        response.status_code = 422
    return response


@login_required
@require_POST
def interaction_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete and answer with nothing: HTMX swaps the item out."""
    interaction = interaction_get(actor=request.user, pk=pk, action="delete")
    interaction_delete(actor=request.user, interaction=interaction)
    return HttpResponse("")


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """Files are never served from a public media URL: only a user who may view the interaction gets it."""
    attachment = get_object_or_404(
        Attachment.objects.only("id", "interaction_id", "file", "filename", "content_type"), pk=pk
    )
    interaction_get(actor=request.user, pk=attachment.interaction_id)  # 404 outside scope
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage") from exc
    response = FileResponse(handle, as_attachment=True, filename=attachment.filename)
    response["Cache-Control"] = "private, no-store"
    return response
