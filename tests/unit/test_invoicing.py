"""Invoicing through Stripe (the offline Stripe, through the real SDK and adapter): an invoice waits until the
agency can be paid, is issued once with the split on it, and moves only forward on verified, re-fetched
webhooks, once per event."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date
from typing import Any

import pytest

from chalicelib.adapters.payments.offline import OfflineStripe
from chalicelib.adapters.payments.stripe_gateway import StripeGateway, StripeWebhooks
from chalicelib.domain.invoicing import InvoiceStatus
from chalicelib.errors import NotFound, Unauthenticated, UpstreamUnavailable
from chalicelib.services import invoicing, payment_events, timesheets
from chalicelib.services.invoicing import InvoicingPorts
from chalicelib.services.ports import Changes
from tests.unit.test_contracts import Deal
from tests.unit.test_timesheets import active, report

SECRETS = ("whsec_test_platform", "whsec_test_connect")


class Sink:
    """Keeps the offline Stripe's webhooks, to be posted when (and as often as) a test says."""

    def __init__(self) -> None:
        self.events: list[tuple[bytes, str, bool]] = []

    def __call__(self, payload: bytes, signature: str, connect: bool) -> None:
        self.events.append((payload, signature, connect))

    def of_type(self, kind: str) -> list[tuple[bytes, str, bool]]:
        return [e for e in self.events if f'"type": "{kind}"'.encode() in e[0] or f'"type":"{kind}"'.encode() in e[0]]


def setup() -> tuple[Deal, InvoicingPorts, OfflineStripe, Sink, str]:
    deal, ts = active()
    sink = Sink()
    stripe = OfflineStripe(webhook_sink=sink, webhook_secrets=SECRETS)
    gateway = StripeGateway("sk_test_offline", http_client=stripe.http_client, max_network_retries=0)
    ports = InvoicingPorts(ts, deal.scene.world.db, gateway, StripeWebhooks(*SECRETS))
    report(deal, ts, date(2026, 10, 23), 480)
    timesheets.submit_period(ts, deal.scene.consultants[0], deal.engagement_id, "2026-10")
    _, invoice = timesheets.confirm_period(ts, deal.scene.agency_admin, deal.engagement_id, "2026-10")
    return deal, ports, stripe, sink, invoice.invoice_id


def post(ports: InvoicingPorts, event: tuple[bytes, str, bool]) -> str:
    payload, signature, connect = event
    return payment_events.handle_payment_webhook(ports, payload, signature, connect=connect)


def onboarded(deal: Deal, ports: InvoicingPorts, stripe: OfflineStripe, sink: Sink) -> None:
    invoicing.start_payout_onboarding(ports, deal.scene.agency_admin, deal.scene.agency_admin.org_id or "")
    account = ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "")
    assert account is not None
    stripe.activate_transfers(account.account_id)
    [updated] = sink.of_type("account.updated")
    assert post(ports, updated) == "applied"
    invoicing.issue_waiting_invoices(ports, account.agency_id)  # as the stream does on the account's change


def test_an_invoice_waits_for_the_agencys_payout_account_and_says_why() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    waiting = invoicing.issue_invoice(ports, invoice_id)
    assert waiting.status is InvoiceStatus.PENDING and waiting.blocked_reason and "payout account" in waiting.blocked_reason
    assert stripe.objects("invoice") == []
    url = invoicing.start_payout_onboarding(ports, deal.scene.agency_admin, deal.scene.agency_admin.org_id or "")
    assert url.startswith("https://")
    with pytest.raises(NotFound):
        invoicing.start_payout_onboarding(ports, deal.scene.buyer, deal.scene.agency_admin.org_id or "")
    assert invoicing.issue_invoice(ports, invoice_id).status is InvoiceStatus.PENDING  # onboarding not finished
    account = ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "")
    assert account is not None
    stripe.activate_transfers(account.account_id)
    [updated] = sink.of_type("account.updated")
    with pytest.raises(Unauthenticated):
        payment_events.handle_payment_webhook(ports, updated[0], updated[1], connect=False)  # the platform endpoint's secret
    assert post(ports, updated) == "applied"
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.PENDING  # the webhook only records the account
    assert invoicing.issue_waiting_invoices(ports, account.agency_id) == 1  # the stream, on the account's change
    issued = deal.db.get_invoice(invoice_id)
    # Issued once transfers were active: the client is sent the hosted page, with the split on it.
    assert issued.status is InvoiceStatus.OPEN and issued.hosted_invoice_url and issued.blocked_reason is None
    [stripe_invoice] = stripe.objects("invoice")
    assert stripe_invoice["transfer_data"]["amount"] == issued.breakdown.agency_net_minor
    assert stripe_invoice["total"] == issued.breakdown.total_minor
    assert "Customersonly commission 15 %" in stripe_invoice["footer"]
    assert [n.user_id for n in deal.notices("invoice_issued")] == [deal.scene.buyer.user_id]


