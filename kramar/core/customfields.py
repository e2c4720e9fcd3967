"""Validation of custom field values against their definitions, used by every write path."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from kramar.core.errors import ValidationFailed
from kramar.core.models import CustomFieldDefinition


def custom_field_definitions(entity: str) -> list[CustomFieldDefinition]:
    return list(CustomFieldDefinition.objects.filter(entity=entity))


def custom_values_display(entity: str, custom: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """(label, value) of a record's filled custom fields in the definitions' order, for cards: yes/no for
    booleans, lists joined. Values of keys without a definition are not shown."""
    rows = []
    for d in custom_field_definitions(entity):
        value = (custom or {}).get(d.key)
        if value in (None, "", []):
            continue
        if isinstance(value, bool):
            value = _("Yes") if value else _("No")
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        rows.append((d.label, value))
    return rows


def _coerce(definition: CustomFieldDefinition, value: Any) -> Any:
    t = CustomFieldDefinition.FieldType
    if value in (None, "", []):
        return None
    if definition.field_type == t.TEXT:
        if not isinstance(value, str | int | float):
            raise ValueError(_("must be text"))
        return str(value)
    if definition.field_type == t.NUMBER:
        if isinstance(value, bool):
            raise ValueError(_("must be a number"))
        try:
            number = Decimal(str(value).replace(",", ".").strip())
        except InvalidOperation as exc:
            raise ValueError(_("must be a number")) from exc
        if not number.is_finite():
            raise ValueError(_("must be a number"))
        return int(number) if number == number.to_integral_value() else float(number)
    if definition.field_type == t.DATE:
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError as exc:
            raise ValueError(_("must be a date (YYYY-MM-DD)")) from exc
    if definition.field_type == t.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on", "так"}:
            return True
        if text in {"0", "false", "no", "off", "ні"}:
            return False
        raise ValueError(_("must be yes or no"))
    if definition.field_type == t.CHOICE:
        if str(value) not in definition.choices:
            raise ValueError(_("must be one of: %(choices)s") % {"choices": ", ".join(definition.choices)})
        return str(value)
    if definition.field_type == t.MULTI_CHOICE:
        values = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
        bad = [str(v) for v in values if str(v) not in definition.choices]
        if bad:
            raise ValueError(
                _("unknown choice %(bad)s; allowed: %(choices)s")
                % {"bad": ", ".join(bad), "choices": ", ".join(definition.choices)}
            )
        return [str(v) for v in values]
    raise ValueError(_("unsupported field type"))


def custom_fields_clean(
    *, entity: str, values: dict[str, Any] | None, current: dict[str, Any] | None = None, partial: bool = False,
    definitions: list[CustomFieldDefinition] | None = None,
) -> dict[str, Any]:
    """Return the cleaned custom values merged over `current`; raise ValidationFailed naming each bad key.

    Errors are keyed `custom.<key>`. Unknown keys are refused, wrong types are refused, required fields
    must hold a value after the merge.
    """
    if values is not None and not isinstance(values, dict):
        raise ValidationFailed({"custom": [_("must be an object of field keys to values")]})
    definitions = definitions if definitions is not None else custom_field_definitions(entity)
    by_key = {d.key: d for d in definitions}
    result = dict(current or {}) if partial else {}
    errors: dict[str, list[str]] = {}
    for key, value in (values or {}).items():
        definition = by_key.get(key)
        if definition is None:
            errors[f"custom.{key}"] = [_("unknown custom field")]
            continue
        try:
            cleaned = _coerce(definition, value)
        except ValueError as exc:
            errors[f"custom.{key}"] = [str(exc)]
            continue
        if cleaned is None:
            result.pop(key, None)
        else:
            result[key] = cleaned
    for definition in definitions:
        if definition.required and result.get(definition.key) in (None, "", []) and f"custom.{definition.key}" not in errors:
            errors[f"custom.{definition.key}"] = [_("this field is required")]
    if errors:
        raise ValidationFailed(errors)
    return result
