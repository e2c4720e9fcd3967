"""The routing engine through its services: rules, strategies, presence and capacity, overflow, offers and their
expiry, transfers and the decision log."""

import datetime as dt

import pytest

from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.comms.choices import (
    AssignmentStatus,
    ChannelKind,
    ConversationStatus,
    Presence,
    Priority,
    Strategy,
)
from kramar.comms.models import Assignment, Conversation, RoutingRule
from kramar.comms.presence import presence_set
from kramar.comms.routing import (
    assignment_accept,
    assignment_decline,
    conversation_route,
    conversation_transfer,
    offers_expire,
)
from kramar.comms.routing_rules import rules_dry_run
from kramar.comms.tests.factories import (
    BusinessHoursFactory,
    ChannelFactory,
    ConversationFactory,
    LoadWeightFactory,
    MessageFactory,
    QueueFactory,
    RoutingRuleFactory,
)
from kramar.core.errors import DomainError
from kramar.core.models import Tag

pytestmark = pytest.mark.django_db


def conv_in(queue, *, kind=ChannelKind.EMAIL, **kwargs):
    """A new conversation on a channel whose default queue is `queue` (no rules)."""
    channel = ChannelFactory(kind=kind, queue=queue)
    return ConversationFactory(channel=channel, **kwargs)


def load(user, n, *, kind=ChannelKind.EMAIL, status=ConversationStatus.OPEN):
    for _ in range(n):
        ConversationFactory(channel=ChannelFactory(kind=kind), owner=user, status=status)


# --------------------------------------------------------------------------------------- strategies
def test_least_loaded_picks_the_agent_with_the_lowest_load(make_agent, now):
    # given Olena with 3 open, Petro with 1, Ivan with 2
    queue = QueueFactory(name="Service", strategy=Strategy.LEAST_LOADED)
    olena, petro, ivan = (make_agent(n, queue) for n in ("Olena", "Petro", "Ivan"))
    load(olena, 3), load(petro, 1), load(ivan, 2)
    conv = conv_in(queue)
    # when
    offer = conversation_route(conv, now=now)
    # then
    assert offer.user == petro and offer.status == AssignmentStatus.OFFERED
    assert offer.expires_at == now + dt.timedelta(minutes=5)
    conv.refresh_from_db()
    assert conv.owner == petro and conv.status == ConversationStatus.NEW and conv.queue == queue
    assert "least loaded: Petro 1 of 5 open" in offer.reason


def test_least_loaded_weighs_calls_more_and_ties_go_to_the_longest_idle(make_agent, now):
    # given a call weighs 3: Olena on one call (3 units), Petro with two e-mails (2 units)
    LoadWeightFactory(channel_kind=ChannelKind.PHONE, weight=3)
    queue = QueueFactory(strategy=Strategy.LEAST_LOADED)
    olena, petro = make_agent("Olena", queue), make_agent("Petro", queue)
    load(olena, 1, kind=ChannelKind.PHONE)
    load(petro, 2)
    # when / then: Petro, the lighter
    assert conversation_route(conv_in(queue), now=now).user == petro
    # given equal loads (3 and 3): Olena has waited longer (Petro was just assigned)
    # when / then
    assert conversation_route(conv_in(queue), now=now + dt.timedelta(minutes=1)).user == olena


def test_capacity_counts_calls_and_offers_so_an_agent_on_the_phone_gets_no_more(make_agent, now):
    # given Olena (capacity 4) is on a call weighing 3; Petro (capacity 1) is free
    LoadWeightFactory(channel_kind=ChannelKind.PHONE, weight=3)
    queue = QueueFactory(strategy=Strategy.LEAST_LOADED)
    olena = make_agent("Olena", queue, capacity=4)
    petro = make_agent("Petro", queue, capacity=1)
    load(olena, 1, kind=ChannelKind.PHONE)
    # when a call comes: neither can take 3 more units except... nobody (Olena 3+3 > 4, Petro 0+3 > 1)
    call = conversation_route(conv_in(queue, kind=ChannelKind.PHONE), now=now)
    # then it waits
    assert call.user is None and call.status == AssignmentStatus.WAITING
    assert "every online agent at capacity" in call.reason
    # when two e-mails come: Olena 3/4 vs Petro 0/1 → Petro; then Petro is full (the offer counts) → Olena
    first = conversation_route(conv_in(queue), now=now)
    second = conversation_route(conv_in(queue), now=now)
    # then
    assert (first.user, second.user) == (petro, olena)
    third = conversation_route(conv_in(queue), now=now)
    assert third.user is None


