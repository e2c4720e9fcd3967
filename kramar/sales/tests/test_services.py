import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kramar.accounts.models import Membership
from kramar.accounts.tests.factories import UserFactory
from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry
from kramar.history.models import Interaction
from kramar.sales import services
from kramar.sales.models import Deal, DealChecklistCheck, DealStageHistory, ExchangeRate, Product, SalesTarget
from kramar.sales.rules import StageRulesViolated
from kramar.sales.services import (
    deal_checklist_toggle,
    deal_create,
    deal_delete,
    deal_lines_set,
    deal_move_to_stage,
    deal_update,
    deals_bulk_update,
    exchange_rate_set,
    product_create,
    product_update,
    target_set,
)
from kramar.sales.tests.factories import (
    ChecklistItemFactory,
    CurrencyFactory,
    LostReasonFactory,
    PipelineFactory,
    PlaybookStepFactory,
    ProductFactory,
    ProductPriceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline():
    CurrencyFactory(code="UAH")
    CurrencyFactory(code="USD")
    return PipelineFactory(with_stages=True)


def st(pipeline, name):
    return pipeline.stages.get(name=name)


def _counts():
    return (Deal.objects.count(), DealStageHistory.objects.count(), Task.objects.count(),
            AuditEntry.objects.filter(entity="deal").count())


def _ready_deal(pipeline, owner, **kwargs):
    """A deal of `owner` created through the service, with what Proposal needs."""
    data = {"title": "Licences", "pipeline_id": pipeline.pk, "amount": "1500.00",
            "expected_close_date": (timezone.localdate() + dt.timedelta(days=30)).isoformat(), **kwargs}
    return deal_create(actor=owner, data=data)


# ------------------------------------------------------------------------------------------ create


def test_deal_create_defaults_history_playbook_and_audit(rep_a, team_a, pipeline):
    # given
    company = CompanyFactory(owner=rep_a)
    contact, other = ContactFactory(owner=rep_a), ContactFactory(owner=rep_a)
    PlaybookStepFactory(stage=st(pipeline, "Lead"), title="First call", kind="call", due_offset_days=2)
    # when
    deal = deal_create(actor=rep_a, data={
        "title": " Licences ", "pipeline_id": pipeline.pk, "company_id": company.pk,
        "contact_ids": [contact.pk, other.pk], "amount": "1500.5", "currency": "usd", "tags": ["hot", "hot", "q3"],
    })
    # then
    deal.refresh_from_db()
    assert (deal.title, deal.owner, deal.team, deal.stage.name, deal.status) == ("Licences", rep_a, team_a, "Lead", "open")
    assert deal.amount == Decimal("1500.50") and deal.currency_id == "USD"
    assert deal.contact_links.get(is_primary=True).contact == contact
    assert sorted(deal.tags.values_list("name", flat=True)) == ["hot", "q3"]
    history = list(deal.stage_history.all())
    assert len(history) == 1 and history[0].stage.name == "Lead" and history[0].left_at is None
    task = Task.objects.get(deal=deal)
    assert (task.title, task.kind, task.owner, task.team, task.company, task.contact) == (
        "First call", "call", rep_a, team_a, company, contact)
    entry = AuditEntry.objects.get(entity="deal", object_id=deal.pk)
    assert entry.action == "create" and entry.actor == rep_a and entry.source == "web"
    assert entry.changes["title"] == [None, "Licences"] and entry.changes["contacts"] == [None, [contact.pk, other.pk]]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"expected_close_date": "31.02.2024"}, "expected_close_date"),
        ({"expected_close_date": "2024-02-31"}, "expected_close_date"),
        ({"expected_close_date": 20240101}, "expected_close_date"),
        ({"title": ""}, "title"),
        ({"contact_ids": ["x"]}, "contact_ids"),
        ({"lines": [{"description": "x", "quantity": "0", "unit_price": "1"}]}, "lines[0].quantity"),
        ({"custom": {"nope": 1}}, "custom.nope"),
    ],
)
def test_deal_create_refuses_bad_input_naming_the_field_and_saves_nothing(rep_a, pipeline, data, field):
    # given: entering the stage would create a playbook task
    PlaybookStepFactory(stage=st(pipeline, "Lead"))
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as exc:
        deal_create(actor=rep_a, data={"title": "T", "pipeline_id": pipeline.pk, **data})
    # then
    assert field in exc.value.errors
    assert _counts() == before


