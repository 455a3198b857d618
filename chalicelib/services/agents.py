"""Consultant Agents: every active consultant has one (a staff member), given by current load and changeable
by staff with a hand-over note (``change_agent``), and each agent has a workspace of its consultants and what
needs it: open proposals, interviews, engagements, evaluations due and escalations. A month before an
engagement ends the agent is sent the assignments the consultant fits, and can start a proposal from one.

An agent is given automatically when a consultant becomes active (the stream) and by the scheduled jobs for
any active consultant still without one; the least loaded active staff member gets the consultant. The
assignment is inserted on the condition that the consultant has none, so a consultant racing two triggers
gets one agent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.contracts import Engagement, EngagementStatus
from chalicelib.domain.evaluations import Escalation, EvaluationRound
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.proposals import AgentAssignment, Candidacy, CandidacyStatus, Interview, InterviewStatus
from chalicelib.errors import ConcurrencyConflict, NotFound
from chalicelib.logging import log_failure
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.candidacies import active_staff, shortlist
from chalicelib.services.contracts import ContractPorts
from chalicelib.services.evaluations import EvaluationPorts, agent_due_evaluations, agent_open_escalations, follow_agent_change
from chalicelib.services.interviews import set_consultant_agent, tell_agent_assigned
from chalicelib.services.matching import MatchingPorts, fitting_assignments, record_reverse_run
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes

SYSTEM = "system"  # who assigned an agent given by load
NEXT_ASSIGNMENT_NOTICE = timedelta(days=30)  # before an engagement ends, its consultant's agent looks ahead
SUGGESTED = 5  # fitting assignments named in the agent's notice
OPEN_CANDIDACIES = frozenset(
    {
        CandidacyStatus.SUGGESTED,
        CandidacyStatus.CONSENT_REQUESTED,
        CandidacyStatus.CONSENTED,
        CandidacyStatus.SENT,
        CandidacyStatus.INTERVIEW_SCHEDULED,
    }
)
LIVE_ENGAGEMENTS = frozenset({EngagementStatus.CONTRACTING, EngagementStatus.ACTIVE})


def _is_active_consultant(user: User | None) -> bool:
    return user is not None and Role.CONSULTANT in user.roles and user.status is UserStatus.ACTIVE


def assign_agent_by_load(ports: ContractPorts, consultant_id: str) -> AgentAssignment | None:
    """Gives an active consultant without an agent the active staff member with the fewest consultants (the
    earliest joined among equals). None when the consultant is not an active consultant or no staff exist."""
    proposals = ports.candidacies.proposals
    current = proposals.get_agent_assignment(consultant_id)
    if current is not None:
        return current
    accounts = ports.candidacies.assignments.accounts.accounts
    consultant = accounts.get_user(consultant_id)
    if not _is_active_consultant(consultant):
        return None
    assert consultant is not None
    staff = active_staff(accounts)
    if not staff:
        return None
    agent = min(staff, key=lambda s: (len(proposals.list_agent_consultants(s.user_id)), s.created_at, s.user_id))
    now = ports.now
    assignment = AgentAssignment(consultant_id, agent.user_id, now, SYSTEM, None)
    changes = Changes().insert(assignment)
    tell_agent_assigned(changes, consultant, agent, now)
    try:
        ports.commit(changes)
    except ConcurrencyConflict:
        return proposals.get_agent_assignment(consultant_id)  # given one at the same moment: that one stands
    return assignment


def assign_missing_agents(ports: ContractPorts) -> int:
    """The scheduled repair: every active consultant without an agent gets one. Returns how many did."""
    assigned = 0
    proposals = ports.candidacies.proposals
    for consultant in ports.candidacies.assignments.accounts.accounts.list_consultants():
        if not _is_active_consultant(consultant) or proposals.get_agent_assignment(consultant.user_id) is not None:
            continue
        try:
            if assign_agent_by_load(ports, consultant.user_id) is not None:
                assigned += 1
        except Exception as exc:
            log_failure("assigning a Consultant Agent failed", exc, user_id=consultant.user_id)
    return assigned


def change_agent(ports: EvaluationPorts, principal: Principal, consultant_id: str, agent_id: str, note: str | None) -> AgentAssignment:
    """Staff hand a consultant over to another agent (``interviews.set_consultant_agent``); the consultant's
    open evaluations and escalations move to the new agent's workspace at once (the jobs would within
    minutes)."""
    assignment = set_consultant_agent(ports.contracts.candidacies, principal, consultant_id, agent_id, note)
    try:
        follow_agent_change(ports, consultant_id)
    except Exception as exc:
        log_failure("moving evaluations to the new agent failed; the jobs will", exc, user_id=consultant_id)
    return assignment


# --- the agent's workspace -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsultantDesk:
    """One of the agent's consultants, with what is under way for them."""

    consultant: User
    assignment: AgentAssignment
    candidacies: list[Candidacy]  # open: suggested to consented, sent, interviewing
    interviews: list[Interview]  # requested or scheduled, soonest first
    engagements: list[Engagement]  # being contracted or active
    due_evaluations: list[EvaluationRound]  # open rounds with a part missing, oldest due first
    escalations: list[Escalation]  # open, oldest first


@dataclass(frozen=True)
class AgentWorkspace:
    agent: User
    consultants: list[ConsultantDesk]


