"""End to end in a real browser (Debian Chromium driven by Playwright): the supervisor view and the SLA clocks.

A team lead supervising the Service queue has /comms/supervisor/ open while nobody is online. A client's e-mail
arrives through ingestion and routing and the queue's waiting count changes without a reload; an agent of the
queue sees the waiting item, with its SLA clock, in "My queues". The SLA job warns and then, past the due, breaches
it: the warning and the breach appear on the supervisor page live, the supervisor is notified ("My day") and the
escalation raised the priority and tried the next agent. The supervisor picks an agent in the reassign form, a
second e-mail refreshes the page meanwhile (the choice survives), and reassigns: the assignment moves with its
reason logged, and the agent's open inbox (a second browser context) shows the offer, marked breached, live."""

import datetime as dt

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from kramar.accounts.services import roles_ensure_defaults
from kramar.core.tests.browser import BROWSER_MARKS, sign_in

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS

WAIT = 10_000  # ms: a live change normally shows within a second (0.5 s polling + HTMX's delay)


@pytest.fixture
def seeded(transactional_db):
    roles_ensure_defaults()
    from kramar.accounts.tests.factories import TeamFactory, UserFactory
    from kramar.clients.tests.factories import ContactFactory, ContactPointFactory
    from kramar.comms.choices import ChannelKind, Presence, Priority
    from kramar.comms.tests.factories import (
        AgentProfileFactory,
        ChannelFactory,
        QueueFactory,
        QueueMemberFactory,
        SlaPolicyFactory,
    )

    team = TeamFactory(name="Service Kyiv")
    boss = UserFactory(username="bohdan", first_name="Богдан", last_name="Лис", password="correct horse",
                       team=team, role="Team lead")
    olena = UserFactory(username="olena", first_name="Олена", last_name="Коваль", password="correct horse",
                        team=team, role="Sales rep")
    petro = UserFactory(username="petro", first_name="Петро", last_name="Мельник", password="correct horse",
                        team=team, role="Sales rep")
    queue = QueueFactory(name="Service", accept_minutes=30)
    queue.supervisors.add(boss)
    for agent in (olena, petro):  # nobody online: a new conversation waits in the queue
        QueueMemberFactory(queue=queue, user=agent)
        AgentProfileFactory(user=agent, presence=Presence.OFFLINE, capacity=5)
    SlaPolicyFactory(queue=queue, priority=Priority.NORMAL, first_response_minutes=30, resolution_minutes=480,
                     warn_before_minutes=10)
    channel = ChannelFactory(kind=ChannelKind.EMAIL, name="Support", address="support@kramar.test", queue=queue)
    contact = ContactFactory(first_name="Тарас", last_name="Шевченко", owner=olena, team=team)
    ContactPointFactory(contact=contact, kind="email", value="taras@client.test", normalized="taras@client.test")
    return {"boss": boss, "olena": olena, "petro": petro, "queue": queue, "channel": channel}


def _ingest(channel, *, msg_id: str, subject: str, body: str):
    from kramar.comms.ingest import email_ingest
    from kramar.comms.tests.mail_samples import mail

    raw = mail(msg_id=msg_id, sender="taras@client.test", to=channel.address, subject=subject, body=body)
    result = email_ingest(channel=channel, raw=raw)  # routing runs after the commit, as in production
    assert result.status == "stored", result
    return result.message.conversation


def _live(page) -> None:
    page.wait_for_function("window.krLive && window.krLive.source.readyState === 1", timeout=WAIT)


