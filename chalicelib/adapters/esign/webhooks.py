"""The signed webhook both signature providers use (DocuSign Connect's format): verifying what arrives,
and posting what the built-in signature sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.adapters.esign.connect import connect_signature, parse_connect_event, verify_connect_signature
from chalicelib.errors import UpstreamUnavailable
from chalicelib.services.ports import SignatureEvent


class ConnectWebhooks:
    """``SignatureWebhooks`` on the Connect format. ``keys``: every key an incoming event may be signed with
    (the built-in signature's and DocuSign Connect's, old ones too while they rotate)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:
        return verify_connect_signature(raw_body, headers, self._keys)

    def parse(self, raw_body: bytes) -> SignatureEvent:
        event = parse_connect_event(raw_body)
        return SignatureEvent(event_id=event.event_id, event=event.event, envelope_id=event.envelope_id)


class HttpWebhookSender:
    """Posts the built-in signature's events to the app's webhook endpoint, signed as DocuSign signs them."""

    def __init__(self, url: str, key: str, pool: Any = None) -> None:
        if not key:
            raise ValueError("BUILTIN_ESIGN_KEYS is empty: the built-in signature cannot sign its webhooks")
        self._url = url
        self._key = key.encode()
        self._pool = pool

    def deliver(self, body: bytes) -> None:
        import urllib3  # lazily: only the stream handler posts

        pool = self._pool or urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=30), retries=False)
        headers = {"Content-Type": "application/json", "X-DocuSign-Signature-1": connect_signature(body, self._key)}
        try:
            response = pool.request("POST", self._url, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise UpstreamUnavailable("The webhook endpoint could not be reached.") from exc
        if response.status >= 300:
            # The stream retries the record: an envelope not yet known (404) or a busy contract (409) settle.
            raise UpstreamUnavailable(f"The webhook endpoint answered {response.status}.")
