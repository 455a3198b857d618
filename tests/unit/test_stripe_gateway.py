"""The Stripe payment adapter through the real ``stripe.StripeClient`` against the offline Stripe."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe

from chalicelib.adapters.payments.offline import OfflineStripe
from chalicelib.adapters.payments.stripe_gateway import PaymentRejected, StripeGateway, StripeWebhooks, hosted_invoice, payment_event
from chalicelib.errors import Conflict, InvalidInput, Unauthenticated, UpstreamUnavailable
from chalicelib.services.ports import BillingCustomer, CreditNoteRequest, InvoiceLine, InvoiceRequest

PLATFORM_SECRET, CONNECT_SECRET = "whsec_test_platform", "whsec_test_connect"
REPO = Path(__file__).resolve().parents[2]


class Sink:
    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, str, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, payload: bytes, header: str, connect: bool) -> None:
        with self.lock:
            self.deliveries.append((payload, header, connect))

    def of_type(self, event_type: str) -> list[tuple[bytes, str, bool]]:
        return [d for d in self.deliveries if json.loads(d[0])["type"] == event_type]


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def offline(sink: Sink) -> OfflineStripe:
    return OfflineStripe(webhook_sink=sink, webhook_secrets=(PLATFORM_SECRET, CONNECT_SECRET))


@pytest.fixture
def gateway(offline: OfflineStripe) -> StripeGateway:
    return StripeGateway("sk_test_offline", http_client=offline.http_client, max_network_retries=0)


@pytest.fixture
def webhooks() -> StripeWebhooks:
    return StripeWebhooks(PLATFORM_SECRET, CONNECT_SECRET)


def _agency(gateway: StripeGateway, offline: OfflineStripe, *, active: bool = True) -> str:
    account_id = gateway.create_payout_account("agency-1", name="Konsult AB", email="ekonomi@konsult.example", country="se")
    if active:
        offline.activate_transfers(account_id)
    return account_id


def _customer(gateway: StripeGateway, org_id: str = "org-1") -> str:
    return gateway.create_customer(
        BillingCustomer(
            org_id=org_id,
            name="Kund AB",
            email="faktura@kund.example",
            country="SE",
            address_line1="Storgatan 1",
            postal_code="111 22",
            city="Stockholm",
            vat_number="SE 556677889901",
        )
    )


def _request(customer_id: str, account_id: str, **overrides: object) -> InvoiceRequest:
    fields: dict[str, object] = {
        "invoice_id": "inv-1",
        "attempt": 1,
        "customer_id": customer_id,
        "currency": "SEK",
        "lines": (InvoiceLine("Konsulttimmar vecka 1", 100001), InvoiceLine("Konsulttimmar vecka 2", 50001)),
        "days_until_due": 30,
        "destination_account": account_id,
        "transfer_amount_minor": 127501,
        "vat_rate_bps": 2500,
        "reverse_charge": False,
        "footer": "Netto 1 500,02 kr; provision 15 % 225,00 kr; byråns netto 1 275,01 kr; moms 25 %",
        "metadata": {"engagement_id": "eng-1"},
    }
    fields.update(overrides)
    return InvoiceRequest(**fields)


def test_importing_the_adapters_does_not_import_stripe() -> None:
    code = (
        "import sys\n"
        "import chalicelib.adapters.payments.stripe_gateway, chalicelib.adapters.payments.offline\n"
        "assert 'stripe' not in sys.modules, 'stripe was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# --- payout accounts ---


def test_payout_account_is_a_recipient_with_transfers_only_and_onboards_through_a_link(
    gateway: StripeGateway, offline: OfflineStripe, sink: Sink, webhooks: StripeWebhooks
) -> None:
    account_id = _agency(gateway, offline, active=False)
    assert gateway.create_payout_account("agency-1", name="Konsult AB", email="ekonomi@konsult.example", country="se") == account_id
    [account] = offline.objects("account")
    assert account["country"] == "SE"
    assert account["metadata"] == {"agency_id": "agency-1"}
    assert account["business_profile"]["name"] == "Konsult AB"
    assert account["capabilities"] == {"transfers": "inactive"}
    assert account["tos_acceptance"]["service_agreement"] == "recipient"
    assert account["controller"]["stripe_dashboard"]["type"] == "express"

    before = gateway.get_payout_account(account_id)
    assert not before.transfers_active and not before.details_submitted
    assert before.requirements_due and before.disabled_reason

    url = gateway.payout_account_link(account_id, refresh_url="https://app.example/refresh", return_url="https://app.example/done")
    assert url.startswith("https://connect.stripe.com/setup/") and account_id in url

    offline.activate_transfers(account_id)
    [(payload, header, connect)] = sink.of_type("account.updated")
    assert connect
    event = webhooks.parse(payload, header, connect=True)
    assert (event.type, event.object_id, event.account_id) == ("account.updated", account_id, account_id)
    after = gateway.get_payout_account(account_id)
    assert after.transfers_active and after.details_submitted and after.requirements_due == () and after.disabled_reason is None


def test_customer_carries_org_id_and_vat_number_as_eu_vat_tax_id(gateway: StripeGateway, offline: OfflineStripe) -> None:
    customer_id = _customer(gateway)
    assert _customer(gateway) == customer_id  # the same key: Stripe replays the first creation
    [customer] = offline.objects("customer")
    assert customer["metadata"] == {"org_id": "org-1"}
    assert customer["address"]["country"] == "SE" and customer["address"]["city"] == "Stockholm"
    [tax_id] = offline.objects("tax_id")
    assert (tax_id["customer"], tax_id["type"], tax_id["value"]) == (customer_id, "eu_vat", "SE556677889901")


# --- invoices ---


def test_issue_invoice_finalizes_and_sends_with_vat_per_line_and_the_agency_share(gateway: StripeGateway, offline: OfflineStripe) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    hosted = gateway.issue_invoice(_request(customer_id, account_id))

    assert hosted.status == "open"
    assert hosted.hosted_invoice_url is not None and hosted.hosted_invoice_url.startswith("https://invoice.stripe.com/i/acct_")
    # Stripe rounds tax per line (half up) and sums: 25 000.25 -> 25 000 and 12 500.25 -> 12 500; on the
    # invoice total it would have been 37 500.5 -> 37 501.
    assert hosted.tax_minor == 25000 + 12500
    assert hosted.total_minor == 150002 + 37500
    assert hosted.amount_remaining_minor == hosted.total_minor and hosted.amount_paid_minor == 0
    assert hosted.due_at is not None and hosted.paid_at is None and hosted.transfer_id is None

    [invoice] = offline.objects("invoice")
    assert invoice["collection_method"] == "send_invoice" and invoice["currency"] == "sek"
    assert invoice["transfer_data"] == {"amount": 127501, "destination": account_id}
    assert invoice["metadata"] == {"engagement_id": "eng-1", "invoice_id": "inv-1"}
    assert invoice["footer"].startswith("Netto") and invoice["auto_advance"] is False
    assert invoice["due_date"] - invoice["status_transitions"]["finalized_at"] == 30 * 86400
    [rate] = invoice["default_tax_rates"]
    assert (rate["display_name"], rate["jurisdiction"], rate["percentage"], rate["inclusive"]) == ("Moms", "SE", 25.0, False)
    assert [line["amount"] for line in invoice["lines"]["data"]] == [100001, 50001]
    assert offline.times_sent(hosted.provider_invoice_id) == 1


def test_issue_invoice_twice_and_from_twenty_threads_makes_one_invoice_and_one_set_of_items(
    gateway: StripeGateway, offline: OfflineStripe
) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    request = _request(customer_id, account_id)
    first = gateway.issue_invoice(request)
    assert gateway.issue_invoice(request) == first

    other = _request(customer_id, account_id, invoice_id="inv-2")
    results: list[object] = []

    def issue() -> None:
        try:
            results.append(gateway.issue_invoice(other))
        except Exception as exc:  # collected, asserted below
            results.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(not isinstance(result, Exception) for result in results), results
    assert len({result.provider_invoice_id for result in results}) == 1  # type: ignore[attr-defined]
    assert len(offline.objects("invoice")) == 2
    assert len(offline.objects("invoiceitem")) == 4
    assert len(offline.objects("tax_rate")) == 1
    assert all(offline.times_sent(invoice["id"]) == 1 for invoice in offline.objects("invoice"))


def test_a_failure_after_the_items_is_resumed_by_the_retry_without_a_second_invoice(gateway: StripeGateway, offline: OfflineStripe) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    request = _request(customer_id, account_id)
    offline.fail_next("POST", "/finalize", status=500)
    with pytest.raises(UpstreamUnavailable):
        gateway.issue_invoice(request)
    [draft] = offline.objects("invoice")
    assert draft["status"] == "draft" and len(offline.objects("invoiceitem")) == 2

    hosted = gateway.issue_invoice(request)
    assert hosted.status == "open"
    assert len(offline.objects("invoice")) == 1 and len(offline.objects("invoiceitem")) == 2


def test_a_later_attempt_continues_the_earlier_attempts_invoice(gateway: StripeGateway, offline: OfflineStripe) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    offline.fail_next("POST", "/invoiceitems", status=503)
    with pytest.raises(UpstreamUnavailable):
        gateway.issue_invoice(_request(customer_id, account_id))
    offline.fail_next("POST", "/send", status=500)
    with pytest.raises(UpstreamUnavailable):
        gateway.issue_invoice(_request(customer_id, account_id, attempt=2))
    hosted = gateway.issue_invoice(_request(customer_id, account_id, attempt=3))
    assert hosted.status == "open" and offline.times_sent(hosted.provider_invoice_id) == 1
    assert len(offline.objects("invoice")) == 1 and len(offline.objects("invoiceitem")) == 2


def test_the_sdks_own_retry_recovers_from_one_server_error(offline: OfflineStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0)
    gateway = StripeGateway("sk_test_offline", http_client=offline.http_client)  # the default: two retries
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    offline.fail_next("POST", "/finalize", status=500)
    assert gateway.issue_invoice(_request(customer_id, account_id)).status == "open"


def test_reverse_charge_has_no_tax(gateway: StripeGateway, offline: OfflineStripe) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    footer = "Omvänd skattskyldighet / Reverse charge, article 196 Directive 2006/112/EC"
    hosted = gateway.issue_invoice(_request(customer_id, account_id, vat_rate_bps=0, reverse_charge=True, footer=footer))
    assert hosted.tax_minor == 0 and hosted.total_minor == 150002
    [invoice] = offline.objects("invoice")
    assert invoice["default_tax_rates"] == [] and invoice["footer"] == footer
    assert offline.objects("tax_rate") == []


def test_a_request_the_domain_would_not_send_is_invalid_input(gateway: StripeGateway) -> None:
    with pytest.raises(InvalidInput):
        gateway.issue_invoice(_request("cus_x", "acct_x", lines=()))
    with pytest.raises(InvalidInput):
        gateway.issue_invoice(_request("cus_x", "acct_x", transfer_amount_minor=10**9))


def test_void_is_repeatable(gateway: StripeGateway, offline: OfflineStripe, sink: Sink) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    hosted = gateway.issue_invoice(_request(customer_id, account_id))
    assert gateway.void_invoice(hosted.provider_invoice_id, invoice_id="inv-1").status == "void"
    assert gateway.void_invoice(hosted.provider_invoice_id, invoice_id="inv-1").status == "void"
    assert len(sink.of_type("invoice.voided")) == 1


# --- errors ---


def test_an_unknown_parameter_is_payment_rejected_with_stripes_code(gateway: StripeGateway) -> None:
    with pytest.raises(PaymentRejected) as caught:
        gateway._call(lambda: gateway.client.v1.customers.create({"name": "x", "vat_number": "SE1"}))
    assert caught.value.code == "parameter_unknown" and caught.value.param == "vat_number"
    assert isinstance(caught.value, Conflict)


def test_a_refusal_message_carries_no_email_address(gateway: StripeGateway) -> None:
    with pytest.raises(PaymentRejected) as caught:
        gateway._call(lambda: gateway.client.v1.customers.create({"name": "x", "ekonomi@kund.example": "1"}))
    assert "@" not in caught.value.detail


def test_a_key_reused_with_other_parameters_is_a_conflict(gateway: StripeGateway) -> None:
    _customer(gateway)
    with pytest.raises(Conflict) as caught:
        gateway.create_customer(BillingCustomer(org_id="org-1", name="Another name AB", email="x@y.example", country="SE"))
    assert not isinstance(caught.value, PaymentRejected)


def test_throttling_is_upstream_unavailable(gateway: StripeGateway, offline: OfflineStripe) -> None:
    offline.fail_next("POST", "/v1/customers", status=429)
    with pytest.raises(UpstreamUnavailable):
        _customer(gateway)
    assert _customer(gateway).startswith("cus_")  # nothing was stored for the throttled request


def test_refused_credentials_are_upstream_unavailable_naming_the_credentials(offline: OfflineStripe) -> None:
    gateway = StripeGateway("sk_live_not_for_the_offline_stripe", http_client=offline.http_client, max_network_retries=0)
    with pytest.raises(UpstreamUnavailable, match="credentials"):
        _customer(gateway)


def test_an_invoice_item_for_a_finalized_invoice_is_rejected(gateway: StripeGateway, offline: OfflineStripe) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    hosted = gateway.issue_invoice(_request(customer_id, account_id))
    with pytest.raises(PaymentRejected) as caught:
        gateway._call(
            lambda: gateway.client.v1.invoice_items.create(
                {"customer": customer_id, "invoice": hosted.provider_invoice_id, "amount": 100, "currency": "sek"}
            )
        )
    assert caught.value.code == "invoice_not_editable"


# --- payment and webhooks ---


def test_paying_the_invoice_sends_a_signed_invoice_paid_and_transfers_the_agency_share(
    gateway: StripeGateway, offline: OfflineStripe, sink: Sink, webhooks: StripeWebhooks
) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    hosted = gateway.issue_invoice(_request(customer_id, account_id))
    offline.pay_invoice(hosted.provider_invoice_id)

    [(payload, header, connect)] = sink.of_type("invoice.paid")
    assert not connect and header.startswith("t=") and ",v1=" in header
    event = webhooks.parse(payload, header, connect=False)
    assert (event.type, event.object_id, event.account_id) == ("invoice.paid", hosted.provider_invoice_id, None)
    assert sink.of_type("invoice.payment_succeeded")

    paid = gateway.get_invoice(hosted.provider_invoice_id)
    assert paid.status == "paid" and paid.amount_paid_minor == hosted.total_minor and paid.amount_remaining_minor == 0
    assert paid.paid_at is not None
    [transfer] = offline.objects("transfer")
    assert paid.transfer_id == transfer["id"]
    assert (transfer["amount"], transfer["destination"]) == (127501, account_id)


def test_a_failed_payment_is_an_event_and_the_invoice_stays_open(
    gateway: StripeGateway, offline: OfflineStripe, sink: Sink, webhooks: StripeWebhooks
) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    hosted = gateway.issue_invoice(_request(customer_id, account_id))
    offline.fail_payment(hosted.provider_invoice_id)
    [(payload, header, _)] = sink.of_type("invoice.payment_failed")
    assert webhooks.parse(payload, header, connect=False).object_id == hosted.provider_invoice_id
    assert gateway.get_invoice(hosted.provider_invoice_id).status == "open"


def _event_body(**overrides: object) -> bytes:
    event: dict[str, object] = {
        "id": "evt_1",
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {"object": {"id": "in_1", "object": "invoice"}},
    }
    event.update(overrides)
    return json.dumps(event).encode()


def _sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    return str(stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp or int(time.time())))


def test_forged_stale_and_unsigned_webhooks_are_unauthenticated(webhooks: StripeWebhooks) -> None:
    payload = _event_body()
    assert webhooks.parse(payload, _sign(payload, PLATFORM_SECRET), connect=False).event_id == "evt_1"
    with pytest.raises(Unauthenticated):
        webhooks.parse(payload, _sign(payload, "whsec_forged"), connect=False)
    with pytest.raises(Unauthenticated):
        webhooks.parse(payload.replace(b"in_1", b"in_2"), _sign(payload, PLATFORM_SECRET), connect=False)
    with pytest.raises(Unauthenticated):
        webhooks.parse(payload, _sign(payload, PLATFORM_SECRET, int(time.time()) - 301), connect=False)
    with pytest.raises(Unauthenticated):
        webhooks.parse(payload, None, connect=False)
    with pytest.raises(Unauthenticated):
        webhooks.parse(payload, "", connect=False)
    with pytest.raises(Unauthenticated):
        webhooks.parse(payload, "garbage", connect=False)
    with pytest.raises(Unauthenticated):
        webhooks.parse(b"\xff\xfe", "t=1,v1=00", connect=False)


def test_a_connect_event_parses_at_the_connect_endpoint_only(webhooks: StripeWebhooks) -> None:
    payload = _event_body(type="account.updated", account="acct_1", data={"object": {"id": "acct_1", "object": "account"}})
    event = webhooks.parse(payload, _sign(payload, CONNECT_SECRET), connect=True)
    assert (event.account_id, event.object_id) == ("acct_1", "acct_1")
    with pytest.raises(Unauthenticated):
        webhooks.parse(payload, _sign(payload, CONNECT_SECRET), connect=False)  # the platform secret does not verify it
    with pytest.raises(InvalidInput):
        webhooks.parse(payload, _sign(payload, PLATFORM_SECRET), connect=False)  # an account's event at the platform endpoint


def test_a_signed_body_that_is_not_an_event_is_invalid_input(webhooks: StripeWebhooks) -> None:
    for payload in (b"not json", b"[]", _event_body(id=None), _event_body(data={}), _event_body(created="yesterday")):
        with pytest.raises(InvalidInput):
            webhooks.parse(payload, _sign(payload, PLATFORM_SECRET), connect=False)


def test_a_credit_note_event_names_the_invoice_it_credits_whether_expanded_or_not() -> None:
    credit_note = {"id": "cn_1", "object": "credit_note", "invoice": "in_1", "metadata": {"invoice_id": "inv-1"}}
    event = payment_event(json.loads(_event_body(type="credit_note.created", data={"object": credit_note})), connect=False)
    assert (event.object_id, event.provider_invoice_id, event.invoice_reference) == ("cn_1", "in_1", "inv-1")
    expanded = {**credit_note, "invoice": {"id": "in_1", "object": "invoice"}}
    assert payment_event({**json.loads(_event_body()), "data": {"object": expanded}}, connect=False).provider_invoice_id == "in_1"
    # Only a credit note's invoice is "the invoice it credits"; other objects' invoice fields are not read as one.
    payment = {"id": "inpay_1", "object": "invoice_payment", "invoice": "in_1"}
    assert payment_event({**json.loads(_event_body()), "data": {"object": payment}}, connect=False).provider_invoice_id is None
    odd = {**credit_note, "invoice": {"object": "invoice"}}
    assert payment_event({**json.loads(_event_body()), "data": {"object": odd}}, connect=False).provider_invoice_id is None


def test_hosted_invoice_reads_the_credit_note_amounts_and_takes_the_charge() -> None:
    invoice = {
        "id": "in_1",
        "status": "paid",
        "total": 1000,
        "total_taxes": [],
        "amount_paid": 700,
        "amount_remaining": 0,
        "pre_payment_credit_notes_amount": 300,
        "post_payment_credit_notes_amount": 200,
    }
    hosted = hosted_invoice(invoice, transfer_id="tr_1", charge_id="ch_1")
    assert (hosted.credited_before_payment_minor, hosted.credited_after_payment_minor) == (300, 200)
    assert (hosted.charge_id, hosted.transfer_id, hosted.total_minor) == ("ch_1", "tr_1", 1000)
    older = {key: value for key, value in invoice.items() if "credit_notes" not in key}
    assert hosted_invoice(older).credited_before_payment_minor == 0 and hosted_invoice(older).charge_id is None


def test_requests_the_domain_would_not_send_are_invalid_input_before_stripe(gateway: StripeGateway) -> None:
    request = CreditNoteRequest("in_1", "inv-1", 100, "duplicate", "Dubblett", refund=False, key="k")
    for bad in ({"amount_minor": 0}, {"reason": "because"}, {"provider_invoice_id": "cn_1"}, {"key": ""}):
        with pytest.raises(InvalidInput):
            gateway.credit_invoice(dataclasses.replace(request, **bad))
    with pytest.raises(InvalidInput):
        gateway.transfer("acct_1", 0, "SEK", source_charge_id="ch_1", key="k", invoice_id="inv-1")
    with pytest.raises(InvalidInput):
        gateway.transfer("acct_1", 100, "SEK", source_charge_id="in_1", key="k", invoice_id="inv-1")
    with pytest.raises(InvalidInput):
        gateway.get_dispute("ch_1")


# --- credit notes, transfers, disputes ---


def _credit_request(provider_invoice_id: str, amount: int, *, refund: bool, key: str = "credit_note.create:inv-1:1") -> CreditNoteRequest:
    return CreditNoteRequest(
        provider_invoice_id=provider_invoice_id,
        invoice_id="inv-1",
        amount_minor=amount,
        reason="order_change",
        memo="Kreditering av vecka 2",
        refund=refund,
        key=key,
    )


def _paid(gateway: StripeGateway, offline: OfflineStripe) -> tuple[str, str]:
    """A paid invoice (total 187 502, agency share 127 501): (the Stripe invoice id, the agency's account)."""
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    hosted = gateway.issue_invoice(_request(customer_id, account_id))
    offline.pay_invoice(hosted.provider_invoice_id)
    return hosted.provider_invoice_id, account_id


def test_a_credit_note_lowers_an_open_invoice_and_crediting_the_rest_pays_it(
    gateway: StripeGateway, offline: OfflineStripe, sink: Sink, webhooks: StripeWebhooks
) -> None:
    account_id, customer_id = _agency(gateway, offline), _customer(gateway)
    hosted = gateway.issue_invoice(_request(customer_id, account_id))
    note_id = gateway.credit_invoice(_credit_request(hosted.provider_invoice_id, 50000, refund=False))
    assert note_id.startswith("cn_")
    note = offline.get(note_id)
    assert (note["amount"], note["reason"], note["memo"], note["metadata"]) == (
        50000,
        "order_change",
        "Kreditering av vecka 2",
        {"invoice_id": "inv-1", "key": "credit_note.create:inv-1:1"},
    )
    assert note["pre_payment_amount"] == 50000 and note["refunds"] == []

    lowered = gateway.get_invoice(hosted.provider_invoice_id)
    assert (lowered.status, lowered.total_minor, lowered.amount_remaining_minor) == ("open", 187502, 137502)
    assert (lowered.credited_before_payment_minor, lowered.credited_after_payment_minor, lowered.charge_id) == (50000, 0, None)

    [(payload, header, connect)] = sink.of_type("credit_note.created")
    event = webhooks.parse(payload, header, connect=connect)
    assert (event.object_id, event.provider_invoice_id, event.invoice_reference) == (note_id, hosted.provider_invoice_id, "inv-1")

    gateway.credit_invoice(_credit_request(hosted.provider_invoice_id, 137502, refund=False, key="credit_note.create:inv-1:2"))
    credited = gateway.get_invoice(hosted.provider_invoice_id)
    assert (credited.status, credited.amount_paid_minor, credited.amount_remaining_minor) == ("paid", 0, 0)
    assert credited.credited_before_payment_minor == 187502 and credited.charge_id is None and credited.transfer_id is None
    assert sink.of_type("invoice.paid")


def test_a_credit_note_on_a_paid_invoice_refunds_the_charge_that_paid_it(gateway: StripeGateway, offline: OfflineStripe) -> None:
    invoice_id, _ = _paid(gateway, offline)
    paid = gateway.get_invoice(invoice_id)
    [charge] = offline.objects("charge")
    [transfer] = offline.objects("transfer")
    assert (paid.charge_id, paid.transfer_id) == (charge["id"], transfer["id"])
    assert paid.credited_before_payment_minor == paid.credited_after_payment_minor == 0

    gateway.credit_invoice(_credit_request(invoice_id, 62500, refund=True))
    after = gateway.get_invoice(invoice_id)
    assert (after.status, after.amount_paid_minor, after.credited_after_payment_minor) == ("paid", 187502, 62500)
    assert after.charge_id == charge["id"]
    state = gateway.get_charge(charge["id"])
    assert (state.amount_minor, state.amount_refunded_minor, state.provider_invoice_id) == (187502, 62500, invoice_id)


def test_credit_notes_stripe_refuses_are_payment_rejected(gateway: StripeGateway, offline: OfflineStripe) -> None:
    invoice_id, _ = _paid(gateway, offline)
    with pytest.raises(PaymentRejected) as over:
        gateway.credit_invoice(_credit_request(invoice_id, 187503, refund=True))
    assert over.value.code == "amount_too_large"
    with pytest.raises(PaymentRejected, match="post-payment"):
        gateway.credit_invoice(_credit_request(invoice_id, 100, refund=False, key="credit_note.create:inv-1:2"))  # paid: refund it
    with pytest.raises(PaymentRejected) as unknown:
        gateway._call(lambda: gateway.client.v1.credit_notes.create({"invoice": invoice_id, "amount": 100, "refund_reason": "duplicate"}))
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "refund_reason")

    customer_id = _customer(gateway, "org-2")
    draft = gateway._call(
        lambda: gateway.client.v1.invoices.create({"customer": customer_id, "collection_method": "send_invoice", "days_until_due": 30})
    )
    with pytest.raises(PaymentRejected) as not_issued:
        gateway.credit_invoice(_credit_request(draft["id"], 100, refund=False, key="credit_note.create:inv-2:1"))
    assert not_issued.value.code == "invoice_not_finalized"
    assert offline.objects("credit_note") == []


