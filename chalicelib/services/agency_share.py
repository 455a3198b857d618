"""What the agency holds of an invoice's payment when money goes back to the client.

Whatever went back — a refund, a credit note before or after payment — takes the agency's proportion of it
back from its transfer, split as the invoice was; a dispute whose money the client's bank took holds back all
of the share, and a won one pays it to the agency again. The provider's facts are re-fetched and applied only
from a fetch newer than the last. Each move of money is recorded on the invoice before the provider is asked
and confirmed after, one at a time, keyed by its total: concurrent or replayed events move money once, and a
move the provider refuses or one a crash left is finished by the reconciliation.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.invoicing import (
    DISPUTE_FUNDS_WITHDRAWN,
    Invoice,
    ShareMove,
)
from chalicelib.domain.money import format_amount
from chalicelib.errors import ConcurrencyConflict, Conflict, PaymentRejected, UpstreamUnavailable
from chalicelib.logging import log_failure
from chalicelib.services.candidacies import ATTEMPTS, active_staff
from chalicelib.services.invoicing import (
    IDEMPOTENCY_KEY_LIFETIME,
    InvoicingPorts,
    Outcome,
    agency_people,
    invoice_params,
)
from chalicelib.services.notifications import notify
from chalicelib.services.ports import (
    Changes,
    ChargeState,
    DisputeState,
    HostedInvoice,
)

REFUSAL_BACKOFF = timedelta(hours=1)  # between tries of a move the provider refused


@dataclass(frozen=True)
class ProviderFacts:
    """What the provider reports now of an invoice's money, and when it was asked (before asking): a fetch
    older than the one the invoice holds is not applied, so replies that overtake each other leave the newest."""

    asked_at: datetime
    hosted: HostedInvoice | None = None
    charge: ChargeState | None = None
    dispute: DisputeState | None = None


def fetch_facts(
    ports: InvoicingPorts, *, provider_invoice_id: str | None = None, charge_id: str | None = None, dispute_id: str | None = None
) -> ProviderFacts:
    """Re-fetches what an event named (what it says is only a hint): the dispute, the invoice, the charge."""
    asked_at = ports.now
    dispute = ports.gateway.get_dispute(dispute_id) if dispute_id else None
    hosted = ports.gateway.get_invoice(provider_invoice_id) if provider_invoice_id else None
    charge_id = charge_id or (dispute.charge_id if dispute else None) or (hosted.charge_id if hosted else None)
    charge = ports.gateway.get_charge(charge_id) if charge_id else None
    return ProviderFacts(asked_at, hosted, charge, dispute)


def settle_share(ports: InvoicingPorts, invoice_id: str, facts: ProviderFacts) -> Outcome:
    """Records what the provider reports of refunds, credit notes and a dispute, then moves the agency's share
    to match. The caller remembers its event after this: a crash before is repaired by the redelivery."""
    outcome: Outcome = "stale"
    for _ in range(ATTEMPTS):
        current = ports.timesheets.timesheets.get_invoice(invoice_id)
        assert current is not None
        updated = with_money_facts(current, facts)
        if updated == current:
            break
        try:
            ports.commit(
                Changes().transition(replace(updated, revision=current.revision + 1), current.status.value, revision=current.revision)
            )
        except ConcurrencyConflict:
            continue
        outcome = "applied"
        break
    else:
        raise Conflict("The invoice is being changed; try again.")
    move_share(ports, invoice_id)
    return outcome


def with_money_facts(invoice: Invoice, facts: ProviderFacts) -> Invoice:
    """The invoice with the provider's facts merged in, each kind only from a fetch no older than the last
    applied: amounts may go down again (a voided credit note, a failed refund), a new dispute replaces one."""
    updated = invoice
    at = facts.asked_at
    charge, hosted, dispute = facts.charge, facts.hosted, facts.dispute
    if charge is not None and (updated.charge_seen_at is None or at >= updated.charge_seen_at):
        updated = replace(updated, charge_id=charge.charge_id, refunded_minor=charge.amount_refunded_minor, charge_seen_at=at)
    if hosted is not None and (updated.credits_seen_at is None or at >= updated.credits_seen_at):
        updated = replace(
            updated,
            charge_id=updated.charge_id or hosted.charge_id,
            credited_before_payment_minor=hosted.credited_before_payment_minor,
            credited_after_payment_minor=hosted.credited_after_payment_minor,
            credits_seen_at=at,
        )
    newer_fetch = updated.dispute_seen_at is None or at >= updated.dispute_seen_at
    # An event about an earlier dispute of the charge (redelivered late) does not replace a later dispute.
    same_or_later = updated.dispute_created_at is None or dispute is None or dispute.created >= updated.dispute_created_at
    if dispute is not None and newer_fetch and same_or_later:
        withdrawn = dispute.status in DISPUTE_FUNDS_WITHDRAWN
        updated = replace(
            updated,
            dispute_id=dispute.dispute_id,
            dispute_created_at=dispute.created,
            dispute_status=dispute.status,
            disputed_at=updated.disputed_at or (at if withdrawn else None),
            dispute_seen_at=at,
        )
    return updated


def move_share(ports: InvoicingPorts, invoice_id: str) -> None:
    """Brings the agency's share in line with what it should hold, one recorded move at a time: a reversal of
    its transfer (its share of a refund or a credit; all of it while a dispute holds the money), or a new
    transfer when a won dispute gives the money back. A move is committed before the provider is asked and
    confirmed after; whoever finds one pending completes it with the same idempotency key. A move the
    provider cannot make now stays recorded (and the invoice listed as settling) for the reconciliation:
    the event that led to it is still handled, and others on the invoice are not held up."""
    for _ in range(2 * ATTEMPTS):
        invoice = ports.timesheets.timesheets.get_invoice(invoice_id)
        assert invoice is not None
        move = invoice.share_move or _next_move(invoice, ports.now)
        if move is None:
            return
        if invoice.share_move is None:
            decided = replace(invoice, share_move=move, revision=invoice.revision + 1)
            with suppress(ConcurrencyConflict):  # another handler decided a move first: read it
                ports.commit(Changes().transition(decided, invoice.status.value, revision=invoice.revision))
            continue
        try:
            done = _make_move(ports, invoice, move)
        except PaymentRejected as exc:
            _record_refusal(ports, invoice, move, exc)
            return
        except UpstreamUnavailable as exc:
            log_failure("moving the agency's share failed; the reconciliation retries", exc, invoice_id=invoice_id)
            return
        changes = Changes().transition(done, invoice.status.value, revision=invoice.revision)
        _tell_share_moved(ports, done, changes, ports.now, move)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue  # confirmed by a concurrent handler (the same key: the provider did it once)
    raise Conflict("The invoice is being changed; try again.")


def _make_move(ports: InvoicingPorts, invoice: Invoice, move: ShareMove) -> Invoice:
    """Asks the provider to make ``move``; the invoice as it is once made. A move decided longer ago than the
    provider keeps idempotency keys is first looked for, so a retry after a day never moves money twice."""
    stale_key = ports.now - move.decided_at >= IDEMPOTENCY_KEY_LIFETIME
    gateway = ports.gateway
    if move.kind == "reverse":
        if not (stale_key and gateway.find_reversal(move.source, move.key)):
            gateway.reverse_transfer(move.source, move.amount_minor, key=move.key, invoice_id=invoice.invoice_id)
        done = replace(invoice, reversed_minor=move.total_after_minor)
    else:
        payout = ports.payments.get_payout_account(invoice.agency_id)
        if payout is None:
            raise Conflict("The agency has no payout account.")
        found = gateway.find_transfer(payout.account_id, move.key, since=move.decided_at - timedelta(hours=1)) if stale_key else None
        # From the platform's balance, where the won dispute put the money back: whether Stripe lets a charge
        # fund a second transfer after the first was reversed is not documented.
        transfer_id = found or gateway.transfer(
            payout.account_id,
            move.amount_minor,
            invoice.breakdown.currency,
            source_charge_id=None,
            key=move.key,
            invoice_id=invoice.invoice_id,
        )
        done = replace(invoice, restored_minor=move.total_after_minor, restore_transfer_id=transfer_id)
    return replace(done, share_move=None, share_refused_at=None, share_refused=None, revision=invoice.revision + 1)


def _record_refusal(ports: InvoicingPorts, invoice: Invoice, move: ShareMove, exc: PaymentRejected) -> None:
    """The provider refused the move (a definite refusal: nothing moved). The move is dropped, to be decided
    again from the facts as they are then, after ``REFUSAL_BACKOFF`` and under a new key (the provider replays
    a refusal under the old one); the invoice stays filed as settling, and staff are told of the first."""
    log_failure("the provider refused to move the agency's share", exc, invoice_id=invoice.invoice_id, code=exc.code or "")
    now = ports.now
    refused = replace(
        invoice,
        share_move=None,
        share_refusals=invoice.share_refusals + 1,
        share_refused_at=now,
        share_refused=str(exc)[:200],
        revision=invoice.revision + 1,
    )
    changes = Changes().transition(refused, invoice.status.value, revision=invoice.revision)
    if invoice.share_refused_at is None:
        for user in active_staff(ports.accounts.accounts):
            params = {**invoice_params(ports, refused, user), "amount": format_amount(move.amount_minor, refused.breakdown.currency)}
            params["why"] = refused.share_refused or ""
            notify(changes, user, "share_move_refused", params, now, object_type="invoice", object_id=invoice.invoice_id)
    with suppress(ConcurrencyConflict):
        ports.commit(changes)


def _next_move(invoice: Invoice, now: datetime) -> ShareMove | None:
    if invoice.share_refused_at is not None and now - invoice.share_refused_at < REFUSAL_BACKOFF:
        return None
    attempt = invoice.share_refusals + 1
    target = invoice.share_to_hold_back()
    held = invoice.held_back_minor
    if target > held:
        # After a restoration the agency's share sits on the new transfer: later reversals come from there.
        source = invoice.restore_transfer_id if invoice.restored_minor else invoice.transfer_id
        if source is None:
            return None  # nothing was transferred (unpaid, or paid without a transfer): nothing to take back
        return ShareMove("reverse", target - held, invoice.reversed_minor + target - held, source, now, attempt)
    if target < held and invoice.charge_id:
        return ShareMove("restore", held - target, invoice.restored_minor + held - target, invoice.charge_id, now, attempt)
    return None


def _tell_share_moved(ports: InvoicingPorts, invoice: Invoice, changes: Changes, now: datetime, move: ShareMove) -> None:
    if move.kind == "restore":
        template = "transfer_restored"
    else:
        template = "transfer_reversed_dispute" if invoice.dispute_status in DISPUTE_FUNDS_WITHDRAWN else "transfer_reversed"
    for user in agency_people(ports, invoice.agency_id):
        params = {**invoice_params(ports, invoice, user), "amount": format_amount(move.amount_minor, invoice.breakdown.currency)}
        notify(changes, user, template, params, now, object_type="invoice", object_id=invoice.invoice_id)


def settle_pending(ports: InvoicingPorts) -> int:
    """The reconciliation's part: moves still unconfirmed (refused by the provider, or left by a crash) are
    finished. Returns how many were."""
    settled = 0
    for invoice in ports.payments.list_settling_invoices():
        try:
            move_share(ports, invoice.invoice_id)
            current = ports.timesheets.timesheets.get_invoice(invoice.invoice_id)
            settled += current is not None and not current.settling
        except Exception as exc:
            log_failure("settling an invoice failed", exc, invoice_id=invoice.invoice_id)
    return settled
