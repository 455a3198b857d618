"""Reviews after the engagement: the client and the consultant each rate the other once the engagement ended.

Each side writes one review per engagement (the client company's, written by any of its users, and the
consultant's), a rating of 1 to 5 with a text, while the review window is open: from the engagement's end
until ``REVIEW_WINDOW`` after it. A review is blind until it is revealed: when both are in (recorded in the
transaction that adds the second), or at the end of the window, whichever comes first. The deadline is a
stored fact (``reveal_deadline``), so whether a review is revealed is computed from it and the clock
(``revealed``); the scheduled job only records the reveal and tells the reviewed party, once:

    pending → revealed

The author may edit a review until it is revealed. Staff may hide a review (who, when, why): it is then
shown to staff and, marked hidden with the reason, to its author; to nobody else. A client's review of a
consultant counts in the consultant's rating (``ConsultantRating``) while it is revealed and not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

REVIEW_WINDOW = timedelta(days=14)  # from the engagement's end: reviews are written, then revealed whatever is in
MIN_RATING, MAX_RATING = 1, 5
REVIEW_TEXT_MAX_CHARS = 2000


class ReviewSide(StrEnum):
    """Who wrote a review: the client company (of the consultant) or the consultant (of the client)."""

    CLIENT = "client"
    CONSULTANT = "consultant"

    @property
    def other(self) -> ReviewSide:
        return ReviewSide.CONSULTANT if self is ReviewSide.CLIENT else ReviewSide.CLIENT


class ReviewStatus(StrEnum):
    PENDING = "pending"  # in, not recorded as revealed (it may be revealed by its deadline already: see ``revealed``)
    REVEALED = "revealed"  # the reveal is recorded and the reviewed party was told


@dataclass(frozen=True)
class Hiding:
    """Staff took a review out of sight."""

    by: str  # the staff member
    at: datetime
    reason: str


@dataclass
class Review:
    review_id: str
    engagement_id: str
    side: ReviewSide  # the author's side; the reviewed party is the other one
    consultant_id: str
    client_id: str
    agency_id: str
    author_id: str  # the user who wrote it (for the client side: one of the company's users)
    rating: int
    text: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
    reveal_deadline: datetime  # the end of the review window: revealed then, whatever the other side did
    status: ReviewStatus = ReviewStatus.PENDING
    revision: int = 0
    revealed_at: datetime | None = None  # recorded: when both were in, or the deadline
    hidden: Hiding | None = None

    def __post_init__(self) -> None:
        if not MIN_RATING <= self.rating <= MAX_RATING:
            raise ValueError(f"a rating is {MIN_RATING} to {MAX_RATING}")
        if not 1 <= len(self.text) <= REVIEW_TEXT_MAX_CHARS:
            raise ValueError(f"a review's text is 1 to {REVIEW_TEXT_MAX_CHARS} characters")

    def revealed(self, now: datetime) -> bool:
        """Revealed when recorded so (both were in), or once its deadline passed, recorded or not yet."""
        return self.status is ReviewStatus.REVEALED or now >= self.reveal_deadline

    def revealed_moment(self, now: datetime) -> datetime | None:
        if self.revealed_at is not None:
            return self.revealed_at
        return self.reveal_deadline if now >= self.reveal_deadline else None

    @property
    def counted(self) -> bool:
        """Whether it is in the consultant's rating: a client's review, recorded revealed, not hidden."""
        return self.side is ReviewSide.CLIENT and self.status is ReviewStatus.REVEALED and self.hidden is None

    def with_reveal(self, now: datetime) -> Review:
        """Recorded revealed: at ``now`` (both are in), or at its deadline when that passed first."""
        return replace(self, status=ReviewStatus.REVEALED, revealed_at=min(now, self.reveal_deadline), revision=self.revision + 1)


@dataclass
class ConsultantRating:
    """A consultant's rating from clients' reviews that count (see ``Review.counted``): kept with every change
    of what counts, in the same transaction, so that the matching reads it with one GetItem."""

    consultant_id: str
    updated_at: datetime
    count: int = 0
    total: int = 0  # the sum of the ratings
    revision: int = 0

    @property
    def average(self) -> float | None:
        return round(self.total / self.count, 2) if self.count else None

    def changed(self, rating: int, delta: int, now: datetime) -> ConsultantRating:
        """With one review's ``rating`` added (``delta`` 1) or taken out (``delta`` -1)."""
        return replace(self, count=self.count + delta, total=self.total + delta * rating, revision=self.revision + 1, updated_at=now)
