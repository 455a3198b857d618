"""An offline Stripe: a stateful fake ``stripe.HTTPClient`` for the local stack (``make run``) and the tests.

``stripe-mock`` is not obtainable here, so ``StripeClient(http_client=OfflineStripe().http_client)`` talks to
this instead: the real SDK encodes the requests, this answers them the way Stripe's v1 API does for the
endpoints the payments adapter uses, and the SDK decodes the answers and raises its own errors.

What it reproduces, because the adapter depends on it:

* **Parameters**: a request naming a parameter that the SDK's own ``stripe.params`` TypedDict for that
  endpoint does not define (nested dictionaries and lists of dictionaries included) is answered with Stripe's
  400 ``invalid_request_error`` / ``parameter_unknown`` and the offending ``param``.
* **Idempotency**: a POST with an ``Idempotency-Key`` seen before (per account) with the same parameters
  replays the stored status and body with ``Idempotent-Replayed: true``; the same key with other parameters is
  a 400 ``idempotency_error``. As on Stripe, a request refused before it executed (unknown parameters, an
  injected transport failure) stores nothing; one that executed and failed (``invoice_not_editable``) does.
* **Invoices**: draft → open (``finalize``: number, hosted page URL, due date, totals with tax rates) → paid |
  void | uncollectible; items attach to drafts only; ``send`` only for open ``send_invoice`` invoices. Tax from
  tax rates is computed per line and rounded half up, then summed (Stripe's default line-level rounding).
* **Webhooks**: every state change is an ``event``, posted to ``webhook_sink(payload, signature_header,
  connect)`` with a ``Stripe-Signature`` header made as Stripe makes it (``t=<ts>,v1=<HMAC-SHA256 of
  "<ts>.<payload>">``) with the endpoint's secret. Events about a connected account carry ``account`` and go to
  the Connect endpoint (``connect=True``). Events are delivered after the request that caused them, outside the
  locks, by the instance that made the change (with a shared state file, to that instance's sink only); a sink
  that raises does not fail the request: the delivery is kept in ``failed_deliveries`` and not retried.
* **Persistence**: with ``state_path`` the whole state (objects, idempotency records, counters) is one JSON
  file, read and rewritten atomically under ``fcntl.flock`` on every request, so the API process and the
  event pump of ``make run`` share one Stripe. Without it the state lives in memory. Thread-safe either way.

Response shapes start from Stripe's published fixtures (``fixtures3.json``, ``resources.<object>``), found
through ``fixtures_path``, the ``STRIPE_FIXTURES_PATH`` environment variable or
``<repo>/../shared/data/stripe/fixtures3.json``; without the file, small built-in shapes are used. The data
directory is not part of the repository.

The helpers stand in for what happens outside the API: ``pay_invoice`` (the client pays on the hosted page),
``fail_payment``, ``activate_transfers`` (the agency finishes onboarding), ``mark_uncollectible``, ``refund``,
``dispute``; ``fail_next`` injects a transport-level failure (5xx, 429) for the next matching requests.

Not reproduced: API-key scoping of objects, key expiry after 24 hours, pagination cursors (lists answer the
first ``limit`` objects), search, most expansions (``payments`` on invoices and ``latest_charge`` on payment
intents are expanded; other ``expand`` values are accepted and ignored).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
import threading
import time
import typing
from collections.abc import Callable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

WebhookSink = Callable[[bytes, str, bool], None]

API_VERSION = "2026-10-28.endive"  # stripe 16.1.0's pinned version (stripe._api_version._ApiVersion.CURRENT)
PLATFORM_ACCOUNT = "acct_1OfflinePlatform0"
FIXTURES_ENV = "STRIPE_FIXTURES_PATH"
_REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_FIXTURES = _REPO_ROOT.parent / "shared" / "data" / "stripe" / "fixtures3.json"

# The SDK's request-option keys, which the generated params TypedDicts inherit but which never travel as params.
_REQUEST_OPTION_KEYS = frozenset(
    {"api_key", "stripe_version", "stripe_account", "stripe_context", "max_network_retries", "idempotency_key", "content_type", "headers"}
)
_ID_PATTERN = r"[A-Za-z0-9_]+"
_EU_VAT = re.compile(r"[A-Z]{2}[0-9A-Z+*.]{2,13}")


class OfflineStripeError(RuntimeError):
    """A helper was asked for something Stripe would not do (paying a draft, an unknown id)."""


class _StripeError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None, type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or ("api_error" if status >= 500 else "invalid_request_error")

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


class _NotStored(_StripeError):
    """Refused before the endpoint ran: no idempotent result is saved (Stripe does the same)."""


# --- form bodies ---


def decode_form(body: str) -> dict[str, Any]:
    """Decodes a body (or query string) as the SDK encodes it: ``a[b][0][c]=v`` into nested dicts and lists."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        path = _key_path(raw_key)
        node = root
        for depth, part in enumerate(path):
            if part == "":  # "a[]=x" appends, as Rails-style forms do
                part = str(len(node))
            if depth == len(path) - 1:
                if isinstance(node.get(part), dict):
                    raise _NotStored(400, f"Invalid value for {raw_key[:100]}: mixes a value and nested parameters", param=raw_key[:100])
                node[part] = value  # a repeated key: the last one wins
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise _NotStored(400, f"Invalid value for {raw_key[:100]}: mixes a value and nested parameters", param=raw_key[:100])
                node = child
    return {key: _listify(value) for key, value in root.items()}  # the top level is always a hash


