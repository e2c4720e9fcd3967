"""Reads of the shared catalogues: tags and custom field definitions."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from kramar.core.models import CustomFieldDefinition, Tag


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.all()


def custom_field_definition_list(*, entity: str | None = None) -> QuerySet[CustomFieldDefinition]:
    qs = CustomFieldDefinition.objects.all()
    return qs.filter(entity=entity) if entity else qs


def custom_field_definition_get(*, pk: int) -> CustomFieldDefinition:
    definition = CustomFieldDefinition.objects.filter(pk=pk).first()
    if definition is None:
        raise Http404("No such custom field")
    return definition
