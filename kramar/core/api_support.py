"""Plumbing shared by every API router: authentication, problem+json errors, keyset (cursor) pagination,
ETags, id types and the offline Swagger UI page. No business rules live here."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import DocsBase
from ninja.parser import Parser
from ninja.security import HttpBearer
from ninja.security.apikey import APIKeyCookie
from ninja.utils import check_csrf

from kramar.accounts.services import api_token_authenticate
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict

PROBLEM_CONTENT_TYPE = "application/problem+json"
MAX_ID = 2**63 - 1  # a bigint primary key; larger ids are refused before they reach the database

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Limit = Annotated[int, Field(ge=1, le=200)]
Cursor = Annotated[str | None, Field(max_length=2000)]
DEFAULT_LIMIT = 50


# ----------------------------------------------------------------------------------------- auth


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer kr_…`: a personal API token (only its digest is stored)."""

    def authenticate(self, request: HttpRequest, token: str):
        user = api_token_authenticate(token.strip())
        if user is None:
            return None
        request.user = user
        return user


class SessionCookieAuth(APIKeyCookie):
    """The browser session (for the docs page and the web UI's own scripts). Unsafe methods need the
    CSRF token, as ninja's `django_auth` does. A request that carries an Authorization header is left
    to the token scheme, so a bad token is a 401 and never falls back to a cookie."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest):
        if request.headers.get("Authorization"):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, _("CSRF check failed: send the X-CSRFToken header with the session cookie."))
        return user

    def authenticate(self, request: HttpRequest, key: str | None):  # pragma: no cover - __call__ decides
        return None


API_AUTH = [BearerTokenAuth(), SessionCookieAuth()]


# ----------------------------------------------------------------------------------------- problems


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str = "",
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """An RFC 9457 problem document; `code` is our stable machine-readable error code."""
    body: dict[str, Any] = {
        "type": f"urn:kramar:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    response = HttpResponse(json_dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _field_path(loc: Sequence[Any]) -> str:
    """("body", "payload", "emails", 0, "value") → "emails[0].value"; ("query", "limit") → "limit"."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form", "file"}:
        parts = parts[1:]
        if (
            len(parts) > 1
            and isinstance(parts[0], str)
            and parts[0] in {"payload", "filters", "data", "params"}
        ):
            parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def _validation_errors(errors: dict[str, list[str]]) -> list[dict[str, str]]:
    return [
        {"field": field, "message": str(message)}
        for field, messages in errors.items()
        for message in messages
    ]


def on_validation_failed(request, exc: ValidationFailed) -> HttpResponse:
    return problem_response(
        status=422,
        code=exc.code,
        title=_("The input is not valid."),
        detail=str(exc.message),
        errors=_validation_errors(exc.errors),
    )


def on_request_invalid(request, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        msg = str(err.get("msg", "invalid"))
        errors.append({"field": _field_path(err.get("loc", ())), "message": msg})
    return problem_response(
        status=422,
        code="validation_error",
        title=_("The input is not valid."),
        detail=_("Some fields are missing or have the wrong type."),
        errors=errors,
    )


def on_domain_error(request, exc: DomainError) -> HttpResponse:
    titles = {
        409: _("Conflict."),
        412: _("The record changed since you read it."),
        422: _("The input is not valid."),
    }
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=titles.get(exc.status, _("The request was refused.")),
        detail=str(exc.message),
        extra=exc.extra,
    )


def on_permission_denied(request, exc: PermissionDenied) -> HttpResponse:
    return problem_response(
        status=403,
        code="permission_denied",
        title=_("You may not do this."),
        detail=str(exc) or _("Forbidden."),
    )


def on_not_found(request, exc: Http404) -> HttpResponse:
    return problem_response(status=404, code="not_found", title=_("Not found."), detail=_("No such record."))