def test_a_credit_note_and_a_transfer_repeated_under_their_keys_are_made_once(gateway: StripeGateway, offline: OfflineStripe) -> None:
    invoice_id, account_id = _paid(gateway, offline)
    request = _credit_request(invoice_id, 1000, refund=True)
    assert gateway.credit_invoice(request) == gateway.credit_invoice(request)
    assert len(offline.objects("credit_note")) == 1 and len(offline.objects("refund")) == 1
    with pytest.raises(Conflict) as conflict:
        gateway.credit_invoice(dataclasses.replace(request, amount_minor=2000))
    assert not isinstance(conflict.value, PaymentRejected)

    charge_id = str(gateway.get_invoice(invoice_id).charge_id)
    first = gateway.transfer(account_id, 5000, "SEK", source_charge_id=charge_id, key="transfer.create:inv-1:1", invoice_id="inv-1")
    assert gateway.transfer(account_id, 5000, "SEK", source_charge_id=charge_id, key="transfer.create:inv-1:1", invoice_id="inv-1") == first
    with pytest.raises(Conflict) as other:
        gateway.transfer(account_id, 6000, "SEK", source_charge_id=charge_id, key="transfer.create:inv-1:1", invoice_id="inv-1")
    assert not isinstance(other.value, PaymentRejected)
    transfer = offline.get(first)
    assert (transfer["amount"], transfer["currency"], transfer["destination"], transfer["source_transaction"]) == (
        5000,
        "sek",
        account_id,
        charge_id,
    )
    assert len(offline.objects("transfer")) == 2  # the payment's own, and this one


