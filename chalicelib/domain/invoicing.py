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


# A dispute's statuses once the client's bank has taken the money (inquiries, "warning_*", take nothing).
DISPUTE_FUNDS_WITHDRAWN = frozenset({"needs_response", "under_review", "lost"})


def agency_share_held_back(b: InvoiceBreakdown, returned_to_client_minor: int, dispute_status: str | None) -> int:
    """How much of the agency's share the platform takes back: all of it while a dispute holds the client's
    money (and when it is lost), else the agency's proportion of what went back to the client, as the split
    was made: round half up, never more than the share."""
    if dispute_status in DISPUTE_FUNDS_WITHDRAWN:
        return b.agency_net_minor
    if b.total_minor <= 0:
        return 0
    returned = min(max(returned_to_client_minor, 0), b.total_minor)
    return round_half_up(returned * b.agency_net_minor, b.total_minor)


@dataclass(frozen=True)
class ShareMove:
    """One change of what the agency holds of an invoice: a reversal of its transfer, or a new transfer giving
    back what a won dispute returned. Recorded before the provider is asked, and only one at a time, so that
    concurrent handlers never move money twice: whoever finds it pending completes it with the same key."""

    kind: str  # "reverse" | "restore"
    amount_minor: int
    total_after_minor: int  # the reversed (or restored) total once done: part of the idempotency key
    source: str  # the transfer reversed; for a restoration, the charge whose money it gives back (its key)
    decided_at: datetime
    attempt: int = 1  # one more for each refusal on the invoice: a move decided again gets a new key

    @property
    def key(self) -> str:
        again = f":a{self.attempt}" if self.attempt > 1 else ""
        return f"transfer.{self.kind}:{self.source}:{self.total_after_minor}{again}"


CREDIT_NOTE_REASONS = ("duplicate", "order_change", "product_unsatisfactory")  # Stripe's


@dataclass(frozen=True)
class CreditNoteEntry:
    """A credit note staff made through the platform: recorded before the provider is asked, so a retry or a
    double submit completes the same one (its key is the invoice's and the entry's sequence number)."""

    sequence: int
    amount_minor: int  # including VAT
    reason: str
    memo: str
    refund: bool  # made on a paid invoice: the amount goes back to the client's payment
    created_by: str
    created_at: datetime
    credit_note_id: str | None = None  # None until the provider made it
    refused: str | None = None  # the provider refused it (nothing was made); its sequence stays used

    @property
    def pending(self) -> bool:
        return self.credit_note_id is None and self.refused is None

    def key(self, invoice_id: str) -> str:
        return f"credit_note.create:{invoice_id}:{self.sequence}"


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
    charge_id: str | None = None  # the client's payment
    refunded_minor: int = 0  # paid back to the client (refunds of its payment, with or without a credit note)
    credited_before_payment_minor: int = 0  # credit notes that lowered what the client had to pay
    credited_after_payment_minor: int = 0  # credit notes after payment (refunded, or credited to the client)
    dispute_id: str | None = None
    dispute_created_at: datetime | None = None  # the latest dispute of the charge is the one that counts
    dispute_status: str | None = None  # as the provider has it: needs_response, under_review, won, lost, ...
    disputed_at: datetime | None = None
    charge_seen_at: datetime | None = None  # when the provider was last asked about the charge (refunds)
    credits_seen_at: datetime | None = None  # ... about the invoice's credit notes
    dispute_seen_at: datetime | None = None  # ... about a dispute
    reversed_minor: int = 0  # taken back from the agency's transfers, confirmed by the provider
    restored_minor: int = 0  # given back to the agency after a won dispute, confirmed by the provider
    restore_transfer_id: str | None = None  # the transfer that gave it back: later reversals come from it
    share_move: ShareMove | None = None  # a reversal or restoration decided and not yet confirmed
    share_refusals: int = 0  # moves the provider refused (nothing moved): each next one has a new key
    share_refused_at: datetime | None = None  # the last refusal, while the share still waits to move
    share_refused: str | None = None  # why, for operators

    @property
    def settling(self) -> bool:
        """A move of the agency's share is unconfirmed, or waits to be tried again after a refusal."""
        return self.share_move is not None or self.share_refused_at is not None

    credit_notes: tuple[CreditNoteEntry, ...] = ()  # made through the platform, by staff
    ended_at: datetime | None = None  # voided or marked uncollectible
    void_reason: str | None = None  # when staff voided it through the platform
    voided_by: str | None = None
    replaces: str | None = None  # the voided invoice this one was issued again for
    replaced_by: str | None = None

    @property
    def returned_to_client_minor(self) -> int:
        """What the client did not pay, or got back. A post-payment credit note the platform makes refunds
        the payment, so it is in both ``refunded`` and ``credited_after``; a refund without a credit note is
        only in the first, a credit to the client's balance only in the second."""
        return self.credited_before_payment_minor + max(self.refunded_minor, self.credited_after_payment_minor)

    @property
    def transferred_minor(self) -> int:
        """The agency's share sent to its payout account with the client's payment (a destination charge moves
        all of it at once); what was taken back since is ``held_back_minor``."""
        return self.breakdown.agency_net_minor if self.transfer_id else 0

    @property
    def held_back_minor(self) -> int:
        """The part of the agency's share currently taken back from it."""
        return self.reversed_minor - self.restored_minor

    def share_to_hold_back(self) -> int:
        return agency_share_held_back(self.breakdown, self.returned_to_client_minor, self.dispute_status)


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
