"""Invoicing through the payment provider (Stripe): agencies' payout accounts, issuing the invoices that
confirmations recorded, and the provider's webhooks.

The platform is the merchant of record: the client pays the whole invoice on the provider's hosted page;
the agency's net is transferred to its Connect account with the payment (``transfer_data``); the
commission and the VAT stay with the platform. An invoice is issued only once the agency can be paid
(transfers active on its account); until then it waits, and says why. Every call to the provider carries
a deterministic idempotency key (``op:<our id>:v<attempt>``), so a retried issue never makes a second
invoice. Webhooks are verified, handled once per event id, and only re-fetched states that move an
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
    BillingCustomerRecord,
    Invoice,
    InvoiceBreakdown,
    InvoiceStatus,
    PayoutAccountRecord,
    invoice_moves_forward,
    round_half_up,
)
from chalicelib.domain.money import format_amount
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.logging import log_failure, logger
from chalicelib.services.accounts import AccountPorts
from chalicelib.services.candidacies import ATTEMPTS, active_staff, agency_admins, client_recipients
from chalicelib.services.notifications import notify
from chalicelib.services.ports import (
    BillingCustomer,
    Changes,
    HostedInvoice,
    InvoiceLine,
    InvoiceRequest,
    PaymentGateway,
    PaymentsRepository,
    PaymentWebhooks,
)
from chalicelib.services.timesheets import TimesheetPorts

PROVIDER = "stripe"
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=23)  # Stripe may forget a key after 24 hours
Outcome = Literal["applied", "stale", "duplicate", "ignored"]


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
    """The account as the provider has it now (after ``account.updated``); when the agency can be paid,
    the invoices that waited for it are issued. A sync racing another fetches again: the state written is
    always one fetched after the last write."""
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
        if updated.transfers_active and not record.transfers_active:
            for invoice in ports.payments.list_agency_invoices(record.agency_id, InvoiceStatus.PENDING):
                issue_invoice(ports, invoice.invoice_id)
        return updated
    raise Conflict("The payout account is being changed; try again.")


# --- issuing ----------------------------------------------------------------------------------------------


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
    read; handled once per event id; the invoice is re-fetched and only forward moves are applied."""
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
    if event.type in ("charge.refunded", "charge.dispute.created"):
        return _charge_event(ports, event.type, event.object_id if event.type == "charge.refunded" else event.charge_id, record)
    if not event.type.startswith("invoice."):
        logger.info("payment event not acted on", extra={"type": event.type})
        return _remember(ports, record, "ignored")
    invoice = ports.payments.find_invoice(event.object_id)
    if invoice is None:
        if event.invoice_reference is None:
            return _remember(ports, record, "ignored")  # not one of ours (made in Stripe's dashboard, say)
        # Ours, not linked yet (its issue is still committing): not recorded, so it is delivered again.
        raise NotFound("No invoice has this provider id yet.")
    hosted = ports.gateway.get_invoice(event.object_id)
    failed = event.type == "invoice.payment_failed"
    for _ in range(ATTEMPTS):
        try:
            return _apply(ports, invoice.invoice_id, hosted, record, payment_failed=failed)
        except ConcurrencyConflict:
            if ports.timesheets.contracts.engagements.event_processed(PROVIDER, event.event_id):
                return "duplicate"
    raise Conflict("The invoice is being changed; try again.")


