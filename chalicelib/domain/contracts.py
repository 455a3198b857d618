"""Engagements and their contracts: what a client's acceptance turns into, and how it is signed.

An engagement is one consultant on one assignment on agreed terms. It is created when the client
accepts a candidate and becomes active (time reporting opens) once both of its contracts are signed:
one between the platform and the agency, one between the platform and the client, each generated as a
PDF from the terms and signed through a signature provider by the counterparty and by the platform.
It ends when its last day is over (the scheduled jobs record it; see ``services/engagement_end.py``):

    contracting → active → ended        (contracting → cancelled, when staff call it off)

Time of its days may still be reported, submitted and confirmed after the end; the client and the
consultant then review each other (``domain/reviews.py``).

A contract only moves forward:

    draft → sent → partly_signed → completed | declined | voided | expired

(from sent or partly signed to any of the four ends). A contract that ends unsigned is replaced by a
new version when staff send the engagement's contracts again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from chalicelib.domain.assignments import Assignment
from chalicelib.domain.money import BASIS_POINTS, commission_of
from chalicelib.domain.proposals import Candidacy
from chalicelib.domain.reviews import REVIEW_WINDOW, ReviewSide
from chalicelib.domain.timesheets import PeriodKind
from chalicelib.errors import Conflict

DEFAULT_PAYMENT_TERMS_DAYS = 30
MAX_MILESTONES = 20
# An assignment posted without an end date is contracted for this long; staff may change it before sending.
DEFAULT_TERM = timedelta(days=182)
SCOPE_MAX_CHARS = 4000
# Printed (invisibly) on a contract where signer N signs: DocuSign anchors that signer's signature field on it.
SIGN_HERE_ANCHOR = "/sig{recipient_id}/"
COUNTERPARTY_RECIPIENT, PLATFORM_RECIPIENT = "1", "2"


class EngagementStatus(StrEnum):
    CONTRACTING = "contracting"  # accepted; its contracts are prepared and signed
    ACTIVE = "active"  # both contracts signed: the work and time reporting may start
    CANCELLED = "cancelled"  # staff called it off before both contracts were signed
    ENDED = "ended"  # its last day is over (or it was ended early): reviews open; its days' time may still be reported


class Pricing(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    FIXED = "fixed"


@dataclass(frozen=True)
class Milestone:
    milestone_id: str
    title: str
    amount_minor: int
    due_date: date


@dataclass(frozen=True)
class RateChange:
    """A new client's price per unit from a day on, agreed in a signed addendum (``domain/engagement_changes.py``)."""

    effective_from: date
    rate_minor: int


@dataclass(frozen=True)
class EngagementTerms:
    """What both contracts state. ``rate_minor`` is per hour or per day (hourly and daily pricing); a fixed
    fee is the sum of its milestones. The commission is on the client's price, in basis points."""

    pricing: Pricing
    currency: str
    commission_bps: int
    start_date: date
    end_date: date
    share_of_full_time: int  # percent of full time, 1-100
    scope: str  # what the consultant delivers: the assignment's title and description as agreed
    payment_terms_days: int = DEFAULT_PAYMENT_TERMS_DAYS
    rate_minor: int | None = None
    milestones: tuple[Milestone, ...] = ()
    reporting_period: PeriodKind = PeriodKind.MONTH  # how time is gathered for invoicing (hourly and daily)
    # The rate as changed by signed addenda, oldest first: ``rate_minor`` is the rate the contracts state.
    rate_changes: tuple[RateChange, ...] = ()

    def __post_init__(self) -> None:
        if (self.pricing is Pricing.FIXED) != (self.rate_minor is None):
            raise ValueError("a fixed fee has milestones and no rate; hourly and daily pricing have a rate")
        if self.pricing is Pricing.FIXED and not self.milestones:
            raise ValueError("a fixed fee needs at least one milestone")
        if self.pricing is not Pricing.FIXED and self.milestones:
            raise ValueError("milestones belong to a fixed fee")
        if self.end_date < self.start_date:
            raise ValueError("the end date is before the start date")
        if not 0 <= self.commission_bps <= BASIS_POINTS:
            raise ValueError("a commission is between 0 and 10 000 basis points")
        if self.rate_changes and self.pricing is Pricing.FIXED:
            raise ValueError("a fixed fee has no rate to change")
        if [c.effective_from for c in self.rate_changes] != sorted({c.effective_from for c in self.rate_changes}):
            raise ValueError("rate changes are in order of their days, one per day")

    def rate_on(self, day: date) -> int:
        """The client's price per unit (hour or day) for work on ``day``: the last change in force then."""
        assert self.rate_minor is not None, "hourly and daily engagements have a rate"
        rate = self.rate_minor
        for change in self.rate_changes:
            if change.effective_from <= day:
                rate = change.rate_minor
        return rate

    @property
    def price_minor(self) -> int:
        """The client's price of one unit: an hour, a day, or the whole fixed fee."""
        return self.rate_minor if self.rate_minor is not None else sum(m.amount_minor for m in self.milestones)

    @property
    def commission_minor(self) -> int:
        return commission_of(self.price_minor, self.commission_bps)

    @property
    def agency_net_minor(self) -> int:
        return self.price_minor - self.commission_minor


