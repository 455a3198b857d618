"""The offline Stripe's billing resources: connected accounts, customers (with tax ids), tax rates, invoices
and their items.

Invoices go draft → open (``finalize``: number, hosted page URL, due date, totals with tax rates) → paid |
void | uncollectible; items attach to drafts only; ``send`` only for open ``send_invoice`` invoices. Tax from
tax rates is computed per line and rounded half up, then summed (Stripe's default line-level rounding).
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.adapters.payments.offline.backend import (
    _ID_PATTERN,
    OfflineStripeError,
    Route,
    StripeBackend,
    _bool,
    _dict,
    _expand,
    _int,
    _metadata,
    _public,
    _str,
    _StripeError,
)

_EU_VAT = re.compile(r"[A-Z]{2}[0-9A-Z+*.]{2,13}")


def _tax(amount: int, percentage: Decimal, inclusive: bool) -> int:
    if inclusive:
        net = Decimal(amount) / (1 + percentage / 100)
        return int((Decimal(amount) - net).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return int((Decimal(amount) * percentage / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# The EU member states, for the Stripe Tax stand-in (kept apart from the domain's list on purpose: the fake
# is the oracle the platform's own VAT rules are checked against).
_EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


class BillingResources(StripeBackend):
    """Accounts, customers, tax rates, invoices and invoice items; the helpers for what happens to them outside the API."""

    def activate_transfers(self, account_id: str) -> dict[str, Any]:
        """The agency finished onboarding: transfers active, nothing due; ``account.updated`` as a Connect event."""
        with self._transaction() as state:
            account = state["objects"].get(account_id)
            if account is None or account.get("object") != "account":
                raise OfflineStripeError(f"no such account: {account_id}")
            previous = {"capabilities": dict(account.get("capabilities") or {}), "details_submitted": account.get("details_submitted")}
            account["capabilities"] = {**(account.get("capabilities") or {}), "transfers": "active"}
            account.update(details_submitted=True, payouts_enabled=True)
            account["requirements"] = {**self._requirements([]), "disabled_reason": None}
            account["tos_acceptance"] = {**(account.get("tos_acceptance") or {}), "date": self._now(), "ip": "127.0.0.1"}
            self._event(state, "account.updated", account, previous, account=account_id)
            result = copy.deepcopy(account)
        self._deliver()
        return result

    def mark_uncollectible(self, stripe_invoice_id: str) -> dict[str, Any]:
        with self._transaction() as state:
            invoice = self._mark_uncollectible(state, self._helper_invoice(state, stripe_invoice_id, "open"))
        self._deliver()
        return invoice

    def _routes(self) -> list[Route]:
        i = _ID_PATTERN
        return [
            *super()._routes(),
            ("POST", r"/v1/accounts", self._create_account, "AccountCreateParams"),
            ("GET", rf"/v1/accounts/({i})", self._retrieve("account"), "AccountRetrieveParams"),
            ("POST", r"/v1/account_links", self._create_account_link, "AccountLinkCreateParams"),
            ("POST", r"/v1/customers", self._create_customer, "CustomerCreateParams"),
            ("GET", rf"/v1/customers/({i})", self._retrieve("customer"), "CustomerRetrieveParams"),
            ("GET", rf"/v1/customers/({i})/tax_ids", self._list_tax_ids, "CustomerTaxIdListParams"),
            ("POST", r"/v1/tax_rates", self._create_tax_rate, "TaxRateCreateParams"),
            ("GET", rf"/v1/tax_rates/({i})", self._retrieve("tax_rate"), "TaxRateRetrieveParams"),
            ("POST", r"/v1/invoices", self._create_invoice, "InvoiceCreateParams"),
            ("GET", r"/v1/invoices", self._list_invoices, "InvoiceListParams"),
            ("GET", rf"/v1/invoices/({i})", self._retrieve_invoice, "InvoiceRetrieveParams"),
            ("DELETE", rf"/v1/invoices/({i})", self._delete_invoice, "InvoiceDeleteParams"),
            ("POST", rf"/v1/invoices/({i})/finalize", self._finalize_invoice, "InvoiceFinalizeInvoiceParams"),
            ("POST", rf"/v1/invoices/({i})/send", self._send_invoice, "InvoiceSendInvoiceParams"),
            ("POST", rf"/v1/invoices/({i})/void", self._void_invoice, "InvoiceVoidInvoiceParams"),
            ("POST", rf"/v1/invoices/({i})/mark_uncollectible", self._api_mark_uncollectible, "InvoiceMarkUncollectibleParams"),
            ("POST", r"/v1/invoiceitems", self._create_invoice_item, "InvoiceItemCreateParams"),
            ("GET", r"/v1/invoiceitems", self._list_invoice_items, "InvoiceItemListParams"),
            ("GET", rf"/v1/invoiceitems/({i})", self._retrieve("invoiceitem"), "InvoiceItemRetrieveParams"),
        ]

    # --- accounts ---

    @staticmethod
    def _requirements(due: list[str]) -> dict[str, Any]:
        return {
            "alternatives": [],
            "current_deadline": None,
            "currently_due": list(due),
            "disabled_reason": "requirements.past_due" if due else None,
            "errors": [],
            "eventually_due": list(due),
            "past_due": list(due),
            "pending_verification": [],
        }

    def _create_account(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        account_type = _str(params, "type")
        controller = _dict(params, "controller")
        if account_type is not None and controller:
            raise _StripeError(400, "You cannot specify both `type` and `controller`.", code="parameter_invalid_string", param="controller")
        if account_type is not None and account_type not in ("custom", "express", "standard"):
            raise _StripeError(400, f"Invalid type: {account_type[:40]}", code="parameter_invalid_string", param="type")
        if account_type is None:
            dashboard = (
                (controller.get("stripe_dashboard") or {}).get("type") if isinstance(controller.get("stripe_dashboard"), dict) else None
            )
            account_type = {"express": "express", "full": "standard"}.get(str(dashboard), "custom")
        capabilities = _dict(params, "capabilities")
        requested = {
            name: "inactive" for name, value in capabilities.items() if isinstance(value, dict) and value.get("requested") == "true"
        }
        tos = _dict(params, "tos_acceptance")
        if tos.get("service_agreement") == "recipient" and "card_payments" in requested:
            raise _StripeError(
                400,
                "Accounts under the recipient service agreement cannot request card_payments.",
                code="invalid_request",
                param="capabilities",
            )
        business_profile = _dict(params, "business_profile")
        country = (_str(params, "country") or "SE").upper()
        due = ["business_profile.url", "external_account", "representative.first_name", "tos_acceptance.date", "tos_acceptance.ip"]
        account = self._shape(
            "account",
            id=self._new_id(state, "acct"),
            type=account_type,
            country=country,
            email=_str(params, "email"),
            created=self._now(),
            business_type=_str(params, "business_type"),
            business_profile={**(self._templates["account"].get("business_profile") or {}), **business_profile},
            capabilities=requested,
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            default_currency={"SE": "sek"}.get(country, "eur"),
            metadata=_metadata(params),
            requirements=self._requirements(due),
            tos_acceptance={"date": None, "ip": None, "user_agent": None, "service_agreement": tos.get("service_agreement", "full")},
            controller={
                "type": "application",
                "is_controller": True,
                "fees": {"payer": (controller.get("fees") or {}).get("payer", "application") if controller else "application"},
                "losses": {"payments": (controller.get("losses") or {}).get("payments", "application") if controller else "application"},
                "requirement_collection": controller.get("requirement_collection", "stripe") if controller else "stripe",
                "stripe_dashboard": {
                    "type": (controller.get("stripe_dashboard") or {}).get("type", account_type) if controller else account_type
                },
            },
        )
        account["external_accounts"] = {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{account['id']}/external_accounts",
        }
        self._store(state, account)
        return copy.deepcopy(account)

    def _create_account_link(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        account_id = _str(params, "account", required=True)
        assert account_id is not None
        self._find(state, account_id, "account", "account")
        link_type = _str(params, "type", required=True)
        if link_type not in ("account_onboarding", "account_update"):
            raise _StripeError(400, f"Invalid type: {str(link_type)[:40]}", code="parameter_invalid_string", param="type")
        for url_param in ("refresh_url", "return_url"):
            value = _str(params, url_param)
            if value is not None and not value.startswith(("http://", "https://")):
                raise _StripeError(400, f"Not a valid URL: {url_param}", code="url_invalid", param=url_param)
        now = self._now()
        return self._shape(
            "account_link",
            created=now,
            expires_at=now + 300,
            url=f"https://connect.stripe.com/setup/e/{account_id}/{secrets.token_urlsafe(9)}",
        )

    # --- customers and tax rates ---

    def _create_customer(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        address = _dict(params, "address")
        customer_id = self._new_id(state, "cus")
        tax_ids = []
        for index, datum in enumerate(params.get("tax_id_data") or []):
            if not isinstance(datum, dict):
                raise _StripeError(400, "Invalid tax_id_data", code="parameter_invalid_string", param=f"tax_id_data[{index}]")
            kind, value = _str(datum, "type", required=True), _str(datum, "value", required=True)
            assert kind is not None and value is not None
            if kind == "eu_vat" and _EU_VAT.fullmatch(value) is None:
                raise _StripeError(400, "Invalid value for eu_vat.", code="tax_id_invalid", param=f"tax_id_data[{index}][value]")
            tax_ids.append(
                self._shape(
                    "tax_id",
                    id=self._new_id(state, "txi"),
                    country=value[:2] if kind == "eu_vat" else None,
                    created=self._now(),
                    customer=customer_id,
                    type=kind,
                    value=value,
                    verification={"status": "pending", "verified_address": None, "verified_name": None},
                    owner={"type": "customer", "customer": customer_id},
                )
            )
        customer = self._shape(
            "customer",
            id=customer_id,
            address={key: address.get(key) for key in ("city", "country", "line1", "line2", "postal_code", "state")} if address else None,
            created=self._now(),
            currency=None,
            description=_str(params, "description"),
            email=_str(params, "email"),
            invoice_prefix=secrets.token_hex(4).upper(),
            invoice_settings={"custom_fields": None, "default_payment_method": None, "footer": None, "rendering_options": None},
            metadata=_metadata(params),
            name=_str(params, "name"),
            next_invoice_sequence=1,
            phone=_str(params, "phone"),
            preferred_locales=params.get("preferred_locales") or [],
            shipping=None,
            tax_exempt=_str(params, "tax_exempt") or "none",
            test_clock=None,
        )
        self._store(state, customer)
        for tax_id in tax_ids:
            self._store(state, tax_id)
        self._event(state, "customer.created", customer)
        return copy.deepcopy(customer)

    def _list_tax_ids(self, state: dict[str, Any], params: Mapping[str, Any], customer_id: str) -> dict[str, Any]:
        self._find(state, customer_id, "customer")
        found = [obj for obj in state["objects"].values() if obj.get("object") == "tax_id" and obj.get("customer") == customer_id]
        return self._list(found, f"/v1/customers/{customer_id}/tax_ids", params)

    def _create_tax_rate(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        display_name = _str(params, "display_name", required=True)
        raw_percentage = _str(params, "percentage", required=True)
        inclusive = _bool(params, "inclusive")
        if inclusive is None:
            raise _StripeError(400, "Missing required param: inclusive.", code="parameter_missing", param="inclusive")
        try:
            percentage = Decimal(str(raw_percentage))
        except ArithmeticError as exc:
            raise _StripeError(400, "Invalid decimal: percentage", code="parameter_invalid_string", param="percentage") from exc
        if not percentage.is_finite() or not 0 <= percentage <= 100:
            raise _StripeError(400, "percentage must be between 0 and 100.", code="parameter_invalid_string", param="percentage")
        tax_rate = self._shape(
            "tax_rate",
            id=self._new_id(state, "txr"),
            active=_bool(params, "active") is not False,
            country=_str(params, "country"),
            created=self._now(),
            description=_str(params, "description"),
            display_name=display_name,
            inclusive=inclusive,
            jurisdiction=_str(params, "jurisdiction"),
            metadata=_metadata(params),
            percentage=float(percentage),
            tax_type=_str(params, "tax_type"),
            state=_str(params, "state"),
        )
        self._store(state, tax_rate)
        self._event(state, "tax_rate.created", tax_rate)
        return copy.deepcopy(tax_rate)

    # --- invoices ---

    def _create_invoice(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        customer_id = _str(params, "customer", required=True)
        assert customer_id is not None
        customer = self._find(state, customer_id, "customer", "customer")
        collection = _str(params, "collection_method") or "charge_automatically"
        if collection not in ("charge_automatically", "send_invoice"):
            raise _StripeError(
                400, f"Invalid collection_method: {collection[:40]}", code="parameter_invalid_string", param="collection_method"
            )
        days_until_due = _int(params, "days_until_due")
        if collection == "send_invoice" and days_until_due is None and _int(params, "due_date") is None:
            raise _StripeError(
                400,
                "Invoices with collection_method=send_invoice need days_until_due or due_date.",
                code="parameter_missing",
                param="days_until_due",
            )
        if collection == "charge_automatically" and days_until_due is not None:
            raise _StripeError(
                400, "days_until_due is only for send_invoice invoices.", code="parameter_invalid_integer", param="days_until_due"
            )
        currency = (_str(params, "currency") or customer.get("currency") or "sek").lower()
        if re.fullmatch(r"[a-z]{3}", currency) is None:
            raise _StripeError(400, f"Invalid currency: {currency[:10]}", code="parameter_invalid_string", param="currency")
        transfer_data = _dict(params, "transfer_data")
        stored_transfer: dict[str, Any] | None = None
        if transfer_data:
            destination = _str(transfer_data, "destination", required=True)
            assert destination is not None
            self._find(state, destination, "account", "transfer_data[destination]")
            stored_transfer = {"amount": _int(transfer_data, "amount"), "destination": destination}
        default_tax_rates = params.get("default_tax_rates") or []
        if not isinstance(default_tax_rates, list):
            raise _StripeError(400, "Invalid array", code="parameter_invalid_string", param="default_tax_rates")
        for index, rate in enumerate(default_tax_rates):
            if not isinstance(rate, str):
                raise _StripeError(400, "Invalid tax rate", code="parameter_invalid_string", param=f"default_tax_rates[{index}]")
            self._find(state, rate, "tax_rate", f"default_tax_rates[{index}]")
        automatic = bool(_bool(_dict(params, "automatic_tax"), "enabled"))
        if automatic and default_tax_rates:
            raise _StripeError(
                400, "Tax rates cannot be used on an invoice with automatic tax.", code="parameter_unknown", param="default_tax_rates"
            )
        behavior = _str(params, "pending_invoice_items_behavior") or "exclude"
        if behavior not in ("exclude", "include"):
            raise _StripeError(
                400, "Invalid pending_invoice_items_behavior", code="parameter_invalid_string", param="pending_invoice_items_behavior"
            )
        now = self._now()
        address = customer.get("address") or {}
        invoice_id = self._new_id(state, "in")
        invoice = self._shape(
            "invoice",
            id=invoice_id,
            amount_due=0,
            amount_paid=0,
            amount_remaining=0,
            application=None,
            auto_advance=bool(_bool(params, "auto_advance")),
            automatic_tax={
                "enabled": automatic,
                "liability": {"type": "self"} if automatic else None,
                "status": None,
                "disabled_reason": None,
                "provider": "stripe" if automatic else None,
            },
            billing_reason="manual",
            collection_method=collection,
            created=now,
            currency=currency,
            custom_fields=None,
            customer=customer_id,
            customer_address={key: address.get(key) for key in ("city", "country", "line1", "line2", "postal_code", "state")},
            customer_email=customer.get("email"),
            customer_name=customer.get("name"),
            customer_phone=customer.get("phone"),
            customer_tax_exempt=customer.get("tax_exempt", "none"),
            customer_tax_ids=[
                {"type": obj["type"], "value": obj["value"]}
                for obj in state["objects"].values()
                if obj.get("object") == "tax_id" and obj.get("customer") == customer_id
            ],
            default_tax_rates=[copy.deepcopy(state["objects"][rate]) for rate in default_tax_rates],
            description=_str(params, "description"),
            due_date=(_int(params, "due_date") or (now + 86400 * days_until_due if days_until_due is not None else None))
            if collection == "send_invoice"
            else None,
            _days_until_due=days_until_due,
            effective_at=None,
            ending_balance=None,
            footer=_str(params, "footer"),
            hosted_invoice_url=None,
            invoice_pdf=None,
            issuer={"type": "self"},
            lines={"object": "list", "data": [], "has_more": False, "total_count": 0, "url": f"/v1/invoices/{invoice_id}/lines"},
            metadata=_metadata(params),
            number=None,
            on_behalf_of=_str(params, "on_behalf_of"),
            period_end=now,
            period_start=now,
            post_payment_credit_notes_amount=0,
            pre_payment_credit_notes_amount=0,
            statement_descriptor=_str(params, "statement_descriptor"),
            status="draft",
            status_transitions={"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
            subscription=None,
            subtotal=0,
            subtotal_excluding_tax=0,
            total=0,
            total_discount_amounts=[],
            total_excluding_tax=0,
            total_taxes=[],
            transfer_data=stored_transfer,
        )
        self._store(state, invoice)
        self._recompute(state, invoice)
        self._event(state, "invoice.created", invoice)
        return self._present_invoice(state, invoice, _expand(params))

    def _recompute(self, state: dict[str, Any], invoice: dict[str, Any]) -> None:
        items = [obj for obj in state["objects"].values() if obj.get("object") == "invoiceitem" and obj.get("invoice") == invoice["id"]]
        lines: list[dict[str, Any]] = []
        totals: dict[str, dict[str, Any]] = {}
        subtotal = exclusive_tax = 0
        automatic = self._automatic_tax(state, invoice)
        for item in items:
            if automatic is not None:
                automatic_rate, reason = automatic
                rates = [{**automatic_rate, "inclusive": item.get("tax_behavior") == "inclusive"}] if automatic_rate else []
            else:
                reason = "standard_rated"
                rates = item.get("tax_rates") or invoice.get("default_tax_rates") or []
            taxes = []
            for rate in rates:
                amount = _tax(item["amount"], Decimal(str(rate["percentage"])), bool(rate["inclusive"]))
                behavior = "inclusive" if rate["inclusive"] else "exclusive"
                taxes.append(
                    {
                        "amount": amount,
                        "tax_behavior": behavior,
                        "tax_rate_details": {"tax_rate": rate["id"]},
                        "taxability_reason": reason,
                        "taxable_amount": item["amount"] - (amount if rate["inclusive"] else 0),
                        "type": "tax_rate_details",
                    }
                )
                entry = totals.setdefault(rate["id"], {**taxes[-1], "amount": 0, "taxable_amount": 0})
                entry["amount"] += amount
                entry["taxable_amount"] += taxes[-1]["taxable_amount"]
                if not rate["inclusive"]:
                    exclusive_tax += amount
            subtotal += item["amount"]
            lines.append(
                {
                    "id": "il_" + item["id"].split("_", 1)[1],
                    "object": "line_item",
                    "amount": item["amount"],
                    "currency": item["currency"],
                    "description": item.get("description"),
                    "discount_amounts": [],
                    "discountable": True,
                    "discounts": [],
                    "invoice": invoice["id"],
                    "livemode": False,
                    "metadata": dict(item.get("metadata") or {}),
                    "parent": {
                        "type": "invoice_item_details",
                        "invoice_item_details": {
                            "invoice_item": item["id"],
                            "proration": False,
                            "proration_details": None,
                            "subscription": None,
                        },
                        "subscription_item_details": None,
                    },
                    "period": item.get("period"),
                    "pretax_credit_amounts": [],
                    "pricing": None,
                    "quantity": 1,
                    "subscription": None,
                    "subtotal": item["amount"],
                    "taxes": taxes,
                }
            )
        total = subtotal + exclusive_tax
        invoice["lines"].update(data=lines, total_count=len(lines))
        invoice.update(
            subtotal=subtotal,
            subtotal_excluding_tax=subtotal - sum(t["amount"] for t in totals.values() if t["tax_behavior"] == "inclusive"),
            total=total,
            total_excluding_tax=total - sum(t["amount"] for t in totals.values()),
            total_taxes=list(totals.values()),
            amount_due=total - invoice.get("pre_payment_credit_notes_amount", 0),
            amount_remaining=total - invoice.get("amount_paid", 0) - invoice.get("pre_payment_credit_notes_amount", 0),
        )

    def _automatic_tax(self, state: dict[str, Any], invoice: dict[str, Any]) -> tuple[dict[str, Any] | None, str] | None:
        """Stripe Tax, as it decides for a platform registered for VAT in Sweden selling services to businesses:
        Swedish VAT at home and to EU customers without a VAT number, reverse charge to EU customers with one,
        nothing collected outside the EU. The customer's address must name a country, or the invoice cannot
        be finalized. None when the invoice does not use automatic tax."""
        if not invoice["automatic_tax"]["enabled"]:
            return None
        customer = state["objects"][invoice["customer"]]
        country = ((customer.get("address") or {}).get("country") or "").upper()
        if not country:
            invoice["automatic_tax"]["status"] = "requires_location_inputs"
            return None, "not_collecting"
        invoice["automatic_tax"]["status"] = "complete"
        vat_ids = [
            obj
            for obj in state["objects"].values()
            if obj.get("object") == "tax_id" and obj.get("customer") == customer["id"] and obj.get("type") == "eu_vat"
        ]
        if country != "SE" and country in _EU_COUNTRIES:
            if vat_ids:
                return self._automatic_rate(state, country, 0), "reverse_charge"
        elif country != "SE":
            return None, "not_collecting"
        return self._automatic_rate(state, "SE", 25), "standard_rated"

    def _automatic_rate(self, state: dict[str, Any], country: str, percentage: int) -> dict[str, Any]:
        """The tax rate Stripe Tax reports its calculation under (one per jurisdiction and percentage)."""
        rate_id = f"txr_auto{country.lower()}{percentage}"
        if rate_id not in state["objects"]:
            self._store(
                state,
                self._shape(
                    "tax_rate",
                    id=rate_id,
                    active=True,
                    country=country,
                    created=self._now(),
                    description=None,
                    display_name="VAT",
                    inclusive=False,
                    jurisdiction=country,
                    jurisdiction_level="country",
                    metadata={},
                    percentage=float(percentage),
                    effective_percentage=float(percentage),
                    state=None,
                    tax_type="vat",
                ),
            )
        return copy.deepcopy(state["objects"][rate_id])

    def _present_invoice(self, state: dict[str, Any], invoice: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        presented = _public(invoice)
        for credited in ("pre_payment_credit_notes_amount", "post_payment_credit_notes_amount"):
            presented.setdefault(credited, 0)  # invoices a state file kept from before credit notes
        if any(path == "payments" or path.startswith("payments.") for path in expand):
            payments = [
                copy.deepcopy(obj)
                for obj in state["objects"].values()
                if obj.get("object") == "invoice_payment" and obj.get("invoice") == invoice["id"]
            ]
            presented["payments"] = {
                "object": "list",
                "data": payments,
                "has_more": False,
                "url": f"/v1/invoice_payments?invoice={invoice['id']}",
            }
        return presented

    def _retrieve_invoice(self, state: dict[str, Any], params: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
        return self._present_invoice(state, self._find(state, invoice_id, "invoice"), _expand(params))

    def _list_invoices(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        customer, status = _str(params, "customer"), _str(params, "status")
        found = [
            obj
            for obj in state["objects"].values()
            if obj.get("object") == "invoice"
            and (customer is None or obj["customer"] == customer)
            and (status is None or obj["status"] == status)
        ]
        found.reverse()  # newest first, as Stripe lists
        return self._list([self._present_invoice(state, obj, _expand(params)) for obj in found], "/v1/invoices", params)

    def _delete_invoice(self, state: dict[str, Any], params: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
        invoice = self._find(state, invoice_id, "invoice")
        if invoice["status"] != "draft":
            raise _StripeError(400, "You can only delete draft invoices.", code="invoice_not_editable")
        for item_id in [
            key for key, obj in state["objects"].items() if obj.get("object") == "invoiceitem" and obj.get("invoice") == invoice_id
        ]:
            del state["objects"][item_id]
        del state["objects"][invoice_id]
        self._event(state, "invoice.deleted", invoice)
        return {"id": invoice_id, "object": "invoice", "deleted": True}

    def _editable(self, invoice: dict[str, Any]) -> None:
        if invoice["status"] != "draft":
            raise _StripeError(
                400,
                f"This invoice is already finalized; it can no longer be edited (status: {invoice['status']}).",
                code="invoice_not_editable",
            )

    def _finalize_invoice(self, state: dict[str, Any], params: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
        invoice = self._find(state, invoice_id, "invoice")
        self._editable(invoice)
        self._recompute(state, invoice)
        if invoice["automatic_tax"]["status"] == "requires_location_inputs":
            raise _StripeError(
                400,
                "The customer's location is not valid for automatic tax: add a country to the customer's address.",
                code="customer_tax_location_invalid",
                param="customer",
            )
        auto_advance = _bool(params, "auto_advance")
        if auto_advance is not None:
            invoice["auto_advance"] = auto_advance
        now = self._now()
        customer = state["objects"][invoice["customer"]]
        sequence = customer.get("next_invoice_sequence", 1)
        customer["next_invoice_sequence"] = sequence + 1
        token = secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
        previous = {"status": "draft", "number": None, "hosted_invoice_url": None}
        self._recompute(state, invoice)
        invoice.update(
            status="open",
            number=f"{customer['invoice_prefix']}-{sequence:04d}",
            hosted_invoice_url=f"https://invoice.stripe.com/i/{self._platform_account}/test_{token}?s=ap",
            invoice_pdf=f"https://pay.stripe.com/invoice/{self._platform_account}/test_{token}/pdf?s=ap",
            effective_at=now,
            starting_balance=0,
            ending_balance=0,
        )
        if invoice["collection_method"] == "send_invoice" and invoice.get("_days_until_due") is not None:
            invoice["due_date"] = now + 86400 * int(invoice["_days_until_due"])
        invoice["status_transitions"]["finalized_at"] = now
        self._event(state, "invoice.finalized", invoice, previous)
        if invoice["total"] == 0:
            invoice["status"] = "paid"
            invoice["status_transitions"]["paid_at"] = now
            self._event(state, "invoice.paid", invoice, {"status": "open"})
        return self._present_invoice(state, invoice, _expand(params))

    def _send_invoice(self, state: dict[str, Any], params: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
        invoice = self._find(state, invoice_id, "invoice")
        if invoice["collection_method"] != "send_invoice":
            raise _StripeError(
                400, "You can only manually send an invoice if its collection method is 'send_invoice'.", code="invoice_not_editable"
            )
        if invoice["status"] != "open":
            raise _StripeError(400, f"You can only send an open invoice (this one is {invoice['status']}).", code="invoice_not_editable")
        state["sent"][invoice_id] = state["sent"].get(invoice_id, 0) + 1
        self._event(state, "invoice.sent", invoice)
        return self._present_invoice(state, invoice, _expand(params))

    def times_sent(self, stripe_invoice_id: str) -> int:
        """How many times the invoice was e-mailed (Stripe's invoice object does not say)."""
        with self._transaction(write=False) as state:
            return int(state["sent"].get(stripe_invoice_id, 0))

    def _void_invoice(self, state: dict[str, Any], params: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
        invoice = self._find(state, invoice_id, "invoice")
        if invoice["status"] not in ("open", "uncollectible"):
            raise _StripeError(
                400, f"You can only void an open or uncollectible invoice (this one is {invoice['status']}).", code="invoice_not_editable"
            )
        previous = {"status": invoice["status"]}
        invoice["status"] = "void"
        invoice["amount_remaining"] = 0
        invoice["status_transitions"]["voided_at"] = self._now()
        self._event(state, "invoice.voided", invoice, previous)
        return self._present_invoice(state, invoice, _expand(params))

    def _api_mark_uncollectible(self, state: dict[str, Any], params: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
        invoice = self._find(state, invoice_id, "invoice")
        if invoice["status"] != "open":
            raise _StripeError(400, "You can only mark an open invoice uncollectible.", code="invoice_not_editable")
        return self._mark_uncollectible(state, invoice)

    def _mark_uncollectible(self, state: dict[str, Any], invoice: dict[str, Any]) -> dict[str, Any]:
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = self._now()
        self._event(state, "invoice.marked_uncollectible", invoice, {"status": "open"})
        return _public(invoice)

    def _create_invoice_item(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        customer_id = _str(params, "customer", required=True)
        assert customer_id is not None
        customer = self._find(state, customer_id, "customer", "customer")
        invoice_id = _str(params, "invoice")
        invoice = self._find(state, invoice_id, "invoice", "invoice") if invoice_id else None
        if invoice is not None:
            if invoice["customer"] != customer_id:
                raise _StripeError(400, "The invoice belongs to another customer.", code="invoice_not_editable", param="invoice")
            self._editable(invoice)
        amount = _int(params, "amount", minimum=None)
        if amount is None:
            raise _StripeError(400, "Missing required param: amount (or price/pricing).", code="parameter_missing", param="amount")
        currency = (_str(params, "currency") or (invoice or {}).get("currency") or customer.get("currency") or "").lower()
        if not currency:
            raise _StripeError(400, "Missing required param: currency.", code="parameter_missing", param="currency")
        if invoice is not None and currency != invoice["currency"]:
            raise _StripeError(400, "The invoice item's currency must match the invoice's.", code="currency_mismatch", param="currency")
        tax_rates = params.get("tax_rates") or []
        if not isinstance(tax_rates, list) or not all(isinstance(rate, str) for rate in tax_rates):
            raise _StripeError(400, "Invalid array", code="parameter_invalid_string", param="tax_rates")
        tax_behavior = _str(params, "tax_behavior") or "unspecified"
        if invoice is not None and invoice["automatic_tax"]["enabled"] and (tax_rates or tax_behavior == "unspecified" or amount < 0):
            # This account sets no default tax behaviour in its Stripe Tax settings, so each item must say.
            raise _StripeError(
                400,
                "Invoice items on an invoice with automatic tax need tax_behavior inclusive or exclusive, no tax_rates, "
                "and a non-negative amount.",
                code="invoice_item_incompatible_with_automatic_tax",
                param="tax_behavior",
            )
        now = self._now()
        item = self._shape(
            "invoiceitem",
            id=self._new_id(state, "ii"),
            amount=amount,
            currency=currency,
            customer=customer_id,
            date=now,
            description=_str(params, "description"),
            discountable=_bool(params, "discountable") is not False,
            invoice=invoice_id,
            metadata=_metadata(params),
            net_amount=amount,
            period={"end": now, "start": now},
            proration=False,
            quantity=1,
            tax_rates=[copy.deepcopy(self._find(state, rate, "tax_rate", "tax_rates")) for rate in tax_rates],
            tax_behavior=tax_behavior,
            tax_code=_str(params, "tax_code"),
            test_clock=None,
        )
        self._store(state, item)
        if invoice is not None:
            self._recompute(state, invoice)
        self._event(state, "invoiceitem.created", item)
        return copy.deepcopy(item)

    def _list_invoice_items(self, state: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        invoice, customer = _str(params, "invoice"), _str(params, "customer")
        found = [
            obj
            for obj in state["objects"].values()
            if obj.get("object") == "invoiceitem"
            and (invoice is None or obj.get("invoice") == invoice)
            and (customer is None or obj["customer"] == customer)
        ]
        found.reverse()
        return self._list(found, "/v1/invoiceitems", params)

    # --- helpers' lookups ---

    def _helper_invoice(self, state: dict[str, Any], invoice_id: str, status: str) -> dict[str, Any]:
        invoice = state["objects"].get(invoice_id)
        if invoice is None or invoice.get("object") != "invoice":
            raise OfflineStripeError(f"no such invoice: {invoice_id}")
        if invoice["status"] != status:
            raise OfflineStripeError(f"the invoice is {invoice['status']}, not {status}")
        return invoice
