"""Cleaning the input of a contact or company into model values, contact points, tags and custom
values, with every error keyed by field name. Shared by create, update, imports and the demo loader."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from kramar.clients.choices import Channel, CompanySize, Consent, LifecycleStage, PointLabel
from kramar.core.identifiers import (
    company_code_normalize,
    email_normalize,
    phone_normalize,
    phone_search_digits,
    text_fold,
)


@dataclass
class PointIn:
    kind: str
    value: str
    normalized: str
    label: str = PointLabel.WORK
    extension: str = ""
    is_primary: bool = False


@dataclass
class Cleaned:
    values: dict[str, Any] = field(default_factory=dict)
    points: list[PointIn] | None = None  # None: leave as they are (partial update)
    tags: list[str] | None = None
    custom: dict[str, Any] | None = None
    company_ids: list[int] | None = None  # contacts: companies they work for; first is primary
    address: dict[str, str] | None = None


CONTACT_FIELDS = {
    "first_name": 128, "middle_name": 128, "last_name": 128, "position": 128, "language": 8,
    "consent_method": 128, "source": 64, "notes": 100_000,
}
COMPANY_FIELDS = {
    "name": 255, "legal_name": 255, "vat_number": 32, "industry": 128, "source": 64, "notes": 100_000,
}
ADDRESS_FIELDS = {"line": 255, "city": 128, "region": 128, "postal_code": 16, "country": 2}


def _text(data, key, limit, errors, values):
    if key not in data:
        return
    value = data[key]
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(_("must be text"))
        return
    value = value.strip()
    if len(value) > limit:
        errors.setdefault(key, []).append(_("at most %(n)d characters") % {"n": limit})
        return
    values[key] = value


def _choice(data, key, choices, errors, values):
    if key not in data:
        return
    value = data[key] if data[key] is not None else ""
    if value not in choices:
        errors.setdefault(key, []).append(
            _("must be one of: %(choices)s") % {"choices": ", ".join(c for c in choices if c)}
        )
        return
    values[key] = value


def _points(data, errors) -> list[PointIn] | None:
    if "emails" not in data and "phones" not in data:
        return None
    points: list[PointIn] = []
    for kind, key in (("email", "emails"), ("phone", "phones")):
        items = data.get(key) or []
        if not isinstance(items, list):
            errors.setdefault(key, []).append(_("must be a list"))
            continue
        seen: set[str] = set()
        primary_seen = False
        for i, item in enumerate(items):
            if isinstance(item, str):
                item = {"value": item}
            if not isinstance(item, dict) or not str(item.get("value") or "").strip():
                errors.setdefault(f"{key}[{i}]", []).append(_("a value is required"))
                continue
            raw = str(item["value"]).strip()
            label = item.get("label") or (PointLabel.MOBILE if kind == "phone" else PointLabel.WORK)
            if label not in PointLabel.values:
                errors.setdefault(f"{key}[{i}].label", []).append(
                    _("must be one of: %(choices)s") % {"choices": ", ".join(PointLabel.values)}
                )
                continue
            try:
                if kind == "email":
                    normalized, ext = email_normalize(raw), ""
                else:
                    normalized, ext = phone_normalize(raw)
            except ValueError as exc:
                errors.setdefault(f"{key}[{i}]", []).append(f"{raw}: {exc}")
                continue
            if normalized in seen:
                continue
            seen.add(normalized)
            primary = bool(item.get("is_primary")) and not primary_seen
            primary_seen = primary_seen or primary
            points.append(
                PointIn(kind=kind, value=raw, normalized=normalized, label=label, extension=ext, is_primary=primary)
            )
        if not primary_seen:
            for p in points:
                if p.kind == kind:
                    p.is_primary = True
                    break
    return points


def _tags(data, errors) -> list[str] | None:
    if "tags" not in data:
        return None
    tags = data["tags"] or []
    if isinstance(tags, str):
        tags = [t for t in (s.strip() for s in tags.split(",")) if t]
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t.strip()) <= 64 for t in tags):
        errors.setdefault("tags", []).append(_("must be a list of tag names of up to 64 characters"))
        return None
    return sorted({t.strip() for t in tags})


def _address(data, errors) -> dict[str, str] | None:
    if "address" not in data:
        return None
    address = data["address"]
    if address in (None, ""):
        return {}
    if not isinstance(address, dict):
        errors.setdefault("address", []).append(_("must be an object"))
        return None
    values: dict[str, str] = {}
    for key, limit in ADDRESS_FIELDS.items():
        _text(address, key, limit, errors, values)
    return values


def contact_input_clean(data: dict[str, Any], *, partial: bool) -> tuple[Cleaned, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    c = Cleaned()
    for key, limit in CONTACT_FIELDS.items():
        _text(data, key, limit, errors, c.values)
    _choice(data, "lifecycle_stage", LifecycleStage.values, errors, c.values)
    _choice(data, "preferred_channel", ["", *Channel.values], errors, c.values)
    _choice(data, "marketing_consent", Consent.values, errors, c.values)
    if "birthday" in data:
        value = data["birthday"]
        if value in (None, ""):
            c.values["birthday"] = None
        elif isinstance(value, dt.date):
            c.values["birthday"] = value
        else:
            try:
                c.values["birthday"] = dt.date.fromisoformat(str(value))
            except ValueError:
                errors.setdefault("birthday", []).append(_("must be a date (YYYY-MM-DD)"))
    if "messengers" in data:
        value = data["messengers"] or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.setdefault("messengers", []).append(_('must be an object such as {"telegram": "@name"}'))
        else:
            c.values["messengers"] = {str(k)[:32]: v.strip()[:128] for k, v in value.items() if v.strip()}
    if "company_ids" in data:
        ids = data["company_ids"] or []
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            errors.setdefault("company_ids", []).append(_("must be a list of company ids"))
        else:
            c.company_ids = list(dict.fromkeys(ids))
    c.points = _points(data, errors)
    c.tags = _tags(data, errors)
    c.address = _address(data, errors)
    if "custom" in data:
        c.custom = data["custom"] if data["custom"] is not None else {}
    if not partial:
        names = [c.values.get(k) for k in ("first_name", "last_name")]
        has_point = bool(c.points)
        if not any(names) and not has_point:
            errors.setdefault("last_name", []).append(_("Give at least a name, an e-mail or a phone."))
    return c, errors


def company_input_clean(data: dict[str, Any], *, partial: bool, current_country: str = "UA") -> tuple[Cleaned, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    c = Cleaned()
    for key, limit in COMPANY_FIELDS.items():
        _text(data, key, limit, errors, c.values)
    _choice(data, "lifecycle_stage", LifecycleStage.values, errors, c.values)
    _choice(data, "size", CompanySize.values, errors, c.values)
    if "country" in data:
        country = str(data["country"] or "UA").strip().upper()
        if len(country) != 2 or not country.isalpha():
            errors.setdefault("country", []).append(_("must be a two-letter country code"))
        else:
            c.values["country"] = country
    if "code" in data:
        try:
            c.values["code"] = company_code_normalize(
                str(data["code"] or ""), c.values.get("country", current_country)
            )
        except ValueError as exc:
            errors.setdefault("code", []).append(str(exc))
    if "website" in data:
        site = str(data["website"] or "").strip()
        if site and "://" not in site:
            site = "https://" + site
        if site:
            try:
                URLValidator(schemes=["http", "https"])(site)
            except ValidationError:
                errors.setdefault("website", []).append(_("Enter a valid web address."))
        c.values["website"] = site
    if "vat_number" in c.values and c.values["vat_number"] and not c.values["vat_number"].replace(" ", "").isalnum():
        errors.setdefault("vat_number", []).append(_("letters and digits only"))
    if not partial and not c.values.get("name"):
        errors.setdefault("name", []).append(_("This field is required."))
    if partial and "name" in c.values and not c.values["name"]:
        errors.setdefault("name", []).append(_("This field is required."))
    c.points = _points(data, errors)
    c.tags = _tags(data, errors)
    c.address = _address(data, errors)
    if "custom" in data:
        c.custom = data["custom"] if data["custom"] is not None else {}
    return c, errors


def contact_search_text(contact, points: list, company_names: list[str]) -> str:
    parts = [contact.first_name, contact.middle_name, contact.last_name, contact.position, *company_names]
    for p in points:
        parts.append(p.normalized if p.kind == "email" else phone_search_digits(p.normalized))
    return text_fold(" ".join(p for p in parts if p))


def company_search_text(company, points: list) -> str:
    parts = [company.name, company.legal_name, company.code, company.vat_number]
    for p in points:
        parts.append(p.normalized if p.kind == "email" else phone_search_digits(p.normalized))
    return text_fold(" ".join(p for p in parts if p))
