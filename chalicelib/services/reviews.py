"""Reviews after the engagement: the client and the consultant review each other, blind until both are in
or the review window closes (``domain/reviews.py``).

Every review's creation writes its engagement too (the engagement names each side's review, conditional
on the engagement's revision): two creates of one side serialise there and the second is refused (409),
and the two sides' creates serialise so that the second always sees the first and reveals both in its own
transaction. A reveal at the deadline needs no job to be visible (it is computed from the stored deadline
and the clock); the job records it and tells the reviewed party, once (a revision-checked transition).
The consultant's rating (count and sum of what counts) changes in the same transaction as every reveal
or hide that changes what counts, each a revision-checked write.

Who reads a review: staff; the author's side (its own, always: the consultant, or any of the client
company's users); and, once it is revealed and unless staff hid it, the reviewed party (the consultant,
or the client company's users) and the consultant's agency's admins. Anyone else: not found.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.contracts import Engagement
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import new_id
from chalicelib.domain.reviews import (
    MAX_RATING,
    MIN_RATING,
    REVIEW_TEXT_MAX_CHARS,
    ConsultantRating,
    Hiding,
    Review,
    ReviewSide,
    ReviewStatus,
)
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from chalicelib.logging import log_failure, logger
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.candidacies import ATTEMPTS, client_name, client_recipients
from chalicelib.services.contracts import ContractPorts, sees_engagement
from chalicelib.services.notifications import notify
from chalicelib.services.ports import AccountRepository, Changes, ReviewRepository, UnitOfWork


@dataclass(frozen=True)
class ReviewPorts:
    contracts: ContractPorts
    reviews: ReviewRepository

    @property
    def now(self) -> datetime:
        return self.contracts.now

    def commit(self, changes: Changes) -> None:
        self.contracts.commit(changes)

    @property
    def accounts(self) -> AccountRepository:
        return self.contracts.candidacies.assignments.accounts.accounts


@dataclass(frozen=True)
class SeenReview:
    """A review as one caller sees it."""

    review: Review
    revealed_at: datetime | None  # when it was (or, its deadline passed, is) revealed; None while blind
    editable: bool  # the caller may edit it now
    as_staff: bool  # read by staff: who wrote it and who hid it are shown
    own: bool  # the caller's side wrote it: who wrote it is shown
    shows_engagement: bool = True  # False in a consultant's list: an engagement the caller is no party to


@dataclass(frozen=True)
class EngagementReviews:
    engagement: Engagement
    my_side: ReviewSide | None  # the side the caller reviews for, if any
    submitted: frozenset[ReviewSide]  # the sides whose review is in (not what it says)
    closes_at: datetime | None  # the end of the review window (None before the engagement ended)
    reviews: list[SeenReview]


# --- who is who -------------------------------------------------------------------------------------------


def side_of(principal: Principal, consultant_id: str, client_id: str) -> ReviewSide | None:
    """The side the caller reviews for: the consultant themself, or any user of the client company."""
    if principal.has(Role.CONSULTANT) and principal.user_id == consultant_id:
        return ReviewSide.CONSULTANT
    if principal.has(Role.CLIENT) and principal.org_id == client_id:
        return ReviewSide.CLIENT
    return None


def may_read(principal: Principal, review: Review, now: datetime) -> bool:
    if principal.is_staff or side_of(principal, review.consultant_id, review.client_id) is review.side:
        return True  # staff; the author's side reads its own, hidden or not (with the reason)
    if review.hidden is not None or not review.revealed(now):
        return False
    reviewed = side_of(principal, review.consultant_id, review.client_id) is review.side.other
    return reviewed or principal.administers(review.agency_id)


def _seen(principal: Principal, review: Review, now: datetime, shows_engagement: bool = True) -> SeenReview:
    own = side_of(principal, review.consultant_id, review.client_id) is review.side
    editable = own and review.hidden is None and not review.revealed(now)
    return SeenReview(review, review.revealed_moment(now), editable, principal.is_staff, own, shows_engagement)


def _engagement(ports: ReviewPorts, principal: Principal, engagement_id: str) -> Engagement:
    engagement = ports.contracts.engagements.get_engagement(engagement_id)
    if engagement is None or not sees_engagement(principal, engagement):
        raise NotFound("Engagement not found.")
    return engagement


def _visible(ports: ReviewPorts, principal: Principal, review_id: str) -> Review:
    review = ports.reviews.get_review(review_id)
    if review is None or not may_read(principal, review, ports.now):
        raise NotFound("Review not found.")
    return review


def _checked(rating: int, text: str) -> str:
    issues = []
    if not MIN_RATING <= rating <= MAX_RATING:
        issues.append(FieldIssue("rating", f"from {MIN_RATING} to {MAX_RATING}"))
    text = text.strip()
    if not 1 <= len(text) <= REVIEW_TEXT_MAX_CHARS:
        issues.append(FieldIssue("text", f"1 to {REVIEW_TEXT_MAX_CHARS} characters"))
    if issues:
        raise InvalidInput("The review is not valid.", issues=issues)
    return text


# --- writing ----------------------------------------------------------------------------------------------


def create_review(ports: ReviewPorts, principal: Principal, engagement_id: str, rating: int, text: str) -> SeenReview:
    """The caller's side reviews the other, once, while the review window is open. When the other side's
    review is in, both are revealed now, in the same transaction."""
    text = _checked(rating, text)
    for _ in range(ATTEMPTS):
        engagement = _engagement(ports, principal, engagement_id)
        side = side_of(principal, engagement.consultant_id, engagement.client_id)
        if side is None:
            raise Forbidden("Only the client and the consultant of the engagement review it.")
        now = ports.now
        closes_at = _ensure_open(engagement, now)
        if side in engagement.reviews:
            raise Conflict("Your side's review of this engagement is in; edit it until it is revealed.", current_state="reviewed")
        consultant = ports.contracts.users(engagement.consultant_id)
        if consultant is None or consultant.status is UserStatus.DISABLED:
            # Erased, or being erased: nothing is filed under them again.
            raise Conflict("The consultant is no longer on the platform.")
        review = Review(
            review_id=new_id(),
            engagement_id=engagement_id,
            side=side,
            consultant_id=engagement.consultant_id,
            client_id=engagement.client_id,
            agency_id=engagement.agency_id,
            author_id=principal.user_id,
            rating=rating,
            text=text,
            created_at=now,
            updated_at=now,
            updated_by=principal.user_id,
            reveal_deadline=closes_at,
        )
        changes = Changes()
        updated = replace(
            engagement, reviews={**engagement.reviews, side: review.review_id}, revision=engagement.revision + 1, updated_at=now
        )
        changes.transition(updated, engagement.status.value, revision=engagement.revision)
        other_id = engagement.reviews.get(side.other)
        other = ports.reviews.get_review(other_id) if other_id else None
        if other is None:
            changes.insert(review)
        else:
            # Both are in: revealed together, now.
            review = replace(review, status=ReviewStatus.REVEALED, revealed_at=now)
            changes.insert(review)
            revealed = [review]
            if other.status is ReviewStatus.PENDING:
                revealed.append(other.with_reveal(now))
                changes.transition(revealed[-1], other.status.value, revision=other.revision)
            _record_reveals(ports, engagement, revealed, changes, now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue  # the engagement moved meanwhile (the other side's review, or the same side's): read again
        logger.info("review written", extra={"review_id": review.review_id, "engagement_id": engagement_id, "side": side.value})
        return _seen(principal, review, now)
    raise _busy()


def edit_review(ports: ReviewPorts, principal: Principal, review_id: str, rating: int, text: str) -> SeenReview:
    """The author's side changes its review until it is revealed (or hidden); after that, 409."""
    text = _checked(rating, text)
    for _ in range(ATTEMPTS):
        review = _visible(ports, principal, review_id)
        if side_of(principal, review.consultant_id, review.client_id) is not review.side:
            raise Forbidden("Only the review's author edits it.")
        now = ports.now
        if review.hidden is not None:
            raise Conflict("Staff hid this review; it can no longer change.", current_state="hidden")
        if review.revealed(now):
            raise Conflict("The review is revealed; it can no longer change.", current_state=ReviewStatus.REVEALED.value)
        if (review.rating, review.text) == (rating, text):
            return _seen(principal, review, now)  # saved unchanged (a double submit)
        edited = replace(review, rating=rating, text=text, updated_at=now, updated_by=principal.user_id, revision=review.revision + 1)
        try:
            ports.commit(Changes().transition(edited, review.status.value, revision=review.revision))
        except ConcurrencyConflict:
            continue  # revealed (the other side's review came in), hidden or edited meanwhile: read again
        return _seen(principal, edited, now)
    raise _busy()