def test_deal_create_refuses_a_stage_of_another_pipeline(rep_a, pipeline):
    # given
    other = PipelineFactory(with_stages=True)
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as exc:
        deal_create(actor=rep_a, data={"title": "T", "pipeline_id": pipeline.pk, "stage_id": st(other, "Lead").pk})
    # then
    assert "another pipeline" in exc.value.errors["stage_id"][0]
    assert _counts() == before


def test_deal_create_refuses_a_stage_of_a_pipeline_no_longer_in_use(rep_a, pipeline):
    # given
    retired = PipelineFactory(with_stages=True, name="Old process", active=False)
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as exc:
        deal_create(actor=rep_a, data={"title": "T", "stage_id": st(retired, "Lead").pk})
    # then
    assert "no longer in use" in exc.value.errors["stage_id"][0] and "Old process" in exc.value.errors["stage_id"][0]
    assert _counts() == before


def test_deal_create_refuses_clients_outside_the_actors_scope(rep_a, rep_b, pipeline):
    # given
    company, contact = CompanyFactory(owner=rep_b), ContactFactory(owner=rep_b)
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as exc:
        deal_create(actor=rep_a, data={"title": "T", "company_id": company.pk, "contact_ids": [contact.pk]})
    # then
    assert exc.value.errors["company_id"] == ["no such company"]
    assert str(contact.pk) in exc.value.errors["contact_ids"][0]
    assert _counts() == before


def test_deal_create_applies_the_initial_stages_rules(rep_a, pipeline):
    # given
    PlaybookStepFactory(stage=st(pipeline, "Proposal"))
    before = _counts()
    # when
    with pytest.raises(StageRulesViolated) as exc:
        deal_create(actor=rep_a, data={"title": "T", "stage_id": st(pipeline, "Proposal").pk})
    # then
    assert [m["field"] for m in exc.value.extra["missing"]] == ["amount", "expected_close_date"]
    assert _counts() == before


def test_rep_cannot_give_a_deal_to_another_teams_user(rep_a, rep_b, pipeline):
    before = _counts()
    with pytest.raises(ValidationFailed) as exc:
        deal_create(actor=rep_a, data={"title": "T", "owner_id": rep_b.pk})
    assert "owner_id" in exc.value.errors
    assert _counts() == before


def test_deal_create_needs_the_create_grant(pipeline):
    with pytest.raises(PermissionDenied):
        deal_create(actor=UserFactory(), data={"title": "T"})


# ------------------------------------------------------------------------------------------ move


def test_move_is_refused_naming_the_missing_fields_then_accepted(rep_a, pipeline):
    # given
    deal = deal_create(actor=rep_a, data={"title": "T", "pipeline_id": pipeline.pk})
    proposal = st(pipeline, "Proposal")
    # when
    with pytest.raises(StageRulesViolated) as exc:
        deal_move_to_stage(actor=rep_a, deal=deal, stage=proposal)
    # then
    assert {m["field"] for m in exc.value.extra["missing"]} == {"amount", "expected_close_date"}
    deal.refresh_from_db()
    assert deal.stage.name == "Lead" and deal.version == 1 and deal.stage_history.count() == 1
    # when the rules are met
    deal = deal_update(actor=rep_a, deal=deal, data={"amount": "10", "expected_close_date": "2030-01-31"})
    moved = deal_move_to_stage(actor=rep_a, deal=deal, stage=proposal, expected_version=deal.version)
    # then
    assert moved.stage == proposal and moved.version == 3


