"""The offline Stripe itself: HTTP-level behaviour (parameters, idempotency, state machine), webhooks, persistence."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from chalicelib.adapters.payments.offline import DEFAULT_FIXTURES, OfflineStripe, OfflineStripeError, decode_form, sign_payload

AUTH = {"Authorization": "Bearer sk_test_offline"}


def _post(offline: OfflineStripe, path: str, params: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any], Any]:
    headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    if key is not None:
        headers["Idempotency-Key"] = key
    status, body, response_headers = offline.handle("post", f"https://api.stripe.com{path}", headers, urlencode(list(_api_encode(params))))
    return status, json.loads(body), response_headers


def _get(offline: OfflineStripe, path: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = offline.handle("get", f"https://api.stripe.com{path}", AUTH, None)
    return status, json.loads(body)


@pytest.fixture
def offline() -> OfflineStripe:
    return OfflineStripe()


@pytest.fixture
def client(offline: OfflineStripe) -> Any:
    return stripe.StripeClient("sk_test_offline", http_client=offline.http_client, max_network_retries=0)


def _draft(offline: OfflineStripe, **extra: Any) -> tuple[str, str]:
    _, customer, _ = _post(offline, "/v1/customers", {"name": "Kund AB"})
    params = {"customer": customer["id"], "collection_method": "send_invoice", "days_until_due": 10, "currency": "sek", **extra}
    _, invoice, _ = _post(offline, "/v1/invoices", params)
    return customer["id"], invoice["id"]


def test_form_bodies_decode_into_nested_dicts_and_lists() -> None:
    body = urlencode(list(_api_encode({"a": {"b": [{"c": "1"}, {"c": "2"}]}, "d": ["x", "y"], "e": True, "f": ""})))
    assert decode_form(body) == {"a": {"b": [{"c": "1"}, {"c": "2"}]}, "d": ["x", "y"], "e": "true", "f": ""}
    assert decode_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}


def test_unknown_parameters_are_refused_with_the_param_named(offline: OfflineStripe) -> None:
    status, body, _ = _post(offline, "/v1/customers", {"name": "x", "nickname": "y"})
    assert status == 400
    assert body["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "message": "Received unknown parameter: nickname",
        "param": "nickname",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
    }
    status, body, _ = _post(offline, "/v1/accounts", {"business_profile": {"name": "x", "colour": "red"}})
    assert (status, body["error"]["param"]) == (400, "business_profile[colour]")
    status, body, _ = _post(offline, "/v1/customers", {"tax_id_data": [{"type": "eu_vat", "value": "SE556677889901", "checked": "1"}]})
    assert (status, body["error"]["param"]) == (400, "tax_id_data[0][checked]")
    status, body, _ = _post(offline, "/v1/customers", {"name": {"first": "x"}})
    assert status == 400 and body["error"]["param"] == "name"
    assert offline.objects("customer") == []


def test_request_options_are_not_parameters(offline: OfflineStripe) -> None:
    assert _post(offline, "/v1/customers", {"idempotency_key": "x"})[0] == 400


def test_unknown_urls_and_bad_keys_are_refused(offline: OfflineStripe) -> None:
    assert _get(offline, "/v1/widgets")[0] == 404
    assert _get(offline, "/v1/invoices/in_missing")[1]["error"]["code"] == "resource_missing"
    status, _, _ = offline.handle("get", "https://api.stripe.com/v1/invoices", {"Authorization": "Bearer sk_live_x"}, None)
    assert status == 401


def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters(offline: OfflineStripe) -> None:
    status, first, headers = _post(offline, "/v1/customers", {"name": "Kund AB"}, key="customer.create:org-1:v1")
    assert status == 200 and "Idempotent-Replayed" not in headers
    status, again, headers = _post(offline, "/v1/customers", {"name": "Kund AB"}, key="customer.create:org-1:v1")
    assert (status, again, headers["idempotent-replayed"]) == (200, first, "true")
    status, other, _ = _post(offline, "/v1/customers", {"name": "Other AB"}, key="customer.create:org-1:v1")
    assert status == 400 and other["error"]["type"] == "idempotency_error"
    assert len(offline.objects("customer")) == 1


def test_an_executed_failure_is_replayed_too_but_a_refused_request_is_not_stored(offline: OfflineStripe) -> None:
    _, invoice_id = _draft(offline)
    status, body, _ = _post(offline, f"/v1/invoices/{invoice_id}/send", {}, key="send-1")
    assert (status, body["error"]["code"]) == (400, "invoice_not_editable")
    _post(offline, f"/v1/invoices/{invoice_id}/finalize", {}, key="fin-1")
    status, _, headers = _post(offline, f"/v1/invoices/{invoice_id}/send", {}, key="send-1")
    assert status == 400 and headers["Idempotent-Replayed"] == "true"  # Stripe stores the outcome of what ran

    assert _post(offline, "/v1/customers", {"nickname": "x"}, key="cust-1")[0] == 400
    assert _post(offline, "/v1/customers", {"name": "x"}, key="cust-1")[0] == 200  # the unknown parameter stored nothing
    offline.fail_next("POST", "/v1/customers", 500)
    assert _post(offline, "/v1/customers", {"name": "y"}, key="cust-2")[0] == 500
    assert _post(offline, "/v1/customers", {"name": "y"}, key="cust-2")[0] == 200


def test_the_invoice_state_machine(offline: OfflineStripe) -> None:
    customer_id, invoice_id = _draft(offline)
    item = {"customer": customer_id, "invoice": invoice_id, "amount": 1000, "currency": "sek"}
    assert _post(offline, "/v1/invoiceitems", item)[0] == 200
    assert _post(offline, "/v1/invoiceitems", {**item, "currency": "eur"})[1]["error"]["code"] == "currency_mismatch"
    assert _post(offline, f"/v1/invoices/{invoice_id}/void", {})[1]["error"]["code"] == "invoice_not_editable"
    assert _post(offline, f"/v1/invoices/{invoice_id}/send", {})[1]["error"]["code"] == "invoice_not_editable"

    status, invoice, _ = _post(offline, f"/v1/invoices/{invoice_id}/finalize", {})
    assert status == 200 and invoice["status"] == "open" and invoice["number"].endswith("-0001")
    assert invoice["hosted_invoice_url"].startswith("https://invoice.stripe.com/i/acct_")
    assert (invoice["total"], invoice["amount_due"], invoice["total_taxes"]) == (1000, 1000, [])
    assert _post(offline, f"/v1/invoices/{invoice_id}/finalize", {})[1]["error"]["code"] == "invoice_not_editable"
    assert _post(offline, "/v1/invoiceitems", item)[1]["error"]["code"] == "invoice_not_editable"
    assert _post(offline, f"/v1/invoices/{invoice_id}/send", {})[0] == 200

    assert _post(offline, f"/v1/invoices/{invoice_id}/void", {})[1]["status"] == "void"
    assert _post(offline, f"/v1/invoices/{invoice_id}/void", {})[1]["error"]["code"] == "invoice_not_editable"
    with pytest.raises(OfflineStripeError):
        offline.pay_invoice(invoice_id)


def test_charge_automatically_invoices_cannot_be_sent(offline: OfflineStripe) -> None:
    _, customer, _ = _post(offline, "/v1/customers", {"name": "Kund AB"})
    _, invoice, _ = _post(offline, "/v1/invoices", {"customer": customer["id"], "currency": "sek"})
    _post(offline, "/v1/invoiceitems", {"customer": customer["id"], "invoice": invoice["id"], "amount": 5, "currency": "sek"})
    _post(offline, f"/v1/invoices/{invoice['id']}/finalize", {})
    assert _post(offline, f"/v1/invoices/{invoice['id']}/send", {})[0] == 400


def test_tax_is_rounded_per_line_half_up(offline: OfflineStripe) -> None:
    _, rate, _ = _post(offline, "/v1/tax_rates", {"display_name": "Moms", "percentage": "25", "inclusive": False})
    customer_id, invoice_id = _draft(offline, default_tax_rates=[rate["id"]])
    for amount in (2, 2, 1001):  # 0.5 -> 1, 0.5 -> 1, 250.25 -> 250
        _post(offline, "/v1/invoiceitems", {"customer": customer_id, "invoice": invoice_id, "amount": amount, "currency": "sek"})
    _, invoice, _ = _post(offline, f"/v1/invoices/{invoice_id}/finalize", {})
    assert [entry["amount"] for entry in invoice["total_taxes"]] == [252]
    assert (invoice["subtotal"], invoice["total"], invoice["total_excluding_tax"]) == (1005, 1257, 1005)
    assert [line["taxes"][0]["amount"] for line in invoice["lines"]["data"]] == [1, 1, 250]


def test_webhooks_are_signed_as_stripe_signs_them_and_connect_events_name_the_account() -> None:
    deliveries: list[tuple[bytes, str, bool]] = []
    offline = OfflineStripe(webhook_sink=lambda payload, header, connect: deliveries.append((payload, header, connect)))
    _, account, _ = _post(offline, "/v1/accounts", {"country": "SE", "capabilities": {"transfers": {"requested": True}}})
    offline.activate_transfers(account["id"])
    [(payload, header, connect)] = deliveries
    assert connect and json.loads(payload)["account"] == account["id"]
    assert stripe.WebhookSignature.verify_header(payload, header, "whsec_local_connect", 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload, header, "whsec_local_platform", 300)
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert header == sign_payload(payload, "whsec_local_connect", timestamp)
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_local_connect", f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    assert header == f"t={timestamp},v1={expected}"


def test_helpers_for_what_happens_outside_the_api(offline: OfflineStripe) -> None:
    _, account, _ = _post(offline, "/v1/accounts", {"country": "SE", "capabilities": {"transfers": {"requested": True}}})
    customer_id, invoice_id = _draft(offline, transfer_data={"destination": account["id"], "amount": 800})
    _post(offline, "/v1/invoiceitems", {"customer": customer_id, "invoice": invoice_id, "amount": 1000, "currency": "sek"})
    _post(offline, f"/v1/invoices/{invoice_id}/finalize", {})
    with pytest.raises(OfflineStripeError, match="transfers"):
        offline.pay_invoice(invoice_id)  # the agency has not finished onboarding
    offline.activate_transfers(account["id"])
    assert offline.pay_invoice(invoice_id)["status"] == "paid"
    assert offline.refund(invoice_id)["amount"] == 1000
    assert offline.dispute(invoice_id)["status"] == "needs_response"
    types = [event["type"] for event in offline.events]
    assert {"invoice.paid", "transfer.created", "charge.refunded", "charge.dispute.created"} <= set(types)

    other_customer, second = _draft(offline)
    _post(offline, "/v1/invoiceitems", {"customer": other_customer, "invoice": second, "amount": 1, "currency": "sek"})
    _post(offline, f"/v1/invoices/{second}/finalize", {})
    assert offline.mark_uncollectible(second)["status"] == "uncollectible"
    assert _post(offline, f"/v1/invoices/{second}/void", {})[1]["status"] == "void"


def test_two_instances_on_one_state_file_share_one_stripe(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    api, pump = OfflineStripe(state_path=state), OfflineStripe(state_path=state)
    _, customer, _ = _post(api, "/v1/customers", {"name": "Kund AB"}, key="k1")
    assert _get(pump, f"/v1/customers/{customer['id']}")[1]["name"] == "Kund AB"
    status, _, headers = _post(pump, "/v1/customers", {"name": "Kund AB"}, key="k1")
    assert status == 200 and headers["Idempotent-Replayed"] == "true"
    assert len(OfflineStripe(state_path=state).objects("customer")) == 1


def test_the_fake_works_without_the_fixtures_file(tmp_path: Path) -> None:
    offline = OfflineStripe(fixtures_path=tmp_path / "absent.json")
    assert offline.fixtures_loaded is None
    client = stripe.StripeClient("sk_test_offline", http_client=offline.http_client, max_network_retries=0)
    customer = client.v1.customers.create({"name": "Kund AB"})
    invoice = client.v1.invoices.create({"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 5})
    client.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": 100, "currency": "sek"})
    assert client.v1.invoices.finalize_invoice(invoice.id).status == "open"
    # A zero total is paid on finalization, as on Stripe.
    empty = client.v1.invoices.create({"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 5})
    assert client.v1.invoices.finalize_invoice(empty.id).status == "paid"


@pytest.mark.skipif(
    not DEFAULT_FIXTURES.is_file(), reason=f"Stripe's fixtures3.json is not at {DEFAULT_FIXTURES} (a shared data directory)"
)
def test_objects_are_shaped_from_stripes_fixtures(client: Any, offline: OfflineStripe) -> None:
    fixtures = json.loads(DEFAULT_FIXTURES.read_text())["resources"]
    assert offline.fixtures_loaded == DEFAULT_FIXTURES
    customer = client.v1.customers.create({"name": "Kund AB"})
    invoice = client.v1.invoices.create({"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 5})
    assert set(fixtures["invoice"]) <= set(invoice.to_dict())
    assert set(fixtures["customer"]) <= set(customer.to_dict())
    assert invoice.last_finalization_error is None  # the fixture's placeholder is not carried over

    invoice_id, charge_id, account_id = _paid_invoice(offline)
    note = client.v1.credit_notes.create({"invoice": invoice_id, "amount": 100, "refund_amount": 100})
    transfer = client.v1.transfers.create({"destination": account_id, "amount": 100, "currency": "sek", "source_transaction": charge_id})
    dispute = client.v1.disputes.retrieve(offline.dispute(invoice_id)["id"])
    for kind, obj in (("credit_note", note), ("transfer", transfer), ("dispute", dispute)):
        assert set(fixtures[kind]) <= set(obj.to_dict()), kind
    assert note.shipping_cost is None and note.voided_at is None and note.refunds[0].amount_refunded == 100


# --- never crashes ---

_scalars = st.one_of(st.text(max_size=8), st.integers(-(10**12), 10**12), st.booleans())
_keys = st.sampled_from(
    [
        "customer",
        "currency",
        "amount",
        "invoice",
        "metadata",
        "transfer_data",
        "expand",
        "limit",
        "days_until_due",
        "destination",
        "source_transaction",
        "refund_amount",
        "x",
    ]
)
_params = st.recursive(
    _scalars,
    lambda inner: st.dictionaries(_keys | st.text(min_size=1, max_size=5), inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=12,
)
_paths = st.sampled_from(
    [
        "/v1/customers",
        "/v1/invoices",
        "/v1/invoiceitems",
        "/v1/accounts",
        "/v1/account_links",
        "/v1/tax_rates",
        "/v1/invoices/in_x/finalize",
        "/v1/credit_notes",
        "/v1/transfers",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths, params=st.dictionaries(_keys, _params, max_size=5), key=st.none() | st.sampled_from(["a", "b"]))
def test_random_parameters_get_a_stripe_shaped_answer(offline: OfflineStripe, path: str, params: dict[str, Any], key: str | None) -> None:
    status, body, _ = _post(offline, path, params, key=key)
    assert status in (200, 400, 404), body
    assert ("error" in body) == (status != 200)
    if status != 200:
        assert body["error"]["type"] in ("invalid_request_error", "idempotency_error") and body["error"]["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths, body=st.text(max_size=60))
def test_random_form_bodies_get_a_stripe_shaped_answer(offline: OfflineStripe, path: str, body: str) -> None:
    status, text, _ = offline.handle("post", f"https://api.stripe.com{path}", AUTH, body)
    answer = json.loads(text)
    assert status in (200, 400, 404), answer
    assert ("error" in answer) == (status != 200)


def test_clock_is_injectable() -> None:
    offline = OfflineStripe(clock=lambda: 1_700_000_000.0)
    _, customer, _ = _post(offline, "/v1/customers", {"name": "x"})
    assert customer["created"] == 1_700_000_000
    assert time.time() > customer["created"]


def test_a_failing_webhook_endpoint_does_not_fail_the_api_call() -> None:
    def broken(payload: bytes, header: str, connect: bool) -> None:
        raise ConnectionError("endpoint down")

    offline = OfflineStripe(webhook_sink=broken)
    assert _post(offline, "/v1/customers", {"name": "x"})[0] == 200
    [(payload, _, connect, error)] = offline.failed_deliveries
    assert json.loads(payload)["type"] == "customer.created" and not connect and "endpoint down" in error


# --- credit notes, transfers, disputes ---


def _open_invoice(offline: OfflineStripe, amount: int = 1000, transfer: int = 800) -> tuple[str, str]:
    """An open invoice of ``amount`` whose ``transfer`` goes to an agency that can receive it: (invoice, account)."""
    _, account, _ = _post(offline, "/v1/accounts", {"country": "SE", "capabilities": {"transfers": {"requested": True}}})
    offline.activate_transfers(account["id"])
    customer_id, invoice_id = _draft(offline, transfer_data={"destination": account["id"], "amount": transfer})
    _post(offline, "/v1/invoiceitems", {"customer": customer_id, "invoice": invoice_id, "amount": amount, "currency": "sek"})
    _post(offline, f"/v1/invoices/{invoice_id}/finalize", {})
    return invoice_id, account["id"]


def _paid_invoice(offline: OfflineStripe, amount: int = 1000, transfer: int = 800) -> tuple[str, str, str]:
    """A paid invoice: (invoice, its charge, the agency's account)."""
    invoice_id, account_id = _open_invoice(offline, amount, transfer)
    offline.pay_invoice(invoice_id)
    [charge] = [c for c in offline.objects("charge") if c["amount"] == amount and c["refunded"] is False][-1:]
    return invoice_id, charge["id"], account_id


def _credit(offline: OfflineStripe, invoice_id: str, amount: int, key: str | None = None, **extra: Any) -> tuple[int, dict[str, Any], Any]:
    params = {"invoice": invoice_id, "amount": amount, "reason": "order_change", "memo": "Rättelse", "metadata": {"invoice_id": "inv-1"}}
    return _post(offline, "/v1/credit_notes", {**params, **extra}, key=key)


def _types(offline: OfflineStripe) -> list[str]:
    return [event["type"] for event in offline.events]


def test_a_credit_note_lowers_what_an_open_invoice_asks_for_and_crediting_it_in_full_pays_it(offline: OfflineStripe) -> None:
    invoice_id, _ = _open_invoice(offline)
    status, note, _ = _credit(offline, invoice_id, 300)
    assert status == 200, note
    assert (note["pre_payment_amount"], note["post_payment_amount"], note["type"], note["status"]) == (300, 0, "pre_payment", "issued")
    assert (note["invoice"], note["amount"], note["total"], note["metadata"]) == (invoice_id, 300, 300, {"invoice_id": "inv-1"})
    assert note["refunds"] == [] and note["memo"] == "Rättelse" and note["number"].endswith("-CN-01")
    assert _get(offline, f"/v1/credit_notes/{note['id']}") == (200, note)
    invoice = _get(offline, f"/v1/invoices/{invoice_id}")[1]
    assert (invoice["status"], invoice["total"], invoice["amount_due"], invoice["amount_remaining"]) == ("open", 1000, 700, 700)
    assert (invoice["pre_payment_credit_notes_amount"], invoice["post_payment_credit_notes_amount"]) == (300, 0)

    status, rest, _ = _credit(offline, invoice_id, 700)
    assert status == 200 and rest["number"].endswith("-CN-02")
    invoice = _get(offline, f"/v1/invoices/{invoice_id}")[1]
    assert (invoice["status"], invoice["amount_paid"], invoice["amount_remaining"], invoice["amount_due"]) == ("paid", 0, 0, 0)
    assert invoice["status_transitions"]["paid_at"] is not None and invoice["pre_payment_credit_notes_amount"] == 1000
    assert _types(offline).count("credit_note.created") == 2 and _types(offline).count("invoice.paid") == 1
    assert offline.objects("charge") == [] and offline.objects("transfer") == []  # nothing was paid, nothing transferred
    status, over, _ = _credit(offline, invoice_id, 1)
    assert (status, over["error"]["code"], over["error"]["param"]) == (400, "amount_too_large", "amount")


def test_a_credit_note_on_a_paid_invoice_refunds_the_charge_as_its_post_payment_amount(offline: OfflineStripe) -> None:
    invoice_id, charge_id, _ = _paid_invoice(offline)
    status, note, _ = _credit(offline, invoice_id, 400, refund_amount=400)
    assert status == 200, note
    assert (note["pre_payment_amount"], note["post_payment_amount"], note["type"]) == (0, 400, "post_payment")
    [refund] = offline.objects("refund")
    assert note["refunds"] == [{"amount_refunded": 400, "refund": refund["id"], "type": "refund", "payment_record_refund": None}]
    assert (refund["charge"], refund["amount"]) == (charge_id, 400)
    charge = _get(offline, f"/v1/charges/{charge_id}")[1]
    assert (charge["amount_refunded"], charge["refunded"]) == (400, False)
    invoice = _get(offline, f"/v1/invoices/{invoice_id}")[1]
    assert (invoice["status"], invoice["amount_paid"], invoice["amount_due"], invoice["post_payment_credit_notes_amount"]) == (
        "paid",
        1000,
        1000,
        400,
    )
    assert {"refund.created", "charge.refunded", "credit_note.created", "invoice.updated"} <= set(_types(offline))

    assert _credit(offline, invoice_id, 600, refund_amount=600)[0] == 200
    charge = _get(offline, f"/v1/charges/{charge_id}")[1]
    assert (charge["amount_refunded"], charge["refunded"]) == (1000, True)
    assert _get(offline, f"/v1/invoices/{invoice_id}")[1]["post_payment_credit_notes_amount"] == 1000


def test_a_post_payment_credit_must_be_accounted_for_exactly(offline: OfflineStripe) -> None:
    invoice_id, charge_id, _ = _paid_invoice(offline)
    for extra in ({}, {"refund_amount": 300}, {"refund_amount": 400, "credit_amount": 1}):
        status, body, _ = _credit(offline, invoice_id, 400, **extra)
        assert status == 400 and "post-payment amount (400)" in body["error"]["message"], extra
    assert offline.objects("credit_note") == [] and offline.objects("refund") == []
    assert _get(offline, f"/v1/invoices/{invoice_id}")[1]["post_payment_credit_notes_amount"] == 0

    # Split between a refund, the customer's balance and money returned outside Stripe.
    status, note, _ = _credit(offline, invoice_id, 400, refund_amount=100, credit_amount=200, out_of_band_amount=100)
    assert status == 200 and note["out_of_band_amount"] == 100 and note["customer_balance_transaction"].startswith("cbtxn_")
    customer = _get(offline, f"/v1/customers/{note['customer']}")[1]
    assert customer["balance"] == -200
    assert _get(offline, f"/v1/charges/{charge_id}")[1]["amount_refunded"] == 100

    # An open invoice still asks for the amount: nothing is left after payment to refund.
    open_id, _ = _open_invoice(offline)
    status, body, _ = _credit(offline, open_id, 100, refund_amount=100)
    assert status == 400 and "post-payment amount (0)" in body["error"]["message"]


def test_credit_notes_are_refused_for_invoices_not_issued_or_closed_and_above_the_total(offline: OfflineStripe) -> None:
    customer_id, draft_id = _draft(offline)
    _post(offline, "/v1/invoiceitems", {"customer": customer_id, "invoice": draft_id, "amount": 500, "currency": "sek"})
    status, body, _ = _credit(offline, draft_id, 100)
    assert (status, body["error"]["code"]) == (400, "invoice_not_finalized")
    assert body["error"]["message"] == "You cannot create a credit note for a draft invoice."

    _post(offline, f"/v1/invoices/{draft_id}/finalize", {})
    _post(offline, f"/v1/invoices/{draft_id}/void", {})
    assert _credit(offline, draft_id, 100)[1]["error"]["code"] == "invoice_not_editable"

    invoice_id, _, _ = _paid_invoice(offline)
    assert _credit(offline, invoice_id, 1001, refund_amount=1001)[1]["error"]["code"] == "amount_too_large"
    assert _credit(offline, invoice_id, 0)[1]["error"]["code"] == "parameter_invalid_integer"
    assert _credit(offline, invoice_id, 10, reason="because")[1]["error"]["param"] == "reason"
    assert _credit(offline, "in_missing", 10)[1]["error"]["code"] == "resource_missing"
    status, body, _ = _credit(offline, invoice_id, 10, refund_amount=10, refund_reason="duplicate")
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "parameter_unknown", "refund_reason")
    status, body, _ = _post(offline, "/v1/credit_notes", {"invoice": invoice_id, "lines": [{"type": "custom_line_item", "unit_amount": 5}]})
    assert status == 400 and "amount only" in body["error"]["message"]
    assert offline.objects("credit_note") == []


