"""A scripted DocuSign for tests: an HttpTransport that expects an exact sequence of calls, checks each one
as DocuSign would see it (method, URL, authentication, content type, body shape) and answers from the
recorded responses in tests/fixtures/docusign."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from chalicelib.adapters.esign.docusign import HttpResponse

FIXTURES = Path(__file__).parent / "fixtures" / "docusign"
AUTH_SERVER = "account-d.docusign.com"
ACCOUNT_ID = "5e6f7a8b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
BASE_URI = "https://eu.docusign.net"
REST = f"{BASE_URI}/restapi/v2.1/accounts/{ACCOUNT_ID}"
TOKEN_URL = f"https://{AUTH_SERVER}/oauth/token"
USERINFO_URL = f"https://{AUTH_SERVER}/oauth/userinfo"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def fixture_json(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


def json_response(status: int, payload: Mapping[str, Any] | str) -> HttpResponse:
    document = fixture_json(payload) if isinstance(payload, str) else payload
    return HttpResponse(status=status, headers={"Content-Type": "application/json; charset=utf-8"}, body=json.dumps(document).encode())


def token_response(token: str = "token-1", expires_in: int = 3600) -> HttpResponse:
    return json_response(200, {**fixture_json("token.json"), "access_token": token, "expires_in": expires_in})


def pdf_response(body: bytes = PDF) -> HttpResponse:
    return HttpResponse(status=200, headers={"Content-Type": "application/pdf"}, body=body)


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None

    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        assert self.body is not None
        parsed = parse_qs(self.body.decode("ascii"), strict_parsing=True)
        assert all(len(values) == 1 for values in parsed.values())
        return {name: values[0] for name, values in parsed.items()}


@dataclass
class _Expected:
    method: str
    url: str
    answer: HttpResponse | Exception
    token: str | None  # the bearer token the call must carry; None for the token endpoint
    check: Callable[[Call], None] | None


@dataclass
class FakeDocuSignTransport:
    """Answers calls in the order they were expected; any other call fails the test."""

    expected: list[_Expected] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def expect_token(self, answer: HttpResponse | Exception | None = None, *, check: Callable[[Call], None] | None = None) -> None:
        self.expected.append(_Expected("POST", TOKEN_URL, answer if answer is not None else token_response(), None, check))

    def expect(
        self,
        method: str,
        url: str,
        answer: HttpResponse | Exception,
        *,
        token: str = "token-1",
        check: Callable[[Call], None] | None = None,
    ) -> None:
        self.expected.append(_Expected(method, url, answer, token, check))

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None) -> HttpResponse:
        call = Call(method, url, dict(headers), body)
        self.calls.append(call)
        assert self.expected, f"unexpected call: {method} {url}"
        expected = self.expected.pop(0)
        assert (method, url) == (expected.method, expected.url), f"expected {expected.method} {expected.url}, got {method} {url}"
        if expected.token is None:
            # The JWT Grant: a form post, no bearer token (there is none yet).
            assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
            assert "Authorization" not in call.headers
            assert set(call.form()) == {"grant_type", "assertion"}
            assert call.form()["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        else:
            assert call.headers["Authorization"] == f"Bearer {expected.token}"
            if body is None:
                assert "Content-Type" not in call.headers
            else:
                assert call.headers["Content-Type"] == "application/json"
                assert isinstance(call.json(), dict)
        if expected.check is not None:
            expected.check(call)
        if isinstance(expected.answer, Exception):
            raise expected.answer
        return expected.answer

    def assert_done(self) -> None:
        assert not self.expected, f"calls expected but not made: {[(e.method, e.url) for e in self.expected]}"
