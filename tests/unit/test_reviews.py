"""The end of an engagement and the reviews after it: the job ends an engagement once, time of its days is
still reported, each side reviews the other once, blind until both are in or the window closes (computed from
the clock, recorded by the job once), the author edits until the reveal, staff hide with a reason, who reads
what, the consultant's rating, and every race between them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.contracts import ContractParty, EngagementStatus, Pricing
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.reviews import REVIEW_WINDOW, ConsultantRating, Review, ReviewSide, ReviewStatus
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.services import contracts, engagement_end, erasure, privacy, reviews, timesheets
from chalicelib.services.reviews import ReviewPorts
from chalicelib.services.timesheets import TimesheetPorts
from tests.fakes import InMemoryAuditLog
from tests.unit.test_contracts import Deal, make_deal

TODAY = date(2026, 11, 27)  # the fake clock's day (12:00 UTC)
MIDNIGHT = datetime(2026, 11, 27, tzinfo=UTC)


@dataclasses.dataclass
class Ended:
    deal: Deal
    ports: ReviewPorts
    time: TimesheetPorts

    @property
    def id(self) -> str:
        return self.deal.engagement_id

    @property
    def client(self) -> Principal:
        return self.deal.scene.buyer

    @property
    def consultant(self) -> Principal:
        return self.deal.scene.consultants[0]

    @property
    def agency(self) -> Principal:
        return self.deal.scene.agency_admin

    @property
    def staff(self) -> Principal:
        return self.deal.scene.staff

    @property
    def clock(self) -> Any:
        return self.deal.scene.world.clock

    def review(self, who: Principal, rating: int = 4, text: str = "Good work") -> reviews.SeenReview:
        return reviews.create_review(self.ports, who, self.id, rating, text)

    def stored(self, review_id: str) -> Review:
        found = self.deal.db.get_review(review_id)
        assert found is not None
        return found

    def rating(self) -> tuple[int, float | None]:
        return reviews.consultant_rating(self.ports, self.consultant.user_id)

    def job(self) -> tuple[int, int]:
        return engagement_end.end_due_engagements(self.deal.ports), reviews.reveal_due_reviews(self.ports)


def signed(last_day: date, **terms: Any) -> Ended:
    """An engagement from 2026-10-01 to ``last_day`` (hourly unless ``terms`` say otherwise), both contracts
    signed: active."""
    deal = make_deal()
    current = deal.engagement().terms
    changes = {"pricing": Pricing.HOURLY, "rate_minor": 100_000, "start_date": date(2026, 10, 1), "end_date": last_day, **terms}
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, dataclasses.replace(current, **changes))
    deal.send()
    deal.deliver()
    for party in ContractParty:
        for recipient in deal.envelope(party).recipients:
            deal.sign(party, deal.principal(recipient.user_id), recipient.email)
    deal.deliver()
    assert deal.engagement().status is EngagementStatus.ACTIVE
    return Ended(deal, ReviewPorts(deal.ports, deal.db), TimesheetPorts(deal.ports, deal.db))


def ended(last_day: date = date(2026, 11, 26)) -> Ended:
    e = signed(last_day)
    assert e.job() == (1, 0)
    return e


@pytest.fixture
def e() -> Ended:
    return ended()


def colleague(e: Ended) -> Principal:
    """Another user of the client company: the company's review is theirs too."""
    return Principal("01JCOLLEAGUE0000000000000A", frozenset({Role.CLIENT}), e.client.org_id)


STRANGERS = {
    "other agency": Principal("01JSTRANGER00000000000000A", frozenset({Role.AGENCY_ADMIN}), "01JOTHERAGENCY000000000000"),
    "other client": Principal("01JSTRANGER00000000000000B", frozenset({Role.CLIENT}), "01JOTHERCLIENT000000000000"),
    "other consultant": Principal("01JSTRANGER00000000000000C", frozenset({Role.CONSULTANT}), None),
}


def racing(db: Any, before_commit: Callable[[], Any], when: Callable[[Any], bool] = lambda changes: True) -> Callable[[], None]:
    """Makes ``before_commit`` run (once) just before the next commit that ``when`` accepts: another request that
    read nothing of this one and lands first. Returns the undo."""
    original = db.commit
    raced: list[Any] = []

    def commit(changes: Any) -> None:
        if not raced and when(changes):
            raced.append(True)
            before_commit()
        original(changes)

    db.commit = commit
    return lambda: setattr(db, "commit", original)


