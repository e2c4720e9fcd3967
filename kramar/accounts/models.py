"""Users, teams (departments), memberships, roles with their grants, and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    class Kind(models.TextChoices):
        SALES = "sales", _("Sales")
        MARKETING = "marketing", _("Marketing")
        SERVICE = "service", _("Service")
        ACCOUNTING = "accounting", _("Accounting")
        MANAGEMENT = "management", _("Management")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=128, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.SALES)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A named set of grants: per entity, per action, a scope (own, team, all)."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.name


class RoleGrant(models.Model):
    class Entity(models.TextChoices):
        COMPANY = "company", _("Companies")
        CONTACT = "contact", _("Contacts")
        INTERACTION = "interaction", _("Interactions")
        DEAL = "deal", _("Deals")
        TASK = "task", _("Tasks")
        PRODUCT = "product", _("Products")
        CONVERSATION = "conversation", _("Conversations")

    class Action(models.TextChoices):
        VIEW = "view", _("view")
        CREATE = "create", _("create")
        CHANGE = "change", _("edit")
        DELETE = "delete", _("delete")
        EXPORT = "export", _("export")

    class Scope(models.IntegerChoices):
        # Ordered: a wider scope has a larger number, so the widest grant wins.
        OWN = 1, _("own records")
        TEAM = 2, _("own team's records")
        ALL = 3, _("all records")

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="grants", verbose_name=_("role"))
    entity = models.CharField(_("entity"), max_length=32, choices=Entity.choices)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    scope = models.PositiveSmallIntegerField(_("scope"), choices=Scope.choices, default=Scope.OWN)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "entity", "action"], name="accounts_rolegrant_uniq")
        ]
        verbose_name = _("grant")
        verbose_name_plural = _("grants")

    def __str__(self) -> str:
        return f"{self.role}: {self.action} {self.entity} ({self.get_scope_display()})"


class User(AbstractUser):
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    teams = models.ManyToManyField(Team, through="Membership", related_name="members", verbose_name=_("teams"))
    roles = models.ManyToManyField(Role, blank=True, related_name="users", verbose_name=_("roles"))

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    is_lead = models.BooleanField(_("team lead"), default=False)
    is_primary = models.BooleanField(_("primary team"), default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="accounts_membership_uniq")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 digest is stored; the token is shown once on creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=64)
    prefix = models.CharField(_("prefix"), max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
