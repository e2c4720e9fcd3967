"""The client base: companies, contacts (people), their links, contact points and addresses."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kramar.clients.choices import (
    AddressKind,
    Channel,
    ClientClass,
    CompanySize,
    Consent,
    LifecycleStage,
    PointKind,
    PointLabel,
)
from kramar.clients.querysets import ClientQuerySet
from kramar.core.models import ScopedRecord


class Company(ScopedRecord):
    scope_entity = "company"

    name = models.CharField(_("name"), max_length=255)
    legal_name = models.CharField(_("legal name"), max_length=255, blank=True)
    country = models.CharField(_("country"), max_length=2, default="UA")
    code = models.CharField(
        _("company code"), max_length=32, blank=True, db_index=True,
        help_text=_("EDRPOU (8 digits) or RNTRC of a sole proprietor (10 digits); another country's tax id."),
    )
    vat_number = models.CharField(_("VAT number"), max_length=32, blank=True)
    industry = models.CharField(_("industry"), max_length=128, blank=True)
    size = models.CharField(_("size"), max_length=16, choices=CompanySize.choices, blank=True, default="")
    website = models.URLField(_("website"), blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    source = models.CharField(_("source"), max_length=64, blank=True)
    client_class = models.CharField(
        _("client class"), max_length=1, choices=ClientClass.choices, blank=True, default="",
        help_text=_("A, B or C by value to the business; sets how long it may go without contact."),
    )
    last_contacted_at = models.DateTimeField(_("last contacted"), null=True, blank=True, editable=False)
    notes = models.TextField(_("notes"), blank=True)
    # Derived, maintained by services and bulk loaders: the folded search text and the name match key.
    search_text = models.TextField(editable=False, default="")
    name_key = models.CharField(max_length=255, editable=False, default="", db_index=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
        db_index=False,  # rarely queried; an index here misleads SQLite's planner on list pages
    )

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        indexes = [
            models.Index(fields=["owner", "name"], name="clients_company_owner_idx"),
            models.Index(fields=["team", "name"], name="clients_company_team_idx"),
            models.Index(fields=["updated_at"], name="clients_company_upd_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(ScopedRecord):
    scope_entity = "contact"

    first_name = models.CharField(_("first name"), max_length=128, blank=True)
    middle_name = models.CharField(_("middle name"), max_length=128, blank=True, help_text=_("Patronymic"))
    last_name = models.CharField(_("last name"), max_length=128, blank=True)
    position = models.CharField(_("position"), max_length=128, blank=True)
    primary_company = models.ForeignKey(
        Company, verbose_name=_("company"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="primary_contacts",
    )
    companies = models.ManyToManyField(
        Company, through="ContactCompany", related_name="contacts", verbose_name=_("companies"), blank=True
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True, default="uk")
    preferred_channel = models.CharField(_("preferred channel"), max_length=16, choices=Channel.choices, blank=True)
    messengers = models.JSONField(_("messengers"), default=dict, blank=True, help_text=_('e.g. {"telegram": "@name"}'))
    marketing_consent = models.CharField(
        _("marketing consent"), max_length=16, choices=Consent.choices, default=Consent.UNKNOWN
    )
    consent_changed_at = models.DateTimeField(_("consent changed"), null=True, blank=True)
    consent_method = models.CharField(_("consent obtained by"), max_length=128, blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    source = models.CharField(_("source"), max_length=64, blank=True)
    client_class = models.CharField(
        _("client class"), max_length=1, choices=ClientClass.choices, blank=True, default="",
        help_text=_("A, B or C by value to the business; sets how long it may go without contact."),
    )
    last_contacted_at = models.DateTimeField(_("last contacted"), null=True, blank=True, editable=False)
    notes = models.TextField(_("notes"), blank=True)
    search_text = models.TextField(editable=False, default="")
    name_key = models.CharField(max_length=255, editable=False, default="", db_index=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
        db_index=False,  # rarely queried; an index here misleads SQLite's planner on list pages
    )

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [
            models.Index(fields=["owner", "last_name"], name="clients_contact_owner_idx"),
            models.Index(fields=["team", "last_name"], name="clients_contact_team_idx"),
            models.Index(fields=["last_name", "first_name", "id"], name="clients_contact_name_idx"),
            models.Index(fields=["updated_at"], name="clients_contact_upd_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or f"#{self.pk}"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)


class ContactCompany(models.Model):
    """A person works for a company (one link per contact is primary)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="company_links")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="contact_links")
    position = models.CharField(_("position"), max_length=128, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "company"], name="clients_contactcompany_uniq")]
        verbose_name = _("works at")
        verbose_name_plural = _("works at")

    def __str__(self) -> str:
        return f"{self.contact_id} @ {self.company_id}"


class ContactPoint(models.Model):
    """An e-mail address or phone of a contact or a company. `normalized` (lower-cased e-mail or
    E.164) is the indexed match key for duplicates and inbound matching."""

    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="points")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.CASCADE, related_name="points")
    kind = models.CharField(_("kind"), max_length=8, choices=PointKind.choices)
    label = models.CharField(_("type"), max_length=8, choices=PointLabel.choices, default=PointLabel.WORK)
    value = models.CharField(_("value"), max_length=255)
    normalized = models.CharField(max_length=255)
    extension = models.CharField(_("extension"), max_length=16, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)
    bounced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_primary", "id"]
        indexes = [models.Index(fields=["kind", "normalized"], name="clients_point_key_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(contact__isnull=False) | models.Q(company__isnull=False),
                name="clients_point_has_owner",
            )
        ]
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")

    def __str__(self) -> str:
        return self.value


class Address(models.Model):
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="addresses")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(_("kind"), max_length=16, choices=AddressKind.choices, default=AddressKind.POSTAL)
    line = models.CharField(_("street address"), max_length=255, blank=True)
    city = models.CharField(_("city"), max_length=128, blank=True)
    region = models.CharField(_("region"), max_length=128, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=16, blank=True)
    country = models.CharField(_("country"), max_length=2, default="UA")

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")

    def __str__(self) -> str:
        return ", ".join(p for p in (self.line, self.city, self.region, self.postal_code, self.country) if p)


class MergeRecord(models.Model):
    """The journal of one merge: enough to undo it (what moved, what the survivor looked like)."""

    entity = models.CharField(max_length=16)  # contact | company
    survivor_id = models.BigIntegerField()
    loser_id = models.BigIntegerField()
    actor = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    survivor_before = models.JSONField(default=dict)
    moved = models.JSONField(default=dict)  # {"app_label.model.field": [pk, …]}
    removed = models.JSONField(default=dict)  # rows dropped as duplicates, with their data, to restore
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["entity", "survivor_id"], name="clients_merge_survivor_idx")]
        verbose_name = _("merge record")
        verbose_name_plural = _("merge records")

    def __str__(self) -> str:
        return f"{self.entity} {self.loser_id} → {self.survivor_id}"
