"""Issue 7's way through the HTTP API on moto, with the offline Stripe: a consultant reports time and submits
the month, the agency confirms, one invoice is issued with the split once the agency can be paid, the client
pays on the hosted page, Stripe's webhook marks it paid and the agency's transfer is recorded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LocalStack
from tests.functional.conftest import Api, Pump
from tests.functional.test_contract_flow import _accepted, _sign
from tests.functional.test_proposal_flow import RATE

pytestmark = pytest.mark.functional


def _active(api: Api, pump: Pump, local_aws: LocalStack, **changed: str) -> dict[str, Any]:
    """An hourly engagement with both contracts signed; ``changed`` sets its dates or reporting period."""
    scene = _accepted(api, pump, local_aws)
    staff, client, agency = scene["staff"], scene["client"], scene["agency"]
    engagement_id = scene["engagement_id"]
    terms = api.get(f"/engagements/{engagement_id}", token=staff.token).body["terms"]
    form = {k: terms[k] for k in ("pricing", "currency", "rate_minor", "share_of_full_time", "scope", "payment_terms_days")}
    form |= {"start_date": "2026-01-05", "end_date": "2027-12-31", "reporting_period": "month", **changed}
    assert api.request("PUT", f"/engagements/{engagement_id}/terms", json_body=form, token=staff.token).status == 200
    assert api.post(f"/engagements/{engagement_id}/contracts/send", {}, token=staff.token).status == 200
    pump.drain()
    for who, name in ((client, "Bo Buyer"), (agency, "Anna Admin"), (staff, "Stina Staff")):
        _sign(api, pump, who, name)
    pump.drain()
    assert api.get(f"/engagements/{engagement_id}", token=staff.token).body["status"] == "active"
    return scene


def test_a_month_reported_confirmed_invoiced_paid_and_transferred(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    scene = _active(api, pump, local_aws)
    client, agency, person = scene["client"], scene["agency"], scene["person"]
    engagement_id = scene["engagement_id"]
    stripe = local_aws.container.offline_stripe  # type: ignore[attr-defined]

    for day, minutes in (("2026-10-05", 480), ("2026-10-06", 450), ("2026-10-07", 510)):
        body = {"day": day, "minutes": minutes, "description": "Platform migration"}
        assert api.request("PUT", f"/engagements/{engagement_id}/time", json_body=body, token=person.token).status == 200
    assert api.post(f"/engagements/{engagement_id}/periods/submit", {"period": "2026-10"}, token=person.token).status == 200
    waiting = api.get(f"/agencies/{agency.org_id}/periods", token=agency.token).body["items"]
    assert [(p["engagement_id"], p["period"], p["minutes"]) for p in waiting] == [(engagement_id, "2026-10", 1440)]
    confirmed = api.post(f"/engagements/{engagement_id}/periods/confirm", {"period": "2026-10"}, token=agency.token)
    assert confirmed.status == 200, confirmed.body
    invoice_id = confirmed.body["invoice"]["invoice_id"]
    breakdown = confirmed.body["invoice"]["breakdown"]
    # 24 hours at the consented rate; 15 % commission split once; Swedish VAT for a Swedish client.
    assert breakdown["net_minor"] == 24 * RATE["amount_minor"]
    assert breakdown["agency_net_minor"] + breakdown["commission_minor"] == breakdown["net_minor"]
    assert breakdown["vat_rate_bps"] == 2500 and breakdown["total_minor"] == breakdown["net_minor"] + breakdown["vat_minor"]

    pump.drain()  # the stream handler issues it: the agency cannot be paid yet
    invoice = api.get(f"/invoices/{invoice_id}", token=agency.token).body
    assert invoice["status"] == "pending" and "payout account" in invoice["blocked_reason"]
    assert api.get(f"/invoices/{invoice_id}", token=client.token).body["blocked_reason"] is None  # the agency's business

    link = api.post(f"/agencies/{agency.org_id}/payouts/onboarding", token=agency.token)
    assert link.status == 200 and link.body["url"].startswith("https://")
    assert api.get(f"/agencies/{agency.org_id}/payouts", token=agency.token).body["transfers_active"] is False
    account = local_aws.container.invoicing.payments.get_payout_account(agency.org_id)  # type: ignore[attr-defined]
    stripe.activate_transfers(account.account_id)  # the agency finishes onboarding: Stripe's account.updated follows
    assert api.get(f"/agencies/{agency.org_id}/payouts", token=agency.token).body["transfers_active"] is True
    pump.drain()  # the stream issues what waited for the agency's account

    issued = api.get(f"/invoices/{invoice_id}", token=client.token).body
    assert issued["status"] == "open" and issued["hosted_invoice_url"] and issued["breakdown"] == breakdown
    assert issued["agency_share_transferred_minor"] == 0
    assert any(issued["hosted_invoice_url"] in m["body"] for m in pump.mails_to(client.email))
    [stripe_invoice] = [i for i in stripe.objects("invoice") if i["metadata"].get("invoice_id") == invoice_id]
    assert stripe_invoice["transfer_data"]["amount"] == breakdown["agency_net_minor"]

    stripe.pay_invoice(stripe_invoice["id"])  # the client pays the hosted page: Stripe's invoice.paid follows
    for who in (client, agency, person):
        paid = api.get(f"/invoices/{invoice_id}", token=who.token).body
        assert paid["status"] == "paid" and paid["breakdown"] == breakdown and paid["amount_paid_minor"] == breakdown["total_minor"]
        assert paid["agency_share_transferred_minor"] == breakdown["agency_net_minor"]  # the agency sees its share went out
    [transfer] = [t for t in stripe.objects("transfer") if t["destination"] == account.account_id]
    assert transfer["amount"] == breakdown["agency_net_minor"]
    assert local_aws.container.timesheets.timesheets.get_invoice(invoice_id).transfer_id == transfer["id"]  # type: ignore[attr-defined]

    # Staff credit two hours after payment: the client is refunded, the agency gives back its proportion.
    staff = scene["staff"]
    credit = {"amount_minor": 2 * breakdown["total_minor"] // 24, "reason": "order_change", "memo": "Two hours less"}
    assert api.post(f"/invoices/{invoice_id}/credit-notes", credit, token=agency.token).status == 403
    credited = api.post(f"/invoices/{invoice_id}/credit-notes", credit, token=staff.token)
    assert credited.status == 200 and credited.body["returned_to_client_minor"] == credit["amount_minor"]
    pump.drain()  # Stripe's credit_note.created and charge.refunded reach the webhook: nothing moves twice
    share = (2 * credit["amount_minor"] * breakdown["agency_net_minor"] + breakdown["total_minor"]) // (2 * breakdown["total_minor"])
    for who in (client, agency, person):
        assert api.get(f"/invoices/{invoice_id}", token=who.token).body["agency_share_held_back_minor"] == share
    assert stripe.get(transfer["id"])["amount_reversed"] == share


def test_forged_stripe_webhooks_are_refused(api: Api) -> None:
    body = b'{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1"}}}'
    for path in ("/webhooks/stripe", "/webhooks/stripe/connect"):
        forged = api.request("POST", path, raw=body, headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"})
        assert forged.status == 401 and forged.headers["Content-Type"] == "application/problem+json"
        assert api.request("POST", path, raw=body, headers={"Content-Type": "application/json"}).status == 401