def on_http_error(request, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        return problem_response(
            status=401,
            code="not_authenticated",
            title=_("Authentication required."),
            detail=_("Send 'Authorization: Bearer <token>' with a valid API token, or log in."),
            headers={"WWW-Authenticate": 'Bearer realm="kramar"'},
        )
    codes = {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        429: "throttled",
    }
    return problem_response(
        status=exc.status_code,
        code=codes.get(exc.status_code, "http_error"),
        title=str(exc.message),
        detail=str(exc.message),
    )


def install_error_handlers(api) -> None:
    """The one set of handlers for every router (called by kramar.config.api)."""
    api.add_exception_handler(ValidationFailed, on_validation_failed)
    api.add_exception_handler(NinjaValidationError, on_request_invalid)
    api.add_exception_handler(DomainError, on_domain_error)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(HttpError, on_http_error)


class FieldError(Schema):
    field: str
    message: str


class Problem(Schema):
    """The body of every error (application/problem+json). `code` is stable; the optional members
    appear with the codes that carry them."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = Field(None, description="validation_error: one entry per bad field")
    candidates: list[dict[str, Any]] | None = Field(
        None, description="possible_duplicate: the likely matches"
    )
    hidden_matches: int | None = Field(None, description="possible_duplicate: matches outside your scope")
    current_version: int | None = Field(None, description="version_conflict: the record's version now")
    sent_version: int | None = Field(None, description="version_conflict: the version you sent")
    field: str | None = None
    limit: int | None = None
    size: int | None = None


ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 412: Problem, 422: Problem}


# ----------------------------------------------------------------------------------------- parsing


def _text_is_storable(value: str) -> bool:
    """PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_texts(data: Any) -> None:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _text_is_storable(item):
                raise HttpError(400, _("Text may not contain NUL characters or unpaired surrogates."))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class SafeParser(Parser):
    """JSON bodies and query strings whose texts the database can store (else 400, never a 500)."""

    def parse_body(self, request: HttpRequest):
        data = json.loads(request.body)
        _check_texts(data)
        return data

    def parse_querydict(self, data, list_fields, request: HttpRequest):
        result = super().parse_querydict(data, list_fields, request)
        _check_texts(result)
        return result


# ----------------------------------------------------------------------------------------- JSON


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_dumps(data: Any) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False, separators=(",", ":"))


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    """A JSON response built without per-object schema validation (the fast list path)."""
    response = HttpResponse(json_dumps(data), status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


# ----------------------------------------------------------------------------------------- cursors


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(raw: Any, kind: str) -> Any:
    if kind == "datetime":
        if not isinstance(raw, dict) or not isinstance(raw.get("t"), str):
            raise ValueError("datetime expected")
        value = dt.datetime.fromisoformat(raw["t"])
        if value.tzinfo is None:
            raise ValueError("aware datetime expected")
        return value
    if kind == "int":
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_ID:
            raise ValueError("integer expected")
        return raw
    if not isinstance(raw, str) or len(raw) > 1000:
        raise ValueError("text expected")
    return raw


def cursor_encode(sort: str, values: list[Any]) -> str:
    payload = json.dumps({"s": sort, "v": [_encode_value(v) for v in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def cursor_decode(cursor: str, sort: str, kinds: list[str]) -> list[Any]:
    """The sort-key values of the last row of the previous page; HttpError 400 on anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict) or data.get("s") != sort:
            raise ValueError("cursor for another sort order")
        raw = data.get("v")
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError("wrong length")
        return [_decode_value(v, k) for v, k in zip(raw, kinds, strict=True)]
    except (ValueError, TypeError, UnicodeError, binascii.Error, OverflowError) as exc:
        raise HttpError(400, _("The cursor is not valid; start again without it.")) from exc


def _field_kind(model, name: str) -> str:
    field = model._meta.get_field("id" if name == "pk" else name)
    internal = field.get_internal_type()
    if internal in {"DateTimeField"}:
        return "datetime"
    if internal in {
        "AutoField",
        "BigAutoField",
        "IntegerField",
        "BigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "PositiveBigIntegerField",
    }:
        return "int"
    return "text"


def keyset_filter(order: Sequence[str], values: Sequence[Any]) -> Q:
    """Rows strictly after `values` in the order `order` (each field "name" or "-name"):
    (a > x) OR (a = x AND b > y) OR … — an index range scan, never an OFFSET."""
    q = Q()
    for i, spec in enumerate(order):
        name = spec.lstrip("-")
        op = "lt" if spec.startswith("-") else "gt"
        part = Q(**{f"{name}__{op}": values[i]})
        for j in range(i):
            part &= Q(**{order[j].lstrip("-"): values[j]})
        q |= part
    return q


class KeysetPage:
    """One page of a queryset ordered by `order` (its last field must be unique, e.g. id)."""

    def __init__(self, qs: QuerySet, *, order: Sequence[str], sort: str, cursor: str | None, limit: int):
        self.order = list(order)
        self.sort = sort
        self.limit = limit
        self.fields = [o.lstrip("-") for o in self.order]
        if cursor:
            kinds = [_field_kind(qs.model, f) for f in self.fields]
            qs = qs.filter(keyset_filter(self.order, cursor_decode(cursor, sort, kinds)))
        self.queryset = qs.order_by(*self.order)

    def slice(self, qs: QuerySet | None = None) -> list:
        rows = list((qs if qs is not None else self.queryset)[: self.limit + 1])
        self.has_next = len(rows) > self.limit
        return rows[: self.limit]

    def next_cursor(self, rows: list, getter: Callable[[Any, str], Any] | None = None) -> str | None:
        if not self.has_next or not rows:
            return None
        last = rows[-1]
        get = getter or (lambda row, f: row[f] if isinstance(row, dict) else getattr(row, f))
        return cursor_encode(self.sort, [get(last, f) for f in self.fields])


def paginate(
    qs: QuerySet, *, order: Sequence[str], sort: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """{"items": [model instances], "next_cursor": …} for schema-validated (small) lists."""
    page = KeysetPage(qs, order=order, sort=sort, cursor=cursor, limit=limit)
    rows = page.slice()
    return {"items": rows, "next_cursor": page.next_cursor(rows)}


# ----------------------------------------------------------------------------------------- ETags


def etag_for(version: int) -> str:
    return f'"{int(version)}"'


def expected_version(request: HttpRequest, body_version: int | None = None) -> int | None:
    """The version the caller last saw: from `If-Match` (an ETag we sent) or a `version` in the body.
    An If-Match that is not one of our ETags can never match (0 is never a version); `*` matches any."""
    header = request.headers.get("If-Match")
    header_version: int | None = None
    if header is not None:
        tag = header.strip()
        if tag == "*":
            header_version = None
        else:
            tag = tag.removeprefix("W/").strip().strip('"')
            header_version = int(tag) if tag.isdigit() and len(tag) <= 18 else 0
    if header_version is not None and body_version is not None and header_version != body_version:
        raise ValidationFailed({"version": [_("differs from the If-Match header; send one of them")]})
    return header_version if header_version is not None else body_version


def check_version(current: int, expected: int | None) -> None:
    """For deletes whose service takes no version: refuse a stale one."""
    if expected is not None and int(expected) != current:
        raise VersionConflict(current_version=current, sent_version=int(expected))


def actor(request: HttpRequest):
    return request.auth  # set by BearerTokenAuth or SessionCookieAuth


# ----------------------------------------------------------------------------------------- docs


class OfflineSwagger(DocsBase):
    """Swagger UI from our own static files (vendored swagger-ui-dist): the docs work offline."""

    def render_page(self, request: HttpRequest, api, **kwargs: Any) -> HttpResponse:
        html = format_html(
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            '<link rel="stylesheet" href="{css}"></head>'
            '<body data-openapi-url="{url}"><div id="swagger-ui"></div>'
            '<script src="{bundle}"></script><script src="{init}"></script></body></html>',
            title=api.title,
            css=static("vendor/swagger-ui/swagger-ui.css"),
            url=self.get_openapi_url(api, kwargs),
            bundle=static("vendor/swagger-ui/swagger-ui-bundle.js"),
            init=static("api/docs-init.js"),
        )
        return HttpResponse(html)
