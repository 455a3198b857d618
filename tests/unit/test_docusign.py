"""The DocuSign provider against recorded request and response shapes: the JWT Grant and its token cache, base
URI discovery, the envelope definition, every status mapping, downloads, voiding and how failures map to
domain errors. A scripted transport (tests/fake_docusign.py) checks every call as DocuSign would see it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.esign.docusign import (
    DocuSignConsentRequired,
    DocuSignProvider,
    HttpResponse,
    SignatureServiceRejected,
    TransportError,
    Urllib3Transport,
)
from chalicelib.domain.contracts import ContractStatus
from chalicelib.errors import InvalidInput, NotFound, UpstreamUnavailable
from chalicelib.services.ports import EnvelopeRequest, EnvelopeSigner
from tests.fake_docusign import (
    ACCOUNT_ID,
    AUTH_SERVER,
    BASE_URI,
    PDF,
    REST,
    USERINFO_URL,
    Call,
    FakeDocuSignTransport,
    fixture_json,
    json_response,
    pdf_response,
    token_response,
)

INTEGRATION_KEY = "8c1d2e3f-4a5b-4c6d-9e7f-0a1b2c3d4e5f"
USER_ID = "4799e5e9-1559-4915-9862-cf4713bbcacc"
ENVELOPE = "93be49e8-6f2a-4d1b-9c6e-2f0d3f8a1b77"
START = datetime(2026, 9, 24, 13, 0, tzinfo=UTC)

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
PUBLIC_PEM = _KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def docusign() -> Iterator[FakeDocuSignTransport]:
    transport = FakeDocuSignTransport()
    yield transport
    transport.assert_done()


def provider(http: FakeDocuSignTransport, clock: Clock, *, base_uri: str | None = BASE_URI) -> DocuSignProvider:
    return DocuSignProvider(
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        account_id=ACCOUNT_ID,
        private_key_pem=PRIVATE_PEM,
        auth_server=AUTH_SERVER,
        base_uri=base_uri,
        http=http,
        clock=clock,
    )


def envelope_get(envelope_id: str = ENVELOPE) -> str:
    return f"{REST}/envelopes/{envelope_id}?include=recipients"


def contract_request(**changes: Any) -> EnvelopeRequest:
    fields: dict[str, Any] = {
        "contract_id": "01J9ZK3V4Q8X2N6M0P5R7T9W1Y",
        "engagement_id": "01J9ZK2A7B3C5D7E9F1G3H5J7K",
        "subject": "Avtal att signera: konsultuppdrag",
        "document_name": "Konsultavtal 2026-0142.pdf",
        "document": PDF,
        "signers": (
            EnvelopeSigner("1", "user-anna", "Anna Konsult", "anna@agency.example", 1),
            EnvelopeSigner("2", "user-bo", "Bo Kund", "bo@client.example", 2),
        ),
        "language": "sv",
        "expires_in_days": 30,
    }
    fields.update(changes)
    return EnvelopeRequest(**fields)


# --- JWT Grant ---


def test_the_assertion_carries_docusigns_claims_signed_rs256(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    assertion = provider(docusign, clock).assertion()
    assert jwt.get_unverified_header(assertion)["alg"] == "RS256"
    claims = jwt.decode(assertion, PUBLIC_PEM, algorithms=["RS256"], audience=AUTH_SERVER, options={"verify_exp": False})
    issued = int(START.timestamp())
    assert claims == {
        "iss": INTEGRATION_KEY,
        "sub": USER_ID,
        "aud": AUTH_SERVER,
        "iat": issued,
        "exp": issued + 3600,
        "scope": "signature impersonation",
    }


def test_the_token_request_posts_the_assertion_as_a_form(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    def check(call: Call) -> None:
        claims = jwt.decode(call.form()["assertion"], PUBLIC_PEM, algorithms=["RS256"], audience=AUTH_SERVER, options={"verify_exp": False})
        assert claims["sub"] == USER_ID
        assert call.headers["Accept"] == "application/json"

    docusign.expect_token(check=check)
    docusign.expect("GET", envelope_get(), json_response(200, "envelope_sent.json"))
    provider(docusign, clock).get_status(ENVELOPE)


def test_the_token_is_reused_until_a_minute_before_it_expires(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    signer = provider(docusign, clock)
    docusign.expect_token(token_response("token-1", expires_in=3600))
    docusign.expect("GET", envelope_get(), json_response(200, "envelope_sent.json"))
    docusign.expect("GET", envelope_get(), json_response(200, "envelope_sent.json"))
    signer.get_status(ENVELOPE)
    clock.now = START + timedelta(seconds=3539)
    signer.get_status(ENVELOPE)
    docusign.assert_done()

    clock.now = START + timedelta(seconds=3540)
    docusign.expect_token(token_response("token-2"))
    docusign.expect("GET", envelope_get(), json_response(200, "envelope_sent.json"), token="token-2")
    signer.get_status(ENVELOPE)


def test_a_401_replaces_the_token_and_retries_once(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token(token_response("token-1"))
    docusign.expect("GET", envelope_get(), json_response(401, {"errorCode": "USER_AUTHENTICATION_FAILED", "message": "expired"}))
    docusign.expect_token(token_response("token-2"))
    docusign.expect("GET", envelope_get(), json_response(200, "envelope_sent.json"), token="token-2")
    assert provider(docusign, clock).get_status(ENVELOPE).status is ContractStatus.SENT


def test_a_second_401_is_upstream_unavailable(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token(token_response("token-1"))
    docusign.expect("GET", envelope_get(), json_response(401, {"errorCode": "USER_AUTHENTICATION_FAILED"}))
    docusign.expect_token(token_response("token-2"))
    docusign.expect("GET", envelope_get(), json_response(401, {"errorCode": "USER_AUTHENTICATION_FAILED"}), token="token-2")
    with pytest.raises(UpstreamUnavailable):
        provider(docusign, clock).get_status(ENVELOPE)


def test_missing_consent_says_where_to_grant_it(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token(json_response(400, "token_consent_required.json"))
    with pytest.raises(DocuSignConsentRequired) as caught:
        provider(docusign, clock).get_status(ENVELOPE)
    assert isinstance(caught.value, UpstreamUnavailable)
    assert "consent" in caught.value.detail
    assert (
        f"https://{AUTH_SERVER}/oauth/auth?response_type=code&scope=signature%20impersonation&client_id={INTEGRATION_KEY}&redirect_uri="
        in caught.value.detail
    )


def test_a_refused_grant_is_upstream_unavailable_with_its_error(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token(json_response(400, "token_invalid_grant.json"))
    with pytest.raises(UpstreamUnavailable, match="invalid_grant") as caught:
        provider(docusign, clock).get_status(ENVELOPE)
    assert not isinstance(caught.value, DocuSignConsentRequired)


def test_a_token_answer_without_a_token_is_upstream_unavailable(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token(json_response(200, {"token_type": "Bearer", "expires_in": 3600}))
    with pytest.raises(UpstreamUnavailable):
        provider(docusign, clock).get_status(ENVELOPE)


# --- base URI ---


def test_the_base_uri_is_discovered_once_for_the_configured_account(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    signer = provider(docusign, clock, base_uri=None)
    docusign.expect_token()
    # The user's default account is another one: the configured account's base URI is the one used.
    docusign.expect("GET", USERINFO_URL, json_response(200, "userinfo.json"))
    docusign.expect("GET", envelope_get(), json_response(200, "envelope_sent.json"))
    docusign.expect("GET", envelope_get(), json_response(200, "envelope_sent.json"))
    signer.get_status(ENVELOPE)
    signer.get_status(ENVELOPE)


def test_a_user_without_the_configured_account_is_upstream_unavailable(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    userinfo = fixture_json("userinfo.json")
    userinfo["accounts"] = [a for a in userinfo["accounts"] if a["account_id"] != ACCOUNT_ID]
    docusign.expect_token()
    docusign.expect("GET", USERINFO_URL, json_response(200, userinfo))
    with pytest.raises(UpstreamUnavailable, match="account"):
        provider(docusign, clock, base_uri=None).get_status(ENVELOPE)


def test_a_plain_http_base_uri_is_refused(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    userinfo = fixture_json("userinfo.json")
    for account in userinfo["accounts"]:
        account["base_uri"] = "http://eu.docusign.net"
    docusign.expect_token()
    docusign.expect("GET", USERINFO_URL, json_response(200, userinfo))
    with pytest.raises(UpstreamUnavailable, match="https"):
        provider(docusign, clock, base_uri=None).get_status(ENVELOPE)


# --- create ---


def test_create_envelope_sends_the_document_to_every_signer_by_email(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    sent: list[dict[str, Any]] = []
    docusign.expect_token()
    docusign.expect("POST", f"{REST}/envelopes", json_response(201, "envelope_created.json"), check=lambda call: sent.append(call.json()))
    assert provider(docusign, clock).create_envelope(contract_request()) == ENVELOPE
    (body,) = sent
    assert body == {
        "emailSubject": "Avtal att signera: konsultuppdrag",
        "emailBlurb": body["emailBlurb"],
        "status": "sent",
        "documents": [
            {
                "documentBase64": base64.b64encode(PDF).decode(),
                "name": "Konsultavtal 2026-0142.pdf",
                "fileExtension": "pdf",
                "documentId": "1",
            }
        ],
        "recipients": {
            "signers": [
                {
                    "email": "anna@agency.example",
                    "name": "Anna Konsult",
                    "recipientId": "1",
                    "routingOrder": "1",
                    "tabs": {
                        "signHereTabs": [
                            {
                                "anchorString": "/sig1/",
                                "anchorUnits": "pixels",
                                "anchorXOffset": "0",
                                "anchorYOffset": "0",
                                "anchorIgnoreIfNotPresent": "true",
                            }
                        ]
                    },
                },
                {
                    "email": "bo@client.example",
                    "name": "Bo Kund",
                    "recipientId": "2",
                    "routingOrder": "2",
                    "tabs": {
                        "signHereTabs": [
                            {
                                "anchorString": "/sig2/",
                                "anchorUnits": "pixels",
                                "anchorXOffset": "0",
                                "anchorYOffset": "0",
                                "anchorIgnoreIfNotPresent": "true",
                            }
                        ]
                    },
                },
            ]
        },
        "customFields": {
            "textCustomFields": [
                {"name": "contract_id", "value": "01J9ZK3V4Q8X2N6M0P5R7T9W1Y", "show": "false", "required": "false"},
                {"name": "engagement_id", "value": "01J9ZK2A7B3C5D7E9F1G3H5J7K", "show": "false", "required": "false"},
            ]
        },
        "notification": {"useAccountDefaults": "false", "expirations": {"expireEnabled": "true", "expireAfter": "30", "expireWarn": "3"}},
    }
    assert "signera" in body["emailBlurb"]  # Swedish
    assert all("clientUserId" not in signer for signer in body["recipients"]["signers"])  # remote signing


def test_the_email_blurb_follows_the_language(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    signer = provider(docusign, clock)
    assert "sign it" in signer.envelope_definition(contract_request(language="en"))["emailBlurb"]
    assert "sign it" in signer.envelope_definition(contract_request(language="de"))["emailBlurb"]  # unknown: English
    assert "signera" in signer.envelope_definition(contract_request(language="sv"))["emailBlurb"]


def test_short_expiries_and_long_subjects_stay_within_docusigns_limits(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    signer = provider(docusign, clock)
    assert signer.envelope_definition(contract_request(expires_in_days=2))["notification"]["expirations"] == {
        "expireEnabled": "true",
        "expireAfter": "2",
        "expireWarn": "1",
    }
    assert signer.envelope_definition(contract_request(expires_in_days=1))["notification"]["expirations"]["expireWarn"] == "0"
    assert len(signer.envelope_definition(contract_request(subject="x" * 300))["emailSubject"]) == 100
    for days in (0, 1000):
        with pytest.raises(InvalidInput):
            signer.envelope_definition(contract_request(expires_in_days=days))
    with pytest.raises(InvalidInput):
        signer.envelope_definition(contract_request(signers=()))


def test_an_answer_without_an_envelope_id_is_upstream_unavailable(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token()
    docusign.expect("POST", f"{REST}/envelopes", json_response(201, {"status": "sent"}))
    with pytest.raises(UpstreamUnavailable):
        provider(docusign, clock).create_envelope(contract_request())


# --- status ---


SIGNED_1 = datetime(2026, 9, 24, 14, 1, 44, 153000, tzinfo=UTC)
SIGNED_2 = datetime(2026, 9, 24, 14, 5, 9, 987000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "status", "signed_at", "reason"),
    [
        ("envelope_sent.json", ContractStatus.SENT, {}, None),
        ("envelope_delivered.json", ContractStatus.SENT, {}, None),
        ("envelope_partly_signed.json", ContractStatus.PARTLY_SIGNED, {"1": SIGNED_1}, None),
        ("envelope_completed.json", ContractStatus.COMPLETED, {"1": SIGNED_1, "2": SIGNED_2}, None),
        ("envelope_declined.json", ContractStatus.DECLINED, {"1": SIGNED_1}, "Fel timpris i bilaga 1."),
        ("envelope_voided.json", ContractStatus.VOIDED, {}, "Sent twice by mistake"),
        ("envelope_expired.json", ContractStatus.EXPIRED, {"1": SIGNED_1}, "Envelope has expired."),
    ],
)
def test_get_status_maps_docusigns_envelope(
    clock: Clock,
    docusign: FakeDocuSignTransport,
    name: str,
    status: ContractStatus,
    signed_at: dict[str, datetime],
    reason: str | None,
) -> None:
    docusign.expect_token()

    def wants_json(call: Call) -> None:
        assert call.headers["Accept"] == "application/json"

    docusign.expect("GET", envelope_get(), json_response(200, name), check=wants_json)
    result = provider(docusign, clock).get_status(ENVELOPE)
    assert (result.envelope_id, result.status, result.signed_at, result.reason) == (ENVELOPE, status, signed_at, reason)


def test_the_embedded_recipients_are_those_of_the_recipients_endpoint() -> None:
    # include=recipients embeds what GET .../envelopes/{id}/recipients returns, so one call is enough.
    assert fixture_json("envelope_partly_signed.json")["recipients"] == fixture_json("recipients_partly_signed.json")


def test_every_signer_signed_but_not_yet_completed_is_partly_signed() -> None:
    envelope = fixture_json("envelope_completed.json") | {"status": "signed"}
    assert DocuSignProvider.envelope_status(ENVELOPE, envelope).status is ContractStatus.PARTLY_SIGNED


def test_expiry_is_told_from_the_times_when_docusign_gives_them() -> None:
    expired = fixture_json("envelope_expired.json")
    # A void after the expiry time is the expiry, whatever the reason says ...
    assert DocuSignProvider.envelope_status(ENVELOPE, expired | {"voidedReason": "Voided"}).status is ContractStatus.EXPIRED
    # ... and one before it was someone's decision, even if its reason mentions expiry.
    manual = expired | {"voidedDateTime": "2026-10-01T08:00:00.0000000Z", "voidedReason": "Offer expired, sending a new one"}
    assert DocuSignProvider.envelope_status(ENVELOPE, manual).status is ContractStatus.VOIDED


def test_without_the_times_a_reason_about_expiry_means_expired() -> None:
    expired = {k: v for k, v in fixture_json("envelope_expired.json").items() if k not in ("expireDateTime", "voidedDateTime")}
    assert DocuSignProvider.envelope_status(ENVELOPE, expired).status is ContractStatus.EXPIRED
    voided = {k: v for k, v in fixture_json("envelope_voided.json").items() if k not in ("expireDateTime", "voidedDateTime")}
    assert DocuSignProvider.envelope_status(ENVELOPE, voided).status is ContractStatus.VOIDED


@pytest.mark.parametrize("status", ["deleted", "template", None])
def test_a_status_no_contract_envelope_reaches_is_upstream_unavailable(status: str | None) -> None:
    with pytest.raises(UpstreamUnavailable):
        DocuSignProvider.envelope_status(ENVELOPE, fixture_json("envelope_sent.json") | {"status": status})


def test_unreadable_signing_times_are_left_out_not_fatal() -> None:
    envelope = fixture_json("envelope_partly_signed.json")
    envelope["recipients"]["signers"][0]["signedDateTime"] = "soon"
    result = DocuSignProvider.envelope_status(ENVELOPE, envelope)
    assert (result.status, result.signed_at) == (ContractStatus.PARTLY_SIGNED, {})


# --- download and void ---


def test_download_signed_fetches_the_combined_document_and_the_certificate(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    certificate = PDF.replace(b"Catalog", b"Catalog /Certificate")

    def wants_pdf(call: Call) -> None:
        assert call.headers["Accept"] == "application/pdf"

    docusign.expect_token()
    docusign.expect("GET", f"{REST}/envelopes/{ENVELOPE}/documents/combined", pdf_response(), check=wants_pdf)
    docusign.expect("GET", f"{REST}/envelopes/{ENVELOPE}/documents/certificate", pdf_response(certificate), check=wants_pdf)
    documents = provider(docusign, clock).download_signed(ENVELOPE)
    assert (documents.document, documents.certificate) == (PDF, certificate)


def test_a_download_that_is_not_a_pdf_is_upstream_unavailable(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token()
    docusign.expect("GET", f"{REST}/envelopes/{ENVELOPE}/documents/combined", HttpResponse(200, {}, b"<html>maintenance</html>"))
    with pytest.raises(UpstreamUnavailable, match="not a PDF"):
        provider(docusign, clock).download_signed(ENVELOPE)


def test_void_puts_the_voided_status_with_its_reason(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    bodies: list[Any] = []
    docusign.expect_token()
    docusign.expect(
        "PUT", f"{REST}/envelopes/{ENVELOPE}", json_response(200, "envelope_voided_update.json"), check=lambda c: bodies.append(c.json())
    )
    provider(docusign, clock).void(ENVELOPE, "Sent twice by mistake")
    assert bodies == [{"status": "voided", "voidedReason": "Sent twice by mistake"}]


def test_voiding_a_completed_envelope_is_rejected_with_docusigns_code(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token()
    docusign.expect("PUT", f"{REST}/envelopes/{ENVELOPE}", json_response(400, "error_cannot_void.json"))
    with pytest.raises(SignatureServiceRejected) as caught:
        provider(docusign, clock).void(ENVELOPE, "too late")
    assert caught.value.error_code == "ENVELOPE_CANNOT_VOID_INVALID_STATE"
    assert "ENVELOPE_CANNOT_VOID_INVALID_STATE" in caught.value.detail


@pytest.mark.parametrize("envelope_id", ["", "../../users", "93be49e8?include=documents", "a" * 65, f"{ENVELOPE}\n"])
def test_a_malformed_envelope_id_never_reaches_docusign(clock: Clock, docusign: FakeDocuSignTransport, envelope_id: str) -> None:
    signer = provider(docusign, clock)
    for call in (signer.get_status, signer.download_signed, lambda e: signer.void(e, "x")):
        with pytest.raises(InvalidInput):
            call(envelope_id)
    assert docusign.calls == []


# --- failures ---


@pytest.mark.parametrize(
    "answer",
    [
        json_response(429, "error_throttled.json"),
        json_response(500, {"errorCode": "UNSPECIFIED_ERROR", "message": "Internal error"}),
        HttpResponse(503, {}, b"<html>Service Unavailable</html>"),
        TransportError("ConnectTimeoutError"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_throttling_server_errors_and_network_failures_are_upstream_unavailable(
    clock: Clock, docusign: FakeDocuSignTransport, answer: HttpResponse | Exception
) -> None:
    docusign.expect_token()
    docusign.expect("GET", envelope_get(), answer)
    with pytest.raises(UpstreamUnavailable):
        provider(docusign, clock).get_status(ENVELOPE)


def test_the_token_endpoint_being_down_is_upstream_unavailable(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token(TransportError("NewConnectionError"))
    with pytest.raises(UpstreamUnavailable):
        provider(docusign, clock).create_envelope(contract_request())


def test_a_refused_envelope_carries_docusigns_code_but_neither_document_nor_address(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token()
    docusign.expect("POST", f"{REST}/envelopes", json_response(400, "error_invalid_email.json"))
    with pytest.raises(SignatureServiceRejected) as caught:
        provider(docusign, clock).create_envelope(contract_request())
    detail = caught.value.detail
    assert "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT" in detail and "HTTP 400" in detail
    assert "bo@client" not in detail
    assert base64.b64encode(PDF).decode()[:20] not in detail


def test_an_unknown_envelope_is_not_found(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token()
    docusign.expect("GET", envelope_get(), json_response(404, "error_not_found.json"))
    with pytest.raises(NotFound, match="ENVELOPE_DOES_NOT_EXIST"):
        provider(docusign, clock).get_status(ENVELOPE)


def test_an_answer_that_is_not_json_is_upstream_unavailable(clock: Clock, docusign: FakeDocuSignTransport) -> None:
    docusign.expect_token()
    docusign.expect("GET", envelope_get(), HttpResponse(200, {}, b"<html></html>"))
    with pytest.raises(UpstreamUnavailable):
        provider(docusign, clock).get_status(ENVELOPE)


def test_the_auth_server_is_a_host_name() -> None:
    with pytest.raises(ValueError):
        DocuSignProvider(
            integration_key="k", user_id="u", account_id="a", private_key_pem=PRIVATE_PEM, auth_server="https://account-d.docusign.com"
        )


# --- the default transport, on the loopback ---


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Handler.seen.append((self.command, self.path, body))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"echo": body.decode()}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_urllib3_transport_sends_and_reads_back(loopback: str) -> None:
    response = Urllib3Transport().request("POST", f"{loopback}/x", headers={"Content-Type": "text/plain"}, body=b"hello")
    assert (response.status, json.loads(response.body)) == (201, {"echo": "hello"})
    assert response.headers["Content-Type"] == "application/json"


def test_the_urllib3_transport_follows_no_redirect(loopback: str) -> None:
    response = Urllib3Transport().request("POST", f"{loopback}/redirect", headers={}, body=b"")
    assert response.status == 302


def test_the_urllib3_transport_turns_a_refused_connection_into_a_transport_error() -> None:
    with socket_bound() as port, pytest.raises(TransportError):
        Urllib3Transport(connect_timeout=1, read_timeout=1).request("GET", f"http://127.0.0.1:{port}/", headers={}, body=None)


class socket_bound:
    """A loopback port nothing listens on (bound, not listening: connections are refused)."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        port: int = self._socket.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