def hide_review(ports: ReviewPorts, principal: Principal, review_id: str, reason: str) -> SeenReview:
    """Staff take a review out of sight, recording who, when and why: from then on only staff and its
    author's side (marked hidden, with the reason) see it, and it no longer counts in the rating. The
    author is told why. A hidden review stays hidden."""
    ensure_staff(principal)
    for _ in range(ATTEMPTS):
        review = ports.reviews.get_review(review_id)
        if review is None:
            raise NotFound("Review not found.")
        if review.hidden is not None:
            raise Conflict("The review is hidden already.", current_state="hidden")
        now = ports.now
        hidden = replace(review, hidden=Hiding(principal.user_id, now, reason), revision=review.revision + 1)
        changes = Changes().transition(hidden, review.status.value, revision=review.revision)
        if review.counted:
            _rate(ports, changes, review, -1, now)
        author = ports.contracts.users(review.author_id)
        if author is not None and author.status is UserStatus.ACTIVE:
            engagement = ports.contracts.engagements.get_engagement(review.engagement_id)
            params = {**_review_params(ports, review, engagement), "recipient_name": author.name, "reason": reason}
            notify(changes, author, "review_hidden", params, now, object_type="review", object_id=review_id)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue  # revealed or edited meanwhile: hidden as it is now
        logger.info("review hidden", extra={"review_id": review_id})
        return _seen(principal, hidden, now)
    raise _busy()


