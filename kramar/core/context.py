"""Who is acting and through which channel, for audit rows written anywhere in a request or job."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    source: str = "system"  # web, api, import, system, demo
    ip: str | None = None


_current: contextvars.ContextVar[AuditContext] = contextvars.ContextVar("kramar_audit", default=AuditContext())  # noqa: B039 (frozen)


def current_audit_context() -> AuditContext:
    return _current.get()


@contextlib.contextmanager
def audit_context(*, source: str, ip: str | None = None):
    token = _current.set(AuditContext(source=source, ip=ip))
    try:
        yield
    finally:
        _current.reset(token)


def set_audit_context(*, source: str, ip: str | None = None) -> contextvars.Token:
    return _current.set(AuditContext(source=source, ip=ip))


def reset_audit_context(token: contextvars.Token) -> None:
    _current.reset(token)
