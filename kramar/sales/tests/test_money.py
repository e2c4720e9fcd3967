import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from kramar.sales.models import Deal
from kramar.sales.money import base_currency, deals_with_base_amount, rate_on, to_base
from kramar.sales.tests.factories import CurrencyFactory, DealFactory, ExchangeRateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def usd_rates():
    today = timezone.localdate()
    usd = CurrencyFactory(code="USD")
    ExchangeRateFactory(currency=usd, date=today - dt.timedelta(days=10), rate=Decimal("40.000000"))
    ExchangeRateFactory(currency=usd, date=today - dt.timedelta(days=2), rate=Decimal("41.123456"))
    ExchangeRateFactory(currency=usd, date=today + dt.timedelta(days=3), rate=Decimal("99.000000"))
    return today


def test_rate_on_takes_the_latest_rate_on_or_before_the_date(usd_rates):
    today = usd_rates
    # then
    assert rate_on("USD", today) == Decimal("41.123456")
    assert rate_on("USD", today - dt.timedelta(days=3)) == Decimal("40.000000")
    assert rate_on("USD", today - dt.timedelta(days=2)) == Decimal("41.123456")
    assert rate_on("USD", today - dt.timedelta(days=11)) is None
    assert rate_on("usd", today + dt.timedelta(days=5)) == Decimal("99.000000")
    assert rate_on(base_currency(), today) == Decimal(1)
    assert rate_on("EUR", today) is None


def test_to_base_converts_with_the_dated_rate_and_rounds_to_cents(usd_rates):
    today = usd_rates
    # when
    value = to_base(Decimal("1234.57"), "USD", today)
    old = to_base(Decimal("10.00"), "USD", today - dt.timedelta(days=5))
    # then
    assert value == (Decimal("1234.57") * Decimal("41.123456")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert value == Decimal("50769.79")
    assert old == Decimal("400.00")
    assert to_base(Decimal("5"), "EUR", today) is None
    assert to_base(Decimal("12.34"), base_currency()) == Decimal("12.34")


def test_deals_with_base_amount_annotates_exact_decimals_in_sql(usd_rates, django_assert_num_queries):
    # given
    usd = DealFactory(currency=CurrencyFactory(code="USD"), amount=Decimal("1234.57"))
    eur = DealFactory(currency=CurrencyFactory(code="EUR"), amount=Decimal("10.00"))
    uah = DealFactory(currency=CurrencyFactory(code=base_currency()), amount=Decimal("999.99"))
    # when
    with django_assert_num_queries(1):
        rows = {d.pk: d.amount_base for d in deals_with_base_amount(Deal.objects.filter(pk__in=[usd.pk, eur.pk, uah.pk]))}
    # then
    assert rows[usd.pk] == Decimal("50769.79")
    assert isinstance(rows[usd.pk], Decimal)
    assert rows[usd.pk].as_tuple().exponent == -2
    assert rows[eur.pk] is None
    assert rows[uah.pk] == Decimal("999.99")


def test_deals_with_base_amount_uses_the_rate_of_a_given_day(usd_rates):
    # given
    deal = DealFactory(currency=CurrencyFactory(code="USD"), amount=Decimal("2.50"))
    # when
    old = deals_with_base_amount(Deal.objects.filter(pk=deal.pk), on=usd_rates - dt.timedelta(days=5)).get()
    # then
    assert old.amount_base == Decimal("100.00")


def test_base_amounts_sum_exactly_in_sql(usd_rates):
    # given: many amounts whose float products would drift
    from django.db.models import Sum

    usd = CurrencyFactory(code="USD")
    deals = [DealFactory(currency=usd, amount=Decimal("0.10")) for _ in range(30)]
    # when
    total = deals_with_base_amount(Deal.objects.filter(pk__in=[d.pk for d in deals])).aggregate(s=Sum("amount_base"))
    # then: each 0.10 × 41.123456 = 4.11 (rounded per deal)
    assert Decimal(total["s"]).quantize(Decimal("0.01")) == Decimal("123.30")
