"""Performance management during an engagement: scheduled evaluation rounds, their three parts, and the
escalations they raise for the consultant's Consultant Agent.

An active engagement is evaluated on a schedule: the first round is due ``first_after_days`` after the
start (14 unless staff set otherwise), then every ``every_days`` (30), until the end date. Each due date
makes one round, under an id derived from the engagement and the date, so however often the job runs
the round is made once. In a round:

* the client (any of the client company's users) rates the delivery on four fixed criteria, each 1-5 with
  a comment;
* the consultant writes a self-assessment (text, optionally scored on the same criteria);
* the consultant's agent (or any staff member) records a check-in: notes for staff, feedback for the consultant.

Each part is given once. A round is open until all three parts are in (completed), or until it is
superseded by the next due date (lapsed): ``closes_on`` = due date + ``every_days``.

Escalations (one per cause and round, again under a derived id): the client's rating with any criterion
at 2 or below (``LOW_SCORE``; an average below 3 always has one, so this rule is the stricter of the two),
or the client's rating still missing after the deadline (due date + ``respond_within_days``, 7).

    round:      open → completed | lapsed
    escalation: open → resolved (with a note)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from chalicelib.errors import Conflict

MIN_SCORE, MAX_SCORE = 1, 5
LOW_SCORE = 2  # a criterion of the client's rating at or below this opens an escalation
DEFAULT_FIRST_AFTER_DAYS = 14
DEFAULT_EVERY_DAYS = 30
DEFAULT_RESPOND_WITHIN_DAYS = 7
# The reminder before the deadline goes out this many days before it (so a deadline is at least 3 days out).
REMIND_BEFORE_DAYS = 2
FIRST_AFTER_DAYS_RANGE = (1, 365)
EVERY_DAYS_RANGE = (7, 365)
RESPOND_WITHIN_DAYS_RANGE = (REMIND_BEFORE_DAYS + 1, 30)
TEXT_MAX_CHARS = 4000
COMMENT_MAX_CHARS = 1000


class Criterion(StrEnum):
    QUALITY = "quality"
    COMMUNICATION = "communication"
    EXPERTISE = "expertise"
    RELIABILITY = "reliability"


@dataclass(frozen=True)
class CriterionScore:
    score: int
    comment: str | None = None

    def __post_init__(self) -> None:
        if not MIN_SCORE <= self.score <= MAX_SCORE:
            raise ValueError(f"a score is {MIN_SCORE} to {MAX_SCORE}")


@dataclass(frozen=True)
class Scores:
    """One score per criterion, all four."""

    quality: CriterionScore
    communication: CriterionScore
    expertise: CriterionScore
    reliability: CriterionScore

    def of(self, criterion: Criterion) -> CriterionScore:
        score: CriterionScore = getattr(self, criterion.value)
        return score

    @property
    def low(self) -> tuple[Criterion, ...]:
        """The criteria at or below ``LOW_SCORE``, in the fixed order."""
        return tuple(c for c in Criterion if self.of(c).score <= LOW_SCORE)

    @property
    def average(self) -> float:
        return sum(self.of(c).score for c in Criterion) / len(Criterion)


@dataclass(frozen=True)
class ClientRating:
    scores: Scores
    submitted_at: datetime
    submitted_by: str  # the client's user
    comment: str | None = None


@dataclass(frozen=True)
class SelfAssessment:
    text: str
    submitted_at: datetime
    submitted_by: str
    scores: Scores | None = None


@dataclass(frozen=True)
class CheckIn:
    notes: str | None  # the agent's record of the check-in: staff only (None also where a reader may not see it)
    feedback: str  # to the consultant
    recorded_at: datetime
    recorded_by: str
    by_agent: bool  # the consultant's own agent, not another staff member


class Part(StrEnum):
    CLIENT_RATING = "client_rating"
    SELF_ASSESSMENT = "self_assessment"
    CHECK_IN = "check_in"


_PART_OF: dict[type, Part] = {ClientRating: Part.CLIENT_RATING, SelfAssessment: Part.SELF_ASSESSMENT, CheckIn: Part.CHECK_IN}


class RoundStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"  # all three parts are in
    LAPSED = "lapsed"  # superseded by the next due date with parts still missing


@dataclass
class EvaluationRound:
    evaluation_id: str  # derived from the engagement and the due date: see ``round_id``
    engagement_id: str
    assignment_id: str
    client_id: str
    agency_id: str
    consultant_id: str
    due_date: date
    deadline: date  # the client's rating is missed once this whole day has passed
    closes_on: date  # the round lapses on this day if still open
    opened_at: datetime
    agent_id: str | None  # the consultant's agent, kept current by the jobs (their workspace index)
    status: RoundStatus = RoundStatus.OPEN
    revision: int = 0
    client_rating: ClientRating | None = None
    self_assessment: SelfAssessment | None = None
    check_in: CheckIn | None = None
    closed_at: datetime | None = None

    @property
    def given(self) -> frozenset[Part]:
        parts = {Part.CLIENT_RATING: self.client_rating, Part.SELF_ASSESSMENT: self.self_assessment, Part.CHECK_IN: self.check_in}
        return frozenset(p for p, value in parts.items() if value is not None)

    @property
    def missing(self) -> frozenset[Part]:
        return frozenset(Part) - self.given

    def reminder_day(self) -> date:
        return self.deadline - timedelta(days=REMIND_BEFORE_DAYS)

    def with_part(self, value: ClientRating | SelfAssessment | CheckIn, now: datetime) -> EvaluationRound:
        """The round with one part given (completed when it was the last one); Conflict when the round is
        closed or the part is in already."""
        part = _PART_OF[type(value)]
        if self.status is not RoundStatus.OPEN:
            raise Conflict(f"The evaluation is {self.status.value}.", current_state=self.status.value)
        if part in self.given:
            raise Conflict(f"The {part.value.replace('_', ' ')} of this evaluation is in already.", current_state=self.status.value)
        if isinstance(value, ClientRating):
            updated = replace(self, client_rating=value)
        elif isinstance(value, SelfAssessment):
            updated = replace(self, self_assessment=value)
        else:
            updated = replace(self, check_in=value)
        updated.revision = self.revision + 1
        if not updated.missing:
            updated = replace(updated, status=RoundStatus.COMPLETED, closed_at=now)
        return updated

    def lapsed(self, now: datetime) -> EvaluationRound:
        return replace(self, status=RoundStatus.LAPSED, closed_at=now, revision=self.revision + 1)


class EscalationReason(StrEnum):
    LOW_SCORE = "low_score"
    MISSED_EVALUATION = "missed_evaluation"


class EscalationStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass
class Escalation:
    escalation_id: str  # derived from the round and the reason: one per cause and round
    reason: EscalationReason
    evaluation_id: str
    engagement_id: str
    consultant_id: str
    due_date: date
    opened_at: datetime
    agent_id: str | None  # whose workspace lists it (kept current like the round's); any staff may act
    detail: str  # what the agent reads first: the low criteria, or the missed deadline
    status: EscalationStatus = EscalationStatus.OPEN
    revision: int = 0
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None

    def resolved(self, by: str, note: str, now: datetime) -> Escalation:
        if self.status is not EscalationStatus.OPEN:
            raise Conflict(f"The escalation is {self.status.value}.", current_state=self.status.value)
        return replace(
            self, status=EscalationStatus.RESOLVED, resolved_at=now, resolved_by=by, resolution_note=note, revision=self.revision + 1
        )


class ReminderKind(StrEnum):
    DUE = "due"  # on the due date
    DEADLINE = "deadline"  # ``REMIND_BEFORE_DAYS`` before the deadline, to whoever has not answered


@dataclass(frozen=True)
class EvaluationReminder:
    """That one reminder of a round went to one person: stored with the notice itself (inserted only if
    absent), so however often the job runs, nobody gets it twice."""

    evaluation_id: str
    kind: ReminderKind
    user_id: str
    sent_at: datetime


@dataclass(frozen=True)
class EvaluationSchedule:
    """An engagement's cadence of evaluations; an engagement without one follows the defaults. Due dates
    before the day a schedule was set (or the engagement activated) are not evaluated: see ``latest_due``."""

    engagement_id: str
    first_after_days: int = DEFAULT_FIRST_AFTER_DAYS
    every_days: int = DEFAULT_EVERY_DAYS
    respond_within_days: int = DEFAULT_RESPOND_WITHIN_DAYS
    set_at: datetime | None = None  # None: the defaults, never set by staff
    set_by: str | None = None
    revision: int = 0

    def __post_init__(self) -> None:
        for name, (low, high) in (
            ("first_after_days", FIRST_AFTER_DAYS_RANGE),
            ("every_days", EVERY_DAYS_RANGE),
            ("respond_within_days", RESPOND_WITHIN_DAYS_RANGE),
        ):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name} must be {low} to {high}")
        if self.respond_within_days >= self.every_days:
            raise ValueError("respond_within_days must be shorter than every_days: a round's deadline comes before the next round")

    def same_cadence(self, other: EvaluationSchedule) -> bool:
        return (self.first_after_days, self.every_days, self.respond_within_days) == (
            other.first_after_days,
            other.every_days,
            other.respond_within_days,
        )

    def first_due(self, start: date) -> date:
        return start + timedelta(days=self.first_after_days)

    def due_dates(self, start: date, end: date) -> list[date]:
        """Every due date from the first to the end date (inclusive)."""
        found, due, step = [], self.first_due(start), timedelta(days=self.every_days)
        while due <= end:
            found.append(due)
            due += step
        return found

    def latest_due(self, start: date, end: date, today: date, not_before: date) -> date | None:
        """The last due date on or before ``today`` (and the end), if it is not before ``not_before``:
        the round the job opens. Earlier due dates it never opened are left out (a job down for a while
        does not send a backlog of rounds at once)."""
        first, last = self.first_due(start), min(today, end)
        if last < first:
            return None
        due = first + timedelta(days=(last - first).days // self.every_days * self.every_days)
        return due if due >= not_before else None

    def next_due(self, start: date, end: date, today: date, not_before: date) -> date | None:
        """The first due date after ``today`` that will be evaluated, if any."""
        first = self.first_due(start)
        after = max(today + timedelta(days=1), not_before, first)
        steps = -(-(after - first).days // self.every_days)  # ceiling division: the first due date >= after
        due = first + timedelta(days=steps * self.every_days)
        return due if due <= end else None

    def round_dates(self, due: date) -> tuple[date, date]:
        """The deadline and the closing day of the round due on ``due``."""
        return due + timedelta(days=self.respond_within_days), due + timedelta(days=self.every_days)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def derived_id(day: date, *parts: str) -> str:
    """A ULID made of ``day`` (its time part: sorted by date) and a hash of ``parts`` (its random part):
    the same inputs always make the same id, which is how a round or an escalation is made only once."""
    millis = int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)
    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:10], "big")
    value = (millis << 80) | digest
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def round_id(engagement_id: str, due: date) -> str:
    return derived_id(due, "evaluation", engagement_id, due.isoformat())


def escalation_id(evaluation_id: str, due: date, reason: EscalationReason) -> str:
    return derived_id(due, "escalation", evaluation_id, reason.value)
