"""Fixed fees: the agency invoices the platform for a milestone of its contract (an amount, its own
reference, its invoice as a PDF uploaded straight to storage), never for more than what remains of the
milestone; staff approve it, and the platform invoices the client the same way as for reported time.

A claim holds its amount against the milestone from the moment it is made until it is rejected: the
engagement keeps the amount held per milestone, and every claim (and rejection) is written together with
it, conditional on its revision, so two claims made at once cannot both take the same remainder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from chalicelib.documents.inspection import detect_kind
from chalicelib.documents.kinds import FileKind
from chalicelib.domain.contracts import Engagement, Milestone, Pricing
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import new_id
from chalicelib.domain.invoicing import ClaimStatus, Invoice, InvoiceLineItem, MilestoneClaim
from chalicelib.domain.money import format_amount
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.logging import logger
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.candidacies import ATTEMPTS, active_staff, agency_admins
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes, DocumentStorage, PresignedPost
from chalicelib.services.timesheets import TimesheetPorts, new_invoice

PDF = "application/pdf"
CLAIMS_PREFIX = "milestone-invoices/"
MAX_PDF_BYTES = 10 * 1024 * 1024
UPLOAD_SECONDS = 600


@dataclass(frozen=True)
class MilestonePorts:
    timesheets: TimesheetPorts
    storage: DocumentStorage  # the documents bucket: uploads are checked by the upload handler


def claim_key(claim: MilestoneClaim) -> str:
    return f"{CLAIMS_PREFIX}{claim.engagement_id}/{claim.claim_id}.pdf"


def claim_milestone(
    ports: MilestonePorts, principal: Principal, engagement_id: str, milestone_id: str, amount_minor: int, reference: str
) -> tuple[MilestoneClaim, PresignedPost]:
    """The agency's admin claims (part of) a milestone and gets the form to upload its invoice PDF to."""
    repo = ports.timesheets.contracts.engagements
    for _ in range(ATTEMPTS):
        engagement = repo.get_engagement(engagement_id)
        if engagement is None or not principal.administers(engagement.agency_id):
            raise NotFound("Engagement not found.")
        _ensure_fixed_and_active(engagement)
        milestone = _milestone(engagement, milestone_id)
        remaining = milestone.amount_minor - engagement.claimed.get(milestone_id, 0)
        if amount_minor > remaining:
            remains = format_amount(remaining, engagement.terms.currency)
            raise InvalidInput(f"At most {remains} of this milestone remains.", issues=[FieldIssue("amount_minor", f"at most {remaining}")])
        now = ports.timesheets.now
        claim_id = new_id()
        key = f"{CLAIMS_PREFIX}{engagement_id}/{claim_id}.pdf"
        claim = MilestoneClaim(
            claim_id, engagement_id, engagement.agency_id, milestone_id, amount_minor, reference, now, principal.user_id, key
        )
        claimed = {**engagement.claimed, milestone_id: engagement.claimed.get(milestone_id, 0) + amount_minor}
        locked = replace(engagement, claimed=claimed, revision=engagement.revision + 1, updated_at=now)
        changes = Changes().insert(claim).transition(locked, engagement.status.value, revision=engagement.revision)
        try:
            ports.timesheets.commit(changes)
        except ConcurrencyConflict:
            continue
        form = ports.storage.presigned_post(key, content_type=PDF, max_bytes=MAX_PDF_BYTES, expires_in=UPLOAD_SECONDS)
        return claim, form
    raise Conflict("The engagement is being changed by someone else; try again.")


def record_claim_document(ports: MilestonePorts, key: str, version_id: str | None) -> MilestoneClaim | None:
    """Called by the upload handler for a new object under ``milestone-invoices/``: the uploaded version is
    read once and checked (a PDF, within the size); a good one submits the claim to staff, a refused one
    is deleted and the claim says why. Objects no claim awaits are deleted."""
    claim_id = key.removeprefix(CLAIMS_PREFIX).split("/")[-1].removesuffix(".pdf")
    claim = ports.timesheets.timesheets.get_claim(claim_id) if key.startswith(CLAIMS_PREFIX) else None
    if claim is None or claim_key(claim) != key or claim.status is not ClaimStatus.AWAITING_DOCUMENT:
        if claim is None or claim_key(claim) != key:
            ports.storage.delete(key, version_id)
        return claim
    fetched = ports.storage.fetch(key, version_id, MAX_PDF_BYTES)
    if fetched is None:
        return claim
    if fetched.size == 0 or fetched.size > MAX_PDF_BYTES or detect_kind(fetched.content) is not FileKind.PDF:
        ports.storage.delete(key, version_id)
        refused = replace(claim, document_problem="The file is not a PDF of at most 10 MB.", revision=claim.revision + 1)
        ports.timesheets.commit(Changes().transition(refused, claim.status.value, revision=claim.revision))
        return refused
    now = ports.timesheets.now
    submitted = replace(
        claim,
        status=ClaimStatus.SUBMITTED,
        document_version=fetched.version_id,
        document_sha256=hashlib.sha256(fetched.content).hexdigest(),
        document_problem=None,
        revision=claim.revision + 1,
    )
    changes = Changes().transition(submitted, claim.status.value, revision=claim.revision)
    accounts = ports.timesheets.contracts.candidacies.assignments.accounts
    for user in active_staff(accounts.accounts):
        params = {
            "recipient_name": user.name,
            "reference": claim.reference,
            "amount": format_amount(claim.amount_minor, _currency(ports, claim)),
        }
        notify(changes, user, "claim_submitted", params, now, object_type="claim", object_id=claim.claim_id)
    try:
        ports.timesheets.commit(changes)
    except ConcurrencyConflict:
        logger.info("claim document recorded concurrently", extra={"claim_id": claim.claim_id})
        return ports.timesheets.timesheets.get_claim(claim_id)
    return submitted


