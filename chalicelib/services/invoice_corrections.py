"""Correcting an issued invoice, by staff: a credit note (part of it taken off, or paid back), a void, and
issuing a voided invoice again (to the client's corrected details, say).

Money follows the provider: a credit note lowers what an open invoice asks for or refunds a paid one, and the
agency's share follows what went back to the client through the same settlement as the provider's webhooks
(``agency_share.settle_share``). A credit note is recorded on the invoice before the provider is asked, keyed by
its sequence number, and only one at a time: a double submit or a retry after a failure completes the same
note, and two different credits never both pass the check against what the invoice still allows. A reissue is
recorded in the same transaction as the link from the voided invoice: exactly one replacement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from chalicelib.domain.identity import Principal
from chalicelib.domain.invoicing import CREDIT_NOTE_REASONS, CreditNoteEntry, Invoice, InvoiceBreakdown, InvoiceStatus, VatTreatment
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound, PaymentRejected
from chalicelib.logging import log_failure
from chalicelib.services.agency_share import ProviderFacts, fetch_facts, settle_share
from chalicelib.services.candidacies import ATTEMPTS
from chalicelib.services.invoicing import IDEMPOTENCY_KEY_LIFETIME, InvoicingPorts
from chalicelib.services.payment_events import apply_provider_state
from chalicelib.services.ports import Changes, CreditNoteRequest
from chalicelib.services.timesheets import new_invoice, visible_invoice

# The same credit (amount, reason, memo) by the same person this soon after is taken as the same request sent
# again (a lost response, a double click), not a second credit.
REPEAT_WINDOW = timedelta(minutes=10)


def credit_invoice(ports: InvoicingPorts, principal: Principal, invoice_id: str, amount_minor: int, reason: str, memo: str) -> Invoice:
    """A credit note of ``amount_minor`` (including VAT). On an open invoice it lowers what the client pays, but
    never below the agency's share, which the payment must still cover (to cancel more, void the invoice and
    issue it again); on a paid one the amount is refunded to the client. The agency gives back its proportion
    of it, as the split was made."""
    if reason not in CREDIT_NOTE_REASONS:
        raise InvalidInput("Unknown reason.", issues=[FieldIssue("reason", f"one of {', '.join(CREDIT_NOTE_REASONS)}")])
    invoice = _staff_invoice(ports, principal, invoice_id)
    entry = _credit_recorded(ports, principal, invoice, amount_minor, reason, memo)
    if entry.pending:
        entry = _complete(ports, invoice_id, entry)
    if entry.refused is not None:
        raise PaymentRejected(f"The payment provider refused the credit note: {entry.refused}", code=None)
    try:  # the provider's events settle it too: a failure here does not undo the credit
        settle_share(ports, invoice_id, fetch_facts(ports, provider_invoice_id=invoice.provider_invoice_id))
    except Exception as exc:
        log_failure("settling the agency's share after a credit note failed", exc, invoice_id=invoice_id)
    return _get(ports, invoice_id)


def _credit_recorded(
    ports: InvoicingPorts, principal: Principal, invoice: Invoice, amount_minor: int, reason: str, memo: str
) -> CreditNoteEntry:
    """The credit note entry this request is: one still being made with the same terms (a retry, a double
    submit), or a new one, checked against what the invoice still allows and recorded before the provider is
    asked. A different credit still being made is completed first, by whoever finds it (its key is recorded)."""
    for _ in range(ATTEMPTS):
        current = _get(ports, invoice.invoice_id)
        now = ports.now
        terms = (amount_minor, reason, memo)
        pending = next((e for e in current.credit_notes if e.pending), None)
        if pending is not None:
            if (pending.amount_minor, pending.reason, pending.memo) == terms:
                return pending
            _complete(ports, invoice.invoice_id, pending)
            continue
        for made in current.credit_notes:
            if made.credit_note_id and (made.amount_minor, made.reason, made.memo) == terms and now - made.created_at <= REPEAT_WINDOW:
                raise Conflict(
                    f"The same credit note was made {int((now - made.created_at).total_seconds() // 60)} minutes ago "
                    f"({made.credit_note_id}); to make another, give it its own memo."
                )
        if current.status not in (InvoiceStatus.OPEN, InvoiceStatus.PAID) or current.provider_invoice_id is None:
            raise Conflict(
                f"Only an open or paid invoice can be credited; this one is {current.status.value}.", current_state=current.status.value
            )
        hosted = ports.gateway.get_invoice(current.provider_invoice_id)  # what is credited already, as the provider has it now
        paid = hosted.status == "paid"
        if paid:
            room = hosted.amount_paid_minor - hosted.credited_after_payment_minor
            what = "what the client paid and has not had back"
        else:
            room = hosted.amount_remaining_minor - current.breakdown.agency_net_minor
            what = "what the client still owes beyond the agency's share; void the invoice and issue it again"
        if amount_minor > room:
            raise InvalidInput(
                f"The credit of {amount_minor} is more than {what} ({max(room, 0)}).",
                issues=[FieldIssue("amount_minor", f"at most {max(room, 0)}")],
            )
        entry = CreditNoteEntry(len(current.credit_notes) + 1, amount_minor, reason, memo, paid, principal.user_id, now)
        recorded = replace(current, credit_notes=(*current.credit_notes, entry), revision=current.revision + 1)
        try:
            ports.commit(Changes().transition(recorded, current.status.value, revision=current.revision))
        except ConcurrencyConflict:
            continue  # a concurrent credit: read it (the same request, or one to complete first)
        return entry
    raise Conflict("The invoice is being changed; try again.")


def _complete(ports: InvoicingPorts, invoice_id: str, entry: CreditNoteEntry) -> CreditNoteEntry:
    """Asks the provider for a recorded credit note under its key, and records what came of it: made, or
    refused (nothing made). Past the provider's key lifetime it is looked for first, and if it was never
    made it is given up: a second call could not be told apart from the first."""
    invoice = _get(ports, invoice_id)
    assert invoice.provider_invoice_id is not None
    key = entry.key(invoice_id)
    credit_note_id: str | None = None
    refused: str | None = None
    if ports.now - entry.created_at >= IDEMPOTENCY_KEY_LIFETIME:
        credit_note_id = ports.gateway.find_credit_note(invoice.provider_invoice_id, key)
        refused = None if credit_note_id else "never made: its request was not confirmed within a day"
    else:
        request = CreditNoteRequest(
            invoice.provider_invoice_id, invoice_id, entry.amount_minor, entry.reason, entry.memo, entry.refund, key
        )
        try:
            credit_note_id = ports.gateway.credit_invoice(request)
        except PaymentRejected as exc:  # a definite refusal: nothing was made
            refused = str(exc)[:200]
    _record(ports, invoice_id, lambda current: _settled(current, entry.sequence, credit_note_id=credit_note_id, refused=refused))
    return next(e for e in _get(ports, invoice_id).credit_notes if e.sequence == entry.sequence)


def _settled(invoice: Invoice, sequence: int, *, credit_note_id: str | None = None, refused: str | None = None) -> Invoice:
    """The invoice with its pending credit note ``sequence`` made (``credit_note_id``) or refused."""
    notes = tuple(
        replace(e, credit_note_id=credit_note_id, refused=refused) if e.sequence == sequence and e.pending else e
        for e in invoice.credit_notes
    )
    return replace(invoice, credit_notes=notes)


def void_invoice(ports: InvoicingPorts, principal: Principal, invoice_id: str, reason: str) -> Invoice:
    """Voids an open (or uncollectible) invoice with the provider: the client no longer owes it. The work it
    invoiced is still owed for: issue it again (``reissue_invoice``) once what was wrong is corrected. The
    reason is recorded first, so a retry after the provider voided it still finds it."""
    invoice = _staff_invoice(ports, principal, invoice_id)
    voidable = invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)
    retry = invoice.status is InvoiceStatus.VOID and invoice.voided_by == principal.user_id
    if not (voidable or retry) or invoice.provider_invoice_id is None:
        raise Conflict(
            f"Only an open or uncollectible invoice can be voided; this one is {invoice.status.value}.", current_state=invoice.status.value
        )
    _record(ports, invoice_id, lambda current: replace(current, void_reason=reason, voided_by=principal.user_id))
    asked_at = ports.now
    try:
        hosted = ports.gateway.void_invoice(invoice.provider_invoice_id, invoice_id=invoice.invoice_id)
    except PaymentRejected:  # not voided (paid meanwhile, say): the reason must not stay on it
        _record(ports, invoice_id, lambda current: replace(current, void_reason=None, voided_by=None))
        raise
    apply_provider_state(ports, invoice_id, ProviderFacts(asked_at, hosted=hosted))
    return _get(ports, invoice_id)


def reissue_invoice(ports: InvoicingPorts, principal: Principal, invoice_id: str) -> Invoice:
    """A new invoice for what a voided one invoiced, made with the client's details and VAT as they are now,
    and issued like any other. Exactly once: the link from the voided invoice is written with it."""
    for _ in range(ATTEMPTS):
        invoice = _staff_invoice(ports, principal, invoice_id)
        if invoice.replaced_by is not None:
            return _get(ports, invoice.replaced_by)
        if invoice.status is not InvoiceStatus.VOID:
            raise Conflict(
                f"Only a voided invoice can be issued again; this one is {invoice.status.value}.", current_state=invoice.status.value
            )
        engagement = ports.timesheets.contracts.engagements.get_engagement(invoice.engagement_id)
        if engagement is None:
            raise NotFound("Invoice not found.")
        fresh = new_invoice(ports.timesheets, engagement, invoice.source, invoice.lines, principal.user_id, ports.now)
        # The work is invoiced on the terms it was done under (commission, currency, payment terms), even if
        # the engagement's changed since; only the VAT follows the client's details as they are now.
        b, vat = invoice.breakdown, VatTreatment(fresh.breakdown.vat_rate_bps, fresh.breakdown.reverse_charge)
        again = replace(
            fresh,
            breakdown=InvoiceBreakdown.of(b.net_minor, b.currency, b.commission_bps, vat),
            days_until_due=invoice.days_until_due,
            replaces=invoice.invoice_id,
        )
        linked = replace(invoice, replaced_by=again.invoice_id, revision=invoice.revision + 1)
        try:
            ports.commit(Changes().transition(linked, invoice.status.value, revision=invoice.revision).insert(again))
        except ConcurrencyConflict:
            continue
        return again  # issued by the stream, as a confirmation's invoice is
    raise Conflict("The invoice is being changed; try again.")


def _staff_invoice(ports: InvoicingPorts, principal: Principal, invoice_id: str) -> Invoice:
    invoice = visible_invoice(ports.timesheets, principal, invoice_id)  # 404 for whoever may not read it
    if not principal.is_staff:
        raise Forbidden("Only the platform's staff correct an invoice.")
    return invoice


def _get(ports: InvoicingPorts, invoice_id: str) -> Invoice:
    invoice = ports.timesheets.timesheets.get_invoice(invoice_id)
    if invoice is None:
        raise NotFound("Invoice not found.")
    return invoice


def _record(ports: InvoicingPorts, invoice_id: str, change: Callable[[Invoice], Invoice]) -> None:
    """Writes ``change`` of the stored invoice, over the copy it read."""
    for _ in range(ATTEMPTS):
        current = _get(ports, invoice_id)
        changed = change(current)
        if changed == current:
            return
        try:
            ports.commit(
                Changes().transition(replace(changed, revision=current.revision + 1), current.status.value, revision=current.revision)
            )
        except ConcurrencyConflict:
            continue
        return
    raise Conflict("The invoice is being changed; try again.")