# --- the end ----------------------------------------------------------------------------------------------


def test_the_job_ends_an_engagement_past_its_last_day_once_and_tells_the_client_and_the_consultant() -> None:
    e = signed(date(2026, 11, 27))  # its last day is today: not over yet
    assert e.job() == (0, 0) and e.deal.engagement().status is EngagementStatus.ACTIVE
    e.clock.advance(hours=12)  # midnight: the 27th is over
    assert e.job() == (1, 0)
    engagement = e.deal.engagement()
    assert engagement.status is EngagementStatus.ENDED and engagement.ended_by == "system"
    assert engagement.ended_at == datetime(2026, 11, 28, tzinfo=UTC) and engagement.last_day == date(2026, 11, 27)
    told = e.deal.notices("engagement_ended")
    assert sorted(n.user_id for n in told) == sorted([e.consultant.user_id, e.client.user_id])  # not the agency
    assert "2026-12-12T00:00:00.000Z" in told[0].text  # the window closes 14 days after the end
    assert {m.to for m in e.deal.db.outbox() if m.subject.startswith("Engagement ended")} == {
        "c0@consultant.example",
        "buyer@client.example",
    }
    assert e.job() == (0, 0) and len(e.deal.notices("engagement_ended")) == 2  # once


def test_the_end_moment_is_the_day_after_the_last_day_however_late_the_job_runs_but_reviews_get_their_whole_window() -> None:
    e = signed(date(2026, 11, 1))
    e.clock.advance(days=3)  # 2026-11-30: the job ran late (or an addendum being signed held the end)
    assert e.job() == (1, 0)
    engagement = e.deal.engagement()
    assert engagement.ended_at == datetime(2026, 11, 2, tzinfo=UTC) and engagement.last_day == date(2026, 11, 1)
    assert engagement.reviews_close_at == datetime(2026, 11, 30, tzinfo=UTC) + REVIEW_WINDOW
    e.clock.advance(days=13)
    assert e.review(e.client).review.reveal_deadline == engagement.reviews_close_at


def test_runs_racing_to_end_an_engagement_end_it_once() -> None:
    e = signed(date(2026, 11, 26))
    barrier = threading.Barrier(8)
    outcomes: list[Any] = []

    def run() -> None:
        barrier.wait()
        outcomes.append(engagement_end.end_engagement(e.deal.ports, e.id))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o is not None for o in outcomes) == 1
    assert len(e.deal.notices("engagement_ended")) == 2 and e.deal.engagement().status is EngagementStatus.ENDED


def test_only_an_active_engagement_ends() -> None:
    deal = make_deal()  # still contracting
    assert engagement_end.end_engagement(deal.ports, deal.engagement_id) is None
    assert deal.engagement().status is EngagementStatus.CONTRACTING


# --- time after the end -----------------------------------------------------------------------------------


def test_time_of_the_days_up_to_the_end_is_still_reported_submitted_and_confirmed() -> None:
    e = ended(date(2026, 11, 20))
    consultant, admin = e.consultant, e.agency

    def report(day: date) -> Any:
        return timesheets.report_time(e.time, consultant, e.id, day, minutes=480, day_share=None, description="Handover")

    report(date(2026, 11, 19))
    report(date(2026, 11, 20))  # the last day
    with pytest.raises(InvalidInput):
        report(date(2026, 11, 21))  # after it
    timesheets.remove_time(e.time, consultant, e.id, date(2026, 11, 19))
    # November is not over, but the engagement is: its last days can be invoiced now.
    submitted = timesheets.submit_period(e.time, consultant, e.id, "2026-11")
    assert submitted.minutes == 480
    period, invoice = timesheets.confirm_period(e.time, admin, e.id, "2026-11")
    assert period.invoice_id == invoice.invoice_id and invoice.breakdown.net_minor == 800_000


