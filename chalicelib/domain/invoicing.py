"""Invoices to clients and the transparent split every party sees: net, the platform's commission (rate
and amount), the agency's net, VAT and the total.

The split is made once, on the invoice's net, with round-half-up: agency net + commission = net exactly.
VAT is the platform's (it is the merchant of record): Swedish VAT for Swedish clients and for EU clients
without a VAT number, reverse charge for EU business clients with one, none outside the EU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.money import BASIS_POINTS, commission_of

SWEDISH_VAT_BPS = 2500
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# The shape of an EU VAT number: the country's prefix (Greece's is EL) and 2-13 letters or digits. Whether it
# is registered (VIES) is checked by Stripe Tax in production; offline only the shape is.
_VAT_NUMBER = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for non-negative integers."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("a non-negative amount over a positive divisor")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class VatTreatment:
    rate_bps: int
    reverse_charge: bool

    @classmethod
    def for_client(cls, country: str, vat_number: str | None) -> VatTreatment:
        country = country.upper()
        number = (vat_number or "").replace(" ", "").upper()
        prefix = "EL" if country == "GR" else country
        if country == "SE":
            return cls(SWEDISH_VAT_BPS, False)
        if country in EU_COUNTRIES:
            if _VAT_NUMBER.fullmatch(number) and number.startswith(prefix):
                return cls(0, True)  # the client accounts for the VAT in its own country
            return cls(SWEDISH_VAT_BPS, False)
        return cls(0, False)  # a service to a client outside the EU is outside the scope of Swedish VAT


@dataclass(frozen=True)
class InvoiceBreakdown:
    currency: str
    net_minor: int
    commission_bps: int
    commission_minor: int
    agency_net_minor: int
    vat_rate_bps: int
    vat_minor: int
    total_minor: int
    reverse_charge: bool

    @classmethod
    def of(cls, net_minor: int, currency: str, commission_bps: int, vat: VatTreatment) -> InvoiceBreakdown:
        commission = commission_of(net_minor, commission_bps)
        vat_minor = round_half_up(net_minor * vat.rate_bps, BASIS_POINTS)
        return cls(
            currency=currency,
            net_minor=net_minor,
            commission_bps=commission_bps,
            commission_minor=commission,
            agency_net_minor=net_minor - commission,
            vat_rate_bps=vat.rate_bps,
            vat_minor=vat_minor,
            total_minor=net_minor + vat_minor,
            reverse_charge=vat.reverse_charge,
        )


class InvoiceStatus(StrEnum):
    PENDING = "pending"  # recorded with the confirmation; not yet issued with the payment provider
    OPEN = "open"  # issued and sent: the client pays on the hosted page
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


# Forward only, as Stripe's invoices: an uncollectible invoice may still be paid or voided.
_NEXT = {
    InvoiceStatus.PENDING: frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}),
    InvoiceStatus.OPEN: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}),
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}


def invoice_moves_forward(current: InvoiceStatus, target: InvoiceStatus) -> bool:
    return target in _NEXT[current]


@dataclass(frozen=True)
class PayoutAccountRecord:
    """An agency's Connect account: it can be invoiced for once transfers are active."""

    agency_id: str
    account_id: str
    created_at: datetime
    updated_at: datetime
    transfers_active: bool = False
    details_submitted: bool = False
    requirements_due: tuple[str, ...] = ()
    disabled_reason: str | None = None
    revision: int = 0  # a sync writes what it fetched only over what it read: a slower, older fetch loses


@dataclass(frozen=True)
class BillingCustomerRecord:
    """A client company's customer at the payment provider."""

    client_id: str
    customer_id: str
    created_at: datetime


@dataclass(frozen=True)
class InvoiceLineItem:
    description: str
    quantity: str  # for people: "37.5 h", "4.5 days"
    amount_minor: int  # net


@dataclass
class Invoice:
    invoice_id: str
    engagement_id: str
    client_id: str
    agency_id: str
    consultant_id: str
    source: str  # what it invoices: "period:2026-11", "milestone:1"
    lines: tuple[InvoiceLineItem, ...]
    breakdown: InvoiceBreakdown
    days_until_due: int
    created_at: datetime
    created_by: str
    status: InvoiceStatus = InvoiceStatus.PENDING
    revision: int = 0
    attempt: int = 1  # of issuing with the provider; part of its idempotency keys
    issuing_since: datetime | None = None  # when the current attempt began
    blocked_reason: str | None = None  # why it is not issued yet (the agency cannot be paid yet, say)
    provider_invoice_id: str | None = None
    hosted_invoice_url: str | None = None
    issued_at: datetime | None = None
    due_at: datetime | None = None
    amount_paid_minor: int = 0
    paid_at: datetime | None = None
    transfer_id: str | None = None  # the agency's share, transferred when the client paid
    payment_failed_at: datetime | None = None  # the last failed attempt of the client to pay
    refunded_minor: int = 0  # paid back to the client
    reversed_minor: int = 0  # taken back from the agency's transfer (its share of a refund, or a dispute)
    disputed_at: datetime | None = None
    ended_at: datetime | None = None  # voided or marked uncollectible


class ClaimStatus(StrEnum):
    AWAITING_DOCUMENT = "awaiting_document"  # the agency's invoice PDF is still to be uploaded (or was refused)
    SUBMITTED = "submitted"  # the PDF checked: staff approve or reject
    APPROVED = "approved"  # the client's invoice is made
    REJECTED = "rejected"  # its amount is free again


@dataclass
class MilestoneClaim:
    """A fixed-fee engagement's agency invoicing the platform for (part of) a milestone: checked against
    what remains of the milestone, approved by staff, then invoiced to the client like a period."""

    claim_id: str
    engagement_id: str
    agency_id: str
    milestone_id: str
    amount_minor: int
    reference: str  # the agency's own invoice number
    created_at: datetime
    created_by: str
    document_key: str
    status: ClaimStatus = ClaimStatus.AWAITING_DOCUMENT
    revision: int = 0
    document_version: str | None = None
    document_sha256: str | None = None
    document_problem: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reject_reason: str | None = None
    invoice_id: str | None = None

    @property
    def holds_amount(self) -> bool:
        """Whether it counts against what remains of its milestone."""
        return self.status is not ClaimStatus.REJECTED
