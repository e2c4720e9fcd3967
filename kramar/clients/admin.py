"""Django admin for the client base: only the merge journal, read only.

Contacts and companies are edited in the workstation, where record scopes, validation, duplicate
checks and the audit log apply; the admin would bypass all of them."""

from __future__ import annotations

from django.contrib import admin

from kramar.clients.models import MergeRecord
from kramar.core.admin import ReadOnlyAdmin


@admin.register(MergeRecord)
class MergeRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "entity", "survivor_id", "loser_id", "actor", "undone_at"]
    list_filter = ["entity"]
    list_select_related = ["actor"]
    search_fields = ["=survivor_id", "=loser_id"]
    readonly_fields = [f.name for f in MergeRecord._meta.fields]