def test_move_requires_completed_activities_and_earlier_checklist(rep_a, pipeline):
    # given
    proposal = st(pipeline, "Proposal")
    proposal.required_activities = ["call"]
    proposal.save()
    item = ChecklistItemFactory(stage=st(pipeline, "Lead"), text="Budget known", required=True)
    deal = _ready_deal(pipeline, rep_a)
    # when
    with pytest.raises(StageRulesViolated) as exc:
        deal_move_to_stage(actor=rep_a, deal=deal, stage=proposal)
    # then
    assert [m["code"] for m in exc.value.extra["missing"]] == ["required_activity", "checklist"]
    assert "Budget known" in exc.value.message
    # when
    TaskFactory(deal=deal, kind="call", status="done", owner=rep_a)
    deal_checklist_toggle(actor=rep_a, deal=deal, item_id=item.pk, checked=True)
    # then
    assert deal_move_to_stage(actor=rep_a, deal=deal, stage=proposal).stage == proposal


def test_move_to_a_stage_of_another_pipeline_is_refused(rep_a, pipeline):
    # given
    deal = _ready_deal(pipeline, rep_a)
    other = PipelineFactory(with_stages=True, name="Renewals X")
    # when
    with pytest.raises(DomainError) as exc:
        deal_move_to_stage(actor=rep_a, deal=deal, stage=st(other, "Proposal"))
    # then
    assert exc.value.code == "wrong_pipeline" and "Renewals X" in exc.value.message
    deal.refresh_from_db()
    assert deal.stage.pipeline == pipeline and deal.version == 1 and deal.stage_history.count() == 1


def test_lost_needs_a_reason_and_moving_back_reopens(rep_a, pipeline):
    # given
    deal = _ready_deal(pipeline, rep_a)
    lost, lead = st(pipeline, "Lost"), st(pipeline, "Lead")
    reason = LostReasonFactory(name="Price")
    # when
    with pytest.raises(ValidationFailed) as exc:
        deal_move_to_stage(actor=rep_a, deal=deal, stage=lost)
    # then
    assert "lost_reason_id" in exc.value.errors
    # when
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=lost, lost_reason_id=reason.pk, lost_note="Too dear")
    # then
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason, deal.lost_note) == ("lost", reason, "Too dear")
    assert deal.closed_at is not None
    # when moved back
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=lead)
    # then
    deal.refresh_from_db()
    assert (deal.status, deal.closed_at, deal.lost_reason) == ("open", None, None)


def test_won_closes_the_deal(rep_a, pipeline):
    deal = deal_move_to_stage(actor=rep_a, deal=_ready_deal(pipeline, rep_a), stage=st(pipeline, "Won"))
    deal.refresh_from_db()
    assert deal.status == "won" and deal.closed_at is not None


def test_playbook_tasks_appear_once_per_step_however_often_the_deal_enters(rep_a, lead_a, team_a, pipeline):
    # given
    Membership.objects.filter(user=lead_a, team=team_a).update(is_lead=True)
    named = UserFactory()
    proposal, lead = st(pipeline, "Proposal"), st(pipeline, "Lead")
    s_owner = PlaybookStepFactory(stage=proposal, title="Send offer", due_offset_days=3, kind="email")
    s_lead = PlaybookStepFactory(stage=proposal, title="Review", assignee_rule="team_lead", due_offset_days=1)
    s_user = PlaybookStepFactory(stage=proposal, title="Legal", assignee_rule="user", assignee=named)
    company = CompanyFactory(owner=rep_a)
    contact = ContactFactory(owner=rep_a)
    deal = _ready_deal(pipeline, rep_a, company_id=company.pk, contact_ids=[contact.pk])
    # when: forward, back, forward
    started = timezone.now()
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=proposal)
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=lead)
    Task.objects.filter(deal=deal, playbook_step=s_owner).update(status="done")
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=proposal)
    # then
    tasks = {t.playbook_step_id: t for t in Task.objects.filter(deal=deal)}
    assert len(tasks) == 3 and Task.objects.filter(deal=deal).count() == 3
    assert tasks[s_owner.pk].owner == rep_a and tasks[s_owner.pk].kind == "email"
    assert tasks[s_lead.pk].owner == lead_a
    assert tasks[s_user.pk].owner == named
    for task in tasks.values():
        assert (task.team, task.deal, task.company, task.contact) == (team_a, deal, company, contact)
    due = tasks[s_owner.pk].due_at - started
    assert dt.timedelta(days=3) <= due < dt.timedelta(days=3, minutes=5)