def test_a_refund_by_credit_note_is_refused_while_the_charge_is_charged_back(offline: OfflineStripe) -> None:
    invoice_id, _, _ = _paid_invoice(offline)
    dispute = offline.dispute(invoice_id)
    assert _credit(offline, invoice_id, 100, refund_amount=100)[1]["error"]["code"] == "charge_disputed"
    offline.close_dispute(dispute["id"], won=True)
    assert _credit(offline, invoice_id, 100, refund_amount=100)[0] == 200


def test_a_credit_note_key_replays_the_one_note_and_refuses_other_parameters(offline: OfflineStripe) -> None:
    invoice_id, _, _ = _paid_invoice(offline)
    status, first, _ = _credit(offline, invoice_id, 250, key="credit_note.create:inv-1:1", refund_amount=250)
    assert status == 200
    status, again, headers = _credit(offline, invoice_id, 250, key="credit_note.create:inv-1:1", refund_amount=250)
    assert (status, again, headers["Idempotent-Replayed"]) == (200, first, "true")
    status, other, _ = _credit(offline, invoice_id, 300, key="credit_note.create:inv-1:1", refund_amount=300)
    assert status == 400 and other["error"]["type"] == "idempotency_error"
    assert len(offline.objects("credit_note")) == 1 and len(offline.objects("refund")) == 1
    assert _get(offline, f"/v1/invoices/{invoice_id}")[1]["post_payment_credit_notes_amount"] == 250


