"""Interviews and Consultant Agents.

The client proposes time slots for a sent candidate; the consultant (or the agency) picks one; the
consultant's Consultant Agent is invited; everyone invited gets an iCalendar (RFC 5545) invitation by
e-mail. A reschedule sends an update and a cancellation a cancellation, both under the interview's one
UID with a higher SEQUENCE, so calendars replace the event rather than add another. The agent records
the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import iso, new_id
from chalicelib.domain.proposals import (
    MAX_SLOTS,
    AgentAssignment,
    AgentAssignmentStatus,
    Candidacy,
    CandidacyStatus,
    Interview,
    InterviewOutcome,
    InterviewStatus,
    Slot,
)
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.notifications.calendar import CalendarAttendee, interview_calendar
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.candidacies import ATTEMPTS, CandidacyPorts, client_name, party_recipients
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes

LONGEST_INTERVIEW = timedelta(hours=4)
OPEN = frozenset({InterviewStatus.REQUESTED, InterviewStatus.SCHEDULED})


def _validated_slots(slots: list[Slot], now: datetime, field: str = "slots") -> tuple[Slot, ...]:
    issues = [FieldIssue(field, f"at most {MAX_SLOTS}")] if len(slots) > MAX_SLOTS else []
    for n, slot in enumerate(slots):
        if slot.ends_at <= slot.starts_at:
            issues.append(FieldIssue(f"{field}.{n}.ends_at", "ends before it starts"))
        elif slot.ends_at - slot.starts_at > LONGEST_INTERVIEW:
            issues.append(FieldIssue(f"{field}.{n}.ends_at", "longer than four hours"))
        if slot.starts_at <= now:
            issues.append(FieldIssue(f"{field}.{n}.starts_at", "in the past"))
    if len({s.starts_at for s in slots}) != len(slots):
        issues.append(FieldIssue(field, "the same start twice"))
    if issues:
        raise InvalidInput("The time slots are not usable.", issues=issues)
    return tuple(sorted(slots, key=lambda s: s.starts_at))


def request_interview(
    ports: CandidacyPorts, principal: Principal, proposal_id: str, candidacy_id: str, slots: list[Slot], location: str | None
) -> Interview:
    """The client proposes slots for a sent candidate; one interview is open at a time."""
    from chalicelib.services.proposals import _proposed  # the client's view of the candidate decides visibility

    _, candidacy, _ = _proposed(ports, principal, proposal_id, candidacy_id)
    if candidacy.status is not CandidacyStatus.SENT:
        raise Conflict(
            f"An interview is requested for a sent candidate; this one is {candidacy.status.value}.", current_state=candidacy.status.value
        )
    if any(i.status in OPEN for i in ports.proposals.list_candidacy_interviews(candidacy_id)):
        raise Conflict("An interview is already being arranged.", current_state=candidacy.status.value)
    now = ports.now
    interview_id = new_id()
    interview = Interview(
        interview_id=interview_id,
        candidacy_id=candidacy_id,
        assignment_id=candidacy.assignment_id,
        client_id=candidacy.client_id,
        consultant_id=candidacy.consultant_id,
        agency_id=candidacy.agency_id,
        requested_by=principal.user_id,
        requested_at=now,
        proposed_slots=_validated_slots(slots, now),
        location=location,
        calendar_uid=f"{interview_id}@customersonly",
        updated_at=now,
    )
    # Conditional on the candidacy staying as read: a withdrawal racing with the request wins cleanly.
    changes = (
        Changes()
        .insert(interview)
        .transition(replace(candidacy, revision=candidacy.revision + 1), candidacy.status.value, revision=candidacy.revision)
    )
    title = _title(ports, candidacy)
    slots_text = "\n".join(f"- {iso(s.starts_at)} to {iso(s.ends_at)}" for s in interview.proposed_slots)
    for user in party_recipients(ports, candidacy):
        params = {
            "recipient_name": user.name,
            "assignment_title": title,
            "client_name": _client(ports, candidacy),
            "slots": slots_text,
            "link": _link(ports, interview),
        }
        notify(changes, user, "interview_requested", params, now, object_type="interview", object_id=interview_id)
    try:
        ports.commit(changes)
    except ConcurrencyConflict:
        raise Conflict("The candidate changed meanwhile; load the proposal again.") from None
    return interview


def visible_interview(ports: CandidacyPorts, principal: Principal, interview_id: str) -> Interview:
    """The client company's users, the two parties, and staff see an interview."""
    interview = ports.proposals.get_interview(interview_id)
    if interview is None or not _may_see(ports, principal, interview):
        raise NotFound("Interview not found.")
    return interview


