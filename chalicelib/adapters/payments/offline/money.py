"""The offline Stripe's money movement: payments of invoices (payment intents, charges, invoice payments),
transfers and their reversals, refunds, disputes; and ``OfflineStripe``, the whole fake.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.payments.offline.backend import (
    _ID_PATTERN,
    OfflineStripeError,
    Route,
    _expand,
    _int,
    _metadata,
    _public,
    _str,
    _StripeError,
)
from chalicelib.adapters.payments.offline.billing import BillingResources


class OfflineStripe(BillingResources):
    """Stripe's v1 API as the payments adapter uses it, with helpers for what happens outside it."""

    def pay_invoice(self, stripe_invoice_id: str) -> dict[str, Any]:
        """The client pays the hosted page: a payment intent and charge for the total, the transfer of
        ``transfer_data.amount`` to the destination, the invoice paid; ``invoice.paid`` and more are emitted."""
        with self._transaction() as state:
            invoice = self._helper_invoice(state, stripe_invoice_id, "open")
            transfer_data = invoice.get("transfer_data") or None
            if transfer_data:
                destination = state["objects"].get(transfer_data["destination"])
                if destination is None or (destination.get("capabilities") or {}).get("transfers") != "active":
                    raise OfflineStripeError(
                        "the destination account cannot receive transfers yet (its transfers capability is not active): "
                        "the payment would fail on Stripe"
                    )
            now = self._now()
            total = invoice["amount_remaining"]
            charge_id, intent_id = self._new_id(state, "ch"), self._new_id(state, "pi")
            transfer_id = None
            if transfer_data:
                transfer_id = self._new_id(state, "tr")
                transfer_amount = transfer_data.get("amount") if transfer_data.get("amount") is not None else total
                self._store(
                    state,
                    self._shape(
                        "transfer",
                        id=transfer_id,
                        amount=transfer_amount,
                        created=now,
                        currency=invoice["currency"],
                        destination=transfer_data["destination"],
                        destination_payment=self._new_id(state, "py"),
                        source_transaction=charge_id,
                        source_type="card",
                        transfer_group=f"group_{intent_id}",
                        balance_transaction=self._new_id(state, "txn"),
                        reversals={"object": "list", "data": [], "has_more": False, "url": f"/v1/transfers/{transfer_id}/reversals"},
                        description=None,
                    ),
                )
            charge = self._shape(
                "charge",
                id=charge_id,
                amount=total,
                amount_captured=total,
                amount_refunded=0,
                captured=True,
                created=now,
                currency=invoice["currency"],
                customer=invoice["customer"],
                description=f"Payment for Invoice {invoice['number']}",
                disputed=False,
                paid=True,
                payment_intent=intent_id,
                refunded=False,
                refunds={"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{charge_id}/refunds"},
                status="succeeded",
                transfer=transfer_id,
                transfer_data=dict(transfer_data) if transfer_data else None,
                transfer_group=f"group_{intent_id}" if transfer_data else None,
                failure_code=None,
                failure_message=None,
                balance_transaction=self._new_id(state, "txn"),
                metadata={},
            )
            self._store(state, charge)
            intent = self._shape(
                "payment_intent",
                id=intent_id,
                amount=total,
                amount_received=total,
                created=now,
                currency=invoice["currency"],
                customer=invoice["customer"],
                latest_charge=charge_id,
                status="succeeded",
                transfer_data=dict(transfer_data) if transfer_data else None,
                metadata={},
            )
            self._store(state, intent)
            payment = self._shape(
                "invoice_payment",
                id=self._new_id(state, "inpay"),
                amount_paid=total,
                amount_requested=total,
                created=now,
                currency=invoice["currency"],
                invoice=invoice["id"],
                is_default=True,
                payment={"type": "payment_intent", "payment_intent": intent_id},
                status="paid",
                status_transitions={"canceled_at": None, "paid_at": now},
            )
            self._store(state, payment)
            previous = {"status": invoice["status"], "amount_paid": invoice["amount_paid"], "amount_remaining": invoice["amount_remaining"]}
            invoice.update(status="paid", amount_paid=invoice["amount_paid"] + total, amount_remaining=0, attempted=True)
            invoice["attempt_count"] = invoice.get("attempt_count", 0) + 1
            invoice["status_transitions"]["paid_at"] = now
            self._event(state, "payment_intent.succeeded", intent)
            self._event(state, "charge.succeeded", charge)
            if transfer_id:
                self._event(state, "transfer.created", state["objects"][transfer_id])
            self._event(state, "invoice.payment_succeeded", invoice, previous)
            self._event(state, "invoice.paid", invoice, previous)
            result = _public(invoice)
        self._deliver()
        return result

    def fail_payment(self, stripe_invoice_id: str) -> dict[str, Any]:
        """A payment attempt on the hosted page fails: the invoice stays open; ``invoice.payment_failed``."""
        with self._transaction() as state:
            invoice = self._helper_invoice(state, stripe_invoice_id, "open")
            invoice["attempted"] = True
            invoice["attempt_count"] = invoice.get("attempt_count", 0) + 1
            self._event(state, "invoice.payment_failed", invoice, {"attempt_count": invoice["attempt_count"] - 1})
            result = _public(invoice)
        self._deliver()
        return result

    def refund(self, stripe_invoice_id: str) -> dict[str, Any]:
        """Refunds a paid invoice's charge in full (``charge.refunded``, ``refund.created``). As on Stripe for a
        destination charge without ``reverse_transfer``, the transfer to the agency is not reversed."""
        with self._transaction() as state:
            charge = self._paid_charge(state, stripe_invoice_id)
            refund = self._shape(
                "refund",
                id=self._new_id(state, "re"),
                amount=charge["amount"] - charge["amount_refunded"],
                charge=charge["id"],
                created=self._now(),
                currency=charge["currency"],
                payment_intent=charge.get("payment_intent"),
                status="succeeded",
                reason="requested_by_customer",
            )
            self._store(state, refund)
            previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
            charge.update(amount_refunded=charge["amount"], refunded=True)
            charge["refunds"]["data"].append(copy.deepcopy(refund))
            self._event(state, "refund.created", refund)
            self._event(state, "charge.refunded", charge, previous)
            result = copy.deepcopy(refund)
        self._deliver()
        return result

    def dispute(self, stripe_invoice_id: str) -> dict[str, Any]:
        """The client disputes a paid invoice's charge (``charge.dispute.created``)."""
        with self._transaction() as state:
            charge = self._paid_charge(state, stripe_invoice_id)
            dispute = self._shape(
                "dispute",
                id=self._new_id(state, "dp"),
                amount=charge["amount"],
                charge=charge["id"],
                created=self._now(),
                currency=charge["currency"],
                payment_intent=charge.get("payment_intent"),
                reason="general",
                status="needs_response",
                is_charge_refundable=False,
            )
            self._store(state, dispute)
            charge["disputed"] = True
            self._event(state, "charge.dispute.created", dispute)
            result = copy.deepcopy(dispute)
        self._deliver()
        return result

    def _routes(self) -> list[Route]:
        i = _ID_PATTERN
        return [
            *super()._routes(),
            ("GET", rf"/v1/charges/({i})", self._retrieve("charge"), "ChargeRetrieveParams"),
            ("GET", rf"/v1/payment_intents/({i})", self._retrieve_payment_intent, "PaymentIntentRetrieveParams"),
            ("GET", rf"/v1/transfers/({i})", self._retrieve("transfer"), "TransferRetrieveParams"),
            ("POST", rf"/v1/transfers/({i})/reversals", self._reverse_transfer, "TransferReversalCreateParams"),
            ("GET", r"/v1/invoice_payments", self._list_invoice_payments, "InvoicePaymentListParams"),
        ]

    def _list_invoice_payments(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        payment = params.get("payment")
        invoice, intent = _str(params, "invoice"), _str(payment, "payment_intent") if isinstance(payment, Mapping) else None
        found = [
            obj
            for obj in state["objects"].values()
            if obj.get("object") == "invoice_payment"
            and (invoice is None or obj["invoice"] == invoice)
            and (intent is None or obj["payment"].get("payment_intent") == intent)
        ]
        found.reverse()
        return self._list(found, "/v1/invoice_payments", params)

    def _reverse_transfer(self, state: dict[str, Any], params: Mapping[str, Any], transfer_id: str) -> dict[str, Any]:
        """Takes (part of) a transfer back from the connected account, as for a refund or a dispute."""
        transfer = self._find(state, transfer_id, "transfer", "id")
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = _int(params, "amount")
        amount = remaining if amount is None else amount
        if not 0 < amount <= remaining:
            raise _StripeError(400, "The amount exceeds what is left of the transfer.", code="amount_too_large", param="amount")
        reversal = {
            "id": self._new_id(state, "trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "created": self._now(),
            "currency": transfer["currency"],
            "metadata": _metadata(params),
            "transfer": transfer_id,
        }
        self._store(state, reversal)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        self._event(state, "transfer.reversed", transfer)
        return copy.deepcopy(reversal)

    def _retrieve_payment_intent(self, state: dict[str, Any], params: Mapping[str, Any], intent_id: str) -> dict[str, Any]:
        intent = copy.deepcopy(self._find(state, intent_id, "payment_intent"))
        if "latest_charge" in _expand(params) and intent.get("latest_charge"):
            intent["latest_charge"] = copy.deepcopy(state["objects"].get(intent["latest_charge"]))
        return intent

    def _paid_charge(self, state: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        self._helper_invoice(state, invoice_id, "paid")
        payments = [obj for obj in state["objects"].values() if obj.get("object") == "invoice_payment" and obj.get("invoice") == invoice_id]
        if not payments:
            raise OfflineStripeError("the invoice was paid without a charge (a zero total)")
        intent = state["objects"][payments[-1]["payment"]["payment_intent"]]
        return state["objects"][intent["latest_charge"]]
