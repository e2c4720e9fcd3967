"""End to end in a real browser (Debian Chromium driven by Playwright): with the inbox open, a client's e-mail
routed to the agent appears in the list without a reload (server-sent events → HTMX re-fetch); the agent opens
it, inserts a canned response, replies, and the reply is in the outbox threaded to the client's message."""

from email import policy
from email.parser import BytesParser

import pytest

from kramar.accounts.services import roles_ensure_defaults
from kramar.core.tests.browser import BROWSER_MARKS, sign_in

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS


@pytest.fixture
def seeded(transactional_db):
    roles_ensure_defaults()
    from kramar.accounts.tests.factories import TeamFactory, UserFactory
    from kramar.clients.tests.factories import ContactFactory, ContactPointFactory
    from kramar.comms.choices import ChannelKind, Presence
    from kramar.comms.tests.factories import (
        AgentProfileFactory,
        CannedResponseFactory,
        ChannelFactory,
        QueueFactory,
        QueueMemberFactory,
    )

    team = TeamFactory(name="Sales Kyiv")
    agent = UserFactory(username="olena", first_name="Олена", password="correct horse", team=team,
                        role="Sales rep")
    queue = QueueFactory(name="Service")
    QueueMemberFactory(queue=queue, user=agent)
    AgentProfileFactory(user=agent, presence=Presence.ONLINE, capacity=5)
    channel = ChannelFactory(kind=ChannelKind.EMAIL, name="Sales", address="sales@kramar.test", queue=queue)
    contact = ContactFactory(first_name="Тарас", last_name="Шевченко", owner=agent, team=team)
    ContactPointFactory(contact=contact, kind="email", value="taras@client.test", normalized="taras@client.test")
    CannedResponseFactory(name="Price list", body="Добрий день, {{ contact.first_name }}! Ціни у вкладенні.")
    return {"agent": agent, "channel": channel, "contact": contact}


def test_a_routed_conversation_appears_live_and_the_reply_is_threaded(
        static_files, seeded, live_server, browser_page, monkeypatch):
    # the ORM calls below run while Playwright's event loop lives in this thread (the server is another thread)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    from kramar.comms.ingest import email_ingest
    from kramar.comms.models import Message
    from kramar.comms.tests.mail_samples import mail
    from kramar.core.models import OutgoingEmail

    page = browser_page
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "/comms/events/" not in r.url
            else None)
    sign_in(page, live_server, "olena", "correct horse")

    # given: the inbox is open and its live connection is up; nothing for the agent yet
    page.goto(f"{live_server.url}/comms/inbox/")
    assert page.locator("[data-testid=empty-state]").is_visible()
    page.wait_for_function("window.krLive && window.krLive.source.readyState === 1", timeout=10_000)
    page.evaluate("window.__notReloaded = true")

    # when: a client's e-mail arrives and is routed to the agent (ingestion, then routing on commit)
    raw = mail(msg_id="q1@client.test", sender="taras@client.test", subject="Ціна на котли",
               body="Скільки коштує котел?", headers={"References": "<root@client.test>"})
    result = email_ingest(channel=seeded["channel"], raw=raw)
    assert result.status == "stored"
    conv = result.message.conversation

    # then: the row appears, offered, without a page reload
    row = page.locator(f"[data-testid=conversation-{conv.pk}]")
    row.wait_for(state="visible", timeout=10_000)
    assert "Ціна на котли" in row.inner_text()
    assert row.locator(f"[data-testid=offer-{conv.pk}]").is_visible()
    assert page.evaluate("window.__notReloaded") is True

    # when: the agent opens it, inserts the canned response and sends the reply
    row.get_by_role("link", name="Ціна на котли").click()
    page.wait_for_url(f"{live_server.url}/comms/conversations/{conv.pk}/")
    page.fill("#id_body", "Олена тут. ")
    page.select_option("[data-testid=canned-pick]", label="Price list")
    assert page.input_value("#id_body").endswith("Добрий день, Тарас! Ціни у вкладенні.")
    page.click("[data-testid=send-reply]")
    page.get_by_text("The reply is on its way.").wait_for(timeout=10_000)

    # then: the reply is in the outbox, threaded to the client's message, and shown in the thread
    outgoing = OutgoingEmail.objects.get(kind="conversation_reply")
    sent = BytesParser(policy=policy.default).parsebytes(bytes(outgoing.raw))
    assert sent["In-Reply-To"] == "<q1@client.test>"
    assert sent["References"].split() == ["<root@client.test>", "<q1@client.test>"]
    assert sent["Subject"] == "Re: Ціна на котли"
    assert "Добрий день, Тарас!" in sent.get_body().get_content()
    reply = Message.objects.get(conversation=conv, direction="out")
    assert reply.outgoing == outgoing
    assert page.locator(f"[data-testid=message-{reply.pk}]").is_visible()

    # and the open conversation page follows changes made elsewhere: a note written through the service shows up
    from kramar.comms.services import conversation_note

    page.wait_for_function("window.krLive && window.krLive.source.readyState === 1", timeout=10_000)
    note = conversation_note(actor=seeded["agent"], conversation=conv, body="Клієнт просив знижку")
    page.locator(f"[data-testid=message-{note.pk}]").wait_for(state="visible", timeout=10_000)
    assert failed == []