def test_presence_only_online_agents_are_offered(make_agent, now):
    # given Olena is free but away; Petro online with 2 open; Ivan offline
    queue = QueueFactory(strategy=Strategy.LEAST_LOADED)
    make_agent("Olena", queue, presence=Presence.AWAY)
    make_agent("Ivan", queue, presence=Presence.OFFLINE)
    petro = make_agent("Petro", queue)
    load(petro, 2)
    # when / then
    assert conversation_route(conv_in(queue), now=now).user == petro


def test_round_robin_goes_round_the_members(make_agent, now):
    # given three members; loads do not matter for round robin
    queue = QueueFactory(strategy=Strategy.ROUND_ROBIN)
    a, b, c = (make_agent(n, queue) for n in ("Anna", "Bohdan", "Chrystia"))
    load(a, 3)
    # when four conversations come one minute apart
    got = [conversation_route(conv_in(queue), now=now + dt.timedelta(minutes=i)).user for i in range(4)]
    # then each in turn, then the first again
    assert got == [a, b, c, a]


def test_owner_affinity_offers_the_clients_own_manager(make_agent, now):
    # given the client's owner Olena is online but busier than Petro
    queue = QueueFactory(name="Sales", strategy=Strategy.OWNER)
    olena, petro = make_agent("Olena", queue), make_agent("Petro", queue)
    load(olena, 3)
    contact = ContactFactory(owner=olena)
    # when
    offer = conversation_route(conv_in(queue, contact=contact), now=now)
    # then
    assert offer.user == olena
    assert "owner Olena 3 of 5 open" in offer.reason
    assert petro


def test_owner_affinity_falls_back_to_least_loaded_with_the_reason(make_agent, now):
    # given the client's owner Olena is away; Petro has 2 of 5, Ivan 4 of 5
    queue = QueueFactory(name="Sales", strategy=Strategy.OWNER)
    make_agent("Olena", queue, presence=Presence.AWAY)
    petro, ivan = make_agent("Petro", queue), make_agent("Ivan", queue)
    load(petro, 2), load(ivan, 4)
    olena_contact = ContactFactory(owner=Conversation._meta.get_field("owner").related_model.objects.get(
        username="olena"))
    RoutingRuleFactory(position=3, name="VIP", queue=queue, priority=Priority.HIGH,
                       conditions=[{"field": "client_class", "op": "eq", "value": "A"}])
    RoutingRuleFactory(position=1, name="Nothing", queue=QueueFactory(),
                       conditions=[{"field": "language", "op": "eq", "value": "de"}])
    olena_contact.client_class = "A"
    olena_contact.save()
    conv = ConversationFactory(channel=ChannelFactory(), contact=olena_contact)
    # when
    offer = conversation_route(conv, now=now)
    # then the decision says it in words
    assert offer.user == petro
    assert offer.reason == "rule 2 'VIP' → Sales (high); owner Olena away → least loaded: Petro 2 of 5 open"
    conv.refresh_from_db()
    assert conv.priority == Priority.HIGH


def test_owner_affinity_owner_at_capacity_or_outside_the_queue(make_agent, now):
    queue = QueueFactory(name="Sales", strategy=Strategy.OWNER)
    olena = make_agent("Olena", queue, capacity=1)
    petro = make_agent("Petro", queue)
    load(olena, 1)
    outsider = make_agent("Taras")
    # when / then: owner full
    offer = conversation_route(conv_in(queue, contact=ContactFactory(owner=olena)), now=now)
    assert offer.user == petro and "owner Olena at capacity (1 of 1)" in offer.reason
    # when / then: owner not a member
    offer = conversation_route(conv_in(queue, company=CompanyFactory(owner=outsider)), now=now)
    assert offer.user == petro and "owner Taras not in Sales" in offer.reason


def test_skills_require_the_language_and_the_rules_product_skill(make_agent, now):
    # given a rule for 1C questions needing the product:1c skill
    queue = QueueFactory(name="Support", strategy=Strategy.SKILLS)
    RoutingRuleFactory(name="1C", queue=queue, skills=["product:1c"],
                       conditions=[{"field": "keyword", "op": "matches", "value": r"\b1[cс]\b"}])
    make_agent("English1C", queue, skills=["en", "product:1c"])
    make_agent("Ukrainian", queue, skills=["uk"])
    busy_match = make_agent("BusyMatch", queue, skills=["uk", "product:1c"])
    light_match = make_agent("LightMatch", queue, skills=["UK", "product:1C", "en"])
    load(busy_match, 2), load(light_match, 1)
    conv = ConversationFactory(channel=ChannelFactory(), language="uk", subject="Питання щодо 1С")
    # when
    offer = conversation_route(conv, now=now)
    # then the least loaded of those with both skills
    assert offer.user == light_match
    assert "skills product:1c, uk → least loaded: LightMatch 1 of 5 open" in offer.reason