def test_an_engagement_ends_only_once_its_last_day_is_over() -> None:
    e = signed(date(2026, 11, 27))  # today
    assert engagement_end.end_engagement(e.deal.ports, e.id) is None
    assert e.deal.engagement().status is EngagementStatus.ACTIVE
    e.clock.advance(days=1)
    ended = engagement_end.end_engagement(e.deal.ports, e.id)
    assert ended is not None and ended.ended_at == datetime(2026, 11, 28, tzinfo=UTC) and ended.last_day == date(2026, 11, 27)


def test_a_fixed_fee_is_still_claimed_after_the_end() -> None:
    from chalicelib.domain.contracts import Milestone
    from chalicelib.services import milestones
    from chalicelib.services.milestones import MilestonePorts
    from tests.fakes import FakeStorage

    milestone = Milestone("1", "Delivery", 5_000_000, date(2026, 11, 20))
    e = signed(date(2026, 11, 20), pricing=Pricing.FIXED, rate_minor=None, milestones=(milestone,))
    assert e.job() == (1, 0)
    ports = MilestonePorts(e.time, FakeStorage())
    claim, _ = milestones.claim_milestone(ports, e.agency, e.id, "1", 5_000_000, "AG-17")
    assert claim.amount_minor == 5_000_000


# --- once per side, blind until both are in ---------------------------------------------------------------


def test_reviews_wait_for_the_end() -> None:
    e = signed(date(2027, 3, 31))
    with pytest.raises(Conflict) as refused:
        e.review(e.client)
    assert refused.value.current_state == "active"


def test_each_side_reviews_once_and_both_are_revealed_when_both_are_in(e: Ended) -> None:
    mine = e.review(e.client, 5, "  Delivered the migration early.  ")
    assert mine.review.text == "Delivered the migration early." and mine.review.side is ReviewSide.CLIENT
    assert mine.editable and mine.revealed_at is None and mine.review.reveal_deadline == MIDNIGHT + REVIEW_WINDOW
    for blind in (e.consultant, e.agency):  # blind: the reviewed party, and the agency
        with pytest.raises(NotFound):
            reviews.get_review(e.ports, blind, mine.review.review_id)
    assert reviews.get_review(e.ports, colleague(e), mine.review.review_id).editable  # the company's review
    with pytest.raises(Conflict):
        e.review(e.client, 1, "Second thoughts")  # once per side
    with pytest.raises(Conflict):
        e.review(colleague(e), 1, "Me too")  # the company's side, whoever writes
    standing = reviews.engagement_reviews(e.ports, e.consultant, e.id)
    assert standing.submitted == {ReviewSide.CLIENT} and standing.reviews == [] and standing.my_side is ReviewSide.CONSULTANT
    assert e.rating() == (0, None) and not e.deal.notices("review_revealed")

    theirs = e.review(e.consultant, 4, "Clear goals, quick answers.")
    assert theirs.revealed_at == e.clock() and not theirs.editable
    first = e.stored(mine.review.review_id)
    assert first.status is ReviewStatus.REVEALED and first.revealed_at == e.clock()
    assert reviews.get_review(e.ports, e.consultant, first.review_id).review.rating == 5
    assert sorted(n.user_id for n in e.deal.notices("review_revealed")) == sorted([e.consultant.user_id, e.client.user_id])
    assert e.rating() == (1, 5.0)  # only the client's review of the consultant counts
    for who in (e.client, e.consultant, e.agency, e.staff):
        assert {r.review.side for r in reviews.engagement_reviews(e.ports, who, e.id).reviews} == set(ReviewSide)
    with pytest.raises(Conflict):
        reviews.edit_review(e.ports, e.client, first.review_id, 3, "Changed my mind")


def test_only_the_client_and_the_consultant_review_and_strangers_learn_nothing(e: Ended) -> None:
    for party in (e.staff, e.agency):
        with pytest.raises(Forbidden):
            e.review(party)
    for stranger in STRANGERS.values():
        with pytest.raises(NotFound):
            e.review(stranger)
        with pytest.raises(NotFound):
            reviews.engagement_reviews(e.ports, stranger, e.id)


