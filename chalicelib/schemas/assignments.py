"""Assignments as client forms send them and as the API shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from chalicelib.domain.assignments import AssignmentStatus, Seniority
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.schemas.base import CountryCode, RequestModel, ResponseModel
from chalicelib.schemas.consents import HourlyRateOut
from chalicelib.schemas.profiles import HourlyRateIn, LanguageCode
from chalicelib.schemas.resume import NormalisedSkillOut, SkillName, not_before


class LanguageRequirementIn(RequestModel):
    code: LanguageCode
    min_level: LanguageLevel = Field(description="the lowest level that will do")


class FixedFeeIn(HourlyRateIn):
    """The whole assignment's fee, in minor units."""


def _unique(values: list[str], what: str) -> list[str]:
    if len({v.casefold() for v in values}) != len(values):
        raise ValueError(f"each {what} may be listed once")
    return values


class AssignmentIn(RequestModel):
    """The whole assignment; a PUT replaces it."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=8000)]
    required_skills: list[SkillName] = Field(min_length=1, max_length=30, description="normalised to the skill taxonomy")
    nice_to_have_skills: list[SkillName] = Field(default_factory=list, max_length=30)
    seniority: Seniority
    start_date: date
    end_date: date | None = Field(None, description="empty: open-ended")
    share_of_full_time: int = Field(ge=1, le=100, description="percent of full time")
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    country: CountryCode | None = None
    work_modes: list[RemotePreference] = Field(min_length=1, max_length=3, description="the ways of working the client accepts")
    languages: list[LanguageRequirementIn] = Field(default_factory=list, max_length=10)
    max_hourly_rate: HourlyRateIn | None = Field(None, description="the budget per hour; or give a fixed fee")
    fixed_fee: FixedFeeIn | None = Field(None, description="the budget for the whole assignment; or give a maximum hourly rate")

    @field_validator("required_skills", "nice_to_have_skills")
    @classmethod
    def _skills_once(cls, skills: list[str]) -> list[str]:
        return _unique(skills, "skill")

    @field_validator("work_modes")
    @classmethod
    def _modes_once(cls, modes: list[RemotePreference]) -> list[RemotePreference]:
        if len(set(modes)) != len(modes):
            raise ValueError("each way of working may be listed once")
        return modes

    @field_validator("languages")
    @classmethod
    def _languages_once(cls, languages: list[LanguageRequirementIn]) -> list[LanguageRequirementIn]:
        _unique([language.code for language in languages], "language")
        return languages

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        return not_before(value, info, "start_date", "the end comes before the start")

    @model_validator(mode="after")
    def _one_budget_and_a_place(self) -> AssignmentIn:
        if (self.max_hourly_rate is None) == (self.fixed_fee is None):
            raise ValueError("give either a maximum hourly rate or a fixed fee")
        if RemotePreference.REMOTE not in self.work_modes and self.country is None:
            raise ValueError("give the country (and city) of the work when it is not fully remote")
        return self


class LanguageRequirementOut(ResponseModel):
    code: str
    min_level: LanguageLevel


class FixedFeeOut(ResponseModel):
    amount_minor: int
    currency: str


class AssignmentResponse(ResponseModel):
    assignment_id: str
    client_id: str
    status: AssignmentStatus
    title: str
    description: str
    required_skills: list[NormalisedSkillOut]
    nice_to_have_skills: list[NormalisedSkillOut]
    seniority: Seniority
    start_date: date
    end_date: date | None
    share_of_full_time: int
    city: str | None
    country: str | None
    work_modes: list[RemotePreference]
    languages: list[LanguageRequirementOut]
    max_hourly_rate: HourlyRateOut | None
    fixed_fee: FixedFeeOut | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class AssignmentListResponse(ResponseModel):
    items: list[AssignmentResponse]


class AssignmentStatusQuery(RequestModel):
    status: AssignmentStatus | None = Field(None, description="only assignments in this state")


class OpenAssignmentsQuery(RequestModel):
    status: AssignmentStatus = AssignmentStatus.OPEN


class MatchQuery(RequestModel):
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=10_000)
    min_required_coverage: float = Field(0.0, ge=0, le=1, description="only candidates with at least this share of the required skills")


class SkillMatchOut(ResponseModel):
    skill_id: str | None
    required_as: str = Field(description="the assignment's wording")
    consultant_wording: str
    level: int
    years: int


class MatchReasonsOut(ResponseModel):
    matched_required: list[SkillMatchOut]
    missing_required: list[str]
    matched_nice: list[SkillMatchOut]
    missing_nice: list[str]
    required_coverage: float
    rate_fit: Literal["within", "above", "other_currency", "unknown"]
    availability_fit: Literal["in_time", "late"]
    days_late: int
    languages_missing: list[str]
    location_fits: bool
    extent_fits: bool


class MatchCandidateOut(ResponseModel):
    user_id: str
    agency_id: str | None
    title: str
    score: float
    hourly_rate: HourlyRateOut | None
    available_from: date | None
    reasons: MatchReasonsOut


class MatchRunResponse(ResponseModel):
    run_id: str
    assignment_id: str
    engine: str
    taxonomy_version: str
    total: int = Field(description="candidates that pass the hard constraints and the filters")
    items: list[MatchCandidateOut]


class FittingAssignmentOut(ResponseModel):
    assignment: AssignmentResponse
    score: float
    reasons: MatchReasonsOut


class FittingAssignmentsResponse(ResponseModel):
    items: list[FittingAssignmentOut]
