"""The data subject's right to erasure: asked by the consultant, or by staff on a request received
otherwise. The answer comes at once; the erasure itself runs from the table's stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain.erasure import Erasure
    from chalicelib.schemas import erasure as s
    from chalicelib.services import erasure as service
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.erasure")
    service = LazyModule("chalicelib.services.erasure")


bp = Blueprint(__name__)


def erasure_out(erasure: Erasure) -> s.ErasureResponse:
    return s.ErasureResponse(status=erasure.status.value, reason=erasure.reason, requested_at=erasure.requested_at)


@operation(
    bp,
    "/me/erasure",
    "POST",
    summary="Erase my account and everything about me (GDPR Art. 17); cannot be undone",
    tag="privacy",
    request=lambda: s.MyErasureRequest,
    response=lambda: s.ErasureResponse,
    status=202,
    roles=frozenset({Role.CONSULTANT}),
    errors=(409,),
)
def erase_me(call: Call[s.MyErasureRequest, Any]) -> s.ErasureResponse:
    return erasure_out(service.request_my_erasure(call.container.erasure, call.user, call.body.password.get_secret_value()))


@operation(
    bp,
    "/consultants/{user_id}/erasure",
    "POST",
    summary="Erase a consultant on their request received by other means (staff)",
    tag="privacy",
    response=lambda: s.ErasureResponse,
    status=202,
    roles=frozenset({Role.STAFF}),
    errors=(409,),
)
def erase_consultant(call: Call[Any, Any]) -> s.ErasureResponse:
    return erasure_out(service.request_erasure_by_staff(call.container.erasure, call.user, call.path["user_id"]))
