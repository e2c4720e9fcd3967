"""Input shapes of the sales pages. Forms parse and check shape only; the services decide the rules and
report them with ValidationFailed, which `add_service_errors` puts on the fields."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kramar.accounts.models import Team, User
from kramar.core.forms import CustomFieldsFormMixin, custom_field_name, custom_initial
from kramar.core.models import Tag
from kramar.sales.choices import DealStatus
from kramar.sales.models import Currency, LostReason, Pipeline, Product, Stage

DATE_WIDGET = {"widget": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}


def _users():
    return User.objects.filter(is_active=True).order_by("last_name", "first_name", "username")


def _tags_parse(raw: str) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in (raw or "").split(",") if t.strip()))


class ServiceErrorsMixin:
    """Puts a ValidationFailed's {key: [messages]} on the matching form fields (else on the form)."""

    FIELD_ALIASES: dict[str, str] = {}

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            field = self.FIELD_ALIASES.get(key) or custom_field_name(key) or key
            if field.endswith("_id") and field[:-3] in self.fields:
                field = field[:-3]
            for message in messages:
                if field in self.fields:
                    self.add_error(field, message)
                else:
                    self.add_error(None, f"{key}: {message}")


# ---------------------------------------------------------------------------------------- filters

PERIODS = [
    ("", _("Any close date")),
    ("overdue", _("Overdue")),
    ("this_month", _("This month")),
    ("next_month", _("Next month")),
    ("this_quarter", _("This quarter")),
    ("custom", _("Dates below")),
]


