"""The HTTP API through chalice.test.Client, on the same moto-backed stack and event pump as ``make run``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client, HTTPResponse

from tests import builders
from tests.conftest import LocalStack, unique_email


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_fields(self) -> set[str]:
        return {e["field"] for e in self.body.get("errors", [])}


class DocumentedResponses:
    """Checks every response the tests see against the schema /openapi.json documents for it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document
        self._routes = [
            (method.upper(), re.compile("^" + re.sub(r"{\w+}", "[^/]+", path) + "$"), operation)
            for path, methods in document["paths"].items()
            for method, operation in methods.items()
        ]

    def check(self, method: str, path: str, reply: Reply) -> None:
        from jsonschema import Draft202012Validator

        bare = path.split("?")[0]
        operation = next((op for m, pattern, op in self._routes if m == method and pattern.match(bare)), None)
        if operation is None or method == "OPTIONS":
            return
        documented = operation["responses"].get(str(reply.status))
        assert documented is not None, f"{method} {path} answered {reply.status}, which is not documented"
        if "content" not in documented:
            assert not reply.body, f"{method} {path} {reply.status} is documented without content"
            return
        [(content_type, media)] = documented["content"].items()
        assert reply.headers.get("Content-Type") == content_type, (method, path, reply.status)
        schema = {**media["schema"], "components": self._document["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(reply.body), key=str)
        assert not errors, f"{method} {path} {reply.status}: {errors[0].message}"


class Api:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._documented: DocumentedResponses | None = None

    @property
    def http(self) -> Any:
        """The app's own test client: requests without the documented-response check, for timing them."""
        return self._client.http

    def documented(self) -> DocumentedResponses:
        if self._documented is None:
            self._documented = DocumentedResponses(json.loads(self._client.http.get("/openapi.json").body))
        return self._documented

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        raw: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        body = raw
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        elif form is not None:
            body = urlencode(form).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if token:
            sent["Authorization"] = f"Bearer {token}"
        response = self._client.http.request(method, path, headers=sent, body=body or b"")
        text = response.body.decode() if response.body else ""
        parsed = json.loads(text) if text and response.headers.get("Content-Type", "").endswith("json") else text
        reply = Reply(response.status_code, dict(response.headers), parsed)
        self.documented().check(method, path, reply)
        return reply

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> HTTPResponse:
        """Exactly these bytes, answered as received: for callers that check the answer themselves."""
        return self._client.http.request(method, path, headers=headers, body=body)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, json_body=body, **kwargs)


class ApiWebhookSender:
    """The stream handler's sender of the built-in signature's webhooks, posting through the in-process API
    (nothing listens on ESIGN_WEBHOOK_URL in the tests), signed as the real one signs."""

    def __init__(self, api: Api, key: str) -> None:
        self._api = api
        self._key = key.encode()

    def deliver(self, body: bytes) -> None:
        from chalicelib.adapters.esign.connect import connect_signature

        headers = {"Content-Type": "application/json", "X-DocuSign-Signature-1": connect_signature(body, self._key)}
        reply = self._api.request("POST", "/webhooks/esign", raw=body, headers=headers)
        if reply.status >= 300:
            raise RuntimeError(f"webhook answered {reply.status}: {reply.body}")


class ApiStripeSink:
    """Where the offline Stripe posts its webhooks in the tests: the API's endpoints, in process."""

    def __init__(self, api: Api) -> None:
        self._api = api

    def __call__(self, payload: bytes, signature: str, connect: bool) -> None:
        path = "/webhooks/stripe/connect" if connect else "/webhooks/stripe"
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
        reply = self._api.request("POST", path, raw=payload, headers=headers)
        if reply.status >= 300:
            raise RuntimeError(f"webhook answered {reply.status}: {reply.body}")


@contextmanager
def api_on(local_aws: LocalStack) -> Iterator[Api]:
    """The app in process on the local stack, with the built-in signature's and the offline Stripe's webhooks
    posted to it."""
    import app
    from chalicelib.container import Container

    with Client(app.app) as client:
        api = Api(client)
        container = local_aws.container
        assert isinstance(container, Container)
        # A cached_property: overridden in the one composition root, for the session.
        container.__dict__["webhook_sender"] = ApiWebhookSender(api, container.settings.builtin_esign_keys[0])
        container.offline_stripe.webhook_sink = ApiStripeSink(api)
        yield api


@pytest.fixture(scope="session")
def api(local_aws: LocalStack) -> Iterator[Api]:
    with api_on(local_aws) as api:
        yield api


class Pump:
    """Delivers uploads and stream records now, as Lambda's event source mappings would."""

    def __init__(self, stack: LocalStack) -> None:
        from chalicelib.local.pump import EventPump

        resources = stack.resources
        self._pump = EventPump(
            region="eu-north-1", uploads_queue_url=resources.uploads_queue_url, main_table=resources.main_table, endpoint_url=stack.endpoint
        )

    def drain(self) -> None:
        for _ in range(20):
            if not self._pump.drain_once().delivered:
                return

    def mails_to(self, address: str) -> list[dict[str, Any]]:
        """The mails sent to ``address``, read from the local SES (moto runs in this process), plain and
        MIME (with attachments) alike. Not through /moto-api/data.json: that serialises every object of
        every service, which late in a full run takes longer than a request may."""
        self.drain()
        return sent_mails(address)


def sent_mails(address: str) -> list[dict[str, Any]]:
    """Every mail moto's SES sent to ``address``, oldest first, as {source, subject, body, destinations,
    attachments: [{filename, content_type, content}]}."""
    from moto.ses.models import Message, RawMessage, ses_backends

    from chalicelib.local.mailbox import plain_mail, raw_mail

    mails = []
    for regions in ses_backends.values():
        for backend in regions.values():
            for sent in backend.sent_messages:
                if isinstance(sent, Message):
                    mails.append(plain_mail(sent.source, sent.subject, sent.body, sent.destinations))
                elif isinstance(sent, RawMessage):
                    mails.append(raw_mail(sent.source, sent.raw_data))
    return [m for m in mails if address in m["destinations"].get("ToAddresses", [])]


@pytest.fixture(scope="session")
def pump(local_aws: LocalStack) -> Pump:
    return Pump(local_aws)


def mailed_code(mail: dict[str, Any], label: str = "invitation") -> str:
    """The code in a mail, English ("invitation code: X") or Swedish ("inbjudningskoden: X")."""
    match = re.search(rf"(?:{label} code|{builders.SWEDISH_CODE_LABELS[label]}): (\S+)", mail["body"])
    assert match, mail
    return match.group(1)


@dataclass
class Actor:
    user_id: str
    email: str
    token: str
    org_id: str | None


def login(api: Api, email: str) -> str:
    reply = api.post("/auth/login", {"email": email, "password": builders.PASSWORD})
    assert reply.status == 200, reply.body
    return str(reply.body["access_token"])


def register(api: Api, path: str, payload: dict[str, Any], email: str, pump: Pump | None = None) -> Actor:
    """Registers; with ``pump``, also confirms the e-mail address with the mailed code (self-registration)."""
    reply = api.post(path, payload)
    assert reply.status == 201, reply.body
    if pump is not None:
        assert reply.body["user"]["status"] == "pending_verification"
        [mail] = pump.mails_to(email)
        verified = api.post("/registrations/verify-email", {"email": email, "code": mailed_code(mail, "verification")})
        assert verified.status == 200 and verified.body["status"] == "active", verified.body
    org = reply.body["organisation"]
    return Actor(reply.body["user"]["user_id"], email, login(api, email), org["org_id"] if org else None)


def new_agency(api: Api, pump: Pump) -> Actor:
    email = unique_email("agency")
    return register(api, "/registrations/agency", builders.agency_registration(email), email, pump)


def new_client(api: Api, pump: Pump) -> Actor:
    email = unique_email("client")
    return register(api, "/registrations/client", builders.client_registration(email), email, pump)


def new_independent(api: Api, pump: Pump) -> Actor:
    email = unique_email("independent")
    return register(api, "/registrations/consultant", builders.consultant_registration(email), email, pump)


def new_staff(api: Api, local_aws: LocalStack) -> Actor:
    from chalicelib.services.registration import create_staff_user

    email = unique_email("staff")
    user = create_staff_user(local_aws.container.accounts, email=email, name="Stina Staff", password=builders.PASSWORD)
    return Actor(user.user_id, email, login(api, email), None)


def invited_consultant(api: Api, pump: Pump, agency: Actor) -> Actor:
    email = unique_email("consultant")
    assert api.post(f"/agencies/{agency.org_id}/invitations", {"email": email}, token=agency.token).status == 201
    [mail] = pump.mails_to(email)
    return register(api, "/registrations/consultant", builders.consultant_registration(email, mailed_code(mail)), email)
