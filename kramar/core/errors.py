"""The one error type of the domain layer; the API and the views map it to responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the business was broken. `code` is stable and machine-readable."""

    status = 400

    def __init__(self, code: str, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra or {}


class ValidationFailed(DomainError):
    """Input failed validation; `extra["errors"]` maps field names to lists of messages."""

    status = 422

    def __init__(self, errors: dict[str, list[str]], message: str = "Validation failed"):
        super().__init__("validation_error", message, {"errors": errors})
        self.errors = errors


class VersionConflict(DomainError):
    """The record changed since the caller read it (stale version / If-Match)."""

    status = 412

    def __init__(self, *, current_version: int, sent_version: int):
        super().__init__(
            "version_conflict",
            "This record was changed by someone else since you opened it. Reload it and apply your change again.",
            {"current_version": current_version, "sent_version": sent_version},
        )
