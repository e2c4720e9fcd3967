"""Django admin for the sales configuration: currencies and rates, pipelines with their stages, stage rules
(checklists, playbooks), lost reasons, the product catalogue, targets and contact policies.

Deals are worked in the workstation and through the API, where scopes, stage rules, versions and the audit log
apply; the admin would bypass all of them, so they are not here."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from kramar.activities.choices import TaskKind
from kramar.core.admin import AuditedAdmin
from kramar.sales.models import (
    ChecklistItem,
    ContactPolicy,
    Currency,
    ExchangeRate,
    LostReason,
    Pipeline,
    PlaybookStep,
    Product,
    ProductPrice,
    SalesTarget,
    Stage,
)
from kramar.sales.rules import REQUIRED_FIELD_CHOICES


class ExchangeRateInline(admin.TabularInline):
    model = ExchangeRate
    extra = 1
    ordering = ["-date"]


@admin.register(Currency)
class CurrencyAdmin(AuditedAdmin):
    list_display = ["code", "name", "symbol", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    inlines = [ExchangeRateInline]


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = ["name", "position", "kind", "probability", "rotting_days"]
    show_change_link = True
    ordering = ["position", "id"]


@admin.register(Pipeline)
class PipelineAdmin(AuditedAdmin):
    list_display = ["name", "position", "is_default", "active"]
    list_editable = ["position", "is_default", "active"]
    inlines = [StageInline]


class StageForm(forms.ModelForm):
    """Entry rules as checkboxes instead of raw JSON."""

    required_fields = forms.MultipleChoiceField(
        label=_("required fields"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=list(REQUIRED_FIELD_CHOICES.items()),
    )
    required_activities = forms.MultipleChoiceField(
        label=_("required completed activities"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=TaskKind.choices,
    )

    class Meta:
        model = Stage
        fields = ["pipeline", "name", "position", "kind", "probability", "rotting_days", "required_fields",
                  "required_activities"]


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 1


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    extra = 1
    autocomplete_fields = ["assignee"]


@admin.register(Stage)
class StageAdmin(AuditedAdmin):
    form = StageForm
    list_display = ["name", "pipeline", "position", "kind", "probability", "rotting_days"]
    list_filter = ["pipeline", "kind"]
    list_select_related = ["pipeline"]
    ordering = ["pipeline", "position", "id"]
    inlines = [ChecklistItemInline, PlaybookStepInline]


@admin.register(LostReason)
class LostReasonAdmin(AuditedAdmin):
    list_display = ["name", "position", "active"]
    list_editable = ["position", "active"]


class ProductPriceInline(admin.TabularInline):
    model = ProductPrice
    extra = 1


@admin.register(Product)
class ProductAdmin(AuditedAdmin):
    list_display = ["sku", "name", "unit", "vat_rate", "active"]
    list_filter = ["active"]
    search_fields = ["sku", "name", "external_id"]
    inlines = [ProductPriceInline]


@admin.register(SalesTarget)
class SalesTargetAdmin(AuditedAdmin):
    list_display = ["user", "period_start", "period_end", "amount", "currency"]
    list_filter = ["period_start"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    date_hierarchy = "period_start"


@admin.register(ContactPolicy)
class ContactPolicyAdmin(AuditedAdmin):
    list_display = ["client_class", "max_days_without_contact"]
