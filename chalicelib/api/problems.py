"""RFC 9457 problem details: the one error format clients ever see."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalice import Response
from pydantic import BaseModel, ConfigDict

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://customersonly.se/problems/"


class FieldError(BaseModel):
    model_config = ConfigDict(defer_build=True)

    field: str  # dotted path into the request body or query, e.g. "organisation.address.city"
    message: str
    code: str


class ProblemDetails(BaseModel):
    model_config = ConfigDict(defer_build=True)

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    current_state: str | None = None  # an extension member (RFC 9457 §3.2): a 409's object state


STATUS_TITLES = {
    400: ("malformed-request", "Malformed request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation failed"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service temporarily unavailable"),
}


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str | list[str]] | None = None,
    current_state: str | None = None,
) -> Response:
    slug, title = STATUS_TITLES.get(status, ("error", "Error"))
    body = ProblemDetails(type=PROBLEM_BASE + slug, title=title, status=status, detail=detail, errors=errors, current_state=current_state)
    return Response(
        body=body.model_dump_json(exclude_none=True),
        status_code=status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **(headers or {})},
    )


def chalice_error_to_problem(response: Response) -> Response:
    """Chalice answers some errors itself (405, 415, unhandled 500) as {"Code", "Message"}; reshape them."""
    body: Any = response.body
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return response
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        detail = "An internal error occurred." if response.status_code >= 500 else str(body["Message"])
        return problem_response(response.status_code, detail, headers=headers)
    return response
