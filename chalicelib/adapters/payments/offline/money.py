"""The offline Stripe's money movement: payments of invoices (payment intents, charges, invoice payments),
transfers and their reversals, refunds, disputes, credit notes; and ``OfflineStripe``, the whole fake.

* **Credit notes** (by ``amount``) on open or paid invoices only. The amount first lowers what the invoice still
  asks for (``amount_remaining`` and ``amount_due``; the note's ``pre_payment_amount``, summed on the invoice as
  ``pre_payment_credit_notes_amount``); an open invoice brought to zero is paid (``invoice.paid``). The rest is
  ``post_payment_amount`` and must be exactly ``refund_amount`` + ``credit_amount`` + ``out_of_band_amount``: a
  refund of the invoice's charge (``refund.created``, ``charge.refunded``), a credit to the customer's balance,
  or a record of money returned elsewhere. All notes together never exceed the invoice's total.
* **Transfers** to a connected account whose ``transfers`` capability is active; with ``source_transaction``
  (a charge, in its currency) never more than the charge has left: its amount less refunds, funds withdrawn by
  a chargeback not won, and what earlier transfers from it still hold (their amount less reversals).
* **Disputes** are opened and closed by the helpers ``dispute`` and ``close_dispute`` and read with GET.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.payments.offline.backend import (
    _ID_PATTERN,
    OfflineStripeError,
    Route,
    _dict,
    _expand,
    _int,
    _metadata,
    _NotStored,
    _public,
    _str,
    _StripeError,
)
from chalicelib.adapters.payments.offline.billing import BillingResources

CREDIT_NOTE_REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
# A chargeback's funds are withdrawn when it opens and come back only if it is won; an inquiry (warning_*) moves no money.
_FUNDS_BACK = frozenset({"won", "warning_needs_response", "warning_under_review", "warning_closed"})
_DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed"})


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
                transfer_amount = transfer_data.get("amount") if transfer_data.get("amount") is not None else total
                transfer_id = self._new_transfer(
                    state, transfer_amount, invoice["currency"], transfer_data["destination"], charge_id, f"group_{intent_id}"
                )["id"]
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
            if charge["amount_refunded"] >= charge["amount"]:
                raise OfflineStripeError("the charge is refunded in full already")
            refund = self._refund_charge(state, charge, charge["amount"] - charge["amount_refunded"], reason="requested_by_customer")
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

    def close_dispute(self, dispute_id: str, won: bool) -> dict[str, Any]:
        """The card network decides: ``won`` (the funds come back, ``charge.dispute.funds_reinstated``) or lost;
        ``charge.dispute.closed`` either way. An inquiry (``warning_*``) closes as ``warning_closed``."""
        with self._transaction() as state:
            dispute = state["objects"].get(dispute_id)
            if dispute is None or dispute.get("object") != "dispute":
                raise OfflineStripeError(f"no such dispute: {dispute_id}")
            if dispute["status"] in _DISPUTE_CLOSED:
                raise OfflineStripeError(f"the dispute is closed already ({dispute['status']})")
            previous = {"status": dispute["status"]}
            if dispute["status"].startswith("warning_"):
                dispute["status"] = "warning_closed"
            else:
                dispute["status"] = "won" if won else "lost"
            self._event(state, "charge.dispute.closed", dispute, previous)
            if dispute["status"] == "won":
                self._event(state, "charge.dispute.funds_reinstated", dispute)
            result = copy.deepcopy(dispute)
        self._deliver()
        return result

    def _routes(self) -> list[Route]:
        i = _ID_PATTERN
        return [
            *super()._routes(),
            ("GET", rf"/v1/charges/({i})", self._retrieve("charge"), "ChargeRetrieveParams"),
            ("GET", rf"/v1/payment_intents/({i})", self._retrieve_payment_intent, "PaymentIntentRetrieveParams"),
            ("POST", r"/v1/transfers", self._create_transfer, "TransferCreateParams"),
            ("GET", rf"/v1/transfers/({i})", self._retrieve("transfer"), "TransferRetrieveParams"),
            ("POST", rf"/v1/transfers/({i})/reversals", self._reverse_transfer, "TransferReversalCreateParams"),
            ("GET", rf"/v1/transfers/({i})/reversals", self._list_reversals, "TransferReversalListParams"),
            ("GET", r"/v1/transfers", self._list_transfers, "TransferListParams"),
            ("GET", r"/v1/invoice_payments", self._list_invoice_payments, "InvoicePaymentListParams"),
            ("GET", rf"/v1/disputes/({i})", self._retrieve("dispute"), "DisputeRetrieveParams"),
            ("POST", r"/v1/credit_notes", self._create_credit_note, "CreditNoteCreateParams"),
            ("GET", rf"/v1/credit_notes/({i})", self._retrieve("credit_note"), "CreditNoteRetrieveParams"),
            ("GET", r"/v1/credit_notes", self._list_credit_notes, "CreditNoteListParams"),
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

    def _list_credit_notes(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        invoice = _str(params, "invoice")
        found = [obj for obj in state["objects"].values() if obj.get("object") == "credit_note" and invoice in (None, obj.get("invoice"))]
        return self._list(sorted(found, key=lambda n: n["created"], reverse=True), "/v1/credit_notes", params)

    def _list_reversals(self, state: dict[str, Any], params: Mapping[str, Any], transfer_id: str) -> dict[str, Any]:
        self._find(state, transfer_id, "transfer", "id")
        found = [
            obj for obj in state["objects"].values() if obj.get("object") == "transfer_reversal" and obj.get("transfer") == transfer_id
        ]
        return self._list(sorted(found, key=lambda r: r["created"], reverse=True), f"/v1/transfers/{transfer_id}/reversals", params)

    def _list_transfers(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """Newest first, by destination and creation time (``created[gte]``) as Stripe filters them."""
        destination = _str(params, "destination")
        since = _int(_dict(params, "created"), "gte") if isinstance(params.get("created"), Mapping) else _int(params, "created")
        found = [
            obj
            for obj in state["objects"].values()
            if obj.get("object") == "transfer"
            and (destination is None or obj.get("destination") == destination)
            and (since is None or obj["created"] >= since)
        ]
        return self._list(sorted(found, key=lambda t: t["created"], reverse=True), "/v1/transfers", params)

    def _retrieve_payment_intent(self, state: dict[str, Any], params: Mapping[str, Any], intent_id: str) -> dict[str, Any]:
        intent = copy.deepcopy(self._find(state, intent_id, "payment_intent"))
        if "latest_charge" in _expand(params) and intent.get("latest_charge"):
            intent["latest_charge"] = copy.deepcopy(state["objects"].get(intent["latest_charge"]))
        return intent

    # --- transfers ---

    def _create_transfer(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        destination_id = _str(params, "destination", required=True)
        assert destination_id is not None
        destination = self._find(state, destination_id, "account", "destination")
        if (destination.get("capabilities") or {}).get("transfers") != "active":
            raise _StripeError(
                400,
                "Your destination account needs to have at least one of the following capabilities enabled: "
                "transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        amount = _int(params, "amount", minimum=1)
        if amount is None:
            raise _StripeError(400, "Missing required param: amount.", code="parameter_missing", param="amount")
        currency = str(_str(params, "currency", required=True)).lower()
        if re.fullmatch(r"[a-z]{3}", currency) is None:
            raise _StripeError(400, f"Invalid currency: {currency[:10]}", code="parameter_invalid_string", param="currency")
        source_id = _str(params, "source_transaction")
        transfer_group = _str(params, "transfer_group")
        if source_id is not None:
            charge = self._find(state, source_id, "charge", "source_transaction")
            if charge["currency"] != currency:
                raise _StripeError(
                    400,
                    f"A transfer from a source_transaction must be in the charge's currency ({charge['currency']}).",
                    code="parameter_invalid_string",
                    param="currency",
                )
            available = self._transferable(state, charge)
            if amount > available:
                raise _StripeError(
                    400,
                    f"The transfer amount ({amount}) exceeds what is left of the source transaction {source_id} ({max(available, 0)}).",
                    code="balance_insufficient",
                    param="amount",
                )
            transfer_group = transfer_group or charge.get("transfer_group")
        transfer = self._new_transfer(
            state,
            amount,
            currency,
            destination_id,
            source_id,
            transfer_group,
            metadata=_metadata(params),
            description=_str(params, "description"),
            source_type=_str(params, "source_type") or "card",
        )
        self._event(state, "transfer.created", transfer)
        return copy.deepcopy(transfer)

    def _new_transfer(
        self,
        state: dict[str, Any],
        amount: int,
        currency: str,
        destination: str,
        source_transaction: str | None,
        transfer_group: str | None,
        *,
        metadata: dict[str, str] | None = None,
        description: str | None = None,
        source_type: str = "card",
    ) -> dict[str, Any]:
        """A transfer to a connected account, stored (the destination charge's own, or a separate one)."""
        transfer_id = self._new_id(state, "tr")
        transfer = self._shape(
            "transfer",
            id=transfer_id,
            amount=amount,
            amount_reversed=0,
            balance_transaction=self._new_id(state, "txn"),
            created=self._now(),
            currency=currency,
            description=description,
            destination=destination,
            destination_payment=self._new_id(state, "py"),
            metadata=metadata or {},
            reversals={"object": "list", "data": [], "has_more": False, "url": f"/v1/transfers/{transfer_id}/reversals"},
            reversed=False,
            source_transaction=source_transaction,
            source_type=source_type,
            transfer_group=transfer_group,
        )
        self._store(state, transfer)
        return transfer

    def _transferable(self, state: dict[str, Any], charge: dict[str, Any]) -> int:
        """What a charge still has for transfers: its amount less refunds, chargebacks not won, and what transfers
        from it (the destination charge's own included) still hold after their reversals."""
        withdrawn = sum(
            obj["amount"]
            for obj in state["objects"].values()
            if obj.get("object") == "dispute" and obj.get("charge") == charge["id"] and obj["status"] not in _FUNDS_BACK
        )
        transferred = sum(
            obj["amount"] - obj.get("amount_reversed", 0)
            for obj in state["objects"].values()
            if obj.get("object") == "transfer" and obj.get("source_transaction") == charge["id"]
        )
        return int(charge["amount"]) - int(charge["amount_refunded"]) - withdrawn - transferred

    # --- credit notes and refunds ---

    def _create_credit_note(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        for unsupported in ("lines", "shipping_cost", "refunds"):
            if params.get(unsupported) not in (None, "", []):
                raise _NotStored(400, f"The offline Stripe credits by amount only: {unsupported} is not reproduced.", param=unsupported)
        invoice_id = _str(params, "invoice", required=True)
        assert invoice_id is not None
        invoice = self._find(state, invoice_id, "invoice", "invoice")
        if invoice["status"] == "draft":
            raise _StripeError(400, "You cannot create a credit note for a draft invoice.", code="invoice_not_finalized", param="invoice")
        if invoice["status"] not in ("open", "paid"):
            raise _StripeError(
                400,
                f"You can only create a credit note for an open or paid invoice (this one is {invoice['status']}).",
                code="invoice_not_editable",
                param="invoice",
            )
        amount = _int(params, "amount", minimum=1)
        if amount is None:
            raise _StripeError(400, "One of amount, lines, or shipping_cost must be provided.", code="parameter_missing", param="amount")
        reason = _str(params, "reason")
        if reason is not None and reason not in CREDIT_NOTE_REASONS:
            raise _StripeError(
                400, f"Invalid reason: must be one of {', '.join(CREDIT_NOTE_REASONS)}", code="parameter_invalid_string", param="reason"
            )
        credited = invoice.get("pre_payment_credit_notes_amount", 0) + invoice.get("post_payment_credit_notes_amount", 0)
        if credited + amount > invoice["total"]:
            raise _StripeError(
                400,
                f"The credit note amount ({amount}) exceeds what is left to credit on the invoice ({invoice['total'] - credited}).",
                code="amount_too_large",
                param="amount",
            )
        pre = min(amount, invoice["amount_remaining"]) if invoice["status"] == "open" else 0
        post = amount - pre
        refund_amount = _int(params, "refund_amount") or 0
        credit_amount = _int(params, "credit_amount") or 0
        out_of_band = _int(params, "out_of_band_amount") or 0
        if refund_amount + credit_amount + out_of_band != post:
            raise _StripeError(
                400,
                f"The sum of refund_amount, credit_amount and out_of_band_amount ({refund_amount + credit_amount + out_of_band}) "
                f"must equal the credit note's post-payment amount ({post}): the amount the invoice does not still ask for.",
                param="refund_amount" if refund_amount else "amount",
            )
        charge = self._refundable_charge(state, invoice, refund_amount) if refund_amount else None
        effective_at = _int(params, "effective_at")

        # Everything is checked: from here on the credit note is made.
        now = self._now()
        note_id = self._new_id(state, "cn")
        earlier = sum(1 for obj in state["objects"].values() if obj.get("object") == "credit_note" and obj.get("invoice") == invoice_id)
        refunds = []
        if charge is not None:
            refund = self._refund_charge(state, charge, refund_amount, reason=reason if reason in ("duplicate", "fraudulent") else None)
            refunds.append({"amount_refunded": refund_amount, "refund": refund["id"], "type": "refund", "payment_record_refund": None})
        balance_transaction = self._credit_balance(state, invoice, credit_amount, note_id) if credit_amount else None
        credit_note = self._shape(
            "credit_note",
            id=note_id,
            amount=amount,
            created=now,
            currency=invoice["currency"],
            customer=invoice["customer"],
            customer_balance_transaction=balance_transaction,
            effective_at=effective_at or now,
            invoice=invoice_id,
            lines={"object": "list", "data": [], "has_more": False, "url": f"/v1/credit_notes/{note_id}/lines"},
            memo=_str(params, "memo"),
            metadata=_metadata(params),
            number=f"{invoice['number']}-CN-{earlier + 1:02d}",
            out_of_band_amount=out_of_band or None,
            pdf=f"https://pay.stripe.com/credit_notes/{self._platform_account}/test_{note_id}/pdf?s=ap",
            post_payment_amount=post,
            pre_payment_amount=pre,
            reason=reason,
            refunds=refunds,
            status="issued",
            subtotal=amount,
            subtotal_excluding_tax=amount,
            total=amount,
            total_excluding_tax=None,
            type="mixed" if pre and post else ("pre_payment" if pre else "post_payment"),
            voided_at=None,
        )
        self._store(state, credit_note)
        self._event(state, "credit_note.created", credit_note)

        previous = {
            key: invoice.get(key, 0)
            for key in ("amount_due", "amount_remaining", "pre_payment_credit_notes_amount", "post_payment_credit_notes_amount")
        }
        invoice["pre_payment_credit_notes_amount"] = previous["pre_payment_credit_notes_amount"] + pre
        invoice["post_payment_credit_notes_amount"] = previous["post_payment_credit_notes_amount"] + post
        invoice["amount_due"] -= pre
        invoice["amount_remaining"] -= pre
        self._event(state, "invoice.updated", invoice, {key: value for key, value in previous.items() if invoice.get(key) != value})
        if invoice["status"] == "open" and invoice["amount_remaining"] == 0:
            invoice["status"] = "paid"
            invoice["status_transitions"]["paid_at"] = now
            self._event(state, "invoice.paid", invoice, {"status": "open"})
        return copy.deepcopy(credit_note)

    def _refundable_charge(self, state: dict[str, Any], invoice: dict[str, Any], amount: int) -> dict[str, Any]:
        """The invoice's charge, when ``amount`` of it can be refunded (Stripe's refusals otherwise)."""
        charge = self._invoice_charge(state, invoice)
        if charge is None:
            raise _StripeError(400, "This invoice has no payment to refund.", code="charge_not_refundable", param="refund_amount")
        chargebacks = [
            obj
            for obj in state["objects"].values()
            if obj.get("object") == "dispute" and obj.get("charge") == charge["id"] and obj["status"] not in _FUNDS_BACK
        ]
        if chargebacks:
            raise _StripeError(
                400, f"Charge {charge['id']} has been charged back; cannot issue a refund.", code="charge_disputed", param="refund_amount"
            )
        left = charge["amount"] - charge["amount_refunded"]
        if amount > left:
            raise _StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="charge_already_refunded" if left == 0 else "amount_too_large",
                param="refund_amount",
            )
        return charge

    def _refund_charge(self, state: dict[str, Any], charge: dict[str, Any], amount: int, *, reason: str | None) -> dict[str, Any]:
        """Refunds ``amount`` of a charge (``refund.created``, ``charge.refunded``). As on Stripe for a destination
        charge without ``reverse_transfer``, the transfer to the agency is not reversed."""
        refund = self._shape(
            "refund",
            id=self._new_id(state, "re"),
            amount=amount,
            charge=charge["id"],
            created=self._now(),
            currency=charge["currency"],
            payment_intent=charge.get("payment_intent"),
            status="succeeded",
            reason=reason,
        )
        self._store(state, refund)
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].append(copy.deepcopy(refund))
        self._event(state, "refund.created", refund)
        self._event(state, "charge.refunded", charge, previous)
        return refund

    def _credit_balance(self, state: dict[str, Any], invoice: dict[str, Any], amount: int, note_id: str) -> str:
        """Credits the customer's balance (negative: owed to the customer), for its next invoice."""
        customer = state["objects"][invoice["customer"]]
        customer["balance"] = int(customer.get("balance") or 0) - amount
        transaction = self._shape(
            "customer_balance_transaction",
            id=self._new_id(state, "cbtxn"),
            amount=-amount,
            created=self._now(),
            credit_note=note_id,
            currency=invoice["currency"],
            customer=customer["id"],
            customer_account=None,
            description=None,
            ending_balance=customer["balance"],
            invoice=None,
            type="credit_note",
        )
        self._store(state, transaction)
        return str(transaction["id"])

    # --- lookups ---

    def _invoice_charge(self, state: dict[str, Any], invoice: dict[str, Any]) -> dict[str, Any] | None:
        """The charge that paid the invoice; None for one paid without a charge (a zero total, credited in full)."""
        payments = [
            obj
            for obj in state["objects"].values()
            if obj.get("object") == "invoice_payment" and obj.get("invoice") == invoice["id"] and obj.get("status") == "paid"
        ]
        if not payments:
            return None
        intent = state["objects"][payments[-1]["payment"]["payment_intent"]]
        charge = state["objects"].get(intent["latest_charge"])
        return charge if isinstance(charge, dict) else None

    def _paid_charge(self, state: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        charge = self._invoice_charge(state, self._helper_invoice(state, invoice_id, "paid"))
        if charge is None:
            raise OfflineStripeError("the invoice was paid without a charge (a zero total, or credited in full)")
        return charge
