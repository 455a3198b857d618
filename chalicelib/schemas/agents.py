"""Response models of the Consultant Agent's workspace."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from chalicelib.domain.contracts import EngagementStatus
from chalicelib.domain.evaluations import EscalationReason, Part
from chalicelib.domain.proposals import CandidacyStatus, InterviewStatus
from chalicelib.schemas.base import ResponseModel


class DeskCandidacyOut(ResponseModel):
    candidacy_id: str
    assignment_id: str
    client_id: str
    status: CandidacyStatus
    updated_at: datetime


class DeskInterviewOut(ResponseModel):
    interview_id: str
    candidacy_id: str
    status: InterviewStatus
    starts_at: datetime = Field(description="the slot picked, or the earliest proposed")
    agent_invited: bool = Field(description="whether this agent is invited to it")


class DeskEngagementOut(ResponseModel):
    engagement_id: str
    client_id: str
    status: EngagementStatus
    start_date: date
    end_date: date


class DeskEvaluationOut(ResponseModel):
    evaluation_id: str
    engagement_id: str
    due_date: date
    deadline: date = Field(description="the client's rating is missed after this day")
    missing: list[Part]


class DeskEscalationOut(ResponseModel):
    escalation_id: str
    reason: EscalationReason
    evaluation_id: str
    engagement_id: str
    opened_at: datetime
    detail: str


class ConsultantDeskOut(ResponseModel):
    consultant_id: str
    name: str
    assigned_at: datetime
    handover_note: str | None
    open_candidacies: list[DeskCandidacyOut]
    interviews: list[DeskInterviewOut] = Field(description="requested or scheduled, soonest first")
    engagements: list[DeskEngagementOut] = Field(description="being contracted or active")
    due_evaluations: list[DeskEvaluationOut] = Field(description="open rounds with a part missing, oldest due first")
    escalations: list[DeskEscalationOut] = Field(description="open, oldest first")


class AgentWorkspaceOut(ResponseModel):
    agent_id: str
    name: str
    consultants: list[ConsultantDeskOut]