def test_skills_without_a_match_waits_with_the_reason(make_agent, now):
    queue = QueueFactory(strategy=Strategy.SKILLS, skills=["product:bas"])
    make_agent("Olena", queue, skills=["uk"])
    offer = conversation_route(conv_in(queue, language="uk"), now=now)
    assert offer.user is None and "no online agent with the skills" in offer.reason


# --------------------------------------------------------------------------------------- rules
def test_rules_are_evaluated_in_order_on_every_kind_of_field(make_agent, now):
    sales, service, fax, vip, night = (QueueFactory(name=n) for n in ("Sales", "Service", "Fax", "VIP", "Night"))
    hours = BusinessHoursFactory()
    night.business_hours = hours
    night.save()
    channel = ChannelFactory(address="sales@kramar.test", queue=service)
    RoutingRuleFactory(position=1, name="Fax", queue=fax, conditions=[{"field": "channel_kind", "op": "eq",
                                                                       "value": "fax"}])
    RoutingRuleFactory(position=2, name="VIP tag", queue=vip, priority=Priority.URGENT,
                       conditions=[{"field": "tag", "op": "in", "value": ["vip", "key"]}])
    RoutingRuleFactory(position=3, name="Outside hours", queue=night,
                       conditions=[{"field": "business_hours", "op": "eq", "value": "out"}])
    RoutingRuleFactory(position=4, name="Sales box, not gmail", queue=sales, conditions=[
        {"field": "mailbox", "op": "eq", "value": "SALES@kramar.test"},
        {"field": "sender_domain", "op": "ne", "value": "gmail.com"},
        {"field": "keyword", "op": "contains", "value": "ціна"},
    ])
    RoutingRuleFactory(position=5, name="Inactive", queue=fax, active=False)

    def route(at=now, **kwargs):
        conv = ConversationFactory(channel=kwargs.pop("channel", channel), **kwargs)
        sender = kwargs.get("subject", "") and "buyer@firm.ua"
        MessageFactory(conversation=conv, from_address=sender or "x@gmail.com", body="Яка ЦІНА?")
        return conversation_route(conv, now=at).queue

    tagged = ContactFactory()
    tagged.tags.add(Tag.objects.create(name="VIP"))
    # then
    assert route(channel=ChannelFactory(kind=ChannelKind.FAX)) == fax
    assert route(contact=tagged) == vip
    assert route(at=now.replace(hour=20)) == night
    assert route(subject="Запит") == sales  # firm.ua, "ціна" in the body
    assert route() == service  # gmail: no rule → the channel's default queue
    assert route(channel=ChannelFactory(queue=None)) is None


def test_no_rule_and_no_default_queue_is_logged(now):
    offer = conversation_route(ConversationFactory(channel=ChannelFactory(name="Web", queue=None)), now=now)
    assert offer.status == AssignmentStatus.WAITING and offer.queue is None
    assert offer.reason == "no rule matched and Web has no default queue; no queue; waits"


def test_no_rule_goes_to_the_channel_default_at_normal_priority(make_agent, now):
    queue = QueueFactory(name="Service")
    olena = make_agent("Olena", queue)
    conv = conv_in(queue, priority=Priority.LOW)
    offer = conversation_route(conv, now=now)
    assert offer.user == olena
    assert offer.reason.startswith("no rule matched → Service, the default of ")
    conv.refresh_from_db()
    assert conv.priority == Priority.NORMAL


# --------------------------------------------------------------------------------------- overflow
def test_a_full_queue_overflows_and_cycles_are_guarded(make_agent, now):
    # given Sales holds at most 1 waiting and overflows to Backup, which overflows back to Sales
    backup = QueueFactory(name="Backup", max_waiting=1)
    sales = QueueFactory(name="Sales", max_waiting=1, overflow_queue=backup)
    backup.overflow_queue = sales
    backup.save()
    # when three conversations come with no agent online
    first = conversation_route(conv_in(sales), now=now)
    second = conversation_route(conv_in(sales), now=now)
    third = conversation_route(conv_in(sales), now=now)
    # then the first waits in Sales, the second overflows to Backup, the third finds both full and stays
    assert (first.queue, second.queue, third.queue) == (sales, backup, backup)
    assert "Sales full (1 waiting) → overflow Backup" in second.reason
    assert "overflow Sales unusable; stays" in third.reason


