"""Request and response models of candidacies, proposals, interviews and Consultant Agents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints

from chalicelib.domain.proposals import (
    MAX_CANDIDACIES_PER_PROPOSAL,
    MAX_SLOTS,
    Answer,
    CandidacyStatus,
    InterviewOutcome,
    InterviewStatus,
    Party,
)
from chalicelib.schemas.base import RequestModel, ResponseModel, ShortText
from chalicelib.schemas.consents import HourlyRateOut
from chalicelib.schemas.profiles import AvailabilityOut, HourlyRateIn, LanguageOut

Id = Annotated[str, StringConstraints(pattern=r"^(?:[0-9A-HJKMNP-TV-Z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
Notes = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class ShortlistIn(RequestModel):
    match_run_id: Id = Field(description="the match run the consultant was found in")
    consultant_id: Id
    hourly_rate: HourlyRateIn | None = Field(None, description="the first rate to the client; the consultant's expected rate when left out")


class NextAssignmentIn(RequestModel):
    hourly_rate: HourlyRateIn | None = Field(None, description="the first rate to the client; the consultant's expected rate when left out")


class ConsentRequestIn(RequestModel):
    hourly_rate: HourlyRateIn | None = Field(None, description="a new rate to propose with the request")


class RateIn(RequestModel):
    hourly_rate: HourlyRateIn


class ConsentIn(RequestModel):
    hourly_rate: HourlyRateIn = Field(description="the rate you consent to: it must be the candidacy's current rate")


class ReasonIn(RequestModel):
    reason: ShortText | None = None


class DeclineIn(RequestModel):
    reason: ShortText


class SendProposalIn(RequestModel):
    candidacy_ids: list[Id] = Field(min_length=1, max_length=MAX_CANDIDACIES_PER_PROPOSAL)
    message: Notes | None = None


class SlotIn(RequestModel):
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class InterviewRequestIn(RequestModel):
    slots: list[SlotIn] = Field(min_length=1, max_length=MAX_SLOTS)
    location: ShortText | None = Field(None, description="a place, or a meeting link")


class PickSlotIn(RequestModel):
    starts_at: AwareDatetime = Field(description="the start of one of the proposed slots")


class RescheduleIn(RequestModel):
    slot: SlotIn


class OutcomeIn(RequestModel):
    outcome: InterviewOutcome
    notes: Notes | None = None


class AgentIn(RequestModel):
    agent_id: Id = Field(description="a staff member")
    note: Notes | None = Field(None, description="a hand-over note for the agent")


class CandidacyStatusQuery(RequestModel):
    status: CandidacyStatus


class RateBreakdownOut(ResponseModel):
    """The same figures for every party: the client's rate, the commission and the agency's share, per hour
    and before VAT."""

    client_rate: HourlyRateOut
    commission_bps: int
    commission: HourlyRateOut
    agency_net: HourlyRateOut


class PartyAnswerOut(ResponseModel):
    party: Party
    answer: Answer
    at: datetime
    consent_entry_id: str | None
    reason: str | None


class SlotOut(ResponseModel):
    starts_at: datetime
    ends_at: datetime


class InterviewResponse(ResponseModel):
    interview_id: str
    candidacy_id: str
    assignment_id: str
    status: InterviewStatus
    proposed_slots: list[SlotOut]
    slot: SlotOut | None
    location: str | None
    agent_id: str | None
    sequence: int
    requested_at: datetime
    cancel_reason: str | None
    outcome: InterviewOutcome | None
    notes: str | None = Field(None, description="the agent's notes; staff only")


class CandidacyResponse(ResponseModel):
    candidacy_id: str
    assignment_id: str
    assignment_title: str
    client_id: str
    client_name: str
    consultant_id: str
    agency_id: str
    status: CandidacyStatus
    rate: RateBreakdownOut
    rate_version: int
    answers: list[PartyAnswerOut] = Field(description="for the current rate")
    consent_requested_at: datetime | None
    expires_at: datetime | None
    proposal_id: str | None
    sent_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    declined_by: str | None
    interviews: list[InterviewResponse]


class CandidacyListItem(ResponseModel):
    candidacy_id: str
    assignment_id: str
    consultant_id: str
    agency_id: str
    status: CandidacyStatus
    rate: RateBreakdownOut
    expires_at: datetime | None
    updated_at: datetime


class CandidacyListResponse(ResponseModel):
    items: list[CandidacyListItem]


class SkippedOut(ResponseModel):
    candidacy_id: str
    reason: str


class ProposalSummary(ResponseModel):
    proposal_id: str
    assignment_id: str
    client_id: str
    sent_at: datetime
    candidate_count: int
    message: str | None


class SendProposalResponse(ResponseModel):
    proposal: ProposalSummary
    skipped: list[SkippedOut]


class ProposalListResponse(ResponseModel):
    items: list[ProposalSummary]


class CandidateCardOut(ResponseModel):
    candidacy_id: str
    status: CandidacyStatus = Field(description="withdrawn once a consent is withdrawn; nothing else is shown then")
    display_name: str | None = Field(description="first name and the last name's initial")
    title: str | None
    rate: RateBreakdownOut | None
    engagement_id: str | None = Field(None, description="once the client accepted: the engagement its contracts belong to")


class ProposalResponse(ResponseModel):
    proposal_id: str
    assignment_id: str
    assignment_title: str
    sent_at: datetime
    message: str | None
    candidates: list[CandidateCardOut]


class RedactedProfileResponse(ResponseModel):
    """A proposed consultant as the client sees them: no contact data before a contract."""

    candidacy_id: str
    status: CandidacyStatus
    display_name: str
    title: str | None
    summary: str | None
    skills: list[dict[str, Any]]
    experience: list[dict[str, Any]]
    education: list[dict[str, Any]]
    languages: list[LanguageOut]
    availability: AvailabilityOut | None
    rate: RateBreakdownOut


class AgentResponse(ResponseModel):
    consultant_id: str
    agent_id: str
    assigned_at: datetime
    assigned_by: str
    note: str | None