def period_bounds(period: str, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """(close_from, close_to) of a named close period."""
    if period == "overdue":
        return None, today - dt.timedelta(days=1)
    if period == "this_month":
        return today.replace(day=1), today.replace(day=calendar.monthrange(today.year, today.month)[1])
    if period == "next_month":
        first = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if period == "this_quarter":
        start_month = (today.month - 1) // 3 * 3 + 1
        end_month = start_month + 2
        return (
            dt.date(today.year, start_month, 1),
            dt.date(today.year, end_month, calendar.monthrange(today.year, end_month)[1]),
        )
    return None, None


class BoardFilterForm(forms.Form):
    """The filters of the pipeline board (GET parameters)."""

    owner = forms.ChoiceField(label=_("Owner"), required=False)
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("Any team")
    )
    period = forms.ChoiceField(label=_("Close date"), choices=PERIODS, required=False)
    close_from = forms.DateField(label=_("Closes from"), required=False, **DATE_WIDGET)
    close_to = forms.DateField(label=_("Closes by"), required=False, **DATE_WIDGET)
    tag = forms.CharField(
        label=_("Tag"), required=False, max_length=64, widget=forms.TextInput(attrs={"list": "kr-tag-names"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.users = list(_users())
        self.fields["owner"].choices = [
            ("", _("Any owner")),
            ("me", _("Me")),
            *[(str(u.pk), str(u)) for u in self.users],
        ]
        self.fields["team"].queryset = Team.objects.order_by("name")

    def filters(self) -> dict[str, Any]:
        """The selector's filters; invalid input is dropped (the form shows its errors)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        cd = getattr(self, "cleaned_data", {})
        filters: dict[str, Any] = {}
        owner = cd.get("owner")
        if owner == "me":
            filters["owner"] = "me"
        elif owner:
            filters["owner"] = int(owner)
        if cd.get("team"):
            filters["team"] = cd["team"].pk
        close_from, close_to = period_bounds(cd.get("period") or "", timezone.localdate())
        close_from = cd.get("close_from") or close_from
        close_to = cd.get("close_to") or close_to
        if close_from:
            filters["close_from"] = close_from
        if close_to:
            filters["close_to"] = close_to
        if (cd.get("tag") or "").strip():
            filters["tag"] = cd["tag"].strip()
        return filters


class DealListFilterForm(BoardFilterForm):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    pipeline = forms.ModelChoiceField(
        label=_("Pipeline"), queryset=Pipeline.objects.none(), required=False, empty_label=_("Any pipeline")
    )
    stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.none(), required=False, empty_label=_("Any stage")
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *DealStatus.choices]
    )
    field_order = ["q", "pipeline", "stage", "status", "owner", "team", "period", "close_from", "close_to", "tag"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].queryset = Pipeline.objects.filter(active=True).order_by("position", "id")
        stages = Stage.objects.filter(pipeline__active=True).select_related("pipeline")
        self.fields["stage"].queryset = stages.order_by("pipeline__position", "pipeline_id", "position", "id")
        self.fields["stage"].label_from_instance = lambda s: f"{s.pipeline.name}: {s.name}"

    def filters(self) -> dict[str, Any]:
        filters = super().filters()
        cd = getattr(self, "cleaned_data", {})
        if (cd.get("q") or "").strip():
            filters["q"] = cd["q"].strip()
        if cd.get("pipeline"):
            filters["pipeline"] = cd["pipeline"].pk
        if cd.get("stage"):
            filters["stage"] = cd["stage"].pk
        if cd.get("status"):
            filters["status"] = cd["status"]
        return filters


# ---------------------------------------------------------------------------------------- deals


class DealForm(CustomFieldsFormMixin, ServiceErrorsMixin, forms.Form):
    entity = "deal"
    FIELD_ALIASES = {"contact_ids": "contact_ids", "stage_id": "stage", "pipeline_id": "pipeline"}

    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    title = forms.CharField(label=_("Title"), max_length=255)
    pipeline = forms.ModelChoiceField(label=_("Pipeline"), queryset=Pipeline.objects.none())
    stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.none(), required=False,
        help_text=_("Empty: the first stage of the pipeline."),
    )
    company = forms.IntegerField(label=_("Company"), required=False, widget=forms.HiddenInput)
    contact_ids = forms.TypedMultipleChoiceField(label=_("Contacts"), required=False, coerce=int, choices=())
    amount = forms.DecimalField(
        label=_("Amount"), required=False, max_digits=18, decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    currency = forms.ModelChoiceField(label=_("Currency"), queryset=Currency.objects.none(), to_field_name="code")
    expected_close_date = forms.DateField(label=_("Expected close date"), required=False, **DATE_WIDGET)
    source = forms.CharField(label=_("Source"), required=False, max_length=64)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separated by commas."),
        widget=forms.TextInput(attrs={"list": "kr-tag-names"}),
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.conflict: int | bool = False
        self.fields["pipeline"].queryset = Pipeline.objects.filter(active=True).order_by("position", "id")
        stages = Stage.objects.filter(pipeline__active=True).select_related("pipeline")
        self.fields["stage"].queryset = stages.order_by("pipeline__position", "pipeline_id", "position", "id")
        self.fields["stage"].label_from_instance = lambda s: f"{s.pipeline.name}: {s.name}"
        self.fields["currency"].queryset = Currency.objects.filter(active=True).order_by("code")
        self.fields["owner"].queryset = _users()
        self.fields["team"].queryset = Team.objects.order_by("name")
        # Contact ids are checked against the actor's scope by the service; any id passes the shape check.
        raw = self.data.getlist("contact_ids") if hasattr(self.data, "getlist") else []
        self.fields["contact_ids"].choices = [(str(v), str(v)) for v in raw if str(v).isdigit()]
        if editing:  # the stage moves through the stage control, which applies the rules
            del self.fields["stage"]
            self.fields["pipeline"].disabled = True
        self.custom_fields_add()

    def tag_names(self) -> list[str]:
        return list(Tag.objects.order_by("name").values_list("name", flat=True)[:300])

    def clean_amount(self):
        amount = self.cleaned_data.get("amount")
        if amount is not None and amount < 0:
            raise forms.ValidationError(_("The amount cannot be negative."))
        return amount

    def clean(self):
        cd = super().clean()
        stage, pipeline = cd.get("stage"), cd.get("pipeline")
        if stage and pipeline and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", _("This stage belongs to another pipeline."))
        return cd

    def to_data(self) -> dict[str, Any]:
        cd = self.cleaned_data
        data: dict[str, Any] = {
            "title": cd["title"].strip(),
            "company_id": cd.get("company") or None,
            "contact_ids": list(dict.fromkeys(cd.get("contact_ids") or [])),
            "amount": cd["amount"] if cd.get("amount") is not None else Decimal("0"),
            "currency": cd["currency"].code,
            "expected_close_date": cd.get("expected_close_date"),
            "source": cd.get("source") or "",
            "description": cd.get("description") or "",
            "tags": _tags_parse(cd.get("tags") or ""),
            "custom": self.custom_data(),
        }
        if not self.editing:
            data["pipeline_id"] = cd["pipeline"].pk
            if cd.get("stage"):
                data["stage_id"] = cd["stage"].pk
        if cd.get("owner"):
            data["owner_id"] = cd["owner"].pk
        if cd.get("team"):
            data["team_id"] = cd["team"].pk
        return data

    @staticmethod
    def initial_for(deal) -> dict[str, Any]:
        return {
            "version": deal.version,
            "title": deal.title,
            "pipeline": deal.pipeline_id,
            "company": deal.company_id,
            "amount": deal.amount,
            "currency": deal.currency_id,
            "expected_close_date": deal.expected_close_date,
            "source": deal.source,
            "description": deal.description,
            "owner": deal.owner_id,
            "team": deal.team_id,
            "tags": ", ".join(t.name for t in deal.tags.all()),
            **custom_initial(deal.custom),
        }


class DealStageForm(forms.Form):
    """A move of one deal to a stage (board drag and drop, the card's stage control)."""

    stage = forms.ModelChoiceField(label=_("Stage"), queryset=Stage.objects.none())
    version = forms.IntegerField(required=False, min_value=1)
    lost_reason = forms.ModelChoiceField(
        label=_("Lost reason"), queryset=LostReason.objects.none(), required=False,
        empty_label=_("Choose a reason…"),
    )
    lost_note = forms.CharField(label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea)

    def __init__(self, *args, deal=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Any stage is accepted here: a stage of another pipeline is the service's clear "wrong pipeline".
        self.fields["stage"].queryset = Stage.objects.select_related("pipeline")
        self.fields["lost_reason"].queryset = LostReason.objects.filter(active=True).order_by("position", "name")
        self.deal = deal


class DealLineForm(forms.Form):
    product = forms.ModelChoiceField(
        label=_("Product"), queryset=Product.objects.none(), required=False, empty_label=_("— no product —")
    )
    description = forms.CharField(label=_("Description"), required=False, max_length=255)
    quantity = forms.DecimalField(
        label=_("Quantity"), max_digits=14, decimal_places=3, min_value=Decimal("0.001"), initial=Decimal("1"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}),
    )
    unit_price = forms.DecimalField(
        label=_("Unit price"), required=False, max_digits=18, decimal_places=2, min_value=Decimal("0"),
        help_text=_("Empty: the product's list price."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 8}),
    )
    discount_percent = forms.DecimalField(
        label=_("Discount, %"), required=False, max_digits=5, decimal_places=2, min_value=Decimal("0"),
        max_value=Decimal("100"), widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 4}),
    )
    vat_rate = forms.DecimalField(
        label=_("VAT, %"), required=False, max_digits=5, decimal_places=2, min_value=Decimal("0"),
        max_value=Decimal("100"), widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 4}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(active=True).order_by("name")

    def clean(self):
        cd = super().clean()
        if not cd.get("product") and not (cd.get("description") or "").strip():
            if not self.has_changed():
                return cd
            self.add_error("description", _("Choose a product or describe the line."))
        if not cd.get("product") and cd.get("unit_price") is None and "unit_price" not in self.errors:
            self.add_error("unit_price", _("A line without a product needs a unit price."))
        return cd

    def to_line(self) -> dict[str, Any]:
        cd = self.cleaned_data
        line: dict[str, Any] = {"quantity": cd["quantity"], "description": (cd.get("description") or "").strip()}
        if cd.get("product"):
            line["product_id"] = cd["product"].pk
        for key in ("unit_price", "discount_percent", "vat_rate"):
            if cd.get(key) is not None:
                line[key] = cd[key]
        return line


class BaseDealLineFormSet(forms.BaseFormSet):
    def lines(self) -> list[dict[str, Any]]:
        out = []
        for form in self.forms:
            if not form.has_changed() or (self.can_delete and form.cleaned_data.get("DELETE")):
                continue
            out.append(form.to_line())
        return out


DealLineFormSet = forms.formset_factory(
    DealLineForm, formset=BaseDealLineFormSet, extra=2, can_delete=True, max_num=200, validate_max=True
)


class DealBulkForm(forms.Form):
    ACTIONS = [("tag", _("Add tag")), ("owner", _("Change owner"))]

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    action = forms.ChoiceField(choices=ACTIONS)
    tag = forms.CharField(required=False, max_length=64)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    back = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in raw if str(v).isdigit()]
        self.fields["ids"].error_messages["required"] = _("Select at least one deal.")
        self.fields["owner"].queryset = User.objects.filter(is_active=True)

    def clean(self):
        cd = super().clean()
        if cd.get("action") == "tag" and not (cd.get("tag") or "").strip():
            self.add_error("tag", _("Name the tag."))
        if cd.get("action") == "owner" and not cd.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        return cd