def test_a_transfer_above_what_the_charge_has_left_or_to_an_inactive_account_is_refused(
    gateway: StripeGateway, offline: OfflineStripe
) -> None:
    invoice_id, account_id = _paid(gateway, offline)
    charge_id = str(gateway.get_invoice(invoice_id).charge_id)
    # 187 502 paid, 127 501 already transferred with the payment: 60 001 left.
    with pytest.raises(PaymentRejected) as above:
        gateway.transfer(account_id, 60002, "SEK", source_charge_id=charge_id, key="transfer.create:inv-1:1", invoice_id="inv-1")
    assert above.value.code == "balance_insufficient"
    inactive = gateway.create_payout_account("agency-2", name="Ny Byrå AB", email="ekonomi@ny.example", country="se")
    with pytest.raises(PaymentRejected) as refused:
        gateway.transfer(inactive, 100, "SEK", source_charge_id=charge_id, key="transfer.create:inv-1:2", invoice_id="inv-1")
    assert refused.value.code == "insufficient_capabilities_for_transfer"
    assert gateway.transfer(
        account_id, 60001, "SEK", source_charge_id=charge_id, key="transfer.create:inv-1:3", invoice_id="inv-1"
    ).startswith("tr_")


def test_a_won_dispute_is_read_as_won_and_the_agency_share_can_be_transferred_again(
    gateway: StripeGateway, offline: OfflineStripe, sink: Sink, webhooks: StripeWebhooks
) -> None:
    invoice_id, account_id = _paid(gateway, offline)
    paid = gateway.get_invoice(invoice_id)
    dispute = offline.dispute(invoice_id)
    state = gateway.get_dispute(dispute["id"])
    assert (state.dispute_id, state.charge_id, state.status) == (dispute["id"], paid.charge_id, "needs_response")
    assert paid.transfer_id is not None and paid.charge_id is not None
    gateway.reverse_transfer(paid.transfer_id, 127501, key="transfer.reverse:inv-1:127501", invoice_id="inv-1")

    offline.close_dispute(dispute["id"], won=True)
    [(payload, header, connect)] = sink.of_type("charge.dispute.closed")
    event = webhooks.parse(payload, header, connect=connect)
    assert (event.object_id, event.provider_invoice_id) == (dispute["id"], None)
    assert sink.of_type("charge.dispute.funds_reinstated")
    assert gateway.get_dispute(dispute["id"]).status == "won"
    again = gateway.transfer(
        account_id, 127501, "SEK", source_charge_id=paid.charge_id, key="transfer.create:inv-1:dispute-won", invoice_id="inv-1"
    )
    assert offline.get(again)["amount"] == 127501


