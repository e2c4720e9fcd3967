"""The timeline partial, inline logging / editing / deleting, and attachment download, over HTTP."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from kramar.clients.tests.factories import CompanyFactory, ContactCompanyFactory, ContactFactory
from kramar.core.models import AuditEntry
from kramar.history.models import Attachment, Interaction
from kramar.history.services import attachment_add, interaction_create
from kramar.history.tests.factories import AttachmentFactory, InteractionFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TIMELINE = reverse("history:timeline")
LOG = reverse("history:interaction-create")


@pytest.fixture
def contact(rep_a, team_a):
    company = CompanyFactory(owner=rep_a, team=team_a, name="Ромашка")
    person = ContactFactory(
        owner=rep_a, team=team_a, first_name="Олена", last_name="Петренко", primary_company=company
    )
    ContactCompanyFactory(contact=person, company=company)
    return person


def _subjects(html: str) -> list[str]:
    return re.findall(r'<p class="interaction-subject"><strong>(.*?)</strong>', html)


def test_timeline_lists_the_contacts_interactions_newest_first(client, rep_a, contact):
    # given
    now = timezone.now()
    InteractionFactory(contact=contact, subject="old call", occurred_at=now - dt.timedelta(days=2))
    InteractionFactory(
        contact=contact, channel="email", subject="new mail", occurred_at=now - dt.timedelta(hours=1)
    )
    InteractionFactory(
        contact=contact, channel="note", subject="middle note", occurred_at=now - dt.timedelta(days=1)
    )
    InteractionFactory(subject="someone else's call")
    client.force_login(rep_a)
    # when
    response = client.get(TIMELINE, {"contact": contact.pk}, **HTMX)
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert _subjects(html) == ["new mail", "middle note", "old call"]
    assert f'id="timeline-contact-{contact.pk}"' in html
    assert "E-mail" in html and "outbound" in html


def test_channel_filter_returns_only_the_items_partial(client, rep_a, contact):
    # given
    InteractionFactory(contact=contact, channel="call", subject="a call")
    InteractionFactory(contact=contact, channel="meeting", subject="a meeting")
    InteractionFactory(contact=contact, channel="email", subject="a mail")
    client.force_login(rep_a)
    # when
    response = client.get(
        TIMELINE, {"contact": contact.pk, "channel": ["call", "meeting", "bogus"], "part": "items"}, **HTMX
    )
    # then
    html = response.content.decode()
    assert sorted(_subjects(html)) == ["a call", "a meeting"]
    assert html.lstrip().startswith(f'<div id="timeline-items-contact-{contact.pk}"')
    assert "timeline-filter" not in html  # only the list is re-fetched


def test_company_timeline_includes_its_peoples_interactions(client, rep_a, contact):
    # given
    company = contact.primary_company
    InteractionFactory(contact=None, company=company, user=rep_a, subject="company letter", channel="letter")
    InteractionFactory(contact=contact, company=None, subject="call with Olena")
    InteractionFactory(subject="unrelated")
    client.force_login(rep_a)
    # when
    response = client.get(TIMELINE, {"company": company.pk}, **HTMX)
    # then
    html = response.content.decode()
    assert sorted(_subjects(html)) == ["call with Olena", "company letter"]
    assert "Олена Петренко" in html  # a company's timeline names the person


def test_show_more_pages_by_keyset_without_gaps_or_repeats(
    client, rep_a, contact, django_assert_max_num_queries
):
    # given: 45 items, many sharing the same moment, so the id breaks the ties
    same_moment = timezone.now().replace(microsecond=0)
    for n in range(45):
        InteractionFactory(
            contact=contact, subject=f"item {n:02d}", occurred_at=same_moment - dt.timedelta(minutes=n // 10)
        )
    client.force_login(rep_a)
    # when
    seen: list[str] = []
    url, params = TIMELINE, {"contact": contact.pk}
    pages = 0
    while url:
        with django_assert_max_num_queries(8):
            html = client.get(url, params, **HTMX).content.decode()
        seen += _subjects(html)
        pages += 1
        match = re.search(r'<div class="timeline-more">\s*<button[^>]*hx-get="([^"]+)"', html)
        url = match.group(1).replace("&amp;", "&") if match else None
        params = {}
    # then
    assert pages == 3
    assert len(seen) == 45 and len(set(seen)) == 45
    expected = [
        s.subject for s in Interaction.objects.filter(contact=contact).order_by("-occurred_at", "-id")
    ]
    assert seen == expected


def test_show_more_keeps_the_channel_filter(client, rep_a, contact):
    # given
    for n in range(22):
        InteractionFactory(contact=contact, channel="call", subject=f"call {n}")
    InteractionFactory(contact=contact, channel="email", subject="mail")
    client.force_login(rep_a)
    # when
    first = client.get(
        TIMELINE, {"contact": contact.pk, "channel": "call", "part": "items"}, **HTMX
    ).content.decode()
    more = re.search(r'hx-get="([^"]+part=more[^"]*)"', first).group(1).replace("&amp;", "&")
    second = client.get(more, **HTMX).content.decode()
    # then
    assert "channel=call" in more
    assert len(_subjects(first)) == 20 and len(_subjects(second)) == 2
    assert "mail" not in _subjects(first) + _subjects(second)


def test_timeline_query_count_does_not_grow_with_items(client, rep_a, contact, django_assert_max_num_queries):
    # given
    for _n in range(20):
        AttachmentFactory(interaction=InteractionFactory(contact=contact))
    client.force_login(rep_a)
    # then: session, user, contact, grants, team ids, items, attachments
    with django_assert_max_num_queries(8):
        response = client.get(TIMELINE, {"contact": contact.pk}, **HTMX)
    assert response.content.decode().count("interaction-attachments") == 20


def test_log_form_is_offered_for_a_channel(client, rep_a, contact):
    client.force_login(rep_a)
    response = client.get(LOG, {"contact": contact.pk, "channel": "meeting"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<option value="meeting" selected>', html)
    assert 'type="datetime-local"' in html and 'name="duration"' in html and 'type="file"' in html


def test_logging_a_call_creates_it_with_user_client_and_web_audit(client, rep_a, contact):
    # given
    client.force_login(rep_a)
    # when
    response = client.post(
        f"{LOG}?contact={contact.pk}",
        {
            "channel": "call",
            "direction": "in",
            "occurred_at": "2026-03-02T10:15",
            "duration": "7",
            "subject": "Asked for a quote",
            "body": "Wants 20 units",
            "outcome": "Quote to send",
        },
        REMOTE_ADDR="10.1.2.3",
        **HTMX,
    )
    # then
    assert response.status_code == 200
    interaction = Interaction.objects.get()
    assert interaction.user == rep_a and interaction.contact == contact
    assert interaction.company == contact.primary_company
    assert (interaction.channel, interaction.direction, interaction.duration_seconds) == ("call", "in", 420)
    assert timezone.localtime(interaction.occurred_at).strftime("%Y-%m-%d %H:%M") == "2026-03-02 10:15"
    entry = AuditEntry.objects.get(entity="interaction", object_id=interaction.pk)
    assert (entry.action, entry.source, entry.actor, entry.ip) == ("create", "web", rep_a, "10.1.2.3")
    html = response.content.decode()
    assert _subjects(html) == ["Asked for a quote"]  # the refreshed timeline comes back
    assert "7 min" in html and "Quote to send" in html


def test_logging_without_a_time_uses_now(client, rep_a, contact):
    client.force_login(rep_a)
    before = timezone.now()
    client.post(
        f"{LOG}?contact={contact.pk}", {"channel": "note", "direction": "internal", "body": "x"}, **HTMX
    )
    interaction = Interaction.objects.get()
    assert before - dt.timedelta(seconds=1) <= interaction.occurred_at <= timezone.now()
    assert interaction.duration_seconds is None


def test_logging_with_the_offered_time_untouched_uses_the_moment_of_saving(client, rep_a, contact):
    # given: the form offers the current minute
    client.force_login(rep_a)
    form = client.get(LOG, {"contact": contact.pk, "channel": "call"}, **HTMX).content.decode()
    shown = re.search(r'name="occurred_at_shown" value="([^"]+)"', form).group(1)
    assert re.search(rf'name="occurred_at" value="{shown}"', form)
    before = timezone.now()
    # when
    client.post(
        f"{LOG}?contact={contact.pk}",
        {"channel": "call", "direction": "out", "occurred_at": shown, "occurred_at_shown": shown},
        **HTMX,
    )
    # then: not the start of the minute, so it sorts above what was logged seconds before
    assert Interaction.objects.get().occurred_at >= before


def test_logging_on_a_company(client, rep_a, contact):
    company = contact.primary_company
    client.force_login(rep_a)
    response = client.post(
        LOG, {"company": company.pk, "channel": "letter", "direction": "out", "subject": "Contract"}, **HTMX
    )
    assert response.status_code == 200
    interaction = Interaction.objects.get()
    assert interaction.company == company and interaction.contact is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"channel": "call", "direction": "out", "duration": "abc"}, "duration", "Enter a whole number."),
        ({"direction": "out", "subject": "no channel"}, "channel", "This field is required."),
        ({"channel": "pigeon", "direction": "out"}, "channel", "Select a valid choice."),
        (
            {"channel": "call", "direction": "out", "occurred_at": "yesterday"},
            "occurred_at",
            "Enter a valid date/time.",
        ),
    ],
)
def test_bad_input_shows_field_errors_and_saves_nothing(client, rep_a, contact, data, field, message):
    client.force_login(rep_a)
    # when: a plain (non-HTMX) post gets 422
    response = client.post(f"{LOG}?contact={contact.pk}", data)
    # then
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="{field}"', html)
    assert Interaction.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_htmx_errors_are_swapped_into_the_form(client, rep_a, contact):
    client.force_login(rep_a)
    response = client.post(f"{LOG}?contact={contact.pk}", {"channel": "call", "duration": "-3"}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == f"#log-form-contact-{contact.pk}"
    assert f'id="log-form-contact-{contact.pk}"' in response.content.decode()
    assert Interaction.objects.count() == 0


def test_service_errors_land_on_their_fields(client, rep_a, contact):
    from kramar.core.tests.factories import CustomFieldDefinitionFactory

    # given: a required custom field the form renders
    CustomFieldDefinitionFactory(entity="interaction", key="topic", label="Topic", required=True)
    client.force_login(rep_a)
    # when
    response = client.post(f"{LOG}?contact={contact.pk}", {"channel": "call", "direction": "out"})
    # then
    assert response.status_code == 422
    html = response.content.decode()
    assert re.search(r'name="custom__topic"[^>]*aria-invalid="true"', html)
    assert "this field is required" in html
    assert Interaction.objects.count() == 0
    # and with the value it goes through
    client.post(
        f"{LOG}?contact={contact.pk}", {"channel": "call", "direction": "out", "custom__topic": "prices"}
    )
    assert Interaction.objects.get().custom == {"topic": "prices"}


def test_too_large_attachment_is_refused_and_nothing_saved(client, rep_a, contact, settings):
    # given
    settings.KRAMAR_MAX_ATTACHMENT_BYTES = 1024
    client.force_login(rep_a)
    upload = SimpleUploadedFile("big.pdf", b"x" * 1025, content_type="application/pdf")
    # when
    response = client.post(
        f"{LOG}?contact={contact.pk}", {"channel": "call", "direction": "out", "attachment": upload}
    )
    # then
    assert response.status_code == 422
    html = response.content.decode()
    assert "big.pdf is 1.0\xa0KB; files up to 1.0\xa0KB can be attached." in html
    assert Interaction.objects.count() == 0 and Attachment.objects.count() == 0


def test_attachment_is_stored_and_downloadable_only_by_allowed_users(client, rep_a, rep_a2, rep_b, contact):
    # given
    client.force_login(rep_a)
    upload = SimpleUploadedFile("offer.pdf", b"%PDF-1.4 offer", content_type="application/pdf")
    client.post(
        f"{LOG}?contact={contact.pk}", {"channel": "email", "direction": "out", "attachment": upload}, **HTMX
    )
    attachment = Attachment.objects.get()
    url = reverse("history:attachment-download", args=[attachment.pk])
    assert attachment.interaction.contact == contact and attachment.size == 14
    # when / then: the author
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 offer"
    assert (
        response["Content-Disposition"].startswith("attachment;")
        and "offer.pdf" in response["Content-Disposition"]
    )
    # a team-mate who may view the client
    client.force_login(rep_a2)
    assert client.get(url).status_code == 200
    # a rep of another team
    client.force_login(rep_b)
    assert client.get(url).status_code == 404
    # nobody logged in
    client.logout()
    assert client.get(url).status_code == 302
    # the timeline links the guarded view, never the media URL
    client.force_login(rep_a)
    html = client.get(TIMELINE, {"contact": contact.pk}, **HTMX).content.decode()
    assert url in html and attachment.file.url not in html


def test_html_is_sanitized_and_text_escaped(client, rep_a, contact):
    # given
    client.force_login(rep_a)
    client.post(
        f"{LOG}?contact={contact.pk}",
        {
            "channel": "email",
            "direction": "in",
            "subject": "<b>hi</b>",
            "body_html": '<p>Hello <b>there</b></p><script>alert("x")</script><img src="x" onerror="alert(1)">'
            '<a href="javascript:alert(2)">link</a>',
        },
        **HTMX,
    )
    InteractionFactory(contact=contact, channel="note", subject="plain", body="<script>alert(3)</script>")
    # a row written around the service (e.g. a bulk import) is sanitized on output too
    InteractionFactory(
        contact=contact, channel="email", subject="raw", body_html="<p>raw</p><script>alert(4)</script>"
    )
    # when
    html = client.get(TIMELINE, {"contact": contact.pk}, **HTMX).content.decode()
    # then
    stored = Interaction.objects.get(channel="email", direction="in").body_html
    assert "<script" not in stored and "onerror" not in stored and "javascript:" not in stored
    assert "<p>Hello <b>there</b></p>" in html
    assert "<script" not in html.lower()
    assert "onerror" not in html and "javascript:alert" not in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "&lt;b&gt;hi&lt;/b&gt;" in html
    assert "<p>raw</p>" in html


def test_out_of_scope_client_is_404_everywhere(client, rep_b, contact):
    # given
    interaction = InteractionFactory(contact=contact)
    client.force_login(rep_b)
    # then
    assert client.get(TIMELINE, {"contact": contact.pk}, **HTMX).status_code == 404
    assert client.get(TIMELINE, {"company": contact.primary_company.pk}, **HTMX).status_code == 404
    assert client.get(LOG, {"contact": contact.pk, "channel": "call"}, **HTMX).status_code == 404
    response = client.post(f"{LOG}?contact={contact.pk}", {"channel": "call", "direction": "out"}, **HTMX)
    assert response.status_code == 404
    assert client.get(reverse("history:interaction-edit", args=[interaction.pk]), **HTMX).status_code == 404
    assert (
        client.post(reverse("history:interaction-delete", args=[interaction.pk]), **HTMX).status_code == 404
    )
    assert Interaction.objects.count() == 1


def test_timeline_without_a_client_or_with_a_bad_id_is_404(client, rep_a):
    client.force_login(rep_a)
    assert client.get(TIMELINE, **HTMX).status_code == 404
    assert client.get(TIMELINE, {"contact": "abc"}, **HTMX).status_code == 404


def test_anonymous_is_sent_to_login(client, contact):
    response = client.get(TIMELINE, {"contact": contact.pk}, **HTMX)
    assert response.status_code == 302


def test_edit_controls_follow_the_scopes(client, rep_a, rep_a2, contact):
    # given: rep_a2 (same team) may view rep_a's client, but may only change or delete their own entries
    mine = InteractionFactory(contact=contact, user=rep_a2, subject="mine")
    theirs = InteractionFactory(contact=contact, user=rep_a, subject="theirs")
    client.force_login(rep_a2)
    # when
    html = client.get(TIMELINE, {"contact": contact.pk}, **HTMX).content.decode()
    # then
    assert reverse("history:interaction-edit", args=[mine.pk]) in html
    assert reverse("history:interaction-edit", args=[theirs.pk]) not in html
    assert reverse("history:interaction-delete", args=[theirs.pk]) not in html
    assert client.get(reverse("history:interaction-edit", args=[theirs.pk]), **HTMX).status_code == 404
    assert client.post(reverse("history:interaction-delete", args=[theirs.pk]), **HTMX).status_code == 404


def test_editing_an_interaction_returns_the_updated_item(client, rep_a, contact):
    # given
    interaction = interaction_create(
        actor=rep_a,
        data={"contact_id": contact.pk, "channel": "call", "subject": "first", "duration_seconds": 90},
    )
    url = reverse("history:interaction-edit", args=[interaction.pk])
    client.force_login(rep_a)
    form = client.get(url, **HTMX).content.decode()
    assert 'value="first"' in form and 'name="version"' in form
    # when
    response = client.post(
        url,
        {
            "channel": "meeting",
            "direction": "out",
            "occurred_at": "2026-01-05T09:00",
            "duration": "1",
            "subject": "second",
            "body": "",
            "outcome": "",
            "version": interaction.version,
        },
        **HTMX,
    )
    # then
    assert response.status_code == 200
    assert (
        response.content.decode()
        .lstrip()
        .startswith(f'<article class="interaction interaction-meeting" id="interaction-{interaction.pk}"')
    )
    interaction.refresh_from_db()
    assert (interaction.channel, interaction.subject, interaction.version) == ("meeting", "second", 2)
    assert interaction.duration_seconds == 90  # the unchanged minute keeps its seconds
    entry = AuditEntry.objects.filter(entity="interaction", object_id=interaction.pk, action="update").get()
    assert entry.changes["subject"] == ["first", "second"] and entry.source == "web"


def test_editing_with_a_stale_version_is_refused(client, rep_a, contact):
    interaction = InteractionFactory(contact=contact, user=rep_a, subject="v1")
    Interaction.objects.filter(pk=interaction.pk).update(version=5)
    client.force_login(rep_a)
    response = client.post(
        reverse("history:interaction-edit", args=[interaction.pk]),
        {"channel": "call", "direction": "out", "subject": "mine", "version": 4},
    )
    assert response.status_code == 422
    assert "Someone else changed this entry" in response.content.decode()
    interaction.refresh_from_db()
    assert interaction.subject == "v1"


def test_deleting_an_interaction(client, rep_a, contact):
    interaction = InteractionFactory(contact=contact, user=rep_a)
    client.force_login(rep_a)
    response = client.post(reverse("history:interaction-delete", args=[interaction.pk]), **HTMX)
    assert response.status_code == 200 and response.content == b""
    assert not Interaction.objects.filter(pk=interaction.pk).exists()
    assert AuditEntry.objects.filter(entity="interaction", object_id=interaction.pk, action="delete").exists()


def test_delete_requires_post(client, rep_a, contact):
    interaction = InteractionFactory(contact=contact, user=rep_a)
    client.force_login(rep_a)
    assert client.get(reverse("history:interaction-delete", args=[interaction.pk])).status_code == 405
    assert Interaction.objects.filter(pk=interaction.pk).exists()


def test_adding_an_attachment_while_editing(client, rep_a, contact):
    interaction = InteractionFactory(contact=contact, user=rep_a, subject="s")
    client.force_login(rep_a)
    upload = SimpleUploadedFile("minutes.txt", b"minutes", content_type="text/plain")
    response = client.post(
        reverse("history:interaction-edit", args=[interaction.pk]),
        {"channel": "call", "direction": "out", "subject": "s", "version": 1, "attachment": upload},
        **HTMX,
    )
    assert response.status_code == 200
    assert "minutes.txt" in response.content.decode()
    assert interaction.attachments.get().filename == "minutes.txt"


def test_attachment_added_by_service_on_company_timeline(client, rep_a, rep_b, contact):
    interaction = InteractionFactory(contact=None, company=contact.primary_company, user=rep_a)
    attachment = attachment_add(
        actor=rep_a,
        interaction=interaction,
        upload=SimpleUploadedFile("a.txt", b"abc", content_type="text/plain"),
    )
    url = reverse("history:attachment-download", args=[attachment.pk])
    client.force_login(rep_b)
    assert client.get(url).status_code == 404
    client.force_login(rep_a)
    assert client.get(url).status_code == 200


def test_opened_without_htmx_the_timeline_is_a_full_page(client, rep_a, contact):
    InteractionFactory(contact=contact, subject="on the page")
    client.force_login(rep_a)
    html = client.get(TIMELINE, {"contact": contact.pk}).content.decode()
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert f'id="timeline-contact-{contact.pk}"' in html and "on the page" in html
    assert reverse("clients:contact-detail", args=[contact.pk]) in html  # the way back to the card


def test_a_viewer_sees_the_timeline_but_may_not_log(client, team_a, contact):
    from kramar.accounts.models import Role, RoleGrant
    from kramar.accounts.tests.factories import UserFactory

    # given: a role that may only view
    role = Role.objects.create(name="Viewer")
    for entity in ("contact", "company", "interaction"):
        RoleGrant.objects.create(role=role, entity=entity, action="view", scope=RoleGrant.Scope.TEAM)
    viewer = UserFactory(team=team_a, role="Viewer")
    InteractionFactory(contact=contact, subject="visible")
    client.force_login(viewer)
    # when
    html = client.get(TIMELINE, {"contact": contact.pk}, **HTMX).content.decode()
    response = client.post(f"{LOG}?contact={contact.pk}", {"channel": "call", "direction": "out"}, **HTMX)
    # then
    assert _subjects(html) == ["visible"]
    assert LOG not in html and "/edit/" not in html and "/delete/" not in html
    assert response.status_code == 403
    assert Interaction.objects.count() == 1