def _may_see(ports: CandidacyPorts, principal: Principal, interview: Interview) -> bool:
    if principal.is_staff or (principal.has(Role.CLIENT) and principal.org_id == interview.client_id):
        return True
    return (principal.user_id == interview.consultant_id and principal.has(Role.CONSULTANT)) or principal.administers(interview.agency_id)


def list_interviews(ports: CandidacyPorts, candidacy: Candidacy) -> list[Interview]:
    """A candidacy's interviews (the caller was checked against the candidacy)."""
    return ports.proposals.list_candidacy_interviews(candidacy.candidacy_id)


def schedule_interview(ports: CandidacyPorts, principal: Principal, interview_id: str, starts_at: datetime) -> Interview:
    """The consultant or the agency picks one of the proposed slots; the agent is invited; the candidacy
    becomes interview_scheduled in the same transaction."""
    interview = visible_interview(ports, principal, interview_id)
    if not (principal.user_id == interview.consultant_id or principal.administers(interview.agency_id)):
        raise NotFound("Interview not found.")
    slot = next((s for s in interview.proposed_slots if s.starts_at == starts_at), None)
    if slot is None:
        raise InvalidInput("Pick one of the proposed slots.", issues=[FieldIssue("starts_at", "not a proposed slot")])

    def change(current: Interview, candidacy: Candidacy, now: datetime) -> tuple[Interview, Changes]:
        if current.status is InterviewStatus.SCHEDULED and current.slot == slot:
            return current, Changes()
        if current.status is not InterviewStatus.REQUESTED:
            raise Conflict(f"The interview is {current.status.value}.", current_state=current.status.value)
        if slot.starts_at <= now:
            raise Conflict("That slot has passed; ask the client for new ones.", current_state=current.status.value)
        candidacy.ensure_can_move_to(CandidacyStatus.INTERVIEW_SCHEDULED)
        agent = ports.proposals.get_agent_assignment(current.consultant_id)
        scheduled = replace(
            current,
            status=InterviewStatus.SCHEDULED,
            slot=slot,
            scheduled_by=principal.user_id,
            agent_id=agent.agent_id if agent else None,
            updated_at=now,
            revision=current.revision + 1,
        )
        moved = replace(candidacy, status=CandidacyStatus.INTERVIEW_SCHEDULED, updated_at=now, revision=candidacy.revision + 1)
        changes = Changes().transition(scheduled, current.status.value, revision=current.revision)
        changes.transition(moved, candidacy.status.value, revision=candidacy.revision)
        _send_calendar(ports, changes, scheduled, candidacy, "interview_scheduled", now)
        return scheduled, changes

    return _update_interview(ports, interview_id, change)


def reschedule_interview(ports: CandidacyPorts, principal: Principal, interview_id: str, slot: Slot) -> Interview:
    """Any side moves a scheduled interview; everyone invited gets the update (same UID, next SEQUENCE)."""
    visible_interview(ports, principal, interview_id)
    [slot] = _validated_slots([slot], ports.now, field="slot")

    def change(current: Interview, candidacy: Candidacy, now: datetime) -> tuple[Interview, Changes]:
        if current.status is not InterviewStatus.SCHEDULED:
            raise Conflict(
                f"Only a scheduled interview can be moved; this one is {current.status.value}.", current_state=current.status.value
            )
        if candidacy.status is not CandidacyStatus.INTERVIEW_SCHEDULED:
            raise Conflict(f"The candidate is {candidacy.status.value}.", current_state=candidacy.status.value)
        if current.slot == slot:
            return current, Changes()
        moved = replace(current, slot=slot, sequence=current.sequence + 1, updated_at=now, revision=current.revision + 1)
        changes = Changes().transition(moved, current.status.value, revision=current.revision)
        _send_calendar(ports, changes, moved, candidacy, "interview_rescheduled", now)
        return moved, changes

    return _update_interview(ports, interview_id, change)


def cancel_interview(ports: CandidacyPorts, principal: Principal, interview_id: str, reason: str | None) -> Interview:
    """Any side cancels; a scheduled interview's invitees get a cancellation and the candidacy is back
    among the sent ones."""
    visible_interview(ports, principal, interview_id)

    def change(current: Interview, candidacy: Candidacy, now: datetime) -> tuple[Interview, Changes]:
        if current.status is InterviewStatus.CANCELLED:
            return current, Changes()
        if current.status not in OPEN:
            raise Conflict(f"The interview is {current.status.value}.", current_state=current.status.value)
        changes = Changes()
        cancelled = _cancelled(ports, current, candidacy, changes, now, principal.user_id, reason)
        if current.status is InterviewStatus.SCHEDULED and candidacy.status is CandidacyStatus.INTERVIEW_SCHEDULED:
            back = replace(candidacy, status=CandidacyStatus.SENT, updated_at=now, revision=candidacy.revision + 1)
            changes.transition(back, candidacy.status.value, revision=candidacy.revision)
        return cancelled, changes

    return _update_interview(ports, interview_id, change)


