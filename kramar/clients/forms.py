"""Input shape of the web forms for contacts and companies. Forms never save: the views pass
`form.to_data()` to the services, and map the services' field-keyed errors back with `add_service_errors`."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kramar.accounts.models import Team, User
from kramar.clients.choices import Channel, CompanySize, Consent, LifecycleStage, PointLabel
from kramar.clients.models import Company, Contact
from kramar.core.forms import CustomFieldsFormMixin, custom_field_name, custom_initial
from kramar.core.models import CustomFieldDefinition, Tag

_POINT_KEY = re.compile(r"^(emails|phones)\[(\d+)\](?:\.\w+)?$")
_LABEL_LINE = re.compile(r"^\s*(" + "|".join(PointLabel.values) + r")\s*:\s*(.+)$", re.IGNORECASE)
ADDRESS_KEYS = ("line", "city", "region", "postal_code")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def points_parse(text: str) -> list[dict[str, Any]]:
    """One contact point a line, optionally prefixed with its type: "mobile: +380 67 123 45 67".
    The first line is the primary one."""
    items = []
    for i, line in enumerate(_lines(text)):
        m = _LABEL_LINE.match(line)
        item: dict[str, Any] = (
            {"value": m.group(2).strip(), "label": m.group(1).lower()} if m else {"value": line}
        )
        item["is_primary"] = i == 0
        items.append(item)
    return items


def points_format(points, kind: str) -> str:
    default = PointLabel.MOBILE if kind == "phone" else PointLabel.WORK
    rows = []
    for p in points:
        if p.kind != kind:
            continue
        value = p.value + (f" ext. {p.extension}" if p.extension and p.extension not in p.value else "")
        rows.append(value if p.label == default else f"{p.label}: {value}")
    return "\n".join(rows)


class ClientForm(CustomFieldsFormMixin, forms.Form):
    """Fields shared by contacts and companies: contact points, tags, address, owner and team,
    custom fields (built from CustomFieldDefinition) and the version for optimistic locking."""

    entity = ""
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    emails = forms.CharField(
        label=_("E-mail addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "One a line; the first is the main one. Optionally prefix a type: “home: name@example.com”."
        ),
    )
    phones = forms.CharField(
        label=_("Phones"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One a line, e.g. “067 123 45 67” or “work: +380 44 123 45 67”."),
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        help_text=_("Separated by commas."),
        widget=forms.TextInput(attrs={"list": "kr-tag-names"}),
    )
    address_line = forms.CharField(label=_("Street address"), required=False, max_length=255)
    address_city = forms.CharField(label=_("City"), required=False, max_length=128)
    address_region = forms.CharField(label=_("Region"), required=False, max_length=128)
    address_postal_code = forms.CharField(label=_("Postal code"), required=False, max_length=16)
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Leave empty to keep the owner (a new record is yours)."),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.none(),
        required=False,
        help_text=_("Leave empty to follow the owner's team."),
    )
    allow_duplicates = forms.BooleanField(label=_("Save anyway: this is not a duplicate"), required=False)

    def __init__(self, *args, definitions: list[CustomFieldDefinition] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.duplicates: dict | None = None  # set by the view when the service reports possible duplicates
        self.conflict: int | bool = False  # set by the view on a version conflict
        self.fields["owner"].queryset = User.objects.filter(is_active=True).order_by(
            "last_name", "first_name", "username"
        )
        self.fields["team"].queryset = Team.objects.order_by("name")
        self.custom_fields_add(definitions)

    # ----------------------------------------------------------------------------- for templates
    def tag_names(self) -> list[str]:
        return list(Tag.objects.order_by("name").values_list("name", flat=True)[:300])

    # ----------------------------------------------------------------------------- to the services
    def _common_data(self) -> dict[str, Any]:
        cd = self.cleaned_data
        data: dict[str, Any] = {
            "emails": points_parse(cd.get("emails", "")),
            "phones": points_parse(cd.get("phones", "")),
            "tags": [t.strip() for t in (cd.get("tags") or "").split(",") if t.strip()],
            "address": {k: cd.get(f"address_{k}", "") for k in ADDRESS_KEYS},
        }
        if cd.get("owner"):  # empty: unchanged (on create the service makes the actor the owner)
            data["owner_id"] = cd["owner"].pk
        if cd.get("team"):
            data["team_id"] = cd["team"].pk
        data["custom"] = self.custom_data()
        return data

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put the errors of a ValidationFailed (keyed "emails[0]", "code", "custom.segment", …) on fields."""
        for key, messages in errors.items():
            field, prefix = self._field_for(key)
            for message in messages:
                message = f"{prefix}{message}"
                if field and field in self.fields:
                    if field not in self.errors or message not in self.errors[field]:
                        self.add_error(field, message)
                else:
                    self.add_error(None, f"{key}: {message}")

    def _field_for(self, key: str) -> tuple[str | None, str]:
        m = _POINT_KEY.match(key)
        if m:
            return m.group(1), gettext("line %(n)d: ") % {"n": int(m.group(2)) + 1}
        if custom := custom_field_name(key):
            return custom, ""
        if key in ADDRESS_KEYS:
            return f"address_{key}", ""
        return {"owner_id": "owner", "team_id": "team"}.get(key, key), ""

    # ----------------------------------------------------------------------------- from a record
    @staticmethod
    def initial_from(obj) -> dict[str, Any]:
        points = list(obj.points.all())
        address = obj.addresses.order_by("id").first()
        initial = {
            "version": obj.version,
            "emails": points_format(points, "email"),
            "phones": points_format(points, "phone"),
            "tags": ", ".join(t.name for t in obj.tags.all()),
            "owner": obj.owner_id,
            "team": obj.team_id,
        }
        if address:
            initial.update({f"address_{k}": getattr(address, k) for k in ADDRESS_KEYS})
        initial.update(custom_initial(obj.custom))
        return initial