def test_a_lost_dispute_is_read_as_lost(gateway: StripeGateway, offline: OfflineStripe) -> None:
    invoice_id, _ = _paid(gateway, offline)
    dispute = offline.close_dispute(offline.dispute(invoice_id)["id"], won=False)
    assert gateway.get_dispute(dispute["id"]).status == "lost"
    with pytest.raises(PaymentRejected) as missing:
        gateway.get_dispute("dp_missing")
    assert missing.value.code == "resource_missing"


# --- Stripe Tax ---


@pytest.mark.parametrize(
    ("country", "vat_number", "tax", "reason"),
    [
        ("SE", "SE 556677889901", 25000 + 12500, "standard_rated"),  # per line, half up, as with a tax rate
        ("DE", "DE123456789", 0, "reverse_charge"),
        ("DE", None, 25000 + 12500, "standard_rated"),  # an EU consumer or unregistered business: Swedish VAT
        ("US", None, 0, "not_collecting"),
    ],
)
def test_automatic_tax_lets_stripe_work_the_vat_out_from_the_customer(
    offline: OfflineStripe, country: str, vat_number: str | None, tax: int, reason: str
) -> None:
    gateway = StripeGateway("sk_test_offline", http_client=offline.http_client, max_network_retries=0, automatic_tax=True)
    account_id = _agency(gateway, offline)
    customer = BillingCustomer("org-x", "Kund", "f@kund.example", country, "Gatan 1", postal_code="1", city="Stad", vat_number=vat_number)
    hosted = gateway.issue_invoice(_request(gateway.create_customer(customer), account_id))
    assert (hosted.status, hosted.tax_minor, hosted.total_minor) == ("open", tax, 150002 + tax)
    [invoice] = offline.objects("invoice")
    assert invoice["automatic_tax"]["enabled"] is True and invoice["default_tax_rates"] == []
    assert offline.objects("tax_rate") == [] or all(r["id"].startswith("txr_auto") for r in offline.objects("tax_rate"))
    for line in invoice["lines"]["data"]:
        assert all(t["taxability_reason"] == reason for t in line["taxes"])
    items = offline.objects("invoiceitem")
    assert {(i["tax_behavior"], i["tax_code"]) for i in items} == {("exclusive", "txcd_20030000")}


