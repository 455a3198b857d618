"""The end of an engagement: once its last day is over, the scheduled jobs end it, and the client and the
consultant are told that they may now review each other.

``end_engagement`` is the one way an engagement ends: a revision-checked transition from active to ended,
so an engagement ends once however many runs (or an early end by agreement, later) race for it, and its
notices go out with it, once. The end moment is a stored fact: the start of the day after the last day
(UTC) for the scheduled end, whenever the job gets to it, so the review window (and the reveal of the
reviews at its close) does not depend on when the job ran. An early end by agreement moves the last day
(``services/engagement_changes.py``); the end itself is then this same scheduled one. An agreed change
whose addenda are still out holds the end until they are signed or end unsigned (an extension signed a
day late must not find the engagement ended); a change still open when the engagement ends lapses.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

from chalicelib.domain.accounts import UserStatus
from chalicelib.domain.contracts import Engagement, EngagementStatus
from chalicelib.domain.ids import iso
from chalicelib.errors import ConcurrencyConflict, Conflict, NotFound
from chalicelib.logging import log_failure, logger
from chalicelib.services.candidacies import ATTEMPTS, client_recipients
from chalicelib.services.contracts import ContractPorts, change_being_signed, engagement_params
from chalicelib.services.engagement_changes import lapse_on_end
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes

SYSTEM = "system"


def end_engagement(ports: ContractPorts, engagement_id: str, by: str = SYSTEM) -> Engagement | None:
    """Ends the active engagement whose last day is over, as of the start of the day after it, and tells the
    client's users and the consultant that the reviews are open. Returns the ended engagement, or None when
    it is not active (any more: a concurrent run ended it first, say), its last day is not over (an
    extension signed since it was listed), or an agreed change still being signed holds it."""
    for _ in range(ATTEMPTS):
        engagement = ports.engagements.get_engagement(engagement_id)
        if engagement is None:
            raise NotFound("Engagement not found.")
        now = ports.now
        if engagement.status is not EngagementStatus.ACTIVE or engagement.terms.end_date >= now.date():
            return None
        if (held := change_being_signed(ports, engagement)) is not None:
            logger.info(
                "engagement end held by an addendum being signed", extra={"engagement_id": engagement_id, "change_id": held.change_id}
            )
            return None
        changes = Changes()
        without_change = lapse_on_end(ports, engagement, by, changes, now)
        if without_change is None:
            return None
        ended = replace(
            without_change,
            status=EngagementStatus.ENDED,
            ended_at=engagement.scheduled_end,
            reviews_opened_at=datetime.combine(now.date(), time(), tzinfo=UTC),  # on time: ended_at itself
            ended_by=by,
            revision=engagement.revision + 1,
            updated_at=now,
        )
        changes.transition(ended, engagement.status.value, revision=engagement.revision)
        _open_reviews(ports, ended, changes, now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue  # changed meanwhile: read again (ended by a concurrent run, or another write to it)
        logger.info("engagement ended", extra={"engagement_id": engagement_id, "by": by})
        return ended
    raise Conflict("The engagement is being changed by someone else; try again.")


def end_due_engagements(ports: ContractPorts) -> int:
    """The scheduled end: every active engagement whose last day is over ends as of the day after it. One
    that fails does not keep the others from ending; the next run tries it again. Returns how many ended."""
    ended = 0
    now = ports.now
    for engagement in ports.engagements.list_engagements_ending_before(now.date()):
        try:
            if end_engagement(ports, engagement.engagement_id) is not None:
                ended += 1
        except Exception as exc:
            log_failure("ending an engagement failed", exc, engagement_id=engagement.engagement_id)
    return ended


def _open_reviews(ports: ContractPorts, engagement: Engagement, changes: Changes, now: datetime) -> None:
    """The client company's users and the consultant may now review each other (the agency reads them later)."""
    closes_at = engagement.reviews_close_at
    assert closes_at is not None
    params = {
        **engagement_params(ports, engagement),
        "last_day": engagement.last_day.isoformat(),
        "reviews_close_at": iso(closes_at),
        "link": f"{ports.candidacies.assignments.accounts.web_base_url}/engagements/{engagement.engagement_id}/reviews",
    }
    consultant = ports.users(engagement.consultant_id)
    people = client_recipients(ports.candidacies, engagement.client_id)
    if consultant is not None:
        people = [consultant, *people]
    for user in {u.user_id: u for u in people}.values():
        if user.status is not UserStatus.ACTIVE:
            continue
        notify(
            changes,
            user,
            "engagement_ended",
            {**params, "recipient_name": user.name},
            now,
            object_type="engagement",
            object_id=engagement.engagement_id,
        )
