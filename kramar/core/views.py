"""The audit tab of a record (HTMX partial) and the shared fragment/full-page rendering helper."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kramar.accounts.models import Team
from kramar.clients.models import Company, Contact
from kramar.clients.selectors import client_audit_entries, company_get, contact_get
from kramar.core.models import AuditEntry
from kramar.history.models import Interaction

AUDIT_PAGE_SIZE = 25
EMPTY = "—"


def render_fragment(
    request: HttpRequest, template: str, context: dict[str, Any], *, title: str = "", back_url: str = ""
) -> HttpResponse:
    """An HTMX request gets the fragment; a plain visit gets it inside the site layout when the
    layout exists (`base.html`, block `content`), else the bare fragment."""
    if not request.htmx:
        try:
            get_template("base.html")
        except TemplateDoesNotExist:
            pass
        else:
            page = {**context, "fragment_template": template, "title": title, "back_url": back_url}
            return render(request, "core/fragment_page.html", page)
    return render(request, template, context)


def client_url(record: models.Model) -> str:
    """The card of a contact or company, when the clients app routes it (else "")."""
    name = {"contact": "clients:contact-detail", "company": "clients:company-detail"}.get(
        getattr(record, "scope_entity", "")
    )
    try:
        return reverse(name, args=[record.pk]) if name else ""
    except NoReverseMatch:
        return ""


# ----------------------------------------------------------------------------------- audit entries
AUDITED: dict[str, tuple[Callable[..., models.Model], type[models.Model]]] = {
    "contact": (contact_get, Contact),
    "company": (company_get, Company),
}
ENTITY_MODELS: dict[str, type[models.Model]] = {
    "contact": Contact,
    "company": Company,
    "interaction": Interaction,
}
# Keys the client services add to the diff besides model fields.
EXTRA_LABELS = {
    "points": lambda: _("Phones and e-mails"),
    "tags": lambda: _("Tags"),
    "address": lambda: _("Address"),
    "companies": lambda: _("Companies"),
    "attachments": lambda: _("Attachments"),
    "custom": lambda: _("Custom fields"),
}
LIST_OF_IDS = {"companies": Company}
HIDDEN_KEYS = {"id"}  # the record's own id says nothing in its own log
POINT_KINDS = {"email": lambda: _("E-mail"), "phone": lambda: _("Phone")}




@dataclass
class DiffRow:
    field: str
    label: str
    old: str
    new: str
    old_list: list[str] = field(default_factory=list)
    new_list: list[str] = field(default_factory=list)


class _Names:
    """Resolves foreign-key ids in a page of diffs to names with one query per model. Clients the
    viewer may not see stay as #id."""

    def __init__(self, user):
        self.user = user
        self.wanted: dict[type[models.Model], set[int]] = defaultdict(set)
        self.names: dict[tuple[type[models.Model], int], str] = {}

    def want(self, model: type[models.Model], value: Any) -> None:
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, int) and not isinstance(v, bool):
                self.wanted[model].add(v)

    def load(self) -> None:
        user_model = get_user_model()
        for model, ids in self.wanted.items():
            if model in (Contact, Company):
                qs = model.objects.visible_to(self.user, "view").filter(pk__in=ids)
            elif model in (user_model, Team):
                qs = model.objects.filter(pk__in=ids)
            else:
                continue
            for obj in qs:
                label = obj.get_full_name() or obj.get_username() if model is user_model else str(obj)
                self.names[(model, obj.pk)] = label

    def get(self, model: type[models.Model], pk: int) -> str:
        return self.names.get((model, pk), f"#{pk}")


def duration_display(seconds: int | None) -> str:
    """A duration for people: "45 s", "12 min", "1 h 5 min"."""
    if seconds is None:
        return ""
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    hours, minutes = divmod(round(seconds / 60), 60)
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    return _("%(m)d min") % {"m": minutes}


def _model_field(entity: str, name: str) -> models.Field | None:
    model = ENTITY_MODELS.get(entity)
    if model is None:
        return None
    try:
        f = model._meta.get_field(name)
    except FieldDoesNotExist:  # keys the services add (points, tags, address …)
        return None
    return f if isinstance(f, models.Field) else None  # not reverse relations such as "attachments"


def _label(entity: str, name: str) -> str:
    if name in EXTRA_LABELS:
        return str(EXTRA_LABELS[name]())
    f = _model_field(entity, name)
    if f is not None and getattr(f, "verbose_name", None):
        return capfirst(str(f.verbose_name))
    return capfirst(name.replace("_", " "))


def _point(text: str) -> str:
    kind, _sep, rest = text.partition(":")
    primary = rest.endswith("*")
    value = rest.rstrip("*")
    label = POINT_KINDS.get(kind)
    out = f"{label()} {value}" if label else text
    return f"{out} ({_('primary')})" if primary else out


