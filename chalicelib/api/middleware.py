"""HTTP middleware: correlation id, CORS for the configured web origins, problem+json for Chalice's own errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response

from chalicelib.api.http import REGISTRY
from chalicelib.api.problems import chalice_error_to_problem
from chalicelib.container import get_container
from chalicelib.domain.ids import new_id
from chalicelib.logging import logger

CORRELATION_HEADER = "X-Correlation-Id"
_SAFE_CORRELATION = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
ALLOWED_HEADERS = "Authorization, Content-Type, X-Correlation-Id, Idempotency-Key"


def correlation_id(request: Any) -> str:
    given = request.headers.get(CORRELATION_HEADER) or ""
    if _SAFE_CORRELATION.match(given):
        return given
    return str(request.context.get("requestId") or new_id())


def cors_headers(origin: str | None, methods: str | None = None) -> dict[str, str | list[str]]:
    """CORS headers for an allowed origin only; Chalice's own CORS supports a single origin."""
    if not origin or origin not in get_container().settings.cors_allowed_origins:
        return {}
    headers: dict[str, str | list[str]] = {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
        "Access-Control-Expose-Headers": CORRELATION_HEADER,
    }
    if methods:
        headers |= {
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        }
    return headers


def install(app: Chalice) -> None:
    @app.middleware("http")
    def http_boundary(event: Any, get_response: Callable[[Any], Response]) -> Response:
        cid = correlation_id(event)
        logger.set_correlation_id(cid)
        response = chalice_error_to_problem(get_response(event))
        response.headers[CORRELATION_HEADER] = cid
        response.headers.update(cors_headers(event.headers.get("origin")))
        return response

    # Browsers preflight cross-origin calls; answer OPTIONS on every documented path.
    for path in sorted({op.path for op in REGISTRY}):
        methods = ", ".join(sorted({op.method for op in REGISTRY if op.path == path} | {"OPTIONS"}))

        def preflight(methods: str = methods, **_: str) -> Response:
            request = app.current_request
            assert request is not None  # set by Chalice for every HTTP invocation
            return Response(body="", status_code=204, headers=cors_headers(request.headers.get("origin"), methods))

        preflight.__name__ = f"preflight_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}"
        app.route(path, methods=["OPTIONS"], content_types=["*/*"])(preflight)
