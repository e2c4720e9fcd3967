"""Won amounts against sales targets, converted through kramar.sales.money (one aggregate query, then one rate
look-up per currency: bounded by the number of currencies, never by the number of deals or reps)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from kramar.sales.choices import DealStatus
from kramar.sales.models import Deal, SalesTarget


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def key(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return (
            timezone.make_aware(dt.datetime.combine(self.start, dt.time.min)),
            timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min)),
        )

    @classmethod
    def parse(cls, raw: str) -> Period | None:
        start, sep, end = (raw or "").partition("..")
        try:
            period = cls(dt.date.fromisoformat(start), dt.date.fromisoformat(end)) if sep else None
        except ValueError:
            return None
        return period if period and period.end >= period.start else None

    @classmethod
    def month_of(cls, day: dt.date) -> Period:
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return cls(first, following - dt.timedelta(days=1))


@dataclass
class Progress:
    """A rep's won amount in a period, in the target's currency, against the target (if any)."""

    period: Period
    target: SalesTarget | None
    currency: str
    won: Decimal = Decimal("0.00")
    won_deals: int = 0
    missing_rates: list[str] = field(default_factory=list)

    @property
    def percent(self) -> int | None:
        if self.target is None or not self.target.amount:
            return None
        return int((self.won * 100 / self.target.amount).to_integral_value())

    @property
    def bar(self) -> int:
        """The progress bar's value, capped at 100."""
        return min(self.percent or 0, 100)


def won_by_owner(*, owner_ids, period: Period, deals=None) -> dict[int, dict[str, tuple[Decimal, int]]]:
    """{owner_id: {currency: (sum of amounts, number of deals)}} of deals won within the period: one GROUP BY."""
    start, end = period.bounds
    qs = (deals if deals is not None else Deal.objects.all()).filter(
        owner_id__in=owner_ids, status=DealStatus.WON, closed_at__gte=start, closed_at__lt=end
    )
    result: dict[int, dict[str, tuple[Decimal, int]]] = defaultdict(dict)
    for row in qs.order_by().values("owner_id", "currency_id").annotate(total=Sum("amount"), n=Count("id")):
        result[row["owner_id"]][row["currency_id"]] = (row["total"] or Decimal("0"), row["n"])
    return result


class Converter:
    """Converts amounts between currencies through the base currency at the rates of one day; caches the rates."""

    def __init__(self, on: dt.date):
        self.on = on
        self._rates: dict[str, Decimal | None] = {}

    def rate(self, currency: str) -> Decimal | None:
        from kramar.sales import money

        if currency not in self._rates:
            self._rates[currency] = money.rate_on(currency, self.on)
        return self._rates[currency]

    def convert(self, amount: Decimal, currency: str, into: str) -> Decimal | None:
        if currency == into:
            return amount
        source, target = self.rate(currency), self.rate(into)
        if source is None or not target:
            return None
        return (amount * source / target).quantize(Decimal("0.01"))


def progress_for(
    *, owner_ids, period: Period, targets: dict[int, SalesTarget], default_currency: str, deals=None
) -> dict[int, Progress]:
    """Progress of each owner in the period; rates of the period's last day (or today, if earlier)."""
    converter = Converter(min(period.end, timezone.localdate()))
    won = won_by_owner(owner_ids=owner_ids, period=period, deals=deals)
    result = {}
    for owner_id in owner_ids:
        target = targets.get(owner_id)
        progress = Progress(period=period, target=target, currency=target.currency_id if target else default_currency)
        for currency, (total, n) in won.get(owner_id, {}).items():
            value = converter.convert(total, currency, progress.currency)
            progress.won_deals += n
            if value is None:
                progress.missing_rates.append(currency)
            else:
                progress.won += value
        result[owner_id] = progress
    return result


def current_target(*, user, on: dt.date) -> SalesTarget | None:
    """The user's target whose period contains `on` (the shortest one when periods overlap)."""
    targets = list(SalesTarget.objects.filter(user=user, period_start__lte=on, period_end__gte=on))
    return min(targets, key=lambda t: (t.period_end - t.period_start, -t.pk)) if targets else None