def reveal_due_reviews(ports: ReviewPorts) -> int:
    """The scheduled record of reveals at the deadline (readers see them revealed from the deadline on
    already): each is recorded, counted and told to the reviewed party once. Returns how many."""
    revealed = 0
    for due in ports.reviews.list_reviews_due(ports.now):
        try:
            revealed += _reveal_at_deadline(ports, due.review_id)
        except Exception as exc:
            log_failure("recording a review's reveal failed", exc, review_id=due.review_id)
    return revealed


def _reveal_at_deadline(ports: ReviewPorts, review_id: str) -> int:
    for _ in range(ATTEMPTS):
        review = ports.reviews.get_review(review_id)
        now = ports.now
        if review is None or review.status is not ReviewStatus.PENDING or now < review.reveal_deadline:
            return 0  # recorded meanwhile (both came in, or a concurrent run)
        engagement = ports.contracts.engagements.get_engagement(review.engagement_id)
        assert engagement is not None, "an engagement is never deleted"
        revealed = review.with_reveal(now)
        changes = Changes().transition(revealed, review.status.value, revision=review.revision)
        _record_reveals(ports, engagement, [revealed], changes, now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return 1
    raise _busy()


def _record_reveals(ports: ReviewPorts, engagement: Engagement, revealed: list[Review], changes: Changes, now: datetime) -> None:
    """What a recorded reveal brings along: the rating counts a client's review, and the reviewed party is told
    (unless staff hid it: then it is not theirs to read)."""
    for review in revealed:
        if review.counted:
            _rate(ports, changes, review, 1, now)
        if review.hidden is not None:
            continue
        params = _review_params(ports, review, engagement)
        for user in _reviewed_party(ports, engagement, review):
            notify(
                changes,
                user,
                "review_revealed",
                {**params, "recipient_name": user.name},
                now,
                object_type="engagement",
                object_id=engagement.engagement_id,
            )


def _rate(ports: ReviewPorts, changes: Changes, review: Review, delta: int, now: datetime) -> None:
    current = ports.reviews.get_rating(review.consultant_id)
    if current is None:
        if delta < 0 or ports.contracts.users(review.consultant_id) is None:
            return  # nothing counted (or the consultant was erased, rating and all): nothing to file under them
        changes.insert(ConsultantRating(review.consultant_id, now).changed(review.rating, delta, now))
    else:
        changes.update(current.changed(review.rating, delta, now), revision=current.revision)


def _reviewed_party(ports: ReviewPorts, engagement: Engagement, review: Review) -> list[User]:
    if review.side is ReviewSide.CONSULTANT:
        return client_recipients(ports.contracts.candidacies, engagement.client_id)
    consultant = ports.contracts.users(engagement.consultant_id)
    return [consultant] if consultant is not None and consultant.status is UserStatus.ACTIVE else []


def _review_params(ports: ReviewPorts, review: Review, engagement: Engagement | None) -> dict[str, str]:
    assignment = ports.contracts.candidacies.assignments.assignments.get_assignment(engagement.assignment_id) if engagement else None
    consultant = ports.contracts.users(review.consultant_id)
    author = client_name(ports.contracts.candidacies, review.client_id) if review.side is ReviewSide.CLIENT else None
    return {
        "assignment_title": assignment.title if assignment else "",
        "reviewer_name": author if author is not None else (consultant.name if consultant else ""),
        "link": f"{ports.contracts.candidacies.assignments.accounts.web_base_url}/engagements/{review.engagement_id}/reviews",
    }


def _ensure_open(engagement: Engagement, now: datetime) -> datetime:
    """The end of the engagement's review window, which must be open now."""
    closes_at = engagement.reviews_close_at
    if closes_at is None:
        raise Conflict("Reviews are written once the engagement has ended.", current_state=engagement.status.value)
    if now >= closes_at:
        raise Conflict("The review window of this engagement has closed.", current_state="closed")
    return closes_at


def _busy() -> Conflict:
    return Conflict("The review is being changed by someone else; try again.")


# --- reading ----------------------------------------------------------------------------------------------


def get_review(ports: ReviewPorts, principal: Principal, review_id: str) -> SeenReview:
    review = _visible(ports, principal, review_id)
    _audit_staff_reads(ports, principal, [review])
    return _seen(principal, review, ports.now)


def _audit_staff_reads(ports: ReviewPorts, principal: Principal, found: list[Review]) -> None:
    """A review is about its consultant (the client's rating of them, or theirs of the client): staff reads are
    logged against them, as reads of their profile are."""
    reads = [Read(r.consultant_id, "review", r.review_id) for r in found]
    record_staff_reads(ports.contracts.candidacies.assignments.accounts.uow, principal, ports.now, AuditAction.PROFILE_READ, reads)


def engagement_reviews(ports: ReviewPorts, principal: Principal, engagement_id: str) -> EngagementReviews:
    """The engagement's reviews the caller may read, and where the reviewing stands (which sides are in, until
    when), for everyone who sees the engagement."""
    engagement = _engagement(ports, principal, engagement_id)
    now = ports.now
    found = [r for r in (ports.reviews.get_review(i) for i in engagement.reviews.values()) if r is not None]
    readable = [r for r in sorted(found, key=lambda r: r.side.value) if may_read(principal, r, now)]
    _audit_staff_reads(ports, principal, readable)
    seen = [_seen(principal, r, now) for r in readable]
    closes_at = engagement.reviews_close_at
    my_side = side_of(principal, engagement.consultant_id, engagement.client_id)
    return EngagementReviews(engagement, my_side, frozenset(engagement.reviews), closes_at, seen)


def consultant_reviews(ports: ReviewPorts, principal: Principal, consultant_id: str) -> list[SeenReview]:
    """The clients' reviews of a consultant that are revealed and not hidden, oldest first: for staff (audited),
    the consultant and the admins of the consultant's agency. An engagement the caller is no party to (the
    consultant's work through another agency) is not named."""
    user = ports.accounts.get_user(consultant_id)
    allowed = (
        user is not None
        and Role.CONSULTANT in user.roles
        and (principal.is_staff or principal.user_id == consultant_id or (user.org_id is not None and principal.administers(user.org_id)))
    )
    if not allowed:
        raise NotFound("Consultant not found.")
    now = ports.now
    found = [r for r in ports.reviews.list_consultant_reviews(consultant_id) if _counts(r, now)]
    record_staff_reads(
        ports.contracts.candidacies.assignments.accounts.uow,
        principal,
        now,
        AuditAction.PROFILE_READ,
        [Read(consultant_id, "reviews", consultant_id)],
    )
    party = principal.is_staff or principal.user_id == consultant_id
    return [_seen(principal, r, now, shows_engagement=party or principal.administers(r.agency_id)) for r in found]


def _counts(review: Review, now: datetime) -> bool:
    return review.side is ReviewSide.CLIENT and review.hidden is None and review.revealed(now)


def consultant_rating(ports: ReviewPorts, consultant_id: str) -> tuple[int, float | None]:
    """How many clients' reviews of the consultant count and their average rating (None without any): one
    read of the stored aggregate, for the matching. It counts a review from the transaction that records its
    reveal: at once when both sides are in, and by the next scheduled run after a deadline."""
    rating = ports.reviews.get_rating(consultant_id)
    return (rating.count, rating.average) if rating is not None else (0, None)


def erase_consultant_reviews(reviews: ReviewRepository, uow: UnitOfWork, consultant_id: str) -> int:
    """Erasure: the reviews the consultant wrote and received go (their rating goes with their partition).
    Plain repository and unit of work: the privacy worker runs it, and builds no contract ports."""
    erased = 0
    for review in reviews.list_consultant_reviews(consultant_id):
        try:
            uow.commit(Changes().delete(review))
            erased += 1
        except ConcurrencyConflict:
            pass  # gone already (a concurrent run)
    return erased
