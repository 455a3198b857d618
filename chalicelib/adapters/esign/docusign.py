"""The SignatureProvider port on DocuSign eSignature (REST API v2.1), authenticated by JWT Grant.

Authentication (https://developers.docusign.com/platform/auth/jwt-get-token): an RS256 assertion signed with
the integration's private key is exchanged at ``https://{auth_server}/oauth/token`` for an access token that
impersonates one DocuSign user (the platform's sending user), who must have granted the integration consent
once. The REST base URI differs per account and is looked up once from ``/oauth/userinfo`` unless configured.

Everything goes through a small ``HttpTransport`` so the adapter is tested offline against recorded shapes; the
default transport is urllib3 (already present through botocore), imported on first use, with retries off:
the caller (the contract service, a queue consumer) decides whether and when to try again.

Errors: throttling (429), DocuSign's 5xx and network failures become ``UpstreamUnavailable`` (a 503 at the
API); a 404 becomes ``NotFound``; any other refusal becomes ``SignatureServiceRejected`` (a Conflict) with
DocuSign's ``errorCode``. Details never carry the document, and DocuSign's message is kept short and stripped
of e-mail addresses, as a DomainError's detail must never carry personal data.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from chalicelib.adapters.esign.connect import ENVELOPE_ID_PATTERN, parse_docusign_datetime
from chalicelib.domain.contracts import SIGN_HERE_ANCHOR, ContractStatus
from chalicelib.domain.ids import utcnow
from chalicelib.errors import Conflict, FieldIssue, InvalidInput, NotFound, UpstreamUnavailable
from chalicelib.services.ports import EnvelopeRequest, EnvelopeStatus, SignedDocuments

API_VERSION = "v2.1"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_SCOPES = "signature impersonation"
ASSERTION_LIFETIME = 3600  # seconds; DocuSign's maximum for the assertion's exp - iat
TOKEN_SAFETY_MARGIN = timedelta(seconds=60)  # a token this close to expiry is replaced before it is used
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0  # the combined PDF of a long contract takes DocuSign a while to render
MAX_EMAIL_SUBJECT = 100  # DocuSign rejects longer subjects
MAX_VOIDED_REASON = 200  # and longer void reasons
MAX_EXPIRE_DAYS = 999
EXPIRE_WARN_DAYS = 3
_ENVELOPE_ID = re.compile(ENVELOPE_ID_PATTERN)
_EMAIL = re.compile(r"\S+@\S+")

# SIGN_HERE_ANCHOR (chalicelib.domain.contracts) is printed on the contract where signer N signs.
# anchorIgnoreIfNotPresent lets an envelope go out when a PDF lacks it (DocuSign then lets the signer place
# the signature freely), rather than failing the send.

EMAIL_BLURBS = {
    "sv": "Avtalet från Customersonly väntar på din underskrift. Öppna länken i det här e-postmeddelandet för att läsa och signera.",
    "en": "The agreement from Customersonly is waiting for your signature. Open the link in this e-mail to read and sign it.",
}

# Envelope statuses (https://developers.docusign.com/docs/esign-rest-api/esign101/concepts/envelopes/status-codes).
# "signed" is the short moment between the last signature and completion: every signer has signed but the
# documents are not final yet, so it is not yet COMPLETED.
_IN_FLIGHT = frozenset({"created", "sent", "delivered", "signed", "correct"})
_SIGNED_RECIPIENT = frozenset({"completed", "signed"})


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class TransportError(Exception):
    """The request never got an HTTP answer: DNS, connection, TLS, timeout."""


class HttpTransport(Protocol):
    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None) -> HttpResponse:
        """One HTTP exchange, no retries, no redirects followed. Raises TransportError without an answer."""


class Urllib3Transport:
    """The default transport: one urllib3 pool for the process (the Lambda's warm container reuses it)."""

    def __init__(self, *, connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool: Any = None

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None) -> HttpResponse:
        import urllib3

        if self._pool is None:
            timeout = urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout)
            self._pool = urllib3.PoolManager(timeout=timeout, retries=False)
        try:
            response = self._pool.request(method, url, headers=dict(headers), body=body, retries=False, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(type(exc).__name__) from exc
        return HttpResponse(status=response.status, headers=dict(response.headers), body=response.data)


class SignatureServiceRejected(Conflict):
    """DocuSign refused the request (a 4xx other than 401 and 404): voiding a completed envelope, an address
    it will not send to. ``error_code`` is DocuSign's, for services that want to tell cases apart."""

    title = "The signature service refused the request"

    def __init__(self, detail: str, *, error_code: str | None) -> None:
        super().__init__(detail)
        self.error_code = error_code


class DocuSignConsentRequired(UpstreamUnavailable):
    """The impersonated user has not granted the integration consent: an operator must, once."""


class DocuSignProvider:
    name = "docusign"

    def __init__(
        self,
        *,
        integration_key: str,
        user_id: str,
        account_id: str,
        private_key_pem: str,
        auth_server: str = "account-d.docusign.com",
        base_uri: str | None = None,
        http: HttpTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        # A host name only: it is both the token URL's host and the assertion's audience.
        if not auth_server or "/" in auth_server or ":" in auth_server:
            raise ValueError("auth_server is a host name such as account-d.docusign.com, without a scheme")
        self._integration_key = integration_key
        self._user_id = user_id
        self._account_id = account_id
        self._private_key_pem = private_key_pem
        self._auth_server = auth_server
        self._base_uri = self._checked_base_uri(base_uri) if base_uri else None
        self._http: HttpTransport = http or Urllib3Transport()
        self._clock = clock
        self._token: str | None = None
        self._token_expires_at: datetime | None = None

    # --- the port ---

    def create_envelope(self, request: EnvelopeRequest) -> str:
        response = self._api("POST", "envelopes", json_body=self.envelope_definition(request))
        envelope_id = self._json(response).get("envelopeId")
        if not isinstance(envelope_id, str) or _ENVELOPE_ID.fullmatch(envelope_id) is None:
            raise UpstreamUnavailable("DocuSign created the envelope but answered without a usable envelope id")
        return envelope_id

    def get_status(self, envelope_id: str) -> EnvelopeStatus:
        # include=recipients returns the signers with the envelope: one call instead of two.
        response = self._api("GET", f"envelopes/{self._path_id(envelope_id)}?include=recipients")
        return self.envelope_status(envelope_id, self._json(response))

    def download_signed(self, envelope_id: str) -> SignedDocuments:
        path = f"envelopes/{self._path_id(envelope_id)}/documents"
        document = self._pdf(self._api("GET", f"{path}/combined", accept="application/pdf"), "combined document")
        certificate = self._pdf(self._api("GET", f"{path}/certificate", accept="application/pdf"), "certificate of completion")
        return SignedDocuments(document=document, certificate=certificate)

    def void(self, envelope_id: str, reason: str) -> None:
        body = {"status": "voided", "voidedReason": reason.strip()[:MAX_VOIDED_REASON] or "Voided"}
        self._api("PUT", f"envelopes/{self._path_id(envelope_id)}", json_body=body)

    # --- request and response shapes (public for tests and for reading) ---

    def envelope_definition(self, request: EnvelopeRequest) -> dict[str, Any]:
        """The Envelopes:create body for ``request``: one document, remote (e-mail) signing for every signer."""
        if not request.signers:
            raise InvalidInput("An envelope needs at least one signer.", issues=[FieldIssue("signers", "empty")])
        if not 1 <= request.expires_in_days <= MAX_EXPIRE_DAYS:
            raise InvalidInput(
                f"An envelope expires after 1 to {MAX_EXPIRE_DAYS} days.", issues=[FieldIssue("expires_in_days", "out of range")]
            )
        # A warning on the day of expiry or after it is refused; a short-lived envelope simply gets none (0).
        expire_warn = min(EXPIRE_WARN_DAYS, request.expires_in_days - 1)
        signers = [
            {
                "email": signer.email,
                "name": signer.name,
                "recipientId": signer.recipient_id,
                "routingOrder": str(signer.routing_order),
                # No clientUserId: the signer is sent DocuSign's e-mail and signs there (remote signing).
                "tabs": {
                    "signHereTabs": [
                        {
                            "anchorString": SIGN_HERE_ANCHOR.format(recipient_id=signer.recipient_id),
                            "anchorUnits": "pixels",
                            "anchorXOffset": "0",
                            "anchorYOffset": "0",
                            "anchorIgnoreIfNotPresent": "true",
                        }
                    ]
                },
            }
            for signer in request.signers
        ]
        return {
            "emailSubject": request.subject[:MAX_EMAIL_SUBJECT],
            "emailBlurb": EMAIL_BLURBS.get(request.language, EMAIL_BLURBS["en"]),
            "status": "sent",
            "documents": [
                {
                    "documentBase64": base64.b64encode(request.document).decode("ascii"),
                    "name": request.document_name,
                    "fileExtension": "pdf",
                    "documentId": "1",
                }
            ],
            "recipients": {"signers": signers},
            # Hidden from recipients; they tie an envelope found in DocuSign's console back to its contract.
            "customFields": {
                "textCustomFields": [
                    {"name": "contract_id", "value": request.contract_id, "show": "false", "required": "false"},
                    {"name": "engagement_id", "value": request.engagement_id, "show": "false", "required": "false"},
                ]
            },
            "notification": {
                "useAccountDefaults": "false",
                "expirations": {"expireEnabled": "true", "expireAfter": str(request.expires_in_days), "expireWarn": str(expire_warn)},
            },
        }

    @staticmethod
    def envelope_status(envelope_id: str, envelope: Mapping[str, Any]) -> EnvelopeStatus:
        """An Envelopes:get answer (with ``include=recipients``) as the port's EnvelopeStatus."""
        status = envelope.get("status")
        if not isinstance(status, str):
            raise UpstreamUnavailable("DocuSign answered without an envelope status")
        status = status.lower()
        recipients = envelope.get("recipients")
        signers = recipients.get("signers") if isinstance(recipients, Mapping) else None
        signers = [s for s in signers if isinstance(s, Mapping)] if isinstance(signers, list) else []
        signed_at = _signed_at(signers)
        if status in _IN_FLIGHT:
            partly = any(str(s.get("status", "")).lower() in _SIGNED_RECIPIENT for s in signers)
            return EnvelopeStatus(envelope_id, ContractStatus.PARTLY_SIGNED if partly else ContractStatus.SENT, signed_at)
        if status == "completed":
            return EnvelopeStatus(envelope_id, ContractStatus.COMPLETED, signed_at)
        if status == "declined":
            reason = next((s.get("declinedReason") for s in signers if str(s.get("status", "")).lower() == "declined"), None)
            return EnvelopeStatus(envelope_id, ContractStatus.DECLINED, signed_at, _text(reason))
        if status == "voided":
            reason = _text(envelope.get("voidedReason"))
            expired = _voided_by_expiry(envelope, reason)
            return EnvelopeStatus(envelope_id, ContractStatus.EXPIRED if expired else ContractStatus.VOIDED, signed_at, reason)
        if status in ("expired", "timedout"):  # not sent by the v2.1 API today; "timedout" is a legacy status
            return EnvelopeStatus(envelope_id, ContractStatus.EXPIRED, signed_at, _text(envelope.get("voidedReason")))
        # deleted, template, transfercompleted, authoritativecopy: nothing a contract envelope should become.
        raise UpstreamUnavailable(f"DocuSign reported an envelope status the platform does not handle: {status[:40]}")

    # --- authentication ---

    def assertion(self) -> str:
        """The JWT Grant assertion: RS256 over iss (integration key), sub (user id), aud (the auth host)."""
        import jwt

        issued = int(self._clock().timestamp())
        claims = {
            "iss": self._integration_key,
            "sub": self._user_id,
            "aud": self._auth_server,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
            "scope": JWT_SCOPES,
        }
        return jwt.encode(claims, self._private_key_pem, algorithm="RS256")

    def consent_url(self) -> str:
        # The redirect URI must be one registered on the integration, which only its operator knows.
        return (
            f"https://{self._auth_server}/oauth/auth?response_type=code&scope=signature%20impersonation"
            f"&client_id={quote(self._integration_key, safe='')}&redirect_uri=<a redirect URI registered on the integration>"
        )

    def _access_token(self) -> str:
        now = self._clock()
        if self._token is not None and self._token_expires_at is not None and now < self._token_expires_at:
            return self._token
        body = urlencode({"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}).encode("ascii")
        response = self._send(
            "POST",
            f"https://{self._auth_server}/oauth/token",
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            body,
        )
        if response.status != 200:
            self._raise_for_token(response)
        payload = self._json(response)
        token, expires_in = payload.get("access_token"), payload.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) or isinstance(expires_in, bool):
            raise UpstreamUnavailable("DocuSign's token endpoint answered without a token")
        self._token = token
        self._token_expires_at = now + timedelta(seconds=expires_in) - TOKEN_SAFETY_MARGIN
        return token

    def _raise_for_token(self, response: HttpResponse) -> None:
        if response.status == 429 or response.status >= 500:
            raise UpstreamUnavailable(f"DocuSign's token endpoint is unavailable (HTTP {response.status})")
        error = _error_field(response, "error")
        if error == "consent_required":
            raise DocuSignConsentRequired(
                "DocuSign needs consent before this integration may act for its sending user: that user (or an "
                f"organisation administrator) must grant it once at {self.consent_url()}"
            )
        # invalid_grant (wrong user id, key or clock), invalid_client (wrong integration key), ...: configuration,
        # which the platform's caller cannot fix either.
        raise UpstreamUnavailable(f"DocuSign refused the JWT grant: {error or f'HTTP {response.status}'}")

    def _base(self) -> str:
        if self._base_uri is None:
            response = self._send("GET", f"https://{self._auth_server}/oauth/userinfo", self._bearer(self._access_token()), None)
            if response.status != 200:
                self._raise_for_api(response)
            accounts = self._json(response).get("accounts")
            accounts = accounts if isinstance(accounts, list) else []
            # The user may belong to several accounts; the default one is not necessarily the platform's.
            matching = [a for a in accounts if isinstance(a, Mapping) and a.get("account_id") == self._account_id]
            account = matching[0] if matching else None
            base_uri = account.get("base_uri") if account is not None else None
            if not isinstance(base_uri, str):
                raise UpstreamUnavailable("The DocuSign user has no access to the configured account")
            self._base_uri = self._checked_base_uri(base_uri)
        return self._base_uri

    @staticmethod
    def _checked_base_uri(base_uri: str) -> str:
        parts = urlsplit(base_uri)
        # The bearer token goes to this host: never to one reached over plain HTTP.
        if parts.scheme != "https" or not parts.hostname:
            raise UpstreamUnavailable("The DocuSign base URI is not an https URL")
        return f"https://{parts.netloc}"

    # --- HTTP ---

    def _api(self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None, accept: str = "application/json") -> HttpResponse:
        body = json.dumps(json_body, separators=(",", ":")).encode("utf-8") if json_body is not None else None
        for attempt in (1, 2):
            headers = {**self._bearer(self._access_token()), "Accept": accept}
            if body is not None:
                headers["Content-Type"] = "application/json"
            url = f"{self._base()}/restapi/{API_VERSION}/accounts/{quote(self._account_id, safe='')}/{path}"
            response = self._send(method, url, headers, body)
            if response.status == 401 and attempt == 1:
                # Revoked or expired early: one fresh token, once. A second 401 is a configuration problem.
                self._token = None
                self._token_expires_at = None
                continue
            break
        if not 200 <= response.status < 300:
            self._raise_for_api(response)
        return response

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> HttpResponse:
        try:
            return self._http.request(method, url, headers=headers, body=body)
        except (TransportError, OSError) as exc:  # OSError: sockets and TLS from a transport that does not wrap them
            raise UpstreamUnavailable(f"DocuSign could not be reached: {type(exc).__name__}") from exc

    @staticmethod
    def _bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def _raise_for_api(response: HttpResponse) -> None:
        status = response.status
        if status == 429 or status >= 500 or status == 401:
            raise UpstreamUnavailable(f"DocuSign is unavailable or refused the credentials (HTTP {status})")
        error_code = _error_field(response, "errorCode")
        message = _error_field(response, "message")
        detail = f"DocuSign refused the request (HTTP {status}{f', {error_code}' if error_code else ''})"
        if message:
            detail += f": {_EMAIL.sub('<e-mail>', message)[:200]}"
        if status == 404:
            raise NotFound(detail)
        raise SignatureServiceRejected(detail, error_code=error_code)

    @staticmethod
    def _json(response: HttpResponse) -> dict[str, Any]:
        try:
            payload = json.loads(response.body)
        except ValueError as exc:
            raise UpstreamUnavailable("DocuSign answered with something other than JSON") from exc
        if not isinstance(payload, dict):
            raise UpstreamUnavailable("DocuSign answered with JSON that is not an object")
        return payload

    @staticmethod
    def _pdf(response: HttpResponse, what: str) -> bytes:
        if not response.body.startswith(b"%PDF-"):
            raise UpstreamUnavailable(f"DocuSign's {what} is not a PDF")
        return response.body

    @staticmethod
    def _path_id(envelope_id: str) -> str:
        if _ENVELOPE_ID.fullmatch(envelope_id) is None:
            raise InvalidInput("Not an envelope id.", issues=[FieldIssue("envelope_id", "not an envelope id")])
        return envelope_id


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _signed_at(signers: list[Mapping[str, Any]]) -> dict[str, datetime]:
    signed: dict[str, datetime] = {}
    for signer in signers:
        recipient_id, when = signer.get("recipientId"), signer.get("signedDateTime")
        if str(signer.get("status", "")).lower() not in _SIGNED_RECIPIENT or not isinstance(recipient_id, str) or not isinstance(when, str):
            continue
        try:
            signed[recipient_id] = parse_docusign_datetime(when)
        except ValueError:
            continue  # a signature without a readable time is still a signature; the status says so
    return signed


def _voided_by_expiry(envelope: Mapping[str, Any], reason: str | None) -> bool:
    """Whether a voided envelope expired rather than being voided by someone.

    DocuSign has no "expired" status: "voided — the envelope has been voided by the sender or has expired.
    The void reason indicates whether the envelope was manually voided or expired" (envelope status codes,
    and the envelope-voided Connect event), and "when an envelope expires, it is voided" after a short delay
    (the ``Expirations`` model). The reason's wording is not documented, so the times decide when DocuSign
    gives both: a void at or after the envelope's own ``expireDateTime`` is the expiry; one before it was
    someone's decision, whatever its reason says. Without both times, a reason that speaks of expiry counts.
    """
    expires, voided = envelope.get("expireDateTime"), envelope.get("voidedDateTime")
    if isinstance(expires, str) and isinstance(voided, str):
        try:
            return parse_docusign_datetime(voided) >= parse_docusign_datetime(expires)
        except ValueError:
            pass  # unreadable times: fall back on the reason
    return reason is not None and "expire" in reason.lower()


def _error_field(response: HttpResponse, name: str) -> str | None:
    try:
        payload = json.loads(response.body)
    except ValueError:
        return None
    value = payload.get(name) if isinstance(payload, dict) else None
    return value[:100] if isinstance(value, str) else None
