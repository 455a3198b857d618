"""Performance management during an engagement: the schedule's arithmetic, rounds opened once however the
job runs, the three parts given once each, reminders never sent twice, escalations on a low score and on a
missed deadline (once per cause and round) for the consultant's agent, and who reads what."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.accounts import User
from chalicelib.domain.contracts import ContractParty, EngagementStatus
from chalicelib.domain.evaluations import (
    CriterionScore,
    EscalationReason,
    EscalationStatus,
    EvaluationRound,
    EvaluationSchedule,
    Part,
    RoundStatus,
    Scores,
    derived_id,
    escalation_id,
    round_id,
)
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import ID_PATTERN, new_id
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.services import contracts, evaluations, interviews, registration
from chalicelib.services.evaluations import EvaluationPorts
from chalicelib.services.ports import Changes
from tests import builders
from tests.unit.test_contracts import Deal, make_deal

TODAY = date(2026, 11, 27)  # the fake clock's day


@dataclass
class Follow:
    """An active engagement (activated today) whose consultant has an agent, and its evaluation ports."""

    deal: Deal
    ports: EvaluationPorts
    agent: Principal

    @property
    def db(self) -> Any:
        return self.deal.db

    @property
    def consultant(self) -> Principal:
        return self.deal.scene.consultants[0]

    @property
    def buyer(self) -> Principal:
        return self.deal.scene.buyer

    @property
    def admin(self) -> Principal:
        return self.deal.scene.agency_admin

    @property
    def staff(self) -> Principal:
        return self.deal.scene.staff

    def advance(self, days: int) -> None:
        self.deal.scene.world.clock.advance(days=days)

    def run(self) -> dict[str, int]:
        return evaluations.run_evaluation_jobs(self.ports)

    def rounds(self) -> list[EvaluationRound]:
        return sorted(self.db._all("evaluation"), key=lambda r: r.due_date)

    def only_round(self) -> EvaluationRound:
        [found] = self.rounds()
        return found

    def mails(self, to: str, subject: str = "") -> list[Any]:
        return [m for m in self.deal.scene.mails(to) if subject in m.subject]

    def escalations(self) -> list[Any]:
        return self.db._all("escalation")

    def rate(self, who: Principal | None = None, low: bool = False, evaluation_id: str | None = None) -> Any:
        return evaluations.rate_delivery(
            self.ports, who or self.buyer, evaluation_id or self.only_round().evaluation_id, scores(2 if low else 4), "Thanks"
        )


def scores(quality: int = 4, reliability: int = 4, comment: str | None = "Why") -> Scores:
    def one(score: int) -> CriterionScore:
        return CriterionScore(score, comment if score <= 2 else None)

    return Scores(one(quality), CriterionScore(4), CriterionScore(5), one(reliability))


def other_staff(deal: Deal, email: str, name: str) -> Principal:
    user = registration.create_staff_user(deal.scene.world.accounts, email=email, name=name, password=builders.PASSWORD)
    return Principal(user.user_id, user.roles)


def following(start: date = date(2026, 11, 13), end: date = date(2027, 3, 31), with_agent: bool = True) -> Follow:
    """Two weeks after ``start`` is the first due date: by default, today, the day of the activation."""
    deal = make_deal()
    terms = dataclasses.replace(deal.engagement().terms, start_date=start, end_date=end)
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, terms)
    deal.send()
    deal.deliver()
    for party in ContractParty:
        for recipient in deal.envelope(party).recipients:
            deal.sign(party, deal.principal(recipient.user_id), recipient.email)
    deal.deliver()
    assert deal.engagement().status is EngagementStatus.ACTIVE
    agent = other_staff(deal, "agent@customersonly.example", "Agnes Agent")
    if with_agent:
        interviews.set_consultant_agent(deal.scene.ports, deal.scene.staff, deal.scene.consultants[0].user_id, agent.user_id, None)
    return Follow(deal, EvaluationPorts(deal.ports, deal.scene.world.db), agent)


@pytest.fixture
def follow() -> Follow:
    return following()


# --- the schedule's arithmetic ----------------------------------------------------------------------------

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@st.composite
def schedules(draw: st.DrawFn) -> EvaluationSchedule:
    every = draw(st.integers(7, 365))
    return EvaluationSchedule("e", draw(st.integers(1, 365)), every, draw(st.integers(3, min(30, every - 1))))


@given(schedules(), days, st.integers(0, 1200), days, days)
def test_due_dates_start_after_the_first_interval_step_by_the_cadence_and_stay_inside_the_engagement(
    schedule: EvaluationSchedule, start: date, length: int, today: date, not_before: date
) -> None:
    end = start + timedelta(days=length)
    dates = schedule.due_dates(start, end)
    first = start + timedelta(days=schedule.first_after_days)
    assert dates == ([first] if first <= end else []) + [d for d in dates[1:]]
    assert all(b - a == timedelta(days=schedule.every_days) for a, b in itertools.pairwise(dates))
    assert all(first <= d <= end for d in dates)
    assert (dates[-1] if dates else first - timedelta(days=schedule.every_days)) + timedelta(days=schedule.every_days) > end
    # The job opens the last due date up to today, unless it is before the day the schedule counts from.
    up_to_today = [d for d in dates if d <= today]
    expected = up_to_today[-1] if up_to_today and up_to_today[-1] >= not_before else None
    assert schedule.latest_due(start, end, today, not_before) == expected
    assert schedule.next_due(start, end, today, not_before) == next((d for d in dates if d > today and d >= not_before), None)
    deadline, closes_on = schedule.round_dates(first)
    assert first < deadline - timedelta(days=2) and deadline < closes_on  # a reminder day, then the deadline, then the next round


def test_the_defaults_are_two_weeks_then_every_thirty_days() -> None:
    schedule = EvaluationSchedule("e")
    assert schedule.due_dates(date(2026, 1, 5), date(2026, 4, 30)) == [
        date(2026, 1, 19),
        date(2026, 2, 18),
        date(2026, 3, 20),
        date(2026, 4, 19),
    ]
    assert schedule.round_dates(date(2026, 1, 19)) == (date(2026, 1, 26), date(2026, 2, 18))


@pytest.mark.parametrize(
    ("first", "every", "respond"), [(0, 30, 7), (366, 30, 7), (14, 6, 5), (14, 366, 7), (14, 30, 2), (14, 30, 31), (14, 7, 7)]
)
def test_a_schedule_out_of_bounds_is_refused(first: int, every: int, respond: int) -> None:
    with pytest.raises(ValueError):
        EvaluationSchedule("e", first, every, respond)


@given(days, days, st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_derived_ids_are_ulids_the_same_for_the_same_inputs_and_ordered_by_day(a: date, b: date, x: str, y: str) -> None:
    assert ID_PATTERN.fullmatch(derived_id(a, x)) and derived_id(a, x) == derived_id(a, x)
    if a < b:
        assert derived_id(a, x) < derived_id(b, y)
    if x != y:
        assert derived_id(a, x) != derived_id(a, y)
    assert round_id(x, a) != escalation_id(round_id(x, a), a, EscalationReason.LOW_SCORE)


# --- rounds opened by the job, once ---------------------------------------------------------------------


def test_the_first_round_opens_two_weeks_after_the_start_once_however_often_the_job_runs(follow: Follow) -> None:
    assert evaluations.engagement_evaluations(follow.ports, follow.buyer, follow.deal.engagement_id).next_due == TODAY
    assert follow.run()["evaluation_rounds_opened"] == 1
    assert evaluations.engagement_evaluations(follow.ports, follow.buyer, follow.deal.engagement_id).next_due == date(2026, 12, 27)
    again = follow.run()
    assert again["evaluation_rounds_opened"] == 0 and again["evaluation_reminders_sent"] == 0
    evaluation = follow.only_round()
    assert (evaluation.due_date, evaluation.deadline, evaluation.closes_on) == (TODAY, date(2026, 12, 4), date(2026, 12, 27))
    assert evaluation.evaluation_id == round_id(follow.deal.engagement_id, TODAY)
    assert evaluation.status is RoundStatus.OPEN and evaluation.agent_id == follow.agent.user_id
    assert [r.evaluation_id for r in evaluations.agent_due_evaluations(follow.ports, follow.agent.user_id)] == [evaluation.evaluation_id]


def test_a_run_overlapping_another_opens_and_reminds_once(follow: Follow) -> None:
    db, original = follow.db, follow.db.commit
    inner: list[dict[str, int]] = []

    def another_run_first(changes: Changes) -> None:
        if not inner:  # the other run gets in between this run's reads and its first write
            inner.append({})
            inner[0] = follow.run()
        original(changes)

    db.commit = another_run_first
    try:
        outer = follow.run()
    finally:
        db.commit = original
    assert inner[0]["evaluation_rounds_opened"] == 1 and outer["evaluation_rounds_opened"] == 0
    assert len(follow.rounds()) == 1
    assert inner[0]["evaluation_reminders_sent"] + outer["evaluation_reminders_sent"] == 2  # the client's user and the consultant
    assert len(follow.mails("buyer@client.example", "Time to evaluate")) == 1
    assert len(follow.mails("c0@consultant.example", "self-assessment")) == 1


def test_concurrent_runs_in_threads_make_one_round_and_one_reminder_each(follow: Follow) -> None:
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            follow.run()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert len(follow.rounds()) == 1 and len(follow.db._all("evaluation_reminder")) == 2
    assert len(follow.mails("buyer@client.example")) == len({m.subject for m in follow.mails("buyer@client.example")})


def test_nothing_opens_before_the_due_date_and_the_next_round_supersedes_an_unfinished_one() -> None:
    follow = following(start=date(2026, 11, 20))  # first due 4 December
    assert follow.run()["evaluation_rounds_opened"] == 0 and follow.rounds() == []
    follow.advance(6)  # 3 December, noon
    assert follow.run()["evaluation_rounds_opened"] == 0
    follow.advance(1)
    assert follow.run()["evaluation_rounds_opened"] == 1
    assert follow.only_round().due_date == date(2026, 12, 4)
    follow.advance(30)  # 3 January: the next due date; the first round lapses with its parts missing
    figures = follow.run()
    assert figures["evaluation_rounds_opened"] == 1 and figures["evaluation_rounds_lapsed"] == 1
    first, second = follow.rounds()
    assert (first.status, second.status, second.due_date) == (RoundStatus.LAPSED, RoundStatus.OPEN, date(2027, 1, 3))
    with pytest.raises(Conflict):
        follow.rate(evaluation_id=first.evaluation_id)
    assert [r.due_date for r in evaluations.agent_due_evaluations(follow.ports, follow.agent.user_id)] == [date(2027, 1, 3)]


def test_an_engagement_activated_late_gets_no_backlog_and_none_after_its_end() -> None:
    follow = following(start=date(2026, 6, 17), end=date(2026, 12, 20))  # due 1 July, ..., 29 October, 28 November
    assert follow.run()["evaluation_rounds_opened"] == 0  # 29 October, the last due date, is before the activation
    follow.advance(1)  # 28 November: due
    follow.run()
    assert [r.due_date for r in follow.rounds()] == [date(2026, 11, 28)]
    follow.advance(60)  # past the end (the next due date, 28 December, is after it)
    follow.run()
    assert [r.due_date for r in follow.rounds()] == [date(2026, 11, 28)]


def test_staff_set_the_cadence_which_counts_from_the_day_it_is_set(follow: Follow) -> None:
    engagement_id = follow.deal.engagement_id
    with pytest.raises(Forbidden):
        evaluations.set_schedule(follow.ports, follow.admin, engagement_id, 7, 14, 5)
    for wrong, field in (((7, 14, 14), "respond_within_days"), ((7, 6, 5), "every_days"), ((0, 14, 5), "first_after_days")):
        with pytest.raises(InvalidInput) as refused:
            evaluations.set_schedule(follow.ports, follow.staff, engagement_id, *wrong)
        assert [i.field for i in refused.value.issues] == [field]
    with pytest.raises(NotFound):
        evaluations.set_schedule(follow.ports, follow.staff, new_id(), 7, 14, 5)
    set_ = evaluations.set_schedule(follow.ports, follow.staff, engagement_id, 7, 14, 5)
    assert (set_.first_after_days, set_.every_days, set_.respond_within_days, set_.set_at) == (7, 14, 5, follow.ports.now)
    assert evaluations.set_schedule(follow.ports, follow.staff, engagement_id, 7, 14, 5) == set_  # a double submit changes nothing
    # Due dates are now 20 Nov, 4 Dec, ...: 20 November is before the day it was set, so nothing opens today.
    assert follow.run()["evaluation_rounds_opened"] == 0
    view = evaluations.engagement_evaluations(follow.ports, follow.consultant, engagement_id)
    assert view.next_due == date(2026, 12, 4) and view.schedule.every_days == 14
    follow.advance(7)
    follow.run()
    evaluation = follow.only_round()
    assert (evaluation.due_date, evaluation.deadline, evaluation.closes_on) == (date(2026, 12, 4), date(2026, 12, 9), date(2026, 12, 18))
    changed = evaluations.set_schedule(follow.ports, follow.staff, engagement_id, 7, 30, 7)
    assert changed.revision == 1 and follow.db.get_schedule(engagement_id).every_days == 30


def test_a_cancelled_engagement_gets_no_schedule() -> None:
    deal = make_deal()
    contracts.cancel_engagement(deal.ports, deal.scene.staff, deal.engagement_id, "Walked away")
    ports = EvaluationPorts(deal.ports, deal.scene.world.db)
    with pytest.raises(Conflict):
        evaluations.set_schedule(ports, deal.scene.staff, deal.engagement_id, 14, 30, 7)
    assert evaluations.engagement_evaluations(ports, deal.scene.staff, deal.engagement_id).next_due is None


# --- reminders ----------------------------------------------------------------------------------------------


def test_reminders_go_on_the_due_date_and_before_the_deadline_to_whoever_has_not_answered_never_twice(follow: Follow) -> None:
    colleague = _second_client_user(follow)
    follow.run()
    for address in ("buyer@client.example", colleague.email):
        assert len(follow.mails(address, "Time to evaluate")) == 1
    assert len(follow.mails("c0@consultant.example", "Time for your self-assessment")) == 1
    assert follow.mails("agent@customersonly.example", "evaluat") == []  # the agent sees due rounds in the workspace
    follow.advance(1)
    assert follow.run()["evaluation_reminders_sent"] == 0
    follow.rate()  # the client answered (one of its users for all)
    follow.advance(4)  # 2 December: two days before the deadline
    assert follow.run()["evaluation_reminders_sent"] == 1
    assert len(follow.mails("c0@consultant.example", "Reminder")) == 1
    assert follow.mails("buyer@client.example", "Reminder") == [] and follow.mails(colleague.email, "Reminder") == []
    for _ in range(3):
        follow.advance(1)
        assert follow.run()["evaluation_reminders_sent"] == 0
    assert len(follow.mails("c0@consultant.example")) == len({m.subject for m in follow.mails("c0@consultant.example")})


def test_a_round_opened_late_sends_only_the_reminder_before_the_deadline(follow: Follow) -> None:
    follow.advance(5)  # the job did not run for five days: 2 December, the reminder day of the round due 27 November
    follow.run()
    assert follow.mails("buyer@client.example", "Time to evaluate") == []
    assert len(follow.mails("buyer@client.example", "Reminder")) == 1


def _second_client_user(follow: Follow) -> User:
    assert follow.buyer.org_id is not None
    user = User(new_id(), "colleague@client.example", "Cleo Colleague", frozenset({Role.CLIENT}), follow.ports.now, follow.buyer.org_id)
    follow.db.commit(Changes().insert(user))
    return user


# --- the three parts ----------------------------------------------------------------------------------------


def test_each_party_gives_its_part_once_and_the_last_completes_the_round(follow: Follow) -> None:
    follow.run()
    evaluation_id = follow.only_round().evaluation_id
    colleague = _second_client_user(follow)
    rated = follow.rate(Principal(colleague.user_id, frozenset({Role.CLIENT}), colleague.org_id))  # any of the client's users
    assert rated.round.client_rating.submitted_by == colleague.user_id and rated.given == {Part.CLIENT_RATING}
    with pytest.raises(Conflict):
        follow.rate()
    assessed = evaluations.assess_self(follow.ports, follow.consultant, evaluation_id, "A good month.", scores())
    assert assessed.round.self_assessment.scores == scores()
    with pytest.raises(Conflict):
        evaluations.assess_self(follow.ports, follow.consultant, evaluation_id, "Again", None)
    done = evaluations.record_check_in(follow.ports, follow.agent, evaluation_id, "Talked on Friday.", "Keep it up.")
    assert done.round.status is RoundStatus.COMPLETED and done.round.closed_at == follow.ports.now and done.round.check_in.by_agent
    with pytest.raises(Conflict):
        evaluations.record_check_in(follow.ports, follow.staff, evaluation_id, None, "Again")
    assert evaluations.agent_due_evaluations(follow.ports, follow.agent.user_id) == []
    [feedback] = follow.mails("c0@consultant.example", "Feedback on your work")
    assert "Keep it up." in feedback.text


def test_any_staff_member_may_check_in_for_the_agent(follow: Follow) -> None:
    follow.run()
    view = evaluations.record_check_in(follow.ports, follow.staff, follow.only_round().evaluation_id, None, "Fine.")
    assert view.round.check_in.by_agent is False and view.round.check_in.recorded_by == follow.staff.user_id


@pytest.mark.parametrize("low", [False, True])
def test_twenty_ratings_at_once_give_one_rating_and_at_most_one_escalation(follow: Follow, low: bool) -> None:
    follow.run()
    evaluation_id = follow.only_round().evaluation_id
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def rate() -> None:
        barrier.wait()
        try:
            follow.rate(low=low, evaluation_id=evaluation_id)
            outcomes.append("rated")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=rate) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 19 + ["rated"]
    assert len(follow.escalations()) == len(follow.mails("agent@customersonly.example", "Escalation")) == int(low)


def test_a_rating_racing_another_users_rating_is_refused_not_written_over(follow: Follow) -> None:
    follow.run()
    colleague = _second_client_user(follow)
    db, original = follow.db, follow.db.commit
    raced: list[bool] = []

    def colleague_first(changes: Changes) -> None:
        if not raced:  # the colleague's rating lands between this one's read and its write
            raced.append(True)
            follow.rate(Principal(colleague.user_id, frozenset({Role.CLIENT}), colleague.org_id))
        original(changes)

    db.commit = colleague_first
    try:
        with pytest.raises(Conflict):
            follow.rate()
    finally:
        db.commit = original
    assert follow.only_round().client_rating.submitted_by == colleague.user_id


def test_only_the_right_party_gives_each_part_and_strangers_learn_nothing(follow: Follow) -> None:
    follow.run()
    evaluation_id = follow.only_round().evaluation_id
    for who in (follow.consultant, follow.admin, follow.staff):
        with pytest.raises(Forbidden):
            follow.rate(who)
    for who in (follow.buyer, follow.admin, follow.staff):
        with pytest.raises(Forbidden):
            evaluations.assess_self(follow.ports, who, evaluation_id, "x", None)
    for who in (follow.buyer, follow.admin, follow.consultant):
        with pytest.raises(Forbidden):
            evaluations.record_check_in(follow.ports, who, evaluation_id, None, "x")
    stranger_client = Principal(new_id(), frozenset({Role.CLIENT}), new_id())
    stranger_consultant = Principal(new_id(), frozenset({Role.CONSULTANT}), follow.admin.org_id)  # even of the same agency
    with pytest.raises(NotFound):
        follow.rate(stranger_client)
    with pytest.raises(NotFound):
        evaluations.assess_self(follow.ports, stranger_consultant, evaluation_id, "x", None)
    for who in (stranger_client, stranger_consultant):
        with pytest.raises(NotFound):
            evaluations.get_evaluation(follow.ports, who, evaluation_id)
        with pytest.raises(NotFound):
            evaluations.engagement_evaluations(follow.ports, who, follow.deal.engagement_id)
    with pytest.raises(NotFound):
        follow.rate(evaluation_id=new_id())
    assert follow.only_round().given == frozenset()


def test_each_reader_sees_their_share_of_a_round(follow: Follow) -> None:
    follow.run()
    evaluation_id = follow.only_round().evaluation_id
    follow.rate()
    evaluations.assess_self(follow.ports, follow.consultant, evaluation_id, "My view", None)
    evaluations.record_check_in(follow.ports, follow.agent, evaluation_id, "Internal note", "Your feedback")

    def seen(who: Principal) -> tuple[bool, bool, str | None, str | None]:
        view = evaluations.get_evaluation(follow.ports, who, evaluation_id)
        assert view.given == frozenset(Part)  # everyone may know which parts are in
        r = view.round
        return (
            r.client_rating is not None,
            r.self_assessment is not None,
            r.check_in and r.check_in.feedback,
            r.check_in and r.check_in.notes,
        )

    assert seen(follow.staff) == seen(follow.agent) == (True, True, "Your feedback", "Internal note")
    assert seen(follow.consultant) == (True, True, "Your feedback", None)
    assert seen(follow.admin) == seen(follow.buyer) == (True, False, None, None)
    listed = evaluations.engagement_evaluations(follow.ports, follow.buyer, follow.deal.engagement_id).rounds
    assert [v.round.self_assessment for v in listed] == [None]


def test_staff_reads_of_rounds_are_audited_against_the_consultant_and_nobody_elses(follow: Follow) -> None:
    from tests.fakes import InMemoryAuditLog

    follow.run()
    evaluation_id = follow.only_round().evaluation_id

    def reads() -> list[tuple[str, str]]:
        audit = InMemoryAuditLog(follow.deal.db).list_for_subject(follow.consultant.user_id)
        return [(a.actor_id, a.object_id) for a in audit if a.object_type == "evaluation"]

    for who in (follow.buyer, follow.admin, follow.consultant):
        evaluations.get_evaluation(follow.ports, who, evaluation_id)
        evaluations.engagement_evaluations(follow.ports, who, follow.deal.engagement_id)
    assert reads() == []
    evaluations.get_evaluation(follow.ports, follow.staff, evaluation_id)
    evaluations.engagement_evaluations(follow.ports, follow.staff, follow.deal.engagement_id)
    evaluations.evaluations_due(follow.ports, follow.staff, None)
    assert reads() == [(follow.staff.user_id, evaluation_id)] * 3


def test_a_low_score_needs_its_comment(follow: Follow) -> None:
    follow.run()
    with pytest.raises(InvalidInput) as refused:
        evaluations.rate_delivery(follow.ports, follow.buyer, follow.only_round().evaluation_id, scores(reliability=1, comment=None), None)
    assert [i.field for i in refused.value.issues] == ["reliability.comment"]


# --- escalations ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quality", "reliability", "escalates"), [(2, 5, True), (5, 1, True), (3, 3, False), (5, 5, False)])
def test_any_criterion_at_two_or_less_escalates_to_the_agent_once(follow: Follow, quality: int, reliability: int, escalates: bool) -> None:
    follow.run()
    evaluation = follow.only_round()
    evaluations.rate_delivery(follow.ports, follow.buyer, evaluation.evaluation_id, scores(quality, reliability), None)
    found = follow.escalations()
    assert len(found) == int(escalates)
    if escalates:
        [escalation] = found
        assert escalation.escalation_id == escalation_id(evaluation.evaluation_id, evaluation.due_date, EscalationReason.LOW_SCORE)
        assert escalation.reason is EscalationReason.LOW_SCORE and escalation.agent_id == follow.agent.user_id
        assert escalation.detail.startswith("Low scores from the client: ")
        [mail] = follow.mails("agent@customersonly.example", "Escalation: low scores")
        assert "Why" in mail.text  # the client's comment on the low score
        assert evaluations.agent_open_escalations(follow.ports, follow.agent.user_id) == [escalation]
    follow.advance(10)  # past the deadline: the rating is in, so nothing is missed
    assert follow.run()["evaluation_escalations_opened"] == 0


def test_a_missing_rating_escalates_once_after_the_deadline_day(follow: Follow) -> None:
    follow.run()
    follow.advance(7)  # 4 December, the deadline: still time
    assert follow.run()["evaluation_escalations_opened"] == 0
    follow.advance(1)
    assert follow.run()["evaluation_escalations_opened"] == 1
    for _ in range(3):
        assert follow.run()["evaluation_escalations_opened"] == 0
    [escalation] = follow.escalations()
    assert escalation.reason is EscalationReason.MISSED_EVALUATION and escalation.detail == "The client's rating was not in by 2026-12-04."
    assert len(follow.mails("agent@customersonly.example", "Escalation: no evaluation")) == 1
    # A late rating is still taken (until the round lapses); a low one escalates too, as its own cause.
    follow.rate(low=True)
    assert {e.reason for e in follow.escalations()} == set(EscalationReason)


def test_without_an_agent_every_staff_member_is_told() -> None:
    follow = following(with_agent=False)
    follow.run()
    follow.rate(low=True)
    [escalation] = follow.escalations()
    assert escalation.agent_id is None
    for address in ("agent@customersonly.example", "staff@customersonly.example"):
        assert len(follow.mails(address, "Escalation")) == 1


def test_the_agent_resolves_an_escalation_once_with_a_note(follow: Follow) -> None:
    follow.run()
    follow.rate(low=True)
    [escalation] = follow.escalations()
    with pytest.raises(Forbidden):
        evaluations.resolve_escalation(follow.ports, follow.consultant, escalation.escalation_id, "x")
    with pytest.raises(Forbidden):
        evaluations.list_escalations(follow.ports, follow.admin, EscalationStatus.OPEN)
    assert evaluations.list_escalations(follow.ports, follow.staff, EscalationStatus.OPEN) == [escalation]
    resolved = evaluations.resolve_escalation(follow.ports, follow.agent, escalation.escalation_id, "Called the client; agreed a plan.")
    assert (resolved.status, resolved.resolved_by, resolved.resolution_note) == (
        EscalationStatus.RESOLVED,
        follow.agent.user_id,
        "Called the client; agreed a plan.",
    )
    with pytest.raises(Conflict):
        evaluations.resolve_escalation(follow.ports, follow.staff, escalation.escalation_id, "again")
    assert evaluations.agent_open_escalations(follow.ports, follow.agent.user_id) == []
    assert evaluations.list_escalations(follow.ports, follow.staff, EscalationStatus.RESOLVED) == [resolved]
    with pytest.raises(NotFound):
        evaluations.resolve_escalation(follow.ports, follow.staff, new_id(), "x")


def test_a_new_agent_takes_over_the_open_rounds_and_escalations(follow: Follow) -> None:
    follow.run()
    follow.rate(low=True)
    successor = other_staff(follow.deal, "successor@customersonly.example", "Sam Successor")
    interviews.set_consultant_agent(follow.deal.scene.ports, follow.staff, follow.consultant.user_id, successor.user_id, "Over to you")
    assert evaluations.follow_agent_change(follow.ports, follow.consultant.user_id) == 2
    assert evaluations.follow_agent_change(follow.ports, follow.consultant.user_id) == 0
    assert evaluations.agent_due_evaluations(follow.ports, follow.agent.user_id) == []
    assert evaluations.agent_open_escalations(follow.ports, follow.agent.user_id) == []
    assert len(evaluations.agent_due_evaluations(follow.ports, successor.user_id)) == 1
    assert len(evaluations.agent_open_escalations(follow.ports, successor.user_id)) == 1
    # The jobs do the same for everyone, on every run.
    interviews.set_consultant_agent(follow.deal.scene.ports, follow.staff, follow.consultant.user_id, follow.agent.user_id, None)
    assert follow.run()["evaluations_refiled"] == 2
    assert len(evaluations.agent_due_evaluations(follow.ports, follow.agent.user_id)) == 1
    assert len(evaluations.agent_open_escalations(follow.ports, follow.agent.user_id)) == 1


def test_staff_list_the_rounds_due_before_a_day(follow: Follow) -> None:
    follow.run()
    assert [v.round.due_date for v in evaluations.evaluations_due(follow.ports, follow.staff, None)] == [TODAY]
    assert evaluations.evaluations_due(follow.ports, follow.staff, TODAY) == []
    with pytest.raises(Forbidden):
        evaluations.evaluations_due(follow.ports, follow.buyer, None)


def test_a_failing_item_does_not_stop_the_others_and_fails_the_run(follow: Follow, monkeypatch: pytest.MonkeyPatch) -> None:
    follow.run()
    follow.rate(low=True)
    successor = other_staff(follow.deal, "successor@customersonly.example", "Sam Successor")
    interviews.set_consultant_agent(follow.deal.scene.ports, follow.staff, follow.consultant.user_id, successor.user_id, None)

    def broken(*_: Any) -> int:
        raise RuntimeError("the mail templates are broken")

    monkeypatch.setattr(evaluations, "_remind", broken)
    with pytest.raises(RuntimeError, match="1 item"):  # the round's follow-up failed...
        follow.run()
    assert follow.only_round().agent_id == follow.agent.user_id
    [escalation] = follow.escalations()
    assert escalation.agent_id == successor.user_id  # ...and the escalations were still seen to
    monkeypatch.undo()
    assert follow.run()["evaluations_refiled"] == 1  # the next run finishes the round's


def test_a_consultant_erased_takes_their_evaluations_reminders_and_escalations_along(follow: Follow) -> None:
    from chalicelib.services import erasure

    follow.run()  # a round, and its reminders to the client and the consultant
    follow.rate(low=True)  # and an escalation
    evaluations.assess_self(follow.ports, follow.consultant, follow.only_round().evaluation_id, "Going well", None)
    world = follow.deal.scene.world
    assert follow.rounds() and follow.escalations() and follow.db._all("evaluation_reminder")
    erasure.request_erasure_by_staff(world.erasure, follow.staff, follow.consultant.user_id)
    assert erasure.run_erasure(world.erasure, follow.consultant.user_id) is True
    assert follow.rounds() == [] and follow.escalations() == [] and follow.db._all("evaluation_reminder") == []
