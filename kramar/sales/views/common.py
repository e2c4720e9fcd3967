"""Helpers shared by the sales views."""

from __future__ import annotations

from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext_lazy as _

from kramar.core.models import Tag
from kramar.core.pagination import query_string

CONFLICT_MESSAGE = _(
    "This deal was changed by someone else since you opened it. Reload it and apply your change again."
)


def wants_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def query(params: QueryDict, **changes) -> str:
    """The query string of `params` with `changes` applied (None or "" removes a key); "" when empty."""
    return query_string(params, empty="", **changes)


def tag_names() -> list[str]:
    return list(Tag.objects.order_by("name").values_list("name", flat=True)[:300])


def stage_rules_message(exc) -> str:
    """The message of a StageRulesViolated: its own text, else the missing items joined."""
    missing = (getattr(exc, "extra", None) or {}).get("missing") or []
    if getattr(exc, "message", ""):
        return str(exc.message)
    return "; ".join(str(m.get("message", "")) for m in missing)