@pytest.mark.parametrize(("rating", "text"), [(0, "x"), (6, "x"), (3, " "), (3, "x" * 2001)])
def test_a_rating_is_1_to_5_and_the_text_bounded(e: Ended, rating: int, text: str) -> None:
    with pytest.raises(InvalidInput):
        e.review(e.client, rating, text)


# --- the reveal at the deadline ---------------------------------------------------------------------------


def test_the_deadline_reveals_by_the_clock_alone_and_the_job_records_and_tells_it_once(e: Ended) -> None:
    mine = e.review(e.client, 2, "Late every week.")
    deadline = mine.review.reveal_deadline
    e.clock.moment = deadline - timedelta(microseconds=1)
    with pytest.raises(NotFound):
        reviews.get_review(e.ports, e.consultant, mine.review.review_id)
    reviews.edit_review(e.ports, e.client, mine.review.review_id, 3, "Late most weeks.")  # still editable
    assert e.job() == (0, 0)

    e.clock.moment = deadline  # no job ran: the consultant reads it already
    seen = reviews.get_review(e.ports, e.consultant, mine.review.review_id)
    assert seen.revealed_at == deadline and seen.review.text == "Late most weeks." and not seen.editable
    assert [r.review.review_id for r in reviews.consultant_reviews(e.ports, e.consultant, e.consultant.user_id)] == [mine.review.review_id]
    with pytest.raises(Conflict):
        reviews.edit_review(e.ports, e.client, mine.review.review_id, 4, "Better")
    with pytest.raises(Conflict) as closed:
        e.review(e.consultant)  # the window closed with it
    assert closed.value.current_state == "closed"

    e.clock.advance(minutes=4)  # the job runs a few minutes later: it records the reveal as of the deadline
    assert e.rating() == (0, None)
    assert e.job() == (0, 1)
    recorded = e.stored(mine.review.review_id)
    assert recorded.status is ReviewStatus.REVEALED and recorded.revealed_at == deadline
    assert [n.user_id for n in e.deal.notices("review_revealed")] == [e.consultant.user_id]
    assert e.rating() == (1, 3.0)
    assert e.job() == (0, 0) and len(e.deal.notices("review_revealed")) == 1  # once


def test_a_review_left_alone_is_revealed_to_the_client_too() -> None:
    e = ended()
    theirs = e.review(e.consultant, 5, "A great team to work with.")
    e.clock.moment = theirs.review.reveal_deadline
    assert reviews.get_review(e.ports, e.client, theirs.review.review_id).revealed_at is not None
    assert e.job() == (0, 1)
    assert [n.user_id for n in e.deal.notices("review_revealed")] == [e.client.user_id]
    assert e.rating() == (0, None)  # a review of the client is no rating of the consultant


# --- editing ----------------------------------------------------------------------------------------------


def test_the_author_side_edits_until_the_reveal_and_nobody_else_does(e: Ended) -> None:
    mine = e.review(e.client, 3, "Fine.")
    review_id = mine.review.review_id
    edited = reviews.edit_review(e.ports, colleague(e), review_id, 4, "Better than fine.")
    assert (edited.review.rating, edited.review.updated_by) == (4, colleague(e).user_id)
    assert edited.review.author_id == e.client.user_id
    commits = e.deal.db.commits
    assert reviews.edit_review(e.ports, e.client, review_id, 4, "Better than fine.").review.revision == edited.review.revision
    assert e.deal.db.commits == commits  # saved unchanged: nothing written
    with pytest.raises(Forbidden):
        reviews.edit_review(e.ports, e.staff, review_id, 1, "x")  # staff read it, and hide it; they do not write it
    with pytest.raises(NotFound):
        reviews.edit_review(e.ports, e.consultant, review_id, 1, "x")  # blind to it
    e.review(e.consultant, 5, "Thanks!")
    assert e.stored(review_id).text == "Better than fine."  # what was revealed is the edit
    with pytest.raises(Forbidden):
        reviews.edit_review(e.ports, e.consultant, review_id, 1, "x")  # revealed to them now, still not theirs


# --- hiding -----------------------------------------------------------------------------------------------


