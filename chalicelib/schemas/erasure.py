"""Erasure requests (GDPR Art. 17) as the API takes and shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr

from chalicelib.domain.erasure import ErasureReason
from chalicelib.schemas.base import RequestModel, ResponseModel


class MyErasureRequest(RequestModel):
    password: SecretStr = Field(min_length=1, max_length=256, description="your password: erasure cannot be undone")


class ErasureResponse(ResponseModel):
    status: str = Field(description="pending: the account is disabled and its data is being erased")
    reason: ErasureReason
    requested_at: datetime
