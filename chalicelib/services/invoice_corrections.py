"""Correcting an issued invoice, by staff: a credit note (part of it taken off, or paid back), a void, and
issuing a voided invoice again (to the client's corrected details, say).

Money follows the provider: a credit note lowers what an open invoice asks for or refunds a paid one, and the
agency's share follows what went back to the client through the same settlement as the provider's webhooks
(``invoicing.settle_share``). Every call to the provider is keyed by what the platform knows at the time, so
a double submit makes one credit note, and a reissue is recorded in the same transaction as the link from the
voided invoice: exactly one replacement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from chalicelib.domain.identity import Principal
from chalicelib.domain.invoicing import CreditNoteEntry, Invoice, InvoiceStatus
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from chalicelib.services.candidacies import ATTEMPTS
from chalicelib.services.invoicing import InvoicingPorts, apply_provider_state, settle_share
from chalicelib.services.ports import Changes, CreditNoteRequest
from chalicelib.services.timesheets import new_invoice, visible_invoice

CREDIT_REASONS = ("duplicate", "order_change", "product_unsatisfactory")


def credit_invoice(ports: InvoicingPorts, principal: Principal, invoice_id: str, amount_minor: int, reason: str, memo: str) -> Invoice:
    """A credit note of ``amount_minor`` (including VAT). On an open invoice it lowers what the client pays, but
    never below the agency's share, which the payment must still cover (to cancel more, void the invoice and
    issue it again); on a paid one the amount is refunded to the client. The agency gives back its proportion
    of it, as the split was made."""
    invoice = _staff_invoice(ports, principal, invoice_id)
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.PAID) or invoice.provider_invoice_id is None:
        raise Conflict(
            f"Only an open or paid invoice can be credited; this one is {invoice.status.value}.", current_state=invoice.status.value
        )
    if reason not in CREDIT_REASONS:
        raise InvalidInput("Unknown reason.", issues=[FieldIssue("reason", f"one of {', '.join(CREDIT_REASONS)}")])
    hosted = ports.gateway.get_invoice(invoice.provider_invoice_id)  # what is credited already, as the provider has it now
    paid = hosted.status == "paid"
    if paid:
        room = hosted.amount_paid_minor - hosted.credited_after_payment_minor
        if amount_minor > room:
            raise _too_much(amount_minor, room, "what the client paid and has not had back")
    else:
        room = hosted.amount_remaining_minor - invoice.breakdown.agency_net_minor
        if amount_minor > room:
            raise _too_much(
                amount_minor, max(room, 0), "what the client still owes beyond the agency's share; void the invoice and issue it again"
            )
    credited = hosted.credited_before_payment_minor + hosted.credited_after_payment_minor
    request = CreditNoteRequest(
        provider_invoice_id=invoice.provider_invoice_id,
        invoice_id=invoice.invoice_id,
        amount_minor=amount_minor,
        reason=reason,
        memo=memo,
        refund=paid,
        # Keyed by what was credited before: a double submit makes one note; the next note has a new key.
        key=f"credit_note.create:{invoice.invoice_id}:{credited}:{amount_minor}",
    )
    credit_note_id = ports.gateway.credit_invoice(request)
    entry = CreditNoteEntry(credit_note_id, amount_minor, reason, memo, principal.user_id, ports.now)
    _record(ports, invoice_id, lambda current: _with_credit_note(current, entry))
    after = ports.gateway.get_invoice(invoice.provider_invoice_id)
    charge = ports.gateway.get_charge(after.charge_id) if after.charge_id else None
    settle_share(ports, invoice_id, None, charge=charge, hosted=after)
    return _get(ports, invoice_id)


def void_invoice(ports: InvoicingPorts, principal: Principal, invoice_id: str, reason: str) -> Invoice:
    """Voids an open (or uncollectible) invoice with the provider: the client no longer owes it. The work it
    invoiced is still owed for: issue it again (``reissue_invoice``) once what was wrong is corrected."""
    invoice = _staff_invoice(ports, principal, invoice_id)
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE) or invoice.provider_invoice_id is None:
        raise Conflict(
            f"Only an open or uncollectible invoice can be voided; this one is {invoice.status.value}.", current_state=invoice.status.value
        )
    hosted = ports.gateway.void_invoice(invoice.provider_invoice_id, invoice_id=invoice.invoice_id)
    _record(
        ports,
        invoice_id,
        lambda current: current if current.void_reason else replace(current, void_reason=reason, voided_by=principal.user_id),
    )
    apply_provider_state(ports, invoice_id, hosted)
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
        again = replace(
            new_invoice(ports.timesheets, engagement, invoice.source, invoice.lines, principal.user_id, ports.now),
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


def _with_credit_note(invoice: Invoice, entry: CreditNoteEntry) -> Invoice:
    if any(c.credit_note_id == entry.credit_note_id for c in invoice.credit_notes):
        return invoice  # a double submit: the same note, replayed by the provider
    return replace(invoice, credit_notes=(*invoice.credit_notes, entry))


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


def _too_much(amount: int, room: int, what: str) -> InvalidInput:
    return InvalidInput(f"The credit of {amount} is more than {what} ({room}).", issues=[FieldIssue("amount_minor", f"at most {room}")])
