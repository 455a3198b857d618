"""The domain error tree. Services raise these; the HTTP boundary maps them to problem+json.

Nothing here knows about HTTP: the mapping lives in ``chalicelib.api.http``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldIssue:
    field: str
    message: str
    code: str = "invalid"


class DomainError(Exception):
    """Base of every error a caller may see. ``detail`` must never carry personal data."""

    title = "Request could not be processed"

    def __init__(self, detail: str = "", *, issues: list[FieldIssue] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.issues = issues or []


class NotFound(DomainError):
    """The object does not exist, or the caller may not see it (the two are indistinguishable)."""

    title = "Not found"


class Conflict(DomainError):
    """The request conflicts with current state: duplicates, wrong state for a transition."""

    title = "Conflict"

    def __init__(self, detail: str = "", *, issues: list[FieldIssue] | None = None, current_state: str | None = None) -> None:
        super().__init__(detail, issues=issues)
        self.current_state = current_state  # for an illegal transition: the state the object is in


class PaymentRejected(Conflict):
    """The payment provider refused the request (a 4xx: nothing happened): an invalid parameter, an invoice in
    the wrong state, a missing object. ``code`` is the provider's error code (``invoice_not_editable``, ...)."""

    title = "The payment provider refused the request"

    def __init__(self, detail: str, *, code: str | None, param: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.param = param


class InvalidInput(DomainError):
    """Input that is well-formed but breaks a business rule; carries field-level issues."""

    title = "Invalid input"


class Unauthenticated(DomainError):
    title = "Authentication required"


class Forbidden(DomainError):
    """The caller's role may not use this operation at all (object-level denials are NotFound)."""

    title = "Forbidden"


class UpstreamUnavailable(DomainError):
    """A dependency (identity provider, e-mail, storage) failed in a way the caller cannot fix."""

    title = "Service temporarily unavailable"


@dataclass
class ConcurrencyConflict(Exception):
    """A conditional write lost a race. Services decide whether that is a Conflict or a replay."""

    reason: str = ""
    cancellation_reasons: list[str | None] = field(default_factory=list)
