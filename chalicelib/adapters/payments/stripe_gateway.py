"""The PaymentGateway and PaymentWebhooks ports on Stripe (stripe-python 16, API version 2026-10-28.endive).

Money flow (DESIGN §4): destination charges on Stripe invoices. The platform is merchant of record and invoices
the client from its own account; ``transfer_data[amount]`` moves the agency's net to the agency's connected
account when the invoice is paid; the platform keeps the commission (and the VAT it owes).

Connected accounts are created with **controller properties** rather than ``type="express"`` (Stripe's
recommended way for Accounts v1, "Migrate to controller properties"), set to what an Express account is: Stripe
collects the requirements and hosts onboarding, the Express Dashboard, the platform pays Stripe's fees and
bears losses (it is merchant of record). The agency is a **recipient**: ``tos_acceptance.service_agreement =
"recipient"`` and only the ``transfers`` capability, since agencies never take payments themselves.

Afterwards: a credit note (``credit_invoice``) lowers what an open invoice asks for or, once paid, refunds the
client; a refund or dispute takes the agency's share back with a transfer reversal, and a dispute won gives it
back as a separate transfer (``transfer``; from the platform's balance, where the won dispute put the money).

Every POST carries a deterministic idempotency key (``op:<our id>:v<n>``), so a call repeated after a failure
replays Stripe's stored answer instead of making a second object. ``issue_invoice`` is resumable beyond that:
it re-reads the invoice and its items and skips what is already done (with a higher ``attempt``, whose keys are
new, it finds the invoice of an earlier attempt by ``metadata.invoice_id`` first). Account links are the
exception: they are single-use and short-lived, so each call makes a fresh one.

``stripe`` is imported on first use only (about 90 ms of cold start otherwise). The SDK's own retries
(``max_network_retries``, default 2 here) are safe because every POST has its key; they cover network
failures, 409 lock conflicts and 5xx.

Errors: throttling, network failures, Stripe's 5xx and refused credentials become ``UpstreamUnavailable``;
a refused request (4xx) becomes ``PaymentRejected`` (a Conflict) with Stripe's error ``code``; an idempotency
key reused with other parameters becomes a ``Conflict``. Details never carry personal data: Stripe's message
is shortened and stripped of e-mail addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from chalicelib.domain.invoicing import CREDIT_NOTE_REASONS
from chalicelib.errors import Conflict, FieldIssue, InvalidInput, PaymentRejected, Unauthenticated, UpstreamUnavailable
from chalicelib.services.ports import (
    BillingCustomer,
    ChargeState,
    CreditNoteRequest,
    DisputeState,
    HostedInvoice,
    InvoiceRequest,
    PaymentEvent,
    PayoutAccount,
)

_EMAIL = re.compile(r"\S+@\S+")
_ACCOUNT_ID = re.compile(r"acct_[A-Za-z0-9]+")
_INVOICE_ID = re.compile(r"in_[A-Za-z0-9]+")
_CHARGE_ID = re.compile(r"(?:ch|py)_[A-Za-z0-9]+")
_TRANSFER_ID = re.compile(r"tr_[A-Za-z0-9]+")
_DISPUTE_ID = re.compile(r"(?:dp|du)_[A-Za-z0-9]+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
MAX_DETAIL = 200
VAT_DISPLAY_NAME = "Moms"  # Swedish VAT, as the client reads it on the hosted invoice
VAT_JURISDICTION = "SE"
BUSY_CODES = frozenset({"idempotency_key_in_use", "lock_timeout", "rate_limit"})  # retry, same key
SERVICES_TAX_CODE = "txcd_20030000"  # Stripe Tax's "General - Services": consulting


class StripeGateway:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        http_client: Any | None = None,
        statement_descriptor: str | None = None,
        max_network_retries: int = 2,
        automatic_tax: bool = False,
    ) -> None:
        self._api_key = api_key
        self._automatic_tax = automatic_tax
        self._http_client = http_client
        self._statement_descriptor = statement_descriptor
        self._max_network_retries = max_network_retries
        self._client_instance: Any = None

    @property
    def client(self) -> Any:
        """The ``stripe.StripeClient``, made on first use."""
        if self._client_instance is None:
            import stripe

            self._client_instance = stripe.StripeClient(
                self._api_key, http_client=self._http_client, max_network_retries=self._max_network_retries
            )
        return self._client_instance

    # --- payout accounts (agencies) ---

    def create_payout_account(self, agency_id: str, *, name: str, email: str, country: str) -> str:
        params = {
            "country": country.upper(),
            "email": email,
            "business_type": "company",
            "business_profile": {"name": name},
            "capabilities": {"transfers": {"requested": True}},
            "tos_acceptance": {"service_agreement": "recipient"},
            "controller": {
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "requirement_collection": "stripe",
                "stripe_dashboard": {"type": "express"},
            },
            "metadata": {"agency_id": agency_id},
        }
        account = self._call(lambda: self.client.v1.accounts.create(params, options=_key(f"account.create:{agency_id}:v1")))
        return str(account["id"])

    def payout_account_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str:
        params = {
            "account": _checked(account_id, _ACCOUNT_ID, "account_id"),
            "type": "account_onboarding",
            "refresh_url": refresh_url,
            "return_url": return_url,
            "collection_options": {"fields": "currently_due"},
        }
        link = self._call(lambda: self.client.v1.account_links.create(params))
        return str(link["url"])

    def get_payout_account(self, account_id: str) -> PayoutAccount:
        account = self._call(lambda: self.client.v1.accounts.retrieve(_checked(account_id, _ACCOUNT_ID, "account_id")))
        return payout_account(account)

    # --- customers (clients) ---

    def create_customer(self, customer: BillingCustomer) -> str:
        address = {
            "line1": customer.address_line1,
            "line2": customer.address_line2,
            "postal_code": customer.postal_code,
            "city": customer.city,
            "country": customer.country.upper(),
        }
        params: dict[str, Any] = {
            "name": customer.name,
            "email": customer.email,
            "address": {key: value for key, value in address.items() if value},
            "preferred_locales": ["sv", "en"] if customer.country.upper() == "SE" else ["en"],
            "metadata": {"org_id": customer.org_id},
        }
        if customer.vat_number:
            params["tax_id_data"] = [{"type": "eu_vat", "value": customer.vat_number.replace(" ", "").upper()}]
        created = self._call(lambda: self.client.v1.customers.create(params, options=_key(f"customer.create:{customer.org_id}:v1")))
        return str(created["id"])

    # --- invoices ---

    def issue_invoice(self, request: InvoiceRequest) -> HostedInvoice:
        _check_request(request)
        invoices = self.client.v1.invoices
        version = f"v{request.attempt}"
        # Stripe Tax (production) works the VAT out from the customer's address and tax ids; otherwise the
        # platform's own rate goes on as a tax rate.
        vat_by_us = not self._automatic_tax and request.vat_rate_bps > 0 and not request.reverse_charge
        tax_rate = self._vat_rate(request.vat_rate_bps) if vat_by_us else None
        invoice = self._earlier_attempt(request) if request.attempt > 1 else None
        if invoice is None:
            params: dict[str, Any] = {
                "customer": request.customer_id,
                "currency": request.currency.lower(),
                "collection_method": "send_invoice",
                "days_until_due": request.days_until_due,
                "auto_advance": False,
                "pending_invoice_items_behavior": "exclude",
                "transfer_data": {"destination": request.destination_account, "amount": request.transfer_amount_minor},
                "footer": request.footer,
                "metadata": {**request.metadata, "invoice_id": request.invoice_id},
            }
            if tax_rate is not None:
                params["default_tax_rates"] = [tax_rate]
            if self._automatic_tax:
                params["automatic_tax"] = {"enabled": True}
            if self._statement_descriptor:
                params["statement_descriptor"] = self._statement_descriptor
            created = self._call(lambda: invoices.create(params, options=_key(f"invoice.create:{request.invoice_id}:{version}")))
            # A replayed creation answers the draft as it was then: read what it is now.
            invoice = self._call(lambda: invoices.retrieve(created["id"]))
        stripe_id = str(invoice["id"])

        if invoice["status"] == "draft":
            items = self._call(lambda: self.client.v1.invoice_items.list({"invoice": stripe_id, "limit": 100}))
            done = {str((item.get("metadata") or {}).get("line")) for item in items["data"]}
            for index, line in enumerate(request.lines):
                if str(index) in done:
                    continue
                item_params = {
                    "customer": request.customer_id,
                    "invoice": stripe_id,
                    "currency": request.currency.lower(),
                    "amount": line.amount_minor,
                    "description": line.description,
                    "metadata": {"invoice_id": request.invoice_id, "line": str(index)},
                }
                if self._automatic_tax:  # net amounts, taxed as services ("General - Services")
                    item_params |= {"tax_behavior": "exclusive", "tax_code": SERVICES_TAX_CODE}
                key = f"invoiceitem.create:{request.invoice_id}:{index}:{version}"
                self._call(partial(self.client.v1.invoice_items.create, item_params, options=_key(key)))
            invoice = self._advance(
                stripe_id,
                lambda: invoices.finalize_invoice(
                    stripe_id, {"auto_advance": False}, options=_key(f"invoice.finalize:{stripe_id}:{version}")
                ),
                done_when=lambda status: status != "draft",
            )
        if invoice["status"] == "open":
            invoice = self._advance(
                stripe_id,
                lambda: invoices.send_invoice(stripe_id, options=_key(f"invoice.send:{stripe_id}:{version}")),
                done_when=lambda status: status in ("paid", "void", "uncollectible"),
            )
        return self.get_invoice(stripe_id)

    def get_invoice(self, provider_invoice_id: str) -> HostedInvoice:
        stripe_id = _checked(provider_invoice_id, _INVOICE_ID, "provider_invoice_id")
        invoice = self._call(lambda: self.client.v1.invoices.retrieve(stripe_id, {"expand": ["payments"]}))
        charge_id, transfer_id = self._payment(invoice)
        return hosted_invoice(invoice, transfer_id=transfer_id, charge_id=charge_id)

    def void_invoice(self, provider_invoice_id: str, *, invoice_id: str) -> HostedInvoice:
        stripe_id = _checked(provider_invoice_id, _INVOICE_ID, "provider_invoice_id")
        self._advance(
            stripe_id,
            lambda: self.client.v1.invoices.void_invoice(stripe_id, options=_key(f"invoice.void:{invoice_id}:v1")),
            done_when=lambda status: status == "void",
        )
        return self.get_invoice(stripe_id)

    def get_charge(self, charge_id: str) -> ChargeState:
        stripe_id = _checked(charge_id, _CHARGE_ID, "charge_id")
        charge = self._call(lambda: self.client.v1.charges.retrieve(stripe_id))
        intent = _ref(charge.get("payment_intent"))
        invoice_id = None
        if intent:
            # Since API 2025-03-31 a charge no longer names its invoice: the invoice's payment does.
            payments = self._call(
                lambda: self.client.v1.invoice_payments.list({"payment": {"type": "payment_intent", "payment_intent": intent}, "limit": 1})
            )
            invoice_id = next((_ref(p.get("invoice")) for p in payments.get("data") or []), None)
        return ChargeState(
            charge_id=stripe_id,
            provider_invoice_id=invoice_id,
            amount_minor=int(charge.get("amount") or 0),
            amount_refunded_minor=int(charge.get("amount_refunded") or 0),
        )

    def reverse_transfer(self, transfer_id: str, amount_minor: int, *, key: str, invoice_id: str) -> str:
        stripe_id = _checked(transfer_id, _TRANSFER_ID, "transfer_id")
        params = {"amount": amount_minor, "metadata": {"invoice_id": invoice_id, "key": key}}
        reversal = self._call(lambda: self.client.v1.transfers.reversals.create(stripe_id, params, options=_key(key)))
        return str(reversal["id"])

    def find_reversal(self, transfer_id: str, key: str) -> str | None:
        stripe_id = _checked(transfer_id, _TRANSFER_ID, "transfer_id")
        return self._find_by_key(lambda params: self.client.v1.transfers.reversals.list(stripe_id, params), {}, key)

    def find_credit_note(self, provider_invoice_id: str, key: str) -> str | None:
        params = {"invoice": _checked(provider_invoice_id, _INVOICE_ID, "provider_invoice_id")}
        return self._find_by_key(self.client.v1.credit_notes.list, params, key)

    def find_transfer(self, destination_account: str, key: str, *, since: datetime) -> str | None:
        params = {
            "destination": _checked(destination_account, _ACCOUNT_ID, "destination_account"),
            "created": {"gte": int(since.timestamp())},
        }
        return self._find_by_key(self.client.v1.transfers.list, params, key)

    def _find_by_key(self, list_page: Callable[[dict[str, Any]], Any], params: dict[str, Any], key: str) -> str | None:
        """The id of the listed object whose ``metadata.key`` is ``key``, reading every page."""
        after: str | None = None
        while True:
            page_params = {**params, "limit": 100, **({"starting_after": after} if after else {})}
            page = self._call(partial(list_page, page_params))
            for obj in page["data"]:
                if (obj.get("metadata") or {}).get("key") == key:
                    return str(obj["id"])
            if not page.get("has_more") or not page["data"]:
                return None
            after = str(page["data"][-1]["id"])

    def transfer(
        self, destination_account: str, amount_minor: int, currency: str, *, source_charge_id: str | None, key: str, invoice_id: str
    ) -> str:
        """A separate transfer, out of a charge's funds (``source_transaction``) or the platform's balance: Stripe
        refuses it above what the charge has left and to an account whose ``transfers`` capability is not active."""
        issues = []
        if amount_minor <= 0:
            issues.append(FieldIssue("amount_minor", "a transfer moves a positive amount"))
        if _CURRENCY.fullmatch(currency) is None:
            issues.append(FieldIssue("currency", "an ISO 4217 code"))
        if issues:
            raise InvalidInput("The transfer cannot be made as requested.", issues=issues)
        params = {
            "destination": _checked(destination_account, _ACCOUNT_ID, "destination_account"),
            "amount": amount_minor,
            "currency": currency.lower(),
            "metadata": {"invoice_id": invoice_id, "key": key},
        }
        if source_charge_id is not None:
            params["source_transaction"] = _checked(source_charge_id, _CHARGE_ID, "source_charge_id")
        created = self._call(lambda: self.client.v1.transfers.create(params, options=_key(key)))
        return str(created["id"])

    def credit_invoice(self, request: CreditNoteRequest) -> str:
        """A credit note for ``amount_minor`` (tax included). Stripe applies it to what the invoice still asks for
        first (``pre_payment_amount``; an open invoice credited in full becomes paid) and the rest after payment
        (``post_payment_amount``), which must be accounted for: here all of it as a refund to the client's payment
        method when ``request.refund``. A post-payment credit without ``refund`` is refused by Stripe, as is a
        refund on an invoice that still asks for at least that amount."""
        stripe_id = _checked(request.provider_invoice_id, _INVOICE_ID, "provider_invoice_id")
        _check_credit_note(request)
        params: dict[str, Any] = {
            "invoice": stripe_id,
            "amount": request.amount_minor,
            "reason": request.reason,
            "memo": request.memo,
            "metadata": {"invoice_id": request.invoice_id, "key": request.key},
        }
        if request.refund:
            params["refund_amount"] = request.amount_minor
        created = self._call(lambda: self.client.v1.credit_notes.create(params, options=_key(request.key)))
        return str(created["id"])

    def get_dispute(self, dispute_id: str) -> DisputeState:
        stripe_id = _checked(dispute_id, _DISPUTE_ID, "dispute_id")
        dispute = self._call(lambda: self.client.v1.disputes.retrieve(stripe_id))
        return DisputeState(
            dispute_id=str(dispute["id"]),
            charge_id=str(_ref(dispute.get("charge")) or ""),
            status=str(dispute["status"]),
            created=_timestamp(dispute.get("created")) or datetime.fromtimestamp(0, tz=UTC),
        )

    # --- internals ---

    def _vat_rate(self, bps: int) -> str:
        percentage = f"{bps / 100:g}"
        params = {
            "display_name": VAT_DISPLAY_NAME,
            "description": f"Swedish VAT {percentage} %",
            "jurisdiction": VAT_JURISDICTION,
            "country": VAT_JURISDICTION,
            "tax_type": "vat",
            "percentage": percentage,
            "inclusive": False,
        }
        rate = self._call(lambda: self.client.v1.tax_rates.create(params, options=_key(f"tax_rate.create:vat-{bps}:v1")))
        return str(rate["id"])

    def _earlier_attempt(self, request: InvoiceRequest) -> Any | None:
        """The invoice an earlier attempt made (found by our id in its metadata), unless voided."""
        listed = self._call(lambda: self.client.v1.invoices.list({"customer": request.customer_id, "limit": 100}))
        for invoice in listed["data"]:
            if (invoice.get("metadata") or {}).get("invoice_id") == request.invoice_id and invoice["status"] != "void":
                return invoice
        return None

    def _advance(self, stripe_id: str, step: Callable[[], Any], *, done_when: Callable[[str], bool]) -> Any:
        """Runs one state transition; when Stripe refuses it because it already happened (another attempt, a
        concurrent call), reads the invoice and carries on."""
        import stripe

        try:
            result = step()
            return dict(result.to_dict())
        except stripe.InvalidRequestError as exc:
            current = self._call(lambda: self.client.v1.invoices.retrieve(stripe_id))
            if done_when(str(current["status"])):
                return current
            raise _mapped(exc) from exc
        except stripe.StripeError as exc:
            raise _mapped(exc) from exc

    def _payment(self, invoice: Any) -> tuple[str | None, str | None]:
        """The charge that paid the invoice and the transfer of the agency's share made from it: from the paid
        invoice's payment (one more GET, of its charge or of its payment intent with the charge expanded). An
        invoice paid without a charge (credited in full, a zero total) has neither."""
        if invoice["status"] != "paid":
            return None, None
        payments = invoice.get("payments")
        for payment in payments["data"] if payments else []:
            details = payment.get("payment") or {}
            if payment.get("status") != "paid":
                continue
            if details.get("charge"):
                charge_id = _ref(details["charge"])
                if not invoice.get("transfer_data"):
                    return charge_id, None
                return charge_id, _ref(self._call(partial(self.client.v1.charges.retrieve, charge_id)).get("transfer"))
            if details.get("payment_intent"):
                intent_id = _ref(details["payment_intent"])
                intent = self._call(partial(self.client.v1.payment_intents.retrieve, intent_id, {"expand": ["latest_charge"]}))
                latest = intent.get("latest_charge")
                if isinstance(latest, Mapping):
                    return _ref(latest), _ref(latest.get("transfer"))
                return _ref(latest), None
        return None, None

    @staticmethod
    def _call(operation: Callable[[], Any]) -> dict[str, Any]:
        """Runs one SDK call; answers Stripe's object as plain dicts, and domain errors for Stripe's."""
        import stripe

        try:
            result = operation()
        except stripe.StripeError as exc:
            raise _mapped(exc) from exc
        return dict(result.to_dict()) if hasattr(result, "to_dict") else dict(result)


def _key(idempotency_key: str) -> dict[str, str]:
    return {"idempotency_key": idempotency_key}


def _ref(value: Any) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the object."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value["id"])


def _checked(value: str, pattern: re.Pattern[str], field: str) -> str:
    if pattern.fullmatch(value) is None:
        raise InvalidInput(f"Not a Stripe id: {field}.", issues=[FieldIssue(field, "not a Stripe id")])
    return value


def _check_request(request: InvoiceRequest) -> None:
    issues = []
    if not request.lines:
        issues.append(FieldIssue("lines", "an invoice needs at least one line"))
    if any(line.amount_minor < 0 for line in request.lines):
        issues.append(FieldIssue("lines", "negative amount"))
    if request.attempt < 1:
        issues.append(FieldIssue("attempt", "attempts count from 1"))
    if not 0 <= request.transfer_amount_minor <= sum(line.amount_minor for line in request.lines):
        issues.append(FieldIssue("transfer_amount_minor", "the agency's share exceeds the net amount"))
    if request.reverse_charge and request.vat_rate_bps:
        issues.append(FieldIssue("vat_rate_bps", "reverse charge carries no VAT"))
    if re.fullmatch(r"[A-Z]{3}", request.currency) is None:
        issues.append(FieldIssue("currency", "an ISO 4217 code in upper case"))
    if issues:
        raise InvalidInput("The invoice cannot be issued as requested.", issues=issues)


def _check_credit_note(request: CreditNoteRequest) -> None:
    issues = []
    if request.amount_minor <= 0:
        issues.append(FieldIssue("amount_minor", "a credit note credits a positive amount"))
    if request.reason not in CREDIT_NOTE_REASONS:
        issues.append(FieldIssue("reason", f"one of {', '.join(CREDIT_NOTE_REASONS)}"))
    if not request.key:
        issues.append(FieldIssue("key", "an idempotency key is required"))
    if issues:
        raise InvalidInput("The credit note cannot be issued as requested.", issues=issues)


def _detail(message: str | None) -> str:
    return _EMAIL.sub("<e-mail>", message or "")[:MAX_DETAIL]


def _mapped(exc: Exception) -> Exception:
    import stripe

    status = getattr(exc, "http_status", None)
    if isinstance(exc, stripe.IdempotencyError):
        return Conflict("A payment request was repeated with different parameters under the same idempotency key.")
    if isinstance(exc, stripe.RateLimitError):
        return UpstreamUnavailable("The payment provider is throttling requests (HTTP 429)")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return UpstreamUnavailable(
            "The payment provider refused the platform's credentials: check the payment provider credentials (API key)"
        )
    if isinstance(exc, stripe.APIConnectionError):
        return UpstreamUnavailable(f"The payment provider could not be reached: {type(exc).__name__}")
    code = getattr(exc, "code", None)
    if status == 409 or code in BUSY_CODES:
        # Not a refusal: the same key is still being worked on, or the object is locked. Nothing may be
        # concluded about the outcome, so it is retried (with the same key), never treated as refused.
        return UpstreamUnavailable(f"The payment provider is busy with this request (HTTP {status}{f', {code}' if code else ''})")
    if isinstance(exc, stripe.InvalidRequestError | stripe.CardError):
        param = getattr(exc, "param", None)
        text = f"The payment provider refused the request (HTTP {status}{f', {code}' if code else ''})"
        user_message = getattr(exc, "user_message", None) or ""
        return PaymentRejected(f"{text}: {_detail(user_message)}" if user_message else text, code=code, param=param)
    if isinstance(exc, stripe.APIError) and status is not None and 400 <= status < 500:
        return PaymentRejected(f"The payment provider refused the request (HTTP {status})", code=code)
    return UpstreamUnavailable(f"The payment provider is unavailable ({type(exc).__name__}{f', HTTP {status}' if status else ''})")


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int) and not isinstance(value, bool) else None


def payout_account(account: Any) -> PayoutAccount:
    capabilities = account.get("capabilities") or {}
    requirements = account.get("requirements") or {}
    return PayoutAccount(
        account_id=str(account["id"]),
        transfers_active=capabilities.get("transfers") == "active",
        details_submitted=bool(account.get("details_submitted")),
        requirements_due=tuple(str(item) for item in requirements.get("currently_due") or ()),
        disabled_reason=requirements.get("disabled_reason"),
    )


def hosted_invoice(invoice: Any, *, transfer_id: str | None = None, charge_id: str | None = None) -> HostedInvoice:
    """A Stripe invoice as the port's HostedInvoice. Tax is the sum of ``total_taxes`` (API versions since
    2025-03-31); older versions' ``tax`` is read when ``total_taxes`` is absent. Credit notes show as Stripe's
    ``pre_payment_credit_notes_amount`` (what they took off the amount due) and ``post_payment_credit_notes_amount``
    (refunded or credited after payment); ``total`` stays what was invoiced."""
    total_taxes = invoice.get("total_taxes")
    tax = sum(int(entry["amount"]) for entry in total_taxes) if total_taxes is not None else int(invoice.get("tax") or 0)
    transitions = invoice.get("status_transitions") or {}
    return HostedInvoice(
        provider_invoice_id=str(invoice["id"]),
        status=str(invoice["status"]),
        hosted_invoice_url=invoice.get("hosted_invoice_url"),
        total_minor=int(invoice["total"]),
        tax_minor=tax,
        amount_paid_minor=int(invoice["amount_paid"]),
        amount_remaining_minor=int(invoice["amount_remaining"]),
        due_at=_timestamp(invoice.get("due_date")),
        paid_at=_timestamp(transitions.get("paid_at")),
        transfer_id=transfer_id,
        charge_id=charge_id,
        credited_before_payment_minor=int(invoice.get("pre_payment_credit_notes_amount") or 0),
        credited_after_payment_minor=int(invoice.get("post_payment_credit_notes_amount") or 0),
    )


class StripeWebhooks:
    """Verifies and reads Stripe's webhooks: the platform endpoint's and the Connect endpoint's, each signed with
    its own secret (``Stripe-Signature: t=<ts>,v1=<HMAC-SHA256>``; older than ``tolerance`` seconds is refused)."""

    def __init__(self, platform_secret: str, connect_secret: str, tolerance: int = 300) -> None:
        if not platform_secret or not connect_secret:
            raise ValueError("both webhook endpoint secrets are required")
        self._platform_secret = platform_secret
        self._connect_secret = connect_secret
        self._tolerance = tolerance

    def parse(self, raw_body: bytes, signature_header: str | None, *, connect: bool) -> PaymentEvent:
        import stripe

        if not signature_header:
            raise Unauthenticated("The webhook carries no Stripe-Signature header")
        secret = self._connect_secret if connect else self._platform_secret
        try:
            stripe.WebhookSignature.verify_header(raw_body, signature_header, secret, self._tolerance)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
            raise Unauthenticated("The webhook's Stripe-Signature does not verify (wrong secret, altered body or too old)") from exc
        try:
            event = json.loads(raw_body)
        except ValueError as exc:
            raise InvalidInput("The webhook body is not JSON", issues=[FieldIssue("body", "not JSON")]) from exc
        return payment_event(event, connect=connect)


def payment_event(event: Any, *, connect: bool) -> PaymentEvent:
    """A verified event's body as the port's PaymentEvent; InvalidInput for what is not a Stripe event."""
    if not isinstance(event, Mapping):
        raise InvalidInput("The webhook body is not an event", issues=[FieldIssue("body", "not an object")])
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    fields = {
        "id": event.get("id"),
        "type": event.get("type"),
        "data.object.id": obj.get("id") if isinstance(obj, Mapping) else None,
    }
    issues = [FieldIssue(name, "missing") for name, value in fields.items() if not isinstance(value, str) or not value]
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        issues.append(FieldIssue("created", "missing"))
    account = event.get("account")
    if account is not None and not isinstance(account, str):
        issues.append(FieldIssue("account", "not an account id"))
    if connect and not account:
        issues.append(FieldIssue("account", "a Connect event names its connected account"))
    if not connect and account:
        issues.append(FieldIssue("account", "a connected account's event arrived at the platform endpoint"))
    if issues:
        raise InvalidInput("The webhook is not a Stripe event this endpoint takes", issues=issues)
    assert isinstance(created, int)
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    reference = metadata.get("invoice_id") if isinstance(metadata, Mapping) else None
    credited = obj.get("invoice") if isinstance(obj, Mapping) and obj.get("object") == "credit_note" else None
    refunded = obj.get("charge") if isinstance(obj, Mapping) and obj.get("object") == "refund" else None
    return PaymentEvent(
        event_id=str(fields["id"]),
        type=str(fields["type"]),
        object_id=str(fields["data.object.id"]),
        account_id=account,
        created=datetime.fromtimestamp(created, tz=UTC),
        invoice_reference=reference if isinstance(reference, str) else None,
        provider_invoice_id=_optional_ref(credited),
        charge_id=_optional_ref(refunded),
    )


def _optional_ref(value: Any) -> str | None:
    """An expandable field's id from an event body, which is not trusted to be shaped as Stripe documents it."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None