def test_staff_hide_a_review_with_the_reason_and_then_only_staff_and_its_author_see_it(e: Ended) -> None:
    mine = e.review(e.client, 1, "Rude remarks about a person.")
    e.review(e.consultant, 5, "Great client.")
    assert e.rating() == (1, 1.0)
    with pytest.raises(Forbidden):
        reviews.hide_review(e.ports, e.agency, mine.review.review_id, "I don't like it")
    e.clock.advance(hours=1)
    hidden = reviews.hide_review(e.ports, e.staff, mine.review.review_id, "Personal remarks")
    recorded = e.stored(mine.review.review_id).hidden
    assert recorded is not None and (recorded.by, recorded.at, recorded.reason) == (e.staff.user_id, e.clock(), "Personal remarks")
    assert hidden.as_staff and e.rating() == (0, None)  # out of the rating, in the same transaction
    for blind in (e.consultant, e.agency):
        with pytest.raises(NotFound):
            reviews.get_review(e.ports, blind, mine.review.review_id)
        assert [r.review.side for r in reviews.engagement_reviews(e.ports, blind, e.id).reviews] == [ReviewSide.CONSULTANT]
    assert reviews.consultant_reviews(e.ports, e.staff, e.consultant.user_id) == []
    # Its author reads it, marked hidden with the reason (not who hid it), may no longer change it, and is told.
    own = reviews.get_review(e.ports, e.client, mine.review.review_id)
    assert own.review.hidden is not None and not own.as_staff and not own.editable
    [told] = e.deal.notices("review_hidden")
    assert told.user_id == e.client.user_id and "Personal remarks" in told.text
    with pytest.raises(Conflict):
        reviews.hide_review(e.ports, e.staff, mine.review.review_id, "again")


def test_a_review_hidden_while_blind_neither_counts_nor_is_told_when_its_deadline_passes(e: Ended) -> None:
    mine = e.review(e.client, 1, "Spam spam spam")
    reviews.hide_review(e.ports, e.staff, mine.review.review_id, "Spam")
    with pytest.raises(Conflict):
        reviews.edit_review(e.ports, e.client, mine.review.review_id, 2, "Sorry")
    e.clock.moment = mine.review.reveal_deadline
    assert e.job() == (0, 1)
    assert e.rating() == (0, None) and not e.deal.notices("review_revealed")
    with pytest.raises(NotFound):
        reviews.get_review(e.ports, e.consultant, mine.review.review_id)


# --- who reads what ---------------------------------------------------------------------------------------

READERS = ["staff", "client", "colleague", "consultant", "agency", *STRANGERS]


def _reader(e: Ended, name: str) -> Principal:
    named = {"staff": e.staff, "client": e.client, "colleague": colleague(e), "consultant": e.consultant, "agency": e.agency}
    return named.get(name) or STRANGERS[name]


# Who reads a review, by its author's side and state: staff always; the author's side its own; the reviewed
# party and the agency once revealed, unless hidden; nobody else.
VISIBILITY = {
    (ReviewSide.CLIENT, "pending"): {"staff", "client", "colleague"},
    (ReviewSide.CLIENT, "revealed"): {"staff", "client", "colleague", "consultant", "agency"},
    (ReviewSide.CLIENT, "hidden"): {"staff", "client", "colleague"},
    (ReviewSide.CONSULTANT, "pending"): {"staff", "consultant"},
    (ReviewSide.CONSULTANT, "revealed"): {"staff", "consultant", "client", "colleague", "agency"},
    (ReviewSide.CONSULTANT, "hidden"): {"staff", "consultant"},
}


@pytest.mark.parametrize(("side", "state"), sorted(VISIBILITY))
def test_the_visibility_matrix(side: ReviewSide, state: str) -> None:
    e = ended()
    author = e.client if side is ReviewSide.CLIENT else e.consultant
    review_id = e.review(author).review.review_id
    if state in ("revealed", "hidden"):
        e.clock.moment = e.stored(review_id).reveal_deadline
    if state == "hidden":
        reviews.hide_review(e.ports, e.staff, review_id, "Off topic")
    readers = set()
    for name in READERS:
        who = _reader(e, name)
        try:
            reviews.get_review(e.ports, who, review_id)
            readers.add(name)
        except NotFound:
            pass
        listed = {r.review.review_id for r in _listed(e, who)}
        assert (review_id in listed) == (name in readers), name  # the engagement's list agrees
    assert readers == VISIBILITY[(side, state)]