def cancel_open_interviews(
    ports: CandidacyPorts, candidacy: Candidacy, changes: Changes, now: datetime, *, reason: str, only_requested: bool = False
) -> None:
    """Adds the cancellation of the candidacy's open interviews (or only those still being arranged) to
    ``changes``: the candidacy ended, or the client accepted without them."""
    closing = frozenset({InterviewStatus.REQUESTED}) if only_requested else OPEN
    for interview in ports.proposals.list_candidacy_interviews(candidacy.candidacy_id):
        if interview.status in closing:
            _cancelled(ports, interview, candidacy, changes, now, "system", reason)


def _cancelled(
    ports: CandidacyPorts, current: Interview, candidacy: Candidacy, changes: Changes, now: datetime, by: str, reason: str | None
) -> Interview:
    was_scheduled = current.status is InterviewStatus.SCHEDULED
    cancelled = replace(
        current,
        status=InterviewStatus.CANCELLED,
        cancelled_by=by,
        cancel_reason=reason,
        sequence=current.sequence + 1 if was_scheduled else current.sequence,
        updated_at=now,
        revision=current.revision + 1,
    )
    changes.transition(cancelled, current.status.value, revision=current.revision)
    if was_scheduled:
        _send_calendar(ports, changes, cancelled, candidacy, "interview_cancelled", now, reason=reason or "")
    return cancelled


def record_outcome(
    ports: CandidacyPorts, principal: Principal, interview_id: str, outcome: InterviewOutcome, notes: str | None
) -> Interview:
    """The Consultant Agent (or other staff) records how a held interview went."""
    ensure_staff(principal)

    def change(current: Interview, candidacy: Candidacy, now: datetime) -> tuple[Interview, Changes]:
        if current.status is InterviewStatus.COMPLETED and current.outcome is outcome and current.notes == notes:
            return current, Changes()
        if current.status not in (InterviewStatus.SCHEDULED, InterviewStatus.COMPLETED):
            raise Conflict(f"The interview is {current.status.value}.", current_state=current.status.value)
        if current.slot is None or current.slot.starts_at > now:
            raise Conflict("The interview has not started yet.", current_state=current.status.value)
        done = replace(
            current,
            status=InterviewStatus.COMPLETED,
            outcome=outcome,
            notes=notes,
            outcome_by=principal.user_id,
            updated_at=now,
            revision=current.revision + 1,
        )
        return done, Changes().transition(done, current.status.value, revision=current.revision)

    return _update_interview(ports, interview_id, change)


InterviewChange = Callable[[Interview, Candidacy, datetime], tuple[Interview, Changes]]