def test_team_lead_rule_falls_back_to_the_owner_without_a_lead(rep_a, pipeline):
    step = PlaybookStepFactory(stage=st(pipeline, "Proposal"), assignee_rule="team_lead")
    deal = deal_move_to_stage(actor=rep_a, deal=_ready_deal(pipeline, rep_a), stage=st(pipeline, "Proposal"))
    assert Task.objects.get(deal=deal, playbook_step=step).owner == rep_a


def test_playbook_creation_is_race_safe(rep_a, pipeline, monkeypatch):
    # given: another transaction created the step's task after our check read nothing
    proposal = st(pipeline, "Proposal")
    step = PlaybookStepFactory(stage=proposal)
    deal = _ready_deal(pipeline, rep_a)
    TaskFactory(deal=deal, playbook_step=step, owner=rep_a, title="theirs")
    real_filter = Task.objects.filter

    def stale_filter(*args, **kwargs):
        if "playbook_step__in" in kwargs:
            return Task.objects.none()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(services.Task.objects, "filter", stale_filter)
    # when
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=proposal)
    monkeypatch.undo()
    # then: the move went through and the step still has one task
    assert Deal.objects.get(pk=deal.pk).stage == proposal
    assert list(Task.objects.filter(deal=deal).values_list("title", flat=True)) == ["theirs"]


def test_stage_history_closes_the_open_row_and_opens_a_new_one(rep_a, pipeline):
    # given
    deal = _ready_deal(pipeline, rep_a)
    # when
    for name in ("Proposal", "Lead", "Won"):
        deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=st(pipeline, name))
    # then
    rows = list(DealStageHistory.objects.filter(deal=deal).order_by("entered_at", "id"))
    assert [r.stage.name for r in rows] == ["Lead", "Proposal", "Lead", "Won"]
    assert [r.left_at is None for r in rows] == [False, False, False, True]
    for prev, nxt in zip(rows, rows[1:], strict=False):
        assert prev.left_at == nxt.entered_at
        assert prev.left_at - prev.entered_at >= dt.timedelta(0)
    assert all(r.actor == rep_a for r in rows)


def test_two_users_moving_with_the_same_version_one_wins(rep_a, lead_a, pipeline):
    # given: both read version 1
    deal = _ready_deal(pipeline, rep_a)
    seen = deal.version
    # when
    deal_move_to_stage(actor=rep_a, deal=deal, stage=st(pipeline, "Proposal"), expected_version=seen)
    with pytest.raises(VersionConflict) as exc:
        deal_move_to_stage(actor=lead_a, deal=deal, stage=st(pipeline, "Won"), expected_version=seen)
    # then
    assert exc.value.status == 412 and exc.value.extra == {"current_version": 2, "sent_version": 1}
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal" and deal.stage_history.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are a PostgreSQL matter")
def test_moves_and_bulk_updates_lock_rows_in_id_order(rep_a, pipeline):
    # given
    deals = [_ready_deal(pipeline, rep_a) for _ in range(3)]
    # when
    with CaptureQueriesContext(connection) as moves:
        deal_move_to_stage(actor=rep_a, deal=deals[0], stage=st(pipeline, "Proposal"))
    with CaptureQueriesContext(connection) as bulk:
        deals_bulk_update(actor=rep_a, ids=[d.pk for d in reversed(deals)], tags_add=["x"])
    # then
    first = next(q["sql"] for q in moves.captured_queries if 'FROM "sales_deal"' in q["sql"])
    assert "FOR UPDATE" in first
    locked = next(q["sql"] for q in bulk.captured_queries if "FOR UPDATE" in q["sql"])
    assert 'ORDER BY "sales_deal"."id" ASC' in locked


