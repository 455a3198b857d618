"""Health, the OpenAPI document and the current privacy notice (all public)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import __version__
from chalicelib.api.http import Call, operation
from chalicelib.lazy import LazyModule
from chalicelib.services.notices import privacy_notice

if TYPE_CHECKING:
    from chalicelib.schemas import accounts as s
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.accounts")

bp = Blueprint(__name__)


@operation(bp, "/health", "GET", summary="Liveness and version", tag="system", response=lambda: s.HealthResponse, roles=None)
def health(call: Call[Any, Any]) -> s.HealthResponse:
    return s.HealthResponse(version=__version__, stage=call.container.settings.stage)


@operation(
    bp, "/privacy-notice", "GET", summary="The current privacy notice", tag="system", response=lambda: s.PrivacyNoticeResponse, roles=None
)
def current_privacy_notice(call: Call[Any, Any]) -> s.PrivacyNoticeResponse:
    notice = privacy_notice()
    return s.PrivacyNoticeResponse(version=notice.version, sha256=notice.sha256, text=notice.text)


@operation(bp, "/openapi.json", "GET", summary="This API's OpenAPI 3.1 document", tag="system", roles=None)
def openapi_document(call: Call[Any, Any]) -> Response:
    from chalicelib.api.openapi import build_openapi

    return Response(body=build_openapi(), headers={"Content-Type": "application/json"})