def test_automatic_tax_refuses_to_finalize_without_the_customers_country(offline: OfflineStripe) -> None:
    gateway = StripeGateway("sk_test_offline", http_client=offline.http_client, max_network_retries=0, automatic_tax=True)
    account_id = _agency(gateway, offline)
    customer_id = str(gateway.client.v1.customers.create({"name": "Nowhere AB"})["id"])
    with pytest.raises(PaymentRejected) as refused:
        gateway.issue_invoice(_request(customer_id, account_id))
    assert refused.value.code == "customer_tax_location_invalid"
    assert offline.objects("invoice")[0]["status"] == "draft"  # resumable once the address is known


def test_a_transfer_and_a_credit_note_are_found_by_their_key_past_the_first_page(gateway: StripeGateway, offline: OfflineStripe) -> None:
    account_id = _agency(gateway, offline)
    first = gateway.transfer(account_id, 100, "SEK", source_charge_id=None, key="restore:first", invoice_id="inv-1")
    for n in range(120):  # newer transfers to the same agency push it past the first page
        gateway.transfer(account_id, 100, "SEK", source_charge_id=None, key=f"other:{n}", invoice_id="inv-2")
    since = datetime.fromtimestamp(0, tz=UTC)
    assert gateway.find_transfer(account_id, "restore:first", since=since) == first
    assert gateway.find_transfer(account_id, "restore:never", since=since) is None
    hosted = gateway.issue_invoice(_request(_customer(gateway), account_id))
    note = gateway.credit_invoice(_credit_request(hosted.provider_invoice_id, 1000, refund=False, key="credit:1"))
    assert gateway.find_credit_note(hosted.provider_invoice_id, "credit:1") == note
    assert gateway.find_credit_note(hosted.provider_invoice_id, "credit:2") is None
