"""Inbound webhooks of the Communication Center (/api/v1/comms/hooks/…): call events from telephony, messages
from chat gateways and posts of the embeddable web form. They authenticate by the channel's secret (an HMAC
signature) or, for the web form, by origin, honeypot and rate limits, not by a user's token.

* `POST calls/{channel_id}` and `POST chat/{channel_id}`: signed (`kramar.comms.signatures`); a missing, stale
  or forged signature is 401 and nothing is read or stored. docs/telephony.md, docs/chat.md.
* `POST|OPTIONS forms/{channel_id}`: CORS for the channel's allowed origins (another origin: 403), the rate
  limit (429 with Retry-After), the honeypot (answered as a success, nothing stored). docs/webforms.md.

An unknown or inactive channel, or one of another kind, is 404. Every error is application/problem+json."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from ninja import Router, Schema

from kramar.comms.calls import call_event_handle, call_event_parse
from kramar.comms.chat import chat_message_handle, chat_message_parse
from kramar.comms.choices import ChannelKind
from kramar.comms.inbound_common import channel_for_hook
from kramar.comms.models import Channel
from kramar.comms.signatures import SignatureInvalid, signature_verify
from kramar.comms.webforms import (
    client_ip,
    honeypot_filled,
    thank_you,
    webform_origin_allowed,
    webform_parse,
    webform_rate_hit,
    webform_submit,
)
from kramar.core.api_support import (
    Id,
    Problem,
    _check_texts,
    json_response,
    on_validation_failed,
    problem_response,
)
from kramar.core.errors import ValidationFailed

router = Router(tags=["communication center: webhooks"])


class CallEventOut(Schema):
    ok: bool
    call_id: str
    state: str
    message_id: int
    conversation_id: int
    created: bool
    applied: bool


class ChatMessageOut(Schema):
    ok: bool
    message_id: int
    conversation_id: int
    duplicate: bool


class WebFormOut(Schema):
    ok: bool
    message: str


SIGNED_ERRORS = {400: Problem, 401: Problem, 404: Problem, 413: Problem, 422: Problem}


# ----------------------------------------------------------------------------------------- helpers
def _body(request: HttpRequest) -> bytes | HttpResponse:
    try:
        return request.body
    except RequestDataTooBig:
        return problem_response(status=413, code="too_large", title=_("The request body is too large."))


def _json(body: bytes) -> Any:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed({"body": [_("must be a JSON object")]}) from exc
    _check_texts(data)
    return data


def _signed(request: HttpRequest, channel: Channel) -> bytes | HttpResponse:
    """The raw body when the request is signed by the channel's secret; else the 401 answer."""
    body = _body(request)
    if isinstance(body, HttpResponse):
        return body
    try:
        signature_verify(secret=channel.secret, headers=request.headers, body=body)
    except SignatureInvalid as exc:
        return problem_response(status=401, code="bad_signature", title=_("The request is not signed correctly."),
                                detail=str(exc))
    return body


# ----------------------------------------------------------------------------------------- telephony
@router.post("/calls/{channel_id}", auth=None, response={200: CallEventOut, **SIGNED_ERRORS},
             operation_id="comms_call_event", summary="A call event from telephony (signed)")
def call_event(request: HttpRequest, channel_id: Id):
    """`{"event": "ringing"|"answered"|"ended"|"missed", "call_id", "from", "to", "extension", "agent",
    "duration", "recording_url", "at"}`, signed with `X-Kramar-Signature` and `X-Kramar-Timestamp`
    (docs/telephony.md)."""
    channel = channel_for_hook(channel_id, ChannelKind.PHONE)
    body = _signed(request, channel)
    if isinstance(body, HttpResponse):
        return body
    event = call_event_parse(_json(body))
    result = call_event_handle(channel=channel, event=event)
    message = result.message
    return {"ok": True, "call_id": event.call_id, "state": message.flags["call"]["state"], "message_id": message.pk,
            "conversation_id": message.conversation_id, "created": result.created, "applied": result.applied}


# ----------------------------------------------------------------------------------------- chat
@router.post("/chat/{channel_id}", auth=None, response={200: ChatMessageOut, **SIGNED_ERRORS},
             operation_id="comms_chat_message", summary="An inbound chat message (signed)")
def chat_message(request: HttpRequest, channel_id: Id):
    """`{"chat_id", "message_id", "from": {"name", "phone", "email", "handle", "network"}, "text", "at",
    "attachments": [{"url", "name"}]}`, signed like call events (docs/chat.md)."""
    channel = channel_for_hook(channel_id, ChannelKind.CHAT)
    body = _signed(request, channel)
    if isinstance(body, HttpResponse):
        return body
    msg = chat_message_parse(_json(body))
    result = chat_message_handle(channel=channel, msg=msg)
    return {"ok": True, "message_id": result.message.pk, "conversation_id": result.message.conversation_id,
            "duplicate": not result.created}


# ----------------------------------------------------------------------------------------- web form
def _cors(origin: str) -> dict[str, str]:
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": "Retry-After"}


def _form_data(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = _json(request.body)
        if not isinstance(data, dict):
            raise ValidationFailed({"body": [_("must be a JSON object")]})
        return data
    data = {key: request.POST.get(key) for key in request.POST}
    _check_texts(data)
    return data


def _with(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for key, value in headers.items():
        response[key] = value
    return response


@router.api_operation(["POST", "OPTIONS"], "/forms/{channel_id}", auth=None,
                      response={200: WebFormOut, 204: None, 400: Problem, 403: Problem, 404: Problem, 413: Problem,
                                422: Problem, 429: Problem},
                      operation_id="comms_webform_post", summary="A post of the embeddable web form")
def webform_post(request: HttpRequest, channel_id: Id):
    """Form-encoded or JSON fields `name`, `email`, `phone`, `company`, `subject`, `message`, `consent` (and the
    empty honeypot). CORS for the channel's `allowed_origins`; OPTIONS answers the preflight (docs/webforms.md)."""
    channel = channel_for_hook(channel_id, ChannelKind.WEBFORM)
    origin = request.headers.get("Origin", "")
    if origin and not webform_origin_allowed(channel, origin):
        return problem_response(status=403, code="origin_not_allowed",
                                title=_("This site may not post to this form."),
                                detail=_("Add %(origin)s to the channel's allowed origins.") % {"origin": origin[:200]})
    cors = _cors(origin)
    if request.method == "OPTIONS":
        return _with(HttpResponse(status=204), {
            **cors, "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Accept", "Access-Control-Max-Age": "86400"})
    ip = client_ip(channel, request)
    retry_after = webform_rate_hit(channel, ip)
    if retry_after is not None:
        return problem_response(status=429, code="throttled", title=_("Too many posts; try again later."),
                                headers={**cors, "Retry-After": str(retry_after)})
    try:
        data = _form_data(request)
        if not honeypot_filled(channel, data):  # a filled honeypot is a bot: answered as a success, not stored
            form = webform_parse(data)
            webform_submit(channel=channel, form=form, ip=ip, origin=origin,
                           page=request.headers.get("Referer", ""))
    except ValidationFailed as exc:
        return _with(on_validation_failed(request, exc), cors)
    except RequestDataTooBig:
        return _with(problem_response(status=413, code="too_large", title=_("The request body is too large.")), cors)
    redirect = (channel.settings or {}).get("redirect_url") if isinstance(channel.settings, dict) else None
    if redirect and request.headers.get("Sec-Fetch-Mode") == "navigate":  # a plain HTML post, no script
        return HttpResponseRedirect(redirect, status=303)
    return json_response({"ok": True, "message": thank_you(channel)}, headers=cors)
