"""The channels page (each channel's state: a mailbox's error and next try) and the "could not process" list
(download the original, process it again, resolve it by hand)."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from kramar.accounts.tests.factories import UserFactory
from kramar.comms.choices import ChannelKind
from kramar.comms.imap import channel_poll
from kramar.comms.models import Channel, InboundFailure, Message
from kramar.comms.tests.dovecot import private_dovecot  # noqa: F401
from kramar.comms.tests.factories import ChannelFactory, InboundFailureFactory, QueueFactory
from kramar.comms.tests.mail_samples import mail

pytestmark = pytest.mark.django_db

SECRET = "pa55-do-not-show"


def url(name, *args):
    return reverse(f"comms:{name}", args=args)


@pytest.fixture
def supervisor(db):
    lead = UserFactory(username="lead_sup", role="Team lead")
    QueueFactory(name="Sales").supervisors.add(lead)
    return lead


@pytest.mark.slow
def test_a_mailbox_with_a_wrong_password_shows_the_error_on_the_channels_page(client, admin_user, private_dovecot):  # noqa: F811
    user = private_dovecot.add_user("sales")
    channel = Channel.objects.create(kind=ChannelKind.EMAIL, name="Sales box", address="sales@kramar.test",
                                     settings=private_dovecot.channel_settings(user), secret=SECRET)
    Channel.objects.filter(pk=channel.pk).update(secret="wrong")
    channel.refresh_from_db()
    channel_poll(channel=channel)  # the real server refuses the login

    client.force_login(admin_user)
    html = client.get(url("channels")).content.decode()

    row = html[html.index(f'data-testid="channel-{channel.pk}"'):]
    assert "Could not log in to 127.0.0.1 as sales" in row[:row.index("</tr>")]
    assert "failed 1 time in a row" in row and "next try at" in row
    assert SECRET not in html and "wrong" not in html


def test_channels_page_is_for_supervisors_and_administrators(client, admin_user, supervisor, rep_a):
    box = ChannelFactory(name="Box", secret=SECRET)
    Channel.objects.filter(pk=box.pk).update(last_polled_at=box.created_at)
    ChannelFactory(name="Web chat", kind=ChannelKind.CHAT, address="")
    InboundFailureFactory(channel=box)
    client.force_login(rep_a)
    assert client.get(url("channels")).status_code == 403
    # a supervisor sees the channels, not the unprocessed items (administrators' business)
    client.force_login(supervisor)
    html = client.get(url("channels")).content.decode()
    assert "Box" in html and "receives over its signed webhook" in html and "read " in html
    assert url("failures") not in html and SECRET not in html
    client.force_login(admin_user)
    html = client.get(url("channels")).content.decode()
    assert 'data-testid="failures-open">1<' in html and f"{url('failures')}?channel={box.pk}" in html


def test_the_could_not_process_list_filters_and_offers_the_original(client, admin_user, rep_a, supervisor):
    box, other = ChannelFactory(name="Box"), ChannelFactory(name="Other")
    broken = InboundFailureFactory(channel=box, error="Broken MIME structure in multipart/mixed")
    broken.raw.save("failed-1.eml", ContentFile(b"From: a@b.test\r\n\r\nbroken"), save=True)
    done = InboundFailureFactory(channel=box, error="old one", resolved_at=broken.created_at)
    elsewhere = InboundFailureFactory(channel=other, error="elsewhere")
    for user in (rep_a, supervisor):
        client.force_login(user)
        assert client.get(url("failures")).status_code == 403
        assert client.get(url("failure-raw", broken.pk)).status_code == 403
        assert client.post(url("failure-resolve", broken.pk)).status_code == 403
    client.force_login(admin_user)
    html = client.get(url("failures")).content.decode()
    assert f'data-testid="failure-{broken.pk}"' in html and f'data-testid="failure-{elsewhere.pk}"' in html
    assert f'data-testid="failure-{done.pk}"' not in html and "Broken MIME structure" in html
    html = client.get(url("failures"), {"state": "resolved"}).content.decode()
    assert f'data-testid="failure-{done.pk}"' in html and f'data-testid="failure-{broken.pk}"' not in html
    html = client.get(url("failures"), {"channel": other.pk}).content.decode()
    assert f'data-testid="failure-{elsewhere.pk}"' in html and f'data-testid="failure-{broken.pk}"' not in html
    raw = client.get(url("failure-raw", broken.pk))
    assert raw.status_code == 200 and b"".join(raw.streaming_content) == b"From: a@b.test\r\n\r\nbroken"
    assert "attachment" in raw["Content-Disposition"] and raw["Content-Type"] == "message/rfc822"
    assert client.get(url("failure-raw", elsewhere.pk)).status_code == 404  # no original kept
    # nothing left: the empty state says so
    InboundFailure.objects.update(resolved_at=broken.created_at)
    assert 'data-testid="empty"' in client.get(url("failures")).content.decode()


def test_process_again_and_resolve_from_the_list(client, admin_user):
    box = ChannelFactory(name="Box", address="box@kramar.test")
    stored_later = InboundFailureFactory(channel=box, error="Could not store the message: OperationalError")
    stored_later.raw.save("failed-2.eml", ContentFile(mail(msg_id="again@client.test", sender="c@client.test",
                                                           subject="Замовлення")), save=True)
    garbage = InboundFailureFactory(channel=box, error="old reason")
    garbage.raw.save("failed-3.eml", ContentFile(b"\x00\x01 not an e-mail"), save=True)
    client.force_login(admin_user)
    html = client.get(url("failures")).content.decode()
    assert f'data-testid="retry-{stored_later.pk}"' in html and f'data-testid="resolve-{garbage.pk}"' in html

    response = client.post(url("failure-retry", stored_later.pk), {"next": url("failures")}, follow=True)

    assert "Processed: the message is in its conversation." in response.content.decode()
    message = Message.objects.get(external_id="again@client.test")
    stored_later.refresh_from_db()
    assert stored_later.resolved_at is not None and stored_later.message == message
    html = client.get(url("failures"), {"state": "resolved"}).content.decode()
    assert url("conversation-detail", message.conversation_id) in html
    # one that fails again stays, with the new reason shown
    response = client.post(url("failure-retry", garbage.pk), follow=True)
    garbage.refresh_from_db()
    assert garbage.resolved_at is None and garbage.error != "old reason"
    assert "could not be processed this time either" in response.content.decode()
    # resolved by hand, then again: a clear message, no error page
    response = client.post(url("failure-resolve", garbage.pk), follow=True)
    assert "Marked as resolved." in response.content.decode()
    response = client.post(url("failure-resolve", garbage.pk), follow=True)
    assert response.status_code == 200 and "already resolved" in response.content.decode()