def _charge_event(ports: InvoicingPorts, kind: str, charge_id: str | None, record: ProcessedEvent) -> Outcome:
    """A refund or a dispute of a client's payment: the agency's transfer gives back its share (of what was
    refunded; all of it for a dispute, as the platform bears the disputed amount meanwhile)."""
    if not charge_id:
        raise InvalidInput("The event names no charge.", issues=[FieldIssue("data.object.charge", "missing")])
    charge = ports.gateway.get_charge(charge_id)  # re-fetched: what the event says is only a hint
    invoice = ports.payments.find_invoice(charge.provider_invoice_id) if charge.provider_invoice_id else None
    if invoice is None:
        return _remember(ports, record, "ignored")  # a payment that is not one of our invoices
    for _ in range(ATTEMPTS):
        current = ports.timesheets.timesheets.get_invoice(invoice.invoice_id)
        assert current is not None
        now = ports.now
        b = current.breakdown
        refunded = max(current.refunded_minor, charge.amount_refunded_minor)
        disputed = current.disputed_at is not None or kind == "charge.dispute.created" or charge.disputed
        owed_back = b.agency_net_minor if disputed else round_half_up(refunded * b.agency_net_minor, b.total_minor or 1)
        to_reverse = owed_back - current.reversed_minor
        if to_reverse > 0 and current.transfer_id:
            # Keyed by the total owed back: a retry, or the same event again, never reverses twice.
            ports.gateway.reverse_transfer(current.transfer_id, to_reverse, key=f"transfer.reverse:{current.invoice_id}:{owed_back}")
        updated = replace(
            current,
            refunded_minor=refunded,
            reversed_minor=max(current.reversed_minor, owed_back),
            disputed_at=current.disputed_at or (now if disputed else None),
            revision=current.revision + 1,
        )
        if updated == replace(current, revision=updated.revision):
            return _remember(ports, record, "stale")
        changes = Changes().insert(record).transition(updated, current.status.value, revision=current.revision)
        _tell_reversed(ports, updated, changes, now, "disputed" if disputed else "refunded", to_reverse)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            if ports.timesheets.contracts.engagements.event_processed(PROVIDER, record.event_id):
                return "duplicate"
            continue
        return "applied"
    raise Conflict("The invoice is being changed; try again.")


def _remember(ports: InvoicingPorts, record: ProcessedEvent, outcome: Outcome = "applied") -> Outcome:
    try:
        ports.commit(Changes().insert(record))
    except ConcurrencyConflict:
        return "duplicate"
    return outcome


def _apply(
    ports: InvoicingPorts, invoice_id: str, hosted: HostedInvoice, record: ProcessedEvent | None, *, payment_failed: bool = False
) -> Outcome:
    invoice = ports.timesheets.timesheets.get_invoice(invoice_id)
    assert invoice is not None
    now = ports.now
    changes = Changes()
    if record is not None:
        changes.insert(record)
    target = InvoiceStatus(hosted.status) if hosted.status in InvoiceStatus._value2member_map_ else None
    if target is None or not invoice_moves_forward(invoice.status, target):
        if payment_failed and invoice.status is InvoiceStatus.OPEN:
            flagged = replace(invoice, payment_failed_at=now, revision=invoice.revision + 1)
            ports.commit(changes.transition(flagged, invoice.status.value, revision=invoice.revision))
            return "applied"
        if changes.writes:
            ports.commit(changes)
        return "stale"
    updated = _with_state(invoice, hosted, now)
    changes.transition(updated, invoice.status.value, revision=invoice.revision)
    if updated.status is InvoiceStatus.PAID:
        _tell_paid(ports, updated, changes, now)
    ports.commit(changes)
    logger.info("invoice moved", extra={"invoice_id": invoice_id, "from": invoice.status.value, "to": updated.status.value})
    return "applied"


def _with_state(invoice: Invoice, hosted: HostedInvoice, now: datetime) -> Invoice:
    status = InvoiceStatus(hosted.status) if hosted.status in InvoiceStatus._value2member_map_ else invoice.status
    if status is InvoiceStatus.PENDING:  # a draft at the provider: issuing finalizes it
        status = InvoiceStatus.OPEN
    ended = status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE)
    return replace(
        invoice,
        status=status,
        revision=invoice.revision + 1,
        due_at=hosted.due_at or invoice.due_at,
        amount_paid_minor=hosted.amount_paid_minor,
        paid_at=hosted.paid_at or (now if status is InvoiceStatus.PAID else invoice.paid_at),
        transfer_id=hosted.transfer_id or invoice.transfer_id,
        ended_at=now if ended else invoice.ended_at,
    )


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
                if _apply(ports, invoice.invoice_id, ports.gateway.get_invoice(invoice.provider_invoice_id), None) == "applied":
                    moved += 1
            except Exception as exc:
                log_failure("reconciling an invoice failed", exc, invoice_id=invoice.invoice_id)
    return {"invoices_issued": issued, "invoices_reconciled": moved}


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


def _tell_reversed(ports: InvoicingPorts, invoice: Invoice, changes: Changes, now: datetime, why: str, amount_minor: int) -> None:
    for user in _agency_people(ports, invoice.agency_id):
        params = {**_invoice_params(ports, invoice, user), "why": why, "reversed": format_amount(amount_minor, invoice.breakdown.currency)}
        notify(changes, user, "transfer_reversed", params, now, object_type="invoice", object_id=invoice.invoice_id)


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
