"""The web form endpoint: CORS (allowed and refused origins, the preflight), the honeypot, the hourly rate limit,
validation errors naming the field, lead creation and matching, routing, the snippet shown in the admin."""

import pytest
from django.core.cache import cache

from kramar.clients.models import Contact
from kramar.clients.tests.factories import ContactFactory, ContactPointFactory
from kramar.comms.models import Assignment, Conversation, Message
from kramar.comms.tests.factories import QueueFactory, RoutingRuleFactory, WebFormChannelFactory
from kramar.comms.webforms import origin_normalize, webform_snippet
from kramar.history.models import Interaction

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def channel(db):
    return WebFormChannelFactory()


def _path(channel) -> str:
    return f"/api/v1/comms/hooks/forms/{channel.pk}"


FORM = {"name": "Марія Іваненко", "email": "maria@example.com", "phone": "050 111 22 33", "company": "ФОП Іваненко",
        "message": "Потрібна консультація", "consent": "yes", "website": ""}


def _post(client, channel, data=None, origin=ORIGIN, **kwargs):
    headers = {"Origin": origin} if origin else {}
    return client.post(_path(channel), data=FORM if data is None else data, headers=headers, **kwargs)


def _stored() -> tuple[int, int, int, int]:
    return (Message.objects.count(), Conversation.objects.count(), Contact.objects.count(),
            Interaction.objects.count())


# ----------------------------------------------------------------------------------------- CORS
def test_allowed_origin_gets_cors_headers_and_a_lead_is_created(client, channel):
    # when
    response = _post(client, channel)
    # then
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == ORIGIN and "Origin" in response["Vary"]
    assert response.json() == {"ok": True, "message": "Thank you! We will get back to you soon."}
    lead = Contact.objects.get()
    assert (lead.first_name, lead.last_name) == ("Марія", "Іваненко")
    assert lead.lifecycle_stage == "lead" and lead.source == "web form"
    assert list(lead.tags.values_list("name", flat=True)) == ["new from web form"]
    assert lead.marketing_consent == "given" and "ФОП Іваненко" in lead.notes
    assert sorted(lead.points.values_list("normalized", flat=True)) == ["+380501112233", "maria@example.com"]
    message = Message.objects.get()
    assert message.flags["form"]["origin"] == ORIGIN and message.flags["new_lead"] is True
    assert message.conversation.contact == lead and message.conversation.kind == "webform"
    logged = Interaction.objects.get()
    assert logged.channel == "web_form" and logged.direction == "in" and "консультація" in logged.body


def test_refused_origin_is_403_and_stores_nothing(client, channel):
    response = _post(client, channel, origin="https://evil.example")
    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"
    assert "Access-Control-Allow-Origin" not in response
    assert _stored() == (0, 0, 0, 0)