class ContractParty(StrEnum):
    """The platform's counterparty in a contract."""

    AGENCY = "agency"
    CLIENT = "client"


class ContractStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PARTLY_SIGNED = "partly_signed"
    COMPLETED = "completed"
    DECLINED = "declined"
    VOIDED = "voided"
    EXPIRED = "expired"


_STAGE = {
    ContractStatus.DRAFT: 0,
    ContractStatus.SENT: 1,
    ContractStatus.PARTLY_SIGNED: 2,
    ContractStatus.COMPLETED: 3,
    ContractStatus.DECLINED: 3,
    ContractStatus.VOIDED: 3,
    ContractStatus.EXPIRED: 3,
}
ENDED = frozenset({ContractStatus.COMPLETED, ContractStatus.DECLINED, ContractStatus.VOIDED, ContractStatus.EXPIRED})
# Ended without a signature: staff may send a new version.
UNSIGNED_ENDS = ENDED - {ContractStatus.COMPLETED}


def moves_forward(current: ContractStatus, target: ContractStatus) -> bool:
    """Whether a contract in ``current`` may become ``target``: only to a later stage, never out of an end."""
    return _STAGE[target] > _STAGE[current]


class SignerRole(StrEnum):
    COUNTERPARTY = "counterparty"  # the agency's admin or the client's user
    PLATFORM = "platform"  # the staff member who sends the contract, for Customersonly


@dataclass(frozen=True)
class Signer:
    recipient_id: str  # the provider's recipient id: "1" for the counterparty, "2" for the platform
    role: SignerRole
    user_id: str
    name: str
    email: str
    signed_at: datetime | None = None


@dataclass(frozen=True)
class StoredDocument:
    """A PDF in the contracts bucket: the exact version, and its SHA-256 to detect any change."""

    key: str
    version_id: str | None
    sha256: str
    size: int


@dataclass
class Contract:
    contract_id: str
    engagement_id: str
    party: ContractParty
    counterparty_id: str  # the agency's or the client company's organisation id
    version: int  # 1, then one more for each replacement of a contract that ended unsigned
    language: str  # "sv" | "en": the counterparty signer's
    created_at: datetime
    created_by: str
    updated_at: datetime
    terms_digest: str  # the terms it was generated from (a changed term makes a new draft)
    document: StoredDocument
    signers: tuple[Signer, ...]
    status: ContractStatus = ContractStatus.DRAFT
    revision: int = 0
    provider: str | None = None  # the signature provider, once sent
    envelope_id: str | None = None
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None  # why it was declined or voided
    signed_document: StoredDocument | None = None  # the final PDF, signatures and evidence included
    certificate: StoredDocument | None = None  # the provider's certificate of completion, when it has one
    checked_at: datetime | None = None  # last asked of its provider by the scheduled reconciliation
    change_id: str | None = None  # an addendum: the agreed change of the engagement it puts in writing

    @property
    def is_addendum(self) -> bool:
        return self.change_id is not None

    @property
    def last_heard_at(self) -> datetime:
        return max(self.updated_at, self.checked_at) if self.checked_at else self.updated_at

    def moved(self, target: ContractStatus, now: datetime) -> Contract:
        if not moves_forward(self.status, target):
            raise Conflict(f"A {self.status.value} contract cannot become {target.value}.", current_state=self.status.value)
        ended = target in ENDED
        return replace(
            self,
            status=target,
            revision=self.revision + 1,
            updated_at=now,
            completed_at=now if target is ContractStatus.COMPLETED else self.completed_at,
            ended_at=now if ended else self.ended_at,
        )