def test_issuing_twice_or_twenty_times_at_once_makes_one_stripe_invoice() -> None:
    deal, ports, stripe, _, invoice_id = setup()
    invoicing.start_payout_onboarding(ports, deal.scene.agency_admin, deal.scene.agency_admin.org_id or "")
    account = ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "")
    assert account is not None
    stripe.activate_transfers(account.account_id)
    # The account recorded active without issuing anything yet (its webhook is not posted): the race below
    # is the first issue.
    ports.commit(Changes().update(dataclasses.replace(account, transfers_active=True)))
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.PENDING
    barrier = threading.Barrier(20)

    def issue() -> None:
        barrier.wait()
        invoicing.issue_invoice(ports, invoice_id)

    threads = [threading.Thread(target=issue) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stripe.objects("invoice")) == 1 and len(stripe.objects("invoiceitem")) == 1
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.OPEN


def test_an_issue_left_unfinished_for_a_day_goes_on_without_a_second_invoice() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    invoicing.start_payout_onboarding(ports, deal.scene.agency_admin, deal.scene.agency_admin.org_id or "")
    account = ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "")
    assert account is not None
    stripe.activate_transfers(account.account_id)
    stripe.fail_next("POST", "/send", status=500, times=1)  # Stripe made and finalized it; sending fails
    post(ports, sink.of_type("account.updated")[0])
    with pytest.raises(UpstreamUnavailable):
        invoicing.issue_waiting_invoices(ports, account.agency_id)
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.PENDING
    deal.scene.world.clock.advance(hours=25)  # the idempotency keys may be forgotten by now
    issued = invoicing.issue_invoice(ports, invoice_id)
    assert issued.status is InvoiceStatus.OPEN and issued.attempt == 2
    assert len(stripe.objects("invoice")) == 1


def test_payment_marks_the_invoice_paid_and_the_agencys_transfer_recorded_once() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    issued = deal.db.get_invoice(invoice_id)
    stripe.pay_invoice(issued.provider_invoice_id)
    [paid] = sink.of_type("invoice.paid")
    assert post(ports, paid) == "applied"
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.status is InvoiceStatus.PAID and invoice.amount_paid_minor == invoice.breakdown.total_minor
    assert invoice.transfer_id and invoice.transfer_id.startswith("tr_")
    [transfer] = stripe.objects("transfer")
    assert transfer["amount"] == invoice.breakdown.agency_net_minor
    assert post(ports, paid) == "duplicate"
    told = {n.user_id for n in deal.notices("invoice_paid")}
    assert {deal.scene.agency_admin.user_id, deal.scene.consultants[0].user_id} <= told


def test_forged_stale_and_reordered_webhooks_change_nothing_they_should_not() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    issued = deal.db.get_invoice(invoice_id)
    finalized = sink.of_type("invoice.finalized")
    stripe.pay_invoice(issued.provider_invoice_id)
    [paid] = sink.of_type("invoice.paid")
    payload, signature, _ = paid
    before = dict(deal.db.items)
    with pytest.raises(Unauthenticated):
        payment_events.handle_payment_webhook(ports, payload.replace(b"paid", b"void"), signature, connect=False)
    with pytest.raises(Unauthenticated):
        payment_events.handle_payment_webhook(ports, payload, None, connect=False)
    forged = "t=1,v1=" + "0" * 64
    with pytest.raises(Unauthenticated):
        payment_events.handle_payment_webhook(ports, payload, forged, connect=False)
    assert deal.db.items.keys() == before.keys()
    assert post(ports, paid) == "applied"
    # An older event arriving after the payment re-fetches the paid invoice: nothing moves back.
    for event in finalized:
        assert post(ports, event) in ("stale", "duplicate")
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.PAID


def test_a_missed_payment_webhook_is_repaired_by_the_reconciliation() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    stripe.pay_invoice(deal.db.get_invoice(invoice_id).provider_invoice_id)  # its webhook never arrives
    assert payment_events.reconcile_invoices(ports) == {"invoices_issued": 0, "invoices_reconciled": 1, "shares_settled": 0}
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.PAID


