"""Time reporting on engagements, periods the agency confirms, and the invoices they make."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import utcnow
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain.invoicing import Invoice, MilestoneClaim
    from chalicelib.domain.timesheets import Period, TimeEntry
    from chalicelib.schemas import timesheets as s
    from chalicelib.services import invoice_corrections, milestones, timesheets
else:  # imported on the first request that needs them (cold start)
    invoice_corrections = LazyModule("chalicelib.services.invoice_corrections")
    s = LazyModule("chalicelib.schemas.timesheets")
    milestones = LazyModule("chalicelib.services.milestones")
    timesheets = LazyModule("chalicelib.services.timesheets")

bp = Blueprint(__name__)
CONSULTANT = frozenset({Role.CONSULTANT})
AGENCY_ADMIN = frozenset({Role.AGENCY_ADMIN})
STAFF = frozenset({Role.STAFF})


def _entry_out(e: TimeEntry) -> s.TimeEntryOut:
    return s.TimeEntryOut(day=e.day, minutes=e.minutes, day_share=e.day_share, description=e.description, updated_at=e.updated_at)


def _period_out(p: Period) -> s.PeriodOut:
    return s.PeriodOut(
        engagement_id=p.engagement_id,
        period=p.key,
        kind=p.kind,
        status=p.status,
        entries=p.entries,
        minutes=p.minutes,
        day_shares=p.day_shares,
        submitted_at=p.submitted_at,
        confirmed_at=p.confirmed_at,
        returned_at=p.returned_at,
        return_comment=p.return_comment,
        invoice_id=p.invoice_id,
    )


def _invoice_out(i: Invoice, principal: Principal | None = None) -> s.InvoiceOut:
    """``principal``: the reader; the client's users do not see why an invoice waits (the agency's payout
    requirements are the agency's business)."""
    from chalicelib.domain.invoicing import InvoiceStatus

    for_client = principal is not None and principal.has(Role.CLIENT) and principal.org_id == i.client_id
    return s.InvoiceOut(
        invoice_id=i.invoice_id,
        engagement_id=i.engagement_id,
        source=i.source,
        status=i.status,
        lines=[s.InvoiceLineOut(description=line.description, quantity=line.quantity, amount_minor=line.amount_minor) for line in i.lines],
        breakdown=s.InvoiceBreakdownOut(**asdict(i.breakdown)),
        days_until_due=i.days_until_due,
        created_at=i.created_at,
        hosted_invoice_url=i.hosted_invoice_url,
        blocked_reason=None if for_client else i.blocked_reason,
        due_at=i.due_at,
        overdue=i.status is InvoiceStatus.OPEN and i.due_at is not None and i.due_at < utcnow(),
        amount_paid_minor=i.amount_paid_minor,
        paid_at=i.paid_at,
        payment_failed_at=i.payment_failed_at,
        credit_notes=[
            s.CreditNoteOut(
                credit_note_id=c.credit_note_id, amount_minor=c.amount_minor, reason=c.reason, memo=c.memo, created_at=c.created_at
            )
            for c in i.credit_notes
            if c.credit_note_id is not None  # made: not one still being made, nor one the provider refused
        ],
        returned_to_client_minor=i.returned_to_client_minor,
        agency_share_transferred_minor=i.transferred_minor,
        agency_share_held_back_minor=i.held_back_minor,
        dispute_status=i.dispute_status,
        void_reason=i.void_reason,
        replaces=i.replaces,
        replaced_by=i.replaced_by,
    )


@operation(
    bp,
    "/engagements/{engagement_id}/time",
    "PUT",
    summary="Report a day's time (the consultant; a second report of the day replaces the first)",
    tag="time",
    request=lambda: s.TimeEntryIn,
    response=lambda: s.TimeEntryOut,
    roles=CONSULTANT,
    errors=(409,),
)
def report_time(call: Call[s.TimeEntryIn, Any]) -> s.TimeEntryOut:
    body = call.body
    entry = timesheets.report_time(
        call.container.timesheets,
        call.user,
        call.path["engagement_id"],
        body.day,
        minutes=body.minutes,
        day_share=body.day_share,
        description=body.description,
    )
    return _entry_out(entry)


@operation(
    bp,
    "/engagements/{engagement_id}/time",
    "DELETE",
    summary="Remove a day's time while its period is open (the consultant)",
    tag="time",
    query=lambda: s.DayQuery,
    status=204,
    roles=CONSULTANT,
    errors=(409,),
)
def remove_time(call: Call[Any, s.DayQuery]) -> Response:
    timesheets.remove_time(call.container.timesheets, call.user, call.path["engagement_id"], call.query.day)
    return Response(body="", status_code=204)


