"""A smoke test against Stripe's test mode: customer, draft invoice, void. Runs only with a test-mode secret key.

``STRIPE_API_KEY=sk_test_... pytest tests/unit/test_stripe_live.py`` (never a live key: it is refused here).
It leaves a deleted draft and a customer in the test-mode account.
"""

from __future__ import annotations

import os
import uuid

import pytest

API_KEY = os.environ.get("STRIPE_API_KEY", "")

pytestmark = pytest.mark.skipif(
    not API_KEY.startswith("sk_test_"),
    reason="needs STRIPE_API_KEY with a Stripe test-mode secret key (sk_test_...); never runs against live mode",
)


def test_customer_draft_invoice_and_void_against_stripe_test_mode() -> None:
    from chalicelib.adapters.payments.stripe_gateway import StripeGateway
    from chalicelib.services.ports import BillingCustomer

    gateway = StripeGateway(API_KEY)
    run = uuid.uuid4().hex[:12]
    customer_id = gateway.create_customer(
        BillingCustomer(
            org_id=f"smoke-{run}", name="Smoke Test AB", email=f"smoke+{run}@example.com", country="SE", vat_number="SE556677889901"
        )
    )
    client = gateway.client
    invoice = client.v1.invoices.create(
        {
            "customer": customer_id,
            "currency": "sek",
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "metadata": {"invoice_id": f"smoke-{run}"},
        },
        options={"idempotency_key": f"invoice.create:smoke-{run}:v1"},
    )
    client.v1.invoice_items.create(
        {"customer": customer_id, "invoice": invoice.id, "amount": 1000, "currency": "sek", "description": "Smoke"}
    )
    client.v1.invoices.finalize_invoice(invoice.id, {"auto_advance": False})
    voided = gateway.void_invoice(invoice.id, invoice_id=f"smoke-{run}")
    assert voided.status == "void"
    assert voided.total_minor == 1000
    client.v1.customers.delete(customer_id)


def test_a_credit_note_before_payment_lowers_what_is_due_against_stripe_test_mode() -> None:
    from chalicelib.adapters.payments.stripe_gateway import StripeGateway
    from chalicelib.services.ports import BillingCustomer, CreditNoteRequest

    gateway = StripeGateway(API_KEY)
    run = uuid.uuid4().hex[:12]
    customer_id = gateway.create_customer(
        BillingCustomer(org_id=f"smoke-{run}", name="Smoke Test AB", email=f"smoke+{run}@example.com", country="SE")
    )
    client = gateway.client
    invoice = client.v1.invoices.create(
        {"customer": customer_id, "currency": "sek", "collection_method": "send_invoice", "days_until_due": 30, "auto_advance": False}
    )
    client.v1.invoice_items.create({"customer": customer_id, "invoice": invoice.id, "amount": 1000, "currency": "sek"})
    client.v1.invoices.finalize_invoice(invoice.id, {"auto_advance": False})
    note = CreditNoteRequest(invoice.id, f"smoke-{run}", 200, "order_change", "Smoke credit", refund=False, key=f"credit:{run}")
    assert gateway.credit_invoice(note) == gateway.credit_invoice(note)  # the same key: the same note
    hosted = gateway.get_invoice(invoice.id)
    assert (hosted.credited_before_payment_minor, hosted.amount_remaining_minor) == (200, 800)
    gateway.void_invoice(invoice.id, invoice_id=f"smoke-{run}")
    client.v1.customers.delete(customer_id)