# ------------------------------------------------------------------------------------------ won / lost notes


def test_won_and_lost_log_a_note_on_the_clients_timeline(rep_a, pipeline):
    # given
    company = CompanyFactory(owner=rep_a)
    contact = ContactFactory(owner=rep_a)
    deal = _ready_deal(pipeline, rep_a, company_id=company.pk, contact_ids=[contact.pk])
    reason = LostReasonFactory(name="No budget")
    # when
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=st(pipeline, "Won"))
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=st(pipeline, "Lead"))
    deal_move_to_stage(actor=rep_a, deal=deal, stage=st(pipeline, "Lost"), lost_reason_id=reason.pk)
    # then
    notes = list(Interaction.objects.filter(deal=deal).order_by("id"))
    assert [n.channel for n in notes] == ["note", "note"]
    assert notes[0].subject == "Deal won: Licences" and notes[1].subject == "Deal lost: Licences"
    assert "No budget" in notes[1].body
    assert all((n.company, n.contact, n.user) == (company, contact, rep_a) for n in notes)


def test_no_note_for_a_deal_without_a_client(rep_a, pipeline):
    deal = deal_move_to_stage(actor=rep_a, deal=_ready_deal(pipeline, rep_a), stage=st(pipeline, "Won"))
    assert not Interaction.objects.filter(deal=deal).exists()


# ------------------------------------------------------------------------------------------ update, lines, delete


def test_editing_a_deal_keeps_links_to_clients_the_editor_cannot_see(rep_a, rep_b, team_b, pipeline):
    # given: rep_a's deal linked (by someone who could) to a company and a contact of another team
    deal = _ready_deal(pipeline, rep_a)
    their_company = CompanyFactory(owner=rep_b, team=team_b)
    their_contact = ContactFactory(owner=rep_b, team=team_b)
    mine = ContactFactory(owner=rep_a, team=deal.team)
    Deal.objects.filter(pk=deal.pk).update(company=their_company)
    services._contacts_apply(deal, [their_contact, mine])
    deal.refresh_from_db()
    # when: rep_a saves what their form can show: no company, only their own contact
    deal = deal_update(actor=rep_a, deal=deal, data={"company_id": None, "contact_ids": [mine.pk], "amount": "1"})
    # then: the invisible links stay, the invisible primary contact stays primary
    deal.refresh_from_db()
    assert deal.company_id == their_company.pk
    links = list(deal.contact_links.order_by("-is_primary", "id").values_list("contact_id", "is_primary"))
    assert links == [(their_contact.pk, True), (mine.pk, False)]
    # and naming another company the editor may see does replace it
    ours = CompanyFactory(owner=rep_a, team=deal.team)
    deal = deal_update(actor=rep_a, deal=deal, data={"company_id": ours.pk})
    assert deal.company_id == ours.pk


def test_deal_update_audits_the_diff_and_refuses_stale_versions_and_stage_changes(rep_a, pipeline):
    # given
    deal = _ready_deal(pipeline, rep_a)
    # when
    deal = deal_update(actor=rep_a, deal=deal, data={"amount": "2000", "tags": ["big"]}, expected_version=1,
                       source="api")
    # then
    entry = AuditEntry.objects.filter(entity="deal", object_id=deal.pk, action="update").get()
    assert entry.changes == {"amount": ["1500.00", "2000.00"], "tags": [[], ["big"]]} and entry.source == "api"
    assert deal.version == 2
    with pytest.raises(VersionConflict):
        deal_update(actor=rep_a, deal=deal, data={"amount": "1"}, expected_version=1)
    with pytest.raises(ValidationFailed) as exc:
        deal_update(actor=rep_a, deal=deal, data={"stage_id": st(pipeline, "Won").pk})
    assert "stage_id" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        deal_update(actor=rep_a, deal=deal, data={"amount": "-5"})
    assert "amount" in exc.value.errors
    deal.refresh_from_db()
    assert deal.amount == Decimal("2000.00") and deal.version == 2