def _key_path(raw_key: str) -> list[str]:
    match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", raw_key)
    if match is None:
        raise _NotStored(400, "Invalid parameter name", code="parameter_unknown", param=raw_key[:100])
    return [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(re.fullmatch(r"[0-9]{1,5}", key) for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# --- parameter validation against stripe.params ---

_HINTS: dict[type, dict[str, Any]] = {}
_HINTS_LOCK = threading.Lock()


def _param_hints(cls: type) -> dict[str, Any]:
    with _HINTS_LOCK:
        cached = _HINTS.get(cls)
        if cached is None:
            import stripe._request_options as request_options

            # The params classes inherit RequestOptions, whose annotations name a TYPE_CHECKING-only import.
            namespace = {**vars(request_options), "StripeContext": object, **vars(sys.modules[cls.__module__])}
            hints = typing.get_type_hints(cls, globalns=namespace, include_extras=False)
            cached = {key: value for key, value in hints.items() if key not in _REQUEST_OPTION_KEYS}
            _HINTS[cls] = cached
        return cached


def _is_typeddict(value: Any) -> bool:
    # typing.is_typeddict does not recognise typing_extensions' TypedDicts, which stripe.params uses.
    return (
        isinstance(value, type) and issubclass(value, dict) and hasattr(value, "__required_keys__") and hasattr(value, "__optional_keys__")
    )


def _flatten(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "types.UnionType"):
        return [leaf for arg in typing.get_args(annotation) for leaf in _flatten(arg)]
    return [annotation]


def _check_params(value: Any, annotation: Any, path: str) -> None:
    options = _flatten(annotation)
    if isinstance(value, dict):
        typed = [option for option in options if _is_typeddict(option)]
        if typed:
            hints = _param_hints(typed[0])
            for key, sub in value.items():
                sub_path = f"{path}[{key}]" if path else key
                if key not in hints:
                    raise _NotStored(400, f"Received unknown parameter: {sub_path}", code="parameter_unknown", param=sub_path)
                _check_params(sub, hints[key], sub_path)
            return
        if any(typing.get_origin(option) in (dict, Mapping) or _is_mapping_like(option) for option in options):
            if not all(isinstance(sub, str) for sub in value.values()):
                raise _NotStored(400, f"Invalid value for {path}: a hash of strings", code="parameter_invalid_string", param=path)
            return
        raise _NotStored(400, f"Invalid value for {path}: not a hash", code="parameter_invalid_string", param=path)
    if isinstance(value, list):
        lists = [option for option in options if typing.get_origin(option) in (list, typing.List)]  # noqa: UP006
        if not lists:
            raise _NotStored(400, f"Invalid array for {path}", code="parameter_invalid_string", param=path)
        element = typing.get_args(lists[0])[0] if typing.get_args(lists[0]) else Any
        for index, sub in enumerate(value):
            _check_params(sub, element, f"{path}[{index}]")


def _is_mapping_like(option: Any) -> bool:
    origin = typing.get_origin(option) or option
    return isinstance(origin, type) and origin.__name__ in ("UntypedStripeObject", "Dict", "dict")


def _validate(params_class: str, params: Mapping[str, Any]) -> None:
    import stripe.params

    cls = getattr(stripe.params, params_class)
    hints = _param_hints(cls)
    for key, value in params.items():
        if key not in hints:
            raise _NotStored(400, f"Received unknown parameter: {key}", code="parameter_unknown", param=key)
        _check_params(value, hints[key], key)


# --- small value readers ---


def _str(params: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise _StripeError(400, f"Missing required param: {key}.", code="parameter_missing", param=key)
        return None
    if not isinstance(value, str):
        raise _StripeError(400, f"Invalid string: {key}", code="parameter_invalid_string", param=key)
    return value


def _int(params: Mapping[str, Any], key: str, *, required: bool = False, minimum: int | None = 0) -> int | None:
    raw = _str(params, key, required=required)
    if raw is None:
        return None
    if re.fullmatch(r"-?[0-9]{1,15}", raw) is None:
        raise _StripeError(400, f"Invalid integer: {raw[:40]}", code="parameter_invalid_integer", param=key)
    value = int(raw)
    if minimum is not None and value < minimum:
        raise _StripeError(400, f"This value must be greater than or equal to {minimum}.", code="parameter_invalid_integer", param=key)
    return value


def _bool(params: Mapping[str, Any], key: str) -> bool | None:
    raw = _str(params, key)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise _StripeError(400, f"Invalid boolean: {raw[:40]}", code="parameter_invalid_boolean", param=key)
    return raw == "true"


def _dict(params: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = params.get(key)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise _StripeError(400, f"Invalid hash: {key}", code="parameter_invalid_string", param=key)
    return value


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    metadata = _dict(params, "metadata")
    return {str(key): str(value) for key, value in metadata.items() if value != ""}


def _expand(params: Mapping[str, Any]) -> list[str]:
    value = params.get("expand")
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _tax(amount: int, percentage: Decimal, inclusive: bool) -> int:
    if inclusive:
        net = Decimal(amount) / (1 + percentage / 100)
        return int((Decimal(amount) - net).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return int((Decimal(amount) * percentage / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class _Headers(Mapping[str, str]):
    """Response headers, case-insensitive as the SDK expects (it reads both "Request-Id" and "stripe-should-retry")."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = {key.lower(): (key, value) for key, value in items.items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items


# --- built-in shapes (used when the fixtures file is absent) ---

_BUILTIN: dict[str, dict[str, Any]] = {
    "account": {
        "object": "account",
        "metadata": {},
        "settings": {},
        "external_accounts": {"object": "list", "data": [], "has_more": False},
    },
    "customer": {"object": "customer", "balance": 0, "delinquent": False, "discount": None, "livemode": False, "metadata": {}},
    "invoiceitem": {"object": "invoiceitem", "discountable": True, "discounts": [], "livemode": False, "metadata": {}, "quantity": 1},
    "tax_rate": {"object": "tax_rate", "livemode": False, "metadata": {}, "active": True},
    "account_link": {"object": "account_link"},
    "event": {"object": "event", "livemode": False, "pending_webhooks": 1},
    "transfer": {"object": "transfer", "amount_reversed": 0, "livemode": False, "metadata": {}, "reversed": False},
    "charge": {"object": "charge", "livemode": False, "metadata": {}, "captured": True, "refunded": False},
    "invoice": {"object": "invoice", "livemode": False, "metadata": {}, "discounts": [], "attempt_count": 0, "attempted": False},
    "tax_id": {"object": "tax_id", "livemode": False},
    "invoice_payment": {"object": "invoice_payment", "livemode": False},
    "payment_intent": {"object": "payment_intent", "livemode": False, "metadata": {}},
    "refund": {"object": "refund", "metadata": {}},
    "dispute": {"object": "dispute", "livemode": False, "metadata": {}},
}

# Fixture fields that carry placeholder values meaningless for a fresh object; reset to these.
_RESETS: dict[str, dict[str, Any]] = {
    "invoice": {
        "last_finalization_error": None,
        "from_invoice": None,
        "parent": None,
        "shipping_cost": None,
        "shipping_details": None,
        "customer_shipping": None,
        "amount_overpaid": 0,
        "amount_shipping": 0,
        "webhooks_delivered_at": None,
        "next_payment_attempt": None,
        "automatically_finalizes_at": None,
        "total_pretax_credit_amounts": [],
        "account_country": "SE",
        "account_name": "Customersonly (offline)",
    },
    "tax_rate": {"flat_amount": None, "rate_type": "percentage", "effective_percentage": None},
    "invoiceitem": {"parent": None, "pricing": None, "period": None},
    "account": {"future_requirements": None},
}


class OfflineStripe:
    def __init__(
        self,
        state_path: Path | None = None,
        webhook_sink: WebhookSink | None = None,
        webhook_secrets: tuple[str, str] = ("whsec_local_platform", "whsec_local_connect"),
        clock: Callable[[], float] = time.time,
        *,
        fixtures_path: Path | None = None,
        platform_account: str = PLATFORM_ACCOUNT,
    ) -> None:
        self.state_path = Path(state_path) if state_path is not None else None
        self.webhook_sink = webhook_sink
        self.webhook_secrets = webhook_secrets
        self._clock = clock
        self._platform_account = platform_account
        self._lock = threading.RLock()
        self._memory: dict[str, Any] = self._empty_state()
        self._faults: list[dict[str, Any]] = []
        self._http_client: Any = None
        self._templates = self._load_templates(fixtures_path)
        self._outbox: list[tuple[bytes, str, bool]] = []
        self.failed_deliveries: list[tuple[bytes, str, bool, str]] = []  # (payload, header, connect, error); not retried

    # --- public surface ---

    @property
    def http_client(self) -> Any:
        """The ``stripe.HTTPClient`` to pass as ``StripeClient(http_client=...)``."""
        with self._lock:
            if self._http_client is None:
                self._http_client = _client_class()(self)
            return self._http_client

    def handle(self, method: str, url: str, headers: Mapping[str, str], body: str | bytes | None) -> tuple[int, str, Mapping[str, str]]:
        """One HTTP exchange: (status, JSON body, headers). Never raises for a bad request; Stripe would not."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        method = method.upper()
        request_id = "req_" + secrets.token_hex(7)
        response_headers = {"Request-Id": request_id, "Content-Type": "application/json", "Stripe-Version": API_VERSION}
        fault = self._take_fault(method, urlsplit(url).path)
        if fault is not None:
            error = _StripeError(fault, "An error occurred with our connection to Stripe (injected by OfflineStripe).")
            if fault == 429:
                error = _StripeError(429, "Request rate limit exceeded.", code="rate_limit", type_="invalid_request_error")
            return fault, json.dumps(error.body()), _Headers(response_headers)
        try:
            with self._transaction() as state:
                status, payload, replayed = self._dispatch(state, method, url, headers, body or "", request_id)
        except Exception as exc:  # a bug here must still look like Stripe to the SDK
            status, payload, replayed = 500, _StripeError(500, f"OfflineStripe failed: {type(exc).__name__}").body(), False
        if replayed:
            response_headers["Idempotent-Replayed"] = "true"
        if headers_idempotency := _header(headers, "Idempotency-Key"):
            response_headers["Idempotency-Key"] = headers_idempotency
        self._deliver()
        return status, json.dumps(payload), _Headers(response_headers)

    def fail_next(self, method: str, path_contains: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` requests whose path contains ``path_contains`` fail with ``status`` before reaching
        the API (nothing is stored, as for a failure between the client and Stripe)."""
        with self._lock:
            self._faults.append({"method": method.upper(), "path": path_contains, "status": status, "times": times})

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every stored object of one ``object`` type ("invoice", "invoiceitem", "event", ...), oldest first."""
        with self._transaction(write=False) as state:
            return [_public(obj) for obj in state["objects"].values() if obj.get("object") == kind]

    def get(self, object_id: str) -> dict[str, Any]:
        with self._transaction(write=False) as state:
            obj = state["objects"].get(object_id)
            if obj is None:
                raise OfflineStripeError(f"no such object: {object_id}")
            return copy.deepcopy(obj)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.objects("event")

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

    # --- state ---

    @staticmethod
    def _empty_state() -> dict[str, Any]:
        return {"objects": {}, "idempotency": {}, "counters": {}, "sent": {}}

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[dict[str, Any]]:
        with self._lock:
            if self.state_path is None:
                yield self._memory
                return
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.state_path.with_name(self.state_path.name + ".lock")
            with open(lock_path, "a+") as lock_file:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
                try:
                    state = self._read_state()
                    yield state
                    if write:
                        self._write_state(state)
                finally:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any]:
        assert self.state_path is not None
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self._empty_state()
        state = json.loads(text) if text.strip() else self._empty_state()
        for key, value in self._empty_state().items():
            state.setdefault(key, value)
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        assert self.state_path is not None
        handle, temporary = tempfile.mkstemp(dir=self.state_path.parent, prefix=self.state_path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(state, out, separators=(",", ":"))
            os.replace(temporary, self.state_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def _take_fault(self, method: str, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fault["method"] == method and fault["path"] in path:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return int(fault["status"])
        return None

    def _deliver(self) -> None:
        with self._lock:
            outbox, self._outbox = self._outbox, []
        if self.webhook_sink is None:
            return
        for payload, header, connect in outbox:
            try:
                self.webhook_sink(payload, header, connect)
            except Exception as exc:  # the endpoint failed: Stripe would retry later; the API call it came from succeeded
                with self._lock:
                    self.failed_deliveries.append((payload, header, connect, repr(exc)[:200]))

    # --- objects ---

    def _load_templates(self, fixtures_path: Path | None) -> dict[str, dict[str, Any]]:
        templates = copy.deepcopy(_BUILTIN)
        # An explicit path is the only candidate (a missing file means the built-in shapes).
        candidates = (
            [fixtures_path]
            if fixtures_path is not None
            else [Path(os.environ[FIXTURES_ENV]) if os.environ.get(FIXTURES_ENV) else None, DEFAULT_FIXTURES]
        )
        path = next((candidate for candidate in candidates if candidate is not None and candidate.is_file()), None)
        if path is None:
            return templates
        resources = json.loads(path.read_text(encoding="utf-8")).get("resources", {})
        for kind in templates:
            fixture = resources.get(kind)
            if isinstance(fixture, dict):
                templates[kind] = {**fixture, **templates[kind], **_RESETS.get(kind, {})}
        self.fixtures_loaded = path
        return templates

    fixtures_loaded: Path | None = None

    def _shape(self, kind: str, **fields: Any) -> dict[str, Any]:
        shaped = copy.deepcopy(self._templates.get(kind, {"object": kind}))
        shaped.update(fields)
        shaped["object"] = kind
        if "livemode" in shaped:
            shaped["livemode"] = False
        return shaped

    def _now(self) -> int:
        return int(self._clock())

    def _new_id(self, state: dict[str, Any], prefix: str) -> str:
        counter = state["counters"].get(prefix, 0) + 1
        state["counters"][prefix] = counter
        return f"{prefix}_{secrets.token_hex(6)}{counter:04d}Off"

    @staticmethod
    def _store(state: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
        state["objects"][obj["id"]] = obj
        return obj

    def _find(self, state: dict[str, Any], object_id: str, kind: str, param: str | None = None) -> dict[str, Any]:
        obj = state["objects"].get(object_id)
        if obj is None or obj.get("object") != kind:
            label = {"invoiceitem": "invoice item", "tax_rate": "tax rate"}.get(kind, kind)
            raise _StripeError(
                404 if param is None else 400, f"No such {label}: '{object_id[:60]}'", code="resource_missing", param=param or "id"
            )
        return obj

    def _event(
        self, state: dict[str, Any], type_: str, obj: dict[str, Any], previous: dict[str, Any] | None = None, *, account: str | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": _public(obj)}
        if previous:
            data["previous_attributes"] = previous
        request = state.get("_request") or {"id": None, "idempotency_key": None}
        event = self._shape(
            "event", id=self._new_id(state, "evt"), api_version=API_VERSION, created=self._now(), data=data, type=type_, request=request
        )
        if account is not None:
            event["account"] = account
        event["pending_webhooks"] = 1
        self._store(state, event)
        payload = json.dumps(event, indent=2).encode("utf-8")
        connect = account is not None
        secret = self.webhook_secrets[1] if connect else self.webhook_secrets[0]
        self._outbox.append((payload, sign_payload(payload, secret, self._now()), connect))
        return event

    # --- dispatch ---

    def _dispatch(
        self, state: dict[str, Any], method: str, url: str, headers: Mapping[str, str], body: str, request_id: str
    ) -> tuple[int, dict[str, Any], bool]:
        parts = urlsplit(url)
        path = parts.path
        try:
            authorization = _header(headers, "Authorization") or ""
            if not re.fullmatch(r"Bearer (sk|rk)_test_\S+", authorization):
                raise _NotStored(401, "Invalid API Key provided.", type_="invalid_request_error")
            params = decode_form(body if method == "POST" else parts.query)
            route = self._route(method, path)
            if route is None:
                raise _NotStored(404, f"Unrecognized request URL ({method}: {path[:100]}).", type_="invalid_request_error")
            handler, params_class, path_args = route
            _validate(params_class, params)
        except _StripeError as error:
            return error.status, error.body(), False

        key = _header(headers, "Idempotency-Key") if method == "POST" else None
        record_key = f"{_header(headers, 'Stripe-Account') or self._platform_account}:{key}" if key else None
        fingerprint = hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()
        if record_key is not None:
            record = state["idempotency"].get(record_key)
            if record is not None:
                if record["fingerprint"] != fingerprint:
                    message = (
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                        f"Try using a key other than '{key}' if you meant to execute a different request."
                    )
                    return 400, _StripeError(400, message, type_="idempotency_error").body(), False
                return record["status"], copy.deepcopy(record["body"]), True
        state["_request"] = {"id": request_id, "idempotency_key": key}
        try:
            status, payload = 200, handler(state, params, *path_args)
        except _NotStored as error:
            return error.status, error.body(), False
        except _StripeError as error:
            status, payload = error.status, error.body()
        finally:
            state.pop("_request", None)
        if record_key is not None:
            state["idempotency"][record_key] = {"fingerprint": fingerprint, "status": status, "body": copy.deepcopy(payload)}
        return status, payload, False

    def _route(self, method: str, path: str) -> tuple[Callable[..., dict[str, Any]], str, tuple[str, ...]] | None:
        for route_method, pattern, handler, params_class in self._routes():
            if route_method != method:
                continue
            match = re.fullmatch(pattern, path)
            if match is not None:
                return handler, params_class, match.groups()
        return None

    def _routes(self) -> list[tuple[str, str, Callable[..., dict[str, Any]], str]]:
        i = _ID_PATTERN
        return [
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
            ("GET", rf"/v1/charges/({i})", self._retrieve("charge"), "ChargeRetrieveParams"),
            ("GET", rf"/v1/payment_intents/({i})", self._retrieve_payment_intent, "PaymentIntentRetrieveParams"),
            ("GET", rf"/v1/transfers/({i})", self._retrieve("transfer"), "TransferRetrieveParams"),
            ("POST", rf"/v1/transfers/({i})/reversals", self._reverse_transfer, "TransferReversalCreateParams"),
            ("GET", r"/v1/invoice_payments", self._list_invoice_payments, "InvoicePaymentListParams"),
            ("GET", rf"/v1/events/({i})", self._retrieve("event"), "EventRetrieveParams"),
        ]

    def _retrieve(self, kind: str) -> Callable[..., dict[str, Any]]:
        def retrieve(state: dict[str, Any], params: Mapping[str, Any], object_id: str) -> dict[str, Any]:
            return copy.deepcopy(self._find(state, object_id, kind))

        return retrieve

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
            automatic_tax={"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None},
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
        for item in items:
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
                        "taxability_reason": "standard_rated",
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
            amount_due=total,
            amount_remaining=total - invoice.get("amount_paid", 0),
        )

    def _present_invoice(self, state: dict[str, Any], invoice: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        presented = _public(invoice)
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

    def _list(self, found: list[dict[str, Any]], url: str, params: Mapping[str, Any]) -> dict[str, Any]:
        limit = _int(params, "limit") or 10
        if not 1 <= limit <= 100:
            raise _StripeError(400, "limit must be between 1 and 100.", code="parameter_invalid_integer", param="limit")
        return {"object": "list", "data": [copy.deepcopy(obj) for obj in found[:limit]], "has_more": len(found) > limit, "url": url}

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

    def _retrieve_payment_intent(self, state: dict[str, Any], params: Mapping[str, Any], intent_id: str) -> dict[str, Any]:
        intent = copy.deepcopy(self._find(state, intent_id, "payment_intent"))
        if "latest_charge" in _expand(params) and intent.get("latest_charge"):
            intent["latest_charge"] = copy.deepcopy(state["objects"].get(intent["latest_charge"]))
        return intent

    # --- helpers' lookups ---

    def _helper_invoice(self, state: dict[str, Any], invoice_id: str, status: str) -> dict[str, Any]:
        invoice = state["objects"].get(invoice_id)
        if invoice is None or invoice.get("object") != "invoice":
            raise OfflineStripeError(f"no such invoice: {invoice_id}")
        if invoice["status"] != status:
            raise OfflineStripeError(f"the invoice is {invoice['status']}, not {status}")
        return invoice

    def _paid_charge(self, state: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        self._helper_invoice(state, invoice_id, "paid")
        payments = [obj for obj in state["objects"].values() if obj.get("object") == "invoice_payment" and obj.get("invoice") == invoice_id]
        if not payments:
            raise OfflineStripeError("the invoice was paid without a charge (a zero total)")
        intent = state["objects"][payments[-1]["payment"]["payment_intent"]]
        return state["objects"][intent["latest_charge"]]


def _public(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A stored object as the API shows it: without the fake's own bookkeeping (keys starting with "_")."""
    return {key: copy.deepcopy(value) for key, value in obj.items() if not key.startswith("_")}


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe sends: ``t=<timestamp>,v1=<hex HMAC-SHA256("<timestamp>.<payload>")>``."""
    import stripe

    return str(stripe.WebhookSignature.generate_signature_header(payload.decode("utf-8"), secret, timestamp=timestamp))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


_CLIENT_CLASS: Any = None


def _client_class() -> Any:
    """The ``stripe.HTTPClient`` subclass, built on first use so that importing this module does not import stripe."""
    global _CLIENT_CLASS
    if _CLIENT_CLASS is None:
        import io

        import stripe

        class OfflineHTTPClient(stripe.HTTPClient):
            name = "offline"

            def __init__(self, backend: OfflineStripe) -> None:
                super().__init__()
                self.backend = backend

            def request(
                self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *, _usage: list[str] | None = None
            ) -> tuple[str, int, Mapping[str, str]]:
                status, body, response_headers = self.backend.handle(method, url, headers or {}, post_data)
                return body, status, response_headers

            def request_stream(
                self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *, _usage: list[str] | None = None
            ) -> tuple[Any, int, Mapping[str, str]]:
                body, status, response_headers = self.request(method, url, headers, post_data)
                return io.BytesIO(body.encode("utf-8")), status, response_headers

            def close(self) -> None:
                return None

        _CLIENT_CLASS = OfflineHTTPClient
    return _CLIENT_CLASS


class HttpStripeWebhookSink:
    """Where the offline Stripe posts its webhooks: the API's own endpoints (``<url>`` and ``<url>/connect``),
    signed as Stripe signs them. A failed post is kept by the offline Stripe; the reconciliation repairs it."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __call__(self, payload: bytes, signature: str, connect: bool) -> None:
        import urllib3

        url = f"{self._url}/connect" if connect else self._url
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
        response = urllib3.request("POST", url, body=payload, headers=headers, timeout=urllib3.Timeout(connect=5, read=30), retries=False)
        if response.status >= 300:
            raise RuntimeError(f"the webhook endpoint answered {response.status}")
