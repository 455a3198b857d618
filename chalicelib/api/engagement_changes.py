"""Changes to an engagement: proposed by a party, agreed by all three, signed as addenda to both contracts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.contracts import contract_out
from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain.engagement_changes import EngagementChange
    from chalicelib.schemas import engagement_changes as s
    from chalicelib.schemas import mappers
    from chalicelib.services import engagement_changes as changes
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.engagement_changes")
    mappers = LazyModule("chalicelib.schemas.mappers")
    changes = LazyModule("chalicelib.services.engagement_changes")

bp = Blueprint(__name__)
PARTIES = frozenset({Role.CLIENT, Role.AGENCY_ADMIN, Role.CONSULTANT})
BASE = "/engagements/{engagement_id}/changes"


def _out(call: Call[Any, Any], change: EngagementChange) -> s.ChangeResponse:
    ports = call.container.engagement_changes
    engagement = ports.contracts.engagements.get_engagement(change.engagement_id)
    assert engagement is not None, "an engagement is never deleted"
    return s.ChangeResponse(
        **s.change_record_out(change).model_dump(),
        previous_terms=mappers.terms_out(change.previous),
        new_terms=mappers.terms_out(change.new_terms),
        waiting_for=sorted(change.waiting_for),
        agreed_at=change.agreed_at,
        signed_at=change.signed_at,
        addenda=[contract_out(c) for c in changes.visible_addenda(ports, call.user, engagement, change)],
    )


@operation(
    bp,
    BASE,
    "POST",
    summary="Propose an extension, an early end, or a new extent or rate (the client, the agency or the consultant)",
    tag="engagement changes",
    request=lambda: s.ProposeChangeIn,
    response=lambda: s.ChangeResponse,
    status=201,
    roles=PARTIES,
    errors=(409,),
)
def propose_change(call: Call[s.ProposeChangeIn, Any]) -> s.ChangeResponse:
    from chalicelib.domain.engagement_changes import ProposedTerms

    body = call.body
    proposed = ProposedTerms(body.end_date, body.share_of_full_time, body.rate_minor, body.effective_from)
    change = changes.propose_change(call.container.engagement_changes, call.user, call.path["engagement_id"], proposed, body.reason)
    return _out(call, change)


@operation(
    bp,
    BASE,
    "GET",
    summary="An engagement's changes, oldest first",
    tag="engagement changes",
    response=lambda: s.ChangeListResponse,
    roles=ANY_ROLE,
)
def list_changes(call: Call[Any, Any]) -> s.ChangeListResponse:
    found = changes.list_changes(call.container.engagement_changes, call.user, call.path["engagement_id"])
    return s.ChangeListResponse(items=[_out(call, c) for c in found])


@operation(
    bp, BASE + "/{change_id}", "GET", summary="A change", tag="engagement changes", response=lambda: s.ChangeResponse, roles=ANY_ROLE
)
def get_change(call: Call[Any, Any]) -> s.ChangeResponse:
    return _out(call, changes.get_change(call.container.engagement_changes, call.user, call.path["engagement_id"], call.path["change_id"]))


@operation(
    bp,
    BASE + "/{change_id}/agree",
    "POST",
    summary="Agree to a change for my party; the last agreement sends the addenda for signature",
    tag="engagement changes",
    response=lambda: s.ChangeResponse,
    roles=PARTIES,
    errors=(409, 503),
)
def agree_change(call: Call[Any, Any]) -> s.ChangeResponse:
    ports = call.container.engagement_changes
    return _out(call, changes.answer_change(ports, call.user, call.path["engagement_id"], call.path["change_id"], agree=True))


@operation(
    bp,
    BASE + "/{change_id}/decline",
    "POST",
    summary="Decline a change for my party",
    tag="engagement changes",
    request=lambda: s.DeclineChangeIn,
    response=lambda: s.ChangeResponse,
    roles=PARTIES,
    errors=(409,),
)
def decline_change(call: Call[s.DeclineChangeIn, Any]) -> s.ChangeResponse:
    ports = call.container.engagement_changes
    change = changes.answer_change(
        ports, call.user, call.path["engagement_id"], call.path["change_id"], agree=False, reason=call.body.reason
    )
    return _out(call, change)


@operation(
    bp,
    BASE + "/{change_id}/withdraw",
    "POST",
    summary="Withdraw an open change (its proposer, or staff); addenda out are voided",
    tag="engagement changes",
    request=lambda: s.WithdrawChangeIn,
    response=lambda: s.ChangeResponse,
    roles=ANY_ROLE,
    errors=(409, 503),
)
def withdraw_change(call: Call[s.WithdrawChangeIn, Any]) -> s.ChangeResponse:
    ports = call.container.engagement_changes
    return _out(call, changes.withdraw_change(ports, call.user, call.path["engagement_id"], call.path["change_id"], call.body.reason))


@operation(
    bp,
    BASE + "/{change_id}/addenda/send",
    "POST",
    summary="Send an agreed change's addenda again, signing for the platform (staff)",
    tag="engagement changes",
    request=lambda: s.SendAddendaIn,
    response=lambda: s.ChangeResponse,
    roles=frozenset({Role.STAFF}),
    errors=(409, 503),
)
def send_addenda(call: Call[s.SendAddendaIn, Any]) -> s.ChangeResponse:
    ports = call.container.engagement_changes
    change = changes.resend_addenda(ports, call.user, call.path["engagement_id"], call.path["change_id"], call.body.provider)
    return _out(call, change)
