"""Invoicing through the payment provider (Stripe): agencies' payout accounts, and issuing the invoices that
confirmations recorded. The provider's webhooks are in ``payment_events``; what the agency gives back when
money goes back to the client, in ``agency_share``.

The platform is the merchant of record: the client pays the whole invoice on the provider's hosted page;
the agency's net is transferred to its Connect account with the payment (``transfer_data``); the
commission and the VAT stay with the platform. An invoice is issued only once the agency can be paid
(transfers active on its account); until then it waits, and says why. Every call to the provider carries
a deterministic idempotency key (``op:<our id>:v<attempt>``), so a retried issue never makes a second
invoice.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.identity import Principal
from chalicelib.domain.invoicing import (
    BillingCustomerRecord,
    Invoice,
    InvoiceBreakdown,
    InvoiceStatus,
    PayoutAccountRecord,
)
from chalicelib.domain.money import format_amount
from chalicelib.errors import ConcurrencyConflict, Conflict, NotFound
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
            with_provider_state(current, hosted, now),
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


def with_provider_state(invoice: Invoice, hosted: HostedInvoice, now: datetime) -> Invoice:
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


# --- telling people ---------------------------------------------------------------------------------------


def _tell_client(ports: InvoicingPorts, invoice: Invoice, changes: Changes, now: datetime) -> None:
    for user in client_recipients(ports.timesheets.contracts.candidacies, invoice.client_id):
        notify(
            changes, user, "invoice_issued", invoice_params(ports, invoice, user), now, object_type="invoice", object_id=invoice.invoice_id
        )


def tell_paid(ports: InvoicingPorts, invoice: Invoice, changes: Changes, now: datetime) -> None:
    """The agency's admins and the consultant learn the client paid, and what was transferred."""
    consultant = ports.accounts.accounts.get_user(invoice.consultant_id)
    active_consultant = [consultant] if consultant and consultant.status is UserStatus.ACTIVE else []
    people = agency_admins(ports.accounts.accounts, invoice.agency_id) + active_consultant
    for user in {u.user_id: u for u in people}.values():
        notify(
            changes, user, "invoice_paid", invoice_params(ports, invoice, user), now, object_type="invoice", object_id=invoice.invoice_id
        )


def agency_people(ports: InvoicingPorts, agency_id: str) -> list[User]:
    """The agency's admins and the platform's staff: who acts on money going back or not arriving."""
    accounts = ports.accounts.accounts
    return list({u.user_id: u for u in agency_admins(accounts, agency_id) + active_staff(accounts)}.values())


def tell_payout_failed(ports: InvoicingPorts, account_id: str, now: datetime) -> None:
    """The agency's bank refused a payout from its Stripe balance: the agency must fix its bank details."""
    payout = ports.payments.find_payout_account(account_id)
    if payout is None:
        return
    changes = Changes()
    link = f"{ports.web_base_url}/agencies/{payout.agency_id}/payouts"
    for user in agency_people(ports, payout.agency_id):
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


def invoice_params(ports: InvoicingPorts, invoice: Invoice, user: User) -> dict[str, str]:
    b = invoice.breakdown
    return {
        "recipient_name": user.name,
        "total": format_amount(b.total_minor, b.currency),
        "agency_net": format_amount(b.agency_net_minor, b.currency),
        "breakdown": breakdown_text(b),
        "link": invoice.hosted_invoice_url or f"{ports.web_base_url}/invoices/{invoice.invoice_id}",
        "due": (invoice.due_at or invoice.created_at + timedelta(days=invoice.days_until_due)).date().isoformat(),
    }
