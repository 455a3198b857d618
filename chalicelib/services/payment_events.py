"""The payment provider's webhooks and the scheduled reconciliation with it.

Events are verified on the raw body (``Stripe-Signature``, 300 s tolerance), remembered by event id once
their effects are in (a duplicate is acknowledged; one redelivered after a crash finishes the work), and what
they name is re-fetched: only forward moves of an invoice are applied, and the agency's share follows what
went back to the client (``agency_share``). The reconciliation repairs what a missed event left.
"""

from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.contracts import ProcessedEvent
from chalicelib.domain.invoicing import (
    InvoiceStatus,
    invoice_moves_forward,
)
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.logging import log_failure, logger
from chalicelib.services.agency_share import ProviderFacts, fetch_facts, move_share, settle_pending, settle_share, with_money_facts
from chalicelib.services.candidacies import ATTEMPTS
from chalicelib.services.invoicing import (
    PROVIDER,
    InvoicingPorts,
    Outcome,
    issue_invoice,
    sync_payout_account,
    tell_paid,
    tell_payout_failed,
    with_provider_state,
)
from chalicelib.services.ports import (
    Changes,
    PaymentEvent,
)

DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    }
)
REFUND_EVENTS = frozenset({"charge.refunded", "charge.refund.updated"})
CREDIT_NOTE_EVENTS = frozenset({"credit_note.created", "credit_note.updated", "credit_note.voided"})


def handle_payment_webhook(ports: InvoicingPorts, raw_body: bytes, signature: str | None, *, connect: bool) -> Outcome:
    """A Stripe event. Verified on the raw body (``Stripe-Signature``, 300 s tolerance) before anything is
    read; remembered by event id after its effects; what it names is re-fetched, and only forward moves of the
    invoice are applied."""
    event = ports.webhooks.parse(raw_body, signature, connect=connect)
    if ports.timesheets.contracts.engagements.event_processed(PROVIDER, event.event_id):
        return "duplicate"
    record = ProcessedEvent(PROVIDER, event.event_id, ports.now, event.object_id)
    if event.type == "account.updated":
        sync_payout_account(ports, event.object_id)
        return _remember(ports, record)
    if event.type == "payout.failed" and event.account_id:
        tell_payout_failed(ports, event.account_id, record.received_at)
        return _remember(ports, record)
    if event.type in REFUND_EVENTS or event.type in DISPUTE_EVENTS:
        return _charge_event(ports, event, record)
    if event.type in CREDIT_NOTE_EVENTS:
        return _credit_note_event(ports, event, record)
    if not event.type.startswith("invoice."):
        logger.info("payment event not acted on", extra={"type": event.type})
        return _remember(ports, record, "ignored")
    invoice = ports.payments.find_invoice(event.object_id)
    if invoice is None:
        if event.invoice_reference is None:
            return _remember(ports, record, "ignored")  # not one of ours (made in Stripe's dashboard, say)
        # Ours, not linked yet (its issue is still committing): not recorded, so it is delivered again.
        raise NotFound("No invoice has this provider id yet.")
    facts = ProviderFacts(ports.now, hosted=ports.gateway.get_invoice(event.object_id))
    outcome = apply_provider_state(ports, invoice.invoice_id, facts, payment_failed=event.type == "invoice.payment_failed")
    # Remembered after its effects: one redelivered after a crash in between finds the move still to do.
    return _remember(ports, record, outcome)


def _charge_event(ports: InvoicingPorts, event: PaymentEvent, record: ProcessedEvent) -> Outcome:
    """A refund or a dispute of a client's payment: the agency's share follows what went back to the client."""
    if event.type.startswith("charge.dispute."):
        facts = fetch_facts(ports, dispute_id=event.object_id)
    elif event.type == "charge.refund.updated":  # a refund that failed (or was cancelled) counts no more
        if not event.charge_id:
            raise InvalidInput("The refund names no charge.", issues=[FieldIssue("data.object.charge", "missing")])
        facts = fetch_facts(ports, charge_id=event.charge_id)
    else:
        facts = fetch_facts(ports, charge_id=event.object_id)
    charge = facts.charge
    invoice = ports.payments.find_invoice(charge.provider_invoice_id) if charge and charge.provider_invoice_id else None
    if invoice is None:
        return _remember(ports, record, "ignored")  # a payment that is not one of our invoices
    return _remember(ports, record, settle_share(ports, invoice.invoice_id, facts))


