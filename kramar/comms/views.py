"""Pages of the Communication Center: the agent inbox (tabs, filters, live list), one conversation (thread, offer,
transfer, reply with canned responses, notes, close/reopen, SLA, assignment log), the supervisor page, the
registration of letters and visits, and the agent's presence. Views parse, call one selector or service, and
render; lists return only their partial to HTMX, which re-fetches it on live events."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kramar.clients.models import Company, Contact
from kramar.comms import selectors, services
from kramar.comms.choices import ConversationStatus, Presence
from kramar.comms.forms import InboxFilterForm, LetterForm, NoteForm, ReplyForm, TransferForm
from kramar.comms.models import Conversation, Queue
from kramar.core import scopes
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.pagination import capped_page, query_string

LIVE_KINDS = "conversation.changed conversation.offered presence.changed mention"


def wants_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page") or "1"
    return int(raw) if raw.isdigit() else 1


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


# --------------------------------------------------------------------------------------- inbox
def _inbox_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    supervisor = selectors.may_supervise(user)
    tabs = ["mine", "queues", *(["all"] if supervisor else [])]
    box = request.GET.get("box") or "mine"
    if box not in tabs:
        box = "mine"
    queues = selectors.queues_of(user) if not selectors.sees_all(user) else \
        list(Queue.objects.filter(active=True).order_by("position", "name"))
    form = InboxFilterForm(request.GET or None, queues=queues)
    filters = form.filters()
    page = capped_page(selectors.conversation_list(actor=user, box=box, **filters), _page_number(request))
    offers = selectors.offers_for(actor=user, conversation_ids=[
        c.pk for c in page.rows if c.status == ConversationStatus.NEW and c.owner_id == user.pk])
    client_ids = scopes.visible_ids(user, Contact, [c.contact_id for c in page.rows])
    for conv in page.rows:
        conv.offer = offers.get(conv.pk)
        conv.contact_visible = conv.contact_id in client_ids
    base = reverse("comms:inbox")
    params = request.GET
    labels = {"mine": _("Mine"), "queues": _("My queues"), "all": _("All")}
    presence, last_seen = selectors.presence_of(user)
    return {
        "nav": "inbox",
        "box": box,
        "tabs": [{"key": t, "label": labels[t], "url": base + query_string(params, box=t, page=None),
                  "active": t == box} for t in tabs],
        "filter_form": form,
        "filters_active": any(filters.values()),
        "page": page,
        "now": timezone.now(),
        "list_url": base + query_string(params, page=None),
        "list_base": base,
        "next_url": base + query_string(params, page=page.number + 1) if page.has_next else None,
        "previous_url": base + query_string(params, page=page.number - 1) if page.has_previous else None,
        "presence": presence,
        "presence_choices": Presence.choices,
        "is_supervisor": supervisor,
        "can_register": user.is_superuser or scopes.can(user, "conversation", "create"),
        "live_kinds": LIVE_KINDS,
    }


@require_GET
@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    context = _inbox_context(request)
    template = "comms/_inbox_list.html" if wants_partial(request) else "comms/inbox.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --------------------------------------------------------------------------------------- one conversation
def _detail_context(request: HttpRequest, conv: Conversation, **extra) -> dict[str, Any]:
    user = request.user
    can_change = selectors.conversation_can_change(user, conv)
    thread = selectors.conversation_messages(actor=user, conversation=conv)
    targets = selectors.transfer_targets() if can_change and conv.status != ConversationStatus.CLOSED else None
    canned = []
    if can_change:
        canned = [{"canned": c, "text": services.canned_render(canned=c, conversation=conv, agent=user)}
                  for c in selectors.canned_responses_for(actor=user, conversation=conv)[:100]]
    contact_visible = bool(scopes.visible_ids(user, Contact, [conv.contact_id]))
    company_visible = bool(scopes.visible_ids(user, Company, [conv.company_id]))
    reply_path = services.conversation_reply_path(conv)  # "email", "chat" or "" (no way back)
    context = {
        "nav": "inbox",
        "conv": conv,
        "thread": thread,
        "assignments": selectors.conversation_assignments(conversation=conv),
        "offer": selectors.offer_for(actor=user, conversation=conv) if conv.status == ConversationStatus.NEW
        else None,
        "can_change": can_change,
        "can_reply": can_change and conv.status != ConversationStatus.CLOSED and bool(reply_path),
        "reply_path": reply_path,
        "canned": canned,
        "transfer_form": TransferForm(agents=targets["agents"], queues=targets["queues"]) if targets else None,
        "reply_form": ReplyForm(),
        "note_form": NoteForm(),
        "contact_visible": contact_visible,
        "company_visible": company_visible,
        "now": timezone.now(),
        "live_kinds": LIVE_KINDS,
    }
    context.update(extra)
    return context


@require_GET
@login_required
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conv = selectors.conversation_get(actor=request.user, pk=pk)
    return render(request, "comms/conversation_detail.html", _detail_context(request, conv))


@require_GET
@login_required
def conversation_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The part of the conversation page that live events refresh: status, offer, SLA and the thread."""
    conv = selectors.conversation_get(actor=request.user, pk=pk)
    return render(request, "comms/_conversation_live.html", _detail_context(request, conv))