def test_preflight_is_answered_for_allowed_origins_only(client, channel):
    ok = client.options(_path(channel), headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type"})
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == ORIGIN and "POST" in ok["Access-Control-Allow-Methods"]
    assert "Content-Type" in ok["Access-Control-Allow-Headers"]
    refused = client.options(_path(channel), headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused


def test_origins_compare_by_scheme_host_and_port():
    assert origin_normalize("HTTPS://Shop.Example:443/") == "https://shop.example"
    assert origin_normalize("http://shop.example:8080") == "http://shop.example:8080"
    assert origin_normalize("null") == ""


def test_json_posts_are_accepted(client, channel):
    response = client.post(_path(channel), data={**FORM, "consent": True}, content_type="application/json",
                           headers={"Origin": ORIGIN})
    assert response.status_code == 200 and Contact.objects.get().marketing_consent == "given"


def test_unknown_channel_or_other_kind_is_404(client, channel):
    assert client.post(f"/api/v1/comms/hooks/forms/{channel.pk + 99}", data=FORM).status_code == 404


# ----------------------------------------------------------------------------------------- honeypot, rate limit
def test_filled_honeypot_looks_like_success_but_stores_nothing(client, channel):
    response = _post(client, channel, {**FORM, "website": "http://spam.example"})
    assert response.status_code == 200 and response.json()["ok"] is True
    assert _stored() == (0, 0, 0, 0)


def test_the_hourly_rate_limit_answers_429_with_retry_after(client):
    channel = WebFormChannelFactory(settings={"allowed_origins": [ORIGIN], "rate_limit_per_hour": 3})
    for i in range(3):
        assert _post(client, channel, {**FORM, "message": f"n{i}"}).status_code == 200
    response = _post(client, channel, {**FORM, "message": "n4"})
    assert response.status_code == 429 and response["Content-Type"] == "application/problem+json"
    assert 0 < int(response["Retry-After"]) <= 3600
    assert response["Access-Control-Allow-Origin"] == ORIGIN  # the page's script can read it
    assert Message.objects.count() == 3
    other_ip = client.post(_path(channel), data={**FORM, "message": "n5"}, headers={"Origin": ORIGIN},
                           REMOTE_ADDR="10.0.0.9")
    assert other_ip.status_code == 200


def test_the_rate_counter_lives_in_the_database_per_key_and_window_and_is_pruned():
    import datetime as dt

    from kramar.comms.models import RateCounter
    from kramar.comms.webforms import rate_counters_prune, rate_hit

    hour = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)
    assert [rate_hit("webform:1:a", hour) for _ in range(3)] == [1, 2, 3]
    assert rate_hit("webform:1:b", hour) == 1 and rate_hit("webform:1:a", hour + dt.timedelta(hours=1)) == 1
    assert RateCounter.objects.get(key="webform:1:a", window=hour).count == 3  # every process reads this row
    assert rate_counters_prune(now=hour + dt.timedelta(hours=2, minutes=30)) == 2
    assert list(RateCounter.objects.values_list("key", "count")) == [("webform:1:a", 1)]


# ----------------------------------------------------------------------------------------- validation
def test_validation_errors_name_the_fields_and_store_nothing(client, channel):
    response = _post(client, channel, {"name": "", "email": "not-an-address", "phone": "12", "message": "x" * 10_001})
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"name", "email", "phone", "message"}
    assert _stored() == (0, 0, 0, 0)
    missing = _post(client, channel, {"name": "Ann"})
    assert {e["field"] for e in missing.json()["errors"]} == {"email"}


# ----------------------------------------------------------------------------------------- matching, routing
def test_a_known_sender_is_matched_and_not_overwritten(client, channel, rep_a):
    known = ContactFactory(first_name="Марія", last_name="Стара", owner=rep_a, lifecycle_stage="customer")
    ContactPointFactory(contact=known, kind="email", value="maria@example.com", normalized="maria@example.com")
    _post(client, channel)
    assert Contact.objects.count() == 1
    known.refresh_from_db()
    assert known.last_name == "Стара" and known.lifecycle_stage == "customer"
    message = Message.objects.get()
    assert message.flags["matched"] is True and message.conversation.contact == known
    assert Interaction.objects.get().contact == known


def test_a_nameless_lead_gets_the_name_from_the_form(client, channel):
    lead = ContactFactory(first_name="", last_name="", owner=None, lifecycle_stage="lead")
    ContactPointFactory(contact=lead, kind="phone", value="+380501112233", normalized="+380501112233")
    _post(client, channel, {**FORM, "email": ""})
    lead.refresh_from_db()
    assert (lead.first_name, lead.last_name) == ("Марія", "Іваненко")


def test_the_same_post_twice_is_stored_once(client, channel):
    _post(client, channel)
    _post(client, channel)
    assert _stored() == (1, 1, 1, 1)


def test_posts_are_routed_by_the_rules(client, make_agent, django_capture_on_commit_callbacks):
    # given: a rule sends web forms to Sales
    sales = QueueFactory(name="Sales")
    petro = make_agent("Petro", sales)
    RoutingRuleFactory(queue=sales, conditions=[{"field": "channel_kind", "op": "eq", "value": "webform"}])
    channel = WebFormChannelFactory(queue=QueueFactory(name="Default"))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, channel)
    # then
    conv = Conversation.objects.get()
    assert conv.queue == sales and conv.owner == petro
    assert Assignment.objects.get(conversation=conv).user == petro


# ----------------------------------------------------------------------------------------- the snippet
def test_the_snippet_and_the_admin_page_show_it(admin_client, channel):
    snippet = webform_snippet(channel, "https://crm.example")
    assert f'data-kramar-form="https://crm.example/api/v1/comms/hooks/forms/{channel.pk}"' in snippet
    assert 'name="website"' in snippet and "https://crm.example/static/kramar/webform.js" in snippet
    page = admin_client.get(f"/admin/comms/channel/{channel.pk}/change/")
    assert page.status_code == 200
    assert f"/api/v1/comms/hooks/forms/{channel.pk}" in page.content.decode()
