"""Performance management during an engagement: scheduled evaluation rounds, their three parts, reminders,
and escalations for the consultant's Consultant Agent (the rules are in ``chalicelib.domain.evaluations``).

Exactly once, however the job is run (twice, concurrently, after a crash):

* a round's id is derived from the engagement and its due date and it is inserted only if absent;
* an escalation's id is derived from its round and its cause, inserted only if absent, with its notices;
* each reminder is an item keyed by round, kind and recipient, inserted only if absent in the same
  transaction as the notice it records, so a second run's insert fails and sends nothing;
* each part of a round is written conditional on the round's revision: of two submissions at once, one
  lands and the other, read again, finds the part given (409).

Who sees what of a round (anyone who sees the engagement sees the round and which parts are in):

    part                      staff (the agent)   consultant   agency's admins   client's users
    the client's rating       yes                 yes          yes               yes
    the self-assessment       yes                 yes          -                 -
    the agent's feedback      yes                 yes          -                 -
    the agent's notes         yes                 -            -                 -
    escalations               yes                 -            -                 -

The client's rating is the feedback the consultant and the agency work with; the self-assessment and the
check-in are the consultant's conversation with the platform (the agent's notes are the platform's own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.contracts import Engagement, EngagementStatus
from chalicelib.domain.evaluations import (
    CheckIn,
    ClientRating,
    Escalation,
    EscalationReason,
    EscalationStatus,
    EvaluationReminder,
    EvaluationRound,
    EvaluationSchedule,
    Part,
    ReminderKind,
    RoundStatus,
    Scores,
    SelfAssessment,
    escalation_id,
    round_id,
)
from chalicelib.domain.identity import Principal, Role
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from chalicelib.logging import logger
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.candidacies import ATTEMPTS, active_staff, client_name, client_recipients
from chalicelib.services.contracts import ContractPorts, sees_engagement
from chalicelib.services.notifications import notify
from chalicelib.services.ports import AccountRepository, Changes, EvaluationRepository


@dataclass(frozen=True)
class EvaluationPorts:
    contracts: ContractPorts
    evaluations: EvaluationRepository

    @property
    def now(self) -> datetime:
        return self.contracts.now

    def commit(self, changes: Changes) -> None:
        self.contracts.commit(changes)


@dataclass(frozen=True)
class EvaluationView:
    """A round as one reader sees it: ``round`` without what they may not read, ``given`` the parts that
    are in (everyone who sees the round may know that)."""

    round: EvaluationRound
    given: frozenset[Part]


@dataclass(frozen=True)
class EngagementEvaluations:
    schedule: EvaluationSchedule
    next_due: date | None  # the next round the job will open, if any
    rounds: list[EvaluationView]


# --- who sees what ----------------------------------------------------------------------------------------


def _sees(principal: Principal, evaluation: EvaluationRound) -> bool:
    """Whoever sees the engagement: staff, the consultant, the agency's admins and the client's users."""
    return (
        principal.is_staff
        or principal.user_id == evaluation.consultant_id
        or principal.administers(evaluation.agency_id)
        or (principal.has(Role.CLIENT) and principal.org_id == evaluation.client_id)
    )


def _view(principal: Principal, evaluation: EvaluationRound) -> EvaluationView:
    given = evaluation.given
    if principal.is_staff:
        return EvaluationView(evaluation, given)
    if principal.user_id == evaluation.consultant_id:
        check_in = replace(evaluation.check_in, notes=None) if evaluation.check_in else None
        return EvaluationView(replace(evaluation, check_in=check_in), given)
    # The agency's admins and the client's users: the client's rating only.
    return EvaluationView(replace(evaluation, self_assessment=None, check_in=None), given)


def _refuse(principal: Principal, evaluation: EvaluationRound, detail: str) -> None:
    """Those who see the round learn why they may not give this part (403); anyone else learns nothing (404)."""
    if _sees(principal, evaluation):
        raise Forbidden(detail)
    raise NotFound("Evaluation not found.")


# --- schedules --------------------------------------------------------------------------------------------


def schedule_of(ports: EvaluationPorts, engagement_id: str) -> EvaluationSchedule:
    return ports.evaluations.get_schedule(engagement_id) or EvaluationSchedule(engagement_id)


def _not_before(engagement: Engagement, schedule: EvaluationSchedule) -> date | None:
    """The first day whose due date is evaluated: the activation (no round for time before the contracts
    were signed), or the day staff last set the schedule (a new cadence does not reach back)."""
    if engagement.activated_at is None:
        return None
    activated = engagement.activated_at.date()
    return max(activated, schedule.set_at.date()) if schedule.set_at else activated


def set_schedule(
    ports: EvaluationPorts, principal: Principal, engagement_id: str, first_after_days: int, every_days: int, respond_within_days: int
) -> EvaluationSchedule:
    """Staff set an engagement's cadence (before or during the engagement). Due dates from today on follow
    it; rounds already opened stay as they are. Saving the same cadence again changes nothing."""
    ensure_staff(principal)
    engagement = ports.contracts.engagements.get_engagement(engagement_id)
    if engagement is None:
        raise NotFound("Engagement not found.")
    if engagement.status is EngagementStatus.CANCELLED:
        raise Conflict("The engagement was cancelled.", current_state=engagement.status.value)
    for _ in range(ATTEMPTS):
        now = ports.now
        try:
            wanted = EvaluationSchedule(engagement_id, first_after_days, every_days, respond_within_days, now, principal.user_id)
        except ValueError as exc:
            # The domain's messages start with the field they are about.
            raise InvalidInput(str(exc), issues=[FieldIssue(str(exc).split()[0], str(exc))]) from None
        current = ports.evaluations.get_schedule(engagement_id)
        changes = Changes()
        if current is None:
            stored = wanted
            changes.insert(stored)
        elif current.same_cadence(wanted):
            return current
        else:
            stored = replace(wanted, revision=current.revision + 1)
            changes.update(stored, revision=current.revision)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return stored
    raise Conflict("The schedule is being changed by someone else; try again.")


# --- reading ----------------------------------------------------------------------------------------------


def engagement_evaluations(ports: EvaluationPorts, principal: Principal, engagement_id: str) -> EngagementEvaluations:
    """An engagement's rounds, by due date, with its schedule and the next due date: everyone who sees
    the engagement, each seeing what the table above says."""
    engagement = ports.contracts.engagements.get_engagement(engagement_id)
    if engagement is None or not sees_engagement(principal, engagement):
        raise NotFound("Engagement not found.")
    schedule = schedule_of(ports, engagement_id)
    found = ports.evaluations.list_engagement_rounds(engagement_id)
    today = ports.now.date()
    next_due = None
    if engagement.status is not EngagementStatus.CANCELLED:
        # Still contracting: the engagement is activated today at the earliest.
        not_before = _not_before(engagement, schedule) or today
        start, end = engagement.terms.start_date, engagement.terms.end_date
        # Today's round counts as next until the job has opened it.
        next_due = schedule.next_due(start, end, today - timedelta(days=1), not_before)
        if next_due == today and any(r.due_date == today for r in found):
            next_due = schedule.next_due(start, end, today, not_before)
    _audit_staff_reads(ports, principal, found)
    return EngagementEvaluations(schedule, next_due, [_view(principal, r) for r in found])


def get_evaluation(ports: EvaluationPorts, principal: Principal, evaluation_id: str) -> EvaluationView:
    evaluation = ports.evaluations.get_round(evaluation_id)
    if evaluation is None or not _sees(principal, evaluation):
        raise NotFound("Evaluation not found.")
    _audit_staff_reads(ports, principal, [evaluation])
    return _view(principal, evaluation)


def evaluations_due(ports: EvaluationPorts, principal: Principal, due_before: date | None) -> list[EvaluationView]:
    """Staff: every open round due before ``due_before`` (tomorrow: everything due so far), oldest first."""
    ensure_staff(principal)
    before = due_before or ports.now.date() + timedelta(days=1)
    found = [r for r in ports.evaluations.list_open_rounds(before) if r.status is RoundStatus.OPEN]
    _audit_staff_reads(ports, principal, found)
    return [_view(principal, r) for r in found]


def _audit_staff_reads(ports: EvaluationPorts, principal: Principal, rounds: list[EvaluationRound]) -> None:
    """A round is about its consultant (the client's scores and comments, the agent's notes): staff reads are
    logged against them, as reads of their profile are."""
    reads = [Read(r.consultant_id, "evaluation", r.evaluation_id) for r in rounds]
    record_staff_reads(ports.contracts.candidacies.assignments.accounts.uow, principal, ports.now, AuditAction.PROFILE_READ, reads)


# --- the three parts --------------------------------------------------------------------------------------


def rate_delivery(ports: EvaluationPorts, principal: Principal, evaluation_id: str, scores: Scores, comment: str | None) -> EvaluationView:
    """The client's rating, once per round, by any of the client company's users. A score of 2 or less
    needs its comment (the agent acts on it) and opens an escalation, in the same transaction."""
    missing = [FieldIssue(f"{c.value}.comment", "a score of 2 or less needs a comment") for c in scores.low if not scores.of(c).comment]
    if missing:
        raise InvalidInput("Say what went wrong where you score 2 or less.", issues=missing)

    def give(evaluation: EvaluationRound, now: datetime) -> tuple[EvaluationRound, Changes]:
        if not (principal.has(Role.CLIENT) and principal.org_id == evaluation.client_id):
            _refuse(principal, evaluation, "Only the client's users rate the delivery.")
        rating = ClientRating(scores, now, principal.user_id, comment)
        updated = evaluation.with_part(rating, now)
        changes = Changes().transition(updated, evaluation.status.value, revision=evaluation.revision)
        if scores.low:
            detail = "Low scores from the client: " + ", ".join(f"{c.value} {scores.of(c).score}" for c in scores.low) + "."
            _open_escalation(ports, changes, updated, EscalationReason.LOW_SCORE, detail, now, {"scores": _low_scores(scores)})
        return updated, changes

    return _view(principal, _update_round(ports, principal, evaluation_id, give))


def assess_self(ports: EvaluationPorts, principal: Principal, evaluation_id: str, text: str, scores: Scores | None) -> EvaluationView:
    """The consultant's self-assessment, once per round."""

    def give(evaluation: EvaluationRound, now: datetime) -> tuple[EvaluationRound, Changes]:
        if principal.user_id != evaluation.consultant_id:
            _refuse(principal, evaluation, "Only the consultant assesses their own work.")
        updated = evaluation.with_part(SelfAssessment(text, now, principal.user_id, scores), now)
        return updated, Changes().transition(updated, evaluation.status.value, revision=evaluation.revision)

    return _view(principal, _update_round(ports, principal, evaluation_id, give))


