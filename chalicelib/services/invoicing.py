"""Invoicing through the payment provider (Stripe): agencies' payout accounts, issuing the invoices that
confirmations recorded, and the provider's webhooks.

The platform is the merchant of record: the client pays the whole invoice on the provider's hosted page;
the agency's net is transferred to its Connect account with the payment (``transfer_data``); the
commission and the VAT stay with the platform. An invoice is issued only once the agency can be paid
(transfers active on its account); until then it waits, and says why. Every call to the provider carries
a deterministic idempotency key (``op:<our id>:v<attempt>``), so a retried issue never makes a second
invoice. Webhooks are verified, remembered by event id once their effects are in (a duplicate is acknowledged,
one redelivered after a crash finishes the work), and only re-fetched states that move an
invoice forward are applied; a scheduled reconciliation repairs what a missed event left.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.contracts import ProcessedEvent
from chalicelib.domain.identity import Principal
from chalicelib.domain.invoicing import (
    DISPUTE_FUNDS_WITHDRAWN,
    BillingCustomerRecord,
    Invoice,
    InvoiceBreakdown,
    InvoiceStatus,
    PayoutAccountRecord,
    ShareMove,
    invoice_moves_forward,
)
from chalicelib.domain.money import format_amount
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound, PaymentRejected, UpstreamUnavailable
from chalicelib.logging import log_failure, logger
from chalicelib.services.accounts import AccountPorts
from chalicelib.services.candidacies import ATTEMPTS, active_staff, agency_admins, client_recipients
from chalicelib.services.notifications import notify
from chalicelib.services.ports import (
    BillingCustomer,
    Changes,
    ChargeState,
    DisputeState,
    HostedInvoice,
    InvoiceLine,
    InvoiceRequest,
    PaymentEvent,
    PaymentGateway,
    PaymentsRepository,
    PaymentWebhooks,
)
from chalicelib.services.timesheets import TimesheetPorts

PROVIDER = "stripe"
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=23)  # Stripe may forget a key after 24 hours
Outcome = Literal["applied", "stale", "duplicate", "ignored"]
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    }
)
CREDIT_NOTE_EVENTS = frozenset({"credit_note.created", "credit_note.updated", "credit_note.voided"})


@dataclass(frozen=True)
class InvoicingPorts:
    timesheets: TimesheetPorts
    payments: PaymentsRepository
    gateway: PaymentGateway
    webhooks: PaymentWebhooks

    @property
    def now(self) -> datetime:
        return self.timesheets.now

    def commit(self, changes: Changes) -> None:
        self.timesheets.commit(changes)

    @property
    def accounts(self) -> AccountPorts:
        return self.timesheets.contracts.candidacies.assignments.accounts

    @property
    def web_base_url(self) -> str:
        return str(self.accounts.web_base_url)


# --- agencies' payout accounts ----------------------------------------------------------------------------


def start_payout_onboarding(ports: InvoicingPorts, principal: Principal, agency_id: str) -> str:
    """The agency's admin is sent to the provider's onboarding (a link valid for minutes); the account is
    made on the first call, once (its creation is keyed by the agency)."""
    if not principal.administers(agency_id):
        raise NotFound("Agency not found.")
    record = ports.payments.get_payout_account(agency_id)
    if record is None:
        org = ports.accounts.accounts.get_organisation(agency_id)
        admin = ports.accounts.accounts.get_user(principal.user_id)
        if org is None or admin is None:
            raise NotFound("Agency not found.")
        account_id = ports.gateway.create_payout_account(
            agency_id, name=org.name, email=org.billing_email or admin.email, country=org.country
        )
        now = ports.now
        record = PayoutAccountRecord(agency_id, account_id, now, now)
        try:
            ports.commit(Changes().insert(record))
        except ConcurrencyConflict:
            record = ports.payments.get_payout_account(agency_id) or record  # a double click: the same account (same key)
    base = f"{ports.web_base_url}/agencies/{agency_id}/payouts"
    return ports.gateway.payout_account_link(record.account_id, refresh_url=f"{base}?refresh=1", return_url=base)


def payout_account(ports: InvoicingPorts, principal: Principal, agency_id: str) -> PayoutAccountRecord | None:
    if not (principal.administers(agency_id) or principal.is_staff):
        raise NotFound("Agency not found.")
    return ports.payments.get_payout_account(agency_id)


def sync_payout_account(ports: InvoicingPorts, account_id: str) -> PayoutAccountRecord | None:
    """The account as the provider has it now (after ``account.updated``). A sync racing another fetches
    again: the state written is always one fetched after the last write."""
    for _ in range(ATTEMPTS):
        record = ports.payments.find_payout_account(account_id)
        if record is None:
            return None
        state = ports.gateway.get_payout_account(account_id)
        updated = replace(
            record,
            transfers_active=state.transfers_active,
            details_submitted=state.details_submitted,
            requirements_due=tuple(state.requirements_due),
            disabled_reason=state.disabled_reason,
            updated_at=ports.now,
            revision=record.revision + 1,
        )
        if updated != replace(record, updated_at=updated.updated_at, revision=updated.revision):
            try:
                ports.commit(Changes().update(updated, revision=record.revision))
            except ConcurrencyConflict:
                continue
        return updated  # if it can now be paid, the stream issues its waiting invoices (issue_waiting_invoices)
    raise Conflict("The payout account is being changed; try again.")


# --- issuing ----------------------------------------------------------------------------------------------


def issue_waiting_invoices(ports: InvoicingPorts, agency_id: str) -> int:
    """Issues the agency's invoices that waited for its payout account; each on its own, so one failing
    (retried by the stream, then the reconciliation) does not hold the others back. Returns how many were issued."""
    issued, failures = 0, []
    for invoice in ports.payments.list_agency_invoices(agency_id, InvoiceStatus.PENDING):
        try:
            if issue_invoice(ports, invoice.invoice_id).status is not InvoiceStatus.PENDING:
                issued += 1
        except Exception as exc:
            log_failure("issuing a waiting invoice failed", exc, invoice_id=invoice.invoice_id)
            failures.append(exc)
    if failures:
        raise failures[0]
    return issued


def issue_invoice(ports: InvoicingPorts, invoice_id: str) -> Invoice:
    """Issues a recorded invoice with the provider and sends it to the client, or records why it waits.
    Safe to call again at any point: the provider's calls are keyed by the invoice and its attempt."""
    invoice = ports.timesheets.timesheets.get_invoice(invoice_id)
    if invoice is None:
        raise NotFound("Invoice not found.")
    if invoice.status is not InvoiceStatus.PENDING:
        return invoice
    payout = ports.payments.get_payout_account(invoice.agency_id)
    if payout is None or not payout.transfers_active:
        return _wait(ports, invoice, _why_not_payable(payout))
    invoice = _current_attempt(ports, invoice)
    request = InvoiceRequest(
        invoice_id=invoice.invoice_id,
        attempt=invoice.attempt,
        customer_id=_customer(ports, invoice.client_id),
        currency=invoice.breakdown.currency,
        lines=tuple(InvoiceLine(f"{line.description} ({line.quantity})", line.amount_minor) for line in invoice.lines),
        days_until_due=invoice.days_until_due,
        destination_account=payout.account_id,
        transfer_amount_minor=invoice.breakdown.agency_net_minor,
        vat_rate_bps=invoice.breakdown.vat_rate_bps,
        reverse_charge=invoice.breakdown.reverse_charge,
        footer=breakdown_text(invoice.breakdown),
        metadata={"engagement_id": invoice.engagement_id, "source": invoice.source},
    )
    hosted = ports.gateway.issue_invoice(request)
    b = invoice.breakdown
    if (hosted.total_minor, hosted.tax_minor) != (b.total_minor, b.vat_minor):
        # Every party was shown the breakdown: a provider charging otherwise (its tax rounding, say) is a
        # fault staff must see; the invoice stays as Stripe made it, which is what the client pays.
        logger.error(
            "the provider's invoice differs from the breakdown",
            extra={"invoice_id": invoice.invoice_id, "provider_total": hosted.total_minor, "total": b.total_minor},
        )
    for _ in range(ATTEMPTS):
        current = ports.timesheets.timesheets.get_invoice(invoice_id)
        assert current is not None
        if current.status is not InvoiceStatus.PENDING:
            return current  # issued by a concurrent call (the same provider invoice: the same keys)
        now = ports.now
        issued = replace(
            _with_state(current, hosted, now),
            provider_invoice_id=hosted.provider_invoice_id,
            hosted_invoice_url=hosted.hosted_invoice_url,
            issued_at=now,
            blocked_reason=None,
        )
        changes = Changes().transition(issued, current.status.value, revision=current.revision)
        _tell_client(ports, issued, changes, now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return issued
    raise Conflict("The invoice is being changed; try again.")


def _current_attempt(ports: InvoicingPorts, invoice: Invoice) -> Invoice:
    """The attempt whose idempotency keys a call uses. Stripe keeps keys about a day: an issue still
    unfinished after that (a crash after Stripe made the invoice, say) goes on as a new attempt, which looks
    for the earlier attempt's invoice before making one, so the client never gets a second invoice."""
    now = ports.now
    if invoice.issuing_since is not None and now - invoice.issuing_since < IDEMPOTENCY_KEY_LIFETIME:
        return invoice
    attempt = invoice.attempt + (1 if invoice.issuing_since is not None else 0)
    marked = replace(invoice, attempt=attempt, issuing_since=now, revision=invoice.revision + 1)
    try:
        ports.commit(Changes().transition(marked, invoice.status.value, revision=invoice.revision))
    except ConcurrencyConflict:
        current = ports.timesheets.timesheets.get_invoice(invoice.invoice_id)
        return current or invoice  # marked by a concurrent call: go on with its attempt
    return marked


def _wait(ports: InvoicingPorts, invoice: Invoice, reason: str) -> Invoice:
    if invoice.blocked_reason == reason:
        return invoice
    waiting = replace(invoice, blocked_reason=reason, revision=invoice.revision + 1)
    try:
        ports.commit(Changes().transition(waiting, invoice.status.value, revision=invoice.revision))
    except ConcurrencyConflict:
        return ports.timesheets.timesheets.get_invoice(invoice.invoice_id) or invoice
    return waiting


def _why_not_payable(payout: PayoutAccountRecord | None) -> str:
    if payout is None:
        return "The agency has not set up its payout account yet."
    if payout.disabled_reason:
        return f"The agency's payout account is disabled ({payout.disabled_reason})."
    due = ", ".join(payout.requirements_due) or "the provider's review"
    return f"The agency's payout account cannot receive transfers yet; waiting for: {due}."


def _customer(ports: InvoicingPorts, client_id: str) -> str:
    record = ports.payments.get_customer(client_id)
    if record is not None:
        return record.customer_id
    org = ports.accounts.accounts.get_organisation(client_id)
    if org is None:
        raise NotFound("Client company not found.")
    users = client_recipients(ports.timesheets.contracts.candidacies, client_id)
    address = org.address
    customer = BillingCustomer(
        org_id=client_id,
        name=org.name,
        email=org.billing_email or (users[0].email if users else ""),
        country=org.country,
        address_line1=address.line1 if address else None,
        address_line2=address.line2 if address else None,
        postal_code=address.postal_code if address else None,
        city=address.city if address else None,
        vat_number=org.vat_number,
    )
    customer_id = ports.gateway.create_customer(customer)  # keyed by the organisation: one customer
    with suppress(ConcurrencyConflict):  # recorded by a concurrent call, with the same customer
        ports.commit(Changes().insert(BillingCustomerRecord(client_id, customer_id, ports.now)))
    return customer_id


def breakdown_text(b: InvoiceBreakdown) -> str:
    """The split every party sees, as printed on the hosted invoice."""

    def money(amount: int) -> str:
        return format_amount(amount, b.currency)

    parts = [
        f"Net {money(b.net_minor)}",
        f"Customersonly commission {b.commission_bps / 100:g} % ({money(b.commission_minor)})",
        f"To the agency {money(b.agency_net_minor)}",
        f"VAT {b.vat_rate_bps / 100:g} % {money(b.vat_minor)}",
        f"Total {money(b.total_minor)}",
    ]
    text = " · ".join(parts)
    if b.reverse_charge:
        text += ". Reverse charge: VAT to be accounted for by the recipient (Council Directive 2006/112/EC, art. 196)."
    return text


# --- the provider's webhooks ------------------------------------------------------------------------------


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
        _tell_payout_failed(ports, event.account_id, record.received_at)
        return _remember(ports, record)
    if event.type == "charge.refunded" or event.type in DISPUTE_EVENTS:
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


def _charge_event(ports: InvoicingPorts, event: PaymentEvent, record: ProcessedEvent) -> Outcome:
    """A refund or a dispute of a client's payment: the agency's share follows what went back to the client."""
    if event.type.startswith("charge.dispute."):
        facts = fetch_facts(ports, dispute_id=event.object_id)
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
    if dispute is not None and (updated.dispute_seen_at is None or at >= updated.dispute_seen_at):
        withdrawn = dispute.status in DISPUTE_FUNDS_WITHDRAWN
        updated = replace(
            updated,
            dispute_id=dispute.dispute_id,
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
    return replace(done, share_move=None, revision=invoice.revision + 1)


def _record_refusal(ports: InvoicingPorts, invoice: Invoice, move: ShareMove, exc: PaymentRejected) -> None:
    """The provider refused the move (a 4xx: nothing moved). Its next try gets a new key (the provider
    replays a refusal under the old one), and operators are told, once per refusal."""
    log_failure("the provider refused to move the agency's share", exc, invoice_id=invoice.invoice_id, code=exc.code or "")
    retried = replace(move, attempt=move.attempt + 1, refused=str(exc)[:200])
    with suppress(ConcurrencyConflict):
        ports.commit(
            Changes().transition(
                replace(invoice, share_move=retried, revision=invoice.revision + 1), invoice.status.value, revision=invoice.revision
            )
        )


def _next_move(invoice: Invoice, now: datetime) -> ShareMove | None:
    target = invoice.share_to_hold_back()
    held = invoice.held_back_minor
    if target > held:
        # After a restoration the agency's share sits on the new transfer: later reversals come from there.
        source = invoice.restore_transfer_id if invoice.restored_minor else invoice.transfer_id
        if source is None:
            return None  # nothing was transferred (unpaid, or paid without a transfer): nothing to take back
        return ShareMove("reverse", target - held, invoice.reversed_minor + target - held, source, now)
    if target < held and invoice.charge_id:
        return ShareMove("restore", held - target, invoice.restored_minor + held - target, invoice.charge_id, now)
    return None


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
            updated = with_money_facts(_with_state(invoice, hosted, now), facts)
            changes.transition(updated, invoice.status.value, revision=invoice.revision)
            if updated.status is InvoiceStatus.PAID:
                _tell_paid(ports, updated, changes, now)
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


def _with_state(invoice: Invoice, hosted: HostedInvoice, now: datetime) -> Invoice:
    status = InvoiceStatus(hosted.status) if hosted.status in InvoiceStatus._value2member_map_ else invoice.status
    if status is InvoiceStatus.PENDING:  # a draft at the provider: issuing finalizes it
        status = InvoiceStatus.OPEN
    ended = status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE)
    moved = replace(
        invoice,
        status=status,
        revision=invoice.revision + 1,
        due_at=hosted.due_at or invoice.due_at,
        amount_paid_minor=hosted.amount_paid_minor,
        paid_at=hosted.paid_at or (now if status is InvoiceStatus.PAID else invoice.paid_at),
        transfer_id=hosted.transfer_id or invoice.transfer_id,
        ended_at=now if ended else invoice.ended_at,
    )
    return moved


def reconcile_invoices(ports: InvoicingPorts) -> dict[str, int]:
    """The scheduled check: invoices still waiting are issued when they can be (the agency's account asked
    again, should its update have been missed); open (and uncollectible)
    ones are compared with the provider and moved as a missed webhook would have moved them."""
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
    settled = 0
    for invoice in ports.payments.list_settling_invoices():
        try:
            move_share(ports, invoice.invoice_id)
            current = ports.timesheets.timesheets.get_invoice(invoice.invoice_id)
            settled += current is not None and current.share_move is None
        except Exception as exc:
            log_failure("settling an invoice failed", exc, invoice_id=invoice.invoice_id)
    return {"invoices_issued": issued, "invoices_reconciled": moved, "shares_settled": settled}


# --- telling people ---------------------------------------------------------------------------------------


def _tell_client(ports: InvoicingPorts, invoice: Invoice, changes: Changes, now: datetime) -> None:
    for user in client_recipients(ports.timesheets.contracts.candidacies, invoice.client_id):
        notify(
            changes, user, "invoice_issued", _invoice_params(ports, invoice, user), now, object_type="invoice", object_id=invoice.invoice_id
        )


def _tell_paid(ports: InvoicingPorts, invoice: Invoice, changes: Changes, now: datetime) -> None:
    """The agency's admins and the consultant learn the client paid, and what was transferred."""
    consultant = ports.accounts.accounts.get_user(invoice.consultant_id)
    active_consultant = [consultant] if consultant and consultant.status is UserStatus.ACTIVE else []
    people = agency_admins(ports.accounts.accounts, invoice.agency_id) + active_consultant
    for user in {u.user_id: u for u in people}.values():
        notify(
            changes, user, "invoice_paid", _invoice_params(ports, invoice, user), now, object_type="invoice", object_id=invoice.invoice_id
        )


def _agency_people(ports: InvoicingPorts, agency_id: str) -> list[User]:
    """The agency's admins and the platform's staff: who acts on money going back or not arriving."""
    accounts = ports.accounts.accounts
    return list({u.user_id: u for u in agency_admins(accounts, agency_id) + active_staff(accounts)}.values())


def _tell_share_moved(ports: InvoicingPorts, invoice: Invoice, changes: Changes, now: datetime, move: ShareMove) -> None:
    if move.kind == "restore":
        template = "transfer_restored"
    else:
        template = "transfer_reversed_dispute" if invoice.dispute_status in DISPUTE_FUNDS_WITHDRAWN else "transfer_reversed"
    for user in _agency_people(ports, invoice.agency_id):
        params = {**_invoice_params(ports, invoice, user), "amount": format_amount(move.amount_minor, invoice.breakdown.currency)}
        notify(changes, user, template, params, now, object_type="invoice", object_id=invoice.invoice_id)


def _tell_payout_failed(ports: InvoicingPorts, account_id: str, now: datetime) -> None:
    """The agency's bank refused a payout from its Stripe balance: the agency must fix its bank details."""
    payout = ports.payments.find_payout_account(account_id)
    if payout is None:
        return
    changes = Changes()
    link = f"{ports.web_base_url}/agencies/{payout.agency_id}/payouts"
    for user in _agency_people(ports, payout.agency_id):
        notify(
            changes,
            user,
            "payout_failed",
            {"recipient_name": user.name, "link": link},
            now,
            object_type="agency",
            object_id=payout.agency_id,
        )
    ports.commit(changes)


def _invoice_params(ports: InvoicingPorts, invoice: Invoice, user: User) -> dict[str, str]:
    b = invoice.breakdown
    return {
        "recipient_name": user.name,
        "total": format_amount(b.total_minor, b.currency),
        "agency_net": format_amount(b.agency_net_minor, b.currency),
        "breakdown": breakdown_text(b),
        "link": invoice.hosted_invoice_url or f"{ports.web_base_url}/invoices/{invoice.invoice_id}",
        "due": (invoice.due_at or invoice.created_at + timedelta(days=invoice.days_until_due)).date().isoformat(),
    }
