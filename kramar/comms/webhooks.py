"""Inbound webhooks of the Communication Center (/api/v1/comms/hooks/…): call events from telephony, messages
from chat gateways and posts of the embeddable web form. They authenticate by the channel's secret (an HMAC
signature) or, for the web form, by origin, honeypot and rate limits, not by a user's token."""

from ninja import Router

router = Router(tags=["communication center: webhooks"])