class ContactForm(ClientForm):
    entity = "contact"
    field_order = ["first_name", "middle_name", "last_name", "position"]

    first_name = forms.CharField(label=_("First name"), required=False, max_length=128)
    middle_name = forms.CharField(label=_("Middle name (patronymic)"), required=False, max_length=128)
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=128)
    position = forms.CharField(label=_("Position"), required=False, max_length=128)
    company_ids = forms.TypedMultipleChoiceField(label=_("Companies"), required=False, coerce=int, choices=())
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=LifecycleStage.choices, initial=LifecycleStage.LEAD
    )
    preferred_channel = forms.ChoiceField(
        label=_("Preferred channel"), choices=[("", "—"), *Channel.choices], required=False
    )
    marketing_consent = forms.ChoiceField(
        label=_("Marketing consent"), choices=Consent.choices, initial=Consent.UNKNOWN
    )
    consent_method = forms.CharField(label=_("Consent obtained by"), required=False, max_length=128)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("uk", "Українська"), ("en", "English"), ("ru", "Русский"), ("", "—")],
        required=False,
        initial="uk",
    )
    source = forms.CharField(label=_("Source"), required=False, max_length=64)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, companies: list[Company] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Company ids are checked against the actor's scope by the service; any id passes the shape check.
        raw = self.data.getlist("company_ids") if hasattr(self.data, "getlist") else []
        self.fields["company_ids"].choices = [(str(v), str(v)) for v in raw if str(v).isdigit()]
        self.picked_companies = companies or []

    def to_data(self) -> dict[str, Any]:
        cd = self.cleaned_data
        data = self._common_data()
        for key in (
            "first_name",
            "middle_name",
            "last_name",
            "position",
            "lifecycle_stage",
            "preferred_channel",
            "marketing_consent",
            "consent_method",
            "language",
            "source",
            "notes",
        ):
            data[key] = cd.get(key) or ""
        data["birthday"] = cd["birthday"].isoformat() if cd.get("birthday") else None
        data["company_ids"] = list(dict.fromkeys(cd.get("company_ids") or []))
        return data

    @classmethod
    def initial_for(cls, contact: Contact) -> dict[str, Any]:
        initial = cls.initial_from(contact)
        for key in (
            "first_name",
            "middle_name",
            "last_name",
            "position",
            "lifecycle_stage",
            "preferred_channel",
            "marketing_consent",
            "consent_method",
            "language",
            "source",
            "notes",
            "birthday",
        ):
            initial[key] = getattr(contact, key)
        return initial


