"""Evaluations during an engagement (the client's rating, the self-assessment, the agent's check-in), their
schedule, and the escalations they raise for the consultant's agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain import evaluations as domain
    from chalicelib.domain.evaluations import Escalation, EvaluationRound, Scores
    from chalicelib.schemas import evaluations as s
    from chalicelib.services import evaluations
else:  # imported on the first request that needs them (cold start)
    domain = LazyModule("chalicelib.domain.evaluations")
    evaluations = LazyModule("chalicelib.services.evaluations")
    s = LazyModule("chalicelib.schemas.evaluations")

bp = Blueprint(__name__)
CLIENT = frozenset({Role.CLIENT})
CONSULTANT = frozenset({Role.CONSULTANT})
STAFF = frozenset({Role.STAFF})


def _scores_in(body: s.ScoresIn) -> Scores:
    def one(given: s.CriterionScoreIn) -> domain.CriterionScore:
        return domain.CriterionScore(given.score, given.comment)

    return domain.Scores(one(body.quality), one(body.communication), one(body.expertise), one(body.reliability))


def _scores_out(scores: Scores) -> s.ScoresOut:
    def one(criterion: domain.Criterion) -> s.CriterionScoreOut:
        given = scores.of(criterion)
        return s.CriterionScoreOut(score=given.score, comment=given.comment)

    c = domain.Criterion
    return s.ScoresOut(
        quality=one(c.QUALITY), communication=one(c.COMMUNICATION), expertise=one(c.EXPERTISE), reliability=one(c.RELIABILITY)
    )


def full_view(evaluation: EvaluationRound) -> evaluations.EvaluationView:
    """A round as its consultant's export shows it: everything in it."""
    return evaluations.EvaluationView(evaluation, frozenset(domain.Part) - evaluation.missing)


def evaluation_out(view: evaluations.EvaluationView) -> s.EvaluationOut:
    r = view.round
    rating, assessment, check_in = r.client_rating, r.self_assessment, r.check_in
    return s.EvaluationOut(
        evaluation_id=r.evaluation_id,
        engagement_id=r.engagement_id,
        consultant_id=r.consultant_id,
        due_date=r.due_date,
        deadline=r.deadline,
        closes_on=r.closes_on,
        status=r.status,
        opened_at=r.opened_at,
        closed_at=r.closed_at,
        given=[p for p in domain.Part if p in view.given],
        client_rating=s.ClientRatingOut(
            scores=_scores_out(rating.scores),
            average=round(rating.scores.average, 2),
            comment=rating.comment,
            submitted_at=rating.submitted_at,
            submitted_by=rating.submitted_by,
        )
        if rating
        else None,
        self_assessment=s.SelfAssessmentOut(
            text=assessment.text, scores=_scores_out(assessment.scores) if assessment.scores else None, submitted_at=assessment.submitted_at
        )
        if assessment
        else None,
        check_in=s.CheckInOut(
            feedback=check_in.feedback,
            notes=check_in.notes,
            recorded_at=check_in.recorded_at,
            recorded_by=check_in.recorded_by,
            by_agent=check_in.by_agent,
        )
        if check_in
        else None,
    )


def _engagement_evaluations_out(found: evaluations.EngagementEvaluations) -> s.EngagementEvaluationsResponse:
    schedule = found.schedule
    return s.EngagementEvaluationsResponse(
        schedule=s.ScheduleOut(
            first_after_days=schedule.first_after_days,
            every_days=schedule.every_days,
            respond_within_days=schedule.respond_within_days,
            set_at=schedule.set_at,
            set_by=schedule.set_by,
        ),
        next_due_date=found.next_due,
        items=[evaluation_out(v) for v in found.rounds],
    )


def escalation_out(e: Escalation) -> s.EscalationOut:
    return s.EscalationOut(
        escalation_id=e.escalation_id,
        reason=e.reason,
        status=e.status,
        evaluation_id=e.evaluation_id,
        engagement_id=e.engagement_id,
        consultant_id=e.consultant_id,
        agent_id=e.agent_id,
        due_date=e.due_date,
        opened_at=e.opened_at,
        detail=e.detail,
        resolved_at=e.resolved_at,
        resolved_by=e.resolved_by,
        resolution_note=e.resolution_note,
    )


@operation(
    bp,
    "/engagements/{engagement_id}/evaluations",
    "GET",
    summary="An engagement's evaluation rounds, its schedule and next due date (its parties and staff, each seeing their share)",
    tag="evaluations",
    response=lambda: s.EngagementEvaluationsResponse,
    roles=ANY_ROLE,
)
def engagement_evaluations(call: Call[Any, Any]) -> s.EngagementEvaluationsResponse:
    return _engagement_evaluations_out(
        evaluations.engagement_evaluations(call.container.evaluations, call.user, call.path["engagement_id"])
    )