def test_move_and_delete_are_audited(rep_a, lead_a, pipeline):
    # given
    deal = _ready_deal(pipeline, rep_a)
    # when
    deal = deal_move_to_stage(actor=rep_a, deal=deal, stage=st(pipeline, "Proposal"))
    with pytest.raises(Http404):  # reps have no delete grant
        deal_delete(actor=rep_a, deal=deal)
    deal_delete(actor=lead_a, deal=deal, expected_version=deal.version)
    # then
    entries = list(AuditEntry.objects.filter(entity="deal", object_id=deal.pk).order_by("id"))
    assert [e.action for e in entries] == ["create", "update", "delete"]
    assert entries[1].changes["stage"] == [st(pipeline, "Lead").pk, st(pipeline, "Proposal").pk]
    assert entries[2].changes["title"] == ["Licences", None]
    assert not Deal.objects.filter(pk=deal.pk).exists()


def test_deal_lines_set_prices_from_the_catalogue_and_sets_the_amount(rep_a, pipeline):
    # given
    product = ProductFactory(vat_rate=Decimal("20.00"))
    ProductPriceFactory(product=product, currency=CurrencyFactory(code="UAH"), price=Decimal("100.00"))
    ProductPriceFactory(product=product, currency=CurrencyFactory(code="USD"), price=Decimal("3.00"))
    deal = _ready_deal(pipeline, rep_a)
    # when
    deal = deal_lines_set(actor=rep_a, deal=deal, lines=[
        {"product_id": product.pk, "quantity": "3", "discount_percent": "10"},
        {"description": "Installation", "quantity": 1, "unit_price": "50", "vat_rate": "0"},
    ], expected_version=1)
    # then: 3 × 100 − 10 % = 270 + 20 % VAT = 324; + 50
    deal.refresh_from_db()
    assert deal.amount == Decimal("374.00") and deal.version == 2
    assert [line.unit_price for line in deal.lines.all()] == [Decimal("100.00"), Decimal("50.00")]
    entry = AuditEntry.objects.get(entity="deal", object_id=deal.pk, action="update")
    assert entry.changes["amount"] == ["1500.00", "374.00"] and len(entry.changes["lines"][1]) == 2


def test_deal_lines_set_refuses_bad_lines_and_keeps_the_old_ones(rep_a, pipeline):
    # given
    product = ProductFactory()  # no price list
    deal = _ready_deal(pipeline, rep_a)
    deal_lines_set(actor=rep_a, deal=deal, lines=[{"description": "Old", "unit_price": "5"}])
    # when
    with pytest.raises(ValidationFailed) as exc:
        deal_lines_set(actor=rep_a, deal=deal, lines=[
            {"product_id": product.pk, "quantity": "1"},
            {"description": "x", "unit_price": "1", "discount_percent": "101"},
            {"product_id": 999999, "unit_price": "1"},
        ])
    # then
    assert set(exc.value.errors) == {"lines[0].unit_price", "lines[1].discount_percent", "lines[2].product_id"}
    assert list(deal.lines.values_list("description", flat=True)) == ["Old"]


def test_checklist_toggle_ticks_unticks_and_audits(rep_a, pipeline):
    # given
    item = ChecklistItemFactory(stage=st(pipeline, "Lead"), required=True)
    foreign = ChecklistItemFactory()
    deal = _ready_deal(pipeline, rep_a)
    # when
    deal_checklist_toggle(actor=rep_a, deal=deal, item_id=item.pk, checked=True)
    deal_checklist_toggle(actor=rep_a, deal=deal, item_id=item.pk, checked=True)
    # then
    assert DealChecklistCheck.objects.filter(deal=deal, item=item).count() == 1
    deal_checklist_toggle(actor=rep_a, deal=deal, item_id=item.pk, checked=False)
    assert not DealChecklistCheck.objects.filter(deal=deal).exists()
    changes = [e.changes for e in AuditEntry.objects.filter(entity="deal", object_id=deal.pk, action="update")]
    assert sorted(c[f"checklist:{item.pk}"] for c in changes) == [[False, True], [True, False]]
    with pytest.raises(ValidationFailed):
        deal_checklist_toggle(actor=rep_a, deal=deal, item_id=foreign.pk, checked=True)