def test_a_transfer_from_a_charge_never_exceeds_what_the_charge_has_left(offline: OfflineStripe) -> None:
    invoice_id, charge_id, account_id = _paid_invoice(offline)  # 1000 paid, 800 transferred with the payment
    params = {"destination": account_id, "currency": "sek", "source_transaction": charge_id}
    status, body, _ = _post(offline, "/v1/transfers", {**params, "amount": 201})
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "balance_insufficient", "amount")
    status, transfer, _ = _post(offline, "/v1/transfers", {**params, "amount": 200}, key="transfer:1")
    assert status == 200, transfer
    assert (transfer["amount"], transfer["destination"], transfer["source_transaction"], transfer["currency"]) == (
        200,
        account_id,
        charge_id,
        "sek",
    )
    assert _get(offline, f"/v1/transfers/{transfer['id']}") == (200, transfer)
    assert [event["data"]["object"]["id"] for event in offline.events if event["type"] == "transfer.created"][-1] == transfer["id"]

    # A reversal gives back to the charge what it takes back from the account; a refund takes it away.
    [automatic] = [t for t in offline.objects("transfer") if t["id"] != transfer["id"]]
    assert _post(offline, f"/v1/transfers/{automatic['id']}/reversals", {"amount": 500})[0] == 200
    assert _post(offline, "/v1/transfers", {**params, "amount": 501})[1]["error"]["code"] == "balance_insufficient"
    assert _credit(offline, invoice_id, 100, refund_amount=100)[0] == 200
    assert _post(offline, "/v1/transfers", {**params, "amount": 401})[1]["error"]["code"] == "balance_insufficient"
    assert _post(offline, "/v1/transfers", {**params, "amount": 400})[0] == 200

    assert _post(offline, "/v1/transfers", {**params, "amount": 1, "currency": "eur"})[1]["error"]["param"] == "currency"
    assert _post(offline, "/v1/transfers", {**params, "amount": 1, "source_transaction": "ch_missing"})[1]["error"]["code"] == (
        "resource_missing"
    )
    assert _post(offline, "/v1/transfers", {**params, "amount": 0})[1]["error"]["code"] == "parameter_invalid_integer"


