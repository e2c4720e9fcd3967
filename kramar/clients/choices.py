from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class LifecycleStage(models.TextChoices):
    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    FORMER = "former", _("Former customer")
    PARTNER = "partner", _("Partner")


class CompanySize(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    MICRO = "micro", _("1–9 employees")
    SMALL = "small", _("10–49 employees")
    MEDIUM = "medium", _("50–249 employees")
    LARGE = "large", _("250+ employees")


class Channel(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("E-mail")
    FAX = "fax", _("Fax")
    LETTER = "letter", _("Letter")
    MEETING = "meeting", _("Meeting")
    CHAT = "chat", _("Chat")
    WEB_FORM = "web_form", _("Web form")
    NOTE = "note", _("Note")
    SMS = "sms", _("SMS")


class Consent(models.TextChoices):
    UNKNOWN = "unknown", _("Not asked")
    GIVEN = "given", _("Given")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class PointKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")


class PointLabel(models.TextChoices):
    WORK = "work", _("Work")
    MOBILE = "mobile", _("Mobile")
    HOME = "home", pgettext_lazy("phone or e-mail label", "Home")
    FAX = "fax", _("Fax")
    OTHER = "other", pgettext_lazy("phone or e-mail label", "Other")


class AddressKind(models.TextChoices):
    LEGAL = "legal", _("Legal")
    POSTAL = "postal", _("Postal")
    DELIVERY = "delivery", _("Delivery")
    HOME = "home", pgettext_lazy("address kind", "Home")
    OTHER = "other", pgettext_lazy("address kind", "Other")


class ClientClass(models.TextChoices):
    NONE = "", _("Not classified")
    A = "A", _("A: key client")
    B = "B", _("B: regular client")
    C = "C", _("C: occasional client")