@operation(
    bp,
    "/engagements/{engagement_id}/time",
    "GET",
    summary="The time of a period (the consultant, the agency's admins, staff)",
    tag="time",
    query=lambda: s.PeriodQuery,
    response=lambda: s.PeriodTimeResponse,
    roles=ANY_ROLE,
)
def get_time(call: Call[Any, s.PeriodQuery]) -> s.PeriodTimeResponse:
    from chalicelib.domain.timesheets import PeriodStatus

    view = timesheets.get_period(call.container.timesheets, call.user, call.path["engagement_id"], call.query.period)
    period = view.period
    return s.PeriodTimeResponse(
        period=view.key,
        status=period.status if period else PeriodStatus.OPEN,
        entries=[_entry_out(e) for e in view.entries],
        minutes=period.minutes if period else 0,
        day_shares=period.day_shares if period else 0,
        return_comment=period.return_comment if period else None,
    )


@operation(
    bp,
    "/engagements/{engagement_id}/periods",
    "GET",
    summary="An engagement's periods with time (the consultant, the agency's admins, staff)",
    tag="time",
    response=lambda: s.PeriodListResponse,
    roles=ANY_ROLE,
)
def list_periods(call: Call[Any, Any]) -> s.PeriodListResponse:
    return s.PeriodListResponse(
        items=[_period_out(p) for p in timesheets.list_periods(call.container.timesheets, call.user, call.path["engagement_id"])]
    )


@operation(
    bp,
    "/engagements/{engagement_id}/periods/submit",
    "POST",
    summary="Submit a period's time to the agency (the consultant)",
    tag="time",
    request=lambda: s.PeriodIn,
    response=lambda: s.PeriodOut,
    roles=CONSULTANT,
    errors=(409,),
)
def submit_period(call: Call[s.PeriodIn, Any]) -> s.PeriodOut:
    return _period_out(timesheets.submit_period(call.container.timesheets, call.user, call.path["engagement_id"], call.body.period))


@operation(
    bp,
    "/engagements/{engagement_id}/periods/confirm",
    "POST",
    summary="Confirm a submitted period: the client's invoice is made, once (the agency's admins)",
    tag="time",
    request=lambda: s.PeriodIn,
    response=lambda: s.ConfirmedPeriodResponse,
    roles=AGENCY_ADMIN,
    errors=(409,),
)
def confirm_period(call: Call[s.PeriodIn, Any]) -> s.ConfirmedPeriodResponse:
    period, invoice = timesheets.confirm_period(call.container.timesheets, call.user, call.path["engagement_id"], call.body.period)
    return s.ConfirmedPeriodResponse(period=_period_out(period), invoice=_invoice_out(invoice))


@operation(
    bp,
    "/engagements/{engagement_id}/periods/return",
    "POST",
    summary="Return a submitted period to the consultant with a comment (the agency's admins)",
    tag="time",
    request=lambda: s.ReturnPeriodIn,
    response=lambda: s.PeriodOut,
    roles=AGENCY_ADMIN,
    errors=(409,),
)
def return_period(call: Call[s.ReturnPeriodIn, Any]) -> s.PeriodOut:
    body = call.body
    return _period_out(
        timesheets.return_period(call.container.timesheets, call.user, call.path["engagement_id"], body.period, body.comment)
    )


@operation(
    bp,
    "/agencies/{agency_id}/periods",
    "GET",
    summary="The periods waiting for the agency's confirmation",
    tag="time",
    response=lambda: s.PeriodListResponse,
    roles=ANY_ROLE,
)
def periods_to_confirm(call: Call[Any, Any]) -> s.PeriodListResponse:
    periods = timesheets.periods_to_confirm(call.container.timesheets, call.user, call.path["agency_id"])
    return s.PeriodListResponse(items=[_period_out(p) for p in periods])


@operation(
    bp,
    "/engagements/{engagement_id}/invoices",
    "GET",
    summary="An engagement's invoices, each with the breakdown every party sees",
    tag="invoices",
    response=lambda: s.InvoiceListResponse,
    roles=ANY_ROLE,
)
def engagement_invoices(call: Call[Any, Any]) -> s.InvoiceListResponse:
    invoices = timesheets.engagement_invoices(call.container.timesheets, call.user, call.path["engagement_id"])
    return s.InvoiceListResponse(items=[_invoice_out(i, call.user) for i in invoices])


@operation(
    bp,
    "/invoices/{invoice_id}",
    "GET",
    summary="An invoice and its breakdown",
    tag="invoices",
    response=lambda: s.InvoiceOut,
    roles=ANY_ROLE,
)
def get_invoice(call: Call[Any, Any]) -> s.InvoiceOut:
    return _invoice_out(timesheets.visible_invoice(call.container.timesheets, call.user, call.path["invoice_id"]), call.user)