def test_a_failed_payment_is_flagged_and_the_invoice_stays_open() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    stripe.fail_payment(deal.db.get_invoice(invoice_id).provider_invoice_id)
    [failed] = sink.of_type("invoice.payment_failed")
    assert post(ports, failed) == "applied"
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.status is InvoiceStatus.OPEN and invoice.payment_failed_at is not None


def test_the_reconciliation_issues_what_waited_even_when_the_agencys_update_was_missed() -> None:
    deal, ports, stripe, _, invoice_id = setup()
    invoicing.issue_invoice(ports, invoice_id)  # waits: no payout account
    invoicing.start_payout_onboarding(ports, deal.scene.agency_admin, deal.scene.agency_admin.org_id or "")
    account = ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "")
    assert account is not None
    stripe.activate_transfers(account.account_id)  # its account.updated is lost
    assert payment_events.reconcile_invoices(ports)["invoices_issued"] == 1
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.OPEN


def test_the_stripe_keys_come_from_their_secret_when_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import boto3
    from moto import mock_aws

    from chalicelib.container import Container
    from chalicelib.settings import Settings

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETSMANAGER"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-north-1")
        value = {"stripe_api_key": "sk_test_from_secret", "stripe_webhook_secret": "whsec_a", "stripe_connect_webhook_secret": ""}
        arn = secrets.create_secret(Name="customersonly-test/stripe", SecretString=json.dumps(value))["ARN"]
        settings = Container(Settings.from_environment({"STRIPE_SECRET_ARN": arn, "STRIPE_API_KEY": "sk_env"})).stripe_settings
        assert settings.stripe_api_key == "sk_test_from_secret" and settings.stripe_webhook_secret == "whsec_a"
        assert settings.stripe_connect_webhook_secret == "whsec_local_connect"  # an empty field leaves the setting as it was


@pytest.mark.parametrize(
    "environment",
    [
        {"PAYMENTS": "stripe", "STRIPE_WEBHOOK_SECRET": "whsec_real", "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_real2"},  # no key
        {"PAYMENTS": "stripe", "STRIPE_API_KEY": "sk_test_x"},  # the published local webhook secrets
        {"PAYMENTS": "stripe", "STRIPE_API_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_real", "STRIPE_CONNECT_WEBHOOK_SECRET": ""},
        {"PAYMENTS": "offline", "APP_STAGE": "prod"},
    ],
)
def test_payments_refuse_to_run_misconfigured(environment: dict[str, str]) -> None:
    from chalicelib.container import Container
    from chalicelib.settings import Settings

    with pytest.raises(RuntimeError):
        _ = Container(Settings.from_environment(environment)).payment_gateway


def paid_invoice() -> tuple[Deal, InvoicingPorts, OfflineStripe, Sink, str]:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    stripe.pay_invoice(deal.db.get_invoice(invoice_id).provider_invoice_id)
    assert post(ports, sink.of_type("invoice.paid")[0]) == "applied"
    return deal, ports, stripe, sink, invoice_id


def test_a_refund_takes_the_agencys_share_back_once() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    stripe.refund(deal.db.get_invoice(invoice_id).provider_invoice_id)
    [refunded] = sink.of_type("charge.refunded")
    assert post(ports, refunded) == "applied"
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.refunded_minor == invoice.breakdown.total_minor
    assert invoice.reversed_minor == invoice.breakdown.agency_net_minor
    [transfer] = stripe.objects("transfer")
    assert transfer["amount_reversed"] == invoice.breakdown.agency_net_minor
    assert post(ports, refunded) == "duplicate"
    assert stripe.objects("transfer")[0]["amount_reversed"] == invoice.breakdown.agency_net_minor  # not twice
    assert {n.user_id for n in deal.notices("transfer_reversed")} >= {deal.scene.agency_admin.user_id, deal.scene.staff.user_id}


def test_a_dispute_takes_the_agencys_whole_share_back() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    stripe.dispute(deal.db.get_invoice(invoice_id).provider_invoice_id)
    [disputed] = sink.of_type("charge.dispute.created")
    assert post(ports, disputed) == "applied"
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.disputed_at is not None and invoice.reversed_minor == invoice.breakdown.agency_net_minor
    assert stripe.objects("transfer")[0]["amount_reversed"] == invoice.breakdown.agency_net_minor


