from decimal import Decimal

import pytest
from django.utils import timezone

from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory
from kramar.sales.models import DealChecklistCheck
from kramar.sales.rules import (
    REQUIRED_FIELD_CHOICES,
    StageRulesViolated,
    stage_rules_check,
    stage_rules_enforce,
)
from kramar.sales.tests.factories import (
    ChecklistItemFactory,
    DealContactFactory,
    DealFactory,
    DealLineFactory,
    PipelineFactory,
    StageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline():
    return PipelineFactory(with_stages=True)


def _stage(pipeline, name):
    return pipeline.stages.get(name=name)


def test_required_field_choices_cover_the_spec():
    assert set(REQUIRED_FIELD_CHOICES) == {
        "amount", "expected_close_date", "company", "contacts", "lines", "source", "description",
    }


def test_missing_required_fields_are_named_and_filled_ones_accepted(pipeline):
    # given
    deal = DealFactory(pipeline=pipeline, amount=Decimal("0"), expected_close_date=None)
    proposal = _stage(pipeline, "Proposal")
    # when
    missing = stage_rules_check(deal=deal, stage=proposal)
    # then
    assert [(m["code"], m["field"]) for m in missing] == [
        ("required_field", "amount"), ("required_field", "expected_close_date"),
    ]
    assert "Amount" in missing[0]["message"] and "Expected close date" in missing[1]["message"]
    # when filled
    deal.amount, deal.expected_close_date = Decimal("10"), timezone.localdate()
    # then
    assert stage_rules_check(deal=deal, stage=proposal) == []


def test_relation_fields_company_contacts_lines_source_description(pipeline):
    # given
    stage = StageFactory(
        pipeline=pipeline, position=9, required_fields=["company", "contacts", "lines", "source", "description"]
    )
    deal = DealFactory(pipeline=pipeline)
    # then: every one is named
    assert [m["field"] for m in stage_rules_check(deal=deal, stage=stage)] == [
        "company", "contacts", "lines", "source", "description",
    ]
    # when all are there
    deal.company = CompanyFactory()
    deal.source, deal.description = "referral", "Wants 10 licences"
    deal.save()
    DealContactFactory(deal=deal)
    DealLineFactory(deal=deal)
    # then
    assert stage_rules_check(deal=deal, stage=stage) == []


def test_required_activity_needs_a_completed_task_of_that_kind_on_the_deal(pipeline):
    # given
    stage = StageFactory(pipeline=pipeline, position=9, required_activities=["call", "meeting"])
    deal = DealFactory(pipeline=pipeline)
    TaskFactory(deal=deal, kind="call", status="open")
    TaskFactory(kind="call", status="done")  # another deal's call
    # when
    missing = stage_rules_check(deal=deal, stage=stage)
    # then
    assert [(m["code"], m["kind"]) for m in missing] == [("required_activity", "call"), ("required_activity", "meeting")]
    assert "call" in missing[0]["message"] and "meeting" in missing[1]["message"]
    # when one is done
    TaskFactory(deal=deal, kind="call", status=Task.Status.DONE)
    # then
    assert [m["kind"] for m in stage_rules_check(deal=deal, stage=stage)] == ["meeting"]


def test_required_checklist_items_of_earlier_stages_must_be_ticked(pipeline):
    # given
    lead, proposal, won, lost = (_stage(pipeline, n) for n in ("Lead", "Proposal", "Won", "Lost"))
    required = ChecklistItemFactory(stage=lead, text="Budget confirmed", required=True)
    ChecklistItemFactory(stage=lead, text="Optional", required=False)
    ChecklistItemFactory(stage=proposal, text="Later stage", required=True)
    ChecklistItemFactory(stage=StageFactory(), text="Other pipeline", required=True)
    deal = DealFactory(pipeline=pipeline, expected_close_date=timezone.localdate())
    # when
    missing = stage_rules_check(deal=deal, stage=proposal)
    # then
    assert [(m["code"], m["item_id"]) for m in missing] == [("checklist", required.pk)]
    assert "Budget confirmed" in missing[0]["message"] and "Lead" in missing[0]["message"]
    assert {m["item_id"] for m in stage_rules_check(deal=deal, stage=won)} == {
        required.pk, proposal.checklist.get().pk,
    }
    assert stage_rules_check(deal=deal, stage=lost) == []  # a deal may always be lost
    # when ticked
    DealChecklistCheck.objects.create(deal=deal, item=required)
    # then
    assert stage_rules_check(deal=deal, stage=proposal) == []


def test_enforce_raises_a_422_naming_each_missing_thing(pipeline):
    # given
    deal = DealFactory(pipeline=pipeline, amount=Decimal("0"))
    # when
    with pytest.raises(StageRulesViolated) as exc:
        stage_rules_enforce(deal=deal, stage=_stage(pipeline, "Proposal"))
    # then
    assert exc.value.status == 422 and exc.value.code == "stage_rules"
    assert [m["field"] for m in exc.value.extra["missing"]] == ["amount", "expected_close_date"]
    assert "Proposal" in exc.value.message and "Amount" in exc.value.message
    assert "Expected close date" in exc.value.message