@dataclass
class Engagement:
    engagement_id: str
    candidacy_id: str
    assignment_id: str
    proposal_id: str
    client_id: str
    agency_id: str
    consultant_id: str
    accepted_by: str  # the client's user who accepted: the client contract's signer
    created_at: datetime
    updated_at: datetime
    terms: EngagementTerms
    status: EngagementStatus = EngagementStatus.CONTRACTING
    revision: int = 0  # every contract's move writes here too, so two completions cannot both miss the other
    next_assignments_suggested_at: datetime | None = None  # the agent was sent fitting assignments (once)
    contracts: dict[ContractParty, str] = field(default_factory=dict)  # the current contract per party
    signed: frozenset[ContractParty] = frozenset()  # parties whose current contract is completed
    claimed: dict[str, int] = field(default_factory=dict)  # fixed fee: per milestone, the amount claims hold
    activated_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    ended_at: datetime | None = None  # when it ended: the start of the day after its last day (UTC), or an earlier agreed end
    ended_by: str | None = None  # "system" for the scheduled end
    # The start of the day the jobs recorded the end and opened the reviews: later than ``ended_at`` when they
    # ran late, or an addendum being signed held the end; the review window counts from here, never cut short.
    reviews_opened_at: datetime | None = None
    reviews: dict[ReviewSide, str] = field(default_factory=dict)  # each side's review, once written
    open_change_id: str | None = None  # the change proposed or being signed (one at a time)

    @property
    def fully_signed(self) -> bool:
        return self.signed == frozenset(ContractParty)

    @property
    def scheduled_end(self) -> datetime:
        """When it ends by its terms: the start of the day after its last day, UTC."""
        return datetime.combine(self.terms.end_date + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def reviews_close_at(self) -> datetime | None:
        """The end of the review window (None until the engagement ended)."""
        if self.status is not EngagementStatus.ENDED or self.ended_at is None:
            return None
        return max(self.ended_at, self.reviews_opened_at or self.ended_at) + REVIEW_WINDOW

    @property
    def last_day(self) -> date:
        """The last day worked (and reported): the terms' last day, or the day of an earlier end."""
        if self.ended_at is None:
            return self.terms.end_date
        return min(self.terms.end_date, (self.ended_at - timedelta(microseconds=1)).date())

    @property
    def reports_time(self) -> bool:
        """Time is reported while it is active and, for its days, after it ended."""
        return self.status in (EngagementStatus.ACTIVE, EngagementStatus.ENDED)

    def ensure_contracting(self) -> None:
        if self.status is not EngagementStatus.CONTRACTING:
            raise Conflict(f"The engagement is {self.status.value}.", current_state=self.status.value)


@dataclass(frozen=True)
class SignatureEvidence:
    """What the built-in signature records of one signing, printed on the evidence page of the final PDF."""

    signer_name: str
    signer_email: str
    role: SignerRole
    typed_name: str
    signed_at: datetime
    ip: str | None
    user_agent: str | None
    document_sha256: str  # the hash of the document the signer reviewed


@dataclass(frozen=True)
class SupersededEnvelope:
    """An envelope made for a contract that another request sent first (or that changed meanwhile): voided,
    and remembered so that its events are acknowledged instead of retried by the provider for days."""

    envelope_id: str
    provider: str
    contract_id: str
    at: datetime


@dataclass(frozen=True)
class ProcessedEvent:
    """A webhook event already handled (by provider and event id): a redelivery changes nothing."""

    provider: str
    event_id: str
    received_at: datetime
    envelope_id: str | None = None


def terms_from_acceptance(candidacy: Candidacy, assignment: Assignment) -> EngagementTerms:
    """The terms an acceptance starts from: the assignment's dates, extent and scope, and the rate both
    parties consented to (or the assignment's fixed fee, as one milestone due at the end)."""
    end = assignment.end_date or assignment.start_date + DEFAULT_TERM
    scope = f"{assignment.title}\n\n{assignment.description}"[:SCOPE_MAX_CHARS]
    milestones: tuple[Milestone, ...] = ()
    if assignment.fixed_fee is not None:
        milestone = Milestone("1", assignment.title[:200], assignment.fixed_fee.amount_minor, end)
        pricing, currency, rate, milestones = Pricing.FIXED, assignment.fixed_fee.currency, None, (milestone,)
    else:
        pricing, currency, rate = Pricing.HOURLY, candidacy.rate.currency, candidacy.rate.amount_minor
    return EngagementTerms(
        pricing,
        currency,
        candidacy.commission_bps,
        assignment.start_date,
        end,
        assignment.share_of_full_time,
        scope,
        rate_minor=rate,
        milestones=milestones,
    )