# ------------------------------------------------------------------------------------------ scopes and bulk


def test_writes_outside_the_change_scope_are_404(rep_a, rep_a2, rep_b, pipeline):
    deal = _ready_deal(pipeline, rep_a)
    for actor in (rep_a2, rep_b):  # a teammate may see it, but not change it
        with pytest.raises(Http404):
            deal_update(actor=actor, deal=deal, data={"title": "Mine"})
        with pytest.raises(Http404):
            deal_move_to_stage(actor=actor, deal=deal, stage=st(pipeline, "Proposal"))
        with pytest.raises(Http404):
            deal_delete(actor=actor, deal=deal)


def test_bulk_update_skips_deals_outside_the_change_scope(rep_a, rep_a2, rep_b, pipeline):
    # given
    mine = _ready_deal(pipeline, rep_a)
    teammates = _ready_deal(pipeline, rep_a2)
    others = _ready_deal(pipeline, rep_b)
    # when
    result = deals_bulk_update(actor=rep_a, ids=[others.pk, mine.pk, teammates.pk, 987654], tags_add=["q4"])
    # then
    assert result.changed == [mine.pk] and sorted(result.skipped) == sorted([others.pk, teammates.pk, 987654])
    assert list(teammates.tags.all()) == [] and list(others.tags.all()) == []
    mine.refresh_from_db()
    assert mine.version == 2 and [t.name for t in mine.tags.all()] == ["q4"]
    assert AuditEntry.objects.filter(entity="deal", object_id=mine.pk, action="update").get().changes == {
        "tags": [[], ["q4"]]}


def test_bulk_owner_change_within_scope_only(rep_a, rep_b, lead_a, rep_a2, team_a, pipeline):
    # given
    deal = _ready_deal(pipeline, rep_a)
    # when a rep hands deals to another team's user
    with pytest.raises(ValidationFailed) as exc:
        deals_bulk_update(actor=rep_a, ids=[deal.pk], owner_id=rep_b.pk)
    # then
    assert "owner_id" in exc.value.errors
    # when the team lead reassigns within the team
    result = deals_bulk_update(actor=lead_a, ids=[deal.pk], owner_id=rep_a2.pk)
    # then
    deal.refresh_from_db()
    assert result.changed == [deal.pk] and deal.owner == rep_a2 and deal.team == team_a
    with pytest.raises(ValidationFailed):
        deals_bulk_update(actor=lead_a, ids=[deal.pk], owner_id=rep_b.pk)


# ------------------------------------------------------------------------------------------ products, rates, targets


def test_product_create_and_update_with_prices_and_audit(director, rep_a):
    # given
    CurrencyFactory(code="UAH")
    CurrencyFactory(code="EUR")
    # when
    with pytest.raises(PermissionDenied):
        product_create(actor=rep_a, data={"sku": "A-1", "name": "Licence"})
    product = product_create(actor=director, data={"sku": "A-1", "name": "Licence", "vat_rate": "7",
                                                   "prices": {"UAH": "1000", "eur": "25.5"}})
    # then
    assert {p.currency_id: p.price for p in product.prices.all()} == {"UAH": Decimal("1000.00"), "EUR": Decimal("25.50")}
    assert product.vat_rate == Decimal("7.00")
    # when
    product = product_update(actor=director, product=product, data={"name": "Licence Pro", "prices": {"UAH": "1100"}})
    # then
    entry = AuditEntry.objects.get(entity="product", object_id=product.pk, action="update")
    assert entry.changes["name"] == ["Licence", "Licence Pro"]
    assert entry.changes["prices"] == [{"EUR": "25.50", "UAH": "1000.00"}, {"UAH": "1100.00"}]
    with pytest.raises(ValidationFailed) as exc:
        product_create(actor=director, data={"sku": "A-1", "name": "Dup", "prices": {"XYZ": "1"}, "vat_rate": "150"})
    assert set(exc.value.errors) == {"sku", "prices.XYZ", "vat_rate"}
    assert Product.objects.count() == 1


