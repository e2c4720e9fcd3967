"""Django admin for settings that live in core: tags, custom field definitions, and the audit log
(read only: the log is written by the services and never edited)."""

from __future__ import annotations

from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.translation import gettext_lazy as _

from kramar.core.models import AuditEntry, CustomFieldDefinition, Tag

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: the admin's exact COUNT(*) is slow over millions of rows."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if hasattr(qs, "order_by"):
            return qs.order_by().values("pk")[: COUNT_CAP + 1].count()
        return len(qs)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: rows are written by the services (with audit), never through the admin."""

    paginator = CappedPaginator
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "color", "created_at"]
    search_fields = ["name"]
    ordering = ["name"]


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["label", "entity", "key", "field_type", "required", "position"]
    list_filter = ["entity", "field_type", "required"]
    list_editable = ["position"]
    search_fields = ["key", "label"]
    ordering = ["entity", "position", "key"]
    fieldsets = [
        (None, {"fields": ["entity", "key", "label", "field_type", "required", "position"]}),
        (
            _("Choices"),
            {"fields": ["choices"], "description": _('For choice fields, a JSON list such as ["A", "B"].')},
        ),
    ]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "source", "entity", "object_id", "object_repr"]
    list_filter = ["action", "source", "entity"]
    list_select_related = ["actor"]
    search_fields = ["=object_id", "object_repr"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    ordering = ["-created_at", "-id"]
