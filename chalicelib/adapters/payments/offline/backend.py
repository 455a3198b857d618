"""The offline Stripe's generic machinery: what any Stripe endpoint needs, whatever the resource.

* ``decode_form``: request bodies and query strings as the SDK encodes them (``a[b][0][c]=v``);
* parameter checking against the SDK's own ``stripe.params`` TypedDicts, by class name per route;
* small readers that answer Stripe's 400s for missing or malformed values;
* ``StripeBackend``: the state (in memory, or one JSON file under ``fcntl.flock``), idempotency records,
  dispatch to the routes the resources declare, object shapes from ``fixtures3.json``, events and their
  signed webhook deliveries, injected transport failures;
* the ``stripe.HTTPClient`` that hands the SDK's requests to it, and ``HttpStripeWebhookSink``.

The resources (``billing``, ``money``) add routes and handlers; none of this module knows what an invoice is
beyond the shapes it loads.
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
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

WebhookSink = Callable[[bytes, str, bool], None]

API_VERSION = "2026-10-28.endive"  # stripe 16.1.0's pinned version (stripe._api_version._ApiVersion.CURRENT)
PLATFORM_ACCOUNT = "acct_1OfflinePlatform0"
FIXTURES_ENV = "STRIPE_FIXTURES_PATH"
_REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_FIXTURES = _REPO_ROOT.parent / "shared" / "data" / "stripe" / "fixtures3.json"

# The SDK's request-option keys, which the generated params TypedDicts inherit but which never travel as params.
_REQUEST_OPTION_KEYS = frozenset(
    {"api_key", "stripe_version", "stripe_account", "stripe_context", "max_network_retries", "idempotency_key", "content_type", "headers"}
)
_ID_PATTERN = r"[A-Za-z0-9_]+"


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
    if origin is typing.Union or origin is types.UnionType:
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
    "credit_note": {"object": "credit_note", "livemode": False, "metadata": {}, "discount_amount": 0, "amount_shipping": 0},
    "customer_balance_transaction": {"object": "customer_balance_transaction", "livemode": False, "metadata": {}},
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
    "credit_note": {
        "customer_account": None,
        "customer_balance_transaction": None,
        "discount_amounts": [],
        "pretax_credit_amounts": [],
        "shipping_cost": None,
        "total_taxes": [],
        "voided_at": None,
    },
    "dispute": {"balance_transactions": [], "enhanced_eligibility_types": []},
}


Handler = Callable[..., dict[str, Any]]
Route = tuple[str, str, Handler, str]  # method, path pattern, handler, the stripe.params class its parameters follow


class StripeBackend:
    """A stateful fake of Stripe's v1 API without resources: subclasses declare ``_routes()``."""

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

    def _route(self, method: str, path: str) -> tuple[Handler, str, tuple[str, ...]] | None:
        for route_method, pattern, handler, params_class in self._routes():
            if route_method != method:
                continue
            match = re.fullmatch(pattern, path)
            if match is not None:
                return handler, params_class, match.groups()
        return None

    def _routes(self) -> list[Route]:
        return [("GET", rf"/v1/events/({_ID_PATTERN})", self._retrieve("event"), "EventRetrieveParams")]

    def _retrieve(self, kind: str) -> Handler:
        def retrieve(state: dict[str, Any], params: Mapping[str, Any], object_id: str) -> dict[str, Any]:
            return copy.deepcopy(self._find(state, object_id, kind))

        return retrieve

    def _list(self, found: list[dict[str, Any]], url: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One page, as Stripe pages: ``limit`` objects after ``starting_after`` (an id in the list)."""
        limit = _int(params, "limit") or 10
        if not 1 <= limit <= 100:
            raise _StripeError(400, "limit must be between 1 and 100.", code="parameter_invalid_integer", param="limit")
        after = _str(params, "starting_after")
        if after is not None:
            ids = [obj["id"] for obj in found]
            if after not in ids:
                raise _StripeError(400, f"No such object: '{after[:60]}'", code="resource_missing", param="starting_after")
            found = found[ids.index(after) + 1 :]
        return {"object": "list", "data": [copy.deepcopy(obj) for obj in found[:limit]], "has_more": len(found) > limit, "url": url}


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

            def __init__(self, backend: StripeBackend) -> None:
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