def _scalar(value: Any, f: models.Field | None, names: _Names) -> str:
    if value is None or value == "":
        return EMPTY
    if f is not None and f.name == "duration_seconds" and isinstance(value, int):
        return duration_display(value)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if f is not None:
        if f.is_relation and f.related_model is not None and isinstance(value, int):
            return names.get(f.related_model, value)
        if f.choices:
            return str(dict(f.flatchoices).get(value, value))
        if isinstance(f, models.DateTimeField) and isinstance(value, str):
            when = parse_datetime(value)
            if when is not None:
                when = timezone.localtime(when) if timezone.is_aware(when) else when
                return formats.date_format(when, "DATETIME_FORMAT")
        if isinstance(f, models.DateField) and isinstance(value, str):
            day = parse_date(value)
            if day is not None:
                return formats.date_format(day, "DATE_FORMAT")
    if isinstance(value, dt.datetime | dt.date):
        return formats.date_format(
            value, "DATETIME_FORMAT" if isinstance(value, dt.datetime) else "DATE_FORMAT"
        )
    return str(value)


def _display(entity: str, name: str, value: Any, names: _Names) -> tuple[str, list[str]]:
    """(text, list items) for one side of a change; lists render as bullet items, never as JSON."""
    f = _model_field(entity, name)
    if isinstance(value, list):
        if name == "points":
            items = [_point(str(v)) for v in value]
        elif name in LIST_OF_IDS:
            items = [names.get(LIST_OF_IDS[name], v) if isinstance(v, int) else str(v) for v in value]
        else:
            items = [_scalar(v, None, names) for v in value]
        return (", ".join(items) if items else EMPTY), items
    if isinstance(value, dict):
        items = []
        for key, v in value.items():
            inner = (
                ", ".join(_scalar(x, None, names) for x in v)
                if isinstance(v, list)
                else _scalar(v, None, names)
            )
            items.append(f"{key}: {inner}")
        return ("; ".join(items) if items else EMPTY), items
    return _scalar(value, f, names), []


def _diff_rows(entries: list[AuditEntry], user) -> None:
    names = _Names(user)
    for entry in entries:
        for name, pair in (entry.changes or {}).items():
            f = _model_field(entry.entity, name)
            values = pair if isinstance(pair, list) and len(pair) == 2 else [None, pair]
            if f is not None and f.is_relation and f.related_model is not None:
                for v in values:
                    names.want(f.related_model, v)
            if name in LIST_OF_IDS:
                for v in values:
                    names.want(LIST_OF_IDS[name], v)
    names.load()
    for entry in entries:
        rows = []
        for name, pair in sorted((entry.changes or {}).items(), key=lambda kv: _label(entry.entity, kv[0])):
            if name in HIDDEN_KEYS:
                continue
            old, new = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
            old_text, old_list = _display(entry.entity, name, old, names)
            new_text, new_list = _display(entry.entity, name, new, names)
            if old_text == new_text == EMPTY:
                continue  # e.g. the blank fields of a deleted record
            rows.append(DiffRow(name, _label(entry.entity, name), old_text, new_text, old_list, new_list))
        entry.diff_rows = rows
        entry.actor_name = (entry.actor.get_full_name() or entry.actor.get_username()) if entry.actor else ""


def _cursor(raw: str | None) -> tuple[dt.datetime, int] | None:
    if not raw or "~" not in raw:
        return None
    when_raw, _sep, pk_raw = raw.rpartition("~")
    when = parse_datetime(when_raw)
    if when is None or when.tzinfo is None or not pk_raw.isdigit():
        return None
    return when, int(pk_raw)


@login_required
@require_GET
def audit(request: HttpRequest, entity: str, pk: int) -> HttpResponse:
    """The audit tab of a contact or a company: who changed what, when, from where (newest first)."""
    if entity not in AUDITED:
        raise Http404("No audit log for this kind of record")
    getter, _model = AUDITED[entity]
    obj = getter(actor=request.user, pk=pk)  # 404 outside the user's scope
    qs = client_audit_entries(obj=obj)
    cursor = _cursor(request.GET.get("before"))
    if cursor is not None:
        when, last_id = cursor
        qs = qs.filter(Q(created_at__lt=when) | Q(created_at=when, pk__lt=last_id))
    rows = list(qs[: AUDIT_PAGE_SIZE + 1])
    entries = rows[:AUDIT_PAGE_SIZE]
    _diff_rows(entries, request.user)
    more_url = ""
    if len(rows) > AUDIT_PAGE_SIZE:
        last = entries[-1]
        before = f"{last.created_at.astimezone(dt.UTC).isoformat()}~{last.pk}"
        more_url = (
            f"{reverse('core:audit', args=[entity, obj.pk])}?{urlencode({'before': before, 'part': 'more'})}"
        )
    context = {"entity": entity, "record": obj, "entries": entries, "more_url": more_url}
    if request.GET.get("part") == "more":
        return render(request, "core/_audit_rows.html", context)
    return render_fragment(
        request,
        "core/_audit.html",
        context,
        title=_("Changes: %(record)s") % {"record": obj},
        back_url=client_url(obj),
    )