# --------------------------------------------------------------------------------------- offers
def test_accept_opens_the_conversation_and_a_late_accept_is_refused(make_agent, now):
    queue = QueueFactory()
    olena = make_agent("Olena", queue)
    conv = conv_in(queue)
    offer = conversation_route(conv, now=now)
    # when
    assignment_accept(actor=olena, assignment=offer, now=now + dt.timedelta(minutes=1))
    # then
    conv.refresh_from_db()
    offer.refresh_from_db()
    assert conv.status == ConversationStatus.OPEN and conv.owner == olena
    assert offer.status == AssignmentStatus.ACCEPTED
    # a second routing call changes nothing
    assert conversation_route(conv, now=now) is None
    # late
    late = conversation_route(conv_in(queue), now=now)
    with pytest.raises(DomainError):
        assignment_accept(actor=olena, assignment=late, now=now + dt.timedelta(minutes=6))


def test_routing_twice_never_offers_twice(make_agent, now):
    queue = QueueFactory()
    make_agent("Olena", queue), make_agent("Petro", queue)
    conv = conv_in(queue)
    assert conversation_route(conv, now=now) is not None
    assert conversation_route(conv, now=now) is None
    assert Assignment.objects.filter(conversation=conv).count() == 1


def test_decline_goes_to_the_next_agent_not_back_for_a_while(make_agent, now):
    queue = QueueFactory(strategy=Strategy.LEAST_LOADED)
    olena, petro = make_agent("Olena", queue), make_agent("Petro", queue)
    load(petro, 1)
    conv = conv_in(queue)
    offer = conversation_route(conv, now=now)
    assert offer.user == olena
    # when
    nxt = assignment_decline(actor=olena, assignment=offer, now=now)
    # then
    assert nxt.user == petro and nxt.reason.startswith("Olena declined; ")
    # and when Petro declines too, nobody is left: it waits
    last = assignment_decline(actor=petro, assignment=nxt, now=now)
    assert last.user is None and "every online agent refused it" in last.reason
    conv.refresh_from_db()
    assert conv.owner is None and conv.status == ConversationStatus.NEW
    # the periodic pass leaves it waiting while the refusals are fresh …
    from kramar.comms.routing import conversations_waiting_route

    assert conversations_waiting_route(now=now + dt.timedelta(minutes=10)) == 0
    # … and offers it again once they are REFUSAL_HOLD old (after the offer window): to the least loaded again
    assert conversations_waiting_route(now=now + dt.timedelta(minutes=21)) == 1
    again = Assignment.objects.filter(conversation=conv, status=AssignmentStatus.OFFERED).get()
    assert again.user == olena and "refused by everyone eligible; offered again after 15 min" in again.reason


def test_expired_offers_go_to_the_next_agent_once(make_agent, now):
    # given an offer to Olena not accepted within 5 minutes
    queue = QueueFactory(accept_minutes=5, strategy=Strategy.ROUND_ROBIN)
    olena, petro = make_agent("Olena", queue), make_agent("Petro", queue)
    conv = conv_in(queue)
    offer = conversation_route(conv, now=now)
    assert offer.user == olena
    # when the job runs before the time, nothing; after it, Petro
    assert offers_expire(now=now + dt.timedelta(minutes=4)) == 0
    assert offers_expire(now=now + dt.timedelta(minutes=5)) == 1
    assert offers_expire(now=now + dt.timedelta(minutes=5)) == 0
    # then
    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.EXPIRED
    nxt = Assignment.objects.get(conversation=conv, status=AssignmentStatus.OFFERED)
    assert nxt.user == petro and nxt.reason.startswith("Olena did not accept in time; ")
    # when Petro lets it expire too, Olena is skipped (she let it expire): it waits
    offers_expire(now=now + dt.timedelta(minutes=11))
    conv.refresh_from_db()
    assert conv.owner is None
    assert Assignment.objects.filter(conversation=conv).first().status == AssignmentStatus.WAITING