def _detail_url(pk: int) -> str:
    return reverse("comms:conversation-detail", args=[pk])


def _action(request: HttpRequest, pk: int, run, done: str, *, leave: bool = False) -> HttpResponse:
    """Run a service on the conversation and go back to it (or to the inbox with `leave`, when the user may no
    longer see it) with a message; a refusal of the rules is a message too, a forbidden change a 403."""
    conv = selectors.conversation_get(actor=request.user, pk=pk)
    try:
        run(conv)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back(request, _detail_url(pk))
    messages.success(request, done)
    if leave and not selectors.conversations_visible(request.user).filter(pk=pk).exists():
        return HttpResponseRedirect(reverse("comms:inbox"))
    return _back(request, _detail_url(pk))


@require_POST
@login_required
def conversation_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _action(request, pk, lambda c: services.conversation_accept(actor=request.user, conversation=c),
                   _("You have taken the conversation."))


@require_POST
@login_required
def conversation_decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _action(request, pk, lambda c: services.conversation_decline(actor=request.user, conversation=c),
                   _("You declined the conversation; it goes to the next agent."), leave=True)


@require_POST
@login_required
def conversation_close(request: HttpRequest, pk: int) -> HttpResponse:
    return _action(request, pk, lambda c: services.conversation_close(actor=request.user, conversation=c),
                   _("The conversation is closed."))


@require_POST
@login_required
def conversation_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    return _action(request, pk, lambda c: services.conversation_reopen(actor=request.user, conversation=c),
                   _("The conversation is open again."))


@require_POST
@login_required
def conversation_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.conversation_get(actor=request.user, pk=pk)  # 404 outside the scope, before anything else
    targets = selectors.transfer_targets()
    form = TransferForm(request.POST, agents=targets["agents"], queues=targets["queues"])
    if not form.is_valid():
        messages.error(request, _("Choose an agent or a queue to transfer to."))
        return _back(request, _detail_url(pk))
    return _action(request, pk, lambda c: services.conversation_hand_over(actor=request.user, conversation=c,
                                                                          **form.target_kwargs()),
                   _("The conversation was transferred."), leave=True)


@require_POST
@login_required
def conversation_reply(request: HttpRequest, pk: int) -> HttpResponse:
    conv = selectors.conversation_get(actor=request.user, pk=pk)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            services.conversation_reply(actor=request.user, conversation=conv, body=form.cleaned_data["body"],
                                        cc=form.cleaned_data["cc"])
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The reply is on its way."))
            return HttpResponseRedirect(_detail_url(pk))
    return render(request, "comms/conversation_detail.html", _detail_context(request, conv, reply_form=form),
                  status=422)


