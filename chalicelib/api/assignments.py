"""Assignments: posted by a client company's users (or staff on its behalf), listed, edited and moved
through their lifecycle."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain import assignments as domain
    from chalicelib.domain.assignments import Assignment, MatchRun
    from chalicelib.matching.candidates import MatchReasons, SkillMatch
    from chalicelib.matching.ranking import RankedCandidate
    from chalicelib.schemas import assignments as s
    from chalicelib.schemas import consents as consent_schemas
    from chalicelib.schemas import resume as resume_schemas
    from chalicelib.services import assignments as service
else:  # imported on the first request that needs them (cold start)
    domain = LazyModule("chalicelib.domain.assignments")
    s = LazyModule("chalicelib.schemas.assignments")
    consent_schemas = LazyModule("chalicelib.schemas.consents")
    resume_schemas = LazyModule("chalicelib.schemas.resume")
    service = LazyModule("chalicelib.services.assignments")

bp = Blueprint(__name__)
CLIENTS_AND_STAFF = frozenset({Role.CLIENT, Role.STAFF})


def assignment_out(a: Assignment) -> s.AssignmentResponse:
    rate, fee = a.max_hourly_rate, a.fixed_fee
    return s.AssignmentResponse(
        assignment_id=a.assignment_id,
        client_id=a.client_id,
        status=a.status,
        title=a.title,
        description=a.description,
        required_skills=[resume_schemas.NormalisedSkillOut(skill_id=k.skill_id, name=k.name) for k in a.required_skills],
        nice_to_have_skills=[resume_schemas.NormalisedSkillOut(skill_id=k.skill_id, name=k.name) for k in a.nice_to_have_skills],
        seniority=a.seniority,
        start_date=a.start_date,
        end_date=a.end_date,
        share_of_full_time=a.share_of_full_time,
        city=a.city,
        country=a.country,
        work_modes=a.work_modes,
        languages=[s.LanguageRequirementOut(code=lang.code, min_level=lang.min_level) for lang in a.languages],
        max_hourly_rate=consent_schemas.HourlyRateOut(amount_minor=rate.amount_minor, currency=rate.currency) if rate else None,
        fixed_fee=s.FixedFeeOut(amount_minor=fee.amount_minor, currency=fee.currency) if fee else None,
        created_at=a.created_at,
        updated_at=a.updated_at,
        published_at=a.published_at,
    )


@operation(
    bp,
    "/client-companies/{org_id}/assignments",
    "POST",
    summary="Post an assignment as a draft (the company's users, or staff on its behalf; the company must be approved)",
    tag="assignments",
    request=lambda: s.AssignmentIn,
    response=lambda: s.AssignmentResponse,
    status=201,
    roles=CLIENTS_AND_STAFF,
    errors=(409,),
)
def create_assignment(call: Call[s.AssignmentIn, Any]) -> s.AssignmentResponse:
    c = call.container
    return assignment_out(service.create_assignment(c.assignments, c.taxonomy, call.user, call.path["org_id"], call.body))


@operation(
    bp,
    "/client-companies/{org_id}/assignments",
    "GET",
    summary="A client company's assignments, newest first",
    tag="assignments",
    query=lambda: s.AssignmentStatusQuery,
    response=lambda: s.AssignmentListResponse,
    roles=CLIENTS_AND_STAFF,
)
def list_client_assignments(call: Call[Any, s.AssignmentStatusQuery]) -> s.AssignmentListResponse:
    items = service.list_client_assignments(call.container.assignments, call.user, call.path["org_id"], call.query.status)
    return s.AssignmentListResponse(items=[assignment_out(a) for a in items])


@operation(
    bp,
    "/assignments",
    "GET",
    summary="Every client's assignments in a state, newest first (staff; open ones by default)",
    tag="assignments",
    query=lambda: s.OpenAssignmentsQuery,
    response=lambda: s.AssignmentListResponse,
    roles=frozenset({Role.STAFF}),
)
def list_assignments(call: Call[Any, s.OpenAssignmentsQuery]) -> s.AssignmentListResponse:
    items = service.list_assignments(call.container.assignments, call.user, call.query.status)
    return s.AssignmentListResponse(items=[assignment_out(a) for a in items])


@operation(
    bp,
    "/assignments/{assignment_id}",
    "GET",
    summary="An assignment (its company's users, staff)",
    tag="assignments",
    response=lambda: s.AssignmentResponse,
    roles=CLIENTS_AND_STAFF,
)
def get_assignment(call: Call[Any, Any]) -> s.AssignmentResponse:
    return assignment_out(service.get_assignment(call.container.assignments, call.user, call.path["assignment_id"]))


@operation(
    bp,
    "/assignments/{assignment_id}",
    "PUT",
    summary="Change an assignment while it is a draft or open (replaces it)",
    tag="assignments",
    request=lambda: s.AssignmentIn,
    response=lambda: s.AssignmentResponse,
    roles=CLIENTS_AND_STAFF,
    errors=(409,),
)
def update_assignment(call: Call[s.AssignmentIn, Any]) -> s.AssignmentResponse:
    c = call.container
    return assignment_out(service.update_assignment(c.assignments, c.taxonomy, call.user, call.path["assignment_id"], call.body))


# The action, the AssignmentStatus it moves to (by value: the domain module loads on first use), its summary.
_MOVES = {
    "publish": ("open", "Publish a draft: it is open for matching"),
    "fill": ("filled", "Mark an open assignment as filled"),
    "close": ("closed", "Close an open assignment without filling it"),
    "cancel": ("cancelled", "Cancel a draft or open assignment"),
}


def _declare_move(action: str, target: str, summary: str) -> None:
    def move(call: Call[Any, Any]) -> s.AssignmentResponse:
        status = domain.AssignmentStatus(target)
        return assignment_out(service.move_assignment(call.container.assignments, call.user, call.path["assignment_id"], status))

    move.__name__ = f"{action}_assignment"
    operation(
        bp,
        f"/assignments/{{assignment_id}}/{action}",
        "POST",
        summary=summary,
        tag="assignments",
        response=lambda: s.AssignmentResponse,
        roles=CLIENTS_AND_STAFF,
        errors=(409,),
    )(move)


for _action, (_target, _summary) in _MOVES.items():
    _declare_move(_action, _target, _summary)


def _skill_matches(matches: tuple[SkillMatch, ...]) -> list[s.SkillMatchOut]:
    return [s.SkillMatchOut(**dataclasses.asdict(m)) for m in matches]


def reasons_out(r: MatchReasons) -> s.MatchReasonsOut:
    return s.MatchReasonsOut(
        matched_required=_skill_matches(r.matched_required),
        missing_required=list(r.missing_required),
        matched_nice=_skill_matches(r.matched_nice),
        missing_nice=list(r.missing_nice),
        required_coverage=r.required_coverage,
        rate_fit=r.rate_fit.value,
        availability_fit=r.availability_fit.value,
        days_late=r.days_late,
        languages_missing=list(r.languages_missing),
        location_fits=r.location_fits,
        extent_fits=r.extent_fits,
    )


def match_out(run: MatchRun, items: list[RankedCandidate]) -> s.MatchRunResponse:
    candidates = []
    for ranked in items:
        c = ranked.candidate
        rate = (
            consent_schemas.HourlyRateOut(amount_minor=c.hourly_rate.amount_minor, currency=c.hourly_rate.currency)
            if c.hourly_rate
            else None
        )
        candidates.append(
            s.MatchCandidateOut(
                user_id=c.user_id,
                agency_id=c.agency_id,
                title=c.title,
                score=ranked.score,
                hourly_rate=rate,
                available_from=c.available_from,
                reasons=reasons_out(ranked.reasons),
            )
        )
    return s.MatchRunResponse(
        run_id=run.run_id,
        assignment_id=run.assignment_id,
        engine=run.engine,
        taxonomy_version=run.taxonomy_version,
        total=run.total,
        items=candidates,
    )


@operation(
    bp,
    "/assignments/{assignment_id}/matches",
    "POST",
    summary="Run the matching for an assignment: ranked candidates with their reasons (staff; recorded and audited)",
    tag="matching",
    query=lambda: s.MatchQuery,
    response=lambda: s.MatchRunResponse,
    status=201,
    roles=frozenset({Role.STAFF}),
    errors=(409,),
)
def run_match(call: Call[Any, s.MatchQuery]) -> s.MatchRunResponse:
    from chalicelib.services import matching

    q = call.query
    page = matching.run_match(
        call.container.matching,
        call.user,
        call.path["assignment_id"],
        limit=q.limit,
        offset=q.offset,
        min_required_coverage=q.min_required_coverage,
    )
    return match_out(page.run, page.items)


@operation(
    bp,
    "/consultants/{user_id}/fitting-assignments",
    "GET",
    summary="Open assignments that fit a consultant, best first, with reasons (staff: the Consultant Agent; audited)",
    tag="matching",
    response=lambda: s.FittingAssignmentsResponse,
    roles=frozenset({Role.STAFF}),
)
def fitting_assignments(call: Call[Any, Any]) -> s.FittingAssignmentsResponse:
    from chalicelib.services import matching

    fitting = matching.assignments_for_consultant(call.container.matching, call.user, call.path["user_id"])
    items = [
        s.FittingAssignmentOut(assignment=assignment_out(f.assignment), score=f.score, reasons=reasons_out(f.reasons)) for f in fitting
    ]
    return s.FittingAssignmentsResponse(items=items)