def _listed(e: Ended, who: Principal) -> list[reviews.SeenReview]:
    try:
        return reviews.engagement_reviews(e.ports, who, e.id).reviews
    except NotFound:
        return []


def test_staff_reads_of_an_engagements_reviews_are_audited_against_the_consultant(e: Ended) -> None:
    written = e.review(e.client, 4, "Solid.").review.review_id

    def reads() -> list[tuple[str, str]]:
        audit = InMemoryAuditLog(e.deal.db).list_for_subject(e.consultant.user_id)
        return [(a.actor_id, a.object_id) for a in audit if a.object_type == "review"]

    reviews.get_review(e.ports, e.client, written)
    reviews.engagement_reviews(e.ports, e.client, e.id)
    assert reads() == []
    reviews.get_review(e.ports, e.staff, written)
    reviews.engagement_reviews(e.ports, e.staff, e.id)
    assert reads() == [(e.staff.user_id, written)] * 2


def test_a_consultants_reviews_are_for_staff_the_consultant_and_its_agency_and_name_only_engagements_they_saw(e: Ended) -> None:
    mine = e.review(e.client, 4, "Solid.")
    e.review(e.consultant, 4, "Nice people.")
    for who in (e.staff, e.consultant, e.agency):
        [listed] = reviews.consultant_reviews(e.ports, who, e.consultant.user_id)
        assert listed.review.review_id == mine.review.review_id and listed.shows_engagement
    for who in (e.client, *STRANGERS.values()):
        with pytest.raises(NotFound):
            reviews.consultant_reviews(e.ports, who, e.consultant.user_id)
    with pytest.raises(NotFound):
        reviews.consultant_reviews(e.ports, e.staff, e.client.user_id)  # not a consultant
    audit = InMemoryAuditLog(e.deal.db).list_for_subject(e.consultant.user_id)
    assert [(a.actor_id, a.object_type) for a in audit if a.object_type == "reviews"] == [(e.staff.user_id, "reviews")]

    # The consultant moves to another agency: its admins read the reviews, not whose engagements they were.
    user = e.deal.db.get_user(e.consultant.user_id)
    e.deal.db.items[("user", user.user_id)] = dataclasses.replace(user, org_id="01JNEWAGENCY00000000000000")
    new_admin = Principal("01JNEWADMIN000000000000000", frozenset({Role.AGENCY_ADMIN}), "01JNEWAGENCY00000000000000")
    [listed] = reviews.consultant_reviews(e.ports, new_admin, e.consultant.user_id)
    assert not listed.shows_engagement
    with pytest.raises(NotFound):
        reviews.consultant_reviews(e.ports, e.agency, e.consultant.user_id)  # the former agency: no longer


def test_the_rating_is_the_count_and_average_of_what_counts() -> None:
    rating = ConsultantRating("c", MIDNIGHT)
    assert (rating.count, rating.average) == (0, None)
    for given in (5, 4, 4):
        rating = rating.changed(given, 1, MIDNIGHT)
    assert (rating.count, rating.average) == (3, 4.33)
    rating = rating.changed(5, -1, MIDNIGHT)
    assert (rating.count, rating.total, rating.average, rating.revision) == (2, 8, 4.0, 4)


# --- races ------------------------------------------------------------------------------------------------


def test_twenty_submits_at_once_of_one_side_make_one_review(e: Ended) -> None:
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def submit() -> None:
        barrier.wait()
        try:
            outcomes.append(e.review(e.client).review.review_id)
        except Conflict:
            outcomes.append("409")

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(e.deal.db._all("review")) == 1
    assert [o for o in outcomes if o != "409"] == [e.deal.db._all("review")[0].review_id]


