"""Request and response models of time reporting, periods and invoices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from chalicelib.domain.invoicing import ClaimStatus, InvoiceStatus
from chalicelib.domain.timesheets import FULL_DAY, MINUTES_PER_DAY, PeriodKind, PeriodStatus
from chalicelib.schemas.base import RequestModel, ResponseModel, ShortText

PeriodKey = Annotated[str, StringConstraints(pattern=r"^2\d{3}-(?:W(?:0[1-9]|[1-4]\d|5[0-3])|(?:0[1-9]|1[0-2]))$")]


class TimeEntryIn(RequestModel):
    """One day's time; a second report of the same day replaces the first."""

    day: date
    minutes: int | None = Field(None, ge=1, le=MINUTES_PER_DAY, description="hourly engagements: minutes worked that day")
    day_share: int | None = Field(None, ge=1, le=FULL_DAY, description="daily engagements: the share of the day worked, in percent")
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _one_amount(self) -> TimeEntryIn:
        if (self.minutes is None) == (self.day_share is None):
            raise ValueError("give minutes (hourly) or day_share (daily), not both")
        return self


class DayQuery(RequestModel):
    day: date


class PeriodQuery(RequestModel):
    period: PeriodKey = Field(description="a month (2026-11) or an ISO week (2026-W48)")


class PeriodIn(RequestModel):
    period: PeriodKey = Field(description="a month (2026-11) or an ISO week (2026-W48)")


class ReturnPeriodIn(RequestModel):
    period: PeriodKey
    comment: ShortText


class TimeEntryOut(ResponseModel):
    day: date
    minutes: int | None
    day_share: int | None
    description: str
    updated_at: datetime


class PeriodOut(ResponseModel):
    engagement_id: str
    period: str
    kind: PeriodKind
    status: PeriodStatus
    entries: int
    minutes: int
    day_shares: int = Field(description="the sum of the days' shares, in percent of a day")
    submitted_at: datetime | None
    confirmed_at: datetime | None
    returned_at: datetime | None
    return_comment: str | None
    invoice_id: str | None


class PeriodTimeResponse(ResponseModel):
    period: str
    status: PeriodStatus
    entries: list[TimeEntryOut]
    minutes: int
    day_shares: int
    return_comment: str | None


class PeriodListResponse(ResponseModel):
    items: list[PeriodOut]


class InvoiceLineOut(ResponseModel):
    description: str
    quantity: str
    amount_minor: int


class InvoiceBreakdownOut(ResponseModel):
    """The same for every party: the client, the agency, the consultant."""

    currency: str
    net_minor: int
    commission_bps: int
    commission_minor: int
    agency_net_minor: int
    vat_rate_bps: int
    vat_minor: int
    total_minor: int
    reverse_charge: bool


class InvoiceOut(ResponseModel):
    invoice_id: str
    engagement_id: str
    source: str
    status: InvoiceStatus
    lines: list[InvoiceLineOut]
    breakdown: InvoiceBreakdownOut
    days_until_due: int
    created_at: datetime
    hosted_invoice_url: str | None = Field(description="where the client pays, once issued")
    blocked_reason: str | None = Field(description="why it is not issued yet")
    due_at: datetime | None
    overdue: bool
    amount_paid_minor: int
    paid_at: datetime | None
    payment_failed_at: datetime | None = Field(description="the client's last failed attempt to pay")
    credit_notes: list[CreditNoteOut]
    returned_to_client_minor: int = Field(description="credited before payment, refunded or credited after it")
    agency_share_transferred_minor: int = Field(
        description="the agency's share transferred to its payout account when the client paid (0 until then)"
    )
    agency_share_held_back_minor: int = Field(
        description="taken back from the agency's transfer: its share of what was returned, or all of it while a dispute holds the payment"
    )
    dispute_status: str | None
    void_reason: str | None
    replaces: str | None = Field(description="the voided invoice this one was issued again for")
    replaced_by: str | None = Field(description="the invoice issued again in place of this voided one")


class CreditNoteOut(ResponseModel):
    credit_note_id: str
    amount_minor: int = Field(description="including VAT")
    reason: str
    memo: str
    created_at: datetime


class CreditNoteIn(RequestModel):
    """Staff: part of an open invoice taken off (never below the agency's share), or part of a paid one refunded."""

    amount_minor: int = Field(ge=1, le=10_000_000_000, description="including VAT, in the invoice's currency")
    reason: Literal["duplicate", "order_change", "product_unsatisfactory"]
    memo: ShortText = Field(description="printed on the credit note the client receives")


class VoidInvoiceIn(RequestModel):
    reason: ShortText


class InvoiceListResponse(ResponseModel):
    items: list[InvoiceOut]


class ConfirmedPeriodResponse(ResponseModel):
    period: PeriodOut
    invoice: InvoiceOut


class ClaimIn(RequestModel):
    """The agency's invoice to the platform for (part of) a milestone of a fixed-fee contract."""

    milestone_id: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    amount_minor: int = Field(ge=1, le=10_000_000_000, description="net, excluding VAT; at most what remains of the milestone")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(description="the agency's own invoice number")


class RejectClaimIn(RequestModel):
    reason: ShortText


class ClaimOut(ResponseModel):
    claim_id: str
    engagement_id: str
    milestone_id: str
    amount_minor: int
    reference: str
    status: ClaimStatus
    created_at: datetime
    document_sha256: str | None
    document_problem: str | None
    reject_reason: str | None
    invoice_id: str | None


class UploadFormOut(ResponseModel):
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int
    content_type: str


class ClaimCreatedResponse(ResponseModel):
    claim: ClaimOut
    upload: UploadFormOut = Field(description="post the invoice PDF here; the claim goes to staff once it is checked")


class ClaimListResponse(ResponseModel):
    items: list[ClaimOut]


class ApprovedClaimResponse(ResponseModel):
    claim: ClaimOut
    invoice: InvoiceOut
