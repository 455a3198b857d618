"""Reviews after the engagement: the client and the consultant review each other; staff may hide a review."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import reviews as s
    from chalicelib.services import reviews
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.reviews")
    reviews = LazyModule("chalicelib.services.reviews")

bp = Blueprint(__name__)
STAFF = frozenset({Role.STAFF})


@operation(
    bp,
    "/engagements/{engagement_id}/reviews",
    "POST",
    summary="Review the other side of an ended engagement (the client company's users, or the consultant): once per side",
    tag="reviews",
    request=lambda: s.ReviewIn,
    response=lambda: s.ReviewOut,
    status=201,
    roles=ANY_ROLE,
    errors=(409,),
)
def create_review(call: Call[s.ReviewIn, Any]) -> s.ReviewOut:
    seen = reviews.create_review(call.container.reviews, call.user, call.path["engagement_id"], call.body.rating, call.body.text)
    return s.review_out(seen)


@operation(
    bp,
    "/engagements/{engagement_id}/reviews",
    "GET",
    summary="An engagement's reviews as far as I may read them, and where the reviewing stands",
    tag="reviews",
    response=lambda: s.EngagementReviewsResponse,
    roles=ANY_ROLE,
)
def list_engagement_reviews(call: Call[Any, Any]) -> s.EngagementReviewsResponse:
    found = reviews.engagement_reviews(call.container.reviews, call.user, call.path["engagement_id"])
    engagement = found.engagement
    return s.EngagementReviewsResponse(
        engagement_id=engagement.engagement_id,
        engagement_status=engagement.status,
        ended_at=engagement.ended_at,
        reviews_close_at=found.closes_at,
        my_side=found.my_side,
        submitted=sorted(found.submitted),
        reviews=[s.review_out(r) for r in found.reviews],
    )


@operation(
    bp,
    "/reviews/{review_id}",
    "GET",
    summary="A review (staff; its author's side; once revealed and unless hidden, the reviewed party and the agency)",
    tag="reviews",
    response=lambda: s.ReviewOut,
    roles=ANY_ROLE,
)
def get_review(call: Call[Any, Any]) -> s.ReviewOut:
    return s.review_out(reviews.get_review(call.container.reviews, call.user, call.path["review_id"]))


@operation(
    bp,
    "/reviews/{review_id}",
    "PUT",
    summary="Change my side's review until it is revealed",
    tag="reviews",
    request=lambda: s.ReviewIn,
    response=lambda: s.ReviewOut,
    roles=ANY_ROLE,
    errors=(409,),
)
def edit_review(call: Call[s.ReviewIn, Any]) -> s.ReviewOut:
    seen = reviews.edit_review(call.container.reviews, call.user, call.path["review_id"], call.body.rating, call.body.text)
    return s.review_out(seen)


@operation(
    bp,
    "/reviews/{review_id}/hide",
    "POST",
    summary="Hide a review from everyone but staff and its author, with the reason (staff)",
    tag="reviews",
    request=lambda: s.HideReviewIn,
    response=lambda: s.ReviewOut,
    roles=STAFF,
    errors=(409,),
)
def hide_review(call: Call[s.HideReviewIn, Any]) -> s.ReviewOut:
    return s.review_out(reviews.hide_review(call.container.reviews, call.user, call.path["review_id"], call.body.reason))


@operation(
    bp,
    "/consultants/{user_id}/reviews",
    "GET",
    summary="Clients' reviews of a consultant, revealed and not hidden, with the rating (staff, the consultant, its agency)",
    tag="reviews",
    response=lambda: s.ConsultantReviewsResponse,
    roles=ANY_ROLE,
)
def consultant_reviews(call: Call[Any, Any]) -> s.ConsultantReviewsResponse:
    ports = call.container.reviews
    user_id = call.path["user_id"]
    found = reviews.consultant_reviews(ports, call.user, user_id)
    count, average = reviews.consultant_rating(ports, user_id)
    return s.ConsultantReviewsResponse(
        consultant_id=user_id, rating=s.RatingOut(count=count, average=average), items=[s.review_out(r) for r in found]
    )
