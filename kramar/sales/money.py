"""Money: the base currency, dated exchange rates and conversion to the base currency (in Python and in SQL).

A rate says what one unit of a currency is worth in the base currency on a date; the rate that applies on a
day is the latest one on or before it. Amounts are Decimal throughout; base amounts are rounded to cents."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.db.models import Case, DecimalField, F, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Round
from django.utils import timezone

from kramar.sales.models import Currency, ExchangeRate

CENT = Decimal("0.01")


class CentsField(DecimalField):
    """Output field of computed base amounts: read back as a Decimal quantized to cents on every database
    (SQLite hands computed decimals back with float noise and no fixed scale)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 24)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


RATE_FIELD = DecimalField(max_digits=18, decimal_places=6)
BASE_FIELD = CentsField()


def base_currency() -> str:
    return settings.KRAMAR_BASE_CURRENCY


def _code(currency) -> str:
    return str(getattr(currency, "code", currency) or "").upper()


def rate_on(currency, on: dt.date | None = None) -> Decimal | None:
    """Units of the base currency per unit of `currency` on `on` (latest rate on or before it; 1 for the base)."""
    code = _code(currency)
    if code == base_currency():
        return Decimal(1)
    on = on or timezone.localdate()
    return (
        ExchangeRate.objects.filter(currency_id=code, date__lte=on)
        .order_by("-date")
        .values_list("rate", flat=True)
        .first()
    )


def rates_on(on: dt.date | None = None) -> dict[str, Decimal]:
    """{currency code: units of the base currency per unit} on `on` for every currency that has a rate (the base
    currency is 1): one query, a latest-rate subquery per currency served by the (currency, date) key."""
    on = on or timezone.localdate()
    latest = (
        ExchangeRate.objects.filter(currency_id=OuterRef("code"), date__lte=on).order_by("-date").values("rate")[:1]
    )
    base = base_currency()
    rates = {
        code: rate
        for code, rate in Currency.objects.annotate(rate=Subquery(latest, output_field=RATE_FIELD))
        .values_list("code", "rate")
        if rate is not None
    }
    rates[base] = Decimal(1)
    return rates


def to_base(amount: Decimal, currency, on: dt.date | None = None) -> Decimal | None:
    """`amount` of `currency` in the base currency, rounded to cents; None when there is no rate."""
    if amount is None:
        return None
    rate = rate_on(currency, on)
    if rate is None:
        return None
    try:
        return (Decimal(amount) * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        return None


def rate_expression(currency_field: str = "currency_id", on: dt.date | None = None):
    """SQL: the rate of the outer row's currency on `on` (1 for the base currency, NULL when none)."""
    on = on or timezone.localdate()
    latest = (
        ExchangeRate.objects.filter(currency_id=OuterRef(currency_field), date__lte=on)
        .order_by("-date")
        .values("rate")[:1]
    )
    return Case(
        When(**{currency_field: base_currency()}, then=Value(Decimal(1), output_field=RATE_FIELD)),
        default=Subquery(latest, output_field=RATE_FIELD),
        output_field=RATE_FIELD,
    )


def base_amount_expression(amount_field: str = "amount", currency_field: str = "currency_id", on=None):
    """SQL: amount × rate rounded to cents as a decimal (exact NUMERIC on PostgreSQL; on SQLite the product is
    rounded to 2 places in SQL and read back as a Decimal by Django's converter)."""
    product = Cast(F(amount_field), RATE_FIELD) * rate_expression(currency_field, on)
    return Cast(Round(product, 2), BASE_FIELD)


def deals_with_base_amount(qs: QuerySet, on: dt.date | None = None) -> QuerySet:
    """Annotate `amount_base` (Decimal, today's rates unless `on`; NULL when there is no rate) in one query."""
    return qs.annotate(amount_base=base_amount_expression(on=on))
