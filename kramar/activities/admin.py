"""Django admin for activities: calendar feeds only, read only (an administrator can see and delete them to revoke
a leaked URL). Tasks are edited in the workstation, where scopes, validation, versions and the audit log apply."""

from __future__ import annotations

from django.contrib import admin

from kramar.activities.models import CalendarFeed
from kramar.core.admin import ReadOnlyAdmin


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdmin):
    list_display = ["user", "prefix", "include_team", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "prefix"]
    readonly_fields = ["user", "prefix", "include_team", "created_at", "last_used_at"]
    exclude = ["digest"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser
