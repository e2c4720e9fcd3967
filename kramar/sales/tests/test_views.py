"""The sales pages through HTTP: board, list, card, forms, stage moves, bulk actions, products; scopes,
errors and query counts."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kramar.clients.tests.factories import CompanyFactory
from kramar.core.models import Tag
from kramar.core.tests.factories import CustomFieldDefinitionFactory
from kramar.sales.models import Deal, DealChecklistCheck, DealStageHistory, Pipeline, Product
from kramar.sales.tests.factories import (
    ChecklistItemFactory,
    CurrencyFactory,
    DealFactory,
    LostReasonFactory,
    PipelineFactory,
    ProductFactory,
    ProductPriceFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def pipeline(db):
    return PipelineFactory(with_stages=True, name="Test pipeline")


@pytest.fixture
def stages(pipeline):
    return {s.name: s for s in pipeline.stages.all()}


@pytest.fixture
def as_rep_a(client, rep_a):
    client.force_login(rep_a)
    return client


@pytest.fixture
def as_rep_b(client, rep_b):
    client.force_login(rep_b)
    return client


def _deal(pipeline, owner, team, **kw):
    CurrencyFactory(code="UAH")
    return DealFactory(pipeline=pipeline, owner=owner, team=team, **kw)


def _move(client, deal, stage, **extra):
    data = {"stage": stage.pk, "version": deal.version, **extra}
    return client.post(reverse("sales:deal-stage", args=[deal.pk]), data, **JSON)


# ----------------------------------------------------------------------------------------- access


@pytest.mark.parametrize(
    "name,args",
    [("sales:board", []), ("sales:deal-list", []), ("sales:deal-create", []), ("sales:product-list", [])],
)
def test_anonymous_is_sent_to_login(client, name, args):
    # when
    response = client.get(reverse(name, args=args))
    # then
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_a_rep_of_another_team_gets_404_everywhere_on_the_deal(as_rep_b, pipeline, stages, rep_a, team_a):
    # given: a deal of team A
    deal = _deal(pipeline, rep_a, team_a, title="Team A secret", expected_close_date=dt.date(2030, 1, 1))
    urls = [
        reverse("sales:deal-detail", args=[deal.pk]),
        reverse("sales:deal-edit", args=[deal.pk]),
        reverse("sales:deal-lines", args=[deal.pk]),
    ]
    # when / then: pages
    for url in urls:
        assert as_rep_b.get(url).status_code == 404, url
    # when / then: the stage move and the checklist
    assert _move(as_rep_b, deal, stages["Proposal"]).status_code == 404
    assert as_rep_b.post(reverse("sales:deal-checklist", args=[deal.pk]), {"item": 1}).status_code == 404
    # when: a bulk action naming the deal
    response = as_rep_b.post(
        reverse("sales:deal-bulk"), {"ids": [deal.pk], "action": "tag", "tag": "hijack"}, **HTMX
    )
    # then: skipped, nothing changed
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage == stages["Lead"] and deal.version == 1
    assert not deal.tags.exists()
    # and the board and list do not show it
    board = as_rep_b.get(reverse("sales:board", args=[pipeline.pk]))
    assert b"Team A secret" not in board.content
    assert b"Team A secret" not in as_rep_b.get(reverse("sales:deal-list")).content


def test_a_teammate_sees_the_deal_but_cannot_move_it(client, rep_a2, pipeline, stages, rep_a, team_a):
    # given: a rep may view the team's deals but change only their own
    deal = _deal(pipeline, rep_a, team_a, expected_close_date=dt.date(2030, 1, 1))
    client.force_login(rep_a2)
    # when / then
    assert client.get(reverse("sales:deal-detail", args=[deal.pk])).status_code == 200
    assert _move(client, deal, stages["Proposal"]).status_code == 404
    deal.refresh_from_db()
    assert deal.stage == stages["Lead"]


# ----------------------------------------------------------------------------------------- board


def test_board_shows_columns_with_counts_totals_and_cards(as_rep_a, pipeline, stages, rep_a, team_a):
    # given
    company = CompanyFactory(name="ТОВ Сонях", owner=rep_a, team=team_a)
    _deal(pipeline, rep_a, team_a, title="Big one", amount=Decimal("3000"), company=company)
    _deal(pipeline, rep_a, team_a, title="Small one", amount=Decimal("1000"))
    # when
    response = as_rep_a.get(reverse("sales:board", args=[pipeline.pk]))
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Big one" in html and "Small one" in html and "ТОВ Сонях" in html
    lead = response.context["columns"][0]
    assert lead["stage"] == stages["Lead"]
    assert lead["count"] == 2
    assert lead["total_base"] == Decimal("4000")
    assert lead["weighted_base"] == Decimal("400")  # 10 % of 4000
    assert [c["stage"].name for c in response.context["columns"]] == ["Lead", "Proposal", "Won", "Lost"]
    assert [c["recent_only"] for c in response.context["columns"]] == [False, False, True, True]
    assert html.count('data-testid="col-window"') == 2 and "Closed in the last 30 days" in html
    assert f'data-move-url="{reverse("sales:deal-stage", args=[Deal.objects.get(title="Big one").pk])}"' in html


def test_board_without_a_pipeline_id_opens_the_default_pipeline(as_rep_a, rep_a, team_a):
    # given
    Pipeline.objects.update(is_default=False)
    default = PipelineFactory(with_stages=True, name="Default one", is_default=True)
    # when
    response = as_rep_a.get(reverse("sales:board"))
    # then
    assert response.status_code == 200
    assert response.context["pipeline"] == default


def test_board_filters_by_owner_me_and_returns_a_partial_to_htmx(as_rep_a, pipeline, rep_a, rep_a2, team_a):
    # given
    _deal(pipeline, rep_a, team_a, title="Mine")
    _deal(pipeline, rep_a2, team_a, title="Colleague's")
    # when
    response = as_rep_a.get(reverse("sales:board", args=[pipeline.pk]), {"owner": "me"}, **HTMX)
    # then
    html = response.content.decode()
    assert "<html" not in html and 'id="kr-board"' in html
    assert "Mine" in html and "Colleague&#x27;s" not in html and "Colleague's" not in html


def test_board_filters_by_tag_and_close_period(as_rep_a, pipeline, rep_a, team_a):
    # given
    today = timezone.localdate()
    tagged = _deal(pipeline, rep_a, team_a, title="Tagged", expected_close_date=today)
    tagged.tags.add(Tag.objects.create(name="hot"))
    _deal(pipeline, rep_a, team_a, title="Later", expected_close_date=today + dt.timedelta(days=120))
    url = reverse("sales:board", args=[pipeline.pk])
    # when
    by_tag = as_rep_a.get(url, {"tag": "hot"}, **HTMX).content.decode()
    by_period = as_rep_a.get(url, {"period": "this_month"}, **HTMX).content.decode()
    # then
    assert "Tagged" in by_tag and "Later" not in by_tag
    assert "Tagged" in by_period and "Later" not in by_period


def test_board_query_count_does_not_grow_with_deals(
    as_rep_a, pipeline, rep_a, team_a, django_assert_max_num_queries
):
    # given: many deals spread over the stages
    for i in range(40):
        stage = list(pipeline.stages.all())[i % 2]
        _deal(pipeline, rep_a, team_a, stage=stage, company=CompanyFactory(owner=rep_a, team=team_a))
    url = reverse("sales:board", args=[pipeline.pk])
    # when / then: + 1 for the visible companies of the cards
    with django_assert_max_num_queries(20 + 1):
        response = as_rep_a.get(url)
    assert response.status_code == 200


def test_board_list_and_moved_card_do_not_name_a_company_outside_the_readers_scope(
    as_rep_a, pipeline, stages, rep_a, team_a, rep_b, team_b
):
    # given: rep_a's deals, one with team B's company, one with their own (the newest, first on the board)
    for i in range(31):  # enough for a second board page ("load more")
        _deal(pipeline, rep_a, team_a, title=f"Filler {i:02d}")
    _deal(pipeline, rep_a, team_a, title="With our client", company=CompanyFactory(owner=rep_a, team=team_a,
                                                                                     name="Ромашка Київ"))
    foreign = _deal(pipeline, rep_a, team_a, title="With Lviv's client", expected_close_date=dt.date(2031, 1, 1),
                    company=CompanyFactory(owner=rep_b, team=team_b, name="Кварц Львів"))
    # when
    board = as_rep_a.get(reverse("sales:board", args=[pipeline.pk])).content.decode()
    listed = as_rep_a.get(reverse("sales:deal-list")).content.decode()
    more = as_rep_a.get(reverse("sales:board-column", args=[pipeline.pk, stages["Lead"].pk]), {"offset": 0},
                        **HTMX).content.decode()
    moved = _move(as_rep_a, foreign, stages["Proposal"]).json()
    # then: the deal is there, its company's name is not; the visible company's name is
    for html in (board, listed, more, moved["card"]):
        assert "With Lviv&#x27;s client" in html and "Кварц Львів" not in html
    for html in (board, listed):
        assert "Ромашка Київ" in html
    assert "a company outside your scope" in board and "(outside your scope)" in listed


def test_board_load_more_returns_the_next_cards_of_a_column(as_rep_a, pipeline, stages, rep_a, team_a):
    # given: more deals than the first screen shows
    for i in range(33):
        _deal(pipeline, rep_a, team_a, title=f"Bulk deal {i:02d}")
    board = as_rep_a.get(reverse("sales:board", args=[pipeline.pk]))
    lead = board.context["columns"][0]
    assert lead["has_more"] and len(lead["deals"]) == 30
    # when
    response = as_rep_a.get(lead["more_url"], **HTMX)
    # then
    assert response.status_code == 200
    assert response.content.decode().count("data-kr-deal") == 3


# ----------------------------------------------------------------------------------------- stage moves


def test_moving_a_deal_succeeds_and_bumps_the_version(as_rep_a, pipeline, stages, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a, expected_close_date=dt.date(2030, 1, 1))
    # when
    response = _move(as_rep_a, deal, stages["Proposal"])
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["stage_id"] == stages["Proposal"].pk
    deal.refresh_from_db()
    assert deal.stage == stages["Proposal"] and body["version"] == deal.version > 1
    assert DealStageHistory.objects.filter(deal=deal, stage=stages["Proposal"], left_at__isnull=True).exists()


def test_a_rule_violation_is_refused_with_a_message_naming_what_is_missing(as_rep_a, pipeline, stages, rep_a, team_a):
    # given: Proposal needs an amount and an expected close date
    deal = _deal(pipeline, rep_a, team_a, expected_close_date=None)
    # when
    response = _move(as_rep_a, deal, stages["Proposal"])
    # then
    assert response.status_code == 422
    body = response.json()
    assert body["ok"] is False and body["code"] == "stage_rules"
    assert "close date" in body["message"].lower()
    assert any(m.get("field") == "expected_close_date" for m in body["missing"])
    deal.refresh_from_db()
    assert deal.stage == stages["Lead"] and deal.version == 1


def test_a_stale_version_is_a_conflict(as_rep_a, pipeline, stages, rep_a, team_a):
    # given: someone changed the deal since the board was rendered
    deal = _deal(pipeline, rep_a, team_a, expected_close_date=dt.date(2030, 1, 1))
    Deal.objects.filter(pk=deal.pk).update(version=5)
    # when
    response = _move(as_rep_a, deal, stages["Proposal"])  # sends version 1
    # then
    assert response.status_code == 412
    assert "changed by someone else" in response.json()["message"]
    assert Deal.objects.get(pk=deal.pk).stage == stages["Lead"]


def test_moving_to_lost_needs_a_reason(as_rep_a, pipeline, stages, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a)
    reason = LostReasonFactory(name="Too expensive")
    # when: no reason
    refused = _move(as_rep_a, deal, stages["Lost"])
    # then
    assert refused.status_code == 422 and refused.json()["need_lost_reason"] is True
    deal.refresh_from_db()
    assert deal.status == "open"
    # when: with a reason
    accepted = _move(as_rep_a, deal, stages["Lost"], lost_reason=reason.pk, lost_note="Went with a rival")
    # then
    assert accepted.status_code == 200, accepted.content
    deal.refresh_from_db()
    assert deal.status == "lost" and deal.lost_reason == reason and deal.closed_at is not None


def test_a_stage_of_another_pipeline_is_refused(as_rep_a, pipeline, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a)
    other = PipelineFactory(with_stages=True).stages.order_by("position").first()
    # when
    response = _move(as_rep_a, deal, other)
    # then
    assert response.status_code in (400, 422)
    assert response.json()["message"]
    assert Deal.objects.get(pk=deal.pk).pipeline == pipeline


def test_the_card_move_control_redirects_back_with_the_message(as_rep_a, pipeline, stages, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a, expected_close_date=None)
    url = reverse("sales:deal-stage", args=[deal.pk])
    # when: a plain form post (no JSON) that breaks a rule
    response = as_rep_a.post(url, {"stage": stages["Proposal"].pk, "version": 1}, follow=True)
    # then
    assert response.redirect_chain[-1][0] == reverse("sales:deal-detail", args=[deal.pk])
    assert "close date" in response.content.decode().lower()
    assert Deal.objects.get(pk=deal.pk).stage == stages["Lead"]


# ----------------------------------------------------------------------------------------- list


def test_list_sorts_filters_and_pages(as_rep_a, pipeline, stages, rep_a, team_a):
    # given
    _deal(pipeline, rep_a, team_a, title="Cheap", amount=Decimal("10"))
    _deal(pipeline, rep_a, team_a, title="Dear", amount=Decimal("9000"))
    won = _deal(pipeline, rep_a, team_a, title="Closed one", amount=Decimal("50"))
    Deal.objects.filter(pk=won.pk).update(stage=stages["Won"], status="won")
    url = reverse("sales:deal-list")
    # when
    by_amount = as_rep_a.get(url, {"sort": "-amount", "pipeline": pipeline.pk})
    open_only = as_rep_a.get(url, {"status": "open", "pipeline": pipeline.pk}, **HTMX)
    # then
    titles = [d.title for d in by_amount.context["page"].rows]
    assert titles == ["Dear", "Closed one", "Cheap"]
    html = open_only.content.decode()
    assert "<html" not in html and "Cheap" in html and "Closed one" not in html


def test_list_empty_state(as_rep_a):
    # given: nothing visible
    Deal.objects.all().delete()
    # when
    response = as_rep_a.get(reverse("sales:deal-list"))
    # then
    assert 'data-testid="empty-state"' in response.content.decode()


def test_list_query_count_does_not_grow_with_deals(
    as_rep_a, pipeline, rep_a, team_a, django_assert_max_num_queries
):
    # given
    for _ in range(30):
        deal = _deal(pipeline, rep_a, team_a, company=CompanyFactory(owner=rep_a, team=team_a))
        deal.tags.add(Tag.objects.get_or_create(name="t")[0])
    # when / then: + 1 for the visible companies of the page
    with django_assert_max_num_queries(16 + 1):
        response = as_rep_a.get(reverse("sales:deal-list"))
    assert len(response.context["page"].rows) >= 30


def test_bulk_change_owner_applies_to_the_team_and_skips_others(
    client, lead_a, pipeline, rep_a, rep_a2, rep_b, team_a, team_b
):
    # given: a team lead reassigns deals of the team; one of another team is named too
    mine = _deal(pipeline, rep_a, team_a)
    theirs = _deal(pipeline, rep_b, team_b)
    client.force_login(lead_a)
    # when
    response = client.post(
        reverse("sales:deal-bulk"), {"ids": [mine.pk, theirs.pk], "action": "owner", "owner": rep_a2.pk}, **HTMX
    )
    # then
    assert response.status_code == 200
    assert "1 deal changed, 1 skipped" in response.content.decode()
    assert Deal.objects.get(pk=mine.pk).owner == rep_a2
    assert Deal.objects.get(pk=theirs.pk).owner == rep_b


def test_a_rep_cannot_hand_deals_to_a_colleague_in_bulk(as_rep_a, pipeline, rep_a, rep_a2, team_a):
    # given: a rep changes only their own records
    deal = _deal(pipeline, rep_a, team_a)
    # when
    response = as_rep_a.post(
        reverse("sales:deal-bulk"), {"ids": [deal.pk], "action": "owner", "owner": rep_a2.pk}, **HTMX
    )
    # then: the service's refusal is shown, nothing changed
    assert "kr-message-error" in response.content.decode()
    assert Deal.objects.get(pk=deal.pk).owner == rep_a


def test_bulk_add_tag(as_rep_a, pipeline, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a)
    # when
    as_rep_a.post(reverse("sales:deal-bulk"), {"ids": [deal.pk], "action": "tag", "tag": "q3"})
    # then
    assert list(deal.tags.values_list("name", flat=True)) == ["q3"]


def test_bulk_without_a_tag_name_says_so(as_rep_a, pipeline, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a)
    # when
    response = as_rep_a.post(reverse("sales:deal-bulk"), {"ids": [deal.pk], "action": "tag"}, **HTMX)
    # then
    assert "Name the tag." in response.content.decode()


# ----------------------------------------------------------------------------------------- card


def test_card_shows_details_lines_history_and_links(as_rep_a, pipeline, stages, rep_a, team_a):
    # given: a deal moved once through the service
    company = CompanyFactory(name="ТОВ Сонях", owner=rep_a, team=team_a)
    deal = _deal(pipeline, rep_a, team_a, company=company, expected_close_date=dt.date(2030, 1, 1))
    product = ProductFactory(name="Widget")
    as_rep_a.post(
        reverse("sales:deal-lines", args=[deal.pk]),
        {
            "version": deal.version,
            "lines-TOTAL_FORMS": 1,
            "lines-INITIAL_FORMS": 0,
            "lines-0-product": product.pk,
            "lines-0-quantity": "2",
            "lines-0-unit_price": "100",
            "lines-0-discount_percent": "10",
            "lines-0-vat_rate": "20",
        },
    )
    deal.refresh_from_db()
    _move(as_rep_a, deal, stages["Proposal"])
    # when
    response = as_rep_a.get(reverse("sales:deal-detail", args=[deal.pk]))
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("clients:company-detail", args=[company.pk]) in html
    assert "Widget" in html
    assert "216.00" in html or "216,00" in html  # 2 × 100 − 10 % = 180, + 20 % VAT = 216
    assert Deal.objects.get(pk=deal.pk).amount == Decimal("216.00")
    assert 'data-testid="stage-history"' in html and "Proposal" in html


def test_checklist_tick_through_htmx(as_rep_a, pipeline, stages, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a)
    item = ChecklistItemFactory(stage=stages["Lead"], text="Qualified the budget", required=True)
    url = reverse("sales:deal-checklist", args=[deal.pk])
    # when
    response = as_rep_a.post(url, {"item": item.pk, "checked": "1"}, **HTMX)
    # then
    assert response.status_code == 200
    assert "Qualified the budget" in response.content.decode() and "checked" in response.content.decode()
    assert DealChecklistCheck.objects.filter(deal=deal, item=item).exists()
    # when: unticked
    as_rep_a.post(url, {"item": item.pk}, **HTMX)
    # then
    assert not DealChecklistCheck.objects.filter(deal=deal, item=item).exists()


# ----------------------------------------------------------------------------------------- forms


def _deal_post(pipeline, **overrides):
    data = {"title": "New roof", "pipeline": pipeline.pk, "amount": "1500.00", "currency": "UAH"}
    data.update(overrides)
    return data


def test_create_form_preselects_the_default_pipeline(as_rep_a):
    # given
    Pipeline.objects.update(is_default=False)
    default = PipelineFactory(with_stages=True, is_default=True)
    # when
    response = as_rep_a.get(reverse("sales:deal-create"))
    # then
    assert response.status_code == 200
    assert response.context["form"].initial["pipeline"] == default.pk


def test_create_a_deal(as_rep_a, pipeline, stages, rep_a):
    # given
    CurrencyFactory(code="UAH")
    # when
    response = as_rep_a.post(reverse("sales:deal-create"), _deal_post(pipeline, tags="hot, roof"))
    # then
    deal = Deal.objects.get(title="New roof")
    assert response.status_code == 302 and response["Location"] == reverse("sales:deal-detail", args=[deal.pk])
    assert deal.owner == rep_a and deal.stage == stages["Lead"] and deal.amount == Decimal("1500.00")
    assert sorted(deal.tags.values_list("name", flat=True)) == ["hot", "roof"]


@pytest.mark.parametrize(
    "field,value",
    [("amount", "-5"), ("expected_close_date", "not-a-date"), ("currency", "XXX"), ("title", "")],
)
def test_create_refuses_bad_input_naming_the_field(as_rep_a, pipeline, field, value):
    # given
    CurrencyFactory(code="UAH")
    before = Deal.objects.count()
    # when
    response = as_rep_a.post(reverse("sales:deal-create"), _deal_post(pipeline, **{field: value}))
    # then
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert f'data-field-errors="{field}"' in response.content.decode()
    assert Deal.objects.count() == before


def test_create_refuses_a_company_outside_the_scope(as_rep_a, pipeline, rep_b, team_b):
    # given
    CurrencyFactory(code="UAH")
    foreign = CompanyFactory(owner=rep_b, team=team_b)
    # when
    response = as_rep_a.post(reverse("sales:deal-create"), _deal_post(pipeline, company=foreign.pk))
    # then
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Deal.objects.filter(title="New roof").exists()


def test_create_refuses_a_stage_entry_rule(as_rep_a, pipeline, stages):
    # given: starting in Proposal without a close date
    CurrencyFactory(code="UAH")
    # when
    response = as_rep_a.post(reverse("sales:deal-create"), _deal_post(pipeline, stage=stages["Proposal"].pk))
    # then
    assert response.status_code == 200
    assert "close date" in response.content.decode().lower()
    assert not Deal.objects.filter(title="New roof").exists()


def test_edit_with_a_stale_version_shows_the_conflict(as_rep_a, pipeline, rep_a, team_a):
    # given
    deal = _deal(pipeline, rep_a, team_a, title="Old title")
    Deal.objects.filter(pk=deal.pk).update(version=3)
    # when
    response = as_rep_a.post(
        reverse("sales:deal-edit", args=[deal.pk]), {**_deal_post(pipeline, title="Mine"), "version": 1}
    )
    # then
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    assert Deal.objects.get(pk=deal.pk).title == "Old title"
    # when: saving again deliberately (the form now carries the current version)
    again = as_rep_a.post(
        reverse("sales:deal-edit", args=[deal.pk]), {**_deal_post(pipeline, title="Mine"), "version": 3}
    )
    # then
    assert again.status_code == 302
    assert Deal.objects.get(pk=deal.pk).title == "Mine"


def test_edit_form_keeps_a_company_the_editor_cannot_see(as_rep_a, pipeline, rep_a, team_a, rep_b, team_b):
    # given: rep_a's deal linked to another team's company
    theirs = CompanyFactory(name="ТОВ Чужа", owner=rep_b, team=team_b)
    deal = _deal(pipeline, rep_a, team_a, title="Roof", company=theirs)
    url = reverse("sales:deal-edit", args=[deal.pk])
    # when: the form opens and is saved as it comes (the empty company radio is the checked one)
    page = as_rep_a.get(url).content.decode()
    saved = as_rep_a.post(url, {**_deal_post(pipeline, title="Roof 2"), "company": "", "version": deal.version})
    # then: the page neither names the company nor pretends there is none, and saving keeps the link
    assert "ТОВ Чужа" not in page and "Keep the company outside your scope" in page and "hidden-links" in page
    assert saved.status_code == 302
    deal.refresh_from_db()
    assert deal.title == "Roof 2" and deal.company_id == theirs.pk


# ----------------------------------------------------------------------------------------- custom fields


def _deal_field(key, label, field_type="text", **kw):
    return CustomFieldDefinitionFactory(entity="deal", key=key, label=label, field_type=field_type, **kw)


@pytest.fixture
def deal_fields(db):
    """A required text field and one optional field of each other type, for deals."""
    return [
        _deal_field("contract", "Contract no.", required=True, position=1),
        _deal_field("budget", "Budget", "number", position=2),
        _deal_field("signed", "Signed on", "date", position=3),
        _deal_field("region", "Region", "choice", choices=["North", "South"], position=4),
        _deal_field("channels", "Channels", "multi_choice", choices=["web", "phone"], position=5),
        _deal_field("tender", "Tender", "boolean", position=6),
        CustomFieldDefinitionFactory(entity="contact", key="contract", label="Not a deal field"),
    ]


def test_the_deal_form_shows_the_deal_custom_fields(as_rep_a, pipeline, deal_fields):
    # when
    response = as_rep_a.get(reverse("sales:deal-create"))
    # then: the deal's fields with their widgets, the required one marked; not the contact's
    html = response.content.decode()
    names = [f.name for f in response.context["form"].custom_bound_fields()]
    assert names == [f"custom__{k}" for k in ("contract", "budget", "signed", "region", "channels", "tender")]
    assert "Not a deal field" not in html
    assert 'name="custom__contract" required' in html and "(required)" in html
    assert 'type="date" name="custom__signed"' in html
    assert '<option value="South">South</option>' in html
    assert 'type="checkbox" name="custom__channels" value="phone"' in html
    assert '<option value="true">Yes</option>' in html


def test_create_refuses_a_missing_required_custom_field_and_saves_nothing(as_rep_a, pipeline, deal_fields):
    # given
    CurrencyFactory(code="UAH")
    # when: the required field left empty, the number not a number
    response = as_rep_a.post(reverse("sales:deal-create"), _deal_post(pipeline, custom__budget="lots"))
    # then: the service's errors (custom.contract, custom.budget) on the fields, nothing saved
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"custom__contract", "custom__budget"}
    html = response.content.decode()
    assert 'data-field-errors="custom__contract"' in html and 'data-field-errors="custom__budget"' in html
    assert not Deal.objects.exists()


def test_create_saves_custom_values_and_the_card_shows_them(as_rep_a, pipeline, deal_fields):
    # given
    CurrencyFactory(code="UAH")
    values = {
        "custom__contract": "К-2030/17",
        "custom__budget": "1500,5",
        "custom__signed": "2030-03-08",
        "custom__region": "South",
        "custom__channels": ["web", "phone"],
        "custom__tender": "true",
    }
    # when
    response = as_rep_a.post(reverse("sales:deal-create"), _deal_post(pipeline, **values))
    # then
    deal = Deal.objects.get()
    assert response.status_code == 302
    assert deal.custom == {
        "contract": "К-2030/17",
        "budget": 1500.5,
        "signed": "2030-03-08",
        "region": "South",
        "channels": ["web", "phone"],
        "tender": True,
    }
    # and the card lists them with their labels, in the definitions' order
    card = as_rep_a.get(reverse("sales:deal-detail", args=[deal.pk]))
    assert card.context["custom_values"] == [
        ("Contract no.", "К-2030/17"),
        ("Budget", 1500.5),
        ("Signed on", "2030-03-08"),
        ("Region", "South"),
        ("Channels", "web, phone"),
        ("Tender", "Yes"),
    ]
    html = card.content.decode()
    assert 'data-testid="custom-values"' in html and "<dt>Contract no.</dt><dd>К-2030/17</dd>" in html


def test_edit_keeps_custom_values_including_those_the_form_does_not_show(
    as_rep_a, pipeline, rep_a, team_a, deal_fields
):
    # given: a deal with values, one of them under a key with no definition (e.g. from an import)
    stored = {"contract": "К-1", "budget": 200, "signed": "2030-01-02", "channels": ["phone"]}
    stored["tender"] = False
    deal = _deal(pipeline, rep_a, team_a, title="Roof", custom={**stored, "legacy_id": "A-77"})
    url = reverse("sales:deal-edit", args=[deal.pk])
    # when: the edit form opens
    page = as_rep_a.get(url)
    # then: it shows the stored values
    form = page.context["form"]
    assert {key: form[f"custom__{key}"].value() for key in stored} == stored
    html = page.content.decode()
    assert 'value="К-1"' in html and 'value="2030-01-02"' in html
    assert 'name="custom__channels" value="phone" id="id_custom__channels_1" checked' in html
    # when: saved with another title and the values as shown, the budget cleared
    response = as_rep_a.post(
        url,
        {
            **_deal_post(pipeline, title="Roof and walls"),
            "version": deal.version,
            "custom__contract": "К-1",
            "custom__signed": "2030-01-02",
            "custom__channels": ["phone"],
            "custom__tender": "false",
        },
    )
    # then: the values are kept, the cleared one dropped, the key without a field untouched
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.title == "Roof and walls"
    assert deal.custom == {
        "contract": "К-1",
        "signed": "2030-01-02",
        "channels": ["phone"],
        "tender": False,
        "legacy_id": "A-77",
    }


def test_edit_refuses_clearing_a_required_custom_field(as_rep_a, pipeline, rep_a, team_a, deal_fields):
    # given
    deal = _deal(pipeline, rep_a, team_a, title="Roof", custom={"contract": "К-1"})
    # when
    response = as_rep_a.post(
        reverse("sales:deal-edit", args=[deal.pk]),
        {**_deal_post(pipeline, title="Changed"), "version": deal.version, "custom__contract": ""},
    )
    # then
    assert response.status_code == 200
    assert "custom__contract" in response.context["form"].errors
    deal.refresh_from_db()
    assert deal.title == "Roof" and deal.custom == {"contract": "К-1"} and deal.version == 1


def test_a_rep_of_another_team_cannot_see_or_edit_custom_values(
    as_rep_b, pipeline, rep_a, team_a, deal_fields
):
    # given: a deal of team A with a custom value
    deal = _deal(pipeline, rep_a, team_a, title="Team A secret", custom={"contract": "К-1"})
    # when / then
    assert as_rep_b.get(reverse("sales:deal-detail", args=[deal.pk])).status_code == 404
    assert as_rep_b.get(reverse("sales:deal-edit", args=[deal.pk])).status_code == 404
    response = as_rep_b.post(
        reverse("sales:deal-edit", args=[deal.pk]),
        {**_deal_post(pipeline, title="Hijacked"), "version": deal.version, "custom__contract": "К-666"},
    )
    assert response.status_code == 404
    deal.refresh_from_db()
    assert deal.title == "Team A secret" and deal.custom == {"contract": "К-1"}


def test_company_picker_returns_only_visible_companies(as_rep_a, rep_a, rep_b, team_a, team_b):
    # given
    CompanyFactory(name="Сонях Київ", owner=rep_a, team=team_a)
    CompanyFactory(name="Сонях Львів", owner=rep_b, team=team_b)
    # when
    response = as_rep_a.get(reverse("sales:company-pick"), {"company_q": "Сонях"})
    # then
    html = response.content.decode()
    assert "Сонях Київ" in html and "Сонях Львів" not in html


# ----------------------------------------------------------------------------------------- products


def test_product_list_and_card(as_rep_a):
    # given
    product = ProductFactory(sku="ROOF-1", name="Roof tile")
    ProductPriceFactory(product=product, currency=CurrencyFactory(code="UAH"), price=Decimal("250"))
    # when
    listing = as_rep_a.get(reverse("sales:product-list"), {"q": "Roof"})
    card = as_rep_a.get(reverse("sales:product-detail", args=[product.pk]))
    # then
    assert "ROOF-1" in listing.content.decode()
    assert card.status_code == 200 and "250" in card.content.decode()


def test_a_rep_cannot_create_products(as_rep_a):
    # when / then
    assert as_rep_a.get(reverse("sales:product-create")).status_code == 403


def test_a_director_creates_a_product_with_prices(client, director):
    # given
    CurrencyFactory(code="UAH")
    client.force_login(director)
    # when
    response = client.post(
        reverse("sales:product-create"),
        {"sku": "W-1", "name": "Widget", "unit": "pcs", "vat_rate": "20", "active": "on", "price_UAH": "99.50"},
    )
    # then
    product = Product.objects.get(sku="W-1")
    assert response.status_code == 302
    assert product.prices.get(currency_id="UAH").price == Decimal("99.50")


def test_product_form_reports_a_bad_vat_rate(client, director):
    # given
    client.force_login(director)
    # when
    response = client.post(reverse("sales:product-create"), {"sku": "W-2", "name": "W", "unit": "pcs", "vat_rate": "150"})
    # then
    assert "vat_rate" in response.context["form"].errors
    assert not Product.objects.filter(sku="W-2").exists()