def approve_claim(ports: MilestonePorts, principal: Principal, claim_id: str) -> tuple[MilestoneClaim, Invoice]:
    """Staff approve a submitted claim: the client's invoice is made with it, once."""
    ensure_staff(principal)
    ts = ports.timesheets
    for _ in range(ATTEMPTS):
        claim = _claim(ports, claim_id)
        if claim.status is ClaimStatus.APPROVED and claim.invoice_id:
            invoice = ts.timesheets.get_invoice(claim.invoice_id)
            assert invoice is not None, "the invoice is inserted with the approval"
            return claim, invoice
        if claim.status is not ClaimStatus.SUBMITTED:
            raise Conflict(f"The claim is {claim.status.value}; a submitted one is approved.", current_state=claim.status.value)
        engagement = ts.contracts.engagements.get_engagement(claim.engagement_id)
        assert engagement is not None
        milestone = _milestone(engagement, claim.milestone_id)
        now = ts.now
        line = InvoiceLineItem(f"{milestone.title} ({claim.reference})", "milestone", claim.amount_minor)
        invoice = new_invoice(ts, engagement, f"milestone:{milestone.milestone_id}:{claim.claim_id}", (line,), principal.user_id, now)
        approved = replace(
            claim,
            status=ClaimStatus.APPROVED,
            decided_by=principal.user_id,
            decided_at=now,
            invoice_id=invoice.invoice_id,
            revision=claim.revision + 1,
        )
        try:
            ts.commit(Changes().transition(approved, claim.status.value, revision=claim.revision).insert(invoice))
        except ConcurrencyConflict:
            continue
        return approved, invoice
    raise Conflict("The claim is being changed by someone else; try again.")


def reject_claim(ports: MilestonePorts, principal: Principal, claim_id: str, reason: str) -> MilestoneClaim:
    """Staff reject a claim (its amount is free again); the agency's admins are told why."""
    ensure_staff(principal)
    ts = ports.timesheets
    for _ in range(ATTEMPTS):
        claim = _claim(ports, claim_id)
        if claim.status not in (ClaimStatus.SUBMITTED, ClaimStatus.AWAITING_DOCUMENT):
            raise Conflict(f"The claim is {claim.status.value}.", current_state=claim.status.value)
        now = ts.now
        rejected = replace(
            claim,
            status=ClaimStatus.REJECTED,
            decided_by=principal.user_id,
            decided_at=now,
            reject_reason=reason,
            revision=claim.revision + 1,
        )
        changes = Changes().transition(rejected, claim.status.value, revision=claim.revision)
        engagement = ts.contracts.engagements.get_engagement(claim.engagement_id)
        assert engagement is not None
        freed = {**engagement.claimed, claim.milestone_id: engagement.claimed.get(claim.milestone_id, 0) - claim.amount_minor}
        changes.transition(
            replace(engagement, claimed=freed, revision=engagement.revision + 1), engagement.status.value, revision=engagement.revision
        )
        accounts = ts.contracts.candidacies.assignments.accounts.accounts
        for admin in agency_admins(accounts, claim.agency_id):
            params = {"recipient_name": admin.name, "reference": claim.reference, "reason": reason}
            notify(changes, admin, "claim_rejected", params, now, object_type="claim", object_id=claim.claim_id)
        try:
            ts.commit(changes)
        except ConcurrencyConflict:
            continue
        return rejected
    raise Conflict("The claim is being changed by someone else; try again.")


def list_claims(ports: MilestonePorts, principal: Principal, engagement_id: str) -> list[MilestoneClaim]:
    """The agency's admins and staff."""
    engagement = ports.timesheets.contracts.engagements.get_engagement(engagement_id)
    if engagement is None or not (principal.is_staff or principal.administers(engagement.agency_id)):
        raise NotFound("Engagement not found.")
    return ports.timesheets.timesheets.list_engagement_claims(engagement_id)


# --- helpers ----------------------------------------------------------------------------------------------


def _ensure_fixed_and_active(engagement: Engagement) -> None:
    if not engagement.reports_time:
        # After the end too: the last milestone is typically due on the last day, and invoiced after it.
        raise Conflict(
            "Milestones are invoiced on an active engagement (both contracts signed), or one that ended.",
            current_state=engagement.status.value,
        )
    if engagement.terms.pricing is not Pricing.FIXED:
        raise Conflict("Only a fixed-fee engagement is invoiced by milestones; report time on the others.")


def _milestone(engagement: Engagement, milestone_id: str) -> Milestone:
    milestone = next((m for m in engagement.terms.milestones if m.milestone_id == milestone_id), None)
    if milestone is None:
        raise InvalidInput("The contract has no such milestone.", issues=[FieldIssue("milestone_id", "unknown")])
    return milestone


def _claim(ports: MilestonePorts, claim_id: str) -> MilestoneClaim:
    claim = ports.timesheets.timesheets.get_claim(claim_id)
    if claim is None:
        raise NotFound("Claim not found.")
    return claim


def _currency(ports: MilestonePorts, claim: MilestoneClaim) -> str:
    engagement = ports.timesheets.contracts.engagements.get_engagement(claim.engagement_id)
    return engagement.terms.currency if engagement else ""
