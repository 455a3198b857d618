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


# --- never crashes ---

_scalars = st.one_of(st.text(max_size=8), st.integers(-(10**12), 10**12), st.booleans())
_keys = st.sampled_from(
    ["customer", "currency", "amount", "invoice", "metadata", "transfer_data", "expand", "limit", "days_until_due", "x"]
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