def test_exchange_rate_set_and_target_set(director, rep_a, lead_a, rep_b):
    # given
    CurrencyFactory(code="USD")
    CurrencyFactory(code="UAH")
    day = dt.date(2030, 1, 15)
    # when
    exchange_rate_set(actor=director, currency="USD", on=day, rate=Decimal("41.5"))
    rate = exchange_rate_set(actor=director, currency="USD", on="2030-01-15", rate="42.25")
    # then
    assert ExchangeRate.objects.get(currency="USD", date=day).rate == Decimal("42.250000") == rate.rate
    with pytest.raises(PermissionDenied):
        exchange_rate_set(actor=rep_a, currency="USD", on=day, rate=1)
    with pytest.raises(ValidationFailed) as exc:
        exchange_rate_set(actor=director, currency="XYZ", on="soon", rate="-1")
    assert set(exc.value.errors) == {"currency", "on", "rate"}
    # when
    target = target_set(actor=lead_a, user_id=rep_a.pk, period_start="2030-01-01", period_end="2030-01-31",
                        amount="100000", currency="UAH")
    # then
    assert SalesTarget.objects.get() == target and target.amount == Decimal("100000.00")
    with pytest.raises(PermissionDenied):
        target_set(actor=lead_a, user_id=rep_b.pk, period_start="2030-01-01", period_end="2030-01-31",
                   amount="1", currency="UAH")
    with pytest.raises(ValidationFailed) as exc:
        target_set(actor=director, user_id=rep_a.pk, period_start="2030-02-01", period_end="2030-01-01",
                   amount="-1", currency="UAH")
    assert set(exc.value.errors) == {"period_end", "amount"}


# ------------------------------------------------------------------------------------------ admin (configuration)


def test_admin_configures_stage_rules(client, admin_user, pipeline):
    # given
    stage = st(pipeline, "Proposal")
    client.force_login(admin_user)
    # when
    for name in ("currency", "pipeline", "stage", "lostreason", "product", "salestarget", "contactpolicy"):
        assert client.get(f"/admin/sales/{name}/").status_code == 200
    page = client.get(f"/admin/sales/stage/{stage.pk}/change/")
    response = client.post(f"/admin/sales/stage/{stage.pk}/change/", {
        "pipeline": pipeline.pk, "name": "Proposal", "position": 1, "kind": "open", "probability": 50,
        "rotting_days": 14, "required_fields": ["amount", "contacts"], "required_activities": ["call"],
        "checklist-TOTAL_FORMS": 1, "checklist-INITIAL_FORMS": 0,
        "checklist-0-text": "Budget known", "checklist-0-required": "on", "checklist-0-position": 0,
        "playbook-TOTAL_FORMS": 1, "playbook-INITIAL_FORMS": 0,
        "playbook-0-title": "Send offer", "playbook-0-kind": "email", "playbook-0-due_offset_days": 2,
        "playbook-0-priority": "normal", "playbook-0-assignee_rule": "owner", "playbook-0-position": 0,
    })
    # then
    assert page.status_code == 200 and "Product lines" in page.content.decode()
    assert response.status_code == 302, response.content.decode()[:2000]
    stage.refresh_from_db()
    assert (stage.required_fields, stage.required_activities) == (["amount", "contacts"], ["call"])
    assert stage.checklist.get().text == "Budget known" and stage.playbook.get().title == "Send offer"
