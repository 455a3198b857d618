"""Engagements and their contracts, the built-in signature's signing pages, and the signature webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain.contracts import Contract, Engagement
    from chalicelib.schemas import contracts as s
    from chalicelib.schemas import mappers
    from chalicelib.services import contracts, signing
    from chalicelib.services.contracts import ContractPorts
    from chalicelib.services.signing import SigningView
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.contracts")
    mappers = LazyModule("chalicelib.schemas.mappers")
    contracts = LazyModule("chalicelib.services.contracts")
    signing = LazyModule("chalicelib.services.signing")

bp = Blueprint(__name__)
STAFF = frozenset({Role.STAFF})
# Signed webhooks are small; DocuSign's JSON SIM messages without documents are a few kilobytes.
WEBHOOK_MAX_BYTES = 256 * 1024


def contract_out(c: Contract) -> s.ContractOut:
    return s.ContractOut(
        contract_id=c.contract_id,
        change_id=c.change_id,
        party=c.party,
        version=c.version,
        status=c.status,
        language=c.language,
        provider=c.provider,
        sent_at=c.sent_at,
        completed_at=c.completed_at,
        ended_at=c.ended_at,
        end_reason=c.end_reason,
        document_sha256=c.document.sha256,
        signed_document_sha256=c.signed_document.sha256 if c.signed_document else None,
        has_certificate=c.certificate is not None,
        signers=[s.SignerOut(role=signer.role, name=signer.name, signed_at=signer.signed_at) for signer in c.signers],
    )


def _title(ports: ContractPorts, engagement: Engagement) -> str:
    assignment = ports.candidacies.assignments.assignments.get_assignment(engagement.assignment_id)
    return assignment.title if assignment else ""


def _engagement_out(ports: ContractPorts, engagement: Engagement, visible: list[Contract]) -> s.EngagementResponse:
    return s.EngagementResponse(
        engagement_id=engagement.engagement_id,
        candidacy_id=engagement.candidacy_id,
        assignment_id=engagement.assignment_id,
        assignment_title=_title(ports, engagement),
        client_id=engagement.client_id,
        agency_id=engagement.agency_id,
        consultant_id=engagement.consultant_id,
        status=engagement.status,
        time_reporting_open=engagement.reports_time,
        created_at=engagement.created_at,
        activated_at=engagement.activated_at,
        ended_at=engagement.ended_at,
        terms=mappers.terms_out(engagement.terms),
        contracts=[contract_out(c) for c in visible],
    )


@operation(
    bp,
    "/engagements",
    "GET",
    summary="List my engagements (staff: by status)",
    tag="contracts",
    query=lambda: s.EngagementQuery,
    response=lambda: s.EngagementListResponse,
    roles=ANY_ROLE,
)
def list_engagements(call: Call[Any, s.EngagementQuery]) -> s.EngagementListResponse:
    ports = call.container.contracts
    found = contracts.list_engagements(ports, call.user, call.query.status)
    items = [
        s.EngagementSummary(
            engagement_id=e.engagement_id,
            assignment_id=e.assignment_id,
            assignment_title=_title(ports, e),
            status=e.status,
            start_date=e.terms.start_date,
            end_date=e.terms.end_date,
            created_at=e.created_at,
        )
        for e in found
    ]
    return s.EngagementListResponse(items=items)


@operation(
    bp,
    "/engagements/{engagement_id}",
    "GET",
    summary="An engagement: its terms and the contracts I am a party to",
    tag="contracts",
    response=lambda: s.EngagementResponse,
    roles=ANY_ROLE,
)
def get_engagement(call: Call[Any, Any]) -> s.EngagementResponse:
    ports = call.container.contracts
    engagement, visible = contracts.get_engagement(ports, call.user, call.path["engagement_id"])
    return _engagement_out(ports, engagement, visible)


@operation(
    bp,
    "/engagements/{engagement_id}/terms",
    "PUT",
    summary="Set the terms before the contracts go out (staff)",
    tag="contracts",
    request=lambda: s.TermsIn,
    response=lambda: s.EngagementResponse,
    roles=STAFF,
    errors=(409,),
)
def put_terms(call: Call[s.TermsIn, Any]) -> s.EngagementResponse:
    from chalicelib.domain.contracts import EngagementTerms, Milestone

    ports = call.container.contracts
    body = call.body
    current, _ = contracts.get_engagement(ports, call.user, call.path["engagement_id"])
    terms = EngagementTerms(
        pricing=body.pricing,
        currency=body.currency,
        commission_bps=current.terms.commission_bps,
        start_date=body.start_date,
        end_date=body.end_date,
        share_of_full_time=body.share_of_full_time,
        scope=body.scope,
        payment_terms_days=body.payment_terms_days,
        reporting_period=body.reporting_period,
        rate_minor=body.rate_minor,
        milestones=tuple(Milestone(str(i), m.title, m.amount_minor, m.due_date) for i, m in enumerate(body.milestones, start=1)),
    )
    updated = contracts.update_terms(ports, call.user, call.path["engagement_id"], terms)
    engagement, visible = contracts.get_engagement(ports, call.user, updated.engagement_id)
    return _engagement_out(ports, engagement, visible)


@operation(
    bp,
    "/engagements/{engagement_id}/contracts/send",
    "POST",
    tag="contracts",
    summary="Generate both contracts from the terms and send them for signature, signing for the platform (staff)",
    request=lambda: s.SendContractsIn,
    response=lambda: s.EngagementResponse,
    roles=STAFF,
    errors=(409, 503),
)
def send_contracts(call: Call[s.SendContractsIn, Any]) -> s.EngagementResponse:
    ports = call.container.contracts
    contracts.send_contracts(ports, call.user, call.path["engagement_id"], call.body.provider)
    engagement, visible = contracts.get_engagement(ports, call.user, call.path["engagement_id"])
    return _engagement_out(ports, engagement, visible)


@operation(
    bp,
    "/engagements/{engagement_id}/cancel",
    "POST",
    tag="contracts",
    summary="Call off an engagement before its contracts are signed; contracts still out are voided (staff)",
    request=lambda: s.CancelEngagementIn,
    response=lambda: s.EngagementResponse,
    roles=STAFF,
    errors=(409, 503),
)
def cancel_engagement(call: Call[s.CancelEngagementIn, Any]) -> s.EngagementResponse:
    ports = call.container.contracts
    contracts.cancel_engagement(ports, call.user, call.path["engagement_id"], call.body.reason)
    engagement, visible = contracts.get_engagement(ports, call.user, call.path["engagement_id"])
    return _engagement_out(ports, engagement, visible)


@operation(
    bp,
    "/engagements/{engagement_id}/contracts/{contract_id}",
    "GET",
    summary="A contract (its parties and staff)",
    tag="contracts",
    response=lambda: s.ContractOut,
    roles=ANY_ROLE,
)
def get_contract(call: Call[Any, Any]) -> s.ContractOut:
    _, contract = contracts.visible_contract(call.container.contracts, call.user, call.path["engagement_id"], call.path["contract_id"])
    return contract_out(contract)


@operation(
    bp,
    "/engagements/{engagement_id}/contracts/{contract_id}/document",
    "GET",
    tag="contracts",
    summary="A short-lived link to the contract's PDF, after checking it against its SHA-256 (its parties and staff)",
    query=lambda: s.DocumentQuery,
    response=lambda: s.DocumentLinkResponse,
    roles=ANY_ROLE,
    errors=(409,),
)
def get_contract_document(call: Call[Any, s.DocumentQuery]) -> s.DocumentLinkResponse:
    link = contracts.document_link(
        call.container.contracts, call.user, call.path["engagement_id"], call.path["contract_id"], call.query.kind
    )
    return s.DocumentLinkResponse(url=link.url, sha256=link.sha256, size=link.size, expires_at=link.expires_at)


def _signing_out(view: SigningView) -> s.SigningResponse:
    envelope, recipient = view.envelope, view.recipient
    return s.SigningResponse(
        envelope_id=envelope.envelope_id,
        document_name=envelope.document_name,
        document_sha256=envelope.document_sha256,
        envelope_status=envelope.status,
        expires_at=envelope.expires_at,
        signer_name=recipient.name,
        signer_state=recipient.state,
        signed_at=recipient.evidence.signed_at if recipient.evidence else None,
        document_url=view.document_url,
        document_url_expires_at=view.url_expires_at,
    )


@operation(
    bp,
    "/signing/{envelope_id}",
    "GET",
    tag="signing",
    summary="The document a signing link asks me to sign (built-in signature; the signer, signed in)",
    query=lambda: s.SigningQuery,
    response=lambda: s.SigningResponse,
    roles=ANY_ROLE,
)
def get_signing(call: Call[Any, s.SigningQuery]) -> s.SigningResponse:
    view = signing.signing_request(call.container.signing, call.user, call.path["envelope_id"], call.query.token)
    return _signing_out(view)


@operation(
    bp,
    "/signing/{envelope_id}/sign",
    "POST",
    tag="signing",
    summary="Sign: type my name and confirm (built-in signature)",
    request=lambda: s.SignIn,
    response=lambda: s.SigningResponse,
    roles=ANY_ROLE,
    errors=(409,),
)
def sign(call: Call[s.SignIn, Any]) -> s.SigningResponse:
    body = call.body
    view = signing.sign(
        call.container.signing, call.user, call.path["envelope_id"], body.token, body.typed_name, body.document_sha256, call.context
    )
    return _signing_out(view)


@operation(
    bp,
    "/signing/{envelope_id}/decline",
    "POST",
    tag="signing",
    summary="Decline to sign, saying why (built-in signature)",
    request=lambda: s.DeclineSigningIn,
    response=lambda: s.SigningResponse,
    roles=ANY_ROLE,
    errors=(409,),
)
def decline_signing(call: Call[s.DeclineSigningIn, Any]) -> s.SigningResponse:
    view = signing.decline(call.container.signing, call.user, call.path["envelope_id"], call.body.token, call.body.reason)
    return _signing_out(view)


@operation(
    bp,
    "/webhooks/esign",
    "POST",
    tag="signing",
    roles=None,
    raw=True,
    max_body_bytes=WEBHOOK_MAX_BYTES,
    summary="Signature provider events (DocuSign Connect, and the built-in signature in the same format), HMAC-signed",
    response=lambda: s.WebhookResponse,
    errors=(401, 404, 409, 503),
)
def signature_webhook(call: Call[Any, Any]) -> s.WebhookResponse:
    outcome = contracts.handle_signature_webhook(call.container.contracts, call.raw_body, call.headers)
    return s.WebhookResponse(outcome=outcome)
