"""Request and response models of the reviews after an engagement."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, StringConstraints

from chalicelib.domain.contracts import EngagementStatus
from chalicelib.domain.reviews import MAX_RATING, MIN_RATING, REVIEW_TEXT_MAX_CHARS, ReviewSide
from chalicelib.schemas.base import RequestModel, ResponseModel, ShortText

if TYPE_CHECKING:
    from chalicelib.services.reviews import SeenReview

Rating = Annotated[int, Field(ge=MIN_RATING, le=MAX_RATING, description=f"{MIN_RATING} (poor) to {MAX_RATING} (excellent)")]
ReviewText = Annotated[str, StringConstraints(min_length=1, max_length=REVIEW_TEXT_MAX_CHARS)]


class ReviewIn(RequestModel):
    rating: Rating
    text: ReviewText


class HideReviewIn(RequestModel):
    reason: ShortText = Field(description="why: recorded with who hid it and when, and told to the review's author")


class HiddenOut(ResponseModel):
    at: datetime
    reason: str
    by: str | None = Field(description="the staff member who hid it (to staff only)")


class ReviewOut(ResponseModel):
    review_id: str
    engagement_id: str | None = Field(description="None in a consultant's list for an engagement the caller is no party to")
    author_side: ReviewSide = Field(description="who wrote it: the client company (of the consultant) or the consultant (of the client)")
    consultant_id: str
    client_id: str | None = Field(description="the client company; None where engagement_id is")
    rating: int
    text: str
    created_at: datetime
    updated_at: datetime
    revealed: bool = Field(description="visible to the reviewed party: both reviews are in, or the review window closed")
    revealed_at: datetime | None
    reveal_deadline: datetime = Field(description="the end of the review window: revealed then at the latest")
    editable: bool = Field(description="the caller may still change it (its author's side, until it is revealed)")
    hidden: HiddenOut | None = Field(description="staff hid it: then only staff and its author's side see it")
    written_by: str | None = Field(description="the user who wrote it (to staff and the author's side only)")


class EngagementReviewsResponse(ResponseModel):
    engagement_id: str
    engagement_status: EngagementStatus
    ended_at: datetime | None
    reviews_close_at: datetime | None = Field(description="reviews are written until then; None before the engagement ended")
    my_side: ReviewSide | None = Field(description="the side the caller reviews for, if any")
    submitted: list[ReviewSide] = Field(description="the sides whose review is in (what it says shows once revealed)")
    reviews: list[ReviewOut] = Field(description="the reviews the caller may read")


class RatingOut(ResponseModel):
    count: int = Field(description="clients' reviews that count: revealed and not hidden")
    average: float | None = Field(description="their average rating, two decimals; None without any")


class ConsultantReviewsResponse(ResponseModel):
    consultant_id: str
    rating: RatingOut
    items: list[ReviewOut] = Field(description="clients' reviews of the consultant, revealed and not hidden, oldest first")


def review_out(seen: SeenReview) -> ReviewOut:
    r = seen.review
    hidden = r.hidden
    return ReviewOut(
        review_id=r.review_id,
        engagement_id=r.engagement_id if seen.shows_engagement else None,
        author_side=r.side,
        consultant_id=r.consultant_id,
        client_id=r.client_id if seen.shows_engagement else None,
        rating=r.rating,
        text=r.text,
        created_at=r.created_at,
        updated_at=r.updated_at,
        revealed=seen.revealed_at is not None,
        revealed_at=seen.revealed_at,
        reveal_deadline=r.reveal_deadline,
        editable=seen.editable,
        # Whoever reads a hidden review (staff, its author's side, the person's export) learns that and why.
        hidden=HiddenOut(at=hidden.at, reason=hidden.reason, by=hidden.by if seen.as_staff else None) if hidden else None,
        written_by=r.author_id if seen.as_staff or seen.own else None,
    )