@require_POST
@login_required
def conversation_note(request: HttpRequest, pk: int) -> HttpResponse:
    conv = selectors.conversation_get(actor=request.user, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.conversation_note(actor=request.user, conversation=conv, body=form.cleaned_data["body"])
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The note is saved."))
            return HttpResponseRedirect(_detail_url(pk) + "#thread-end")
    return render(request, "comms/conversation_detail.html", _detail_context(request, conv, note_form=form),
                  status=422)


# --------------------------------------------------------------------------------------- supervisor
@require_GET
@login_required
def supervisor(request: HttpRequest) -> HttpResponse:
    overview = selectors.supervisor_overview(actor=request.user)  # PermissionDenied: 403
    targets = selectors.transfer_targets()
    context = {"nav": "inbox", "overview": overview, "live_kinds": LIVE_KINDS,
               "transfer_form": TransferForm(agents=targets["agents"], queues=targets["queues"]),
               "can_transfer_all": request.user.is_superuser,
               "supervised": set(selectors.supervised_queue_ids(request.user).values_list("queue_id", flat=True))}
    template = "comms/_supervisor_panels.html" if wants_partial(request) else "comms/supervisor.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --------------------------------------------------------------------------------------- presence
@require_POST
@login_required
def presence(request: HttpRequest) -> HttpResponse:
    value = request.POST.get("presence", "")
    try:
        services.agent_presence_set(actor=request.user, presence=value)
    except ValidationFailed:
        return HttpResponse(_("Choose online, away or offline."), status=400)
    if wants_partial(request):
        return render(request, "comms/_presence.html",
                      {"presence": value, "presence_choices": Presence.choices})
    return _back(request, reverse("comms:inbox"))


@require_POST
@login_required
def presence_heartbeat(request: HttpRequest) -> HttpResponse:
    from kramar.comms.presence import presence_heartbeat as heartbeat

    heartbeat(user=request.user)
    return HttpResponse(status=204)


# --------------------------------------------------------------------------------------- letters and visits
def _client_from(request: HttpRequest, value: str):
    """The contact or company of a picker value ("contact:12"), only within the user's view scope."""
    kind, _sep, pk = (value or "").partition(":")
    if not pk.isdigit():
        return None, None
    if kind == "contact":
        contact = Contact.objects.visible_to(request.user, "view").filter(pk=int(pk)).first()
        return contact, None
    if kind == "company":
        return None, Company.objects.visible_to(request.user, "view").filter(pk=int(pk)).first()
    return None, None


@require_http_methods(["GET", "POST"])
@login_required
def letter_register(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_superuser or scopes.can(request.user, "conversation", "create")):
        raise PermissionDenied
    picked = None
    if request.method == "POST":
        form = LetterForm(request.POST, request.FILES)
        if form.is_valid():
            cd = form.cleaned_data
            contact, company = _client_from(request, cd.get("client") or "")
            picked = contact or company
            if cd.get("client") and picked is None:
                form.add_error("client", _("Choose a contact or a company from the list."))
            else:
                try:
                    message = services.letter_register(
                        actor=request.user, channel=cd["channel"], kind=cd["kind"], subject=cd["subject"],
                        body=cd.get("body") or "", contact=contact, company=company, upload=cd.get("upload"),
                        received_at=cd.get("received_at"),
                    )
                except ValidationFailed as exc:
                    form.add_service_errors(exc.errors)
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, _("Registered."))
                    if selectors.conversations_visible(request.user).filter(pk=message.conversation_id).exists():
                        return HttpResponseRedirect(_detail_url(message.conversation_id))
                    return HttpResponseRedirect(reverse("comms:letter-register"))
    else:
        form = LetterForm()
    status = 422 if request.method == "POST" else 200
    return render(request, "comms/letter_form.html",
                  {"nav": "inbox", "form": form, "picked": picked,
                   "picked_value": request.POST.get("client", "") if picked else ""}, status=status)


