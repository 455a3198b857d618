"""Candidacies (shortlisting and the disclosure consents), proposals to clients, interviews, and
Consultant Agents."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.money import HourlyRate
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain.proposals import Candidacy, Proposal, Slot
    from chalicelib.schemas import mappers
    from chalicelib.schemas import profiles as profile_schemas
    from chalicelib.schemas import proposals as s
    from chalicelib.services import agents, candidacies, interviews, proposals
    from chalicelib.services.candidacies import CandidacyPorts
else:  # imported on the first request that needs them (cold start)
    mappers = LazyModule("chalicelib.schemas.mappers")
    profile_schemas = LazyModule("chalicelib.schemas.profiles")
    s = LazyModule("chalicelib.schemas.proposals")
    agents = LazyModule("chalicelib.services.agents")
    candidacies = LazyModule("chalicelib.services.candidacies")
    interviews = LazyModule("chalicelib.services.interviews")
    proposals = LazyModule("chalicelib.services.proposals")

bp = Blueprint(__name__)
STAFF = frozenset({Role.STAFF})
PARTIES = frozenset({Role.CONSULTANT, Role.AGENCY_ADMIN})
PARTIES_AND_STAFF = PARTIES | STAFF
CLIENTS_AND_STAFF = frozenset({Role.CLIENT, Role.STAFF})


def _rate(body: profile_schemas.HourlyRateIn | None) -> HourlyRate | None:
    return HourlyRate(body.amount_minor, body.currency) if body is not None else None


def candidacy_out(ports: CandidacyPorts, c: Candidacy, principal: Principal) -> s.CandidacyResponse:
    assignment = ports.assignments.assignments.get_assignment(c.assignment_id)
    return s.CandidacyResponse(
        candidacy_id=c.candidacy_id,
        assignment_id=c.assignment_id,
        assignment_title=assignment.title if assignment else "",
        client_id=c.client_id,
        client_name=candidacies.client_name(ports, c.client_id),
        consultant_id=c.consultant_id,
        agency_id=c.agency_id,
        status=c.status,
        rate=mappers.breakdown_out(c.breakdown),
        rate_version=c.rate_version,
        answers=[
            s.PartyAnswerOut(party=party, answer=a.answer, at=a.at, consent_entry_id=a.entry_id, reason=a.reason)
            for party, a in c.answers.items()
            if a.rate_version == c.rate_version
        ],
        consent_requested_at=c.consent_requested_at,
        expires_at=c.expires_at,
        proposal_id=c.proposal_id,
        sent_at=c.sent_at,
        closed_at=c.closed_at,
        close_reason=c.close_reason,
        declined_by=c.declined_by,
        interviews=[mappers.interview_out(i, with_notes=principal.is_staff) for i in interviews.list_interviews(ports, c)],
    )


# --- staff: shortlisting, asking, sending -----------------------------------------------------------------


@operation(
    bp,
    "/assignments/{assignment_id}/candidacies",
    "POST",
    summary="Shortlist a consultant from a match run (staff)",
    tag="proposals",
    request=lambda: s.ShortlistIn,
    response=lambda: s.CandidacyResponse,
    status=201,
    roles=STAFF,
    errors=(409,),
)
def shortlist(call: Call[s.ShortlistIn, Any]) -> s.CandidacyResponse:
    ports, body = call.container.candidacies, call.body
    c = candidacies.shortlist(ports, call.user, call.path["assignment_id"], body.match_run_id, body.consultant_id, _rate(body.hourly_rate))
    return candidacy_out(ports, c, call.user)


@operation(
    bp,
    "/consultants/{user_id}/fitting-assignments/{assignment_id}/candidacy",
    "POST",
    summary="Start a proposal from the consultant's side: shortlist them for an open assignment they fit (staff)",
    tag="proposals",
    request=lambda: s.NextAssignmentIn,
    response=lambda: s.CandidacyResponse,
    status=201,
    roles=STAFF,
    errors=(409,),
)
def propose_next_assignment(call: Call[s.NextAssignmentIn, Any]) -> s.CandidacyResponse:
    container, path = call.container, call.path
    c = agents.propose_next_assignment(
        container.contracts, container.matching, call.user, path["user_id"], path["assignment_id"], _rate(call.body.hourly_rate)
    )
    return candidacy_out(container.candidacies, c, call.user)


@operation(
    bp,
    "/assignments/{assignment_id}/candidacies",
    "GET",
    summary="An assignment's candidacies (staff)",
    tag="proposals",
    response=lambda: s.CandidacyListResponse,
    roles=STAFF,
)
def list_assignment_candidacies(call: Call[Any, Any]) -> s.CandidacyListResponse:
    return mappers.candidacy_list_out(
        candidacies.list_candidacies_for_assignment(call.container.candidacies, call.user, call.path["assignment_id"])
    )


@operation(
    bp,
    "/candidacies",
    "GET",
    summary="Every candidacy in a state (staff)",
    tag="proposals",
    query=lambda: s.CandidacyStatusQuery,
    response=lambda: s.CandidacyListResponse,
    roles=STAFF,
)
def list_candidacies(call: Call[Any, s.CandidacyStatusQuery]) -> s.CandidacyListResponse:
    return mappers.candidacy_list_out(candidacies.list_candidacies_by_status(call.container.candidacies, call.user, call.query.status))


@operation(
    bp,
    "/candidacies/{candidacy_id}/consent-requests",
    "POST",
    summary="Ask the consultant and the agency to consent to the disclosure at the rate (staff)",
    tag="proposals",
    request=lambda: s.ConsentRequestIn,
    response=lambda: s.CandidacyResponse,
    roles=STAFF,
    errors=(409,),
)
def request_consents(call: Call[s.ConsentRequestIn, Any]) -> s.CandidacyResponse:
    ports = call.container.candidacies
    c = candidacies.request_consents(ports, call.user, call.path["candidacy_id"], _rate(call.body.hourly_rate))
    return candidacy_out(ports, c, call.user)


@operation(
    bp,
    "/assignments/{assignment_id}/proposals",
    "POST",
    summary="Send consented candidates to the client (staff); those not sendable are listed as skipped",
    tag="proposals",
    request=lambda: s.SendProposalIn,
    response=lambda: s.SendProposalResponse,
    status=201,
    roles=STAFF,
    errors=(409,),
)
def send_proposal(call: Call[s.SendProposalIn, Any]) -> s.SendProposalResponse:
    outcome = proposals.send_proposal(
        call.container.candidacies, call.user, call.path["assignment_id"], call.body.candidacy_ids, call.body.message
    )
    return s.SendProposalResponse(
        proposal=_summary(outcome.proposal), skipped=[s.SkippedOut(candidacy_id=k.candidacy_id, reason=k.reason) for k in outcome.skipped]
    )


# --- the consultant and the agency ----------------------------------------------------------------------------


@operation(
    bp,
    "/me/candidacies",
    "GET",
    summary="My candidacies",
    tag="proposals",
    response=lambda: s.CandidacyListResponse,
    roles=frozenset({Role.CONSULTANT}),
)
def my_candidacies(call: Call[Any, Any]) -> s.CandidacyListResponse:
    return mappers.candidacy_list_out(candidacies.my_candidacies(call.container.candidacies, call.user))


@operation(
    bp,
    "/agencies/{agency_id}/candidacies",
    "GET",
    summary="The agency's consultants' candidacies",
    tag="proposals",
    response=lambda: s.CandidacyListResponse,
    roles=frozenset({Role.AGENCY_ADMIN, Role.STAFF}),
)
def agency_candidacies(call: Call[Any, Any]) -> s.CandidacyListResponse:
    return mappers.candidacy_list_out(candidacies.agency_candidacies(call.container.candidacies, call.user, call.path["agency_id"]))


@operation(
    bp,
    "/candidacies/{candidacy_id}",
    "GET",
    summary="A candidacy: client, assignment, rate breakdown, answers, interviews (the parties, staff)",
    tag="proposals",
    response=lambda: s.CandidacyResponse,
    roles=PARTIES_AND_STAFF,
)
def get_candidacy(call: Call[Any, Any]) -> s.CandidacyResponse:
    ports = call.container.candidacies
    return candidacy_out(ports, candidacies.visible_candidacy(ports, call.user, call.path["candidacy_id"]), call.user)


@operation(
    bp,
    "/candidacies/{candidacy_id}/rate",
    "PUT",
    summary="Set the hourly rate to the client (the agency); a new rate voids the consents given and asks again",
    tag="proposals",
    request=lambda: s.RateIn,
    response=lambda: s.CandidacyResponse,
    roles=frozenset({Role.AGENCY_ADMIN}),
    errors=(409,),
)
def set_rate(call: Call[s.RateIn, Any]) -> s.CandidacyResponse:
    ports = call.container.candidacies
    rate = HourlyRate(call.body.hourly_rate.amount_minor, call.body.hourly_rate.currency)
    return candidacy_out(ports, candidacies.set_rate(ports, call.user, call.path["candidacy_id"], rate), call.user)


@operation(
    bp,
    "/candidacies/{candidacy_id}/consent",
    "POST",
    summary="Consent to the disclosure at the rate named (the consultant, the agency)",
    tag="proposals",
    request=lambda: s.ConsentIn,
    response=lambda: s.CandidacyResponse,
    roles=PARTIES,
    errors=(409,),
)
def consent(call: Call[s.ConsentIn, Any]) -> s.CandidacyResponse:
    ports = call.container.candidacies
    c = candidacies.answer_request(
        ports, call.user, call.path["candidacy_id"], consent=True, rate_seen=_rate(call.body.hourly_rate), reason=None, ctx=call.context
    )
    return candidacy_out(ports, c, call.user)


@operation(
    bp,
    "/candidacies/{candidacy_id}/decline",
    "POST",
    summary="Decline the disclosure (the consultant, the agency)",
    tag="proposals",
    request=lambda: s.ReasonIn,
    response=lambda: s.CandidacyResponse,
    roles=PARTIES,
    errors=(409,),
)
def decline(call: Call[s.ReasonIn, Any]) -> s.CandidacyResponse:
    ports = call.container.candidacies
    c = candidacies.answer_request(
        ports, call.user, call.path["candidacy_id"], consent=False, rate_seen=None, reason=call.body.reason, ctx=call.context
    )
    return candidacy_out(ports, c, call.user)


@operation(
    bp,
    "/candidacies/{candidacy_id}/withdraw",
    "POST",
    summary="Withdraw: a party's consent is withdrawn with it; after sending, the client loses the profile at once",
    tag="proposals",
    request=lambda: s.ReasonIn,
    response=lambda: s.CandidacyResponse,
    roles=PARTIES_AND_STAFF,
    errors=(409,),
)
def withdraw(call: Call[s.ReasonIn, Any]) -> s.CandidacyResponse:
    ports = call.container.candidacies
    c = candidacies.withdraw_candidacy(
        ports, call.user, call.path["candidacy_id"], call.body.reason, call.context, on_withdraw=proposals.revoke_from_client(ports)
    )
    return candidacy_out(ports, c, call.user)


# --- the client ---------------------------------------------------------------------------------------------


def _summary(p: Proposal) -> s.ProposalSummary:
    return s.ProposalSummary(
        proposal_id=p.proposal_id,
        assignment_id=p.assignment_id,
        client_id=p.client_id,
        sent_at=p.sent_at,
        candidate_count=len(p.candidacy_ids),
        message=p.message,
    )


@operation(
    bp,
    "/client-companies/{org_id}/proposals",
    "GET",
    summary="A client company's proposals, newest first",
    tag="proposals",
    response=lambda: s.ProposalListResponse,
    roles=CLIENTS_AND_STAFF,
)
def list_proposals(call: Call[Any, Any]) -> s.ProposalListResponse:
    items = proposals.list_client_proposals(call.container.candidacies, call.user, call.path["org_id"])
    return s.ProposalListResponse(items=[_summary(p) for p in items])


@operation(
    bp,
    "/proposals/{proposal_id}",
    "GET",
    summary="A proposal and its candidates (redacted; a withdrawn candidate shows as withdrawn)",
    tag="proposals",
    response=lambda: s.ProposalResponse,
    roles=CLIENTS_AND_STAFF,
)
def get_proposal(call: Call[Any, Any]) -> s.ProposalResponse:
    view = proposals.get_proposal(call.container.candidacies, call.user, call.path["proposal_id"])
    return s.ProposalResponse(
        proposal_id=view.proposal.proposal_id,
        assignment_id=view.proposal.assignment_id,
        assignment_title=view.assignment_title,
        sent_at=view.proposal.sent_at,
        message=view.proposal.message,
        candidates=[
            s.CandidateCardOut(
                candidacy_id=card.candidacy_id,
                status=card.status,
                display_name=card.display_name,
                title=card.title,
                rate=mappers.breakdown_out(card.breakdown) if card.breakdown else None,
            )
            for card in view.candidates
        ],
    )


@operation(
    bp,
    "/proposals/{proposal_id}/candidates/{candidacy_id}",
    "GET",
    summary="A proposed consultant's redacted profile, with the rate and its commission breakdown",
    tag="proposals",
    response=lambda: s.RedactedProfileResponse,
    roles=CLIENTS_AND_STAFF,
)
def candidate_profile(call: Call[Any, Any]) -> s.RedactedProfileResponse:
    p = proposals.candidate_profile(call.container.candidacies, call.user, call.path["proposal_id"], call.path["candidacy_id"])
    return s.RedactedProfileResponse(
        candidacy_id=p.candidacy_id,
        status=p.status,
        display_name=p.display_name,
        title=p.title,
        summary=p.summary,
        skills=p.skills,
        experience=p.experience,
        education=p.education,
        languages=[s.LanguageOut(code=lang.code, level=lang.level) for lang in p.languages],
        availability=s.AvailabilityOut(**asdict(p.availability)) if p.availability else None,
        rate=mappers.breakdown_out(p.breakdown),
    )


def _decided(call: Call[Any, Any], *, accept: bool, reason: str | None) -> s.CandidateCardOut:
    c = proposals.decide(
        call.container.candidacies, call.user, call.path["proposal_id"], call.path["candidacy_id"], accept=accept, reason=reason
    )
    return s.CandidateCardOut(
        candidacy_id=c.candidacy_id,
        status=c.status,
        display_name=None,
        title=None,
        rate=mappers.breakdown_out(c.breakdown),
        engagement_id=c.engagement_id,
    )


@operation(
    bp,
    "/proposals/{proposal_id}/candidates/{candidacy_id}/accept",
    "POST",
    summary="Accept a candidate (a contract follows)",
    tag="proposals",
    response=lambda: s.CandidateCardOut,
    roles=frozenset({Role.CLIENT}),
    errors=(409,),
)
def accept_candidate(call: Call[Any, Any]) -> s.CandidateCardOut:
    return _decided(call, accept=True, reason=None)


@operation(
    bp,
    "/proposals/{proposal_id}/candidates/{candidacy_id}/decline",
    "POST",
    summary="Decline a candidate, with a reason",
    tag="proposals",
    request=lambda: s.DeclineIn,
    response=lambda: s.CandidateCardOut,
    roles=frozenset({Role.CLIENT}),
    errors=(409,),
)
def decline_candidate(call: Call[s.DeclineIn, Any]) -> s.CandidateCardOut:
    return _decided(call, accept=False, reason=call.body.reason)


# --- interviews -----------------------------------------------------------------------------------------------


def _slot_in(slot: s.SlotIn) -> Slot:
    from chalicelib.domain.proposals import Slot

    return Slot(slot.starts_at, slot.ends_at)


@operation(
    bp,
    "/proposals/{proposal_id}/candidates/{candidacy_id}/interviews",
    "POST",
    summary="Ask for an interview, proposing time slots (the client)",
    tag="interviews",
    request=lambda: s.InterviewRequestIn,
    response=lambda: s.InterviewResponse,
    status=201,
    roles=frozenset({Role.CLIENT}),
    errors=(409,),
)
def request_interview(call: Call[s.InterviewRequestIn, Any]) -> s.InterviewResponse:
    i = interviews.request_interview(
        call.container.candidacies,
        call.user,
        call.path["proposal_id"],
        call.path["candidacy_id"],
        [_slot_in(slot) for slot in call.body.slots],
        call.body.location,
    )
    return mappers.interview_out(i, with_notes=call.user.is_staff)


@operation(
    bp,
    "/interviews/{interview_id}",
    "GET",
    summary="An interview (the client, the consultant, the agency, staff)",
    tag="interviews",
    response=lambda: s.InterviewResponse,
    roles=ANY_ROLE,
)
def get_interview(call: Call[Any, Any]) -> s.InterviewResponse:
    interview = interviews.visible_interview(call.container.candidacies, call.user, call.path["interview_id"])
    return mappers.interview_out(interview, with_notes=call.user.is_staff)


@operation(
    bp,
    "/interviews/{interview_id}/schedule",
    "POST",
    summary="Pick one of the proposed slots (the consultant, the agency); everyone invited gets a calendar invitation",
    tag="interviews",
    request=lambda: s.PickSlotIn,
    response=lambda: s.InterviewResponse,
    roles=PARTIES,
    errors=(409,),
)
def schedule_interview(call: Call[s.PickSlotIn, Any]) -> s.InterviewResponse:
    i = interviews.schedule_interview(call.container.candidacies, call.user, call.path["interview_id"], call.body.starts_at)
    return mappers.interview_out(i, with_notes=call.user.is_staff)


@operation(
    bp,
    "/interviews/{interview_id}/reschedule",
    "POST",
    summary="Move a scheduled interview; everyone invited gets the updated invitation",
    tag="interviews",
    request=lambda: s.RescheduleIn,
    response=lambda: s.InterviewResponse,
    roles=ANY_ROLE,
    errors=(409,),
)
def reschedule_interview(call: Call[s.RescheduleIn, Any]) -> s.InterviewResponse:
    i = interviews.reschedule_interview(call.container.candidacies, call.user, call.path["interview_id"], _slot_in(call.body.slot))
    return mappers.interview_out(i, with_notes=call.user.is_staff)


@operation(
    bp,
    "/interviews/{interview_id}/cancel",
    "POST",
    summary="Cancel an interview; everyone invited gets a calendar cancellation",
    tag="interviews",
    request=lambda: s.ReasonIn,
    response=lambda: s.InterviewResponse,
    roles=ANY_ROLE,
    errors=(409,),
)
def cancel_interview(call: Call[s.ReasonIn, Any]) -> s.InterviewResponse:
    i = interviews.cancel_interview(call.container.candidacies, call.user, call.path["interview_id"], call.body.reason)
    return mappers.interview_out(i, with_notes=call.user.is_staff)


@operation(
    bp,
    "/interviews/{interview_id}/outcome",
    "POST",
    summary="Record how the interview went (the Consultant Agent, staff)",
    tag="interviews",
    request=lambda: s.OutcomeIn,
    response=lambda: s.InterviewResponse,
    roles=STAFF,
    errors=(409,),
)
def record_outcome(call: Call[s.OutcomeIn, Any]) -> s.InterviewResponse:
    i = interviews.record_outcome(call.container.candidacies, call.user, call.path["interview_id"], call.body.outcome, call.body.notes)
    return mappers.interview_out(i, with_notes=call.user.is_staff)


# --- Consultant Agents ---------------------------------------------------------------------------------------


@operation(
    bp,
    "/consultants/{user_id}/agent",
    "PUT",
    summary="Set a consultant's Consultant Agent (staff)",
    tag="proposals",
    request=lambda: s.AgentIn,
    response=lambda: s.AgentResponse,
    roles=STAFF,
    errors=(409,),
)
def set_agent(call: Call[s.AgentIn, Any]) -> s.AgentResponse:
    a = agents.change_agent(call.container.evaluations, call.user, call.path["user_id"], call.body.agent_id, call.body.note)
    return mappers.agent_out(a)


@operation(
    bp,
    "/consultants/{user_id}/agent",
    "GET",
    summary="A consultant's Consultant Agent (the consultant, the agency, staff)",
    tag="proposals",
    response=lambda: s.AgentResponse,
    roles=PARTIES_AND_STAFF,
)
def get_agent(call: Call[Any, Any]) -> s.AgentResponse:
    return mappers.agent_out(interviews.get_consultant_agent(call.container.candidacies, call.user, call.path["user_id"]))