def test_a_transfer_needs_an_account_with_transfers_active_and_replays_under_its_key(offline: OfflineStripe) -> None:
    _, charge_id, account_id = _paid_invoice(offline)
    _, pending, _ = _post(offline, "/v1/accounts", {"country": "SE", "capabilities": {"transfers": {"requested": True}}})
    params = {"destination": pending["id"], "amount": 100, "currency": "sek", "source_transaction": charge_id}
    status, body, _ = _post(offline, "/v1/transfers", params)
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "insufficient_capabilities_for_transfer", "destination")

    params["destination"] = account_id
    _, first, _ = _post(offline, "/v1/transfers", params, key="transfer.create:inv-1:1")
    status, again, headers = _post(offline, "/v1/transfers", params, key="transfer.create:inv-1:1")
    assert (status, again, headers["Idempotent-Replayed"]) == (200, first, "true")
    status, other, _ = _post(offline, "/v1/transfers", {**params, "amount": 150}, key="transfer.create:inv-1:1")
    assert status == 400 and other["error"]["type"] == "idempotency_error"
    assert [t["amount"] for t in offline.objects("transfer")] == [800, 100]


def test_disputes_are_read_and_closed_won_or_lost(offline: OfflineStripe) -> None:
    invoice_id, charge_id, account_id = _paid_invoice(offline)
    dispute = offline.dispute(invoice_id)
    status, read = _get(offline, f"/v1/disputes/{dispute['id']}")
    assert (status, read["status"], read["charge"], read["amount"]) == (200, "needs_response", charge_id, 1000)
    assert _get(offline, "/v1/disputes/dp_missing")[1]["error"]["code"] == "resource_missing"
    # The chargeback withdrew the charge's funds: nothing is left to transfer from it until it is won.
    params = {"destination": account_id, "currency": "sek", "source_transaction": charge_id, "amount": 100}
    assert _post(offline, "/v1/transfers", params)[1]["error"]["code"] == "balance_insufficient"

    assert offline.close_dispute(dispute["id"], won=True)["status"] == "won"
    assert _get(offline, f"/v1/disputes/{dispute['id']}")[1]["status"] == "won"
    assert _types(offline)[-2:] == ["charge.dispute.closed", "charge.dispute.funds_reinstated"]
    assert _post(offline, "/v1/transfers", params)[0] == 200
    with pytest.raises(OfflineStripeError, match="closed already"):
        offline.close_dispute(dispute["id"], won=False)

    other, _, _ = _paid_invoice(offline)
    lost = offline.close_dispute(offline.dispute(other)["id"], won=False)
    assert lost["status"] == "lost" and _types(offline)[-1] == "charge.dispute.closed"
    with pytest.raises(OfflineStripeError, match="no such dispute"):
        offline.close_dispute("dp_missing", won=True)


