"""The Consultant Agent's workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import agents as s
    from chalicelib.services import agents
    from chalicelib.services.agents import ConsultantDesk
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.agents")
    agents = LazyModule("chalicelib.services.agents")

bp = Blueprint(__name__)


def _desk_out(desk: ConsultantDesk, agent_id: str) -> s.ConsultantDeskOut:
    return s.ConsultantDeskOut(
        consultant_id=desk.consultant.user_id,
        name=desk.consultant.name,
        assigned_at=desk.assignment.assigned_at,
        handover_note=desk.assignment.note,
        open_candidacies=[
            s.DeskCandidacyOut(
                candidacy_id=c.candidacy_id, assignment_id=c.assignment_id, client_id=c.client_id, status=c.status, updated_at=c.updated_at
            )
            for c in desk.candidacies
        ],
        interviews=[
            s.DeskInterviewOut(
                interview_id=i.interview_id,
                candidacy_id=i.candidacy_id,
                status=i.status,
                starts_at=agents.interview_starts_at(i),
                agent_invited=i.agent_id == agent_id,
            )
            for i in desk.interviews
        ],
        engagements=[
            s.DeskEngagementOut(
                engagement_id=e.engagement_id,
                client_id=e.client_id,
                status=e.status,
                start_date=e.terms.start_date,
                end_date=e.terms.end_date,
            )
            for e in desk.engagements
        ],
        due_evaluations=[
            s.DeskEvaluationOut(
                evaluation_id=r.evaluation_id,
                engagement_id=r.engagement_id,
                due_date=r.due_date,
                deadline=r.deadline,
                missing=sorted(r.missing),
            )
            for r in desk.due_evaluations
        ],
        escalations=[
            s.DeskEscalationOut(
                escalation_id=e.escalation_id,
                reason=e.reason,
                evaluation_id=e.evaluation_id,
                engagement_id=e.engagement_id,
                opened_at=e.opened_at,
                detail=e.detail,
            )
            for e in desk.escalations
        ],
    )


@operation(
    bp,
    "/agents/{agent_id}/workspace",
    "GET",
    summary="A Consultant Agent's consultants and what needs the agent: proposals, interviews, engagements, evaluations, escalations",
    tag="agents",
    response=lambda: s.AgentWorkspaceOut,
    roles=frozenset({Role.STAFF}),
)
def workspace(call: Call[Any, Any]) -> s.AgentWorkspaceOut:
    agent_id = call.path["agent_id"]
    found = agents.agent_workspace(call.container.evaluations, call.user, agent_id)
    return s.AgentWorkspaceOut(agent_id=agent_id, name=found.agent.name, consultants=[_desk_out(d, agent_id) for d in found.consultants])