def test_transfer_to_an_agent_and_to_a_queue(make_agent, now):
    sales, service = QueueFactory(name="Sales"), QueueFactory(name="Service")
    olena = make_agent("Olena", sales)
    petro = make_agent("Petro", service)
    ivan = make_agent("Ivan")
    conv = conv_in(sales)
    offer = conversation_route(conv, now=now)
    assignment_accept(actor=olena, assignment=offer, now=now)
    # when Olena hands it to Ivan
    to_ivan = conversation_transfer(by=olena, conversation=conv, to_user=ivan, now=now)
    # then
    assert to_ivan.user == ivan and to_ivan.decided_by == olena and to_ivan.reason == "transferred by Olena; to Ivan"
    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.TRANSFERRED
    # when someone else tries
    with pytest.raises(Exception, match="supervisor"):
        conversation_transfer(by=petro, conversation=conv, to_queue=service)
    # when Ivan sends it to Service
    to_service = conversation_transfer(by=ivan, conversation=conv, to_queue=service, now=now)
    assert to_service.user == petro and to_service.queue == service
    conv.refresh_from_db()
    assert conv.queue == service and conv.owner == petro


def test_an_agent_coming_online_gets_the_waiting_conversations(make_agent, now):
    # given two conversations waiting (the urgent one newer) and Olena offline with capacity 1
    queue = QueueFactory()
    olena = make_agent("Olena", queue, presence=Presence.OFFLINE, capacity=1)
    normal = conv_in(queue)
    assert conversation_route(normal, now=now).status == AssignmentStatus.WAITING
    urgent = conv_in(queue)
    RoutingRuleFactory(queue=queue, priority=Priority.URGENT,
                       conditions=[{"field": "channel", "op": "eq", "value": urgent.channel_id}])
    conversation_route(urgent, now=now)
    # when
    presence_set(user=olena, presence=Presence.ONLINE, now=now)
    # then the urgent one is offered; the other still waits (capacity 1) without a repeated log row
    urgent.refresh_from_db(), normal.refresh_from_db()
    assert urgent.owner == olena and normal.owner is None
    offer = Assignment.objects.get(conversation=urgent, status=AssignmentStatus.OFFERED)
    assert offer.reason.startswith("Olena came online; ")
    assert Assignment.objects.filter(conversation=normal).count() == 1


# --------------------------------------------------------------------------------------- dry run
def test_dry_run_counts_moves_without_writing(now):
    sales, service, vip = QueueFactory(name="Sales"), QueueFactory(name="Service"), QueueFactory(name="VIP")
    mailbox = ChannelFactory(queue=service)
    RoutingRuleFactory(position=1, queue=sales, conditions=[{"field": "keyword", "op": "contains", "value": "price"}])
    for subject, days_ago in [("price list", 1), ("price", 2), ("broken", 3), ("broken again", 4), ("price", 40)]:
        conv = ConversationFactory(channel=mailbox, subject=subject, opened_at=now - dt.timedelta(days=days_ago))
        MessageFactory(conversation=conv, from_address=f"a@{'big.ua' if 'again' in subject else 'small.ua'}")
    # the proposed set: big.ua to VIP first, then the same price rule
    proposed = [
        RoutingRule(position=1, name="big", queue=vip,
                    conditions=[{"field": "sender_domain", "op": "eq", "value": "big.ua"}]),
        RoutingRule(position=2, name="price", queue=service,
                    conditions=[{"field": "keyword", "op": "contains", "value": "price"}]),
    ]
    before = (Conversation.objects.count(), Assignment.objects.count(), RoutingRule.objects.count())
    # when
    report = rules_dry_run(proposed, days=30, now=now)
    # then 4 in the window; the two price ones Sales → Service, "broken again" Service → VIP
    assert report.total == 4 and report.changed == 3
    assert dict(report.moves) == {("Sales", "Service"): 2, ("Service", "VIP"): 1}
    assert (Conversation.objects.count(), Assignment.objects.count(), RoutingRule.objects.count()) == before


def test_the_periodic_pass_routes_conversations_that_never_got_a_decision(make_agent, now):
    from kramar.comms.routing import conversations_unrouted_route

    # given a conversation ingestion stored without routing it, and one already decided
    queue = QueueFactory()
    olena = make_agent("Olena", queue)
    lost = conv_in(queue)
    decided = conv_in(queue)
    conversation_route(decided, now=now)
    # when
    assert conversations_unrouted_route(now=now) == 1
    # then
    lost.refresh_from_db()
    assert lost.owner == olena
    assert conversations_unrouted_route(now=now) == 0