@pytest.mark.parametrize("attempt", range(5))
def test_both_sides_at_once_are_both_revealed_and_counted_once(attempt: int) -> None:
    e = ended()
    barrier = threading.Barrier(2)

    def submit(who: Principal) -> None:
        barrier.wait()
        e.review(who, 4, "At the same moment")

    threads = [threading.Thread(target=submit, args=(who,)) for who in (e.client, e.consultant)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = e.deal.db._all("review")
    assert len(stored) == 2 and {r.status for r in stored} == {ReviewStatus.REVEALED}
    assert e.rating() == (1, 4.0) and len(e.deal.notices("review_revealed")) == 2


def test_the_second_side_landing_between_the_firsts_reads_and_write_reveals_both(e: Ended) -> None:
    undo = racing(e.deal.db, lambda: e.review(e.consultant, 5, "First in"))
    try:
        mine = e.review(e.client, 3, "Second in")  # read no review; the consultant's landed first: read again
    finally:
        undo()
    assert mine.revealed_at is not None
    assert {r.status for r in e.deal.db._all("review")} == {ReviewStatus.REVEALED} and e.rating() == (1, 3.0)


def test_an_edit_racing_the_other_sides_review_is_refused_once_that_revealed_it(e: Ended) -> None:
    mine = e.review(e.client, 3, "Before")
    undo = racing(e.deal.db, lambda: e.review(e.consultant, 5, "Reveals yours"))
    try:
        with pytest.raises(Conflict) as refused:
            reviews.edit_review(e.ports, e.client, mine.review.review_id, 1, "After")
    finally:
        undo()
    assert refused.value.current_state == "revealed"
    assert e.stored(mine.review.review_id).text == "Before" and e.rating() == (1, 3.0)


def test_a_hide_racing_the_jobs_reveal_leaves_the_rating_right(e: Ended) -> None:
    mine = e.review(e.client, 2, "Meh")
    e.clock.moment = mine.review.reveal_deadline

    def is_reveal(changes: Any) -> bool:
        return any(isinstance(x, Review) and x.status is ReviewStatus.REVEALED and x.hidden is None for x, _ in changes.writes)

    undo = racing(e.deal.db, lambda: reviews.hide_review(e.ports, e.staff, mine.review.review_id, "Abusive"), is_reveal)
    try:
        assert reviews.reveal_due_reviews(e.ports) == 1  # recorded after reading the hide: revealed, not counted
    finally:
        undo()
    stored = e.stored(mine.review.review_id)
    assert stored.status is ReviewStatus.REVEALED and stored.hidden is not None
    assert e.rating() == (0, None) and not e.deal.notices("review_revealed")


# --- personal data ----------------------------------------------------------------------------------------


def test_the_consultants_export_holds_what_they_wrote_and_what_was_revealed_of_them(e: Ended) -> None:
    def exported() -> list[Review]:
        world = e.deal.scene.world
        return privacy.export_personal_data(
            world.profiles, world.consents.audit, e.consultant, world.db, world.db, world.db, world.db
        ).reviews

    mine = e.review(e.consultant, 4, "Fine client")
    about = e.review(e.client, 5, "Fine consultant")  # reveals both
    assert {r.review_id for r in exported()} == {mine.review.review_id, about.review.review_id}

    other = ended()  # another engagement: the client's review of the consultant is still blind
    other.review(other.client, 1, "Blind yet")
    world = other.deal.scene.world
    export = privacy.export_personal_data(world.profiles, world.consents.audit, other.consultant, world.db, world.db, world.db, world.db)
    assert export.reviews == []
    client_export = privacy.export_personal_data(world.profiles, world.consents.audit, other.client, world.db, world.db, world.db, world.db)
    assert client_export.reviews == []  # a client user's export: the company's reviews are not the person's


def test_erasing_the_consultant_erases_the_reviews_and_the_rating(e: Ended) -> None:
    e.review(e.client, 5, "Great")
    e.review(e.consultant, 5, "Great too")
    assert e.deal.db.get_rating(e.consultant.user_id) is not None
    world = e.deal.scene.world
    ports = dataclasses.replace(
        world.erasure, erase_reviews=lambda user_id: reviews.erase_consultant_reviews(e.deal.db, e.deal.db, user_id)
    )
    erasure.request_erasure_by_staff(ports, e.staff, e.consultant.user_id)
    assert erasure.run_erasure(ports, e.consultant.user_id)
    assert e.deal.db._all("review") == [] and e.deal.db.get_rating(e.consultant.user_id) is None
    with pytest.raises(Conflict):
        e.review(colleague(e))  # nothing is filed under an erased consultant again