# ---------------------------------------------------------------------------------------- products

PRICE_PREFIX = "price_"


class ProductForm(ServiceErrorsMixin, forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=255)
    unit = forms.CharField(label=_("Unit"), max_length=16, initial="pcs")
    vat_rate = forms.DecimalField(
        label=_("VAT rate, %"), max_digits=5, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("100"),
        initial=Decimal("20.00"),
    )
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.currencies = list(Currency.objects.filter(active=True).order_by("code"))
        for c in self.currencies:
            self.fields[PRICE_PREFIX + c.code] = forms.DecimalField(
                label=_("Price, %(code)s") % {"code": c.code}, required=False, max_digits=18, decimal_places=2,
                min_value=Decimal("0"), widget=forms.TextInput(attrs={"inputmode": "decimal"}),
            )

    def price_fields(self):
        return [self[PRICE_PREFIX + c.code] for c in self.currencies]

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        mapped = {}
        for key, messages in errors.items():
            if key.startswith("prices.") or key.startswith("prices["):
                code = key.replace("prices[", "prices.").rstrip("]").split(".", 1)[1]
                key = PRICE_PREFIX + code
            mapped[key] = messages
        super().add_service_errors(mapped)

    def to_data(self) -> dict[str, Any]:
        cd = self.cleaned_data
        data = {k: cd.get(k) for k in ("sku", "name", "unit", "vat_rate", "description", "active")}
        data["sku"] = data["sku"].strip()
        data["prices"] = {
            c.code: cd[PRICE_PREFIX + c.code] for c in self.currencies if cd.get(PRICE_PREFIX + c.code) is not None
        }
        return data

    @staticmethod
    def initial_for(product) -> dict[str, Any]:
        initial = {k: getattr(product, k) for k in ("sku", "name", "unit", "vat_rate", "description", "active")}
        for p in product.prices.all():
            initial[PRICE_PREFIX + p.currency_id] = p.price
        return initial
