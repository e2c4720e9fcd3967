"""Django admin for users, teams, roles (with their grants) and API tokens."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kramar.accounts.models import ApiToken, Membership, Role, RoleGrant, Team, User
from kramar.accounts.services import api_token_revoke
from kramar.core.admin import AuditedAdmin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["team"]
    verbose_name = _("team membership")
    verbose_name_plural = _("team memberships")


class TeamMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    verbose_name = _("member")
    verbose_name_plural = _("members")


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    audit_masked = ("password",)
    list_display = ["username", "first_name", "last_name", "email", "language", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "is_superuser", "roles", "teams"]
    filter_horizontal = ["roles", "groups", "user_permissions"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (_("Person"), {"fields": ["first_name", "last_name", "email", "phone", "language"]}),
        (
            _("Access in Kramar"),
            {
                "fields": ["is_active", "roles"],
                "description": _(
                    "Roles decide what the user may see and do: own, own team's or all records."
                ),
            },
        ),
        (
            _("Django admin access"),
            {"classes": ["collapse"], "fields": ["is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"classes": ["collapse"], "fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "language",
                    "password1",
                    "password2",
                ],
            },
        ),
    ]


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    extra = 0
    fields = ["entity", "action", "scope"]
    ordering = ["entity", "action"]


@admin.register(Role)
class RoleAdmin(AuditedAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]
    inlines = [RoleGrantInline]


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    audit_masked = ("digest",)
    """Tokens are created by their owners on the profile page (the plain token is shown only there);
    the admin lists them and can revoke them."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        n = sum(api_token_revoke(user=t.user, token_id=t.pk) for t in queryset.select_related("user"))
        self.message_user(
            request, ngettext("%(n)d token revoked.", "%(n)d tokens revoked.", n) % {"n": n}, messages.SUCCESS
        )