@operation(
    bp,
    "/invoices/{invoice_id}/credit-notes",
    "POST",
    summary="Staff: credit part of an issued invoice (lowers what an open one asks; refunds a paid one); the agency gives back its share",
    tag="invoices",
    request=lambda: s.CreditNoteIn,
    response=lambda: s.InvoiceOut,
    roles=STAFF,
    errors=(409, 503),
)
def credit_invoice(call: Call[s.CreditNoteIn, Any]) -> s.InvoiceOut:
    body = call.body
    invoice = invoice_corrections.credit_invoice(
        call.container.invoicing, call.user, call.path["invoice_id"], body.amount_minor, body.reason, body.memo
    )
    return _invoice_out(invoice, call.user)


@operation(
    bp,
    "/invoices/{invoice_id}/void",
    "POST",
    summary="Staff: void an open or uncollectible invoice; issue it again once what was wrong is corrected",
    tag="invoices",
    request=lambda: s.VoidInvoiceIn,
    response=lambda: s.InvoiceOut,
    roles=STAFF,
    errors=(409, 503),
)
def void_invoice(call: Call[s.VoidInvoiceIn, Any]) -> s.InvoiceOut:
    invoice = invoice_corrections.void_invoice(call.container.invoicing, call.user, call.path["invoice_id"], call.body.reason)
    return _invoice_out(invoice, call.user)


@operation(
    bp,
    "/invoices/{invoice_id}/reissue",
    "POST",
    summary="Staff: a new invoice for what a voided one invoiced, with the client's details as they are now",
    tag="invoices",
    response=lambda: s.InvoiceOut,
    status=201,
    roles=STAFF,
    errors=(409,),
)
def reissue_invoice(call: Call[Any, Any]) -> s.InvoiceOut:
    return _invoice_out(invoice_corrections.reissue_invoice(call.container.invoicing, call.user, call.path["invoice_id"]), call.user)


def _claim_out(c: MilestoneClaim) -> s.ClaimOut:
    return s.ClaimOut(
        claim_id=c.claim_id,
        engagement_id=c.engagement_id,
        milestone_id=c.milestone_id,
        amount_minor=c.amount_minor,
        reference=c.reference,
        status=c.status,
        created_at=c.created_at,
        document_sha256=c.document_sha256,
        document_problem=c.document_problem,
        reject_reason=c.reject_reason,
        invoice_id=c.invoice_id,
    )


@operation(
    bp,
    "/engagements/{engagement_id}/claims",
    "POST",
    summary="Invoice the platform for a milestone of a fixed fee, then upload the invoice PDF (the agency's admins)",
    tag="invoices",
    request=lambda: s.ClaimIn,
    response=lambda: s.ClaimCreatedResponse,
    status=201,
    roles=AGENCY_ADMIN,
    errors=(409,),
)
def create_claim(call: Call[s.ClaimIn, Any]) -> s.ClaimCreatedResponse:
    body = call.body
    claim, form = milestones.claim_milestone(
        call.container.milestones, call.user, call.path["engagement_id"], body.milestone_id, body.amount_minor, body.reference
    )
    upload = s.UploadFormOut(
        url=form.url, fields=form.fields, expires_at=form.expires_at, max_bytes=milestones.MAX_PDF_BYTES, content_type=milestones.PDF
    )
    return s.ClaimCreatedResponse(claim=_claim_out(claim), upload=upload)


@operation(
    bp,
    "/engagements/{engagement_id}/claims",
    "GET",
    summary="A fixed-fee engagement's milestone invoices (the agency's admins, staff)",
    tag="invoices",
    response=lambda: s.ClaimListResponse,
    roles=ANY_ROLE,
)
def list_claims(call: Call[Any, Any]) -> s.ClaimListResponse:
    return s.ClaimListResponse(
        items=[_claim_out(c) for c in milestones.list_claims(call.container.milestones, call.user, call.path["engagement_id"])]
    )


@operation(
    bp,
    "/claims/{claim_id}/approve",
    "POST",
    summary="Approve a milestone invoice: the client's invoice is made, once (staff)",
    tag="invoices",
    response=lambda: s.ApprovedClaimResponse,
    roles=STAFF,
    errors=(409,),
)
def approve_claim(call: Call[Any, Any]) -> s.ApprovedClaimResponse:
    claim, invoice = milestones.approve_claim(call.container.milestones, call.user, call.path["claim_id"])
    return s.ApprovedClaimResponse(claim=_claim_out(claim), invoice=_invoice_out(invoice))


@operation(
    bp,
    "/claims/{claim_id}/reject",
    "POST",
    summary="Reject a milestone invoice with a reason; its amount is free again (staff)",
    tag="invoices",
    request=lambda: s.RejectClaimIn,
    response=lambda: s.ClaimOut,
    roles=STAFF,
    errors=(409,),
)
def reject_claim(call: Call[s.RejectClaimIn, Any]) -> s.ClaimOut:
    return _claim_out(milestones.reject_claim(call.container.milestones, call.user, call.path["claim_id"], call.body.reason))