@operation(
    bp,
    "/engagements/{engagement_id}/evaluation-schedule",
    "PUT",
    summary="Set an engagement's evaluation cadence: the first after N days, then every M days (staff)",
    tag="evaluations",
    request=lambda: s.ScheduleIn,
    response=lambda: s.EngagementEvaluationsResponse,
    roles=STAFF,
    errors=(409,),
)
def set_schedule(call: Call[s.ScheduleIn, Any]) -> s.EngagementEvaluationsResponse:
    body, ports = call.body, call.container.evaluations
    engagement_id = call.path["engagement_id"]
    evaluations.set_schedule(ports, call.user, engagement_id, body.first_after_days, body.every_days, body.respond_within_days)
    return _engagement_evaluations_out(evaluations.engagement_evaluations(ports, call.user, engagement_id))


@operation(
    bp,
    "/evaluations",
    "GET",
    summary="Open evaluation rounds due before a day, oldest first (staff)",
    tag="evaluations",
    query=lambda: s.DueQuery,
    response=lambda: s.EvaluationListResponse,
    roles=STAFF,
)
def evaluations_due(call: Call[Any, s.DueQuery]) -> s.EvaluationListResponse:
    found = evaluations.evaluations_due(call.container.evaluations, call.user, call.query.due_before)
    return s.EvaluationListResponse(items=[evaluation_out(v) for v in found])


@operation(
    bp,
    "/evaluations/{evaluation_id}",
    "GET",
    summary="An evaluation round (the engagement's parties and staff, each seeing their share)",
    tag="evaluations",
    response=lambda: s.EvaluationOut,
    roles=ANY_ROLE,
)
def get_evaluation(call: Call[Any, Any]) -> s.EvaluationOut:
    return evaluation_out(evaluations.get_evaluation(call.container.evaluations, call.user, call.path["evaluation_id"]))


@operation(
    bp,
    "/evaluations/{evaluation_id}/client-rating",
    "POST",
    summary="Rate the delivery on quality, communication, expertise and reliability, once per round (the client's users)",
    tag="evaluations",
    request=lambda: s.ClientRatingIn,
    response=lambda: s.EvaluationOut,
    roles=CLIENT,
    errors=(409,),
)
def rate_delivery(call: Call[s.ClientRatingIn, Any]) -> s.EvaluationOut:
    body = call.body
    view = evaluations.rate_delivery(call.container.evaluations, call.user, call.path["evaluation_id"], _scores_in(body), body.comment)
    return evaluation_out(view)


@operation(
    bp,
    "/evaluations/{evaluation_id}/self-assessment",
    "POST",
    summary="The consultant's self-assessment, once per round",
    tag="evaluations",
    request=lambda: s.SelfAssessmentIn,
    response=lambda: s.EvaluationOut,
    roles=CONSULTANT,
    errors=(409,),
)
def assess_self(call: Call[s.SelfAssessmentIn, Any]) -> s.EvaluationOut:
    body = call.body
    scores = _scores_in(body.scores) if body.scores else None
    return evaluation_out(evaluations.assess_self(call.container.evaluations, call.user, call.path["evaluation_id"], body.text, scores))


@operation(
    bp,
    "/evaluations/{evaluation_id}/check-in",
    "POST",
    summary="The Consultant Agent's check-in and feedback to the consultant, once per round (staff)",
    tag="evaluations",
    request=lambda: s.CheckInIn,
    response=lambda: s.EvaluationOut,
    roles=STAFF,
    errors=(409,),
)
def record_check_in(call: Call[s.CheckInIn, Any]) -> s.EvaluationOut:
    body = call.body
    view = evaluations.record_check_in(call.container.evaluations, call.user, call.path["evaluation_id"], body.notes, body.feedback)
    return evaluation_out(view)


@operation(
    bp,
    "/escalations",
    "GET",
    summary="Escalations by status, newest first (staff)",
    tag="evaluations",
    query=lambda: s.EscalationQuery,
    response=lambda: s.EscalationListResponse,
    roles=STAFF,
)
def list_escalations(call: Call[Any, s.EscalationQuery]) -> s.EscalationListResponse:
    found = evaluations.list_escalations(call.container.evaluations, call.user, call.query.status)
    return s.EscalationListResponse(items=[escalation_out(e) for e in found])


@operation(
    bp,
    "/escalations/{escalation_id}/resolve",
    "POST",
    summary="Resolve an open escalation with a note (the agent or other staff)",
    tag="evaluations",
    request=lambda: s.ResolveEscalationIn,
    response=lambda: s.EscalationOut,
    roles=STAFF,
    errors=(409,),
)
def resolve_escalation(call: Call[s.ResolveEscalationIn, Any]) -> s.EscalationOut:
    return escalation_out(evaluations.resolve_escalation(call.container.evaluations, call.user, call.path["escalation_id"], call.body.note))