@require_GET
@login_required
def client_pick(request: HttpRequest) -> HttpResponse:
    """Contacts and companies the user may see, for the letter form's picker (HTMX partial)."""
    from kramar.clients import selectors as client_selectors

    q = request.GET.get("client_q", "").strip()[:200]
    contacts = companies = []
    if len(q) >= 2:
        contacts = list(client_selectors.contact_list(actor=request.user, filters={"q": q})[:10])
        companies = list(client_selectors.company_list(actor=request.user, filters={"q": q})[:10])
    return render(request, "comms/_client_pick.html", {"contacts": contacts, "companies": companies, "query": q})



# --------------------------------------------------------------------------------------- channels, unprocessed items
FAILURE_STATES = {"open": False, "resolved": True, "all": None}


@require_GET
@login_required
def channels(request: HttpRequest) -> HttpResponse:
    """Every channel and its state: a mailbox's last read or its error and next try, open unprocessed items."""
    from kramar.comms import config_selectors
    from kramar.comms.models import Channel

    rows = config_selectors.channels_status(actor=request.user)  # PermissionDenied: 403
    return render(request, "comms/channels.html", {
        "nav": "inbox", "rows": rows, "now": timezone.now(),
        "can_configure": config_selectors.config_admin_may(actor=request.user, model=Channel, action="change"),
    })


@require_GET
@login_required
def failures(request: HttpRequest) -> HttpResponse:
    """The "could not process" list: what each item is, why it failed, its original, process again or resolve."""
    from django.db.models import F

    from kramar.comms import config_selectors
    from kramar.comms.ingest import MAIL_KINDS
    from kramar.comms.models import Channel, InboundFailure

    state = request.GET.get("state", "open")
    state = state if state in FAILURE_STATES else "open"
    raw_channel = request.GET.get("channel", "")
    channel_id = int(raw_channel) if raw_channel.isdigit() else None
    qs = config_selectors.inbound_failure_list(actor=request.user, resolved=FAILURE_STATES[state],
                                               channel_id=channel_id).order_by("-created_at", "-id")
    qs = qs.annotate(conversation_id=F("message__conversation_id"))
    page = capped_page(qs, _page_number(request), page_size=50)
    base = reverse("comms:failures")
    return render(request, "comms/failures.html", {
        "nav": "inbox", "page": page, "state": state, "channel_id": channel_id,
        "states": [("open", _("Open")), ("resolved", _("Resolved")), ("all", _("All"))],
        "channels": Channel.objects.order_by("name").only("pk", "name"),
        "can_change": config_selectors.config_admin_may(actor=request.user, model=InboundFailure, action="change"),
        "retryable": MAIL_KINDS,
        "here": base + query_string(request.GET, empty=""),
        "next_url": base + query_string(request.GET, page=page.number + 1) if page.has_next else None,
        "previous_url": base + query_string(request.GET, page=page.number - 1 if page.number > 2 else None)
        if page.number > 1 else None,
    })


@require_GET
@login_required
def failure_raw(request: HttpRequest, pk: int) -> HttpResponse:
    """The original bytes of an unprocessed item, as a download (never rendered)."""
    from kramar.comms import config_selectors

    return config_selectors.inbound_failure_original(actor=request.user, pk=pk)


@require_POST
@login_required
def failure_retry(request: HttpRequest, pk: int) -> HttpResponse:
    from kramar.comms.ingest import inbound_failure_retry

    try:
        result = inbound_failure_retry(actor=request.user, failure_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if result.message is not None:
            messages.success(request, _("Processed: the message is in its conversation."))
        else:
            messages.warning(request, _("It could not be processed this time either: %(reason)s")
                             % {"reason": result.failure.error if result.failure else ""})
    return _back(request, reverse("comms:failures"))


@require_POST
@login_required
def failure_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    from kramar.comms import config_services

    try:
        config_services.inbound_failure_resolve(actor=request.user, failure_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Marked as resolved."))
    return _back(request, reverse("comms:failures"))
