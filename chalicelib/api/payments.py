"""Agencies' payout accounts and the payment provider's webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import payments as s
    from chalicelib.services import invoicing, payment_events
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.payments")
    invoicing = LazyModule("chalicelib.services.invoicing")
    payment_events = LazyModule("chalicelib.services.payment_events")

bp = Blueprint(__name__)
# Stripe's events without expansions are a few kilobytes; an invoice with many lines stays well below this.
WEBHOOK_MAX_BYTES = 512 * 1024


@operation(
    bp,
    "/agencies/{agency_id}/payouts/onboarding",
    "POST",
    summary="Start (or resume) the agency's payout onboarding with the payment provider: a link to follow",
    tag="payments",
    response=lambda: s.OnboardingLinkResponse,
    roles=frozenset({Role.AGENCY_ADMIN}),
    errors=(409, 503),
)
def start_onboarding(call: Call[Any, Any]) -> s.OnboardingLinkResponse:
    return s.OnboardingLinkResponse(url=invoicing.start_payout_onboarding(call.container.invoicing, call.user, call.path["agency_id"]))


@operation(
    bp,
    "/agencies/{agency_id}/payouts",
    "GET",
    summary="Whether the agency can be paid, and if not, why (its admins and staff)",
    tag="payments",
    response=lambda: s.PayoutAccountResponse,
    roles=ANY_ROLE,
)
def payout_status(call: Call[Any, Any]) -> s.PayoutAccountResponse:
    record = invoicing.payout_account(call.container.invoicing, call.user, call.path["agency_id"])
    if record is None:
        return s.PayoutAccountResponse(
            set_up=False, transfers_active=False, details_submitted=False, requirements_due=[], disabled_reason=None
        )
    return s.PayoutAccountResponse(
        set_up=True,
        transfers_active=record.transfers_active,
        details_submitted=record.details_submitted,
        requirements_due=list(record.requirements_due),
        disabled_reason=record.disabled_reason,
    )


def _webhook(call: Call[Any, Any], *, connect: bool) -> s.PaymentWebhookResponse:
    signature = call.headers.get("stripe-signature")
    outcome = payment_events.handle_payment_webhook(call.container.invoicing, call.raw_body, signature, connect=connect)
    return s.PaymentWebhookResponse(outcome=outcome)


@operation(
    bp,
    "/webhooks/stripe",
    "POST",
    tag="payments",
    roles=None,
    raw=True,
    max_body_bytes=WEBHOOK_MAX_BYTES,
    summary="Stripe's platform events (Stripe-Signature, 300 s tolerance)",
    response=lambda: s.PaymentWebhookResponse,
    errors=(401, 404, 409, 503),
)
def stripe_webhook(call: Call[Any, Any]) -> s.PaymentWebhookResponse:
    return _webhook(call, connect=False)


@operation(
    bp,
    "/webhooks/stripe/connect",
    "POST",
    tag="payments",
    roles=None,
    raw=True,
    max_body_bytes=WEBHOOK_MAX_BYTES,
    summary="Stripe's Connect events (account.updated, payout.failed), with their own secret",
    response=lambda: s.PaymentWebhookResponse,
    errors=(401, 404, 409, 503),
)
def stripe_connect_webhook(call: Call[Any, Any]) -> s.PaymentWebhookResponse:
    return _webhook(call, connect=True)
