"""Input shape of the inline "log an interaction" form; the service validates the rest and saves."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kramar.core.customfields import custom_field_definitions
from kramar.core.errors import ValidationFailed
from kramar.core.models import CustomFieldDefinition
from kramar.history.models import Direction, Interaction

# Quick buttons above the timeline; the other channels are one pick away in the form's select.
QUICK_CHANNELS = ("call", "meeting", "letter", "note")
TIMED_CHANNELS = ("call", "meeting")  # the form asks for a duration only for these
CUSTOM_PREFIX = "custom__"
MAX_DURATION_MINUTES = 7 * 24 * 60

# Service error keys → form field names (anything else becomes a form-wide error).
SERVICE_FIELD_MAP = {
    "channel": "channel",
    "direction": "direction",
    "occurred_at": "occurred_at",
    "duration_seconds": "duration",
    "subject": "subject",
    "body": "body",
    "body_html": "body",
    "outcome": "outcome",
}


def _local_now() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


class InteractionForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=Interaction.Channel.choices)
    direction = forms.ChoiceField(
        label=_("Direction"), choices=Direction.choices, initial=Direction.OUTBOUND, required=False
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Leave empty for now."),
    )
    duration = forms.IntegerField(
        label=_("Duration, min"),
        required=False,
        min_value=0,
        max_value=MAX_DURATION_MINUTES,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 0, "step": 1}),
    )
    subject = forms.CharField(label=_("Subject"), required=False, max_length=255)
    body = forms.CharField(label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    # For a rich-text editor: the service sanitizes it with nh3 before it is stored.
    body_html = forms.CharField(required=False, widget=forms.HiddenInput)
    outcome = forms.CharField(label=_("Outcome"), required=False, max_length=255)
    attachment = forms.FileField(label=_("Attachment"), required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The "now" the form was opened with: left untouched, the interaction is logged at submit time.
    occurred_at_shown = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, instance: Interaction | None = None, **kwargs: Any):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "channel": instance.channel,
                "direction": instance.direction,
                "occurred_at": timezone.localtime(instance.occurred_at).strftime("%Y-%m-%dT%H:%M"),
                "duration": instance.duration_seconds // 60
                if instance.duration_seconds is not None
                else None,
                "subject": instance.subject,
                "body": instance.body,
                "outcome": instance.outcome,
                "version": instance.version,
                **{f"{CUSTOM_PREFIX}{k}": v for k, v in (instance.custom or {}).items()},
            }
        super().__init__(*args, **kwargs)
        if instance is None:
            now = _local_now()
            self.fields["occurred_at"].initial = now
            self.fields["occurred_at_shown"].initial = now
        self.fields["attachment"].help_text = _("Up to %(size)s.") % {
            "size": filesizeformat(settings.KRAMAR_MAX_ATTACHMENT_BYTES)
        }
        self.custom_definitions = custom_field_definitions("interaction")
        for definition in self.custom_definitions:
            self.fields[f"{CUSTOM_PREFIX}{definition.key}"] = _custom_form_field(definition)

    # ------------------------------------------------------------------------------ validation
    def clean_attachment(self):
        upload = self.cleaned_data.get("attachment")
        limit = settings.KRAMAR_MAX_ATTACHMENT_BYTES
        if upload is not None and upload.size > limit:
            raise forms.ValidationError(
                _("%(name)s is %(size)s; files up to %(limit)s can be attached."),
                code="too_large",
                params={
                    "name": upload.name,
                    "size": filesizeformat(upload.size),
                    "limit": filesizeformat(limit),
                },
            )
        return upload

    @property
    def custom_bound_fields(self):
        return [self[f"{CUSTOM_PREFIX}{d.key}"] for d in self.custom_definitions]

    def service_data(self) -> dict[str, Any]:
        """The cleaned form as the `data` dict of interaction_create / interaction_update."""
        cd = self.cleaned_data
        data: dict[str, Any] = {
            "channel": cd["channel"],
            "direction": cd["direction"]
            or (self.instance.direction if self.instance else Direction.OUTBOUND),
            "subject": cd["subject"],
            "body": cd["body"],
            "outcome": cd["outcome"],
        }
        untouched = self.instance is None and self.data.get("occurred_at") == cd.get("occurred_at_shown")
        if cd.get("occurred_at") and not untouched:
            data["occurred_at"] = cd["occurred_at"]
        elif self.instance is None:
            data["occurred_at"] = timezone.now()
        minutes = cd.get("duration")
        if minutes is None:
            if self.instance is None or "duration" in self.data:
                data["duration_seconds"] = None
        elif (
            self.instance is not None
            and self.instance.duration_seconds
            and minutes == self.instance.duration_seconds // 60
        ):
            data["duration_seconds"] = (
                self.instance.duration_seconds
            )  # keep the seconds the form did not show
        else:
            data["duration_seconds"] = minutes * 60
        if cd.get("body_html"):
            data["body_html"] = cd["body_html"]
        elif self.instance is not None and self.instance.body_html and cd["body"] != self.instance.body:
            data["body_html"] = ""  # the user rewrote the text: the old formatted copy no longer matches it
        if self.custom_definitions:
            data["custom"] = {d.key: cd.get(f"{CUSTOM_PREFIX}{d.key}") for d in self.custom_definitions}
        return data

    def add_service_errors(self, exc: ValidationFailed) -> None:
        """Show the service's field-level errors next to the matching inputs."""
        for key, messages in exc.errors.items():
            field = SERVICE_FIELD_MAP.get(key)
            if key.startswith("custom."):
                candidate = f"{CUSTOM_PREFIX}{key[len('custom.') :]}"
                field = candidate if candidate in self.fields else None
            for message in messages:
                if field and field in self.fields:
                    self.add_error(field, message)
                else:
                    self.add_error(None, message)


def _custom_form_field(definition: CustomFieldDefinition) -> forms.Field:
    t = CustomFieldDefinition.FieldType
    common: dict[str, Any] = {"label": definition.label, "required": False}
    if definition.field_type == t.NUMBER:
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if definition.field_type == t.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if definition.field_type == t.BOOLEAN:
        return forms.NullBooleanField(
            widget=forms.Select(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))]), **common
        )
    if definition.field_type == t.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *[(c, c) for c in definition.choices]], **common)
    if definition.field_type == t.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in definition.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    return forms.CharField(max_length=1000, **common)