def test_the_agent_who_gets_a_conversation_brings_it_into_their_team(make_agent, now, team_a, team_b, lead_a):
    from kramar.accounts.models import Membership
    from kramar.comms.selectors import conversations_visible

    queue = QueueFactory(strategy=Strategy.ROUND_ROBIN)
    olena = make_agent("Olena", queue)
    Membership.objects.create(user=olena, team=team_a, is_primary=True)
    petro = make_agent("Petro", presence=Presence.OFFLINE)
    Membership.objects.create(user=petro, team=team_b, is_primary=True)
    conv = conv_in(queue)
    assert not conversations_visible(lead_a).filter(pk=conv.pk).exists()  # nobody's yet: the lead does not see it
    # when it is offered to Olena (team A)
    conversation_route(conv, now=now)
    conv.refresh_from_db()
    # then it belongs to team A: its lead (team scope) sees it
    assert (conv.owner, conv.team) == (olena, team_a)
    assert conversations_visible(lead_a).filter(pk=conv.pk).exists()
    # transferred to Petro (team B): team B's now
    conversation_transfer(by=olena, conversation=conv, to_user=petro, now=now)
    conv.refresh_from_db()
    assert (conv.owner, conv.team) == (petro, team_b)
    assert not conversations_visible(lead_a).filter(pk=conv.pk).exists()


def test_class_comes_from_the_company_when_the_contact_has_none_and_language_from_the_client(make_agent, now):
    sales, vip, english = QueueFactory(name="Sales"), QueueFactory(name="Key accounts"), QueueFactory(name="English")
    RoutingRuleFactory(position=1, name="English", queue=english,
                       conditions=[{"field": "language", "op": "eq", "value": "en"}])
    RoutingRuleFactory(position=2, name="Class A", queue=vip,
                       conditions=[{"field": "client_class", "op": "eq", "value": "A"}])
    company = CompanyFactory(client_class="A")
    contact = ContactFactory(client_class="", language="uk", primary_company=company)
    # the contact has no class: the company's counts
    assert conversation_route(conv_in(sales, contact=contact, company=company), now=now).queue == vip
    # a conversation without a language of its own: the client's
    contact_en = ContactFactory(client_class="", language="en")
    assert conversation_route(conv_in(sales, contact=contact_en, language=""), now=now).queue == english


def test_inbound_conversations_take_the_clients_language(db):
    from kramar.clients.tests.factories import ContactPointFactory
    from kramar.comms.ingest import email_ingest
    from kramar.comms.tests.mail_samples import mail

    contact = ContactFactory(language="en")
    ContactPointFactory(contact=contact, value="john@client.test", normalized="john@client.test")
    channel = ChannelFactory(kind=ChannelKind.EMAIL)
    message = email_ingest(channel=channel, raw=mail(msg_id="lang@client.test", sender="john@client.test")).message
    assert message.conversation.language == "en"
    unknown = email_ingest(channel=channel, raw=mail(msg_id="lang2@new.test", sender="who@new.test")).message
    assert unknown.conversation.language == "uk"  # a new lead has the contacts' default language


def test_taking_a_fax_or_a_letter_is_its_first_response_but_not_an_email(make_agent, now):
    queue = QueueFactory(strategy=Strategy.ROUND_ROBIN)
    olena = make_agent("Olena", queue, capacity=10)
    fax, mail = conv_in(queue, kind=ChannelKind.FAX), conv_in(queue)
    for conv in (fax, mail):
        offer = conversation_route(conv, now=now)
        assignment_accept(actor=olena, assignment=offer, now=now + dt.timedelta(minutes=1))
        conv.refresh_from_db()
    assert fax.first_response_at == now + dt.timedelta(minutes=1)
    assert mail.first_response_at is None  # an e-mail is answered by a reply


def test_mail_logged_through_the_bcc_address_takes_no_capacity(make_agent, now):
    queue = QueueFactory(strategy=Strategy.LEAST_LOADED)
    olena = make_agent("Olena", queue, capacity=3)
    load(olena, 5, kind=ChannelKind.DROPBOX, status=ConversationStatus.PENDING)  # her own mail to clients
    load(olena, 1, status=ConversationStatus.PENDING)  # a client she waits for counts
    load(olena, 1)
    offer = conversation_route(conv_in(queue), now=now)
    assert offer.user == olena and "Olena 2 of 3 open" in offer.reason