def _update_interview(ports: CandidacyPorts, interview_id: str, apply: InterviewChange) -> Interview:
    """As ``candidacies.update_candidacy``, for an interview and its candidacy read together."""
    for _ in range(ATTEMPTS):
        interview = ports.proposals.get_interview(interview_id)
        candidacy = ports.proposals.get_candidacy(interview.candidacy_id) if interview else None
        if interview is None or candidacy is None:
            raise NotFound("Interview not found.")
        updated, changes = apply(interview, candidacy, ports.now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return updated
    raise Conflict("The interview is being changed by someone else; try again.")


# --- invitations ---------------------------------------------------------------------------------------


def _invitees(ports: CandidacyPorts, interview: Interview) -> list[tuple[User, str]]:
    """Who is invited, and as what: the client user who asked, the consultant, and the agent."""
    accounts = ports.assignments.accounts.accounts
    invited = [
        (accounts.get_user(interview.requested_by), "REQ-PARTICIPANT"),
        (accounts.get_user(interview.consultant_id), "REQ-PARTICIPANT"),
        (accounts.get_user(interview.agent_id) if interview.agent_id else None, "OPT-PARTICIPANT"),
    ]
    seen: dict[str, tuple[User, str]] = {}
    for user, role in invited:
        if user is not None and user.status is UserStatus.ACTIVE:
            seen.setdefault(user.user_id, (user, role))
    return list(seen.values())


def _send_calendar(
    ports: CandidacyPorts, changes: Changes, interview: Interview, candidacy: Candidacy, kind: str, now: datetime, *, reason: str = ""
) -> None:
    """Each invitee gets their own copy of the invitation, naming the platform as organizer and only them as
    attendee: the client must not learn the consultant's name or address from it, nor the consultant the
    client user's, before a contract."""
    assert interview.slot is not None
    slot = interview.slot
    title = _title(ports, candidacy)
    params = {
        "assignment_title": title,
        "starts_at": iso(slot.starts_at),
        "ends_at": iso(slot.ends_at),
        "location": interview.location or "-",
        "reason": reason,
        "link": _link(ports, interview),
    }
    invitees = _invitees(ports, interview)
    for user, role in invitees:
        invitation = interview_calendar(
            uid=interview.calendar_uid,
            sequence=interview.sequence,
            method="CANCEL" if interview.status is InterviewStatus.CANCELLED else "REQUEST",
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            summary=f"Interview: {title}",
            description=f"{_client(ports, candidacy)}: {title}",
            location=interview.location,
            organizer=CalendarAttendee("Customersonly", ports.organizer_email),
            attendees=[CalendarAttendee(user.name, user.email, role)],
            stamp=now,
        )
        recipient = {**params, "recipient_name": user.name}
        notify(changes, user, kind, recipient, now, object_type="interview", object_id=interview.interview_id, attachments=(invitation,))
    # The agency's admins follow along without a calendar entry.
    invited = {user.user_id for user, _ in invitees}
    for user in party_recipients(ports, candidacy):
        if user.user_id not in invited:
            recipient = {**params, "recipient_name": user.name}
            notify(changes, user, kind, recipient, now, object_type="interview", object_id=interview.interview_id)


def _title(ports: CandidacyPorts, candidacy: Candidacy) -> str:
    assignment = ports.assignments.assignments.get_assignment(candidacy.assignment_id)
    return assignment.title if assignment else ""


def _client(ports: CandidacyPorts, candidacy: Candidacy) -> str:
    return client_name(ports, candidacy.client_id)


def _link(ports: CandidacyPorts, interview: Interview) -> str:
    return f"{ports.assignments.accounts.web_base_url}/interviews/{interview.interview_id}"


# --- Consultant Agents -----------------------------------------------------------------------------------


def set_consultant_agent(
    ports: CandidacyPorts, principal: Principal, consultant_id: str, agent_id: str, note: str | None
) -> AgentAssignment:
    """Staff give a consultant a Consultant Agent (a staff member), or hand them over to another; both the
    consultant and the new agent are told."""
    ensure_staff(principal)
    accounts = ports.assignments.accounts.accounts
    consultant = accounts.get_user(consultant_id)
    if consultant is None or Role.CONSULTANT not in consultant.roles:
        raise NotFound("Consultant not found.")
    agent = accounts.get_user(agent_id)
    if agent is None or Role.STAFF not in agent.roles or agent.status is not UserStatus.ACTIVE:
        raise InvalidInput("The agent must be an active staff member.", issues=[FieldIssue("agent_id", "not an active staff member")])
    current = ports.proposals.get_agent_assignment(consultant_id)
    if current is not None and current.agent_id == agent_id and current.note == note:
        return current
    now = ports.now
    assignment = AgentAssignment(consultant_id, agent_id, now, principal.user_id, note)
    changes = Changes()
    if current is None:
        changes.insert(assignment)
    else:
        changes.transition(assignment, AgentAssignmentStatus.ACTIVE.value, was=current)
    tell_agent_assigned(changes, consultant, agent, now)
    try:
        ports.commit(changes)
    except ConcurrencyConflict:
        raise Conflict("The consultant's agent was changed at the same time; load it again.") from None
    return assignment


def tell_agent_assigned(changes: Changes, consultant: User, agent: User, now: datetime) -> None:
    """The consultant and their (new) agent learn of each other."""
    params = {"agent_name": agent.name, "consultant_name": consultant.name}
    for user in (consultant, agent):
        if user.status is UserStatus.ACTIVE:
            notify(
                changes,
                user,
                "consultant_agent_assigned",
                {**params, "recipient_name": user.name},
                now,
                object_type="consultant",
                object_id=consultant.user_id,
            )


def get_consultant_agent(ports: CandidacyPorts, principal: Principal, consultant_id: str) -> AgentAssignment:
    """Staff, the consultant and the consultant's agency see who the agent is."""
    consultant = ports.assignments.accounts.accounts.get_user(consultant_id)
    allowed = consultant is not None and (
        principal.is_staff
        or principal.user_id == consultant_id
        or (consultant.org_id is not None and principal.administers(consultant.org_id))
    )
    assignment = ports.proposals.get_agent_assignment(consultant_id) if allowed else None
    if assignment is None:
        raise NotFound("No Consultant Agent.")
    return assignment