_amounts = st.none() | st.integers(-5, 1200)


@settings(max_examples=60, deadline=None)
@given(
    pay=st.booleans(),
    notes=st.lists(
        st.fixed_dictionaries(
            {"amount": st.integers(-5, 1200), "refund_amount": _amounts, "credit_amount": _amounts, "out_of_band_amount": _amounts}
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_credit_notes_never_credit_beyond_the_total_nor_refund_beyond_the_charge(pay: bool, notes: list[dict[str, int | None]]) -> None:
    offline = OfflineStripe()
    invoice_id, _ = _open_invoice(offline, amount=1000)
    if pay:
        offline.pay_invoice(invoice_id)
    for note in notes:
        before = {kind: offline.objects(kind) for kind in ("invoice", "charge", "credit_note", "refund", "customer")}
        extra = {key: value for key, value in note.items() if value is not None and key != "amount"}
        status, body, _ = _credit(offline, invoice_id, int(note["amount"] or 0), **extra)
        assert status in (200, 400), body
        if status == 400:
            assert {kind: offline.objects(kind) for kind in before} == before, body  # a refusal changes nothing
        invoice = _get(offline, f"/v1/invoices/{invoice_id}")[1]
        credited = invoice["pre_payment_credit_notes_amount"] + invoice["post_payment_credit_notes_amount"]
        assert credited == sum(cn["amount"] for cn in offline.objects("credit_note")) <= invoice["total"]
        assert invoice["amount_remaining"] == invoice["amount_due"] - invoice["amount_paid"] >= 0
        assert (invoice["status"] == "paid") == (pay or invoice["amount_remaining"] == 0)
        for charge in offline.objects("charge"):
            assert charge["amount_refunded"] == sum(r["amount"] for r in offline.objects("refund")) <= charge["amount"]
