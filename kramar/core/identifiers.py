"""Normalisation and validation of e-mails, phones, Ukrainian identifiers and names.

Every write path (forms, API, imports, demo data) uses these, so a match key computed here is the
same whichever way a record came in.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.ua import edrpou, rntrc

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_DIGITS = re.compile(r"\D+")


def email_normalize(value: str) -> str:
    """Validate and return the lower-cased address; raise ValueError with a readable message."""
    value = (value or "").strip()
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValueError(_("Enter a valid e-mail address.")) from exc
    local, _sep, domain = value.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(_("Enter a valid e-mail address.")) from exc
    return f"{local}@{domain}".lower()


def phone_normalize(value: str, region: str | None = None) -> tuple[str, str]:
    """Return (E.164, extension) for a phone in any common format; raise ValueError if invalid.

    The old Ukrainian trunk prefix `8 0XX …` is rewritten to +380 first (phonenumbers doesn't know it).
    """
    raw = (value or "").strip()
    region = region or settings.KRAMAR_DEFAULT_PHONE_REGION
    digits = _DIGITS.sub("", raw)
    if len(digits) == 11 and digits.startswith("80") and not raw.startswith("+"):
        raw = "+380" + digits[2:]
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(_("Enter a valid phone number.")) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_("Enter a valid phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), number.extension or ""


def phone_display(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_search_digits(e164: str) -> str:
    """Digits a user may type for this phone: the international form and the national one (0XX…)."""
    digits = _DIGITS.sub("", e164)
    try:
        number = phonenumbers.parse(e164, None)
        national = _DIGITS.sub(
            "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        )
    except phonenumbers.NumberParseException:
        national = ""
    return f"{digits} {national}".strip() if national and national not in digits else digits


def company_code_normalize(value: str, country: str = "UA") -> str:
    """EDRPOU (8 digits) or, for a sole proprietor, RNTRC (10 digits), checksum-validated for UA.

    Other countries' tax ids are kept as typed (upper-cased, spaces removed)."""
    value = _SPACES.sub("", value or "")
    if not value:
        return ""
    if (country or "UA").upper() != "UA":
        return value.upper()
    try:
        if len(value) == 10:
            return rntrc.validate(value)
        return edrpou.validate(value)
    except StdnumError as exc:
        raise ValueError(
            _("Enter a valid EDRPOU (8 digits) or RNTRC (10 digits); the check digit does not match.")
        ) from exc


_LEGAL_FORMS = {
    "тов", "тзов", "пп", "прат", "пат", "ат", "фоп", "дп", "кп", "спд", "ооо", "оао", "зао",
    "llc", "ltd", "inc", "gmbh", "sa", "ag", "plc", "corp", "co", "sp", "zoo", "sro", "bv", "oy", "ab",
}


def text_fold(value: str) -> str:
    """Case-folded text with Ukrainian/Russian look-alikes unified, for search and match keys."""
    value = unicodedata.normalize("NFKC", value or "").casefold()
    return value.replace("ё", "е").replace("ʼ", "'").replace("’", "'")


def name_key(*parts: str, strip_legal_forms: bool = False) -> str:
    """An order-independent key of a name: folded words, sorted; legal forms dropped for companies."""
    words = [w for w in _NON_WORD.split(text_fold(" ".join(p for p in parts if p))) if w]
    if strip_legal_forms:
        words = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(sorted(words))[:255]