def agent_workspace(evaluation_ports: EvaluationPorts, principal: Principal, agent_id: str) -> AgentWorkspace:
    """An agent's consultants and what needs the agent: open proposals, interviews to attend, engagements,
    evaluations due and escalations. Staff read any agent's workspace (the platform's own people); others
    have none."""
    ensure_staff(principal)
    ports = evaluation_ports.contracts
    accounts = ports.candidacies.assignments.accounts.accounts
    agent = accounts.get_user(agent_id)
    if agent is None or Role.STAFF not in agent.roles:
        raise NotFound("Agent not found.")
    proposals = ports.candidacies.proposals
    due = agent_due_evaluations(evaluation_ports, agent_id)
    escalations = agent_open_escalations(evaluation_ports, agent_id)
    desks = []
    for assignment in proposals.list_agent_consultants(agent_id):
        consultant = accounts.get_user(assignment.consultant_id)
        if consultant is None:
            continue  # erased
        candidacies = [c for c in proposals.list_consultant_candidacies(consultant.user_id) if c.status in OPEN_CANDIDACIES]
        interviews = [
            i
            for c in candidacies
            for i in proposals.list_candidacy_interviews(c.candidacy_id)
            if i.status in (InterviewStatus.REQUESTED, InterviewStatus.SCHEDULED)
        ]
        engagements = [e for e in ports.engagements.list_consultant_engagements(consultant.user_id) if e.status in LIVE_ENGAGEMENTS]
        mine = consultant.user_id
        desks.append(
            ConsultantDesk(
                consultant,
                assignment,
                candidacies,
                sorted(interviews, key=interview_starts_at),
                engagements,
                [r for r in due if r.consultant_id == mine],
                [e for e in escalations if e.consultant_id == mine],
            )
        )
    return AgentWorkspace(agent, sorted(desks, key=lambda d: (d.consultant.name.casefold(), d.consultant.user_id)))


def interview_starts_at(interview: Interview) -> datetime:
    """The slot picked, or the earliest proposed."""
    if interview.slot is not None:
        return interview.slot.starts_at
    return min((slot.starts_at for slot in interview.proposed_slots), default=interview.requested_at)


# --- the next assignment -------------------------------------------------------------------------------


def suggest_next_assignments(ports: ContractPorts, matching: MatchingPorts) -> int:
    """The scheduled look-ahead: for each active engagement ending within ``NEXT_ASSIGNMENT_NOTICE``, the
    consultant's agent is sent the open assignments the consultant fits (reverse matching), once per
    engagement (recorded on it, revision-checked). Returns how many agents were told."""
    today = ports.now.date()
    told = 0
    # Active engagements whose last day is at most NEXT_ASSIGNMENT_NOTICE away (an index range, by last day).
    for engagement in ports.engagements.list_engagements_ending_before(today + NEXT_ASSIGNMENT_NOTICE + timedelta(days=1)):
        if engagement.next_assignments_suggested_at is not None:
            continue
        try:
            told += _suggest(ports, matching, engagement)
        except Exception as exc:
            log_failure("suggesting next assignments failed", exc, engagement_id=engagement.engagement_id)
    return told


def _suggest(ports: ContractPorts, matching: MatchingPorts, engagement: Engagement) -> int:
    """Tells the consultant's agent (every active staff member when there is none able to read it: the
    look-ahead is once per engagement, so it must reach someone); nobody to tell leaves it for a later run."""
    accounts = ports.candidacies.assignments.accounts.accounts
    assignment = assign_agent_by_load(ports, engagement.consultant_id)
    agent = accounts.get_user(assignment.agent_id) if assignment else None
    consultant = accounts.get_user(engagement.consultant_id)
    if consultant is None or consultant.status is not UserStatus.ACTIVE:
        return 0
    recipients = [agent] if agent is not None and agent.status is UserStatus.ACTIVE else active_staff(accounts)
    if not recipients:
        return 0
    fitting = fitting_assignments(matching, engagement.consultant_id) or []
    now = ports.now
    marked = replace(engagement, next_assignments_suggested_at=now, revision=engagement.revision + 1)
    changes = Changes().transition(marked, engagement.status.value, revision=engagement.revision)
    titles = "\n".join(f"- {f.assignment.title}" for f in fitting[:SUGGESTED]) or "-"
    for recipient in recipients:
        params = {
            "recipient_name": recipient.name,
            "consultant_name": consultant.name,
            "end_date": engagement.terms.end_date.isoformat(),
            "count": str(len(fitting)),
            "assignments": titles,
            "link": f"{ports.candidacies.assignments.accounts.web_base_url}/consultants/{consultant.user_id}/fitting-assignments",
        }
        notify(changes, recipient, "next_assignments", params, now, object_type="engagement", object_id=engagement.engagement_id)
    try:
        ports.commit(changes)
    except ConcurrencyConflict:
        return 0  # changed meanwhile (or told by a concurrent run): the next run looks again
    return 1


def propose_next_assignment(
    ports: ContractPorts, matching: MatchingPorts, principal: Principal, consultant_id: str, assignment_id: str, rate: HourlyRate | None
) -> Candidacy:
    """The agent starts a proposal from the consultant's side: a one-person (reverse) match run is recorded
    for an open assignment the consultant fits, and the consultant is shortlisted from it."""
    run = record_reverse_run(matching, principal, consultant_id, assignment_id)
    return shortlist(ports.candidacies, principal, assignment_id, run.run_id, consultant_id, rate)
