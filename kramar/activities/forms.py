"""Input shapes of the task pages. They parse and never save; the services validate the values and the views put
the services' field errors back on the form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kramar.accounts.models import User
from kramar.activities.choices import Recurrence, TaskKind, TaskPriority, TaskStatus
from kramar.core import scopes
from kramar.core.forms import CustomFieldsFormMixin, custom_field_name, custom_initial

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

# Service field name → form field name, to put the services' errors on the right field.
SERVICE_FIELDS = {"owner_id": "owner", "team_id": "owner", "contact_id": "contact", "company_id": "company",
                  "deal_id": "deal"}

LINK_LABELS = {"contact": _("Contact"), "company": _("Company"), "deal": _("Deal")}


def assignable_users(actor, action: str = "create"):
    """The users the actor may assign a task to (their scope for the action)."""
    scope = scopes.scope_for(actor, "task", action)
    users = User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")
    if scope >= scopes.ALL:
        return users
    if scope == scopes.TEAM:
        return users.filter(memberships__team_id__in=scopes.user_team_ids(actor)).distinct() | users.filter(
            pk=actor.pk
        )
    return users.filter(pk=actor.pk)


class TaskForm(CustomFieldsFormMixin, forms.Form):
    entity = "task"
    kind = forms.ChoiceField(label=_("Kind"), choices=TaskKind.choices, initial=TaskKind.TODO)
    title = forms.CharField(label=_("Title"), max_length=255, required=False)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    due_at = forms.DateTimeField(label=_("Due"), required=False, widget=DATETIME_LOCAL)
    all_day = forms.BooleanField(label=_("All day"), required=False)
    duration_minutes = forms.IntegerField(label=_("Duration, min"), required=False, min_value=0)
    location = forms.CharField(label=_("Location"), max_length=255, required=False)
    priority = forms.ChoiceField(label=_("Priority"), choices=TaskPriority.choices, initial=TaskPriority.NORMAL)
    owner = forms.ModelChoiceField(label=_("Assignee"), queryset=User.objects.none(), required=False)
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    company = forms.IntegerField(required=False, widget=forms.HiddenInput)
    deal = forms.IntegerField(required=False, widget=forms.HiddenInput)
    remind_at = forms.DateTimeField(label=_("Remind at"), required=False, widget=DATETIME_LOCAL)
    remind_by_email = forms.BooleanField(label=_("Also remind me by e-mail"), required=False)
    recurrence = forms.ChoiceField(label=_("Repeats"), choices=Recurrence.choices, required=False)
    recurrence_until = forms.DateField(label=_("Repeats until"), required=False, widget=DATE)
    attendees = forms.CharField(
        label=_("Attendees"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Meetings: e-mail addresses, separated by commas; they receive an invitation."),
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, actor, task=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task
        self.conflict = False
        self.fields["owner"].queryset = assignable_users(actor, "create" if task is None else "change")
        self.fields["owner"].empty_label = _("Me")
        self.custom_fields_add()

    def to_data(self) -> dict[str, Any]:
        cd = self.cleaned_data
        data = {
            key: cd.get(key)
            for key in ("kind", "title", "description", "due_at", "all_day", "duration_minutes", "location",
                        "priority", "remind_at", "remind_by_email", "recurrence", "recurrence_until")
        }
        data["attendees"] = cd.get("attendees") or ""
        owner = cd.get("owner")
        if owner is not None or self.task is None:
            data["owner_id"] = owner.pk if owner is not None else None
        for key in ("contact", "company", "deal"):
            data[f"{key}_id"] = cd.get(key)
        data["custom"] = self.custom_data()
        return data

    @classmethod
    def initial_for(cls, task) -> dict[str, Any]:
        return {
            "kind": task.kind, "title": task.title, "description": task.description, "due_at": task.due_at,
            "all_day": task.all_day, "duration_minutes": task.duration_minutes, "location": task.location,
            "priority": task.priority, "owner": task.owner_id, "contact": task.contact_id,
            "company": task.company_id, "deal": task.deal_id, "remind_at": task.remind_at,
            "remind_by_email": task.remind_by_email, "recurrence": task.recurrence,
            "recurrence_until": task.recurrence_until, "attendees": ", ".join(task.attendees or []),
            "version": task.version, **custom_initial(task.custom),
        }

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put a service's {field: [messages]} on the form: on the visible field, else at the top naming it."""
        for field, messages in errors.items():
            name = SERVICE_FIELDS.get(field) or custom_field_name(field) or field
            visible = name in self.fields and not self.fields[name].widget.is_hidden
            for message in messages:
                if visible:
                    self.add_error(name, message)
                else:
                    self.add_error(None, f"{LINK_LABELS.get(name, name)}: {message}")


class TaskCompleteForm(forms.Form):
    outcome = forms.CharField(label=_("Outcome"), max_length=255, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class LogCallForm(forms.Form):
    """The quick flow: a call that already happened, logged with its outcome in one step."""

    title = forms.CharField(label=_("Subject"), max_length=255, required=False)
    outcome = forms.CharField(label=_("Outcome"), max_length=255, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    company = forms.IntegerField(required=False, widget=forms.HiddenInput)
    deal = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(k) for k in ("contact", "company", "deal")):
            raise forms.ValidationError(_("Choose the contact, company or deal the call was with."))
        return cleaned


class TaskFilterForm(forms.Form):
    WHOSE = [("me", _("Mine")), ("all", _("My team's"))]
    STATUS = [("open", _("Open")), ("done", _("Done")), ("cancelled", _("Cancelled")), ("all", _("Any status"))]

    whose = forms.ChoiceField(label=_("Whose"), choices=WHOSE, required=False)
    status = forms.ChoiceField(label=_("Status"), choices=STATUS, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("Any kind")), *TaskKind.choices], required=False)
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    due_from = forms.DateField(label=_("Due from"), required=False, widget=DATE)
    due_to = forms.DateField(label=_("Due to"), required=False, widget=DATE)
    q = forms.CharField(label=_("Search"), max_length=200, required=False)
    owner = forms.IntegerField(required=False, widget=forms.HiddenInput)
    deal = forms.IntegerField(required=False, widget=forms.HiddenInput)
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    company = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def filters(self) -> dict[str, Any]:
        """The selector's filters; an invalid value is dropped (the form shows its error)."""
        self.is_valid()
        cd = getattr(self, "cleaned_data", {})
        whose = cd.get("whose") or "me"
        filters: dict[str, Any] = {
            "status": cd.get("status") or TaskStatus.OPEN,
            "kind": cd.get("kind") or None,
            "overdue": bool(cd.get("overdue")),
            "due_from": cd.get("due_from"),
            "due_to": cd.get("due_to"),
            "q": cd.get("q") or None,
        }
        for key in ("deal", "contact", "company"):
            if cd.get(key):
                filters[key] = cd[key]
        if cd.get("owner"):
            filters["owner"] = cd["owner"]
        elif whose == "me" and not any(cd.get(k) for k in ("deal", "contact", "company")):
            filters["owner"] = "me"
        return filters
