"""Request and response models of engagements, contracts, the built-in signature and its webhook."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from chalicelib.domain.contracts import (
    MAX_MILESTONES,
    SCOPE_MAX_CHARS,
    ContractParty,
    ContractStatus,
    EngagementStatus,
    Pricing,
    SignerRole,
)
from chalicelib.domain.signing import EnvelopeState, RecipientState
from chalicelib.domain.timesheets import PeriodKind
from chalicelib.schemas.base import RequestModel, ResponseModel, ShortText, Ticked
from chalicelib.schemas.profiles import Currency

Amount = Annotated[int, Field(ge=0, le=10_000_000_000, description="minor units (öre, cents)")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
Token = Annotated[str, StringConstraints(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Provider = Literal["builtin", "docusign"]


class MilestoneIn(RequestModel):
    title: ShortText
    amount_minor: Amount
    due_date: date


class TermsIn(RequestModel):
    """The whole terms; a PUT replaces them. The commission stays the one the candidacy was consented at."""

    pricing: Pricing
    currency: Currency
    rate_minor: Amount | None = Field(None, description="per hour (hourly) or per day (daily); not for a fixed fee")
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=MAX_MILESTONES, description="a fixed fee's instalments")
    start_date: date
    end_date: date
    share_of_full_time: int = Field(ge=1, le=100, description="percent of full time")
    scope: Annotated[str, StringConstraints(min_length=1, max_length=SCOPE_MAX_CHARS)]
    payment_terms_days: int = Field(30, ge=0, le=120)
    reporting_period: PeriodKind = Field(PeriodKind.MONTH, description="hourly and daily engagements: time is invoiced per week or month")

    @model_validator(mode="after")
    def _consistent(self) -> TermsIn:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if self.pricing is Pricing.FIXED:
            if self.rate_minor is not None or not self.milestones:
                raise ValueError("a fixed fee has milestones and no rate_minor")
        elif self.rate_minor is None or self.milestones:
            raise ValueError("hourly and daily pricing have a rate_minor and no milestones")
        return self


class SendContractsIn(RequestModel):
    provider: Provider | None = Field(None, description="the signature provider; the platform's default when left out")


class CancelEngagementIn(RequestModel):
    reason: ShortText


class DocumentQuery(RequestModel):
    kind: Literal["document", "signed", "certificate"] = Field(
        "signed", description="the contract as sent, as signed (with the signatures and evidence), or the provider's certificate"
    )


class EngagementQuery(RequestModel):
    status: EngagementStatus | None = None


class SigningQuery(RequestModel):
    token: Token


class SignIn(RequestModel):
    token: Token
    typed_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(description="your name, as on the contract")
    document_sha256: Sha256 = Field(description="the SHA-256 of the document you reviewed")
    agree: Ticked = Field(description="I have read the document and sign it electronically")


class DeclineSigningIn(RequestModel):
    token: Token
    reason: ShortText


class MilestoneOut(ResponseModel):
    milestone_id: str
    title: str
    amount_minor: int
    due_date: date


class RateChangeOut(ResponseModel):
    effective_from: date
    rate_minor: int = Field(description="the client's price per hour or day from effective_from on")
    commission_minor: int
    agency_net_minor: int


class TermsOut(ResponseModel):
    pricing: Pricing
    currency: str
    rate_minor: int | None
    milestones: list[MilestoneOut]
    price_minor: int = Field(description="the client's price of one hour, one day, or the whole fixed fee, before VAT")
    commission_bps: int
    commission_minor: int = Field(description="the platform's commission on price_minor")
    agency_net_minor: int = Field(description="what remains to the agency of price_minor")
    start_date: date
    end_date: date
    share_of_full_time: int
    scope: str
    payment_terms_days: int
    reporting_period: PeriodKind
    rate_changes: list[RateChangeOut] = Field(
        description="rates agreed in signed addenda, each from its day on (rate_minor before the first)"
    )


class SignerOut(ResponseModel):
    role: SignerRole
    name: str
    signed_at: datetime | None


class ContractOut(ResponseModel):
    contract_id: str
    change_id: str | None = Field(description="set on an addendum: the change of the engagement it puts in writing")
    party: ContractParty
    version: int
    status: ContractStatus
    language: str
    provider: str | None
    sent_at: datetime | None
    completed_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    document_sha256: str
    signed_document_sha256: str | None
    has_certificate: bool
    signers: list[SignerOut]


class EngagementResponse(ResponseModel):
    engagement_id: str
    candidacy_id: str
    assignment_id: str
    assignment_title: str
    client_id: str
    agency_id: str
    consultant_id: str
    status: EngagementStatus
    time_reporting_open: bool = Field(description="active, or ended (time of its days up to the last may still be reported)")
    created_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None = Field(description="when it ended: the start of the day after its last day (UTC), or an earlier end")
    terms: TermsOut
    contracts: list[ContractOut] = Field(description="the current contracts the caller is a party to (staff: both)")


class EngagementRecordOut(ResponseModel):
    """An engagement in a person's GDPR export."""

    engagement_id: str
    assignment_id: str
    client_id: str
    agency_id: str
    status: EngagementStatus
    created_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    terms: TermsOut


class EngagementSummary(ResponseModel):
    engagement_id: str
    assignment_id: str
    assignment_title: str
    status: EngagementStatus
    start_date: date
    end_date: date
    created_at: datetime


class EngagementListResponse(ResponseModel):
    items: list[EngagementSummary]


class DocumentLinkResponse(ResponseModel):
    url: str = Field(description="a short-lived download link")
    sha256: str
    size: int
    expires_at: datetime


class SigningResponse(ResponseModel):
    envelope_id: str
    document_name: str
    document_sha256: str
    envelope_status: EnvelopeState
    expires_at: datetime
    signer_name: str
    signer_state: RecipientState
    signed_at: datetime | None
    document_url: str | None = Field(description="to review the document; only while you may still sign")
    document_url_expires_at: datetime | None


class WebhookResponse(ResponseModel):
    outcome: Literal["applied", "stale", "duplicate"]
