"""Writes to tags and custom field definitions (the API and the settings pages use them). Custom field definitions shape everyone's data, so only a superuser or a
user who may change *all* records of the entity may define or change them."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kramar.core import scopes
from kramar.core.audit import audit_record, diff, snapshot
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.models import AuditEntry, CustomFieldDefinition, Tag

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CHOICE_TYPES = {CustomFieldDefinition.FieldType.CHOICE, CustomFieldDefinition.FieldType.MULTI_CHOICE}


# ----------------------------------------------------------------------------------------- tags


class TagExists(DomainError):
    status = 409

    def __init__(self):
        super().__init__("tag_exists", _("A tag with this name already exists."), {"field": "name"})




@transaction.atomic
def tag_create(*, actor, name: str, color: str | None = None) -> Tag:
    """Create a tag (anyone who may create or change some client may tag). An existing name is a 409."""
    if not any(scopes.can(actor, e, a) for e in ("contact", "company") for a in ("create", "change")):
        raise PermissionDenied(_("You may not create tags."))
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 64:
        errors["name"] = [_("a tag name of 1 to 64 characters is required")]
    if color is not None and not COLOR_RE.match(color):
        errors["color"] = [_("must be a colour such as #1a2b3c")]
    if errors:
        raise ValidationFailed(errors)
    if Tag.objects.filter(name=name).exists():
        raise TagExists()
    try:
        with transaction.atomic():
            return Tag.objects.create(name=name, **({"color": color} if color else {}))
    except IntegrityError as exc:  # a concurrent create of the same name
        raise TagExists() from exc


# ----------------------------------------------------------------------------------------- custom fields






def custom_fields_may_define(actor, entity: str) -> bool:
    return bool(actor and actor.is_authenticated and actor.is_active) and (
        actor.is_superuser or scopes.scope_for(actor, entity, "change") >= scopes.ALL
    )


def _definition_clean(data: dict[str, Any], *, definition: CustomFieldDefinition | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if definition is None:
        if data.get("entity") not in CustomFieldDefinition.Entity.values:
            errors["entity"] = [
                _("must be one of: %(c)s") % {"c": ", ".join(CustomFieldDefinition.Entity.values)}
            ]
        else:
            values["entity"] = data["entity"]
        key = data.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            errors["key"] = [
                _("lower-case letters, digits and _, starting with a letter, up to 64 characters")
            ]
        else:
            values["key"] = key
        field_type = data.get("field_type", CustomFieldDefinition.FieldType.TEXT)
        if field_type not in CustomFieldDefinition.FieldType.values:
            errors["field_type"] = [
                _("must be one of: %(c)s") % {"c": ", ".join(CustomFieldDefinition.FieldType.values)}
            ]
        else:
            values["field_type"] = field_type
    if "label" in data or definition is None:
        label = (data.get("label") or "").strip()
        if not label or len(label) > 128:
            errors["label"] = [_("a label of 1 to 128 characters is required")]
        else:
            values["label"] = label
    if "choices" in data:
        choices = data["choices"] or []
        if not isinstance(choices, list) or not all(
            isinstance(c, str) and 0 < len(c) <= 128 for c in choices
        ):
            errors["choices"] = [_("must be a list of texts")]
        else:
            values["choices"] = list(dict.fromkeys(choices))
    for key in ("required",):
        if key in data:
            values[key] = bool(data[key])
    if "position" in data:
        position = data["position"]
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 32767:
            errors["position"] = [_("must be a whole number from 0 to 32767")]
        else:
            values["position"] = position
    field_type = values.get("field_type", definition.field_type if definition else None)
    choices = values.get("choices", definition.choices if definition else [])
    if field_type in CHOICE_TYPES and not choices and "field_type" not in errors:
        errors["choices"] = [_("a choice field needs at least one choice")]
    if errors:
        raise ValidationFailed(errors)
    return values


@transaction.atomic
def custom_field_definition_create(*, actor, data: dict[str, Any]) -> CustomFieldDefinition:
    values = _definition_clean(data, definition=None)
    if not custom_fields_may_define(actor, values["entity"]):
        raise PermissionDenied(_("Only administrators may define custom fields."))
    if CustomFieldDefinition.objects.filter(entity=values["entity"], key=values["key"]).exists():
        raise ValidationFailed({"key": [_("this key is already used for this entity")]})
    definition = CustomFieldDefinition.objects.create(**values)
    audit_record(
        actor=actor,
        action=AuditEntry.Action.CREATE,
        obj=definition,
        entity="custom_field",
        changes={k: [None, v] for k, v in snapshot(definition).items() if v not in (None, "", [])},
    )
    return definition


@transaction.atomic
def custom_field_definition_update(
    *, actor, definition: CustomFieldDefinition, data: dict[str, Any]
) -> CustomFieldDefinition:
    """Change the label, choices, required flag or position. The entity, key and type stay: stored
    values were validated against them."""
    if not custom_fields_may_define(actor, definition.entity):
        raise PermissionDenied(_("Only administrators may change custom fields."))
    definition = CustomFieldDefinition.objects.select_for_update().get(pk=definition.pk)
    values = _definition_clean(data, definition=definition)
    before = snapshot(definition)
    for key, value in values.items():
        setattr(definition, key, value)
    definition.save(update_fields=list(values) or None)
    changes = diff(before, snapshot(definition))
    if changes:
        audit_record(
            actor=actor,
            action=AuditEntry.Action.UPDATE,
            obj=definition,
            entity="custom_field",
            changes=changes,
        )
    return definition