class CompanyForm(ClientForm):
    entity = "company"
    field_order = ["name", "legal_name", "code", "country", "vat_number"]

    name = forms.CharField(label=_("Name"), max_length=255, required=False)
    legal_name = forms.CharField(label=_("Legal name"), required=False, max_length=255)
    code = forms.CharField(
        label=_("Company code"),
        required=False,
        max_length=32,
        help_text=_("EDRPOU (8 digits) or RNTRC of a sole proprietor (10 digits)."),
    )
    country = forms.CharField(
        label=_("Country"), max_length=2, initial="UA", help_text=_("Two-letter code, e.g. UA.")
    )
    vat_number = forms.CharField(label=_("VAT number"), required=False, max_length=32)
    industry = forms.CharField(label=_("Industry"), required=False, max_length=128)
    size = forms.ChoiceField(label=_("Size"), choices=CompanySize.choices, required=False)
    website = forms.CharField(label=_("Website"), required=False, max_length=200)
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=LifecycleStage.choices, initial=LifecycleStage.LEAD
    )
    source = forms.CharField(label=_("Source"), required=False, max_length=64)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def to_data(self) -> dict[str, Any]:
        cd = self.cleaned_data
        data = self._common_data()
        for key in (
            "name",
            "legal_name",
            "code",
            "country",
            "vat_number",
            "industry",
            "size",
            "website",
            "lifecycle_stage",
            "source",
            "notes",
        ):
            data[key] = cd.get(key) or ""
        data["address"]["country"] = data["country"] or "UA"
        return data

    @classmethod
    def initial_for(cls, company: Company) -> dict[str, Any]:
        initial = cls.initial_from(company)
        for key in (
            "name",
            "legal_name",
            "code",
            "country",
            "vat_number",
            "industry",
            "size",
            "website",
            "lifecycle_stage",
            "source",
            "notes",
        ):
            initial[key] = getattr(company, key)
        return initial


class ListFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, empty_label=_("Any owner")
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("Any team")
    )
    lifecycle_stage = forms.ChoiceField(
        label=_("Stage"), required=False, choices=[("", _("Any stage")), *LifecycleStage.choices]
    )
    tag = forms.CharField(
        label=_("Tag"), required=False, max_length=64, widget=forms.TextInput(attrs={"list": "kr-tag-names"})
    )
    sort = forms.CharField(required=False, widget=forms.HiddenInput)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(is_active=True).order_by(
            "last_name", "first_name", "username"
        )
        self.fields["team"].queryset = Team.objects.order_by("name")

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        cd = self.cleaned_data
        return {
            "q": cd.get("q", "").strip(),
            "owner_id": cd["owner"].pk if cd.get("owner") else None,
            "team_id": cd["team"].pk if cd.get("team") else None,
            "lifecycle_stage": cd.get("lifecycle_stage") or None,
            "tag": cd.get("tag", "").strip() or None,
        }


class BulkForm(forms.Form):
    ACTIONS = [("tag", _("Add tag")), ("untag", _("Remove tag")), ("owner", _("Change owner"))]

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    action = forms.ChoiceField(choices=ACTIONS)
    tag = forms.CharField(required=False, max_length=64)
    owner = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True), required=False)
    back = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in raw if str(v).isdigit()]
        self.fields["ids"].error_messages["required"] = _("Select at least one row.")

    def clean(self):
        cd = super().clean()
        if cd.get("action") in ("tag", "untag") and not cd.get("tag", "").strip():
            self.add_error("tag", _("Name the tag."))
        if cd.get("action") == "owner" and not cd.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        return cd
