import datetime as dt
from decimal import Decimal

import pytest
from django.http import Http404
from django.utils import timezone

from kramar.activities.tests.factories import TaskFactory
from kramar.core.models import Tag
from kramar.sales.models import Deal
from kramar.sales.selectors import (
    BOARD_CLOSED_DAYS,
    board,
    deal_get,
    deal_list,
    deal_stage_history,
    lost_reasons,
    pipeline_default,
    pipeline_get,
    pipeline_list,
    product_get,
    product_list,
    stage_get,
)
from kramar.sales.tests.factories import (
    CurrencyFactory,
    DealFactory,
    DealStageHistoryFactory,
    ExchangeRateFactory,
    LostReasonFactory,
    PipelineFactory,
    ProductFactory,
    StageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline():
    CurrencyFactory(code="UAH")
    return PipelineFactory(with_stages=True)


def st(pipeline, name):
    return pipeline.stages.get(name=name)


def ids(qs):
    return [d.pk for d in qs]


def test_deal_get_is_404_outside_the_scope(rep_a, rep_a2, rep_b, team_a, pipeline):
    # given
    deal = DealFactory(pipeline=pipeline, owner=rep_a, team=team_a)
    # then
    assert deal_get(actor=rep_a, pk=deal.pk, action="change") == deal
    assert deal_get(actor=rep_a2, pk=str(deal.pk)) == deal  # a teammate may view
    with pytest.raises(Http404):
        deal_get(actor=rep_a2, pk=deal.pk, action="change")
    with pytest.raises(Http404):
        deal_get(actor=rep_b, pk=deal.pk)
    with pytest.raises(Http404):
        deal_get(actor=rep_a, pk="abc")


def test_deal_list_shows_only_the_scope(rep_a, rep_b, team_a, team_b, pipeline):
    mine = DealFactory(pipeline=pipeline, owner=rep_a, team=team_a)
    DealFactory(pipeline=pipeline, owner=rep_b, team=team_b)
    assert ids(deal_list(actor=rep_a)) == [mine.pk]


def test_deal_list_filters(director, rep_a, team_a, team_b, pipeline):
    # given
    today = timezone.localdate()
    other = PipelineFactory(with_stages=True)
    a = DealFactory(pipeline=pipeline, owner=director, title="Alpha licences", expected_close_date=today)
    b = DealFactory(pipeline=pipeline, stage=st(pipeline, "Proposal"), owner=rep_a, team=team_a,
                    expected_close_date=today + dt.timedelta(days=40))
    c = DealFactory(pipeline=other, owner=rep_a, team=team_b, status="won", stage=st(other, "Won"))
    b.tags.add(Tag.objects.create(name="hot"))
    # then
    f = lambda **kw: set(ids(deal_list(actor=director, filters=kw)))  # noqa: E731
    assert f(pipeline=pipeline.pk) == {a.pk, b.pk}
    assert f(stage=st(pipeline, "Proposal").pk) == {b.pk}
    assert f(status="won") == {c.pk}
    assert f(status="open") == {a.pk, b.pk}
    assert f(owner="me") == {a.pk}
    assert f(owner=str(rep_a.pk)) == {b.pk, c.pk}
    assert f(team=team_b.pk) == {c.pk}
    assert f(tag="hot") == {b.pk}
    assert f(close_from=(today + dt.timedelta(days=1)).isoformat()) == {b.pk}
    assert f(close_to=today.isoformat()) == {a.pk}
    assert f(q="ALPHA") == {a.pk}
    assert f(owner="garbage") == set()
    assert f(close_from="not a date") == {a.pk, b.pk, c.pk}


def test_rotting_is_computed_in_sql_from_the_stages_limit(director, pipeline):
    # given: Proposal rots after 14 days
    now = timezone.now()
    proposal, lead = st(pipeline, "Proposal"), st(pipeline, "Lead")
    stuck = DealFactory(pipeline=pipeline, stage=proposal, owner=director, stage_entered_at=now - dt.timedelta(days=15))
    fresh = DealFactory(pipeline=pipeline, stage=proposal, owner=director, stage_entered_at=now - dt.timedelta(days=13))
    no_limit = DealFactory(pipeline=pipeline, stage=lead, owner=director, stage_entered_at=now - dt.timedelta(days=400))
    closed = DealFactory(pipeline=pipeline, stage=proposal, owner=director, status="won",
                         stage_entered_at=now - dt.timedelta(days=30))
    # when
    rows = {d.pk: d.is_rotting for d in deal_list(actor=director)}
    # then
    assert rows == {stuck.pk: True, fresh.pk: False, no_limit.pk: False, closed.pk: False}
    assert ids(deal_list(actor=director, filters={"rotting": "1"})) == [stuck.pk]


def test_next_step_annotation_and_no_next_step_filter(director, pipeline):
    # given
    now = timezone.now()
    with_task = DealFactory(pipeline=pipeline, owner=director)
    TaskFactory(deal=with_task, due_at=now + dt.timedelta(days=5))
    TaskFactory(deal=with_task, due_at=now + dt.timedelta(days=2))
    TaskFactory(deal=with_task, due_at=now - dt.timedelta(days=9), status="done")
    only_done = DealFactory(pipeline=pipeline, owner=director)
    TaskFactory(deal=only_done, status="done")
    bare = DealFactory(pipeline=pipeline, owner=director)
    DealFactory(pipeline=pipeline, owner=director, status="won", stage=st(pipeline, "Won"))
    # when
    rows = {d.pk: d.next_task_due for d in deal_list(actor=director)}
    # then
    assert abs(rows[with_task.pk] - (now + dt.timedelta(days=2))) < dt.timedelta(seconds=5)
    assert rows[bare.pk] is None and rows[only_done.pk] is None
    assert set(ids(deal_list(actor=director, filters={"no_next_step": True}))) == {only_done.pk, bare.pk}


def test_deal_list_sorts(director, pipeline):
    # given
    usd = CurrencyFactory(code="USD")
    ExchangeRateFactory(currency=usd, rate=Decimal("40"))
    today = timezone.localdate()
    a = DealFactory(pipeline=pipeline, owner=director, title="A", amount=Decimal("1000"),
                    expected_close_date=today + dt.timedelta(days=3))
    b = DealFactory(pipeline=pipeline, owner=director, title="B", amount=Decimal("100"), currency=usd,
                    stage=st(pipeline, "Proposal"))
    c = DealFactory(pipeline=pipeline, owner=director, title="C", amount=Decimal("2000"), expected_close_date=today)
    Deal.objects.filter(pk=a.pk).update(updated_at=timezone.now() + dt.timedelta(minutes=1))
    # then
    sort = lambda s: ids(deal_list(actor=director, sort=s))  # noqa: E731
    assert sort("title") == [a.pk, b.pk, c.pk] and sort("-title") == [c.pk, b.pk, a.pk]
    assert sort("amount") == [a.pk, c.pk, b.pk]  # 100 USD = 4000 UAH
    assert sort("-amount") == [b.pk, c.pk, a.pk]
    assert sort("close") == [c.pk, a.pk, b.pk] and sort("-close")[:2] == [a.pk, c.pk]
    assert sort("-updated")[0] == a.pk and sort("updated")[-1] == a.pk
    assert sort("stage")[-1] == b.pk
    assert deal_list(actor=director).get(pk=b.pk).amount_base == Decimal("4000.00")


def test_board_columns_totals_weighted_and_bounded_queries(director, django_assert_max_num_queries):
    # given: 5 stages, 25 deals in each open stage, 3 in won
    CurrencyFactory(code="UAH")
    usd = CurrencyFactory(code="USD")
    ExchangeRateFactory(currency=usd, rate=Decimal("40"))
    pipeline = PipelineFactory(with_stages=True)
    extra = StageFactory(pipeline=pipeline, name="Negotiation", position=1, probability=75)
    lead, proposal, won = st(pipeline, "Lead"), st(pipeline, "Proposal"), st(pipeline, "Won")
    for stage in (lead, proposal, extra):
        for i in range(25):
            deal = DealFactory(pipeline=pipeline, stage=stage, owner=director, amount=Decimal("100.10"),
                               currency=usd if i % 5 == 0 else CurrencyFactory(code="UAH"))
            deal.tags.add(Tag.objects.get_or_create(name=f"t{i % 3}")[0])
    for _ in range(3):
        DealFactory(pipeline=pipeline, stage=won, owner=director, amount=Decimal("10"), status="won",
                    closed_at=timezone.now() - dt.timedelta(days=2))
    DealFactory(pipeline=pipeline, stage=won, owner=director, amount=Decimal("99"), status="won",
                closed_at=timezone.now() - dt.timedelta(days=BOARD_CLOSED_DAYS + 1))  # off the board: too old
    DealFactory(owner=director)  # another pipeline
    # when
    # grants, teams, stages, 2 totals, rates, tags, visible companies + one per stage (5)
    with django_assert_max_num_queries(8 + 5):
        columns = board(actor=director, pipeline=pipeline, per_stage=10)
        [t.name for c in columns for d in c.deals for t in d.tags.all()]
        [(d.owner, d.company, d.currency, d.amount_base, d.is_rotting, d.next_task_due) for c in columns for d in c.deals]
    # then
    by_name = {c.stage.name: c for c in columns}
    assert [c.stage.name for c in columns] == ["Lead", "Proposal", "Negotiation", "Won", "Lost"]
    # 20 × 100.10 UAH + 5 × 100.10 USD × 40 = 2002.00 + 20020.00
    assert by_name["Lead"].count == 25 and by_name["Lead"].total_base == Decimal("22022.00")
    assert by_name["Lead"].weighted_base == Decimal("2202.20")
    assert by_name["Negotiation"].weighted_base == Decimal("16516.50")
    assert by_name["Won"].count == 3 and by_name["Won"].total_base == Decimal("30.00")
    assert by_name["Lost"].count == 0 and by_name["Lost"].deals == [] and by_name["Lost"].total_base == 0
    assert len(by_name["Lead"].deals) == 10
    updated = [d.updated_at for d in by_name["Lead"].deals]
    assert updated == sorted(updated, reverse=True)
    # a close-date filter replaces the recent-closes window: the old won deal is back
    everything = {c.stage.name: c for c in board(actor=director, pipeline=pipeline, filters={
        "close_from": dt.date(2000, 1, 1)})}
    assert everything["Won"].count == 0  # the factory's deals have no expected close date
    old_won = Deal.objects.get(amount=Decimal("99"))
    old_won.expected_close_date = timezone.localdate()
    old_won.save(update_fields=["expected_close_date"])
    everything = {c.stage.name: c for c in board(actor=director, pipeline=pipeline, filters={
        "close_from": dt.date(2000, 1, 1)})}
    assert everything["Won"].count == 1 and everything["Won"].total_base == Decimal("99.00")


def test_board_filters_and_scope(rep_a, rep_b, team_a, team_b, pipeline):
    # given
    mine = DealFactory(pipeline=pipeline, owner=rep_a, team=team_a)
    DealFactory(pipeline=pipeline, owner=rep_b, team=team_b)
    DealFactory(pipeline=pipeline, owner=rep_a, team=team_a, expected_close_date=timezone.localdate())
    # when
    columns = board(actor=rep_a, pipeline=pipeline, filters={"close_to": "2000-01-01", "owner": "me"})
    everything = board(actor=rep_a, pipeline=pipeline)
    # then
    assert sum(c.count for c in columns) == 0
    assert sum(c.count for c in everything) == 2 and mine in everything[0].deals


def test_pipelines_stages_products_reasons_history(pipeline):
    # given
    inactive = PipelineFactory(active=False)
    LostReasonFactory(name="Gone", active=False)
    kept = LostReasonFactory(name="Price X")
    p1 = ProductFactory(name="Alpha", sku="AL-1")
    p2 = ProductFactory(name="Beta", sku="BE-1", active=False)
    deal = DealFactory(pipeline=pipeline)
    now = timezone.now()
    DealStageHistoryFactory(deal=deal, entered_at=now - dt.timedelta(days=2), left_at=now - dt.timedelta(days=1))
    DealStageHistoryFactory(deal=deal, stage=st(pipeline, "Proposal"))
    # then
    assert pipeline in pipeline_list() and inactive not in pipeline_list()
    assert [s.name for s in pipeline_get(pk=pipeline.pk).stages.all()] == ["Lead", "Proposal", "Won", "Lost"]
    assert pipeline_default() is not None and pipeline_default().active
    with pytest.raises(Http404):
        pipeline_get(pk=inactive.pk)
    assert stage_get(pk=st(pipeline, "Won").pk).kind == "won"
    with pytest.raises(Http404):
        stage_get(pk="x")
    assert kept in lost_reasons() and not lost_reasons().filter(name="Gone").exists()
    assert list(product_list(filters={"q": "al-"})) == [p1]
    assert list(product_list(filters={"active": "0"})) == [p2]
    assert product_get(pk=p2.pk) == p2
    history = list(deal_stage_history(deal=deal))
    assert [h.stage.name for h in history] == ["Lead", "Proposal"]
    assert history[0].left_at - history[0].entered_at == dt.timedelta(days=1)
