"""Factories build rows directly (fast); tests of behaviour go through the services.

The seeded currencies and pipelines may be gone in a transactional test (its flush empties tables), so the
factories create what they need with get_or_create."""

from decimal import Decimal

import factory
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.sales.models import (
    ChecklistItem,
    ContactPolicy,
    Currency,
    Deal,
    DealContact,
    DealLine,
    DealStageHistory,
    ExchangeRate,
    LostReason,
    Pipeline,
    PlaybookStep,
    Product,
    ProductPrice,
    SalesTarget,
    Stage,
)


def currency(code: str = "UAH") -> Currency:
    return Currency.objects.get_or_create(code=code, defaults={"name": code})[0]


class CurrencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = "UAH"
    name = factory.LazyAttribute(lambda c: c.code)


class ExchangeRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeRate

    currency = factory.SubFactory(CurrencyFactory, code="USD")
    date = factory.LazyFunction(lambda: timezone.localdate())
    rate = Decimal("41.500000")


class PipelineFactory(factory.django.DjangoModelFactory):
    """A pipeline; `with_stages=True` adds Lead (open, 10%) → Proposal (open, 50%, needs amount and close
    date) → Won → Lost."""

    class Meta:
        model = Pipeline
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Pipeline {n}")

    @factory.post_generation
    def with_stages(self, create, extracted, **kwargs):
        if create and extracted:
            StageFactory(pipeline=self, name="Lead", position=0, probability=10)
            StageFactory(
                pipeline=self, name="Proposal", position=1, probability=50, rotting_days=14,
                required_fields=["amount", "expected_close_date"],
            )
            StageFactory(pipeline=self, name="Won", position=2, probability=100, kind="won")
            StageFactory(pipeline=self, name="Lost", position=3, probability=0, kind="lost")


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    position = factory.Sequence(lambda n: n)
    probability = 20


class ChecklistItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChecklistItem

    stage = factory.SubFactory(StageFactory)
    text = factory.Sequence(lambda n: f"Check {n}")


class PlaybookStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlaybookStep

    stage = factory.SubFactory(StageFactory)
    title = factory.Sequence(lambda n: f"Step {n}")


class LostReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LostReason
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Reason {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")


class ProductPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductPrice

    product = factory.SubFactory(ProductFactory)
    currency = factory.SubFactory(CurrencyFactory)
    price = Decimal("100.00")


class DealFactory(factory.django.DjangoModelFactory):
    """A deal in the first stage of its pipeline (a new pipeline with stages unless given)."""

    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")
    owner = factory.SubFactory(UserFactory)
    team = None
    pipeline = factory.SubFactory(PipelineFactory, with_stages=True)
    stage = factory.LazyAttribute(lambda d: d.pipeline.stages.order_by("position").first())
    currency = factory.SubFactory(CurrencyFactory)
    amount = Decimal("1000.00")


class DealContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealContact

    deal = factory.SubFactory(DealFactory)
    contact = factory.SubFactory("kramar.clients.tests.factories.ContactFactory")


class DealLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealLine

    deal = factory.SubFactory(DealFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = Decimal("1")
    unit_price = Decimal("100.00")


class DealStageHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealStageHistory

    deal = factory.SubFactory(DealFactory)
    stage = factory.LazyAttribute(lambda h: h.deal.stage)


class SalesTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesTarget

    user = factory.SubFactory(UserFactory)
    period_start = factory.LazyFunction(lambda: timezone.localdate().replace(day=1))
    period_end = factory.LazyAttribute(
        lambda t: (t.period_start.replace(day=28) + timezone.timedelta(days=4)).replace(day=1)
        - timezone.timedelta(days=1)
    )
    amount = Decimal("100000.00")
    currency = factory.SubFactory(CurrencyFactory)


class ContactPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPolicy
        django_get_or_create = ("client_class",)

    client_class = "A"
    max_days_without_contact = 14
