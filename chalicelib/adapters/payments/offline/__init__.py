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
* **Credit notes** (by amount) on open or paid invoices: first off what the invoice still asks for (an open
  invoice credited in full is paid), the rest refunded, credited to the balance or recorded out of band, in
  exactly that sum; never more than the invoice's total. **Transfers** only to accounts with transfers active,
  and from a ``source_transaction`` never more than the charge has left. Details in ``money``.
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
``dispute``, ``close_dispute`` (won or lost); ``fail_next`` injects a transport-level failure (5xx, 429) for the next matching requests.

Not reproduced: API-key scoping of objects, key expiry after 24 hours, pagination cursors (lists answer the
first ``limit`` objects), search, most expansions (``payments`` on invoices and ``latest_charge`` on payment
intents are expanded; other ``expand`` values are accepted and ignored), credit notes by ``lines`` or
``shipping_cost`` or linking existing ``refunds``, voiding credit notes, the fees Stripe keeps from a charge.

The package: ``backend`` holds the generic machinery (form decoding, parameter checking against
``stripe.params``, state file, idempotency, dispatch, shapes, events and webhook signing, the HTTP client);
``billing`` the accounts, customers, tax rates, invoices and items; ``money`` the payments, transfers, refunds,
disputes, credit notes and ``OfflineStripe`` itself. Import from here.
"""

from __future__ import annotations

from chalicelib.adapters.payments.offline.backend import (
    API_VERSION,
    DEFAULT_FIXTURES,
    FIXTURES_ENV,
    PLATFORM_ACCOUNT,
    HttpStripeWebhookSink,
    OfflineStripeError,
    WebhookSink,
    decode_form,
    sign_payload,
)
from chalicelib.adapters.payments.offline.money import OfflineStripe

__all__ = [
    "API_VERSION",
    "DEFAULT_FIXTURES",
    "FIXTURES_ENV",
    "PLATFORM_ACCOUNT",
    "HttpStripeWebhookSink",
    "OfflineStripe",
    "OfflineStripeError",
    "WebhookSink",
    "decode_form",
    "sign_payload",
]
