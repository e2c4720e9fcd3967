"""Building blocks shared by every domain: base classes, tags, custom field definitions, the audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class ScopedRecord(TimeStampedModel):
    """A business record with an owner and a team (the basis of record scopes), a version (against
    lost updates), tags and validated custom field values."""

    scope_entity: str = ""  # key in RoleGrant.entity, set by subclasses

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    tags = models.ManyToManyField("core.Tag", verbose_name=_("tags"), blank=True, related_name="+")

    class Meta:
        abstract = True


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)
    color = models.CharField(_("colour"), max_length=7, default="#6c757d")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class CustomFieldDefinition(models.Model):
    class Entity(models.TextChoices):
        COMPANY = "company", _("Company")
        CONTACT = "contact", _("Contact")
        INTERACTION = "interaction", _("Interaction")
        DEAL = "deal", _("Deal")
        TASK = "task", _("Task")

    class FieldType(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")
        BOOLEAN = "boolean", _("Yes/no")

    entity = models.CharField(_("entity"), max_length=32, choices=Entity.choices)
    key = models.SlugField(_("key"), max_length=64, help_text=_("Name used in the API and in imports."))
    label = models.CharField(_("label"), max_length=128)
    field_type = models.CharField(_("type"), max_length=16, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(_("choices"), default=list, blank=True, help_text=_("Allowed values for choice fields."))
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveSmallIntegerField(pgettext_lazy("display order", "position"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["entity", "position", "key"]
        constraints = [models.UniqueConstraint(fields=["entity", "key"], name="core_customfield_entity_key_uniq")]
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")

    def __str__(self) -> str:
        return f"{self.entity}.{self.key}"


class AuditEntry(models.Model):
    """One create, update, delete, merge or unmerge of a business record, with the field-level diff."""

    class Action(models.TextChoices):
        CREATE = "create", _("created")
        UPDATE = "update", _("updated")
        DELETE = "delete", _("deleted")
        MERGE = "merge", _("merged")
        UNMERGE = "unmerge", _("merge undone")

    class Source(models.TextChoices):
        WEB = "web", _("web")
        API = "api", _("API")
        IMPORT = "import", _("import")
        SYSTEM = "system", _("system")
        DEMO = "demo", _("demo data")

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("who"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.SYSTEM)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    entity = models.CharField(_("entity"), max_length=32)  # e.g. "contact"
    object_id = models.BigIntegerField(_("object id"))
    object_repr = models.CharField(_("object"), max_length=255, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)  # {field: [old, new]}
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["entity", "object_id", "-created_at"], name="core_audit_object_idx")]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.action} {self.entity}#{self.object_id}"


class Notification(models.Model):
    """An in-app message to one user (a task reminder, a mention …), shown until read."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=32, default="info")
    text = models.CharField(_("text"), max_length=500)
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="core_notification_user_idx")]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return self.text


class OutgoingEmail(models.Model):
    """One outgoing e-mail in the outbox, stored exactly as it was decided when it was queued (the raw MIME
    bytes, the envelope sender and recipients), so a later change to its subject matter cannot change it and a
    failed send can be repeated byte for byte. Rows are never deleted by the sender: a message is pending until
    it is sent, and failed (still here, with its error) when retrying gave up. See `kramar.core.outbox`."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("e-mail status", "pending")
        SENDING = "sending", pgettext_lazy("e-mail status", "sending")
        SENT = "sent", pgettext_lazy("e-mail status", "sent")
        FAILED = "failed", pgettext_lazy("e-mail status", "failed")

    kind = models.CharField(_("kind"), max_length=32, help_text=_("What the e-mail is, e.g. task_reminder."))
    ref_entity = models.CharField(_("about (entity)"), max_length=32, blank=True)
    ref_id = models.BigIntegerField(_("about (object id)"), null=True, blank=True)
    sender = models.CharField(_("envelope sender"), max_length=320)
    recipients = models.JSONField(_("envelope recipients"), default=list)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    raw = models.BinaryField(_("message"), editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # pending: when the next attempt is due; sending: when an attempt still unfinished counts as interrupted
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the retry job: status = 'pending' AND next_attempt_at <= now (and 'sending' past its deadline)
            models.Index(fields=["status", "next_attempt_at"], name="core_outgoing_due_idx"),
            models.Index(fields=["ref_entity", "ref_id"], name="core_outgoing_ref_idx"),
        ]
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}: {self.subject}"
