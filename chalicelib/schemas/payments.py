"""Response models of payout accounts and the payment provider's webhooks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.schemas.base import ResponseModel


class OnboardingLinkResponse(ResponseModel):
    url: str = Field(description="the payment provider's onboarding page; valid for minutes, ask again when expired")


class PayoutAccountResponse(ResponseModel):
    set_up: bool
    transfers_active: bool = Field(description="the agency can be paid: invoices for it are issued")
    details_submitted: bool
    requirements_due: list[str] = Field(description="what the payment provider still needs from the agency")
    disabled_reason: str | None


class PaymentWebhookResponse(ResponseModel):
    outcome: Literal["applied", "stale", "duplicate", "ignored"]
