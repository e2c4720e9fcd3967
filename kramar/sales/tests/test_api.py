"""The sales REST API through the real HTTP stack: auth, scopes (404 outside, 403 read-only), ETags, stage rules,
bad input (problem+json naming the field, nothing half-saved), keyset pages and bounded queries."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.models import AuditEntry, Tag
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.sales.models import (
    Deal,
    DealChecklistCheck,
    DealLine,
    DealStageHistory,
    ExchangeRate,
    Product,
    SalesTarget,
)
from kramar.sales.tests.factories import (
    ChecklistItemFactory,
    CurrencyFactory,
    DealContactFactory,
    DealFactory,
    ExchangeRateFactory,
    LostReasonFactory,
    PipelineFactory,
    PlaybookStepFactory,
    ProductFactory,
    ProductPriceFactory,
    SalesTargetFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline(db):
    return PipelineFactory(name="API pipeline", with_stages=True)


@pytest.fixture
def stages(pipeline):
    return {s.name: s for s in pipeline.stages.all()}


@pytest.fixture
def other_pipeline(db):
    return PipelineFactory(name="Other pipeline", with_stages=True)


@pytest.fixture
def deal_a(rep_a, team_a, pipeline, stages):
    deal = DealFactory(
        owner=rep_a, team=team_a, pipeline=pipeline, stage=stages["Lead"], title="Кварц: ліцензії",
        amount=Decimal("0"), currency=CurrencyFactory(code="UAH"),
    )
    DealStageHistory.objects.create(deal=deal, stage=deal.stage)
    return deal


def _put(api, path, data, **extra):
    return api.client.put(
        api._url(path), json.dumps(data), content_type="application/json", **api.headers, **extra
    )


def _deal_state(deal):
    deal.refresh_from_db()
    return (deal.title, deal.stage_id, deal.amount, deal.version, deal.lines.count(), deal.checks.count())


# ----------------------------------------------------------------------------------------- auth


def test_requests_without_credentials_are_401_problems(deal_a):
    # when
    response = Client().get(f"/api/v1/deals/{deal_a.pk}")
    # then
    assert response.status_code == 401
    problem_fields(response)
    assert response.json()["code"] == "not_authenticated"


def test_token_auth_reads_deals(rep_a, deal_a):
    # when
    response = ApiClient(rep_a).get(f"/deals/{deal_a.pk}")
    bad = ApiClient(token="kr_unknown").get(f"/deals/{deal_a.pk}")
    # then
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Кварц: ліцензії"
    assert response["ETag"] == f'"{deal_a.version}"'
    assert bad.status_code == 401


def test_session_auth_reads_and_needs_csrf_for_writes(rep_a, deal_a, stages):
    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep_a)
    # when
    read = client.get(f"/api/v1/deals/{deal_a.pk}")
    refused = client.patch(f"/api/v1/deals/{deal_a.pk}", {"title": "No CSRF"}, content_type="application/json")
    client.cookies["csrftoken"] = "k" * 32
    allowed = client.patch(
        f"/api/v1/deals/{deal_a.pk}", {"title": "With CSRF"}, content_type="application/json",
        HTTP_X_CSRFTOKEN="k" * 32,
    )
    # then
    assert read.status_code == 200
    assert refused.status_code == 403
    problem_fields(refused)
    assert allowed.status_code == 200, allowed.content
    deal_a.refresh_from_db()
    assert deal_a.title == "With CSRF"


# ----------------------------------------------------------------------------------------- scopes


DEAL_ID_ENDPOINTS = [
    ("get", "/deals/{d}", None),
    ("patch", "/deals/{d}", {"title": "Hacked"}),
    ("delete", "/deals/{d}", None),
    ("post", "/deals/{d}/move", {"stage_id": "{proposal}"}),
    ("put", "/deals/{d}/lines", {"lines": [{"description": "x", "unit_price": "1"}]}),
    ("post", "/deals/{d}/checklist/{item}", {"checked": True}),
    ("get", "/deals/{d}/history", None),
]


def _call(api, method, path, body, deal, stages, item):
    url = path.format(d=deal.pk, item=item.pk)
    if body is not None:
        body = {k: (stages["Proposal"].pk if v == "{proposal}" else v) for k, v in body.items()}
    if method == "put":
        return _put(api, url, body)
    if body is None:
        return getattr(api, method)(url)
    return getattr(api, method)(url, body)


@pytest.mark.parametrize(("method", "path", "body"), DEAL_ID_ENDPOINTS)
def test_rep_of_another_team_gets_404_and_changes_nothing(rep_b, deal_a, stages, method, path, body):
    # given
    item = ChecklistItemFactory(stage=stages["Lead"])
    deal_a.amount, deal_a.expected_close_date = Decimal("10"), timezone.localdate()
    deal_a.save()
    before = _deal_state(deal_a)
    # when
    response = _call(ApiClient(rep_b), method, path, body, deal_a, stages, item)
    # then
    assert response.status_code == 404, response.content
    problem_fields(response)
    assert response.json()["code"] == "not_found"
    assert Deal.objects.filter(pk=deal_a.pk).exists()
    assert _deal_state(deal_a) == before


@pytest.mark.parametrize(("method", "path", "body"), [e for e in DEAL_ID_ENDPOINTS if e[0] != "get"])
def test_teammate_may_read_but_not_change_the_deal(rep_a2, deal_a, stages, method, path, body):
    # given
    item = ChecklistItemFactory(stage=stages["Lead"])
    deal_a.amount, deal_a.expected_close_date = Decimal("10"), timezone.localdate()
    deal_a.save()
    before = _deal_state(deal_a)
    api = ApiClient(rep_a2)
    # when
    read = api.get(f"/deals/{deal_a.pk}")
    response = _call(api, method, path, body, deal_a, stages, item)
    # then
    assert read.status_code == 200
    assert response.status_code == 403, response.content
    problem_fields(response)
    assert _deal_state(deal_a) == before


def test_lists_show_only_deals_in_scope(rep_a, rep_b, team_b, deal_a, pipeline):
    # given
    own_b = DealFactory(owner=rep_b, team=team_b, pipeline=pipeline)
    # when
    ids_a = [d["id"] for d in ApiClient(rep_a).get("/deals/").json()["items"]]
    ids_b = [d["id"] for d in ApiClient(rep_b).get("/deals/").json()["items"]]
    # then
    assert ids_a == [deal_a.pk]
    assert ids_b == [own_b.pk]


def test_a_deals_company_and_contacts_outside_the_readers_scope_show_only_their_id(
    rep_a, team_a, rep_b, team_b, pipeline
):
    # given: rep_b's deal (team B) with team A's company and contact, and one of team B's contacts
    company = CompanyFactory(owner=rep_a, team=team_a, name="Кварц")
    hidden = ContactFactory(owner=rep_a, team=team_a, first_name="Олена", last_name="Петренко")
    own = ContactFactory(owner=rep_b, team=team_b, first_name="Іван", last_name="Мельник")
    deal = DealFactory(owner=rep_b, team=team_b, pipeline=pipeline, company=company)
    DealContactFactory(deal=deal, contact=hidden, is_primary=True)
    DealContactFactory(deal=deal, contact=own)
    api_b = ApiClient(rep_b)
    # when
    item = api_b.get("/deals/").json()["items"][0]
    detail = api_b.get(f"/deals/{deal.pk}").json()
    # then: the ids, not the names, of what rep_b may not see; the names of what they may
    assert item["company"] == {"id": company.pk, "name": None} and detail["company"] == item["company"]
    assert [(c["id"], c["name"]) for c in detail["contacts"]] == [(hidden.pk, None), (own.pk, "Іван Мельник")]
    assert "Кварц" not in str(detail) and "Петренко" not in str(detail)
    # and a director sees them all
    seen = ApiClient(UserFactory(role="Sales director")).get(f"/deals/{deal.pk}").json()
    assert seen["company"]["name"] == "Кварц" and seen["contacts"][0]["name"] == "Олена Петренко"


def test_a_deals_audit_trail_in_its_scope(rep_a, rep_a2, rep_b, deal_a):
    # given: two changes through the API
    api = ApiClient(rep_a)
    api.patch(f"/deals/{deal_a.pk}", {"title": "Друга назва"})
    api.patch(f"/deals/{deal_a.pk}", {"title": "Третя назва"})
    # when
    response = api.get(f"/deals/{deal_a.pk}/audit", {"limit": 1})
    # then: newest first, field-level changes, a page at a time
    assert response.status_code == 200
    body = response.json()
    assert body["items"][0]["changes"]["title"] == ["Друга назва", "Третя назва"] and body["next_cursor"]
    assert body["items"][0]["source"] == "api" and body["items"][0]["entity"] == "deal"
    rest = api.get(f"/deals/{deal_a.pk}/audit", {"cursor": body["next_cursor"]}).json()["items"]
    assert [e["changes"]["title"][1] for e in rest] == ["Друга назва"]
    # and a teammate reads it, another team's rep gets 404
    assert ApiClient(rep_a2).get(f"/deals/{deal_a.pk}/audit").status_code == 200
    outside = ApiClient(rep_b).get(f"/deals/{deal_a.pk}/audit")
    assert outside.status_code == 404
    problem_fields(outside)


# ----------------------------------------------------------------------------------------- CRUD and versions


def test_create_get_update_delete_deal_is_audited_as_api(rep_a, lead_a, team_a, pipeline, stages):
    # given
    company = CompanyFactory(owner=rep_a, team=team_a, name="Кварц")
    contact = ContactFactory(owner=rep_a, team=team_a)
    api = ApiClient(rep_a)
    # when
    created = api.post("/deals/", {
        "title": "Нова угода", "pipeline_id": pipeline.pk, "company_id": company.pk, "contact_ids": [contact.pk],
        "amount": "1500.50", "currency": "UAH", "expected_close_date": "2031-03-01", "tags": ["hot"],
    })
    # then
    assert created.status_code == 201, created.content
    body = created.json()
    assert created["ETag"] == '"1"' and created["Location"].endswith(f"/deals/{body['id']}")
    assert body["stage"]["id"] == stages["Lead"].pk and body["status"] == "open"
    assert body["company"] == {"id": company.pk, "name": "Кварц"}
    assert body["contacts"][0]["id"] == contact.pk and body["contacts"][0]["is_primary"]
    assert body["amount"] == "1500.50" and body["amount_base"] == "1500.50" and body["tags"] == ["hot"]
    assert body["owner"]["id"] == rep_a.pk
    deal = Deal.objects.get(pk=body["id"])
    assert DealStageHistory.objects.filter(deal=deal, left_at__isnull=True).count() == 1
    # when
    patched = api.patch(f"/deals/{deal.pk}", {"title": "Перейменована"}, HTTP_IF_MATCH=created["ETag"])
    # then
    assert patched.status_code == 200, patched.content
    assert patched.json()["title"] == "Перейменована" and patched["ETag"] == '"2"'
    # when: the team lead deletes with the current ETag
    deleted = ApiClient(lead_a).delete(f"/deals/{deal.pk}", HTTP_IF_MATCH='"2"')
    # then
    assert deleted.status_code == 204
    assert not Deal.objects.filter(pk=deal.pk).exists()
    sources = set(AuditEntry.objects.filter(entity="deal", object_id=deal.pk).values_list("source", flat=True))
    assert sources == {"api"}


def test_stale_if_match_is_412_and_changes_nothing(rep_a, lead_a, deal_a, stages):
    # given
    api = ApiClient(rep_a)
    etag = api.get(f"/deals/{deal_a.pk}")["ETag"]
    assert api.patch(f"/deals/{deal_a.pk}", {"amount": "10", "expected_close_date": "2031-01-01"},
                     HTTP_IF_MATCH=etag).status_code == 200
    before = _deal_state(deal_a)
    # when: a second writer still holds the old ETag
    responses = [
        api.patch(f"/deals/{deal_a.pk}", {"title": "B"}, HTTP_IF_MATCH=etag),
        api.patch(f"/deals/{deal_a.pk}", {"title": "B", "version": 1}),
        api.patch(f"/deals/{deal_a.pk}", {"title": "B"}, HTTP_IF_MATCH="banana"),
        api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk}, HTTP_IF_MATCH=etag),
        api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk, "version": 1}),
        _put(api, f"/deals/{deal_a.pk}/lines", {"lines": []}, HTTP_IF_MATCH=etag),
        ApiClient(lead_a).delete(f"/deals/{deal_a.pk}", HTTP_IF_MATCH=etag),
    ]
    # then
    for response in responses:
        assert response.status_code == 412, response.content
        problem_fields(response)
        assert response.json()["code"] == "version_conflict"
        assert response.json()["current_version"] == 2
    assert _deal_state(deal_a) == before


def test_if_match_is_optional_as_in_the_core_api(rep_a, deal_a, stages):
    # given: the clients API treats a missing If-Match as "no check"; deals do the same
    api = ApiClient(rep_a)
    # when
    patched = api.patch(f"/deals/{deal_a.pk}", {"amount": "5", "expected_close_date": "2031-01-01"})
    moved = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk})
    # then
    assert patched.status_code == 200 and moved.status_code == 200, moved.content
    assert moved["ETag"] == '"3"' and moved.json()["stage"]["name"] == "Proposal"


def test_if_match_and_body_version_that_disagree_are_422(rep_a, deal_a):
    response = ApiClient(rep_a).patch(f"/deals/{deal_a.pk}", {"title": "x", "version": 2}, HTTP_IF_MATCH='"1"')
    assert response.status_code == 422
    assert problem_fields(response) == {"version"}


# ----------------------------------------------------------------------------------------- move and stage rules


def test_move_refused_by_stage_rules_is_422_listing_what_is_missing(rep_a, deal_a, stages):
    # given: Proposal needs an amount and a close date; the deal has neither
    api = ApiClient(rep_a)
    # when
    response = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk}, HTTP_IF_MATCH='"1"')
    # then
    assert response.status_code == 422, response.content
    problem_fields(response)
    body = response.json()
    assert body["code"] == "stage_rules"
    assert {m["field"] for m in body["missing"]} == {"amount", "expected_close_date"}
    assert all(m["code"] == "required_field" and m["message"] for m in body["missing"])
    deal_a.refresh_from_db()
    assert deal_a.stage_id == stages["Lead"].pk and deal_a.version == 1
    assert DealStageHistory.objects.filter(deal=deal_a).count() == 1


def test_move_accepted_when_rules_are_met_updates_history_and_playbook_once(rep_a, deal_a, stages):
    # given
    PlaybookStepFactory(stage=stages["Proposal"], title="Send the proposal")
    api = ApiClient(rep_a)
    api.patch(f"/deals/{deal_a.pk}", {"amount": "1000", "expected_close_date": "2031-01-01"})
    # when: forward, back and forward again
    first = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk}, HTTP_IF_MATCH='"2"')
    back = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Lead"].pk}, HTTP_IF_MATCH=first["ETag"])
    again = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk}, HTTP_IF_MATCH=back["ETag"])
    history = api.get(f"/deals/{deal_a.pk}/history").json()["items"]
    # then
    assert first.status_code == back.status_code == again.status_code == 200, again.content
    assert again.json()["stage"]["id"] == stages["Proposal"].pk and again["ETag"] == '"5"'
    assert [h["stage"]["name"] for h in history] == ["Lead", "Proposal", "Lead", "Proposal"]
    assert all(h["left_at"] for h in history[:-1]) and history[-1]["left_at"] is None
    assert deal_a.tasks.filter(title="Send the proposal").count() == 1


def test_move_to_a_stage_of_another_pipeline_is_a_4xx_naming_stage_id(rep_a, deal_a, other_pipeline):
    # given
    foreign = other_pipeline.stages.order_by("position").first()
    # when
    response = ApiClient(rep_a).post(f"/deals/{deal_a.pk}/move", {"stage_id": foreign.pk})
    # then
    assert response.status_code in (400, 422), response.content
    problem_fields(response)
    body = response.json()
    assert body["code"] == "wrong_pipeline" and body["field"] == "stage_id"
    assert other_pipeline.name in body["detail"]
    deal_a.refresh_from_db()
    assert deal_a.pipeline_id != other_pipeline.pk and deal_a.version == 1


def test_move_to_an_unknown_stage_is_422_naming_stage_id(rep_a, deal_a):
    response = ApiClient(rep_a).post(f"/deals/{deal_a.pk}/move", {"stage_id": 987654321})
    assert response.status_code == 422
    assert problem_fields(response) == {"stage_id"}


def test_lost_needs_a_reason_then_closes_the_deal(rep_a, deal_a, stages):
    # given
    reason = LostReasonFactory(name="Too expensive")
    api = ApiClient(rep_a)
    # when
    refused = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Lost"].pk})
    lost = api.post(
        f"/deals/{deal_a.pk}/move",
        {"stage_id": stages["Lost"].pk, "lost_reason_id": reason.pk, "lost_note": "Went with a competitor"},
    )
    # then
    assert refused.status_code == 422
    assert problem_fields(refused) == {"lost_reason_id"}
    assert lost.status_code == 200, lost.content
    body = lost.json()
    assert body["status"] == "lost" and body["closed_at"]
    assert body["lost_reason"] == {"id": reason.pk, "name": "Too expensive"}
    assert body["lost_note"] == "Went with a competitor"


# ----------------------------------------------------------------------------------------- lines and checklist


def test_put_lines_replaces_them_and_sets_the_amount(rep_a, deal_a):
    # given
    product = ProductFactory(vat_rate=Decimal("20"))
    ProductPriceFactory(product=product, currency=CurrencyFactory(code="UAH"), price=Decimal("100.00"))
    api = ApiClient(rep_a)
    # when
    lines = [
        {"product_id": product.pk, "quantity": "2", "discount_percent": "10"},
        {"description": "Setup", "unit_price": "50", "vat_rate": "0"},
    ]
    response = _put(api, f"/deals/{deal_a.pk}/lines", {"lines": lines}, HTTP_IF_MATCH='"1"')
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert [line["total"] for line in body["lines"]] == ["216.00", "50.00"]
    assert body["amount"] == "266.00" and response["ETag"] == '"2"'


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"description": "x", "unit_price": "-1"}], "lines[0].unit_price"),
        ([{"description": "x", "unit_price": "1", "quantity": "0"}], "lines[0].quantity"),
        ([{"description": "x", "unit_price": "1", "discount_percent": "150"}], "lines[0].discount_percent"),
        ([{"product_id": 987654321, "unit_price": "1"}], "lines[0].product_id"),
        ([{"unit_price": "1"}], "lines[0].description"),
        ([{"description": "x", "unit_price": "abc"}], "lines[0].unit_price"),
    ],
)
def test_bad_lines_are_422_naming_the_line_and_nothing_is_saved(rep_a, deal_a, lines, field):
    # given
    DealLine.objects.create(deal=deal_a, description="kept", unit_price=Decimal("5"))
    api = ApiClient(rep_a)
    # when
    response = _put(api, f"/deals/{deal_a.pk}/lines", {"lines": [{"description": "ok", "unit_price": "1"}] + lines})
    # then
    assert response.status_code == 422, response.content
    shifted = field.replace("lines[0]", "lines[1]")
    assert shifted in problem_fields(response)
    assert list(deal_a.lines.values_list("description", flat=True)) == ["kept"]
    deal_a.refresh_from_db()
    assert deal_a.version == 1


def test_checklist_toggle_ticks_and_unticks(rep_a, deal_a, stages, other_pipeline):
    # given
    item = ChecklistItemFactory(stage=stages["Lead"], text="Budget confirmed", required=True)
    foreign = ChecklistItemFactory(stage=other_pipeline.stages.first())
    api = ApiClient(rep_a)
    # when
    ticked = api.post(f"/deals/{deal_a.pk}/checklist/{item.pk}", {"checked": True})
    wrong = api.post(f"/deals/{deal_a.pk}/checklist/{foreign.pk}", {"checked": True})
    # then
    assert ticked.status_code == 200, ticked.content
    assert [c for c in ticked.json()["checklist"] if c["id"] == item.pk][0]["checked"] is True
    assert wrong.status_code == 422 and problem_fields(wrong) == {"item_id"}
    # when
    unticked = api.post(f"/deals/{deal_a.pk}/checklist/{item.pk}", {"checked": False})
    # then
    assert unticked.status_code == 200
    assert not DealChecklistCheck.objects.filter(deal=deal_a).exists()


def test_required_checklist_item_blocks_a_later_stage_until_ticked(rep_a, deal_a, stages):
    # given
    item = ChecklistItemFactory(stage=stages["Lead"], text="Budget confirmed", required=True)
    api = ApiClient(rep_a)
    api.patch(f"/deals/{deal_a.pk}", {"amount": "10", "expected_close_date": "2031-01-01"})
    # when
    refused = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk})
    api.post(f"/deals/{deal_a.pk}/checklist/{item.pk}", {"checked": True})
    moved = api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Proposal"].pk})
    # then
    assert refused.status_code == 422
    assert [m["code"] for m in refused.json()["missing"]] == ["checklist"]
    assert moved.status_code == 200


# ----------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": -5}, "amount"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "EURO-DOLLAR"}, "currency"),
        ({"expected_close_date": "tomorrow-ish"}, "expected_close_date"),
        ({"expected_close_date": "2031-02-30"}, "expected_close_date"),
        ({"title": ""}, "title"),
        ({"company_id": 987654321}, "company_id"),
        ({"contact_ids": [987654321]}, "contact_ids"),
        ({"owner_id": "abc"}, "owner_id"),
        ({"unknown": 1}, "unknown"),
        ({"lines": [{"description": "x", "unit_price": "-1"}]}, "lines[0].unit_price"),
    ],
)
def test_bad_deal_input_is_a_422_naming_the_field_and_nothing_is_saved(rep_a, pipeline, data, field):
    # given
    before = Deal.objects.count()
    # when
    response = ApiClient(rep_a).post("/deals/", {"title": "T", "pipeline_id": pipeline.pk, **data})
    # then
    assert response.status_code == 422, response.content
    assert field in problem_fields(response)
    assert Deal.objects.count() == before
    assert not DealLine.objects.exists()


def test_create_with_a_stage_of_another_pipeline_is_refused(rep_a, pipeline, other_pipeline):
    # when
    foreign = other_pipeline.stages.order_by("position").first()
    response = ApiClient(rep_a).post("/deals/", {"title": "T", "pipeline_id": pipeline.pk, "stage_id": foreign.pk})
    # then
    assert response.status_code == 422
    assert problem_fields(response) == {"stage_id"}
    assert not Deal.objects.filter(title="T").exists()


def test_create_in_a_stage_whose_rules_are_unmet_saves_nothing(rep_a, pipeline, stages):
    # when
    response = ApiClient(rep_a).post("/deals/", {
        "title": "Straight to proposal", "stage_id": stages["Proposal"].pk, "tags": ["new-tag"],
        "lines": [{"description": "x", "unit_price": "0"}],
    })
    # then
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "stage_rules"
    assert {m["field"] for m in response.json()["missing"]} == {"amount", "expected_close_date"}
    assert not Deal.objects.filter(title="Straight to proposal").exists()
    assert not DealLine.objects.exists() and not Tag.objects.filter(name="new-tag").exists()


def test_patch_cannot_change_the_stage(rep_a, deal_a, stages):
    response = ApiClient(rep_a).patch(f"/deals/{deal_a.pk}", {"stage_id": stages["Won"].pk})
    assert response.status_code == 422
    assert problem_fields(response) == {"stage_id"}
    deal_a.refresh_from_db()
    assert deal_a.stage_id == stages["Lead"].pk


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("post", "/deals/", "{not json"),
        ("post", "/deals/", "[]"),
        ("post", "/deals/", "null"),
        ("post", "/deals/", '{"title": "x\\u0000y"}'),
        ("post", "/deals/", '{"title": "\\ud800"}'),
        ("post", "/deals/", '{"title": "x", "amount": 1e999}'),
        ("post", "/deals/", '{"title": "x", "amount": "NaN"}'),
        ("post", "/deals/", '{"title": "x", "amount": "1e30"}'),
        ("post", "/deals/", '{"title": "x", "amount": true}'),
        ("post", "/deals/", '{"title": "x", "tags": "a"}'),
        ("post", "/deals/", '{"title": "x", "custom": []}'),
        ("post", "/deals/", '{"title": "x", "contact_ids": [100000000000000000000000]}'),
        ("post", "/deals/", '{"title": "x", "lines": {}}'),
        ("post", "/deals/", '{"title": "x", "lines": [1]}'),
        ("post", "/deals/", '{"title": "x", "expected_close_date": 12}'),
        ("patch", "/deals/{d}", "}}"),
        ("patch", "/deals/{d}", '{"amount": "1,5.3"}'),
        ("post", "/deals/{d}/move", "{}"),
        ("post", "/deals/{d}/move", '{"stage_id": "abc"}'),
        ("post", "/deals/{d}/move", '{"stage_id": -1}'),
        ("post", "/deals/{d}/move", '{"stage_id": 100000000000000000000000}'),
        ("post", "/deals/{d}/checklist/1", '{"checked": "maybe"}'),
        ("post", "/products/", '{"sku": "x", "name": "y", "prices": {"UAH": "-1"}}'),
        ("post", "/targets/", '{"user_id": 1, "period_start": "soon"}'),
        ("post", "/currencies/USD/rates", '{"date": "2030-01-01", "rate": "zero"}'),
    ],
)
def test_malformed_bodies_are_4xx_never_500(director, deal_a, method, path, raw):
    # when
    response = getattr(ApiClient(director), method)(path.format(d=deal_a.pk), raw=raw)
    # then
    assert response.status_code in (400, 403, 404, 422), response.content
    problem_fields(response)


@pytest.mark.parametrize(
    "path",
    [
        "/deals/?limit=0",
        "/deals/?limit=201",
        "/deals/?sort=bogus",
        "/deals/?status=maybe",
        "/deals/?owner=someone",
        "/deals/?pipeline=abc",
        "/deals/?stage=99999999999999999999999",
        "/deals/?close_from=tomorrow-ish",
        "/deals/?rotting=perhaps",
        "/deals/?q=a%00b",
        "/deals/99999999999999999999999",
        "/deals/0",
        "/deals/abc/history",
        "/currencies/US/rates",
        "/products/?active=perhaps",
        "/targets/?on=someday",
    ],
)
def test_malformed_query_and_path_values_are_4xx(rep_a, path):
    response = ApiClient(rep_a).get(path)
    assert response.status_code in (400, 404, 422), response.content
    problem_fields(response)


@pytest.mark.parametrize(
    "cursor", ["garbage", "%%%", "A" * 1999, "eyJzIjoiLXVwZGF0ZWQifQ", "eyJzIjoidGl0bGUiLCJ2IjpbIngiLDFdfQ"]
)
def test_garbage_cursor_is_400_problem(rep_a, deal_a, cursor):
    response = ApiClient(rep_a).get("/deals/", {"cursor": cursor})
    assert response.status_code == 400, response.content
    problem_fields(response)


@pytest.mark.parametrize(
    ("sort", "cursor_values"),
    [("amount", ["x", 1]), ("close", ["2031-13-01", 1]), ("-updated", [{"t": "2031-01-01T00:00:00"}, 1])],
)
def test_cursor_with_bad_values_for_its_sort_is_400(rep_a, deal_a, sort, cursor_values):
    from kramar.core.api_support import cursor_encode

    response = ApiClient(rep_a).get("/deals/", {"sort": sort, "cursor": cursor_encode(sort, cursor_values)})
    assert response.status_code == 400, response.content
    problem_fields(response)


# ----------------------------------------------------------------------------------------- lists


@pytest.mark.parametrize("sort", ["title", "-title", "amount", "-amount", "close", "-close", "updated", "-updated",
                                  "stage"])
def test_cursor_pagination_walks_every_deal_once_in_order(rep_a, team_a, pipeline, other_pipeline, sort):
    # given: ties, NULL close dates and a currency without a rate (NULL base amount)
    CurrencyFactory(code="PLN")
    stages = list(pipeline.stages.order_by("position")) + list(other_pipeline.stages.order_by("position"))
    for i in range(9):
        DealFactory(
            owner=rep_a, team=team_a, pipeline=stages[i % 5].pipeline, stage=stages[i % 5],
            title="Same" if i % 3 == 0 else f"Deal {i}", amount=Decimal(i % 4 * 100),
            currency=CurrencyFactory(code="PLN" if i == 4 else "UAH"),
            expected_close_date=None if i % 3 == 1 else dt.date(2031, 1, 1 + i % 2),
        )
    Deal.objects.update(updated_at=timezone.now())
    api = ApiClient(rep_a)
    expected = [d["id"] for d in api.get("/deals/", {"sort": sort, "limit": 200}).json()["items"]]
    # when
    seen, cursor, pages = [], None, 0
    while True:
        body = api.get("/deals/", {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [d["id"] for d in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    # then
    assert len(expected) == 9 and seen == expected and pages == 5


def test_deal_list_sorts(rep_a, team_a, pipeline):
    # given
    ExchangeRateFactory(currency=CurrencyFactory(code="USD"), rate=Decimal("40"), date=timezone.localdate())
    small = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, title="B", amount=Decimal("1000"))
    big = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, title="A", amount=Decimal("100"),
                      currency=CurrencyFactory(code="USD"))
    api = ApiClient(rep_a)
    # when
    by_amount = api.get("/deals/", {"sort": "-amount"}).json()["items"]
    by_title = api.get("/deals/", {"sort": "title"}).json()["items"]
    # then
    assert [d["id"] for d in by_amount] == [big.pk, small.pk]
    assert by_amount[0]["amount_base"] == "4000.00"
    assert [d["id"] for d in by_title] == [big.pk, small.pk]


def test_deal_list_filters(rep_a, rep_a2, team_a, pipeline, other_pipeline, stages):
    # given
    today = timezone.localdate()
    hot = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=stages["Proposal"], title="Hot licence",
                      expected_close_date=today + dt.timedelta(days=5))
    hot.tags.add(Tag.objects.create(name="hot"))
    TaskFactory(owner=rep_a, deal=hot)
    stuck = DealFactory(owner=rep_a2, team=team_a, pipeline=pipeline, stage=stages["Proposal"], title="Stuck",
                        stage_entered_at=timezone.now() - dt.timedelta(days=30))
    won = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=stages["Won"], status="won", title="Won")
    other = DealFactory(owner=rep_a, team=None, pipeline=other_pipeline, title="Other")
    api = ApiClient(rep_a)

    def ids(**params):
        response = api.get("/deals/", params)
        assert response.status_code == 200, response.content
        return {d["id"] for d in response.json()["items"]}

    # then
    assert ids(pipeline=pipeline.pk) == {hot.pk, stuck.pk, won.pk}
    assert ids(stage=stages["Proposal"].pk) == {hot.pk, stuck.pk}
    assert ids(status="won") == {won.pk}
    assert ids(owner="me") == {hot.pk, won.pk, other.pk}
    assert ids(owner=rep_a2.pk) == {stuck.pk}
    assert ids(team=team_a.pk) == {hot.pk, stuck.pk, won.pk}
    assert ids(tag="hot") == {hot.pk}
    assert ids(close_from=today.isoformat(), close_to=(today + dt.timedelta(days=10)).isoformat()) == {hot.pk}
    assert ids(q="licen") == {hot.pk}
    assert ids(rotting="true") == {stuck.pk}
    assert ids(no_next_step="true") == {stuck.pk, other.pk}
    listed = {d["id"]: d for d in api.get("/deals/").json()["items"]}
    assert listed[stuck.pk]["is_rotting"] is True and listed[hot.pk]["is_rotting"] is False
    assert listed[hot.pk]["next_task_due"] is not None and listed[hot.pk]["tags"] == ["hot"]


def _count_queries(api, params):
    with CaptureQueriesContext(connection) as ctx:
        response = api.get("/deals/", params)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()


def test_deal_page_has_a_bounded_number_of_queries(rep_a, team_a, pipeline, django_assert_max_num_queries):
    # given: 60 deals, each with an owner, a company, a stage, a tag and an open task
    tag = Tag.objects.create(name="vip")
    for _ in range(60):
        deal = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, company=CompanyFactory(owner=rep_a))
        deal.tags.add(tag)
        TaskFactory(owner=rep_a, deal=deal)
    api = ApiClient(rep_a)
    # when: + 1 for the visible companies of the page
    with django_assert_max_num_queries(8 + 1):
        response = api.get("/deals/")
    small, small_body = _count_queries(api, {"limit": 5})
    large, large_body = _count_queries(api, {"limit": 60})
    # then
    items = response.json()["items"]
    assert len(items) == 50 and response.json()["next_cursor"]
    assert all(i["company"]["name"] and i["owner"] and i["stage"]["name"] and i["tags"] == ["vip"] for i in items)
    assert len(small_body["items"]) == 5 and len(large_body["items"]) == 60
    assert small == large


# ----------------------------------------------------------------------------------------- pipelines, stages


def test_pipelines_with_stages_and_stage_detail(rep_a, pipeline, stages):
    # given
    ChecklistItemFactory(stage=stages["Proposal"], text="Send the deck", required=True)
    api = ApiClient(rep_a)
    # when
    listed = api.get("/pipelines/", {"limit": 200})
    one = api.get(f"/pipelines/{pipeline.pk}")
    stage = api.get(f"/stages/{stages['Proposal'].pk}")
    missing = api.get("/pipelines/987654321")
    # then
    assert listed.status_code == 200
    ours = [p for p in listed.json()["items"] if p["id"] == pipeline.pk][0]
    assert [s["name"] for s in ours["stages"]] == ["Lead", "Proposal", "Won", "Lost"]
    assert one.json()["stages"][1]["required_fields"] == ["amount", "expected_close_date"]
    assert stage.json()["checklist"][0]["text"] == "Send the deck" and stage.json()["kind"] == "open"
    assert missing.status_code == 404
    problem_fields(missing)


def test_lost_reasons_list_only_active(rep_a):
    # given
    LostReasonFactory(name="Price", position=1)
    LostReasonFactory(name="Old", active=False)
    # when
    names = [r["name"] for r in ApiClient(rep_a).get("/lost-reasons/", {"limit": 200}).json()["items"]]
    # then
    assert "Price" in names and "Old" not in names


# ----------------------------------------------------------------------------------------- products


def test_products_read_by_reps_written_by_directors(rep_a, director):
    # given
    CurrencyFactory(code="UAH")
    CurrencyFactory(code="USD")
    rep, boss = ApiClient(rep_a), ApiClient(director)
    # when
    refused = rep.post("/products/", {"sku": "LIC-1", "name": "Licence"})
    created = boss.post("/products/", {"sku": "LIC-1", "name": "Licence", "vat_rate": "20",
                                       "prices": {"UAH": "1200", "USD": "30"}})
    # then
    assert refused.status_code == 403
    problem_fields(refused)
    assert created.status_code == 201, created.content
    product = created.json()
    assert product["prices"] == {"UAH": "1200.00", "USD": "30.00"}
    # when
    patched = boss.patch(f"/products/{product['id']}", {"active": False, "prices": {"UAH": "1300"}})
    listed = rep.get("/products/", {"q": "lic"}).json()["items"]
    inactive = rep.get("/products/", {"active": "false"}).json()["items"]
    # then
    assert patched.status_code == 200 and patched.json()["prices"] == {"UAH": "1300.00"}
    assert [p["id"] for p in listed] == [product["id"]] and [p["id"] for p in inactive] == [product["id"]]
    assert rep.get(f"/products/{product['id']}").json()["active"] is False
    assert rep.patch(f"/products/{product['id']}", {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"sku": "", "name": "x"}, "sku"),
        ({"sku": "S", "name": "x", "vat_rate": "120"}, "vat_rate"),
        ({"sku": "S", "name": "x", "prices": {"XXX": "1"}}, "prices.XXX"),
        ({"sku": "S", "name": "x", "prices": {"UAH": "-1"}}, "prices.UAH"),
        ({"sku": "DUP", "name": "x"}, "sku"),
    ],
)
def test_bad_product_input_is_422_naming_the_field(director, data, field):
    # given
    ProductFactory(sku="DUP")
    CurrencyFactory(code="UAH")
    before = Product.objects.count()
    # when
    response = ApiClient(director).post("/products/", data)
    # then
    assert response.status_code == 422, response.content
    assert field in problem_fields(response)
    assert Product.objects.count() == before


# ----------------------------------------------------------------------------------------- currencies, targets


def test_currencies_and_rates(rep_a, director):
    # given
    CurrencyFactory(code="UAH")
    CurrencyFactory(code="EUR")
    ExchangeRateFactory(currency=CurrencyFactory(code="USD"), date=timezone.localdate(), rate=Decimal("41.5"))
    boss = ApiClient(director)
    # when
    listed = {c["code"]: c for c in ApiClient(rep_a).get("/currencies/", {"limit": 200}).json()["items"]}
    created = boss.post("/currencies/usd/rates", {"date": "2030-01-02", "rate": "42.25"})
    replaced = boss.post("/currencies/USD/rates", {"date": "2030-01-02", "rate": "42.5"})
    refused = ApiClient(rep_a).post("/currencies/USD/rates", {"date": "2030-01-03", "rate": "43"})
    base = boss.post("/currencies/UAH/rates", {"date": "2030-01-03", "rate": "1"})
    negative = boss.post("/currencies/USD/rates", {"date": "2030-01-03", "rate": "-1"})
    unknown = boss.post("/currencies/XYZ/rates", {"date": "2030-01-03", "rate": "1"})
    rates = boss.get("/currencies/USD/rates", {"limit": 1})
    rest = boss.get("/currencies/USD/rates", {"limit": 1, "cursor": rates.json()["next_cursor"]})
    # then
    assert listed["USD"]["rate"] == "41.500000" and listed["UAH"]["is_base"] and listed["UAH"]["rate"] == "1.000000"
    assert listed["EUR"]["rate"] is None
    assert created.status_code == 201 and replaced.status_code == 201, replaced.content
    assert ExchangeRate.objects.get(currency_id="USD", date=dt.date(2030, 1, 2)).rate == Decimal("42.5")
    assert refused.status_code == 403
    assert base.status_code == 422 and problem_fields(base) == {"currency"}
    assert negative.status_code == 422 and problem_fields(negative) == {"rate"}
    assert unknown.status_code == 404
    assert [r["date"] for r in rates.json()["items"]] == ["2030-01-02"]
    assert [r["date"] for r in rest.json()["items"]] == [timezone.localdate().isoformat()]


def test_targets_set_by_directors_and_seen_within_scope(rep_a, rep_b, director):
    # given
    CurrencyFactory(code="UAH")
    SalesTargetFactory(user=rep_b)
    boss = ApiClient(director)
    # when
    created = boss.post("/targets/", {"user_id": rep_a.pk, "period_start": "2031-01-01",
                                      "period_end": "2031-01-31", "amount": "100000", "currency": "UAH"})
    refused = ApiClient(rep_a).post("/targets/", {"user_id": rep_a.pk, "period_start": "2031-02-01",
                                                  "period_end": "2031-02-28", "amount": "1", "currency": "UAH"})
    backwards = boss.post("/targets/", {"user_id": rep_a.pk, "period_start": "2031-02-01",
                                        "period_end": "2031-01-01", "amount": "1", "currency": "UAH"})
    bad_currency = boss.post("/targets/", {"user_id": rep_a.pk, "period_start": "2031-02-01",
                                           "period_end": "2031-02-28", "amount": "1", "currency": "XXX"})
    own = ApiClient(rep_a).get("/targets/").json()["items"]
    everyone = boss.get("/targets/").json()["items"]
    # then
    assert created.status_code == 201, created.content
    assert created.json()["user"]["id"] == rep_a.pk and created.json()["amount"] == "100000.00"
    assert refused.status_code == 403
    assert backwards.status_code == 422 and problem_fields(backwards) == {"period_end"}
    assert bad_currency.status_code == 422 and problem_fields(bad_currency) == {"currency"}
    assert [t["user"]["id"] for t in own] == [rep_a.pk]
    assert {t["user"]["id"] for t in everyone} == {rep_a.pk, rep_b.pk}
    assert SalesTarget.objects.count() == 2


# ----------------------------------------------------------------------------------------- OpenAPI


def test_openapi_lists_the_sales_operations(rep_a):
    # when
    response = ApiClient(rep_a).get("/openapi.json")
    # then
    assert response.status_code == 200
    ops = {op["operationId"] for path in response.json()["paths"].values() for op in path.values()}
    assert {
        "pipeline_list", "pipeline_get", "stage_get", "deal_list", "deal_create", "deal_get", "deal_update",
        "deal_delete", "deal_move", "deal_lines_set", "deal_checklist_toggle", "deal_history", "product_list",
        "product_create", "product_get", "product_update", "lost_reason_list", "currency_list",
        "exchange_rate_list", "exchange_rate_set", "target_list", "target_set", "deal_audit",
    } <= ops


def test_real_sales_responses_match_the_openapi_document(rep_a, deal_a, stages):
    # given
    from kramar.core.tests.test_openapi import _check, _response_schema

    won = stages["Won"]
    won.required_activities = ["call"]
    won.save()
    ChecklistItemFactory(stage=stages["Lead"], required=True)
    DealLine.objects.create(deal=deal_a, product=ProductFactory(), unit_price=Decimal("5"))
    api = ApiClient(rep_a)
    doc = api.get("/openapi.json").json()
    # when
    calls = [
        ("/api/v1/deals/", "get", api.get("/deals/")),
        ("/api/v1/deals/{deal_id}", "get", api.get(f"/deals/{deal_a.pk}")),
        ("/api/v1/deals/{deal_id}/move", "post", api.post(f"/deals/{deal_a.pk}/move", {"stage_id": stages["Won"].pk})),
        ("/api/v1/deals/{deal_id}/history", "get", api.get(f"/deals/{deal_a.pk}/history")),
        ("/api/v1/deals/{deal_id}/audit", "get", api.get(f"/deals/{deal_a.pk}/audit")),
        ("/api/v1/pipelines/", "get", api.get("/pipelines/")),
        ("/api/v1/products/", "get", api.get("/products/")),
        ("/api/v1/currencies/", "get", api.get("/currencies/")),
        ("/api/v1/lost-reasons/", "get", api.get("/lost-reasons/")),
        ("/api/v1/targets/", "get", api.get("/targets/")),
    ]
    # then
    for path, method, response in calls:
        assert response.status_code in (200, 422), response.content
        schema = _response_schema(doc, path, method, response.status_code)
        assert _check(response.json(), schema, doc, path) == [], path
    assert calls[2][2].json()["code"] == "stage_rules"
    assert {m["code"] for m in calls[2][2].json()["missing"]} == {"required_activity", "checklist"}