def record_check_in(ports: EvaluationPorts, principal: Principal, evaluation_id: str, notes: str | None, feedback: str) -> EvaluationView:
    """The agent's check-in, once per round: notes for staff and feedback the consultant is sent. The
    consultant's agent usually records it; any staff member may (``by_agent`` tells which)."""
    ensure_staff(principal)

    def give(evaluation: EvaluationRound, now: datetime) -> tuple[EvaluationRound, Changes]:
        agent_id = _current_agent(ports, evaluation.consultant_id)
        check_in = CheckIn(notes, feedback, now, principal.user_id, by_agent=agent_id == principal.user_id)
        updated = evaluation.with_part(check_in, now)
        changes = Changes().transition(updated, evaluation.status.value, revision=evaluation.revision)
        consultant = _active_user(ports, evaluation.consultant_id)
        if consultant is not None:
            params = {**_params(ports, evaluation), "recipient_name": consultant.name, "feedback": feedback}
            notify(changes, consultant, "evaluation_feedback", params, now, object_type="evaluation", object_id=evaluation.evaluation_id)
        return updated, changes

    return _view(principal, _update_round(ports, principal, evaluation_id, give))


def _update_round(
    ports: EvaluationPorts,
    principal: Principal,
    evaluation_id: str,
    give: Callable[[EvaluationRound, datetime], tuple[EvaluationRound, Changes]],
) -> EvaluationRound:
    """Reads the round, applies ``give`` and commits it on the revision read; a write lost to another is
    read again and decided anew (the part may be in now: 409)."""
    for _ in range(ATTEMPTS):
        evaluation = ports.evaluations.get_round(evaluation_id)
        if evaluation is None or not _sees(principal, evaluation):
            raise NotFound("Evaluation not found.")
        updated, changes = give(evaluation, ports.now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return updated
    raise Conflict("The evaluation is being changed by someone else; try again.")


# --- escalations ------------------------------------------------------------------------------------------


def list_escalations(ports: EvaluationPorts, principal: Principal, status: EscalationStatus) -> list[Escalation]:
    """Staff: escalations in ``status``, newest first."""
    ensure_staff(principal)
    return ports.evaluations.list_escalations(status)


def resolve_escalation(ports: EvaluationPorts, principal: Principal, escalation_id_: str, note: str) -> Escalation:
    """The agent (or any staff member) resolves an open escalation with a note; once (409 after)."""
    ensure_staff(principal)
    for _ in range(ATTEMPTS):
        escalation = ports.evaluations.get_escalation(escalation_id_)
        if escalation is None:
            raise NotFound("Escalation not found.")
        resolved = escalation.resolved(principal.user_id, note, ports.now)
        try:
            ports.commit(Changes().transition(resolved, escalation.status.value, revision=escalation.revision))
        except ConcurrencyConflict:
            continue
        return resolved
    raise Conflict("The escalation is being changed by someone else; try again.")


def _open_escalation(
    ports: EvaluationPorts,
    changes: Changes,
    evaluation: EvaluationRound,
    reason: EscalationReason,
    detail: str,
    now: datetime,
    extra: dict[str, str],
) -> Escalation | None:
    """Adds the round's escalation for ``reason`` (unless it exists) and its notices to ``changes``: the
    consultant's agent is told, or every staff member when the consultant has none."""
    found_id = escalation_id(evaluation.evaluation_id, evaluation.due_date, reason)
    if ports.evaluations.get_escalation(found_id) is not None or not _followed(ports, evaluation.consultant_id):
        return None
    agent_id = _current_agent(ports, evaluation.consultant_id)
    escalation = Escalation(
        found_id,
        reason,
        evaluation.evaluation_id,
        evaluation.engagement_id,
        evaluation.consultant_id,
        evaluation.due_date,
        now,
        agent_id,
        detail,
    )
    changes.insert(escalation)
    agent = _active_user(ports, agent_id) if agent_id else None
    recipients = [agent] if agent is not None else active_staff(_accounts(ports))
    link = f"{ports.contracts.candidacies.assignments.accounts.web_base_url}/escalations/{found_id}"
    params = {**_params(ports, evaluation), **extra, "link": link}
    for user in recipients:
        kind = f"escalation_{reason.value}"
        notify(changes, user, kind, {**params, "recipient_name": user.name}, now, object_type="escalation", object_id=found_id)
    return escalation


def _low_scores(scores: Scores) -> str:
    return "; ".join(f"{c.value} {scores.of(c).score}: {scores.of(c).comment}" for c in scores.low)


# --- the Consultant Agent's workspace ---------------------------------------------------------------------


def agent_due_evaluations(ports: EvaluationPorts, agent_id: str) -> list[EvaluationRound]:
    """The open rounds of the agent's consultants (any part still missing; ``missing`` says which), oldest
    due first. One index query (the rounds are filed under their consultant's agent)."""
    return [r for r in ports.evaluations.list_agent_rounds(agent_id) if r.status is RoundStatus.OPEN and r.agent_id == agent_id]


def agent_open_escalations(ports: EvaluationPorts, agent_id: str) -> list[Escalation]:
    """The open escalations of the agent's consultants, oldest first. One index query."""
    return [e for e in ports.evaluations.list_agent_escalations(agent_id) if e.status is EscalationStatus.OPEN and e.agent_id == agent_id]


def follow_agent_change(ports: EvaluationPorts, consultant_id: str) -> int:
    """Files the consultant's open rounds and escalations under their current agent; returns how many
    moved. The jobs do this for everyone on every run; a change of agent may call it to show at once."""
    agent_id = _current_agent(ports, consultant_id)
    moved = 0
    for evaluation in ports.evaluations.list_consultant_rounds(consultant_id):
        moved += _refile_round(ports, evaluation, agent_id)
    for escalation in ports.evaluations.list_consultant_escalations(consultant_id):
        moved += _refile_escalation(ports, escalation, agent_id)
    return moved


def _refile_round(ports: EvaluationPorts, evaluation: EvaluationRound, agent_id: str | None) -> int:
    if evaluation.status is not RoundStatus.OPEN or evaluation.agent_id == agent_id:
        return 0
    moved = replace(evaluation, agent_id=agent_id, revision=evaluation.revision + 1)
    return _commit_once(ports, Changes().transition(moved, evaluation.status.value, revision=evaluation.revision))


def _refile_escalation(ports: EvaluationPorts, escalation: Escalation, agent_id: str | None) -> int:
    if escalation.status is not EscalationStatus.OPEN or escalation.agent_id == agent_id:
        return 0
    moved = replace(escalation, agent_id=agent_id, revision=escalation.revision + 1)
    return _commit_once(ports, Changes().transition(moved, escalation.status.value, revision=escalation.revision))


def _commit_once(ports: EvaluationPorts, changes: Changes) -> int:
    """1 if ``changes`` were committed, 0 if a precondition failed (done or changed meanwhile: the next
    run looks again)."""
    try:
        ports.commit(changes)
    except ConcurrencyConflict:
        return 0
    return 1


# --- the scheduled job ------------------------------------------------------------------------------------


def run_evaluation_jobs(ports: EvaluationPorts) -> dict[str, int]:
    """Opens the rounds that fell due, escalates missed ratings, sends reminders, lapses superseded rounds
    and keeps rounds and escalations filed under the current agents. Run from ``proposal_jobs`` (every few
    minutes); any number of runs, in any overlap, has the effects of one. An item that fails is logged and
    skipped, and the run fails at the end (to be retried and alarmed on) after doing everything else."""
    now = ports.now
    today = now.date()
    figures = dict.fromkeys(
        (
            "evaluation_rounds_opened",
            "evaluation_reminders_sent",
            "evaluation_escalations_opened",
            "evaluation_rounds_lapsed",
            "evaluations_refiled",
        ),
        0,
    )
    failed = 0
    opened: dict[str, EvaluationRound] = {}
    for engagement in ports.contracts.engagements.list_engagements_by_status(EngagementStatus.ACTIVE):
        try:
            made = open_due_round(ports, engagement, today)
        except Exception:
            logger.exception("evaluation round not opened", extra={"engagement_id": engagement.engagement_id})
            failed += 1
            continue
        if made is not None:
            opened[made.evaluation_id] = made
    figures["evaluation_rounds_opened"] = len(opened)
    # The index may not show a round opened a moment ago yet: those are taken as made.
    listed = {r.evaluation_id: r for r in ports.evaluations.list_open_rounds(today + timedelta(days=1))}
    agents: dict[str, str | None] = {}
    for evaluation in ({**opened, **listed}).values():
        try:
            for figure, done in _follow_round(ports, evaluation.evaluation_id, today, agents):
                figures[figure] += done
        except Exception:
            logger.exception("evaluation round not followed up", extra={"evaluation_id": evaluation.evaluation_id})
            failed += 1
    for escalation in ports.evaluations.list_escalations(EscalationStatus.OPEN):
        try:
            figures["evaluations_refiled"] += _refile_escalation(ports, escalation, _agent_of(ports, escalation.consultant_id, agents))
        except Exception:
            logger.exception("escalation not refiled", extra={"escalation_id": escalation.escalation_id})
            failed += 1
    logger.info("evaluation jobs ran", extra=figures)
    if failed:
        raise RuntimeError(f"evaluation jobs: {failed} item(s) failed")
    return figures


def open_due_round(ports: EvaluationPorts, engagement: Engagement, today: date) -> EvaluationRound | None:
    """Opens the engagement's round for its latest due date up to ``today``, once: the round made, or None
    when none is due or it exists (made by this or another run)."""
    if engagement.status is not EngagementStatus.ACTIVE or not _followed(ports, engagement.consultant_id):
        return None
    schedule = schedule_of(ports, engagement.engagement_id)
    not_before = _not_before(engagement, schedule)
    if not_before is None:
        return None
    terms = engagement.terms
    due = schedule.latest_due(terms.start_date, terms.end_date, today, not_before)
    if due is None:
        return None
    found_id = round_id(engagement.engagement_id, due)
    if ports.evaluations.get_round(found_id) is not None:
        return None
    deadline, closes_on = schedule.round_dates(due)
    evaluation = EvaluationRound(
        evaluation_id=found_id,
        engagement_id=engagement.engagement_id,
        assignment_id=engagement.assignment_id,
        client_id=engagement.client_id,
        agency_id=engagement.agency_id,
        consultant_id=engagement.consultant_id,
        due_date=due,
        deadline=deadline,
        closes_on=closes_on,
        opened_at=ports.now,
        agent_id=_current_agent(ports, engagement.consultant_id),
    )
    return evaluation if _commit_once(ports, Changes().insert(evaluation)) else None


def _followed(ports: EvaluationPorts, consultant_id: str) -> bool:
    """Whether the consultant is still followed up: not erased, nor disabled (an erasure pending, say)."""
    consultant = ports.contracts.users(consultant_id)
    return consultant is not None and consultant.status is UserStatus.ACTIVE


def _follow_round(ports: EvaluationPorts, evaluation_id: str, today: date, agents: dict[str, str | None]) -> list[tuple[str, int]]:
    """One open round's follow-up, on the round as stored now (another run may be at it too). Escalating
    and reminding do not write the round; lapsing or refiling it is conditional on the revision read."""
    evaluation = ports.evaluations.get_round(evaluation_id)
    if evaluation is None or evaluation.status is not RoundStatus.OPEN or not _followed(ports, evaluation.consultant_id):
        return []
    done = []
    if evaluation.client_rating is None and today > evaluation.deadline:
        done.append(("evaluation_escalations_opened", _escalate_missed(ports, evaluation)))
    done.append(("evaluation_reminders_sent", _remind(ports, evaluation, today)))
    if today >= evaluation.closes_on:
        lapsed = evaluation.lapsed(ports.now)
        done.append(
            (
                "evaluation_rounds_lapsed",
                _commit_once(ports, Changes().transition(lapsed, evaluation.status.value, revision=evaluation.revision)),
            )
        )
    else:
        done.append(("evaluations_refiled", _refile_round(ports, evaluation, _agent_of(ports, evaluation.consultant_id, agents))))
    return done


def _escalate_missed(ports: EvaluationPorts, evaluation: EvaluationRound) -> int:
    now = ports.now
    changes = Changes()
    detail = f"The client's rating was not in by {evaluation.deadline.isoformat()}."
    if _open_escalation(ports, changes, evaluation, EscalationReason.MISSED_EVALUATION, detail, now, {}) is None:
        return 0
    return _commit_once(ports, changes)


def _remind(ports: EvaluationPorts, evaluation: EvaluationRound, today: date) -> int:
    """On the due date (until the reminder day) everyone whose part is missing is told it is due; from the
    reminder day to the deadline, whoever has still not answered is reminded. Each at most once."""
    if not evaluation.due_date <= today <= evaluation.deadline:
        return 0
    kind = ReminderKind.DUE if today < evaluation.reminder_day() else ReminderKind.DEADLINE
    missing = evaluation.missing
    recipients: list[tuple[User, str]] = []
    if Part.CLIENT_RATING in missing:
        recipients += [(u, "client") for u in client_recipients(ports.contracts.candidacies, evaluation.client_id)]
    if Part.SELF_ASSESSMENT in missing and (consultant := _active_user(ports, evaluation.consultant_id)) is not None:
        recipients.append((consultant, "consultant"))
    sent = 0
    params = _params(ports, evaluation) if recipients else {}
    for user, side in recipients:
        if ports.evaluations.reminder_sent(evaluation.evaluation_id, kind.value, user.user_id):
            continue
        now = ports.now
        changes = Changes().insert(EvaluationReminder(evaluation.evaluation_id, kind, user.user_id, now))
        template = f"evaluation_{'due' if kind is ReminderKind.DUE else 'reminder'}_{side}"
        notify(
            changes,
            user,
            template,
            {**params, "recipient_name": user.name},
            now,
            object_type="evaluation",
            object_id=evaluation.evaluation_id,
        )
        sent += _commit_once(ports, changes)
    return sent


# --- helpers ----------------------------------------------------------------------------------------------


def _accounts(ports: EvaluationPorts) -> AccountRepository:
    return ports.contracts.candidacies.assignments.accounts.accounts


def _current_agent(ports: EvaluationPorts, consultant_id: str) -> str | None:
    assignment = ports.contracts.candidacies.proposals.get_agent_assignment(consultant_id)
    return assignment.agent_id if assignment is not None else None


def _agent_of(ports: EvaluationPorts, consultant_id: str, known: dict[str, str | None]) -> str | None:
    if consultant_id not in known:
        known[consultant_id] = _current_agent(ports, consultant_id)
    return known[consultant_id]


def _active_user(ports: EvaluationPorts, user_id: str | None) -> User | None:
    user = ports.contracts.users(user_id) if user_id else None
    return user if user is not None and user.status is UserStatus.ACTIVE else None


def _params(ports: EvaluationPorts, evaluation: EvaluationRound) -> dict[str, str]:
    assignment = ports.contracts.candidacies.assignments.assignments.get_assignment(evaluation.assignment_id)
    consultant = ports.contracts.users(evaluation.consultant_id)
    return {
        "assignment_title": assignment.title if assignment else "",
        "client_name": client_name(ports.contracts.candidacies, evaluation.client_id),
        "consultant_name": consultant.name if consultant else "",
        "due_date": evaluation.due_date.isoformat(),
        "deadline": evaluation.deadline.isoformat(),
        "link": f"{ports.contracts.candidacies.assignments.accounts.web_base_url}/evaluations/{evaluation.evaluation_id}",
    }