def test_supervisor_sees_arrivals_and_sla_breaches_live_and_reassigns(
        static_files, seeded, live_server, browser_page, monkeypatch):
    # the ORM calls below run while Playwright's event loop lives in this thread (the server is another thread)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    from playwright.sync_api import expect

    from kramar.comms.choices import AssignmentStatus, ConversationStatus, Priority
    from kramar.comms.models import Assignment
    from kramar.comms.sla import sla_check
    from kramar.core.models import AuditEntry, Notification

    boss, petro, queue = seeded["boss"], seeded["petro"], seeded["queue"]
    page = browser_page
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "/comms/events/" not in r.url
            else None)
    agent_context = page.context.browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    try:
        agent = agent_context.new_page()
        agent.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "/comms/events/" not in r.url
                 else None)

        # given: the supervisor's page is open, nothing waits; the agent watches their queues
        sign_in(page, live_server, "bohdan", "correct horse")
        page.goto(f"{live_server.url}/comms/supervisor/")
        queue_row = page.locator(f"[data-testid=queue-{queue.pk}]")
        expect(queue_row.locator("[data-testid=waiting]")).to_have_text("0")
        expect(page.locator("[data-testid=no-breaches]")).to_be_visible()
        sign_in(agent, live_server, "petro", "correct horse")
        agent.goto(f"{live_server.url}/comms/inbox/?box=queues")
        expect(agent.locator("[data-testid=empty-state]")).to_be_visible()
        _live(page)
        _live(agent)
        page.evaluate("window.__notReloaded = true")
        agent.evaluate("window.__notReloaded = true")

        # when: a client's e-mail arrives (ingestion, then routing after the commit: nobody online, it waits)
        conv = _ingest(seeded["channel"], msg_id="q1@client.test", subject="Котел не гріє",
                       body="Добрий день! Котел не гріє.")
        conv.refresh_from_db()
        assert (conv.queue, conv.owner, conv.status) == (queue, None, ConversationStatus.NEW)
        assert conv.first_response_due is not None

        # then: the supervisor's counters change without a reload: one waiting, with its waiting time
        expect(queue_row.locator("[data-testid=waiting]")).to_have_text("1", timeout=WAIT)
        expect(page.locator("[data-testid=totals]")).to_contain_text("1 waiting")
        assert queue_row.locator("[data-testid=longest-wait]").inner_text().strip() not in ("", "—")
        # and the agent sees the waiting item in "My queues" with its SLA clock (answer by …)
        row = agent.locator(f"[data-testid=conversation-{conv.pk}]")
        row.wait_for(state="visible", timeout=WAIT)
        expect(row.locator("[data-testid=sla-due]")).to_contain_text("answer by")

        # when: the SLA job runs 5 minutes before the first-response due (10 minutes' warning)
        due = conv.first_response_due
        assert sla_check(now=due - dt.timedelta(minutes=5)) == {"warned": 1, "breached": 0}
        # then: the warning shows live, and the supervisors are told (nobody has the conversation)
        expect(queue_row.locator("[data-testid=warned]")).to_have_text("1", timeout=WAIT)
        assert list(Notification.objects.filter(kind="sla_warning").values_list("user", flat=True)) == [boss.pk]

        # when: the SLA job runs past the due
        assert sla_check(now=due + dt.timedelta(minutes=1)) == {"warned": 0, "breached": 1}

        # then: the breach shows live, with the raised priority
        breached = page.locator(f"[data-testid=breached-{conv.pk}]")
        breached.wait_for(state="visible", timeout=WAIT)
        assert "High" in breached.inner_text()
        expect(queue_row.locator("[data-testid=breached]")).to_have_text("1")
        expect(queue_row.locator("[data-testid=warned]")).to_have_text("0")  # a breach is no longer a warning
        expect(page.locator("[data-testid=totals]")).to_contain_text("1 SLA breach")
        assert page.evaluate("window.__notReloaded") is True
        # the escalation the docs describe: priority up by one, the next agent tried (nobody online: it waits)
        conv.refresh_from_db()
        assert conv.sla_breached_at == due + dt.timedelta(minutes=1) and conv.priority == Priority.HIGH
        decision = Assignment.objects.filter(conversation=conv).latest("id")
        assert decision.status == AssignmentStatus.WAITING
        assert decision.reason.startswith("SLA breached, priority normal → high; ")
        # and the supervisor is notified: on "My day", linking to the conversation
        [note] = Notification.objects.filter(kind="sla_breach")
        assert note.user == boss and "Котел не гріє" in note.text and "priority now high" in note.text
        my_day = page.context.new_page()
        my_day.goto(f"{live_server.url}/my-day/")
        link = my_day.locator(f"[data-testid=notification-{note.pk}] a")
        expect(link).to_contain_text("SLA breached")
        assert link.get_attribute("href") == f"/comms/conversations/{conv.pk}/"
        my_day.close()

        # given: the agent has "Mine" open (nothing for them yet)
        agent.get_by_test_id("tab-mine").click()
        agent.wait_for_url(f"{live_server.url}/comms/inbox/?box=mine")
        expect(agent.locator("[data-testid=empty-state]")).to_be_visible()
        _live(agent)
        agent.evaluate("window.__notReloaded = true")

        # when: the supervisor picks the agent to reassign to, and meanwhile another e-mail refreshes the page
        page.select_option("#kr-reassign select[name=target]", value=f"user:{petro.pk}")
        _ingest(seeded["channel"], msg_id="q2@client.test", subject="Ще питання", body="І ще одне.")
        expect(queue_row.locator("[data-testid=waiting]")).to_have_text("2", timeout=WAIT)
        # then: the choice survived the live refresh
        assert page.input_value("#kr-reassign select[name=target]") == f"user:{petro.pk}"
        assert page.evaluate("window.__notReloaded") is True

        # when: the supervisor reassigns the breached conversation from the page
        page.click(f"[data-testid=transfer-{conv.pk}]")
        page.get_by_text("The conversation was transferred.").wait_for(timeout=WAIT)
        assert page.url == f"{live_server.url}/comms/supervisor/"

        # then: the assignment moved, with the reason logged and audited
        conv.refresh_from_db()
        assert (conv.owner, conv.status) == (petro, ConversationStatus.NEW)
        offer = Assignment.objects.get(conversation=conv, status=AssignmentStatus.OFFERED)
        assert (offer.user, offer.decided_by) == (petro, boss)
        assert offer.reason == "transferred by Богдан Лис; to Петро Мельник"
        audit = AuditEntry.objects.filter(entity="conversation", object_id=conv.pk, actor=boss).latest("id")
        assert audit.changes["owner"] == [None, petro.pk] and audit.extra["reason"] == offer.reason
        expect(breached.locator("[data-testid=breached-owner]")).to_have_text("Петро Мельник")

        # and the agent's open inbox receives it live: offered to them, marked breached
        row = agent.locator(f"[data-testid=conversation-{conv.pk}]")
        row.wait_for(state="visible", timeout=WAIT)
        expect(row.locator(f"[data-testid=offer-{conv.pk}]")).to_be_visible()
        expect(row.locator("[data-testid=sla-breached]")).to_be_visible()
        assert agent.evaluate("window.__notReloaded") is True
        # the conversation page shows the SLA clock: the due, the breach, and the reason in the log
        row.get_by_role("link", name="Котел не гріє").click()
        agent.wait_for_url(f"{live_server.url}/comms/conversations/{conv.pk}/")
        state = agent.locator("[data-testid=conversation-state]")
        expect(state).to_contain_text("First response due")
        expect(state).to_contain_text(date_format(timezone.localtime(due), "SHORT_DATETIME_FORMAT"))
        expect(state.locator("[data-testid=sla-breached]")).to_be_visible()
        expect(agent.locator("[data-testid=assignment-log]")).to_contain_text("transferred by Богдан Лис")
        assert failed == []
    finally:
        for p in (page, *agent_context.pages):  # close the live connections before the database goes away
            p.goto("about:blank")
        agent_context.close()
