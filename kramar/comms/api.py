"""REST API of the Communication Center (/api/v1/comms/…): channels, queues, rules, conversations, messages,
assignment actions and presence, with the core API's conventions (docs/api.md)."""

from ninja import Router

router = Router(tags=["communication center"])
