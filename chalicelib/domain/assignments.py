"""A client company's assignment: what it needs, when, where and for what budget, and its lifecycle.

draft → open → filled | closed | cancelled (a draft may also be cancelled). Only draft and open
assignments may be edited; the others are final.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.errors import Conflict


class AssignmentStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    FILLED = "filled"  # a consultant was contracted for it
    CLOSED = "closed"  # the client stopped looking without filling it
    CANCELLED = "cancelled"


ASSIGNMENT_TRANSITIONS: dict[AssignmentStatus, frozenset[AssignmentStatus]] = {
    AssignmentStatus.DRAFT: frozenset({AssignmentStatus.OPEN, AssignmentStatus.CANCELLED}),
    AssignmentStatus.OPEN: frozenset({AssignmentStatus.FILLED, AssignmentStatus.CLOSED, AssignmentStatus.CANCELLED}),
    AssignmentStatus.FILLED: frozenset(),
    AssignmentStatus.CLOSED: frozenset(),
    AssignmentStatus.CANCELLED: frozenset(),
}
EDITABLE = frozenset({AssignmentStatus.DRAFT, AssignmentStatus.OPEN})


class Seniority(StrEnum):
    JUNIOR = "junior"
    MID = "mid"
    SENIOR = "senior"
    EXPERT = "expert"


@dataclass(frozen=True)
class SkillRequirement:
    skill_id: str | None  # the canonical skill, or None when kept as written
    name: str


@dataclass(frozen=True)
class LanguageRequirement:
    code: str  # ISO 639-1
    min_level: LanguageLevel


@dataclass(frozen=True)
class FixedFee:
    amount_minor: int
    currency: str


@dataclass
class Assignment:
    assignment_id: str
    client_id: str
    title: str
    description: str
    required_skills: list[SkillRequirement]
    seniority: Seniority
    start_date: date
    end_date: date | None
    share_of_full_time: int  # percent, 1-100
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    nice_to_have_skills: list[SkillRequirement] = field(default_factory=list)
    city: str | None = None
    country: str | None = None
    work_modes: list[RemotePreference] = field(default_factory=list)  # what the client accepts
    languages: list[LanguageRequirement] = field(default_factory=list)
    max_hourly_rate: HourlyRate | None = None  # exactly one of the budget fields is set
    fixed_fee: FixedFee | None = None
    status: AssignmentStatus = AssignmentStatus.DRAFT
    published_at: datetime | None = None

    def ensure_can_move_to(self, target: AssignmentStatus) -> None:
        if target not in ASSIGNMENT_TRANSITIONS[self.status]:
            raise Conflict(f"A {self.status.value} assignment cannot become {target.value}.")

    def ensure_editable(self) -> None:
        if self.status not in EDITABLE:
            raise Conflict(f"A {self.status.value} assignment can no longer be changed.")


@dataclass(frozen=True)
class RankedEntry:
    candidate_ref: str  # candidate_ref(run_id, user_id): checkable for a known person, never the id itself
    score: float
    relevance: float


def candidate_ref(run_id: str, user_id: str) -> str:
    """A run's reference to a candidate. Salted by the run so that runs cannot be joined on it; once the
    person is erased (the id gone everywhere) it points at nobody, so runs need no erasure of their own."""
    return hashlib.sha256(f"{run_id}:{user_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class MatchRun:
    """One run of the matching for an assignment, kept for audit: who ran it, with which engine, taxonomy
    and parameters, and what came out in which order (candidates by reference; those shown to staff are
    also in the audit log, under each person)."""

    assignment_id: str
    run_id: str
    at: datetime
    run_by: str
    engine: str
    taxonomy_version: str
    parameters: dict[str, float]
    ranked: tuple[RankedEntry, ...]  # the first MAX_RECORDED of them
    total: int


MAX_RECORDED = 200  # bounded, so that a run fits one item