def _credit_note_event(ports: InvoicingPorts, event: PaymentEvent, record: ProcessedEvent) -> Outcome:
    """A credit note made or voided (by the platform, or in Stripe's dashboard): the invoice's credited amounts
    are re-fetched, and the agency's share follows."""
    if not event.provider_invoice_id:
        raise InvalidInput("The credit note names no invoice.", issues=[FieldIssue("data.object.invoice", "missing")])
    invoice = ports.payments.find_invoice(event.provider_invoice_id)
    if invoice is None:
        return _remember(ports, record, "ignored")
    return _remember(
        ports, record, settle_share(ports, invoice.invoice_id, fetch_facts(ports, provider_invoice_id=event.provider_invoice_id))
    )


def _remember(ports: InvoicingPorts, record: ProcessedEvent, outcome: Outcome = "applied") -> Outcome:
    try:
        ports.commit(Changes().insert(record))
    except ConcurrencyConflict:
        return "duplicate"
    return outcome


def apply_provider_state(ports: InvoicingPorts, invoice_id: str, facts: ProviderFacts, *, payment_failed: bool = False) -> Outcome:
    """Moves the invoice to the provider's state when that is a forward move (telling whom it concerns, once:
    the move is revision-checked), then settles the agency's share (a credit before payment, say)."""
    hosted = facts.hosted
    assert hosted is not None
    for _ in range(ATTEMPTS):
        invoice = ports.timesheets.timesheets.get_invoice(invoice_id)
        assert invoice is not None
        now = ports.now
        target = InvoiceStatus(hosted.status) if hosted.status in InvoiceStatus._value2member_map_ else None
        changes = Changes()
        if target is not None and invoice_moves_forward(invoice.status, target):
            updated = with_money_facts(with_provider_state(invoice, hosted, now), facts)
            changes.transition(updated, invoice.status.value, revision=invoice.revision)
            if updated.status is InvoiceStatus.PAID:
                tell_paid(ports, updated, changes, now)
        elif payment_failed and invoice.status is InvoiceStatus.OPEN:
            changes.transition(
                replace(invoice, payment_failed_at=now, revision=invoice.revision + 1), invoice.status.value, revision=invoice.revision
            )
        else:
            move_share(ports, invoice_id)
            return "stale"
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        logger.info("invoice moved", extra={"invoice_id": invoice_id, "from": invoice.status.value, "to": hosted.status})
        move_share(ports, invoice_id)
        return "applied"
    raise Conflict("The invoice is being changed; try again.")


def reconcile_invoices(ports: InvoicingPorts) -> dict[str, int]:
    """The scheduled check: invoices still waiting are issued when they can be (the agency's account asked
    again, should its update have been missed); open (and uncollectible) ones are compared with the provider
    and moved as a missed webhook would have moved them; moves of an agency's share that are unconfirmed or
    were refused are finished (``agency_share.settle_pending``)."""
    issued = moved = 0
    for invoice in ports.payments.list_invoices_by_status(InvoiceStatus.PENDING):
        try:
            payout = ports.payments.get_payout_account(invoice.agency_id)
            if payout is not None and not payout.transfers_active:
                sync_payout_account(ports, payout.account_id)  # its account.updated may have been missed
            if issue_invoice(ports, invoice.invoice_id).status is not InvoiceStatus.PENDING:
                issued += 1
        except Exception as exc:
            log_failure("issuing an invoice failed", exc, invoice_id=invoice.invoice_id)
    for status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        for invoice in ports.payments.list_invoices_by_status(status):
            if invoice.provider_invoice_id is None:
                continue
            try:
                facts = ProviderFacts(ports.now, hosted=ports.gateway.get_invoice(invoice.provider_invoice_id))
                if apply_provider_state(ports, invoice.invoice_id, facts) == "applied":
                    moved += 1
            except Exception as exc:
                log_failure("reconciling an invoice failed", exc, invoice_id=invoice.invoice_id)
    return {"invoices_issued": issued, "invoices_reconciled": moved, "shares_settled": settle_pending(ports)}
