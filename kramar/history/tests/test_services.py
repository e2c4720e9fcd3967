"""Timeline writes: idempotent ingestion, sanitizing, optimistic locking, client linking, scopes, audit."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.context import audit_context
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry
from kramar.core.tests.factories import CustomFieldDefinitionFactory
from kramar.history.models import Attachment, Interaction
from kramar.history.services import (
    attachment_add,
    html_sanitize,
    interaction_create,
    interaction_delete,
    interaction_update,
)
from kramar.history.tests.factories import InteractionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def company(rep_a, team_a):
    return CompanyFactory(owner=rep_a, team=team_a, name="Ромашка")


@pytest.fixture
def contact(rep_a, team_a, company):
    return ContactFactory(owner=rep_a, team=team_a, primary_company=company)


def test_create_links_the_user_the_client_and_writes_an_audit_row(rep_a, contact):
    # when
    with audit_context(source="import", ip="192.0.2.7"):
        interaction = interaction_create(
            actor=rep_a,
            data={
                "contact_id": contact.pk,
                "channel": "call",
                "direction": "in",
                "duration_seconds": "125",
                "subject": "  Price request  ",
                "occurred_at": "2026-02-01T09:30:00",
            },
        )
    # then
    assert interaction.user == rep_a and interaction.contact == contact
    assert interaction.duration_seconds == 125 and interaction.subject == "Price request"
    assert timezone.is_aware(interaction.occurred_at)
    assert timezone.localtime(interaction.occurred_at).replace(tzinfo=None) == dt.datetime(2026, 2, 1, 9, 30)
    entry = AuditEntry.objects.get(entity="interaction", object_id=interaction.pk)
    assert (entry.action, entry.source, entry.ip, entry.actor) == ("create", "import", "192.0.2.7", rep_a)
    assert entry.changes["subject"] == [None, "Price request"]
    assert entry.changes["contact"] == [None, contact.pk]


def test_contacts_primary_company_is_filled_in(rep_a, contact, company):
    interaction = interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "note"})
    assert interaction.company == company


def test_explicit_company_is_kept_and_none_means_none(rep_a, team_a, contact):
    other = CompanyFactory(owner=rep_a, team=team_a)
    explicit = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "company_id": other.pk, "channel": "note"}
    )
    without = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "company_id": None, "channel": "note"}
    )
    assert explicit.company == other
    assert without.company is None


def test_contact_without_a_company_stays_alone(rep_a, team_a):
    person = ContactFactory(owner=rep_a, team=team_a)
    interaction = interaction_create(actor=rep_a, data={"contact_id": person.pk, "channel": "sms"})
    assert interaction.company is None


def test_same_channel_and_external_id_twice_stores_one_row(rep_a, contact):
    # given
    data = {
        "contact_id": contact.pk,
        "channel": "email",
        "external_id": "<abc@mail.example>",
        "subject": "Hi",
    }
    # when
    first = interaction_create(actor=rep_a, data=data)
    second = interaction_create(actor=rep_a, data={**data, "subject": "Hi again"})
    # then
    assert first.pk == second.pk
    assert Interaction.objects.count() == 1
    assert Interaction.objects.get().subject == "Hi"
    assert AuditEntry.objects.filter(entity="interaction").count() == 1


def test_same_external_id_on_another_channel_is_another_item(rep_a, contact):
    interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "email", "external_id": "42"})
    interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "external_id": "42"})
    interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "external_id": ""})
    interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "external_id": ""})
    assert Interaction.objects.count() == 4
    assert Interaction.objects.filter(external_id__isnull=True).count() == 2  # blank ids never collide


def test_html_is_sanitized_and_the_text_derived(rep_a, contact):
    # when
    interaction = interaction_create(
        actor=rep_a,
        data={
            "contact_id": contact.pk,
            "channel": "email",
            "body_html": '<p onclick="steal()">Dear <b>Olena</b>,</p><script>alert(1)</script>'
            '<iframe src="https://evil.example"></iframe><a href="javascript:alert(2)">x</a>'
            '<a href="https://ok.example">ok</a>',
        },
    )
    # then
    html = interaction.body_html
    for bad in ("<script", "alert(1)", "onclick", "<iframe", "javascript:"):
        assert bad not in html
    assert "<p>Dear <b>Olena</b>,</p>" in html
    assert 'href="https://ok.example"' in html and "noopener" in html
    assert interaction.body.startswith("Dear Olena,")


def test_html_sanitize_keeps_plain_formatting():
    assert html_sanitize("<ul><li>one</li></ul><br><em>x</em>") == "<ul><li>one</li></ul><br><em>x</em>"
    assert html_sanitize(None) == ""


def test_update_with_a_stale_version_is_refused(rep_a, contact):
    # given
    interaction = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "subject": "a"}
    )
    interaction_update(actor=rep_a, interaction=interaction, data={"subject": "b"}, expected_version=1)
    # when
    with pytest.raises(VersionConflict) as exc:
        interaction_update(actor=rep_a, interaction=interaction, data={"subject": "c"}, expected_version=1)
    # then
    assert exc.value.status == 412 and exc.value.extra == {"current_version": 2, "sent_version": 1}
    interaction.refresh_from_db()
    assert (interaction.subject, interaction.version) == ("b", 2)


def test_update_writes_the_field_diff(rep_a, contact):
    interaction = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "outcome": "x"}
    )
    interaction_update(actor=rep_a, interaction=interaction, data={"outcome": "sold", "channel": "meeting"})
    entry = AuditEntry.objects.get(entity="interaction", object_id=interaction.pk, action="update")
    assert entry.changes == {"channel": ["call", "meeting"], "outcome": ["x", "sold"]}


def test_update_without_a_change_writes_no_audit_row(rep_a, contact):
    interaction = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "outcome": "x"}
    )
    interaction_update(actor=rep_a, interaction=interaction, data={"outcome": "x"})
    assert not AuditEntry.objects.filter(action="update").exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"channel": "call", "direction": "sideways"}, "direction"),
        ({"channel": "call", "duration_seconds": "abc"}, "duration_seconds"),
        ({"channel": "call", "duration_seconds": -5}, "duration_seconds"),
        ({"channel": "call", "occurred_at": "tomorrow"}, "occurred_at"),
        ({"channel": "call", "subject": "x" * 256}, "subject"),
        ({"channel": "call", "custom": {"nope": 1}}, "custom.nope"),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(rep_a, contact, data, field):
    with pytest.raises(ValidationFailed) as exc:
        interaction_create(actor=rep_a, data={"contact_id": contact.pk, **data})
    assert field in exc.value.errors
    assert Interaction.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_an_interaction_needs_a_client(rep_a):
    with pytest.raises(ValidationFailed) as exc:
        interaction_create(actor=rep_a, data={"channel": "note"})
    assert "contact_id" in exc.value.errors


def test_custom_fields_of_interactions_are_validated(rep_a, contact):
    CustomFieldDefinitionFactory(entity="interaction", key="rating", field_type="number", required=True)
    with pytest.raises(ValidationFailed) as exc:
        interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "call"})
    assert exc.value.errors == {"custom.rating": ["this field is required"]}
    interaction = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "custom": {"rating": "4,5"}}
    )
    assert interaction.custom == {"rating": 4.5}


# ------------------------------------------------------------------------------------------- scopes
def test_logging_on_a_client_outside_scope_is_refused(rep_b, contact, company):
    with pytest.raises(ValidationFailed) as exc:
        interaction_create(actor=rep_b, data={"contact_id": contact.pk, "channel": "call"})
    assert exc.value.errors == {"contact_id": ["no such client"]}
    with pytest.raises(ValidationFailed) as exc:
        interaction_create(actor=rep_b, data={"company_id": company.pk, "channel": "call"})
    assert "company_id" in exc.value.errors
    assert Interaction.objects.count() == 0


def test_a_user_without_a_role_may_not_log(contact):
    nobody = UserFactory()
    with pytest.raises(PermissionDenied):
        interaction_create(actor=nobody, data={"contact_id": contact.pk, "channel": "call"})


def test_a_team_mate_may_log_but_not_change_or_delete_others_entries(rep_a, rep_a2, contact):
    # given
    theirs = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "subject": "a"}
    )
    # when: rep_a2 sees the client (team view) and logs on it
    mine = interaction_create(
        actor=rep_a2, data={"contact_id": contact.pk, "channel": "note", "subject": "b"}
    )
    # then
    assert mine.user == rep_a2
    with pytest.raises(Interaction.DoesNotExist):
        interaction_update(actor=rep_a2, interaction=theirs, data={"subject": "hacked"})
    with pytest.raises(Interaction.DoesNotExist):
        interaction_delete(actor=rep_a2, interaction=theirs)
    interaction_update(actor=rep_a2, interaction=mine, data={"subject": "b2"})
    interaction_delete(actor=rep_a2, interaction=mine)
    theirs.refresh_from_db()
    assert theirs.subject == "a"
    assert list(Interaction.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_a_team_lead_may_change_the_teams_entries_but_not_another_teams(
    lead_a, rep_a, rep_b, team_b, contact
):
    ours = interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "call"})
    other_contact = ContactFactory(owner=rep_b, team=team_b)
    theirs = interaction_create(actor=rep_b, data={"contact_id": other_contact.pk, "channel": "call"})
    assert interaction_update(actor=lead_a, interaction=ours, data={"outcome": "ok"}).outcome == "ok"
    with pytest.raises(Interaction.DoesNotExist):
        interaction_update(actor=lead_a, interaction=theirs, data={"outcome": "no"})


def test_delete_writes_the_last_state_to_the_audit_log(rep_a, contact):
    interaction = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "subject": "gone"}
    )
    pk = interaction.pk
    interaction_delete(actor=rep_a, interaction=interaction)
    entry = AuditEntry.objects.get(entity="interaction", object_id=pk, action="delete")
    assert entry.changes["subject"] == ["gone", None]
    assert not Interaction.objects.filter(pk=pk).exists()


# -------------------------------------------------------------------------------------- attachments
def test_attachment_is_stored_and_audited(rep_a, contact):
    interaction = interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "email"})
    attachment = attachment_add(
        actor=rep_a,
        interaction=interaction,
        upload=SimpleUploadedFile("offer.pdf", b"%PDF-1.4", content_type="application/pdf"),
    )
    assert (attachment.filename, attachment.size, attachment.content_type) == (
        "offer.pdf",
        8,
        "application/pdf",
    )
    with attachment.file.open("rb") as handle:
        assert handle.read() == b"%PDF-1.4"
    assert AuditEntry.objects.filter(entity="interaction", changes__attachments=[None, "offer.pdf"]).exists()


def test_too_large_attachment_is_refused(rep_a, contact, settings):
    settings.KRAMAR_MAX_ATTACHMENT_BYTES = 4
    interaction = interaction_create(actor=rep_a, data={"contact_id": contact.pk, "channel": "email"})
    with pytest.raises(DomainError) as exc:
        attachment_add(actor=rep_a, interaction=interaction, upload=SimpleUploadedFile("a.bin", b"12345"))
    assert exc.value.code == "attachment_too_large" and exc.value.extra == {"limit": 4, "size": 5}
    assert Attachment.objects.count() == 0


def test_attachment_by_someone_who_may_not_change_the_interaction(rep_a, rep_b, contact):
    interaction = InteractionFactory(contact=contact, user=rep_a)
    with pytest.raises(PermissionDenied):
        attachment_add(actor=rep_b, interaction=interaction, upload=SimpleUploadedFile("a.txt", b"x"))
    assert Attachment.objects.count() == 0