def test_a_failed_payout_alerts_the_agency_and_staff() -> None:
    import json

    from chalicelib.adapters.payments.offline import sign_payload

    deal, ports, stripe, sink, _ = setup()
    onboarded(deal, ports, stripe, sink)
    account = ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "")
    assert account is not None
    event = {
        "id": "evt_payout_failed_1",
        "object": "event",
        "type": "payout.failed",
        "account": account.account_id,
        "created": int(deal.scene.world.clock().timestamp()),
        "data": {"object": {"id": "po_1", "object": "payout", "failure_code": "account_closed"}},
    }
    payload = json.dumps(event).encode()
    import time

    header = sign_payload(payload, SECRETS[1], int(time.time()))
    assert payment_events.handle_payment_webhook(ports, payload, header, connect=True) == "applied"
    assert payment_events.handle_payment_webhook(ports, payload, header, connect=True) == "duplicate"
    told = {n.user_id for n in deal.notices("payout_failed")}
    assert {deal.scene.agency_admin.user_id, deal.scene.staff.user_id} <= told


def test_events_of_invoices_not_ours_are_acknowledged_and_ours_not_yet_linked_are_retried() -> None:
    import json
    import time

    from chalicelib.adapters.payments.offline import sign_payload

    deal, ports, _, _, _ = setup()

    def event(event_id: str, metadata: dict[str, str]) -> tuple[bytes, str]:
        body = {
            "id": event_id,
            "object": "event",
            "type": "invoice.finalized",
            "created": int(time.time()),
            "data": {"object": {"id": "in_NotLinked1", "object": "invoice", "metadata": metadata}},
        }
        payload = json.dumps(body).encode()
        return payload, sign_payload(payload, SECRETS[0], int(time.time()))

    assert payment_events.handle_payment_webhook(ports, *event("evt_dashboard", {}), connect=False) == "ignored"
    with pytest.raises(NotFound):
        payment_events.handle_payment_webhook(ports, *event("evt_ours", {"invoice_id": "01JZZZZZZZZZZZZZZZZZZZZZZZ"}), connect=False)
    assert not deal.db.event_processed("stripe", "evt_ours")


def test_a_slower_older_account_sync_never_overwrites_a_newer_one() -> None:
    deal, ports, stripe, _, _ = setup()
    invoicing.start_payout_onboarding(ports, deal.scene.agency_admin, deal.scene.agency_admin.org_id or "")
    account = ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "")
    assert account is not None
    gateway, original = ports.gateway, ports.gateway.get_payout_account
    raced: list[str] = []

    def stale_fetch(account_id: str) -> Any:
        state = original(account_id)  # fetched while the account is not yet active...
        if not raced:
            raced.append("racing")
            stripe.activate_transfers(account_id)
            invoicing.sync_payout_account(ports, account_id)  # ...and a newer sync lands first
        return state

    gateway.get_payout_account = stale_fetch  # type: ignore[method-assign]
    try:
        invoicing.sync_payout_account(ports, account.account_id)
    finally:
        gateway.get_payout_account = original  # type: ignore[method-assign]
    assert raced and ports.payments.get_payout_account(deal.scene.agency_admin.org_id or "").transfers_active


def test_a_provider_total_other_than_the_breakdown_is_reported() -> None:
    import io

    from chalicelib.logging import logger

    deal, ports, stripe, sink, invoice_id = setup()
    gateway, original = ports.gateway, ports.gateway.issue_invoice

    def off_by_one(request: Any) -> Any:
        hosted = original(request)
        return dataclasses.replace(hosted, total_minor=hosted.total_minor + 1, tax_minor=hosted.tax_minor + 1)

    captured = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(captured)  # type: ignore[attr-defined]
    gateway.issue_invoice = off_by_one  # type: ignore[method-assign]
    try:
        onboarded(deal, ports, stripe, sink)
    finally:
        gateway.issue_invoice = original  # type: ignore[method-assign]
        handler.setStream(previous)  # type: ignore[attr-defined]
    assert "the provider's invoice differs from the breakdown" in captured.getvalue()
    assert deal.db.get_invoice(invoice_id).status is InvoiceStatus.OPEN


def test_with_stripe_tax_the_invoice_stripe_taxes_is_the_breakdown_every_party_saw() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    taxing = StripeGateway("sk_test_offline", http_client=stripe.http_client, max_network_retries=0, automatic_tax=True)
    ports = dataclasses.replace(ports, gateway=taxing)
    onboarded(deal, ports, stripe, sink)
    invoice = deal.db.get_invoice(invoice_id)
    [stripe_invoice] = stripe.objects("invoice")
    assert stripe_invoice["automatic_tax"]["enabled"] is True
    assert (stripe_invoice["total"], sum(t["amount"] for t in stripe_invoice["total_taxes"])) == (
        invoice.breakdown.total_minor,
        invoice.breakdown.vat_minor,
    )
