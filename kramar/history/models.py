"""The history of every contact with a client, on every channel: one timeline per client."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kramar.clients.choices import Channel
from kramar.core import scopes
from kramar.core.models import TimeStampedModel


class Direction(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")
    INTERNAL = "internal", _("Internal")


class InteractionQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        return scopes.restrict(self, user, action)

    def for_contact(self, contact_id: int):
        return self.filter(contact_id=contact_id)

    def for_company(self, company_id: int):
        return self.filter(company_id=company_id)


class Interaction(TimeStampedModel):
    """One call, e-mail, fax, letter, meeting, chat, web form, note or SMS.

    Scope follows the client: an interaction is in a user's scope when its contact or company is (or
    the user wrote it). Later modules link deals and conversations with their own foreign keys."""

    scope_entity = "interaction"
    Channel = Channel
    Direction = Direction

    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    direction = models.CharField(_("direction"), max_length=8, choices=Direction.choices, default=Direction.OUTBOUND)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    duration_seconds = models.PositiveIntegerField(_("duration, s"), null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True, help_text=_("Sanitized with nh3 before it is stored."))
    outcome = models.CharField(_("outcome"), max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    contact = models.ForeignKey(
        "clients.Contact", verbose_name=_("contact"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="interactions",
    )
    company = models.ForeignKey(
        "clients.Company", verbose_name=_("company"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="interactions",
    )
    deal = models.ForeignKey(
        "sales.Deal", verbose_name=_("deal"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="interactions",
    )
    external_id = models.CharField(  # noqa: DJ001 (NULL keeps the partial unique constraint simple)
        _("external id"), max_length=255, null=True, blank=True,
        help_text=_("Message-ID, call id … Ingesting the same item twice stores it once."),
    )
    version = models.PositiveIntegerField(default=1)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="history_inter_contact_idx"),
            models.Index(fields=["company", "-occurred_at"], name="history_inter_company_idx"),
            models.Index(fields=["-occurred_at", "-id"], name="history_inter_when_idx"),
            models.Index(fields=["user", "-occurred_at"], name="history_inter_user_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], condition=Q(external_id__isnull=False),
                name="history_interaction_external_uniq",
            ),
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(company__isnull=False), name="history_interaction_has_client"
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"{self.get_channel_display()} {self.occurred_at:%Y-%m-%d}"

    @staticmethod
    def scope_filter(user, scope: int) -> Q | None:
        if scope >= scopes.ALL:
            return None
        if scope == scopes.TEAM:
            teams = scopes.user_team_ids(user)
            return (
                Q(user_id=user.pk)
                | Q(contact__owner_id=user.pk) | Q(contact__team_id__in=teams)
                | Q(company__owner_id=user.pk) | Q(company__team_id__in=teams)
            )
        return Q(user_id=user.pk) | Q(contact__owner_id=user.pk) | Q(company__owner_id=user.pk)

    def scope_allows(self, user, scope: int) -> bool:
        if self.user_id == user.pk:
            return True
        teams = scopes.user_team_ids(user) if scope == scopes.TEAM else []
        for client in (self.contact, self.company):
            if client is None:
                continue
            if client.owner_id == user.pk or (client.team_id is not None and client.team_id in teams):
                return True
        return False


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{timezone.now():%Y/%m}/{filename}"


class Attachment(models.Model):
    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=500)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=128, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename
