"""The personal-data export (GDPR Art. 15/20) as the API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from chalicelib.schemas.accounts import DownloadResponse, OrganisationResponse, UserResponse
from chalicelib.schemas.base import ResponseModel
from chalicelib.schemas.consents import AuditEntryResponse, ConsentEntryResponse, HourlyRateOut
from chalicelib.schemas.contracts import EngagementRecordOut
from chalicelib.schemas.engagement_changes import ChangeRecordOut
from chalicelib.schemas.evaluations import EscalationOut, EvaluationOut
from chalicelib.schemas.files import UploadedFileResponse
from chalicelib.schemas.notifications import NotificationResponse
from chalicelib.schemas.profiles import ProfileResponse
from chalicelib.schemas.proposals import AgentResponse, CandidacyListItem, InterviewResponse
from chalicelib.schemas.resume import ResumeResponse
from chalicelib.schemas.reviews import ReviewOut


class ConsentEvidenceResponse(ConsentEntryResponse):
    ip: str | None
    user_agent: str | None


class DisclosureResponse(ResponseModel):
    client_id: str
    client_name: str
    assignment_id: str
    assignment_title: str
    proposal_id: str
    disclosed_at: datetime
    disclosed_by: str
    consent_entry_ids: list[str] = Field(description="the consultant's and the agency's consents it rested on")
    hourly_rate: HourlyRateOut


class PersonalDataExportResponse(ResponseModel):
    generated_at: datetime
    user: UserResponse
    organisation: OrganisationResponse | None = Field(description="the person's own one-person agency, if any")
    profile: ProfileResponse | None
    resume: ResumeResponse
    json_resume: dict[str, Any] | None = Field(
        description="the profile and resume as JSON Resume (as GET /me/resume/json-resume gives it); null without either"
    )
    files: list[UploadedFileResponse] = Field(
        description="each with an excerpt of its text; their content and full texts come zipped: POST /me/export/archive"
    )
    consents: list[ConsentEvidenceResponse]
    disclosures: list[DisclosureResponse] = Field(description="every time the profile was shown to a client")
    candidacies: list[CandidacyListItem] = Field(description="the assignments the person was put forward for, with the rates")
    interviews: list[InterviewResponse] = Field(description="their interviews, with the agent's outcome and notes")
    engagements: list[EngagementRecordOut] = Field(description="the assignments they were contracted for, with the terms")
    consultant_agent: AgentResponse | None
    notifications: list[NotificationResponse] = Field(description="what the platform told the person, newest first")
    audit: list[AuditEntryResponse]
    reviews: list[ReviewOut] = Field(
        description="a consultant's reviews after their engagements: those they wrote, and those of them once revealed"
    )
    evaluations: list[EvaluationOut] = Field(
        description="a consultant's evaluation rounds, all of it: the clients' ratings, their self-assessments, the agent's notes"
    )
    escalations: list[EscalationOut] = Field(description="escalations to their agent about their evaluations")
    engagement_changes: list[ChangeRecordOut] = Field(description="changes proposed for their engagements, with every party's answer")


class ExportArchiveResponse(ResponseModel):
    archive_id: str
    status: Literal["preparing", "ready", "failed"] = Field(description="failed: ask for a new archive")
    created_at: datetime
    file_count: int | None = Field(description="once ready")
    download: DownloadResponse | None = Field(description="once ready: the zip behind a short-lived link")
