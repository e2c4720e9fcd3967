"""Form pieces shared by every web form of a record with custom fields (contacts, companies, deals, tasks).

`CustomFieldsFormMixin` adds one form field per CustomFieldDefinition of the form's `entity`, turns the
cleaned values into the `data["custom"]` the services validate (`custom_fields_clean`), maps their errors
keyed `custom.<key>` back to the fields, and fills the form from a record's stored values. Forms never save.
Templates: `core/_custom_fields.html` (the form's fieldset) and `core/_custom_values.html` (the card's list).
"""

from __future__ import annotations

from typing import Any

from django import forms

from kramar.core.customfields import custom_field_definitions
from kramar.core.models import CustomFieldDefinition

CUSTOM_PREFIX = "custom__"
_EMPTY = (None, "", [])


def custom_form_field(d: CustomFieldDefinition) -> forms.Field:
    """The form field of one definition. "Required" stays the service's rule (it reports every missing value
    at once, with the other errors); the field only shows it: the HTML attribute, and `required_mark` for the
    label."""
    t = CustomFieldDefinition.FieldType
    common: dict[str, Any] = {"label": d.label, "required": False}
    attrs = {"required": True} if d.required else {}
    if d.field_type == t.DATE:
        field: forms.Field = forms.DateField(
            widget=forms.DateInput(attrs={"type": "date", **attrs}, format="%Y-%m-%d"), **common
        )
    elif d.field_type == t.NUMBER:
        field = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal", **attrs}), **common)
    elif d.field_type == t.CHOICE:
        field = forms.ChoiceField(
            choices=[("", "—"), *[(c, c) for c in d.choices]], widget=forms.Select(attrs=attrs), **common
        )
    elif d.field_type == t.MULTI_CHOICE:  # a required attribute on each checkbox would ask for all of them
        field = forms.MultipleChoiceField(
            choices=[(c, c) for c in d.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    elif d.field_type == t.BOOLEAN:  # "unknown" is a value of the select: the attribute would mean nothing
        field = forms.NullBooleanField(widget=forms.NullBooleanSelect, **common)
    else:
        field = forms.CharField(max_length=1000, widget=forms.TextInput(attrs=attrs), **common)
    field.required_mark = d.required  # type: ignore[attr-defined]  # read by clients/_field.html
    return field


def custom_field_name(key: str) -> str | None:
    """The form field of a service error key "custom.<key>"; None for any other key."""
    return CUSTOM_PREFIX + key.split(".", 1)[1] if key.startswith("custom.") else None


def custom_initial(custom: dict[str, Any] | None) -> dict[str, Any]:
    """A record's stored custom values as form initial data (keys without a form field are simply unused)."""
    return {CUSTOM_PREFIX + key: value for key, value in (custom or {}).items()}


class CustomFieldsFormMixin:
    """For a `forms.Form` whose `entity` is a CustomFieldDefinition.Entity value. Call `custom_fields_add()`
    in `__init__` after `super().__init__`, put `custom_data()` in the service data as "custom", and send the
    service's `custom.<key>` errors to `custom_field_name(key)`.

    Only the fields shown are sent, and the services merge them over the stored values on update, so values of
    keys the form does not show (a definition deleted since, an import's extra key) are kept."""

    entity = ""
    definitions: list[CustomFieldDefinition]
    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def custom_fields_add(self, definitions: list[CustomFieldDefinition] | None = None) -> None:
        self.definitions = definitions if definitions is not None else custom_field_definitions(self.entity)
        for d in self.definitions:
            self.fields[CUSTOM_PREFIX + d.key] = custom_form_field(d)

    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[CUSTOM_PREFIX + d.key] for d in self.definitions]  # type: ignore[index]

    def custom_data(self) -> dict[str, Any]:
        """The cleaned values of the fields shown, by definition key; empty is None (the service drops it)."""
        custom: dict[str, Any] = {}
        for d in self.definitions:
            value = self.cleaned_data.get(CUSTOM_PREFIX + d.key)
            if d.field_type == CustomFieldDefinition.FieldType.DATE and value:
                value = value.isoformat()
            custom[d.key] = value if value not in _EMPTY else None
        return custom
