"""Candidacies, proposals and interviews: how a matched consultant reaches a client, and only with consent.

A candidacy is one consultant put forward for one assignment. Before a client sees anything, the
consultant and the consultant's agency each consent to the disclosure at the hourly rate the agency set
(two entries in the consent ledger, naming the client, the assignment and the rate). Its lifecycle:

    suggested → consent_requested → consented (by both, the rate fixed) → sent → interview_scheduled
              → accepted | declined | withdrawn | expired

A changed rate voids both answers and asks again. A proposal is one sending of consented candidacies to
the client; an interview is arranged on a sent candidacy, with the consultant's Consultant Agent invited.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.money import HourlyRate, RateBreakdown
from chalicelib.errors import Conflict

# Each candidacy takes five writes of a proposal's one transaction (its move, two ledger checks, the
# disclosure and its audit entry); DynamoDB takes a hundred.
MAX_CANDIDACIES_PER_PROPOSAL = 15
MAX_SLOTS = 5  # time slots a client proposes for one interview


class CandidacyStatus(StrEnum):
    SUGGESTED = "suggested"
    CONSENT_REQUESTED = "consent_requested"
    CONSENTED = "consented"  # both parties consented at the current rate, which is now fixed
    SENT = "sent"
    INTERVIEW_SCHEDULED = "interview_scheduled"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


S = CandidacyStatus
CANDIDACY_TRANSITIONS: dict[CandidacyStatus, frozenset[CandidacyStatus]] = {
    S.SUGGESTED: frozenset({S.CONSENT_REQUESTED, S.WITHDRAWN}),
    # A changed rate asks again: consent_requested and consented go back to consent_requested.
    S.CONSENT_REQUESTED: frozenset({S.CONSENT_REQUESTED, S.CONSENTED, S.DECLINED, S.WITHDRAWN, S.EXPIRED}),
    S.CONSENTED: frozenset({S.CONSENT_REQUESTED, S.SENT, S.WITHDRAWN}),
    S.SENT: frozenset({S.INTERVIEW_SCHEDULED, S.ACCEPTED, S.DECLINED, S.WITHDRAWN}),
    # A cancelled interview puts the candidacy back among the sent ones.
    S.INTERVIEW_SCHEDULED: frozenset({S.SENT, S.INTERVIEW_SCHEDULED, S.ACCEPTED, S.DECLINED, S.WITHDRAWN}),
    S.ACCEPTED: frozenset(),
    S.DECLINED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.EXPIRED: frozenset({S.CONSENT_REQUESTED}),  # staff may ask again
}
# The states in which the client has the candidate's redacted profile (consents permitting).
DISCLOSED = frozenset({S.SENT, S.INTERVIEW_SCHEDULED, S.ACCEPTED})
# The states in which a party's consent may still be withdrawn (after acceptance, the contract governs).
WITHDRAWABLE = frozenset({S.SUGGESTED, S.CONSENT_REQUESTED, S.CONSENTED, S.SENT, S.INTERVIEW_SCHEDULED})
del S


class Party(StrEnum):
    """The two parties whose consent a disclosure needs."""

    CONSULTANT = "consultant"
    AGENCY = "agency"


class Answer(StrEnum):
    CONSENTED = "consented"
    DECLINED = "declined"


@dataclass(frozen=True)
class PartyAnswer:
    answer: Answer
    at: datetime
    actor_id: str
    rate_version: int  # the rate it answered; a newer rate voids it
    entry_id: str | None = None  # the consent ledger entry, for a consent
    reason: str | None = None  # for a decline


@dataclass
class Candidacy:
    candidacy_id: str
    assignment_id: str
    client_id: str
    consultant_id: str
    agency_id: str
    match_run_id: str  # the run the consultant was shortlisted from
    created_at: datetime
    created_by: str
    updated_at: datetime
    rate: HourlyRate  # to the client, per hour; set by the agency (staff propose the first)
    commission_bps: int  # the platform's commission at the time the rate was set
    rate_version: int = 1
    rate_set_by: str | None = None
    status: CandidacyStatus = CandidacyStatus.SUGGESTED
    revision: int = 0  # optimistic lock: both parties, staff and the client write here
    answers: dict[Party, PartyAnswer] = field(default_factory=dict)  # for the current rate only
    consent_requested_at: datetime | None = None
    expires_at: datetime | None = None  # the deadline of the pending consent request
    proposal_id: str | None = None
    sent_at: datetime | None = None
    closed_at: datetime | None = None  # accepted, declined, withdrawn or expired
    closed_by: str | None = None
    close_reason: str | None = None
    declined_by: str | None = None  # "consultant", "agency" or "client"
    engagement_id: str | None = None  # made when the client accepts

    @property
    def breakdown(self) -> RateBreakdown:
        return RateBreakdown.of(self.rate, self.commission_bps)

    def can_move_to(self, target: CandidacyStatus) -> bool:
        return target in CANDIDACY_TRANSITIONS[self.status]

    def ensure_can_move_to(self, target: CandidacyStatus) -> None:
        if not self.can_move_to(target):
            raise Conflict(f"A candidacy that is {self.status.value} cannot become {target.value}.", current_state=self.status.value)

    def closed(self, status: CandidacyStatus, *, by: str, reason: str | None, now: datetime, declined_by: str | None = None) -> Candidacy:
        """The candidacy ended (accepted, declined, withdrawn or expired) by ``by``; the caller writes it."""
        self.ensure_can_move_to(status)
        return replace(self, status=status, closed_at=now, closed_by=by, close_reason=reason, declined_by=declined_by, updated_at=now)

    def consent_entry(self, party: Party) -> str | None:
        answer = self.answers.get(party)
        if answer is None or answer.answer is not Answer.CONSENTED or answer.rate_version != self.rate_version:
            return None
        return answer.entry_id

    @property
    def consented_by_both(self) -> bool:
        return all(self.consent_entry(p) is not None for p in Party)


@dataclass(frozen=True)
class Proposal:
    """One sending of consented candidacies to a client company."""

    proposal_id: str
    assignment_id: str
    client_id: str
    sent_at: datetime
    sent_by: str
    candidacy_ids: tuple[str, ...]
    message: str | None = None


@dataclass(frozen=True)
class Disclosure:
    """A record of a profile shown to a client: who, to whom, when, on which consents. Kept in the person's
    own partition, so that their export lists every client their profile went to."""

    consultant_id: str
    disclosure_id: str
    at: datetime
    by: str  # the staff member who sent it
    client_id: str
    client_name: str
    assignment_id: str
    assignment_title: str
    proposal_id: str
    candidacy_id: str
    consent_entry_ids: tuple[str, ...]  # the consultant's and the agency's
    rate: HourlyRate


class InterviewStatus(StrEnum):
    REQUESTED = "requested"  # the client proposed slots
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    COMPLETED = "completed"  # the agent recorded the outcome


class InterviewOutcome(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNDECIDED = "undecided"
    NO_SHOW = "no_show"


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime


@dataclass
class Interview:
    interview_id: str
    candidacy_id: str
    assignment_id: str
    client_id: str
    consultant_id: str
    agency_id: str
    requested_by: str
    requested_at: datetime
    proposed_slots: tuple[Slot, ...]
    location: str | None = None  # a place or a meeting link
    status: InterviewStatus = InterviewStatus.REQUESTED
    revision: int = 0
    slot: Slot | None = None  # the one picked
    scheduled_by: str | None = None
    agent_id: str | None = None  # the Consultant Agent invited
    # RFC 5545: every invitation of this interview shares the UID; each update raises the sequence.
    calendar_uid: str = ""
    sequence: int = 0
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    outcome: InterviewOutcome | None = None
    notes: str | None = None
    outcome_by: str | None = None
    updated_at: datetime | None = None


class AgentAssignmentStatus(StrEnum):
    ACTIVE = "active"  # replaced, never ended: a consultant always keeps an agent once given one


@dataclass(frozen=True)
class AgentAssignment:
    """A consultant's Consultant Agent (a staff member), in the consultant's own partition."""

    consultant_id: str
    agent_id: str
    assigned_at: datetime
    assigned_by: str
    note: str | None = None  # a hand-over note for the agent
    status: AgentAssignmentStatus = AgentAssignmentStatus.ACTIVE
