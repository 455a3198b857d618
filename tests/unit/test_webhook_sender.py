"""The built-in signature's webhook sender: signed exactly as DocuSign signs, and loud when not accepted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from chalicelib.adapters.esign.connect import verify_connect_signature
from chalicelib.adapters.esign.webhooks import HttpWebhookSender
from chalicelib.errors import UpstreamUnavailable

received: list[tuple[bytes, dict[str, str]]] = []


class _Endpoint(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((body, dict(self.headers.items())))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    received.clear()
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/esign"
    server.shutdown()
    _Endpoint.status = 200


def test_the_body_is_posted_as_is_with_a_connect_signature(endpoint: str) -> None:
    HttpWebhookSender(endpoint, "key-1").deliver(b'{"event":"envelope-completed"}')
    [(body, headers)] = received
    assert body == b'{"event":"envelope-completed"}'
    assert verify_connect_signature(body, headers, [b"key-1"]) and not verify_connect_signature(body, headers, [b"key-2"])


@pytest.mark.parametrize("status", [401, 404, 409, 500])
def test_an_answer_other_than_success_raises_so_that_the_stream_delivers_again(endpoint: str, status: int) -> None:
    _Endpoint.status = status
    with pytest.raises(UpstreamUnavailable):
        HttpWebhookSender(endpoint, "key-1").deliver(b"{}")


def test_an_unreachable_endpoint_raises() -> None:
    with pytest.raises(UpstreamUnavailable):
        HttpWebhookSender("http://127.0.0.1:9/webhooks/esign", "key-1").deliver(b"{}")


def test_no_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="BUILTIN_ESIGN_KEYS"):
        HttpWebhookSender("http://127.0.0.1:9/", "")
