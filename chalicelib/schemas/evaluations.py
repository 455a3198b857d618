"""Request and response models of evaluations during an engagement and the escalations they raise."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from chalicelib.domain.evaluations import (
    COMMENT_MAX_CHARS,
    DEFAULT_EVERY_DAYS,
    DEFAULT_FIRST_AFTER_DAYS,
    DEFAULT_RESPOND_WITHIN_DAYS,
    EVERY_DAYS_RANGE,
    FIRST_AFTER_DAYS_RANGE,
    MAX_SCORE,
    MIN_SCORE,
    RESPOND_WITHIN_DAYS_RANGE,
    TEXT_MAX_CHARS,
    EscalationReason,
    EscalationStatus,
    Part,
    RoundStatus,
)
from chalicelib.schemas.base import RequestModel, ResponseModel

Comment = Annotated[str, StringConstraints(min_length=1, max_length=COMMENT_MAX_CHARS)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_CHARS)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class CriterionScoreIn(RequestModel):
    score: int = Field(ge=MIN_SCORE, le=MAX_SCORE, description="1 (poor) to 5 (excellent)")
    comment: Comment | None = Field(None, description="why; required from the client for a score of 2 or less")


class ScoresIn(RequestModel):
    quality: CriterionScoreIn
    communication: CriterionScoreIn
    expertise: CriterionScoreIn
    reliability: CriterionScoreIn


class ClientRatingIn(ScoresIn):
    """The client's rating of the delivery: every criterion 1-5 with a comment (required at 2 or less, which
    escalates to the consultant's agent)."""

    comment: Comment | None = Field(None, description="anything else about the period")


class SelfAssessmentIn(RequestModel):
    text: Text = Field(description="the consultant's own account of the period")
    scores: ScoresIn | None = Field(None, description="optionally, the same four criteria")


class CheckInIn(RequestModel):
    feedback: Text = Field(description="to the consultant, who is sent it")
    notes: Text | None = Field(None, description="the agent's record of the check-in, for staff only")


class ScheduleIn(RequestModel):
    first_after_days: int = Field(
        DEFAULT_FIRST_AFTER_DAYS,
        ge=FIRST_AFTER_DAYS_RANGE[0],
        le=FIRST_AFTER_DAYS_RANGE[1],
        description="the first round is due this many days after the start",
    )
    every_days: int = Field(DEFAULT_EVERY_DAYS, ge=EVERY_DAYS_RANGE[0], le=EVERY_DAYS_RANGE[1], description="then one every this many days")
    respond_within_days: int = Field(
        DEFAULT_RESPOND_WITHIN_DAYS,
        ge=RESPOND_WITHIN_DAYS_RANGE[0],
        le=RESPOND_WITHIN_DAYS_RANGE[1],
        description="the client's rating is missed (and escalated) this many days after the due date",
    )

    @model_validator(mode="after")
    def _deadline_before_next_round(self) -> ScheduleIn:
        if self.respond_within_days >= self.every_days:
            raise ValueError("respond_within_days must be shorter than every_days")
        return self


class ResolveEscalationIn(RequestModel):
    note: Note = Field(description="what was done")


class DueQuery(RequestModel):
    due_before: date | None = Field(None, description="open rounds due before this day (default: tomorrow, i.e. everything due so far)")


class EscalationQuery(RequestModel):
    status: EscalationStatus = EscalationStatus.OPEN


class CriterionScoreOut(ResponseModel):
    score: int
    comment: str | None


class ScoresOut(ResponseModel):
    quality: CriterionScoreOut
    communication: CriterionScoreOut
    expertise: CriterionScoreOut
    reliability: CriterionScoreOut


class ClientRatingOut(ResponseModel):
    scores: ScoresOut
    average: float
    comment: str | None
    submitted_at: datetime
    submitted_by: str


class SelfAssessmentOut(ResponseModel):
    text: str
    scores: ScoresOut | None
    submitted_at: datetime


class CheckInOut(ResponseModel):
    feedback: str
    notes: str | None = Field(description="staff only")
    recorded_at: datetime
    recorded_by: str
    by_agent: bool = Field(description="recorded by the consultant's own agent (else another staff member)")


class EvaluationOut(ResponseModel):
    evaluation_id: str
    engagement_id: str
    consultant_id: str
    due_date: date
    deadline: date = Field(description="the client's rating is escalated as missed after this day")
    closes_on: date = Field(description="the round lapses on this day if parts are still missing")
    status: RoundStatus
    opened_at: datetime
    closed_at: datetime | None
    given: list[Part] = Field(description="the parts that are in (whether or not the reader may read them)")
    client_rating: ClientRatingOut | None
    self_assessment: SelfAssessmentOut | None = Field(description="the consultant and staff")
    check_in: CheckInOut | None = Field(description="the consultant (without the notes) and staff")


class ScheduleOut(ResponseModel):
    first_after_days: int
    every_days: int
    respond_within_days: int
    set_at: datetime | None = Field(description="when staff set it; null: the defaults")
    set_by: str | None


class EngagementEvaluationsResponse(ResponseModel):
    schedule: ScheduleOut
    next_due_date: date | None = Field(description="the next round, if the engagement has one to come")
    items: list[EvaluationOut]


class EvaluationListResponse(ResponseModel):
    items: list[EvaluationOut]


class EscalationOut(ResponseModel):
    escalation_id: str
    reason: EscalationReason
    status: EscalationStatus
    evaluation_id: str
    engagement_id: str
    consultant_id: str
    agent_id: str | None
    due_date: date
    opened_at: datetime
    detail: str
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class EscalationListResponse(ResponseModel):
    items: list[EscalationOut]
